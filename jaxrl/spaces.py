"""Jittable observation and action spaces (no gymnasium import).

Shapes and dtypes are static Python values; bounds may be traced arrays, so a
space built from traced params (e.g. ``Box(-params.max_torque, ...)``) works
inside ``jit``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


class Space:
    """Base class. ``shape`` and ``dtype`` are static."""

    shape: tuple[int, ...]
    dtype: jnp.dtype

    def sample(self, key: jax.Array) -> Any:
        raise NotImplementedError

    def contains(self, x: Any) -> jax.Array:
        raise NotImplementedError

    @property
    def is_discrete(self) -> bool:
        return False


class Discrete(Space):
    """Integers ``0 .. n-1``; shape ``()``."""

    def __init__(self, n: int, dtype: Any = jnp.int32):
        if int(n) <= 0:
            raise ValueError(f"Discrete space needs n > 0, got {n}")
        self.n = int(n)
        self.shape = ()
        self.dtype = jnp.dtype(dtype)

    def __repr__(self) -> str:
        return f"Discrete({self.n})"

    @property
    def is_discrete(self) -> bool:
        return True

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.randint(key, (), 0, self.n, dtype=self.dtype)

    def contains(self, x: Any) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != () or not jnp.issubdtype(x.dtype, jnp.integer):
            return jnp.asarray(False)
        return jnp.logical_and(x >= 0, x < self.n)


class MultiDiscrete(Space):
    """Vector of integers, entry ``i`` in ``0 .. nvec[i]-1``."""

    def __init__(self, nvec: Sequence[int], dtype: Any = jnp.int32):
        nvec = np.asarray(nvec, dtype=np.int64)
        if nvec.ndim != 1 or nvec.size == 0 or (nvec <= 0).any():
            raise ValueError(f"MultiDiscrete needs a 1-D vector of positive counts, got {nvec}")
        self.nvec = nvec
        self.shape = (len(nvec),)
        self.dtype = jnp.dtype(dtype)

    def __repr__(self) -> str:
        return f"MultiDiscrete({self.nvec.tolist()})"

    @property
    def is_discrete(self) -> bool:
        return True

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.randint(key, self.shape, 0, jnp.asarray(self.nvec, jnp.int32)).astype(self.dtype)

    def contains(self, x: Any) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != self.shape or not jnp.issubdtype(x.dtype, jnp.integer):
            return jnp.asarray(False)
        return jnp.all((x >= 0) & (x < jnp.asarray(self.nvec, x.dtype)))


class Box(Space):
    """Array with elementwise bounds ``low <= x <= high`` (bounds may be infinite)."""

    def __init__(self, low: Any, high: Any, shape: Sequence[int] | None = None, dtype: Any = jnp.float32):
        if shape is None:
            shape = jnp.broadcast_shapes(jnp.shape(low), jnp.shape(high))
        self.shape = tuple(int(s) for s in shape)
        self.dtype = jnp.dtype(dtype)
        self.low = low
        self.high = high

    def __repr__(self) -> str:
        def fmt(v: Any) -> str:
            try:
                a = np.asarray(v)
            except Exception:  # traced bound
                return "traced"
            return f"{a.flat[0]:g}" if a.size and np.all(a == a.flat[0]) else str(a)

        return f"Box({fmt(self.low)}, {fmt(self.high)}, {self.shape}, {self.dtype.name})"

    def sample(self, key: jax.Array) -> jax.Array:
        low = jnp.broadcast_to(jnp.asarray(self.low, jnp.float32), self.shape)
        high = jnp.broadcast_to(jnp.asarray(self.high, jnp.float32), self.shape)
        if jnp.issubdtype(self.dtype, jnp.integer) or self.dtype == jnp.bool_:
            return jax.random.randint(key, self.shape, low.astype(jnp.int32), high.astype(jnp.int32) + 1).astype(
                self.dtype
            )
        # Infinite bounds: sample a standard normal (shifted to the finite side if half-bounded).
        finite_lo, finite_hi = jnp.isfinite(low), jnp.isfinite(high)
        k1, k2 = jax.random.split(key)
        # (1 - u) * low + u * high cannot overflow, even for bounds of +-finfo.max (which
        # jax.random.uniform(minval=low, maxval=high) turns into inf).
        u = jax.random.uniform(k1, self.shape)
        lo, hi = jnp.where(finite_lo, low, 0.0), jnp.where(finite_hi, high, 1.0)
        unif = jnp.clip((1.0 - u) * lo + u * hi, lo, hi)
        normal = jax.random.normal(k2, self.shape)
        expo = jnp.abs(normal)
        x = jnp.where(
            finite_lo & finite_hi,
            unif,
            jnp.where(finite_lo, low + expo, jnp.where(finite_hi, high - expo, normal)),
        )
        return x.astype(self.dtype)

    def contains(self, x: Any) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.asarray(False)
        xf = x.astype(jnp.float32)
        return jnp.all((xf >= jnp.asarray(self.low, jnp.float32)) & (xf <= jnp.asarray(self.high, jnp.float32)))


class Dict(Space):
    """Mapping of named sub-spaces; samples are dicts."""

    def __init__(self, spaces: Mapping[str, Space]):
        self.spaces = dict(spaces)
        self.shape = ()
        self.dtype = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Dict(" + ", ".join(f"{k}: {v!r}" for k, v in self.spaces.items()) + ")"

    def __getitem__(self, k: str) -> Space:
        return self.spaces[k]

    def sample(self, key: jax.Array) -> dict[str, Any]:
        keys = jax.random.split(key, len(self.spaces))
        return {name: sp.sample(k) for (name, sp), k in zip(self.spaces.items(), keys, strict=True)}

    def contains(self, x: Mapping[str, Any]) -> jax.Array:
        if not isinstance(x, Mapping) or set(x) != set(self.spaces):
            return jnp.asarray(False)
        return jnp.all(jnp.stack([jnp.asarray(sp.contains(x[k])) for k, sp in self.spaces.items()]))


def flat_dim(space: Space) -> int:
    """Number of scalars in a flattened sample of ``space``."""
    if isinstance(space, Dict):
        return sum(flat_dim(s) for s in space.spaces.values())
    return int(np.prod(space.shape, dtype=np.int64))


def from_gymnax(space: Any) -> Space:
    """Convert a gymnax space (duck-typed, no import) into a jaxrl space."""
    name = type(space).__name__
    if name == "Discrete":
        return Discrete(space.n)
    if name == "Box":
        return Box(space.low, space.high, space.shape, space.dtype)
    if name == "Dict":
        return Dict({k: from_gymnax(v) for k, v in space.spaces.items()})
    if name == "Tuple":
        return Dict({str(i): from_gymnax(v) for i, v in enumerate(space.spaces)})
    raise TypeError(f"cannot convert gymnax space {space!r}")
