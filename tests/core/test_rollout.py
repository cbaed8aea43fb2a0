"""rollout / flatten_batch / minibatches / episode_mean on ChainEnv (known dynamics)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import FINAL_OBS, VecEnv
from jaxrl.rollout import EnvCarry, Transition, episode_mean, flatten_batch, minibatches, rollout, shuffle
from jaxrl.testing import ChainEnv
from jaxrl.wrappers import EpisodeStatistics

T, B = 12, 3


@pytest.fixture(scope="module")
def traj():
    venv = VecEnv(EpisodeStatistics(ChainEnv()), B)
    params = venv.default_params

    def policy(key, obs):  # random actions; extras carry the obs position to check alignment
        return jax.random.randint(key, (B,), 0, 2), {"pos": obs[:, 0]}

    @jax.jit
    def run(key):
        k0, k1, k2 = jax.random.split(key, 3)
        obs, state = venv.reset(k0, params)
        carry, tr = rollout(k1, venv, params, EnvCarry(state, obs), policy, T)
        carry2, tr2 = rollout(k2, venv, params, carry, policy, T)  # continues from the carry
        return obs, carry, tr, tr2

    return jax.device_get(run(jax.random.PRNGKey(0)))


def test_rollout_shapes(traj):
    obs0, carry, tr, _ = traj
    assert isinstance(tr, Transition)
    assert tr.obs.shape == (T, B, 2) and tr.next_obs.shape == (T, B, 2)
    assert tr.action.shape == tr.reward.shape == tr.terminated.shape == tr.truncated.shape == (T, B)
    assert tr.extras["pos"].shape == (T, B)
    assert FINAL_OBS not in tr.info and tr.info["episode_return"].shape == (T, B)
    np.testing.assert_array_equal(tr.obs[0], obs0)
    assert carry.obs.shape == (B, 2)


def test_next_obs_is_the_true_successor(traj):
    _, carry, tr, tr2 = traj
    done = tr.terminated | tr.truncated
    assert done.any() and (~done).any()
    # Continuing steps: next_obs is the next step's obs. Episode ends: the terminal obs
    # (position == length 3), while the next obs is a fresh reset (position 0).
    np.testing.assert_array_equal(tr.next_obs[:-1][~done[:-1]], tr.obs[1:][~done[:-1]])
    np.testing.assert_array_equal(tr.next_obs[done][:, 0], 3.0)
    np.testing.assert_array_equal(tr.obs[1:][done[:-1]][:, 0], 0.0)
    # Reward and position agree with the ChainEnv dynamics.
    np.testing.assert_array_equal(tr.next_obs[..., 0] - tr.obs[..., 0], tr.action)
    np.testing.assert_array_equal(tr.reward, np.where(tr.action == 1, 1.0, -0.5))
    np.testing.assert_array_equal(tr.extras["pos"], tr.obs[..., 0])
    # The second rollout starts where the first stopped.
    np.testing.assert_array_equal(tr2.obs[0], carry.obs)


def test_presplit_keys_give_the_same_rollout(trees_equal):
    """A plain VecEnv gets all its step keys before the loop; any other venv splits per step: same values."""

    class Wrapped:  # not a VecEnv: rollout calls its step(key, ...)
        def __init__(self, venv):
            self.venv = venv

        def step(self, key, state, action, params):
            return self.venv.step(key, state, action, params)

    venv = VecEnv(EpisodeStatistics(ChainEnv()), B)
    params = venv.default_params

    def policy(key, obs):
        return jax.random.randint(key, (B,), 0, 2), {}

    @jax.jit
    def run(key):
        obs, state = venv.reset(key, params)
        carry = EnvCarry(state, obs)
        return rollout(key, venv, params, carry, policy, T), rollout(key, Wrapped(venv), params, carry, policy, T)

    fast, plain = jax.device_get(run(jax.random.key(3)))
    assert fast[1].terminated.any()
    trees_equal(fast, plain, "presplit vs per-step keys")


def test_flatten_batch_and_minibatches():
    batch = {"x": jnp.arange(24).reshape(4, 6), "y": jnp.arange(48.0).reshape(4, 6, 2)}
    flat = flatten_batch(batch)
    assert flat["x"].shape == (24,) and flat["y"].shape == (24, 2)
    mb = jax.jit(minibatches, static_argnums=2)(jax.random.PRNGKey(0), flat, 4)
    assert mb["x"].shape == (4, 6) and mb["y"].shape == (4, 6, 2)
    x = np.asarray(mb["x"]).ravel()
    np.testing.assert_array_equal(np.sort(x), np.arange(24))  # a permutation
    assert not np.array_equal(x, np.arange(24))  # actually shuffled
    np.testing.assert_array_equal(np.asarray(mb["y"])[..., 0].ravel(), 2.0 * x)  # leaves shuffled together
    with pytest.raises(ValueError, match="divisible"):
        minibatches(jax.random.PRNGKey(0), flat, 5)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8, 13, 100, 512, 1000])
def test_shuffle_is_a_permutation_for_every_key(n):
    perms = np.asarray(jax.jit(jax.vmap(lambda k: shuffle(k, n)))(jax.random.split(jax.random.key(n), 64)))
    assert perms.shape == (64, n) and perms.dtype == np.int32
    np.testing.assert_array_equal(np.sort(perms, axis=1), np.broadcast_to(np.arange(n), (64, n)))
    if n >= 13:
        assert len({p.tobytes() for p in perms}) == 64  # every key its own order (13! orders)
    k = jax.random.key(7)
    np.testing.assert_array_equal(shuffle(k, n), shuffle(k, n))  # a function of the key


@pytest.fixture(scope="module")
def many_shuffles():
    """20000 shuffles of 4, 6 and 32 (exact permutations), 64 (a full 6-bit Feistel domain), 80 (cycle-walked on
    7 bits) and 300 (cycle-walked on 9 bits, 6 rounds)."""
    keys = jax.random.split(jax.random.key(1), 20000)
    return {n: np.asarray(jax.jit(jax.vmap(lambda k, n=n: shuffle(k, n)))(keys)) for n in (4, 6, 32, 64, 80, 300)}


def test_shuffle_of_few_indices_draws_every_order_equally_often(many_shuffles):
    from scipy import stats

    perms = many_shuffles[4]  # 24 orders, 20000 draws: about 833 each
    _, counts = np.unique(perms, axis=0, return_counts=True)
    assert len(counts) == 24 and stats.chisquare(counts).pvalue > 1e-4, counts


@pytest.mark.parametrize("n", [6, 32, 64, 80, 300])
def test_shuffle_positions_are_uniform(many_shuffles, n):
    from scipy import stats

    perms = many_shuffles[n]  # [K, n]: perms[k, pos] = index
    counts = np.zeros((n, n))
    np.add.at(counts, (perms, np.broadcast_to(np.arange(n), perms.shape)), 1)  # [index, position]
    p = stats.chisquare(counts.ravel()).pvalue  # H0: every index equally likely at every position
    assert p > 1e-4, (p, counts.min(), counts.max())
    # every pair in either order equally often: position of i before position of j in half the shuffles
    m = min(n, 80)  # pairs among the first 80 indices (memory: K m^2 booleans)
    pos = np.argsort(perms, axis=1)[:, :m]  # pos[k, index] = position
    before = (pos[:, :, None] < pos[:, None, :]).mean(0)[np.triu_indices(m, 1)]
    assert np.abs(before - 0.5).max() < 0.02, before  # 6 standard errors at K = 20000


def test_shuffle_splits_neighbours_like_a_random_permutation():
    """Indices t and t+1 (consecutive rows of a [T, B] batch) share a minibatch as often as at random."""
    n, m = 512, 4
    perms = np.asarray(jax.jit(jax.vmap(lambda k: shuffle(k, n)))(jax.random.split(jax.random.key(2), 200)))
    mb = np.argsort(perms, axis=1) // (n // m)  # minibatch of each index
    for gap in (1, 2, 8, 64, 256):
        same = (mb[:, :-gap] == mb[:, gap:]).mean()
        assert abs(same - (n // m - 1) / (n - 1)) < 0.01, (gap, same)  # 0.2485; standard error ~0.002


def test_episode_mean():
    ret = jnp.array([[1.0, 5.0], [3.0, 7.0]])
    assert float(episode_mean(ret, jnp.array([[True, False], [True, False]]))) == 2.0
    assert np.isnan(float(episode_mean(ret, jnp.zeros((2, 2), bool))))
