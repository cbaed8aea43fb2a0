"""Brax adapter: parity with ``brax.envs``, truncation, dtypes, VecEnv, lazy import.

Brax compiles are slow on CPU, so the default run compiles only the
module-scoped inverted_pendulum (the cheapest env) and its brax reference;
VecEnv numerics, locomotion parity and the dtype check of the other envs
(tracing only) are ``slow``.
"""

from __future__ import annotations

import functools
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl import FINAL_OBS, VecEnv
from jaxrl.envs.control.brax_adapter import BraxEnv, BraxParams

BRAX_IDS = [
    "ant",
    "halfcheetah",
    "hopper",
    "walker2d",
    "humanoid",
    "inverted_pendulum",
    "inverted_double_pendulum",
    "reacher",
    "pusher",
    "swimmer",
]


@functools.cache
def _brax_reference(name: str):
    """``brax.envs.get_environment(name)`` with jitted reset/step, built independently of the adapter."""
    import warnings

    from jaxrl.envs.control.brax_adapter import _import_brax_envs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = _import_brax_envs().get_environment(name)
    return jax.jit(ref.reset), jax.jit(ref.step)


@pytest.fixture(scope="module")
def pendulum():
    return BraxEnv("inverted_pendulum")


def _check_parity(env: BraxEnv, name: str, n_steps: int, key: jax.Array) -> int:
    """Step ``env`` (public ``step``, auto-reset) and brax side by side; return the number of terminations."""
    ref_reset, ref_step = _brax_reference(name)
    k_reset, k_act, k_steps = jax.random.split(key, 3)
    actions = jax.random.uniform(k_act, (n_steps, env.action_space(env.default_params).shape[0]), minval=-1, maxval=1)
    close = dict(rtol=1e-5, atol=1e-5)

    params = env.default_params  # passed explicitly: shares the compile with the truncation test
    obs, state = env.reset(k_reset, params)
    ref = ref_reset(k_reset)
    np.testing.assert_allclose(obs, ref.obs, **close)
    assert obs.dtype == jnp.float32 and obs.shape == env.observation_space(env.default_params).shape
    n_term = 0
    for t in range(n_steps):
        k = jax.random.fold_in(k_steps, t)
        out = env.step(k, state, actions[t], params)
        ref = ref_step(ref, actions[t])
        np.testing.assert_allclose(out.info[FINAL_OBS], ref.obs, **close, err_msg=f"step {t}")
        np.testing.assert_allclose(out.reward, ref.reward, **close, err_msg=f"step {t}")
        assert out.reward.dtype == jnp.float32
        assert bool(out.terminated) == bool(ref.done), f"step {t}"
        assert not bool(out.truncated)
        if bool(ref.done):  # brax has no auto-reset: reset it with the key jaxrl's step uses
            n_term += 1
            ref = ref_reset(jax.random.split(k)[1])
        np.testing.assert_allclose(out.obs, ref.obs, **close, err_msg=f"step {t}")
        state = out.state
    return n_term


def test_pendulum_parity_with_brax_including_auto_reset(pendulum):
    n_term = _check_parity(pendulum, "inverted_pendulum", 60, jax.random.PRNGKey(3))
    assert n_term >= 2  # the trajectory crosses episode boundaries, so the reset path is compared too


@pytest.mark.slow
@pytest.mark.parametrize(("name", "falls"), [("hopper", True), ("ant", False)])
def test_locomotion_parity_with_brax(name, falls):
    n_term = _check_parity(BraxEnv(name), name, 40, jax.random.PRNGKey(0))
    if falls:  # random actions topple the hopper within 40 steps (3 times): the reset path is compared too
        assert n_term >= 1


def test_truncation_at_max_steps(pendulum):
    params = BraxParams(max_steps_in_episode=5)
    ref_reset, ref_step = _brax_reference("inverted_pendulum")
    key = jax.random.PRNGKey(7)
    obs, state = pendulum.reset(key, params)
    ref = ref_reset(key)
    action = jnp.zeros((1,))
    for t in range(1, 6):
        k = jax.random.fold_in(key, t)
        out = pendulum.step(k, state, action, params)
        ref = ref_step(ref, action)
        assert not bool(out.terminated), t
        assert bool(out.truncated) == (t == 5), t
        np.testing.assert_allclose(out.info[FINAL_OBS], ref.obs, rtol=1e-5, atol=1e-6)
        state = out.state
    # after truncation: the next episode's first obs, the pre-reset obs kept in info, counter restarted
    np.testing.assert_allclose(out.obs, ref_reset(jax.random.split(k)[1]).obs, rtol=1e-5, atol=1e-6)
    assert not np.allclose(out.obs, out.info[FINAL_OBS])
    assert int(out.state.time) == 0


def test_state_dtypes_match_between_reset_and_step(pendulum):
    """brax's step returns weak-typed scalars; uncast, a jitted step would compile twice in a host loop."""
    p = pendulum.default_params
    key = jax.random.PRNGKey(0)
    _, s0 = jax.eval_shape(pendulum.reset_env, key, p)
    s1 = jax.eval_shape(pendulum.step_env, key, s0, jnp.zeros((1,)), p).state
    avals = lambda t: [(x.shape, x.dtype, x.weak_type) for x in jax.tree.leaves(t)]  # noqa: E731
    assert jax.tree.structure(s0) == jax.tree.structure(s1)
    assert avals(s0) == avals(s1)
    assert s0.time.dtype == jnp.int32


def test_vecenv_optimistic_traces_with_brax_state(pendulum):
    """VecEnv's optimistic resets gather/scatter brax state inside a while_loop (trace only, no compile)."""
    n, params = 4, pendulum.default_params
    venv = VecEnv(pendulum, n, reset_mode="optimistic", reset_batch=1)
    obs, state = jax.eval_shape(venv.reset, jax.random.PRNGKey(0), params)
    out = jax.eval_shape(venv.step, jax.random.PRNGKey(1), state, jnp.zeros((n, 1)), params)
    assert obs.shape == out.obs.shape == out.info[FINAL_OBS].shape == (n, 4)
    assert out.reward.shape == out.terminated.shape == out.truncated.shape == (n,)
    assert jax.tree.structure(out.state) == jax.tree.structure(state)
    assert [x.shape for x in jax.tree.leaves(out.state)] == [x.shape for x in jax.tree.leaves(state)]


@pytest.mark.slow
def test_vecenv_optimistic_matches_single_env_steps(pendulum):
    """Optimistic resets (a while_loop over the done envs, carrying brax state) equal per-env ``env.step``."""
    n, params = 4, BraxParams(max_steps_in_episode=3)
    venv = VecEnv(pendulum, n, reset_mode="optimistic", reset_batch=1)
    # initial states from the single-env reset compiled by the other tests (a batched reset is one more compile)
    singles = [pendulum.reset(k, params)[1] for k in jax.random.split(jax.random.PRNGKey(1), n)]
    state = jax.tree.map(lambda *xs: jnp.stack(xs), *singles)
    vstep = jax.jit(venv.step)
    actions = jax.random.uniform(jax.random.PRNGKey(2), (3, n, 1), minval=-1, maxval=1)
    for t, key in enumerate(jax.random.split(jax.random.PRNGKey(4), 3)):
        out = vstep(key, state, actions[t], params)
        keys = jax.random.split(key, n)  # VecEnv's documented per-env keys
        for i in range(n):
            ref = pendulum.step(keys[i], singles[i], actions[t, i], params)  # reuses the module's compile
            got = jax.tree.map(lambda x, i=i: x[i], out)
            for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, err_msg=f"step {t} env {i}")
            singles[i] = ref.state
        state = out.state
    assert bool(out.truncated.all())  # every env reset on the last step: the while_loop ran 4 times


def test_spaces_registry_and_errors(pendulum):
    p = pendulum.default_params
    assert pendulum.action_space(p).shape == (1,) and float(pendulum.action_space(p).low) == -1.0
    assert pendulum.observation_space(p).shape == (4,) and not np.isfinite(pendulum.observation_space(p).high)
    assert pendulum.backend == "generalized"
    assert sorted(jaxrl.list_envs("brax")) == sorted(BRAX_IDS)
    assert jaxrl.spec("hopper").max_episode_steps == 1000
    env, params = jaxrl.make("inverted_pendulum", max_steps_in_episode=7)
    assert env == pendulum and hash(env) == hash(pendulum)  # equal envs share jit caches
    assert params.max_steps_in_episode == 7
    with pytest.raises(ValueError, match="unknown brax environment"):
        BraxEnv("hoper")
    with pytest.raises(ValueError, match="unknown brax backend"):
        BraxEnv("hopper", backend="physx")
    with pytest.raises(ValueError, match="action has shape"):
        pendulum.step(jax.random.PRNGKey(0), pendulum.reset(jax.random.PRNGKey(0))[1], jnp.zeros((2,)))


def test_import_jaxrl_does_not_import_brax_or_mujoco():
    code = (
        "import sys, jaxrl; ids = jaxrl.list_envs('brax'); assert 'hopper' in ids, ids; "
        "bad = [m for m in ('brax', 'mujoco') if m in sys.modules]; assert not bad, bad"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.mark.parametrize("name", [n if n == "swimmer" else pytest.param(n, marks=pytest.mark.slow) for n in BRAX_IDS])
def test_every_env_reset_and_step_types_match(name):
    """Trace only (no compile): state avals identical between reset and step; obs/reward/flags typed.

    swimmer runs by default: it checks the ``brax.fluid`` clip patch (tracing fails without it on jax 0.10).
    """
    env = BraxEnv(name)
    p = env.default_params
    key = jax.random.PRNGKey(0)
    obs, s0 = jax.eval_shape(env.reset_env, key, p)
    out = jax.eval_shape(env.step_env, key, s0, jnp.zeros(env.action_space(p).shape), p)
    avals = lambda t: [(x.shape, x.dtype, x.weak_type) for x in jax.tree.leaves(t)]  # noqa: E731
    assert avals(s0) == avals(out.state)
    assert obs.shape == env.observation_space(p).shape and obs.dtype == jnp.float32
    assert (out.reward.shape, out.reward.dtype) == ((), jnp.float32)
    assert out.terminated.dtype == jnp.bool_ and out.truncated.dtype == jnp.bool_
