"""Epsilon-greedy exploration shared by value-based agents (DQN, PQN)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

EPSILON_CHECKS = {
    "eps_start": (lambda x: (x >= 0) & (x <= 1), "in [0, 1]"),
    "eps_end": (lambda x: (x >= 0) & (x <= 1), "in [0, 1]"),
    "exploration_fraction": (lambda x: (x > 0) & (x <= 1), "in (0, 1]"),
}
"""Range checks of the schedule's traced hyperparameters (``resolve_hparams`` format)."""


def epsilon(hp: Any, progress: jax.Array) -> jax.Array:
    """Linear decay from ``hp.eps_start`` to ``hp.eps_end`` over ``hp.exploration_fraction`` of the run.

    ``progress`` is the fraction of the run done (0 at the start).
    """
    frac = jnp.clip(progress / hp.exploration_fraction, 0.0, 1.0)
    return hp.eps_start + frac * (hp.eps_end - hp.eps_start)


def epsilon_greedy(key: jax.Array, q: jax.Array, eps: jax.Array) -> jax.Array:
    """A uniformly random action with probability ``eps``, else ``argmax q``; ``q [B, A] -> [B]`` int32."""
    k_coin, k_rand = jax.random.split(key)
    n, num_actions = q.shape
    rand = jax.random.randint(k_rand, (n,), 0, num_actions, jnp.int32)
    coin = jax.random.uniform(k_coin, (n,)) < eps
    return jnp.where(coin, rand, jnp.argmax(q, axis=-1).astype(jnp.int32))
