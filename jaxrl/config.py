"""A base for agent configurations: frozen, hashable (usable as a static ``jit`` argument), validated.

The dataclass-generated ``__hash__`` works because ``env_params`` becomes a hashable :class:`ParamDict`.

Subclasses are frozen dataclasses; they set ``_name`` (e.g. ``"ppo.Config"``,
used in error messages) and implement ``validate`` with the checks below.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.vec import RESET_MODES


class ParamDict(dict):
    """The ``env_params`` overrides of a config: a read-only, hashable dict (configs are static jit arguments)."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted((k, repr(v)) for k, v in self.items())))

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("config env_params are read-only; use cfg.replace(env_params={...})")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _readonly  # type: ignore[assignment]


@dataclass(frozen=True)
class ConfigBase:
    _name: ClassVar[str] = "Config"
    _tuple_fields: ClassVar[tuple[str, ...]] = ()  # fields normalised to tuples of ints (hidden sizes)

    def __post_init__(self):
        if hasattr(self, "env_params"):
            object.__setattr__(self, "env_params", ParamDict(self.env_params or {}))
        for f in self._tuple_fields:
            object.__setattr__(self, f, tuple(int(h) for h in getattr(self, f)))
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field for any bad value (called on construction)."""

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ checks
    def check_ints(self, *names: str, minimum: int = 1) -> None:
        for f in names:
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
                what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
                if minimum == 0:
                    what = "a non-negative integer"
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
        """``total_timesteps`` below 2**31 (int32 counters), ``activation``, ``reset_mode``, env id and params."""
        from jaxrl.networks import ACTIVATIONS
        from jaxrl.registry import spec

        if self.total_timesteps >= 2**31:
            raise ValueError(f"{self._name}.total_timesteps must be < 2**31 (int32 counters), "
                             f"got {self.total_timesteps}")
        if hasattr(self, "activation"):
            self.check_choice("activation", set(ACTIVATIONS))
        self.check_choice("reset_mode", (None, *RESET_MODES))
        s = spec(self.env_id)  # unknown ids raise a ValueError naming close matches
        if self.env_params:
            s.make(**self.env_params)  # unknown parameter names raise here


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
        raise ValueError(
            f"{name}: batch num_envs*num_steps = {cfg.num_envs}*{cfg.num_steps} = {cfg.batch_size} "
            f"is not divisible by num_minibatches={cfg.num_minibatches}"
        )
    if cfg.num_updates < 1:
        raise ValueError(
            f"{name}: total_timesteps={cfg.total_timesteps} is smaller than one batch "
            f"(num_envs*num_steps = {cfg.batch_size})"
        )


def resolve_hparams(cls: type, cfg: Any, hparams: Any, checks: Mapping[str, tuple[Any, str]], who: str):
    """``cls`` instance from the config's defaults, updated by ``hparams`` (None, ``cls`` or a dict).

    Values become float32 arrays (scalars, or ``[S]`` for a ``vmap`` sweep).
    ``checks`` maps a field to ``(predicate, text)``; concrete values failing
    it raise ``ValueError`` (traced values are not checked).
    """
    names = [f.name for f in dataclasses.fields(cls)]
    base = cls(**{n: jnp.asarray(getattr(cfg, n), jnp.float32) for n in names})
    if hparams is None:
        hparams = base
    elif isinstance(hparams, Mapping):
        unknown = set(hparams) - set(names)
        if unknown:
            raise ValueError(f"unknown {who} hyperparameter(s) {sorted(unknown)}; valid: {', '.join(names)}")
        hparams = base.replace(**hparams)
    if not isinstance(hparams, cls):
        raise TypeError(f"hparams must be {cls.__qualname__}, a dict or None, got {type(hparams).__name__}")
    for n, (ok, text) in checks.items():
        v = getattr(hparams, n)
        if isinstance(v, jax.core.Tracer):
            continue
        arr = np.asarray(v, np.float64)
        if not np.all(np.isfinite(arr)) or not np.all(ok(arr)):
            raise ValueError(f"{who} hyperparameter {n} must be {text} (and finite), got {v!r}")
    return hparams.replace(**{n: jnp.asarray(getattr(hparams, n), jnp.float32) for n in names})


COMMON_CHECKS = {
    "lr": (lambda x: x > 0, "> 0"),
    "gamma": (lambda x: (x >= 0) & (x <= 1), "in [0, 1]"),
    "max_grad_norm": (lambda x: x > 0, "> 0"),
}
