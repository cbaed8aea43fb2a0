"""Greedy-policy evaluation, jittable and vmappable over seeds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax

from jaxrl.agent_env import default_eval_steps, evaluate_policy

if TYPE_CHECKING:
    from jaxrl.agents.pqn.train import PQN, RunnerState


def evaluate(
    agent: PQN, key: jax.Array, runner_state: RunnerState, num_episodes: int, max_steps: int | None = None
) -> jax.Array:
    """Return of ``num_episodes`` episodes (run in parallel) of ``argmax_a Q``; ``[num_episodes]``.

    An episode still running after ``max_steps`` steps (default: twice the
    episode limit) gives NaN, so a missing time limit can neither hang nor
    bias the result silently.
    """
    if max_steps is None:
        max_steps = default_eval_steps(agent.cfg.env_id, agent.env_params)
    params = runner_state.params
    return evaluate_policy(
        agent.env, agent.env_params, key, lambda obs: agent.greedy(params, obs), num_episodes, max_steps
    )
