"""Divergence detection: a cheap on-device flag per update that says what became non-finite.

:func:`jaxrl.rollout.scan_updates` (the ``train_chunk`` of every agent) adds
``metrics["nonfinite"]``, an ``int32`` bit mask per update computed by :func:`nonfinite_code`
on the state *after* the update:

* ``1`` parameters -- a floating leaf of the learnable state (network parameters, targets,
  temperature, normalisation statistics) is NaN or infinite;
* ``2`` optimiser state -- Adam moments and the like (non-finite gradients land here first);
* ``4`` hyperparameters -- a traced hyperparameter is not finite (a value outside its valid
  range is replaced by NaN under tracing, see :mod:`jaxrl.config`, so it lands here).

Environment state, observations, replay buffers, PRNG keys and acting snapshots are not
checked (they are not what diverges, and a buffer is large). The run driver
(:mod:`jaxrl.driver`) stops a run whose flag is set, names the seeds, the update and the
quantities (:func:`describe`), and keeps the last finite checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

NONFINITE = "nonfinite"
"""Metric key of the per-update bit mask."""

BITS: dict[str, int] = {"parameters": 1, "optimiser state": 2, "hyperparameters": 4}

SKIP = ("env_state", "obs", "buffer", "key", "lag", "final_obs", "discounted_return")
"""State fields that are not checked (see the module docstring)."""


def _kind(path: tuple) -> str | None:
    names = [str(getattr(p, "name", getattr(p, "key", getattr(p, "idx", "")))) for p in path]
    if any(n in SKIP for n in names):
        return None
    if any(n == "hparams" for n in names):
        return "hyperparameters"
    if any("opt" in n for n in names):
        return "optimiser state"
    return "parameters"


def nonfinite_code(state: Any) -> jax.Array:
    """``int32 []`` bit mask (:data:`BITS`) of the state's non-finite quantities; 0 when all are finite."""
    groups: dict[str, list[jax.Array]] = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        if not hasattr(leaf, "dtype") or not jnp.issubdtype(leaf.dtype, jnp.inexact):
            continue
        kind = _kind(path)
        if kind is not None:
            groups.setdefault(kind, []).append(jnp.all(jnp.isfinite(leaf)))
    code = jnp.int32(0)
    for kind, oks in groups.items():
        code = code | jnp.where(jnp.all(jnp.stack(oks)), 0, BITS[kind]).astype(jnp.int32)
    return code


def names(code: int) -> list[str]:
    """The quantities set in a bit mask: ``names(3) == ["parameters", "optimiser state"]``."""
    return [k for k, b in BITS.items() if int(code) & b]


def first_divergence(flags: Any, labels: Any, first_update: int = 0) -> dict[str, dict[str, Any]]:
    """``{label: {"update", "quantity"}}`` for every run whose flags ``[S, n]`` are set.

    ``update`` counts from 1 (the update whose result was non-finite); ``quantity`` names the
    quantities of that first flagged update.
    """
    flags = np.asarray(flags).reshape(len(labels), -1)
    out = {}
    for i, label in enumerate(labels):
        bad = np.flatnonzero(flags[i])
        if bad.size:
            t = int(bad[0])
            out[str(label)] = {"update": first_update + t + 1, "quantity": ", ".join(names(flags[i, t]))}
    return out


def describe(diverged: Mapping[str, Mapping[str, Any]], unit: str = "update", label: str = "seed") -> str:
    """One line per diverged run: ``seed 3 diverged at update 12 (non-finite parameters, optimiser state)``."""
    return "; ".join(
        f"{label} {s} diverged at {unit} {d['update']} (non-finite {d['quantity']})" for s, d in diverged.items()
    )


__all__ = ["BITS", "NONFINITE", "describe", "first_divergence", "names", "nonfinite_code"]
