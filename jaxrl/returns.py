"""Advantage and return estimators on ``[T, B]`` arrays (time-major).

Conventions: ``values[t] = V(obs[t])``; ``next_values[t] = V(s_{t+1})`` where
``s_{t+1}`` is the true successor of step ``t`` -- the terminal observation
``info[FINAL_OBS]`` when the episode ended there, not the reset observation.

* ``terminated[t]`` cuts bootstrapping: the target of step ``t`` is ``r_t``.
* ``truncated[t]`` bootstraps from ``next_values[t]`` (the episode was cut,
  not finished), but like termination it stops the trace from flowing into
  the next episode.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gae(
    rewards: jax.Array,  # [T, B]
    values: jax.Array,  # [T, B]
    next_values: jax.Array,  # [T, B]
    terminated: jax.Array,  # [T, B] bool
    truncated: jax.Array,  # [T, B] bool
    gamma: float | jax.Array,
    lam: float | jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation; returns ``(advantages, targets)``, both ``[T, B]``.

    ``targets = advantages + values`` (the lambda-returns used as value targets).
    """
    rewards = rewards.astype(jnp.float32)
    not_term = 1.0 - terminated.astype(jnp.float32)
    not_done = 1.0 - jnp.logical_or(terminated, truncated).astype(jnp.float32)
    deltas = rewards + gamma * not_term * next_values - values

    def back(carry, x):
        delta, nd = x
        adv = delta + gamma * lam * nd * carry
        return adv, adv

    _, adv = jax.lax.scan(back, jnp.zeros_like(values[0]), (deltas, not_done), reverse=True)
    return adv, adv + values


def discounted_returns(
    rewards: jax.Array,  # [T, B]
    terminated: jax.Array,  # [T, B]
    truncated: jax.Array,  # [T, B]
    bootstrap: jax.Array,  # [T, B] value of the true next state, used where truncated or at T-1
    gamma: float | jax.Array,
) -> jax.Array:
    """Monte-Carlo returns within episodes, bootstrapped at truncations and at the rollout end."""
    # With zero values, GAE(lambda=1) sums discounted rewards; the bootstrap must enter only
    # where the sum is cut (truncation or the last step), not at every step.
    zeros = jnp.zeros_like(rewards, jnp.float32)
    last = jnp.zeros(rewards.shape, bool).at[-1].set(True)
    cut = jnp.logical_or(truncated, last)
    next_values = jnp.where(cut, bootstrap, 0.0)
    _, targets = gae(rewards, zeros, next_values, terminated, truncated, gamma, 1.0)
    return targets
