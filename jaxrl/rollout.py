"""Rollouts and minibatching shared by every agent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.env import FINAL_OBS


class Transition(NamedTuple):
    """A batch of transitions; leading axes ``[T, B]`` from :func:`rollout`."""

    obs: Any  # [T, B, *obs]      observation the action was taken in
    action: Any  # [T, B, *act]
    reward: jax.Array  # [T, B]
    terminated: jax.Array  # [T, B] bool
    truncated: jax.Array  # [T, B] bool
    next_obs: Any  # [T, B, *obs]      true successor (terminal obs when the episode ended)
    info: dict  # [T, B] leaves    env info (episode statistics, ...), without FINAL_OBS
    extras: Any  # agent-specific (log-probs, values, ...)


class EnvCarry(NamedTuple):
    """What a rollout carries between calls: batched env state and current obs."""

    state: Any  # [B, ...]
    obs: Any  # [B, *obs]


Policy = Callable[[jax.Array, Any], tuple[Any, Any]]
"""``policy(key, obs[B]) -> (action[B], extras)``"""


def rollout(key: jax.Array, venv: Any, env_params: Any, carry: EnvCarry, policy: Policy, num_steps: int):
    """Run ``num_steps`` batched steps under ``lax.scan``.

    Returns ``(carry, Transition)`` with transitions stacked to ``[T, B]``.
    ``venv`` is a :class:`jaxrl.VecEnv` (or anything with its ``step``).
    """

    def one(c: EnvCarry, k: jax.Array):
        k_act, k_env = jax.random.split(k)
        action, extras = policy(k_act, c.obs)
        out = venv.step(k_env, c.state, action, env_params)
        info = {k: v for k, v in out.info.items() if k != FINAL_OBS}
        t = Transition(c.obs, action, out.reward, out.terminated, out.truncated, out.info[FINAL_OBS], info, extras)
        return EnvCarry(out.state, out.obs), t

    return jax.lax.scan(one, carry, jax.random.split(key, num_steps))


def flatten_batch(tree: Any, axes: int = 2) -> Any:
    """Merge the leading ``axes`` axes of every leaf (e.g. ``[T, B, ...] -> [T*B, ...]``)."""
    return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[axes:]), tree)


def minibatches(key: jax.Array, batch: Any, num_minibatches: int) -> Any:
    """Shuffle a batch with leaves ``[N, ...]`` and split it into ``[M, N // M, ...]``."""
    n = jax.tree.leaves(batch)[0].shape[0]
    if n % num_minibatches:
        raise ValueError(f"batch of {n} is not divisible into {num_minibatches} minibatches")
    perm = jax.random.permutation(key, n)
    return jax.tree.map(lambda x: x[perm].reshape((num_minibatches, n // num_minibatches) + x.shape[1:]), batch)


def episode_mean(returns: jax.Array, finished: jax.Array) -> jax.Array:
    """Mean of ``returns`` where ``finished`` (any shape), NaN when no episode finished."""
    finished = finished.astype(jnp.float32)
    total = jnp.sum(finished)
    return jnp.where(total > 0, jnp.sum(returns * finished) / jnp.maximum(total, 1.0), jnp.nan)


def sgd_epochs(
    key: jax.Array,
    carry: Any,
    batch: Any,
    update_epochs: int,
    num_minibatches: int,
    step: Callable[[Any, Any], tuple[Any, dict[str, jax.Array]]],
) -> tuple[Any, dict[str, jax.Array]]:
    """``update_epochs`` shuffled passes of ``step(carry, minibatch) -> (carry, metrics)`` over a batch.

    ``batch`` has leaves ``[N, ...]``, split into ``num_minibatches`` minibatches per epoch. Returns the
    final carry and the metrics averaged over all ``update_epochs * num_minibatches`` steps.
    """

    def epoch(c, k):
        return jax.lax.scan(step, c, minibatches(k, batch, num_minibatches))

    carry, m = jax.lax.scan(epoch, carry, jax.random.split(key, update_epochs))
    return carry, jax.tree.map(jnp.mean, m)


def scan_updates(update_step: Callable[[Any], tuple[Any, dict]], state: Any, n_updates: int) -> tuple[Any, dict]:
    """``n_updates`` (a static positive int) calls of ``update_step`` under ``lax.scan``; metrics ``[n_updates]``.

    The ``train_chunk`` of every agent: chunks compose exactly, ``scan(scan(s, a), b) == scan(s, a + b)``.
    """
    if isinstance(n_updates, bool) or not isinstance(n_updates, int) or n_updates <= 0:
        raise ValueError(f"n_updates must be a positive int (static), got {n_updates!r}")
    return jax.lax.scan(lambda s, _: update_step(s), state, None, length=n_updates)
