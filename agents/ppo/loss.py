"""PPO loss with a pluggable policy objective.

A policy objective maps ``(log_ratio [N], advantage [N], progress [], hparams, objective_params)``
to a scalar loss to minimise; ``log_ratio = log pi_new(a|s) - log pi_old(a|s)``,
``advantage`` is already normalised (when ``Config.normalize_advantages``) and
``progress = n / N`` is the fraction of updates done. ``objective_params`` (the
runner state's field of that name; ``None`` for closed-form objectives) are the
parameters of a learned objective (e.g. an LPO drift network), so meta-learners
swap objectives without touching PPO.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.agents.ppo.config import HParams

PolicyObjective = Callable[[jax.Array, jax.Array, jax.Array, HParams, Any], jax.Array]


def clipped_objective(
    log_ratio: jax.Array, advantage: jax.Array, progress: jax.Array, hparams: HParams, objective_params: Any = None
) -> jax.Array:
    """PPO-clip: ``-mean(min(r A, clip(r, 1 - eps, 1 + eps) A))`` with ``r = exp(log_ratio)``."""
    del progress, objective_params
    ratio = jnp.exp(log_ratio)
    clipped = jnp.clip(ratio, 1.0 - hparams.clip_eps, 1.0 + hparams.clip_eps)
    return -jnp.mean(jnp.minimum(ratio * advantage, clipped * advantage))


class Batch(NamedTuple):
    """Training samples, leaves ``[N, ...]``."""

    obs: jax.Array  # [N, obs_dim] policy input (already normalised when normalize_obs)
    action: jax.Array  # [N, *act]
    log_prob: jax.Array  # [N] behaviour log-probability
    value: jax.Array  # [N] behaviour value estimate
    advantage: jax.Array  # [N]
    target: jax.Array  # [N] value target (lambda-return)


def ppo_loss(
    params: Any,
    apply_fn: Callable[[Any, jax.Array], tuple[Any, jax.Array]],
    batch: Batch,
    hparams: HParams,
    progress: jax.Array,
    objective: PolicyObjective = clipped_objective,
    normalize_advantages: bool = True,
    clip_value_loss: bool = True,
    objective_params: Any = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``total = policy_loss + vf_coef * value_loss - ent_coef * entropy``; returns ``(total, metrics)``.

    ``apply_fn(params, obs) -> (distribution, value)``. The value loss is
    ``0.5 * mean(max((v - t)^2, (v_clip - t)^2))`` with
    ``v_clip = v_old + clip(v - v_old, -clip_eps, clip_eps)`` (or unclipped).
    """
    pi, value = apply_fn(params, batch.obs)
    log_prob = pi.log_prob(batch.action)
    log_ratio = log_prob - batch.log_prob
    adv = batch.advantage
    if normalize_advantages:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    policy_loss = objective(log_ratio, adv, progress, hparams, objective_params)

    err = jnp.square(value - batch.target)
    if clip_value_loss:
        v_clip = batch.value + jnp.clip(value - batch.value, -hparams.clip_eps, hparams.clip_eps)
        err = jnp.maximum(err, jnp.square(v_clip - batch.target))
    value_loss = 0.5 * jnp.mean(err)
    entropy = jnp.mean(pi.entropy())
    total = policy_loss + hparams.vf_coef * value_loss - hparams.ent_coef * entropy

    ratio = jnp.exp(log_ratio)
    metrics = {
        "total_loss": total,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "approx_kl": jax.lax.stop_gradient(jnp.mean((ratio - 1.0) - log_ratio)),
        "clip_frac": jax.lax.stop_gradient(jnp.mean((jnp.abs(ratio - 1.0) > hparams.clip_eps).astype(jnp.float32))),
    }
    return total, metrics
