"""PQN: config validation, Q(lambda) targets against a loop oracle (termination and truncation),
LayerNorm network, epsilon schedule, chunked training with checkpoints, hyperparameter sweeps and a
quick CartPole learning check.

Slow tests (``-m slow``) learn CartPole-v1 to 475.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import checkpoint
from jaxrl.agents import pqn
from jaxrl.exploration import epsilon_greedy
from jaxrl.returns import successor_values
from jaxrl.rollout import Transition
from jaxrl.testing import assert_trees_equal

# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_envs=0), "num_envs must be a positive integer"),
        (dict(num_steps=-1), "num_steps must be a positive integer"),
        (dict(update_epochs=0), "update_epochs must be a positive integer"),
        (dict(num_minibatches=2.0), "num_minibatches must be an integer, got 2.0"),
        (dict(num_envs=3, num_steps=5, num_minibatches=4), "15 is not divisible by num_minibatches=4"),
        (dict(total_timesteps=100), "smaller than one batch"),
        (dict(env_id="CartPole-v2"), "unknown environment id 'CartPole-v2'.*CartPole-v1"),
        (dict(activation="sigmoidal"), "activation"),
        (dict(hidden=(64, 0)), "hidden"),
        (dict(hidden=()), "hidden must be a non-empty tuple of positive layer sizes"),
        (dict(reset_mode="sometimes"), "reset_mode"),
        (dict(lr=-1e-3), "lr must be > 0"),
        (dict(gamma=1.5), "gamma must be in"),
        (dict(td_lambda=float("nan")), "td_lambda must be a finite real number"),
        (dict(max_grad_norm=0.0), "max_grad_norm must be > 0"),
        (dict(eps_end=2.0), "eps_end must be in"),
        (dict(exploration_fraction=0.0), "exploration_fraction must be in"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pqn.Config(**kwargs)


def test_config_derived_sizes_hparams_and_checks():
    cfg = pqn.Config()
    assert (cfg.batch_size, cfg.minibatch_size, cfg.num_updates) == (2048, 128, 256)
    assert hash(cfg) == hash(pqn.Config()) and cfg.replace(lr=1e-3).lr == 1e-3
    hp = pqn.default_hparams(cfg)
    assert float(hp.td_lambda) == pytest.approx(0.9) and hp.lr.dtype == jnp.float32
    with pytest.raises(TypeError, match="discrete|categorical"):
        pqn.PQN(pqn.Config(env_id="Pendulum-v1"))
    agent = pqn.PQN(pqn.Config(**TINY))
    with pytest.raises(ValueError, match="unknown pqn hyperparameter"):
        agent.init(jax.random.key(0), {"gae_lambda": 0.9})
    with pytest.raises(ValueError, match="td_lambda must be in"):
        agent.init(jax.random.key(0), {"td_lambda": 1.5})
    with pytest.raises(ValueError, match="n_updates"):
        agent.train_chunk(None, 0)  # checked before anything is traced


# --------------------------------------------------------------------------- tiny agent

# CartPole with 5-step episodes: truncations in every rollout of 16 steps
TINY = dict(
    env_params={"max_steps_in_episode": 5},
    num_envs=4,
    num_steps=16,
    total_timesteps=4 * 16 * 4,
    update_epochs=2,
    num_minibatches=2,
    hidden=(16, 16),
)


@pytest.fixture(scope="module")
def tiny():
    cfg = pqn.Config(**TINY)
    agent = pqn.PQN(cfg)
    return cfg, agent, jax.jit(agent.init)(jax.random.key(7))


# --------------------------------------------------------------------------- Q(lambda) targets


def _oracle(rewards, term, trunc, q_obs, q_next_obs, q_last, gamma, lam, trunc_from_final=True):
    """PureJaxQL-style backward loop: G = r + gamma * ((1 - lam) * maxQ(s') + lam * G'), cut at episode ends."""
    T, B = rewards.shape
    out = np.zeros((T, B))
    for b in range(B):
        g = 0.0
        for t in reversed(range(T)):
            following = q_last[b] if t == T - 1 else q_obs[t + 1, b]
            if term[t, b]:
                g = rewards[t, b]
            elif trunc[t, b]:
                g = rewards[t, b] + gamma * (q_next_obs[t, b] if trunc_from_final else following)
            elif t == T - 1:
                g = rewards[t, b] + gamma * following
            else:
                g = rewards[t, b] + gamma * ((1 - lam) * following + lam * g)
            out[t, b] = g
    return out


def _hand_rollout(agent, truncate: bool):
    """T=7, B=2. Env 0 terminates at t=2, is truncated at t=5 (when ``truncate``); env 1 runs through."""
    T, B, D = 7, 2, agent.spec.obs_dim
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(T, B, D)).astype(np.float32)
    last_obs = rng.normal(size=(B, D)).astype(np.float32)
    following = np.concatenate([obs[1:], last_obs[None]])
    term = np.zeros((T, B), bool)
    trunc = np.zeros((T, B), bool)
    term[2, 0] = True
    trunc[5, 0] = truncate
    done = term | trunc
    # the true successor: the next observation, or a terminal observation (not the reset one) at episode ends
    next_obs = np.where(done[..., None], rng.normal(size=(T, B, D)).astype(np.float32), following)
    rewards = rng.uniform(0.5, 1.5, size=(T, B)).astype(np.float32)
    return obs, next_obs, last_obs, rewards, term, trunc


@pytest.mark.parametrize("truncate", [True, False])
def test_q_lambda_targets_match_loop_oracle(tiny, truncate):
    _, agent, state = tiny
    params = state.params
    obs, next_obs, last_obs, rewards, term, trunc = _hand_rollout(agent, truncate)
    max_q = lambda o: np.asarray(agent.max_q(params, jnp.asarray(o)))
    q_obs, q_next, q_last = max_q(obs), max_q(next_obs), max_q(last_obs)
    traj = Transition(obs, np.zeros(term.shape, np.int32), rewards, term, trunc, next_obs, {}, jnp.asarray(q_obs))
    gamma, lam = 0.9, 0.7
    hp = state.hparams.replace(gamma=jnp.float32(gamma), td_lambda=jnp.float32(lam))
    targets = np.asarray(jax.jit(agent.targets)(params, hp, traj, last_obs))
    oracle = _oracle(rewards, term, trunc, q_obs, q_next, q_last, gamma, lam)
    np.testing.assert_allclose(targets, oracle, rtol=1e-5, atol=1e-5)
    # termination cuts: the target is the reward alone
    assert targets[2, 0] == pytest.approx(rewards[2, 0])
    if truncate:
        assert targets[5, 0] == pytest.approx(rewards[5, 0] + gamma * q_next[5, 0], rel=1e-5)
        wrong = _oracle(rewards, term, trunc, q_obs, q_next, q_last, gamma, lam, trunc_from_final=False)
        assert np.abs(wrong - oracle).max() > 1e-3, "oracle must distinguish the terminal obs from the next one"
    # lambda = 1 within an episode: Monte-Carlo return bootstrapped at the rollout end
    t1 = np.asarray(pqn.q_lambda_targets(lambda o: agent.max_q(params, o), traj, last_obs, 0.9, 1.0))
    g = np.zeros(2)
    g[1] = q_last[1]
    for t in reversed(range(7)):
        g[1] = rewards[t, 1] + 0.9 * g[1]
    assert t1[0, 1] == pytest.approx(g[1], rel=1e-5)


def test_targets_bootstrap_from_terminal_obs_in_real_rollout(tiny):
    """On a real rollout (5-step episodes), targets equal the oracle fed with max Q of ``traj.next_obs``."""
    _, agent, state = tiny

    @jax.jit
    def run(state):
        carry, traj = agent.collect(jax.random.key(4), state.params, state.env_state, state.obs, jnp.float32(0.5))
        return carry, traj, agent.targets(state.params, state.hparams, traj, carry.obs)

    carry, traj, targets = jax.device_get(run(state))
    term, trunc = np.asarray(traj.terminated), np.asarray(traj.truncated)
    assert (trunc & ~term).sum() >= 4, "the test needs truncations"
    max_q = lambda o: np.asarray(agent.max_q(state.params, o))
    q_obs = max_q(traj.obs)
    np.testing.assert_allclose(traj.extras, q_obs, rtol=1e-5, atol=1e-5)  # extras are max Q at acting time
    oracle = _oracle(traj.reward, term, trunc, q_obs, max_q(traj.next_obs), max_q(carry.obs), 0.99, 0.9)
    np.testing.assert_allclose(targets, oracle, rtol=1e-4, atol=1e-5)


def test_successor_values_skips_final_obs_when_nothing_truncated():
    values = jnp.arange(6.0).reshape(3, 2)

    def final():
        return jnp.full((3, 2), -1.0)

    trunc = jnp.zeros((3, 2), bool).at[1, 0].set(True)
    nv = successor_values(values, jnp.array([10.0, 11.0]), trunc, final)
    np.testing.assert_array_equal(nv, [[2.0, 3.0], [-1.0, 5.0], [10.0, 11.0]])
    nv = jax.jit(lambda v, t: successor_values(v, jnp.array([10.0, 11.0]), t, final))(values, jnp.zeros_like(trunc))
    np.testing.assert_array_equal(nv, [[2.0, 3.0], [4.0, 5.0], [10.0, 11.0]])


# --------------------------------------------------------------------------- network, loss, exploration


def test_network_has_layernorm_and_is_scale_invariant(tiny):
    cfg, agent, state = tiny
    p = state.params["params"]
    assert sorted(p) == ["hidden_0", "hidden_1", "norm_0", "norm_1", "out"]
    assert p["norm_0"]["scale"].shape == (16,) and p["norm_1"]["bias"].shape == (16,)
    obs = jax.random.normal(jax.random.key(1), (5, 3, agent.spec.obs_dim))
    q = agent.q(state.params, obs)
    assert q.shape == (5, 3, 2) and agent.greedy(state.params, obs).shape == (5, 3)
    # LayerNorm after the first Dense makes Q invariant to scaling that layer by c > 0
    scaled = jax.tree.map(lambda x: x, state.params)
    scaled["params"]["hidden_0"] = jax.tree.map(lambda x: 7.0 * x, p["hidden_0"])
    np.testing.assert_allclose(agent.q(scaled, obs), q, rtol=1e-3, atol=1e-4)
    plain = pqn.QNetwork(cfg.hidden, 2, layer_norm=False)
    pp = jax.jit(plain.init)(jax.random.key(0), obs)
    pp_scaled = {"params": {**pp["params"], "hidden_0": jax.tree.map(lambda x: 7.0 * x, pp["params"]["hidden_0"])}}
    assert "norm_0" not in pp["params"]
    assert np.abs(plain.apply(pp_scaled, obs) - plain.apply(pp, obs)).max() > 1e-2  # the check can fail


def test_loss_by_hand():
    params = {"q": jnp.array([[1.0, 2.0], [3.0, -1.0]])}
    batch = pqn.Batch(obs=jnp.zeros((2, 1)), action=jnp.array([1, 0]), target=jnp.array([0.0, 4.0]))
    loss, m = pqn.pqn_loss(params, lambda p, o: p["q"], batch)
    assert float(loss) == pytest.approx(0.5 * (4.0 + 1.0) / 2) and float(m["q_mean"]) == pytest.approx(2.5)
    g = jax.grad(lambda p: pqn.pqn_loss(p, lambda p_, o: p_["q"], batch)[0])(params)
    np.testing.assert_allclose(g["q"], [[0.0, 1.0], [-0.5, 0.0]])  # (q_a - target) / N on the taken actions


def test_epsilon_schedule_and_greedy():
    agent = pqn.PQN(pqn.Config(total_timesteps=2048 * 100))  # 100 updates; decay over the first 50
    hp = pqn.default_hparams(agent.cfg)
    eps = [float(agent.epsilon(hp, jnp.int32(u))) for u in (0, 25, 50, 75, 100)]
    np.testing.assert_allclose(eps, [1.0, 0.525, 0.05, 0.05, 0.05], rtol=1e-6)
    q = jnp.tile(jnp.array([[0.0, 1.0, 0.5]]), (4000, 1))
    acts = np.asarray(epsilon_greedy(jax.random.key(0), q, jnp.float32(0.3)))
    assert acts.dtype == np.int32
    # greedy 1 with prob 0.7 + 0.3/3, the others 0.1 each
    np.testing.assert_allclose(np.bincount(acts, minlength=3) / 4000, [0.1, 0.8, 0.1], atol=0.025)
    assert (np.asarray(epsilon_greedy(jax.random.key(1), q, jnp.float32(0.0))) == 1).all()


# --------------------------------------------------------------------------- chunks and checkpoints


def test_chunks_with_checkpoint_equal_one_run(tiny, tmp_path):
    cfg, agent, s0 = tiny
    chex.clear_trace_counter()  # the counter is keyed by function name, shared across test modules

    @jax.jit
    @chex.assert_max_traces(n=1)
    def chunk2(s):
        return agent.train_chunk(s, 2)

    s2, m_a = chunk2(s0)
    path = checkpoint.save(tmp_path / "ck", s2, {"update": 2})
    restored, meta = checkpoint.restore(path, like=s0)
    assert meta == {"update": 2}
    s4, m_b = chunk2(restored)  # same shapes and types as a fresh state: no retrace
    full, m_full = jax.jit(pqn.make_train(cfg))(jax.random.key(7))
    assert int(full.update) == agent.num_updates == 4
    assert_trees_equal(s4, full)
    assert_trees_equal({k: jnp.concatenate([m_a[k], m_b[k]]) for k in m_full}, m_full)
    assert sorted(m_full) == sorted(pqn.METRIC_NAMES)
    assert all(v.shape == (4,) for v in m_full.values())
    np.testing.assert_array_equal(m_full["env_steps"], [64, 128, 192, 256])
    np.testing.assert_allclose(m_full["epsilon"], [1.0, 0.525, 0.05, 0.05], rtol=1e-6)
    for k in ("loss", "q_mean", "grad_norm"):
        assert np.isfinite(m_full[k]).all(), k
    np.testing.assert_allclose(m_full["episode_length"], 5.0)  # every episode truncated at 5 steps or earlier
    assert not _params_equal(full.params, s0.params)


def _params_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


# --------------------------------------------------------------------------- learning (CartPole)

QUICK = dict(
    total_timesteps=65_536,
    num_envs=16,
    num_steps=64,
    update_epochs=4,
    num_minibatches=8,
    lr=1e-3,
    exploration_fraction=0.25,
)  # 64 updates


@pytest.fixture(scope="module")
def cartpole():
    """Three runs in one program: seeds 0 and 1 at lr 1e-3, and seed 0 at lr 1e-9 (a sweep member)."""
    cfg = pqn.Config(**QUICK)
    agent = pqn.PQN(cfg)
    k0, k1 = jax.random.split(jax.random.key(0))
    keys = jnp.stack([k0, k1, k0])
    hp = jax.tree.map(lambda x: jnp.stack([x, x, x]), pqn.default_hparams(cfg))
    hp = hp.replace(lr=jnp.array([1e-3, 1e-3, 1e-9]))
    states, metrics = jax.jit(jax.vmap(pqn.make_train(cfg)))(keys, hp)
    return agent, states, jax.device_get(metrics)


def test_cartpole_learns_quickly(cartpole):
    _, _, m = cartpole
    ret = m["episode_return"]  # [3, 64]
    assert ret.shape == (3, 64)
    first, last = np.nanmean(ret[:, :5], axis=1), np.nanmean(ret[:, -10:], axis=1)
    assert (last[:2] > 150).all() and (last[:2] > 4 * first[:2]).all(), (first, last)
    assert last[2] < 60, "a learning rate of 1e-9 must not learn: the swept lr reaches the update"
    for k in ("loss", "q_mean", "grad_norm"):
        assert np.isfinite(m[k]).all(), k
    np.testing.assert_allclose(m["lr"], [[1e-3] * 64, [1e-3] * 64, [1e-9] * 64], rtol=1e-6)


def test_sweep_members_differ_per_seed_and_lr(cartpole):
    _, states, m = cartpole
    p = [jax.tree.map(lambda x, i=i: x[i], states.params) for i in range(3)]
    assert not _params_equal(p[0], p[1]), "seeds must give different runs"
    assert not _params_equal(p[0], p[2]), "learning rates must give different runs"
    # same seed: the first rollout (before any update) is the same for both learning rates
    assert m["episode_return"][0, 0] == m["episode_return"][2, 0]
    assert m["episode_return"][0, -1] != m["episode_return"][2, -1]


def test_evaluate_greedy_vmapped(cartpole):
    agent, states, _ = cartpole
    ev = jax.jit(jax.vmap(lambda k, s: agent.evaluate(k, s, 8)))
    keys = jax.random.split(jax.random.key(1), 3)
    r = np.asarray(ev(keys, states))
    assert r.shape == (3, 8) and np.isfinite(r).all()
    assert r[:2].mean() > r[2].mean() + 50, r.mean(axis=1)


# --------------------------------------------------------------------------- slow: solve CartPole


@pytest.mark.slow
def test_cartpole_solved_with_default_config():
    cfg = pqn.Config()  # 524288 steps, rejax's CartPole settings
    agent = pqn.PQN(cfg)

    def run(key):
        s, m = agent.train_chunk(agent.init(key), agent.num_updates)
        return m, agent.evaluate(key, s, 16)

    m, ev = jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(42), 4))
    final = np.nanmean(np.asarray(m["episode_return"])[:, -10:], axis=1)
    greedy = np.asarray(ev).mean(axis=1)
    assert (greedy >= 475).sum() >= 3, (greedy, final)
    assert (final >= 450).sum() >= 3, (greedy, final)  # epsilon = 0.05 acting costs a little
