"""Running mean/variance (parallel Welford), jittable and checkpointable."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class RunningMeanStd:
    mean: jax.Array  # [*shape] float32
    var: jax.Array  # [*shape] float32 (population variance)
    count: jax.Array  # [] float32, number of samples seen (plus a tiny prior)


def init(shape: tuple[int, ...] = ()) -> RunningMeanStd:
    return RunningMeanStd(jnp.zeros(shape, jnp.float32), jnp.ones(shape, jnp.float32), jnp.float32(1e-4))


def update(rms: RunningMeanStd, batch: jax.Array) -> RunningMeanStd:
    """Merge a batch ``[N, *shape]`` into the statistics (Chan et al. parallel update)."""
    batch = jnp.asarray(batch, jnp.float32).reshape((-1,) + rms.mean.shape)
    n = jnp.float32(batch.shape[0])
    b_mean = batch.mean(0)
    b_var = batch.var(0)
    delta = b_mean - rms.mean
    tot = rms.count + n
    mean = rms.mean + delta * n / tot
    m2 = rms.var * rms.count + b_var * n + delta**2 * rms.count * n / tot
    return RunningMeanStd(mean, m2 / tot, tot)


def normalize(rms: RunningMeanStd, x: Any, clip: float = 10.0, eps: float = 1e-8) -> jax.Array:
    """``(x - mean) / sqrt(var + eps)`` clipped to ``[-clip, clip]``."""
    z = (jnp.asarray(x, jnp.float32) - rms.mean) / jnp.sqrt(rms.var + eps)
    return jnp.clip(z, -clip, clip)
