"""Deterministic-policy evaluation, jittable and vmappable over seeds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax

from jaxrl.agent_env import default_eval_steps, evaluate_policy

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
    if max_steps is None:
        max_steps = default_eval_steps(agent.cfg.env_id, agent.env_params)
    act = lambda obs: agent.greedy_action(runner_state, obs)  # noqa: E731
    return evaluate_policy(agent.env, agent.env_params, key, act, num_episodes, max_steps)
