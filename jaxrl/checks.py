"""Action validity: the unchecked policy every step applies, and the opt-in checked mode.

Unchecked mode (the default, for training speed) gives every out-of-space
action a defined meaning, applied in one place for every environment
(:meth:`jaxrl.Environment.step` and :class:`jaxrl.VecEnv`'s step paths) by
:func:`guard_action`:

* ``Discrete(n)`` -- values are clipped into ``[0, n-1]`` (``CartPole`` action
  5 is action 1 bit for bit: no extrapolated force);
* ``MultiDiscrete(nvec)`` -- entry ``i`` is clipped into ``[0, nvec[i]-1]``;
* ``Box`` (floating) -- non-finite components (NaN, +-inf) are replaced by 0
  clipped into the bounds (the "do nothing" action of every built-in
  continuous environment); finite values pass through unchanged, even out of
  bounds: the environment's own dynamics decide (most clip), and
  :class:`jaxrl.wrappers.ClipAction` clips explicitly;
* ``Box`` (integer / bool) and ``Dict`` leaves of those kinds follow the same rules.

Valid actions are returned unchanged, bit for bit; the cost is one
elementwise ``clip`` or ``where`` per step.

Checked mode (``enable(True)``, ``with scope():``, or ``JAXRL_CHECKS=1`` in the
environment) additionally raises :class:`InvalidActionError` for every action
the unchecked policy would change (out-of-range integers, non-finite
floats), naming the environment, the batch index, the episode step (when
the state has a ``time`` / ``step`` / ``step_count`` counter), the value and
the space. Finite out-of-bounds floats are valid input by the contract, not
errors: Gaussian policies send them through ``ClipAction`` (PPO) and the
dynamics clip them. It works under ``jit``, ``vmap`` and ``scan`` through a host
callback, so it costs one host round trip per step: a debugging tool.

Inside compiled code the error reaches the caller wrapped in JAX's runtime
error; :meth:`jaxrl.Environment.step` and :class:`jaxrl.VecEnv` called
directly re-raise the :class:`InvalidActionError` itself, and
:func:`translate` does the same around any call (a jitted training loop).

The flag is read when a program is traced: :func:`enable` and :func:`scope`
clear JAX's compilation caches when they change it, so programs traced
before are traced again with (or without) the checks.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from jaxrl import spaces
from jaxrl.errors import UserError

_ENABLED = [os.environ.get("JAXRL_CHECKS", "").strip().lower() in ("1", "true", "yes", "on")]
_LAST: list[InvalidActionError] = []
_STEP_NAMES = ("time", "step", "step_count", "steps", "t")


class InvalidActionError(UserError):
    """An action outside its space was stepped while :mod:`jaxrl.checks` was enabled."""


class _DropInvalidAction(logging.Filter):
    """JAX logs every exception of a host callback with its traceback; ours reach the caller anyway."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InvalidActionError))


logging.getLogger("jax._src.callback").addFilter(_DropInvalidAction())


def is_enabled() -> bool:
    """Whether programs traced now include the action checks."""
    return _ENABLED[0]


def enable(on: bool = True, *, clear_caches: bool = True) -> bool:
    """Turn checked mode on or off for programs traced from now on; returns the previous value.

    ``clear_caches`` (default) clears JAX's caches when the value changes, so
    already-compiled programs are traced again under the new setting.
    """
    if not isinstance(on, bool | np.bool_):
        raise UserError(f"jaxrl.checks.enable takes a bool, got {on!r}")
    prev = _ENABLED[0]
    _ENABLED[0] = bool(on)
    if clear_caches and prev != bool(on):
        jax.clear_caches()
    return prev


@contextlib.contextmanager
def scope(enabled: bool = True, *, clear_caches: bool = True) -> Iterator[None]:
    """``with jaxrl.checks.scope():`` -- checked mode inside the block (restored after it).

    Errors raised by compiled code inside the block come out as
    :class:`InvalidActionError` (see :func:`translate`).
    """
    prev = enable(enabled, clear_caches=clear_caches)
    try:
        with translate():
            yield
    finally:
        enable(prev, clear_caches=clear_caches)


@contextlib.contextmanager
def translate() -> Iterator[None]:
    """Re-raise an :class:`InvalidActionError` that a compiled program's callback raised.

    JAX wraps exceptions from host callbacks in its own runtime error; inside
    this block such an error is replaced by the original (``raise ... from``
    the JAX error). Other errors pass through unchanged.
    """
    _LAST.clear()
    try:
        yield
    except InvalidActionError:
        raise
    except Exception as e:
        err = _LAST[-1] if _LAST else None
        if err is not None and str(err) in str(e):
            _LAST.clear()
            raise err from e
        raise


# --------------------------------------------------------------------------- the policy
def guard_action(
    name: str, space: spaces.Space, action: Any, state: Any = None, batch_shape: tuple[int, ...] = ()
) -> Any:
    """``action`` made valid for ``space`` by the unchecked policy (module docstring).

    ``action`` is ``batch_shape + space.shape`` (shape and dtype already
    checked by :func:`jaxrl.env.check_action`). In checked mode a host
    callback raises :class:`InvalidActionError` for an invalid action;
    ``state`` (same batch shape) is searched for an episode-step counter to
    name in the message.
    """
    if isinstance(space, spaces.Dict):
        if not isinstance(action, Mapping):
            return action
        return {
            k: guard_action(f"{name}[{k!r}]", sub, action[k], state, batch_shape) for k, sub in space.spaces.items()
        }
    if not isinstance(space, spaces.Discrete | spaces.MultiDiscrete | spaces.Box):
        return action
    a = jnp.asarray(action)
    if a.dtype == jnp.bool_:
        return action
    lo, hi = _bounds(space, a.dtype)
    floating = jnp.issubdtype(a.dtype, jnp.floating)
    if is_enabled():
        bad = ~jnp.isfinite(a) if floating else (a < lo) | (a > hi)  # exactly what the policy changes
        axes = tuple(range(len(batch_shape), a.ndim))
        bad = jnp.any(bad, axis=axes) if axes else bad  # batch_shape
        step = _episode_step(state, batch_shape)
        low = jnp.broadcast_to(jnp.asarray(lo, jnp.float32), space.shape)
        high = jnp.broadcast_to(jnp.asarray(hi, jnp.float32), space.shape)
        report = _Reporter(name, space, len(batch_shape))
        io_callback(report, None, bad, jax.lax.stop_gradient(a), step, low, high, ordered=False)
    if floating:
        null = jnp.clip(jnp.zeros((), a.dtype), lo, hi).astype(a.dtype)
        return jnp.where(jnp.isfinite(a), a, null)
    return jnp.clip(a, lo, hi).astype(a.dtype)


def invalid_action(space: spaces.Space) -> jax.Array | None:
    """An action of ``space``'s shape and dtype that checked mode must reject, or ``None`` for other spaces.

    ``n`` for ``Discrete(n)``, ``nvec`` for ``MultiDiscrete``, NaN in the first
    component (the others 0 clipped into the bounds) for a floating ``Box``.
    """
    if isinstance(space, spaces.Discrete):
        return jnp.asarray(space.n, space.dtype)
    if isinstance(space, spaces.MultiDiscrete):
        return jnp.asarray(space.nvec, space.dtype)
    if isinstance(space, spaces.Box) and jnp.issubdtype(space.dtype, jnp.floating):
        zero = jnp.clip(jnp.zeros(space.shape, space.dtype), space.low, space.high).astype(space.dtype)
        return zero.reshape(-1).at[0].set(jnp.nan).reshape(space.shape) if zero.size else None
    return None


def _bounds(space: spaces.Space, dtype: Any) -> tuple[Any, Any]:
    """Inclusive bounds of valid values, in ``dtype`` for integer spaces."""
    if isinstance(space, spaces.Discrete):
        return jnp.asarray(0, dtype), jnp.asarray(space.n - 1, dtype)
    if isinstance(space, spaces.MultiDiscrete):
        return jnp.asarray(0, dtype), jnp.asarray(space.nvec - 1, dtype)
    if jnp.issubdtype(dtype, jnp.floating):
        return jnp.asarray(space.low, dtype), jnp.asarray(space.high, dtype)
    # Integer Box: the integers inside the (float) bounds; bounds beyond the dtype's range saturate.
    info = jnp.iinfo(dtype)
    low, high = jnp.asarray(space.low, jnp.float32), jnp.asarray(space.high, jnp.float32)
    lo = jnp.where(low <= np.float32(info.min), info.min, jnp.ceil(low).astype(dtype)).astype(dtype)
    hi = jnp.where(high >= np.float32(info.max), info.max, jnp.floor(high).astype(dtype)).astype(dtype)
    return lo, hi


def _episode_step(state: Any, batch_shape: tuple[int, ...]) -> jax.Array:
    """The first integer leaf of ``state`` named like an episode-step counter (``-1`` if none); ``batch_shape``."""
    if state is not None:
        for path, leaf in jax.tree.leaves_with_path(state):
            key = path[-1] if path else None
            label = getattr(key, "name", getattr(key, "key", None))
            if (
                label in _STEP_NAMES
                and hasattr(leaf, "shape")
                and tuple(leaf.shape) == tuple(batch_shape)
                and jnp.issubdtype(leaf.dtype, jnp.integer)
            ):
                return jnp.asarray(leaf, jnp.int32)
    return jnp.full(batch_shape, -1, jnp.int32)


class _Reporter:
    """Host side of the check: raise for the first invalid action of the batch."""

    def __init__(self, name: str, space: spaces.Space, batch_ndim: int):
        self.name, self.batch_ndim = name, batch_ndim
        self.kind = type(space).__name__
        self.space = repr(space) if space.is_discrete else None  # Box bounds may be traced: shown from values
        self.shape, self.dtype = space.shape, space.dtype

    def __call__(self, bad, action, step, low, high) -> None:
        bad = np.asarray(bad)
        if not bad.any():
            return
        idx = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
        value = np.asarray(action)[idx]
        where = [f"batch index {idx if len(idx) > 1 else idx[0]}"] if idx else []
        t = int(np.asarray(step)[idx])
        where += [f"episode step {t}"] if t >= 0 else []
        space = self.space or f"Box({_fmt(low, True)}, {_fmt(high, True)}, {self.shape}, {self.dtype.name})"
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            reason = f"non-finite value for {space}"
        else:
            reason = f"outside {space}, whose valid values are {_fmt(low, True)} .. {_fmt(high, True)}"
        err = InvalidActionError(
            f"{self.name}: invalid action {_fmt(value)}"
            + (f" ({', '.join(where)})" if where else "")
            + f": {reason}. Fix the policy's output (an action of another space, or NaN from a diverged "
            "network?); unchecked, it would be made valid silently (clipped / NaN -> 0, see jaxrl.checks)"
        )
        _LAST[:] = [err]
        raise err


def _fmt(x: Any, collapse: bool = False) -> str:
    x = np.asarray(x)
    if collapse and x.ndim and x.size and np.all(x == x.flat[0]):
        x = x.flat[0]  # uniform bounds print as one number
    return np.array2string(x, precision=4, threshold=16) if np.ndim(x) else f"{x.item():.6g}"


__all__ = ["InvalidActionError", "enable", "guard_action", "invalid_action", "is_enabled", "scope", "translate"]
