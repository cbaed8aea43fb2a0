"""Deterministic-policy evaluation, jittable and vmappable over seeds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

import jaxrl

if TYPE_CHECKING:
    from jaxrl.agents.ppo.train import PPO, RunnerState


def evaluate(
    agent: PPO, key: jax.Array, runner_state: RunnerState, num_episodes: int, max_steps: int | None = None
) -> jax.Array:
    """Return of ``num_episodes`` episodes (run in parallel) of the policy's mode; ``[num_episodes]``.

    Observations are normalised with the run's frozen statistics. An episode
    still running after ``max_steps`` steps (default: twice the episode
    limit, ``env_params.max_steps_in_episode`` or the registry's) gives NaN,
    so a missing time limit can neither hang nor bias the result silently.
    """
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes <= 0:
        raise ValueError(f"num_episodes must be a positive int, got {num_episodes!r}")
    if max_steps is None:
        horizon = getattr(agent.env_params, "max_steps_in_episode", None)
        if not isinstance(horizon, int):
            horizon = jaxrl.spec(agent.cfg.env_id).max_episode_steps
        max_steps = 2 * horizon
    env, env_params = agent.env, agent.env_params
    params, stats = runner_state.params, runner_state.obs_stats
    k_reset, k_steps = jax.random.split(key)
    obs, state = jax.vmap(env.reset_env, in_axes=(0, None))(jax.random.split(k_reset, num_episodes), env_params)
    step_fn = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))  # no auto-reset: each env plays one episode

    def cond(c):
        t, _, _, _, done, _ = c
        return jnp.logical_and(t < max_steps, ~jnp.all(done))

    def body(c):
        t, key, state, obs, done, returns = c
        key, k = jax.random.split(key)
        action = agent.policy(params, agent.normalize(stats, obs)).mode()
        out = step_fn(jax.random.split(k, num_episodes), state, agent._env_action(action), env_params)
        ended = out.info["returned_episode"] & ~done
        returns = jnp.where(ended, out.info["episode_return"], returns)
        return t + 1, key, out.state, out.obs, done | ended, returns

    init = (jnp.int32(0), k_steps, state, obs, jnp.zeros(num_episodes, bool), jnp.zeros(num_episodes, jnp.float32))
    _, _, _, _, done, returns = jax.lax.while_loop(cond, body, init)
    return jnp.where(done, returns, jnp.nan)
