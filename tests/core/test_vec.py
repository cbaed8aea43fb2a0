"""VecEnv: exact lazy resets, equivalence with jax.vmap(env.step), errors; NormalizeObservation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl import FINAL_OBS, NormalizeObservation, VecEnv
from jaxrl.testing import ChainEnv
from jaxrl.wrappers import EpisodeStatistics, TimeLimit

B = 16


def _random_actions(key, venv, params):
    space = venv.action_space(params)
    return jax.vmap(space.sample)(jax.random.split(key, venv.num_envs))


def _scan_vec(venvs, params, key, num_steps, seeds=None):
    """Step every VecEnv in ``venvs`` with the same keys and actions; stack per-step outputs.

    ``seeds``: run that many independent copies under ``jax.vmap`` (keys split from ``key``).
    """

    def run(key):
        k0, k1 = jax.random.split(key)
        carry = tuple(v.reset(k0, params)[1] for v in venvs)

        def body(states, k):
            k_act, k_env = jax.random.split(k)
            action = _random_actions(k_act, venvs[0], params)
            outs = tuple(v.step(k_env, s, action, params) for v, s in zip(venvs, states, strict=True))
            return tuple(o.state for o in outs), outs

        return jax.lax.scan(body, carry, jax.random.split(k1, num_steps))

    if seeds:
        return jax.device_get(jax.jit(jax.vmap(run))(jax.random.split(key, seeds)))
    return jax.device_get(jax.jit(run)(key))


def test_optimistic_equals_always_bit_for_bit(trees_equal):
    # Short random episodes (terminate at 3, truncate at 6) with reset_batch=1: most steps end
    # several episodes at once, which the optimistic mode handles in its while_loop.
    env = EpisodeStatistics(TimeLimit(ChainEnv(), 6))
    venvs = (VecEnv(env, B, "always"), VecEnv(env, B, "optimistic", reset_batch=1))
    (s_always, s_opt), (o_always, o_opt) = _scan_vec(venvs, env.default_params, jax.random.PRNGKey(0), 200)
    done = o_always.terminated | o_always.truncated
    assert done.sum(1).max() >= 4 and (done.sum(1) > 1).sum() > 20, "the test must exercise multi-reset steps"
    assert o_always.truncated.any() and o_always.terminated.any()
    trees_equal(o_always, o_opt, "step outputs")
    trees_equal(s_always, s_opt, "final states")


@pytest.mark.parametrize("seeds", [None, 3])
def test_cond_equals_always_bit_for_bit(trees_equal, seeds):
    # 2 environments, episodes of 3-6 steps: steps with no episode end (the reset is skipped),
    # with one and with both. Under vmap (seeds=3) the cond's predicate is batched.
    env = EpisodeStatistics(TimeLimit(ChainEnv(), 6))
    venvs = (VecEnv(env, 2, "always"), VecEnv(env, 2, "cond"))
    (s_always, s_cond), (o_always, o_cond) = _scan_vec(venvs, env.default_params, jax.random.key(5), 120, seeds)
    ended = (o_always.terminated | o_always.truncated).sum(-1)  # [..., T] episodes ended per step
    assert (ended == 0).any() and (ended == 1).any() and (ended == 2).any(), "every branch must be exercised"
    trees_equal(o_always, o_cond, "step outputs")
    trees_equal(s_always, s_cond, "final states")


def test_vecenv_matches_vmap_of_env_step_on_cartpole(trees_equal):
    # max_steps_in_episode=9: every env still alive at step 9 truncates at once (> reset_batch).
    env, params = jaxrl.make("CartPole-v1", max_steps_in_episode=9)
    always, opt = VecEnv(env, B, "always"), VecEnv(env, B, "optimistic", reset_batch=2)

    @jax.jit
    def run(key):
        k0, k1 = jax.random.split(key)
        s0 = always.reset(k0, params)[1]
        s_vmap = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k0, B), params)[1]

        def body(carry, k):
            s_a, s_o, s_v = carry
            k_act, k_env = jax.random.split(k)
            action = _random_actions(k_act, always, params)
            a = always.step(k_env, s_a, action, params)
            o = opt.step(k_env, s_o, action, params)
            v = jax.vmap(env.step, in_axes=(0, 0, 0, None))(jax.random.split(k_env, B), s_v, action, params)
            return (a.state, o.state, v.state), (a, o, v)

        return jax.lax.scan(body, (s0, s0, s_vmap), jax.random.split(k1, 120))[1]

    a, o, v = jax.device_get(run(jax.random.PRNGKey(1)))
    done = a.terminated | a.truncated
    assert a.truncated.sum(1).max() > 2 and a.terminated.any()
    trees_equal(a, o, "always vs optimistic")
    np.testing.assert_array_equal(a.terminated, v.terminated)
    np.testing.assert_array_equal(a.truncated, v.truncated)
    for x, y in zip(
        jax.tree.leaves((a.obs, a.reward, a.info[FINAL_OBS])),
        jax.tree.leaves((v.obs, v.reward, v.info[FINAL_OBS])),
        strict=True,
    ):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)
    # The obs after an episode end is a fresh reset (|x| <= 0.05), the final obs is not.
    assert np.abs(a.obs[done]).max() <= 0.05 and np.abs(a.info[FINAL_OBS][done]).max() > 0.05


def test_vecenv_reset_matches_vmap_of_reset():
    env, params = jaxrl.make("CartPole-v1")
    key = jax.random.PRNGKey(3)
    obs, _ = VecEnv(env, 4).reset(key, params)
    ref, _ = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, 4), params)
    np.testing.assert_array_equal(obs, ref)


def test_vecenv_errors():
    env = ChainEnv()
    venv = VecEnv(env, 4)
    _, state = venv.reset(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match=r"shape \(3,\), expected \(4,\)"):
        venv.step(jax.random.PRNGKey(0), state, jnp.zeros(3, jnp.int32))
    with pytest.raises(ValueError, match="expected"):
        venv.step(jax.random.PRNGKey(0), state, jnp.int32(0))  # unbatched action
    with pytest.raises(TypeError, match="integer"):
        venv.step(jax.random.PRNGKey(0), state, jnp.zeros(4, jnp.float32))
    with pytest.raises(ValueError, match="num_envs must be a positive int, got 0"):
        VecEnv(env, 0)
    with pytest.raises(ValueError, match="reset_mode"):
        VecEnv(env, 4, reset_mode="lazy")
    with pytest.raises(ValueError, match="reset_batch"):
        VecEnv(env, 4, "optimistic", reset_batch=5)


def test_vecenv_default_mode_and_spaces():
    env = ChainEnv()
    assert VecEnv(env, 8).reset_mode == "cond" and VecEnv(env, 64).reset_mode == "optimistic"
    assert VecEnv(env, 64).reset_batch == 8
    venv = VecEnv(env, 2)
    assert venv.observation_space().shape == (2,) and venv.action_space().n == 2
    assert venv.name == "ChainEnv"


# --------------------------------------------------------------------------- NormalizeObservation
def test_normalize_observation_stats_match_numpy():
    env, params = jaxrl.make("CartPole-v1")
    raw = VecEnv(env, 8)
    norm = NormalizeObservation(VecEnv(env, 8), clip=5.0)
    frozen = NormalizeObservation(VecEnv(env, 8), update=False)

    @jax.jit
    def run(key):
        k0, k1 = jax.random.split(key)
        (o_raw, s_raw), (o_norm, s_norm), (o_frz, s_frz) = (v.reset(k0, params) for v in (raw, norm, frozen))

        def body(carry, k):
            s_raw, s_norm, s_frz = carry
            k_act, k_env = jax.random.split(k)
            action = _random_actions(k_act, raw, params)
            outs = tuple(v.step(k_env, s, action, params) for v, s in ((raw, s_raw), (norm, s_norm), (frozen, s_frz)))
            return tuple(o.state for o in outs), outs

        carry, outs = jax.lax.scan(body, (s_raw, s_norm, s_frz), jax.random.split(k1, 50))
        return (o_raw, o_norm, o_frz), carry, outs

    (o0_raw, o0_norm, o0_frz), (_, s_norm, s_frz), (r, n, f) = jax.device_get(run(jax.random.PRNGKey(0)))
    seen = np.concatenate([o0_raw[None], r.obs]).reshape(-1, 4).astype(np.float64)  # every obs returned
    stats = s_norm.obs_stats
    np.testing.assert_allclose(stats.mean, seen.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stats.var, seen.var(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stats.count, len(seen), rtol=1e-6)
    # The last step's obs and final obs are normalised with the statistics after that step.
    z = lambda x: np.clip((x - stats.mean) / np.sqrt(stats.var + 1e-8), -5, 5)  # noqa: E731
    np.testing.assert_allclose(n.obs[-1], z(r.obs[-1]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(n.info[FINAL_OBS][-1], z(r.info[FINAL_OBS][-1]), rtol=1e-4, atol=1e-5)
    assert np.abs(n.obs).max() <= 5.0
    np.testing.assert_array_equal(n.reward, r.reward)
    # update=False: stats stay at the prior (mean 0, var 1), obs pass through clipped.
    np.testing.assert_array_equal(s_frz.obs_stats.mean, 0.0)
    np.testing.assert_allclose(f.obs, np.clip(r.obs, -10, 10), rtol=1e-6)
    np.testing.assert_allclose(o0_frz, o0_raw, rtol=1e-6)
    sp = norm.observation_space(params)
    assert sp.shape == (4,) and float(sp.low) == -5.0 and float(sp.high) == 5.0
