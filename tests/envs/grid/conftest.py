"""Shared fixtures of the gridworld tests: one env instance (hence one set of
compiled functions) per id and option set for the whole session."""

from __future__ import annotations

import functools

import jax
import pytest

from jaxrl.envs import grid


@functools.cache
def _make(env_id: str, obs_mode: str = "partial", see_through_walls: bool | None = None):
    kwargs = {} if see_through_walls is None else {"see_through_walls": see_through_walls}
    return grid.make(env_id, obs_mode=obs_mode, **kwargs)


@functools.cache
def _stepper(env: grid.GridEnv):
    """jit(states [L], actions [L, T]) -> per-step (obs, dir, reward, terminated, truncated, state),
    each ``[L, T, ...]``, with ``env.default_params`` and no auto-reset."""
    params = env.default_params

    def one(state, actions):
        def body(s, a):
            out = env.step_env(jax.random.PRNGKey(0), s, a, params)
            return out.state, (out.obs, out.state.agent_dir, out.reward, out.terminated, out.truncated, out.state)

        return jax.lax.scan(body, state, actions)[1]

    return jax.jit(jax.vmap(one))


@functools.cache
def _resetter(env: grid.GridEnv):
    """jit(keys [L]) -> (obs, states) [L] with ``env.default_params``."""
    params = env.default_params
    return jax.jit(lambda keys: jax.vmap(env.reset_env, in_axes=(0, None))(keys, params))


@pytest.fixture(scope="session")
def make_grid():
    """``make_grid(id, obs_mode="partial", see_through_walls=None) -> (env, params)``, memoised."""
    return _make


@pytest.fixture(scope="session")
def stepper():
    """``stepper(env)``: batched, jitted no-reset rollout of given actions (memoised per env)."""
    return _stepper


@pytest.fixture(scope="session")
def resetter():
    """``resetter(env)``: batched, jitted reset over keys (memoised per env)."""
    return _resetter
