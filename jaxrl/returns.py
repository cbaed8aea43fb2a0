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

from collections.abc import Callable

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


def td_target(
    reward: jax.Array,  # [...]
    terminated: jax.Array,  # [...] bool
    next_value: jax.Array,  # [...] value of the true successor (the terminal obs when the episode ended)
    gamma: float | jax.Array,
) -> jax.Array:
    """One-step target ``r + gamma * (1 - terminated) * V(s')``; truncation bootstraps like any other step."""
    return reward.astype(jnp.float32) + gamma * (1.0 - terminated.astype(jnp.float32)) * next_value


def nstep_return(
    rewards: jax.Array,  # [..., n]
    terminated: jax.Array,  # [..., n] bool
    truncated: jax.Array,  # [..., n] bool
    gamma: float | jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """n-step return of sequences of consecutive steps of one environment stream.

    The sum stops at the first step that ends an episode (terminated or
    truncated), so it never runs into the next episode. Returns
    ``(ret, discount, last)``, each ``[...]``: ``ret = sum_{i<=last} gamma^i r_i``,
    ``last`` the index of the step whose ``next_obs`` is bootstrapped from,
    and ``discount = gamma^(last+1)``, or 0 when that step terminated.
    The target is ``ret + discount * V(next_obs[last])``.
    """
    n = rewards.shape[-1]
    done = jnp.logical_or(terminated, truncated)
    # steps after the first end of episode are masked out
    ended_before = jnp.cumsum(done.astype(jnp.int32), axis=-1) - done.astype(jnp.int32)  # [..., n] ends before i
    live = ended_before == 0
    powers = gamma ** jnp.arange(n, dtype=jnp.float32)
    ret = jnp.sum(jnp.where(live, rewards.astype(jnp.float32) * powers, 0.0), axis=-1)
    last = jnp.where(jnp.any(done, axis=-1), jnp.argmax(done, axis=-1), n - 1).astype(jnp.int32)
    term_last = jnp.take_along_axis(terminated, last[..., None], axis=-1)[..., 0]
    discount = jnp.where(term_last, 0.0, gamma ** (last + 1).astype(jnp.float32))
    return ret, discount, last


def successor_values(
    values: jax.Array,  # [T, B] V(obs_t)
    last_value: jax.Array,  # [B] V of the observation after the rollout
    truncated: jax.Array,  # [T, B] bool
    final_value: Callable[[], jax.Array],  # () -> [T, B] V(next_obs_t) (terminal observations)
) -> jax.Array:
    """``next_values [T, B]`` for :func:`gae`: ``V`` of each step's true successor.

    ``values[t + 1]`` inside an episode, ``last_value`` at the end of the rollout, and ``final_value()``
    (the value of the terminal observation) where the episode was truncated -- evaluated only when some
    step was truncated (under ``vmap`` the ``lax.cond`` becomes a select and both sides run). Where the
    episode terminated the result is ignored by ``gae``.
    """
    next_values = jnp.concatenate([values[1:], last_value[None]], axis=0)
    final = jax.lax.cond(jnp.any(truncated), final_value, lambda: next_values)
    return jnp.where(truncated, final, next_values)
