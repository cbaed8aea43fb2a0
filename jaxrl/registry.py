"""One record per environment; ``make`` / ``list_envs`` / ``register``.

Built-in families register themselves when ``jaxrl.envs`` is imported; the
registry imports it (and any ``jaxrl.envs`` entry-point plugins) on first use,
so ``import jaxrl`` stays cheap and the core never imports a concrete env.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import jax
import numpy as np

from jaxrl.env import Environment
from jaxrl.errors import UserError


@dataclass(frozen=True)
class EnvSpec:
    """Registry record.

    ``factory()`` builds the environment (heavy imports belong inside it);
    ``params`` are overrides applied on top of ``env.default_params`` by
    ``make``; ``max_episode_steps`` is the truncation horizon of the default
    params.
    """

    id: str
    family: str
    factory: Callable[[], Environment]
    max_episode_steps: int
    description: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)

    def make(self, **overrides: Any) -> tuple[Environment, Any]:
        env = self.factory()
        return env, replace_params(env.default_params, {**self.params, **overrides}, self.id)


_REGISTRY: dict[str, EnvSpec] = {}
_builtins_loaded = False


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    importlib.import_module("jaxrl.envs")
    for ep in metadata.entry_points(group="jaxrl.envs"):
        ep.load()


def register(
    id: str,
    family: str,
    factory: Callable[[], Environment],
    max_episode_steps: int,
    description: str = "",
    params: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> EnvSpec:
    """Add an environment to the registry (``overwrite=True`` to replace one)."""
    if not isinstance(id, str) or not id:
        raise ValueError(f"environment id must be a non-empty string, got {id!r}")
    if not callable(factory):
        raise TypeError(f"factory for {id!r} must be callable, got {factory!r}")
    if int(max_episode_steps) <= 0:
        raise ValueError(f"max_episode_steps for {id!r} must be positive, got {max_episode_steps}")
    if id in _REGISTRY and not overwrite:
        raise ValueError(f"environment {id!r} is already registered (pass overwrite=True to replace it)")
    spec = EnvSpec(id, family, factory, int(max_episode_steps), description, dict(params or {}))
    _REGISTRY[id] = spec
    return spec


def spec(id: str) -> EnvSpec:
    """The registry record of ``id``; ``ValueError`` naming close matches if unknown."""
    _load_builtins()
    if id in _REGISTRY:
        return _REGISTRY[id]
    lower = {k.lower(): k for k in _REGISTRY}
    if id.lower() in lower:
        close = [lower[id.lower()]]
    else:
        close = difflib.get_close_matches(id, list(_REGISTRY), n=5, cutoff=0.5)
        close += [lower[m] for m in difflib.get_close_matches(id.lower(), list(lower), n=5, cutoff=0.5)]
        close = list(dict.fromkeys(close))[:5]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(f"unknown environment id {id!r}.{hint} (jaxrl.list_envs() lists all {len(_REGISTRY)})")


def make(id: str, **overrides: Any) -> tuple[Environment, Any]:
    """Build environment ``id``; keyword overrides replace fields of its params.

    >>> env, params = jaxrl.make("CartPole-v1", max_steps_in_episode=200)
    """
    return spec(id).make(**overrides)


def list_envs(family: str | None = None) -> list[str]:
    """Every registered id, or those of one ``family``."""
    _load_builtins()
    if family is None:
        return list(_REGISTRY)
    families = sorted({s.family for s in _REGISTRY.values()})
    if family not in families:
        raise ValueError(f"unknown family {family!r}; families: {', '.join(families)}")
    return [k for k, s in _REGISTRY.items() if s.family == family]


def specs() -> list[EnvSpec]:
    _load_builtins()
    return list(_REGISTRY.values())


def replace_params(params: Any, overrides: Mapping[str, Any], env_id: str = "") -> Any:
    """``params.replace(**overrides)`` after checking each override against its default.

    :class:`~jaxrl.errors.UserError` for an unknown field; for a concrete
    Python / NumPy scalar whose kind does not match the default's (a string or
    ``None`` for a number, a float or bool for an integer, a number for a
    bool); for a non-finite float; for a non-positive episode counter
    (``max_steps_in_episode``, ``max_steps``, ``*_interval``). A Python int
    given for a Python float default becomes a float. Arrays and tracers
    (domain randomisation under ``vmap``) are passed on unchecked.
    """
    if not overrides:
        return params
    names = [f.name for f in dataclasses.fields(params)] if dataclasses.is_dataclass(params) else []
    unknown = [k for k in overrides if k not in names]
    if unknown:
        raise UserError(
            f"unknown parameter(s) {unknown} for environment {env_id!r}; valid fields: {', '.join(names) or '(none)'}"
        )
    checked = {k: _check_override(env_id, k, v, getattr(params, k)) for k, v in overrides.items()}
    new = params.replace(**checked)  # the params' own validation (if any) speaks first
    for k, v in checked.items():
        if _kind(v) == "int" and (k in _POSITIVE or k.endswith("_interval")) and _is_scalar(v) and v <= 0:
            raise UserError(f"environment {env_id!r}: parameter {k!r} must be a positive integer, got {v!r}")
    return new


_POSITIVE = ("max_steps_in_episode", "max_steps")


def _kind(x: Any) -> str | None:
    """``"bool"`` / ``"int"`` / ``"float"`` for a number or numeric array, ``None`` for anything else."""
    if isinstance(x, bool | np.bool_):
        return "bool"
    if isinstance(x, int | np.integer):
        return "int"
    if isinstance(x, float | np.floating):
        return "float"
    dtype = getattr(x, "dtype", None)
    try:
        dtype = np.dtype(dtype) if dtype is not None else None
    except TypeError:  # PRNG key dtypes and other extended types
        return None
    if dtype is None:
        return None
    if dtype == np.bool_:
        return "bool"
    if np.issubdtype(dtype, np.integer):
        return "int"
    if np.issubdtype(dtype, np.floating):
        return "float"
    return None


def _check_override(env_id: str, name: str, value: Any, default: Any) -> Any:
    """``value`` (an int made float for a float default) or a ``UserError`` naming env, param and expected type."""
    want = _kind(default)
    if want is None or isinstance(value, jax.core.Tracer):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    concrete = isinstance(value, bool | int | float | np.generic)
    if not concrete and not isinstance(value, str | bytes) and value is not None:
        return value  # arrays, sequences: shapes are the environment's business
    got = _kind(value) if concrete else None
    where = f"environment {env_id!r}: parameter {name!r}"
    if got is None or (got != want and not (want == "float" and got == "int")):
        hint = {"bool": "True or False", "int": f"an integer, e.g. {name}={_show(default)}", "float": "a number"}[want]
        raise UserError(f"{where} expects {want} (default {_show(default)}), got {value!r}; pass {hint}")
    if got == "float" and not np.isfinite(value):
        raise UserError(f"{where} must be finite, got {value!r}")
    if want == "float" and got == "int" and isinstance(default, float) and not isinstance(value, np.generic):
        return float(value)
    return value


def _is_scalar(x: Any) -> bool:
    return isinstance(x, bool | int | float | np.generic)


def _show(x: Any) -> str:
    try:
        return repr(np.asarray(x).tolist()) if hasattr(x, "dtype") else repr(x)
    except Exception:
        return type(x).__name__
