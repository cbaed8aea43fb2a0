"""Validated configurations: every field declared once, with its kind and its check beside it.

>>> @dataclass(frozen=True)
... class Config(ConfigBase):
...     _name = "my.Config"
...     num_envs: int = static(4, positive)          # shapes the program
...     lr: float = traced(2.5e-4, gt(0))            # may be traced (swept under vmap)
...     gamma: float = traced(0.99, in_range(0, 1))
>>> HParams = hparams_class(Config)                  # pytree of the traced fields, in declaration order

* :func:`static` fields fix the compiled program (counts, sizes, switches); :func:`traced` fields are
  the defaults of the agent's traced hyperparameters. Plain dataclass fields count as static.
* Every field is type-checked from its annotation on construction (``float``: a finite real, ints
  accepted and stored as float; ``int``: an int, not a bool or a float; ``bool``; ``str``;
  ``X | None``; ``tuple[int, ...]``: a list or tuple of ints, stored as a tuple; ``Mapping``:
  stored as a read-only hashable :class:`ParamDict`), then checked by its :class:`Check`; a bad
  value raises :class:`jaxrl.errors.UserError` (a ``ValueError``) naming ``<_name>.<field>``.
  ``validate`` then runs the cross-field checks of the subclass.
* :func:`hparams_class` derives the traced-hyperparameter pytree class and :func:`resolve_hparams`
  builds and checks its values: concrete values failing a check raise; **traced values failing
  it (a ``jit`` argument, a ``vmap`` sweep) become NaN, and so does that run's ``lr``**, so the
  run's parameters turn non-finite and the divergence detector flags the run instead of it
  silently training with, say, a negative learning rate (gradient ascent).

Configs are frozen and hashable (usable as static ``jit`` arguments).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.errors import UserError
from jaxrl.vec import RESET_MODES


class ParamDict(dict):
    """The ``env_params`` overrides of a config: a read-only, hashable dict (configs are static jit arguments)."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted((k, repr(v)) for k, v in self.items())))

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("config env_params are read-only; use cfg.replace(env_params={...})")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _readonly  # type: ignore[assignment]


# =========================================================================== checks
class Check(NamedTuple):
    """``ok(value) -> bool`` (elementwise on arrays for traced fields) and the text ``must be <text>``."""

    ok: Callable[[Any], Any]
    text: str


def gt(x: float) -> Check:
    return Check(lambda v: v > x, f"> {x}")


def ge(x: float) -> Check:
    return Check(lambda v: v >= x, f">= {x}")


def in_range(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> Check:
    """``lo <= v <= hi`` (``<`` on an open end)."""

    def ok(v):
        return ((v > lo) if lo_open else (v >= lo)) & ((v < hi) if hi_open else (v <= hi))

    return Check(ok, f"in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}")


def one_of(*options: Any) -> Check:
    return Check(lambda v: v in options, f"one of {list(options)}")


positive = Check(lambda v: v >= 1, "a positive integer")
non_negative = Check(lambda v: v >= 0, "a non-negative integer")
layer_sizes = Check(lambda v: len(v) >= 1 and all(h > 0 for h in v), "a non-empty tuple of positive layer sizes")
reset_modes = one_of(None, *RESET_MODES)


def activations() -> Check:
    from jaxrl.networks import ACTIVATIONS

    return Check(lambda v: v in ACTIVATIONS, f"one of {sorted(ACTIVATIONS)}")


_META = "jaxrl"


def static(default: Any = dataclasses.MISSING, check: Check | None = None, *, factory: Any = dataclasses.MISSING):
    """A static field (shapes the compiled program); ``factory`` for mutable defaults."""
    return dataclasses.field(default=default, default_factory=factory, metadata={_META: ("static", check)})


def traced(default: float, check: Check | None = None):
    """A traced hyperparameter's default: a field of the derived ``HParams`` (a float32 array, or ``[S]``)."""
    return dataclasses.field(default=default, metadata={_META: ("traced", check)})


def field_check(f: dataclasses.Field) -> Check | None:
    return f.metadata.get(_META, (None, None))[1]


def traced_names(cls: type) -> tuple[str, ...]:
    """Names of the traced fields of config class ``cls``, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get(_META, ("",))[0] == "traced")


# =========================================================================== type checks
_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _describe(tp: Any) -> str:
    if typing.get_origin(tp) is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp: Any, v: Any) -> Any:
    """``v`` as a value of annotation ``tp``; ``TypeError`` (message: what was expected) otherwise."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or isinstance(tp, typing.TypeVar):
        return v
    if origin in (typing.Union, types.UnionType):
        if v is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, v)
            except TypeError:
                pass
        raise TypeError(" or ".join("None" if a is type(None) else _describe(a) for a in args))
    if origin is typing.Literal:
        if v not in args:
            raise TypeError(f"one of {list(args)}")
        return v
    if tp is float:
        if isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v):
            return float(v)
        raise TypeError("a finite real number")
    if tp is int:
        if isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)):
            return int(v)
        raise TypeError("an integer")
    if tp is bool:
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        raise TypeError("a bool")
    if tp is str:
        if isinstance(v, str):
            return v
        raise TypeError("a string")
    if origin is tuple:
        if not isinstance(v, (tuple, list)):
            raise TypeError(f"a tuple ({_describe(tp)})")
        if len(args) == 2 and args[1] is Ellipsis:
            try:
                return tuple(_coerce(args[0], x) for x in v)
            except TypeError:
                raise TypeError(f"a list or tuple of {_describe(args[0])}") from None
        if args and len(args) != len(v):
            raise TypeError(f"a tuple of {len(args)} ({_describe(tp)})")
        return tuple(_coerce(a, x) for a, x in zip(args, v, strict=True)) if args else tuple(v)
    if origin in (Mapping, dict) or tp in (Mapping, dict):
        if v is None:
            return ParamDict()
        if not isinstance(v, Mapping):
            raise TypeError("a mapping (dict)")
        return ParamDict(v)
    if isinstance(tp, type) and not isinstance(v, tp):
        raise TypeError(f"a {tp.__name__}")
    return v


# =========================================================================== base
@dataclass(frozen=True)
class ConfigBase:
    _name: ClassVar[str] = "Config"

    def __post_init__(self):
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            try:
                v = _coerce(hints.get(f.name, Any), v)
            except TypeError as e:
                raise UserError(f"{self._name}.{f.name} must be {e}, got {v!r} ({type(v).__name__})") from None
            object.__setattr__(self, f.name, v)
            check = field_check(f)
            if check is not None and not check.ok(v):
                raise UserError(f"{self._name}.{f.name} must be {check.text}, got {v!r}")
        self.validate()

    def validate(self) -> None:
        """Cross-field checks; raise ``ValueError`` naming the fields (called after the field checks)."""

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ legacy checks (configs not yet on fields)
    def check_ints(self, *names: str, minimum: int = 1) -> None:
        for f in names:
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
                what = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer >= {minimum}")
                raise ValueError(f"{self._name}.{f} must be {what}, got {v!r}")

    def check_reals(self, checks: Mapping[str, tuple[Any, str]]) -> None:
        """Each field named in ``checks`` is a finite real satisfying its predicate, else ``ValueError``."""
        for name, (ok, text) in checks.items():
            v = getattr(self, name)
            real = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
            if not real or not ok(v):
                raise ValueError(f"{self._name}.{name} must be {text} (and finite), got {v!r}")

    def check_choice(self, name: str, options: Any) -> None:
        v = getattr(self, name)
        if v not in options:
            shown = sorted(options, key=repr) if not isinstance(options, tuple) else options
            raise ValueError(f"{self._name}.{name} must be one of {shown}, got {v!r}")

    def check_hidden(self, *names: str) -> None:
        for f in names:
            v = getattr(self, f)
            if not v or any(h <= 0 for h in v):
                raise ValueError(f"{self._name}.{f} needs at least one layer, all sizes positive; got {v}")

    def check_common(self) -> None:
        """``total_timesteps`` below 2**31 (int32 counters) and a registered ``env_id``.

        The id is looked up in the registry only (the environment is not built); ``env_params``
        override names and types are checked when the agent builds its environment.
        """
        from jaxrl.registry import spec

        if self.total_timesteps >= 2**31:
            raise UserError(f"{self._name}.total_timesteps must be < 2**31 (int32 counters), "
                            f"got {self.total_timesteps}")
        try:
            spec(self.env_id)
        except ValueError as e:
            raise UserError(f"{self._name}.env_id: {e}") from None


class OnPolicySizes:
    """Derived sizes of rollout-based configs (from num_envs, num_steps, num_minibatches, total_timesteps)."""

    @property
    def batch_size(self) -> int:
        """Transitions per update: ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size


def check_batches(cfg: Any) -> None:
    """On-policy batch checks: ``num_envs * num_steps`` divisible into minibatches, at least one update."""
    name = cfg._name
    if cfg.batch_size % cfg.num_minibatches:
        raise UserError(
            f"{name}: batch num_envs*num_steps = {cfg.num_envs}*{cfg.num_steps} = {cfg.batch_size} "
            f"is not divisible by num_minibatches={cfg.num_minibatches}"
        )
    if cfg.num_updates < 1:
        raise UserError(
            f"{name}: total_timesteps={cfg.total_timesteps} is smaller than one batch "
            f"(num_envs*num_steps = {cfg.batch_size})"
        )


# =========================================================================== traced hyperparameters
_HPARAMS: dict[type, type] = {}


def hparams_class(cls: type, name: str = "HParams") -> type:
    """The pytree class of config class ``cls``'s traced fields (one per class; a flax struct dataclass).

    Its fields are the traced field names in declaration order, each a float32 array (scalar, or
    ``[S]`` under ``vmap``); it lives in ``cls``'s module under ``name``, so checkpoint tree
    structures read ``HParams`` as before.
    """
    if cls not in _HPARAMS:
        names = traced_names(cls)
        ns = {
            "__annotations__": dict.fromkeys(names, jax.Array),
            "__module__": cls.__module__,
            "__qualname__": name,
            "__doc__": f"Traced hyperparameters of {cls._name} ({', '.join(names)}); scalars, or ``[S]`` under vmap.",
        }
        _HPARAMS[cls] = struct.dataclass(type(name, (), ns))
    return _HPARAMS[cls]


def hparam_checks(cls: type) -> dict[str, Check]:
    return {f.name: field_check(f) for f in dataclasses.fields(cls) if f.name in traced_names(cls)}


def resolve_hparams(cfg: Any, hparams: Any = None) -> Any:
    """The config's ``HParams`` (defaults from ``cfg``) updated by ``hparams`` (None, ``HParams`` or a dict).

    Values become float32 arrays (scalars, or ``[S]`` for a ``vmap`` sweep). A concrete value that
    is not a finite real number satisfying its field's check raises :class:`UserError`. A traced
    value failing its check is replaced by NaN (elementwise), and so is that run's ``lr``: its
    parameters become non-finite and the divergence flag of ``scan_updates`` (``nonfinite``,
    hyperparameter and parameter bits) marks the run, rather than it silently training (a
    negative ``lr`` would be gradient ascent, ``gamma > 1`` unbounded returns).
    """
    cls = hparams_class(type(cfg))
    names = traced_names(type(cfg))
    who = cfg._name.split(".")[0]
    base = cls(**{n: jnp.asarray(getattr(cfg, n), jnp.float32) for n in names})
    if hparams is None:
        return base
    if isinstance(hparams, Mapping):
        unknown = set(hparams) - set(names)
        if unknown:
            raise UserError(f"unknown {who} hyperparameter(s) {sorted(unknown)}; valid: {', '.join(names)}")
        hparams = base.replace(**hparams)
    if not isinstance(hparams, cls):
        raise TypeError(f"hparams must be {who}.HParams, a dict or None, got {type(hparams).__name__}")
    checks = hparam_checks(type(cfg))
    out, valid = {}, []
    for n in names:
        v, check = getattr(hparams, n), checks[n]
        if isinstance(v, jax.core.Tracer):
            v = jnp.asarray(v, jnp.float32)
            ok = jnp.isfinite(v) if check is None else jnp.isfinite(v) & check.ok(v)
            out[n] = jnp.where(ok, v, jnp.float32(jnp.nan))
            valid.append(ok)
            continue
        arr = np.asarray(v)
        if arr.dtype.kind not in "iuf" or not np.all(np.isfinite(arr)) or (
            check is not None and not np.all(check.ok(arr.astype(np.float64)))
        ):
            text = "a finite real number" if check is None else f"{check.text} (a finite real number)"
            raise UserError(f"{who} hyperparameter {n} must be {text}, got {v!r}")
        out[n] = jnp.asarray(v, jnp.float32)
    if valid and "lr" in out:  # any invalid traced value also voids the learning rate: parameters go non-finite
        ok = functools.reduce(jnp.logical_and, valid)
        ok = ok if jnp.shape(ok) == jnp.shape(out["lr"]) else jnp.all(ok)
        out["lr"] = jnp.where(ok, out["lr"], jnp.float32(jnp.nan))
    return hparams.replace(**out)


# Checks shared by several agents' traced fields.
LR = gt(0)
GAMMA = in_range(0, 1)
GRAD_NORM = gt(0)
UNIT = in_range(0, 1)  # probabilities, lambdas, epsilons
RATE = in_range(0, 1, lo_open=True)  # tau, exploration_fraction
