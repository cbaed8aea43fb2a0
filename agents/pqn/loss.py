"""Q(lambda) targets and the PQN loss.

The targets are Peng's Q(lambda) returns over a ``[T, B]`` rollout,

    G_t = r_t + gamma * [(1 - lambda) * max_a Q(s_{t+1}, a) + lambda * G_{t+1}],

cut to ``G_t = r_t`` where step ``t`` terminated, ``G_t = r_t + gamma * max_a Q(s_{t+1})`` where it was
truncated (``s_{t+1}`` is then the terminal observation) and at the last step of the rollout (``s_T`` the
observation the next rollout starts from). With ``values = max_a Q(s_t)`` this is exactly
:func:`jaxrl.returns.gae`'s ``targets``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.returns import gae, successor_values
from jaxrl.rollout import Transition


def q_lambda_targets(
    max_q: Callable[[jax.Array], jax.Array],
    traj: Transition,
    last_obs: jax.Array,
    gamma: float | jax.Array,
    td_lambda: float | jax.Array,
) -> jax.Array:
    """Q(lambda) targets ``[T, B]`` (module docstring) of a rollout whose ``extras`` are ``max_a Q(obs_t)``.

    ``max_q(obs [..., obs_dim]) -> [...]`` evaluates the successor values: on ``last_obs [B, obs_dim]`` and,
    where some step was truncated, on ``traj.next_obs [T, B, obs_dim]``.
    """
    values = traj.extras  # [T, B]
    next_values = successor_values(values, max_q(last_obs), traj.truncated, lambda: max_q(traj.next_obs))
    _, targets = gae(traj.reward, values, next_values, traj.terminated, traj.truncated, gamma, td_lambda)
    return jax.lax.stop_gradient(targets)


class Batch(NamedTuple):
    """Training samples, leaves ``[N, ...]``."""

    obs: jax.Array  # [N, obs_dim]
    action: jax.Array  # [N] int
    target: jax.Array  # [N] Q(lambda) return


def pqn_loss(
    params: Any, apply_fn: Callable[[Any, jax.Array], jax.Array], batch: Batch
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``0.5 * mean((Q(obs, action) - target)^2)``; returns ``(loss, {"loss", "q_mean"})``."""
    q = apply_fn(params, batch.obs)  # [N, A]
    q_a = jnp.take_along_axis(q, batch.action[:, None].astype(jnp.int32), axis=-1)[:, 0]  # [N]
    loss = 0.5 * jnp.mean(jnp.square(q_a - batch.target))
    return loss, {"loss": loss, "q_mean": jax.lax.stop_gradient(jnp.mean(q_a))}
