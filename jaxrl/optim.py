"""Optimiser steps with traced learning rates (so ``vmap`` can sweep them)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax


def adam_step(opt: optax.GradientTransformation, params: Any, grads: Any, opt_state: Any, lr: jax.Array,
              max_grad_norm: jax.Array) -> tuple[Any, Any, jax.Array]:
    """Clip ``grads`` by global norm, one ``opt`` (e.g. ``optax.scale_by_adam()``) step at rate ``lr``.

    Returns ``(params, opt_state, grad_norm)``; ``params`` may be a pytree or one flat vector.
    """
    norm = optax.global_norm(grads)
    scale = jnp.minimum(1.0, max_grad_norm / jnp.maximum(norm, 1e-12))
    grads = jax.tree.map(lambda g: g * scale, grads)
    updates, opt_state = opt.update(grads, opt_state, params)
    return jax.tree.map(lambda p, u: p - lr * u, params, updates), opt_state, norm
