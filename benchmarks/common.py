"""Helpers shared by every benchmark: timing jitted functions, machine and version
records, a printed table and a JSON record under ``benchmarks/results/``.

Typical use::

    t = time_jitted(jax.jit(fn), *args, repeats=5)
    rows.append({"env": name, "compile_s": t.compile_s, "steps_per_s": n / t.run_s})
    print_table(rows)
    write_result("env_throughput", {"rows": rows, "args": vars(args)})
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax

from jaxrl.runs import machine_info, to_jsonable, utc_stamp, versions

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# The packages every record names explicitly (jaxrl.runs.versions adds the rest of jaxrl's dependencies).
PACKAGES = (
    *("jax", "jaxlib", "flax", "optax", "gymnax", "brax"),
    *("mujoco", "mujoco-mjx", "evosax", "orbax-checkpoint", "numpy"),
)


@dataclass(frozen=True)
class Timing:
    """Seconds for one jitted call.

    ``compile_s`` is the first call (trace + compile + run, until ready) minus
    the second call (run only); ``run_s`` the best and ``median_s`` the median
    of the ``repeats`` timed calls after the first.
    """

    compile_s: float
    run_s: float
    median_s: float
    repeats: int


def _ready(x: Any) -> Any:
    return jax.block_until_ready(x)


def time_jitted(fn: Callable[..., Any], *args: Any, repeats: int = 5, budget_s: float | None = None) -> Timing:
    """Time ``fn(*args)`` (a ``jax.jit``-ed function); every call blocks until its outputs are ready.

    After the compile call, up to ``repeats`` timed calls; with ``budget_s``
    no new call starts once the timed calls have taken that long (at least one runs).
    """
    return time_interleaved({"fn": (fn, args)}, repeats, budget_s)["fn"]


def time_interleaved(
    calls: Mapping[str, tuple[Callable[..., Any], tuple]], repeats: int = 5, budget_s: float | None = None
) -> dict[str, Timing]:
    """Time several jitted calls ``{name: (fn, args)}`` round-robin (fair under a varying machine load).

    Each is called once (compile + run), then timed in rounds: at most
    ``repeats`` rounds, and with ``budget_s`` no new round starts once the
    timed calls have taken that long in total (at least one round runs).
    ``compile_s`` is the first call minus the first timed call.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    first: dict[str, float] = {}
    for name, (fn, args) in calls.items():
        t0 = time.perf_counter()
        _ready(fn(*args))
        first[name] = time.perf_counter() - t0
    runs: dict[str, list[float]] = {name: [] for name in calls}
    spent = 0.0
    for _ in range(repeats):
        for name, (fn, args) in calls.items():
            t0 = time.perf_counter()
            _ready(fn(*args))
            runs[name].append(time.perf_counter() - t0)
            spent += runs[name][-1]
        if budget_s is not None and spent >= budget_s:
            break
    return {n: Timing(max(first[n] - r[0], 0.0), min(r), statistics.median(r), len(r)) for n, r in runs.items()}


def record_header() -> dict[str, Any]:
    """Time, machine and versions: the first keys of every benchmark record."""
    v = versions(extra=PACKAGES)
    return {"utc": utc_stamp(), "machine": machine_info(), "versions": v}


def fmt(v: Any) -> str:
    """Compact cell text: 1.23e+07 -> '12.3M', 0.01234 -> '0.0123'."""
    if isinstance(v, bool) or v is None:
        return "-" if v is None else str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != v:
            return "nan"
        a = abs(v)
        for unit, scale, threshold in (("G", 1e9, 1e9), ("M", 1e6, 1e6), ("k", 1e3, 1e3)):
            if a >= threshold:
                return f"{v / scale:.3g}{unit}"
        return f"{v:.3g}"
    return str(v)


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, title: str = "") -> str:
    """Print rows (dicts) as an aligned text table; returns the text."""
    if not rows:
        text = f"{title}\n(no rows)" if title else "(no rows)"
        print(text)
        return text
    columns = list(columns or dict.fromkeys(k for r in rows for k in r))
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r.get(c), int | float) or r.get(c) is None for r in rows) for c in columns]

    def line(vals):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric, strict=True))

    out = [title] if title else []
    out += [line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)]
    text = "\n".join(out)
    print(text, flush=True)
    return text


def write_result(name: str, record: Mapping[str, Any], results_dir: str | os.PathLike | None = None) -> Path:
    """Write ``<name>-<utc>.json`` and a ``<name>-latest.json`` copy; returns the timestamped path.

    The record gets ``benchmark``, ``utc``, ``machine`` and ``versions`` keys
    unless it already has them.
    """
    out_dir = Path(results_dir) if results_dir else RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    full = {"benchmark": name, **record_header(), **record}
    text = json.dumps(to_jsonable(full), indent=2) + "\n"
    path = out_dir / f"{name}-{full['utc']}.json"
    path.write_text(text)
    (out_dir / f"{name}-latest.json").write_text(text)
    print(f"wrote {path}", flush=True)
    return path
