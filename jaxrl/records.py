"""The files of a run directory: environment records, strict JSON, per-round histories, metrics.csv rows.

Used by :class:`jaxrl.runs.RunDir` (which re-exports the public names) and by run types that keep
their own records (``jaxrl pbt``'s ``history.json``). Every JSON file is strict (``allow_nan=False``:
NaN/inf become null, listed under ``"nonfinite"`` by :func:`flag_nonfinite` where the value means
something) and written to a temporary name, then renamed into place. Malformed files raise
:class:`jaxrl.errors.RunDirError` naming the file and line.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io
import json
import math
import os
import platform
import re
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl.errors import RunDirError


# --------------------------------------------------------------------------- environment records
def utc_stamp() -> str:
    """``20260509T073525Z``: sortable, filename-safe UTC time."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _requirement_names(dist: str) -> list[str]:
    names = []
    for req in metadata.requires(dist) or []:
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        if m:
            names.append(m.group(1))
    return names


def git_commit(path: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git checkout holding ``path`` (this package by default), or None."""
    cwd = Path(path) if path else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def versions(extra: Sequence[str] = ()) -> dict[str, Any]:
    """Versions of python, jaxrl, jaxlib and every declared dependency (None if not installed).

    Read from package metadata, so nothing heavy (brax, mujoco) is imported.
    """
    names = ["jaxrl", "jax", "jaxlib", *_requirement_names("jaxrl"), "mujoco", *extra]
    out: dict[str, Any] = {"python": platform.python_version()}
    for n in dict.fromkeys(names):
        out[n] = _dist_version(n)
    out["git"] = git_commit()
    return out


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    """Platform, CPU count (total and usable), memory and JAX devices."""
    import jax

    devices = jax.devices()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "cpu_usable": usable,
        "memory_gib": _memory_gib(),
        "hostname": platform.node(),
        "jax_backend": jax.default_backend(),
        "device_count": len(devices),
        "device_kind": devices[0].device_kind,
    }


# --------------------------------------------------------------------------- JSON
def to_jsonable(x: Any) -> Any:
    """Dataclasses, NumPy/JAX arrays and scalars, tuples and paths into JSON values (NaN -> null)."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: to_jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, Mapping):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [to_jsonable(v) for v in x]
    if isinstance(x, bool | int | str) or x is None:
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Path):
        return str(x)
    if hasattr(x, "shape") and hasattr(x, "dtype"):  # numpy / jax array or scalar
        arr = np.asarray(x)
        return to_jsonable(arr.item() if arr.ndim == 0 else arr.tolist())
    return repr(x)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Strict JSON (NaN/inf as null) written to a temporary file and renamed over ``path``."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)
    return path


def _nonfinite_keys(x: Any, prefix: str = "") -> list[str]:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        x = {f.name: getattr(x, f.name) for f in dataclasses.fields(x)}
    if isinstance(x, Mapping):
        return [k for name, v in x.items() for k in _nonfinite_keys(v, f"{prefix}{name}.")]
    if isinstance(x, bool | int | str | Path) or x is None:
        return []
    try:
        bad = not np.all(np.isfinite(np.asarray(x, dtype=np.float64)))
    except (TypeError, ValueError):  # ragged or non-numeric: look inside
        return [k for v in x for k in _nonfinite_keys(v, prefix)] if isinstance(x, list | tuple) else []
    return [prefix[:-1]] if bad else []


def flag_nonfinite(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``to_jsonable(obj)`` plus ``"nonfinite": [dotted keys]`` naming the values whose NaN/inf became null.

    ``{"fitness": [1.0, nan]}`` -> ``{"fitness": [1.0, None], "nonfinite": ["fitness"]}``; no key when all
    values are finite. :func:`unflag_nonfinite` reads it back.
    """
    out = to_jsonable({k: v for k, v in obj.items() if k != "nonfinite"})
    keys = list(dict.fromkeys(_nonfinite_keys({k: v for k, v in obj.items() if k != "nonfinite"})))
    if keys:
        out["nonfinite"] = keys
    return out


def unflag_nonfinite(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flag_nonfinite` up to the sign of infinities: nulls under the listed keys become NaN."""
    out = {k: v for k, v in obj.items() if k != "nonfinite"}
    for key in obj.get("nonfinite", []):
        *parents, last = key.split(".")
        d = out
        for p in parents:
            d[p] = dict(d[p])
            d = d[p]
        d[last] = np.asarray(d[last], dtype=np.float64).tolist()  # None -> nan
    return out


def _cut(x: Any, n: int) -> Any:
    if isinstance(x, Mapping):
        return {k: _cut(v, n) for k, v in x.items()}
    return x[:n] if isinstance(x, list) else x


def _lengths(x: Any, prefix: str = "") -> dict[str, int]:
    if isinstance(x, Mapping):
        return {k: n for name, v in x.items() for k, n in _lengths(v, f"{prefix}{name}.").items()}
    return {prefix[:-1]: len(x)} if isinstance(x, list) else {}


def reconcile_history(path: str | os.PathLike, rounds_done: int, counter: str = "round") -> dict[str, Any]:
    """A per-round history JSON (``{counter: R, name: [R values] or {sub: [R values]}}``) cut to a checkpoint.

    ``rounds_done`` is the checkpoint's round. A history ahead of it (the run was killed between
    writing the history and the checkpoint) is cut to ``rounds_done`` rounds; one behind it, with
    lists of another length than its counter, missing or not JSON raises :class:`RunDirError`.
    Non-finite values flagged by :func:`flag_nonfinite` come back as NaN.
    """
    path, rounds_done = Path(path), int(rounds_done)
    try:
        hist = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunDirError(
            f"{path} is missing but the checkpoint is at {counter} {rounds_done}; put it back or start a new run"
        ) from None
    except json.JSONDecodeError as e:
        msg = f"{path}:{e.lineno}: not valid JSON ({e.msg}); put a good copy back or start a new run"
        raise RunDirError(msg) from e
    if not isinstance(hist, dict):
        raise RunDirError(f"{path}: expected a JSON object of per-{counter} lists")
    lengths = _lengths({k: v for k, v in hist.items() if k not in (counter, "nonfinite")})
    n = hist.get(counter, max(lengths.values(), default=0))  # files without a counter: their length
    wrong = {k: m for k, m in lengths.items() if m != n}
    if not isinstance(n, int) or wrong:
        raise RunDirError(f"{path}: {counter} is {n!r} but these records have other lengths: {wrong}; it is damaged")
    if n < rounds_done:
        raise RunDirError(
            f"{path} is stale: it holds {n} {counter}s but the checkpoint is at {counter} {rounds_done}, so the "
            f"records of {counter}s {n + 1}..{rounds_done} are lost; put the matching history back or start a new run"
        )
    hist = unflag_nonfinite(_cut(hist, rounds_done))
    hist[counter] = rounds_done
    return hist


# --------------------------------------------------------------------------- metrics.csv rows
_FIX_ROW = "fix or delete that line (or resume the run to rewrite the rows after its last checkpoint)"


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]], bool]:
    """``(header, [(line number, cells)], torn)``; ``torn``: the last line has no line ending (cut off)."""
    try:
        with open(path, newline="") as f:
            text = f.read()
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RunDirError(f"{path} cannot be read: {e}") from e
    reader = csv.reader(io.StringIO(text))
    try:
        rows = [(reader.line_num, cells) for cells in reader]
    except csv.Error as e:
        raise RunDirError(f"{path}:{reader.line_num}: {e}; {_FIX_ROW}") from e
    if not rows:
        raise RunDirError(f"{path} is empty (no header row); delete it, or restore it from a copy")
    header = rows[0][1]
    if header[:2] != ["update", "seed"]:
        raise RunDirError(f"{path}:1: the header must start with update,seed; got {header[:3]}")
    return header, rows[1:], bool(text) and not text.endswith("\n")


def _parse_row(path: Path, header: list[str], ln: int, cells: list[str]) -> list[float]:
    if len(cells) != len(header):
        raise RunDirError(f"{path}:{ln}: {len(cells)} cells but the header has {len(header)} columns; {_FIX_ROW}")
    out = []
    for name, c in zip(header, cells, strict=True):
        try:
            v = float(c) if c or name in ("update", "seed") else np.nan
        except ValueError:
            raise RunDirError(f"{path}:{ln}: column {name!r} holds {c!r}, not a number; {_FIX_ROW}") from None
        if name in ("update", "seed") and not (math.isfinite(v) and v == int(v)):
            raise RunDirError(f"{path}:{ln}: {name} {c!r} is not an integer; {_FIX_ROW}")
        out.append(v)
    return out


def _check_unique(path: Path, keys: list[tuple[int, int]], lines: list[int]) -> None:
    seen: dict[tuple[int, int], int] = {}
    for key, ln in zip(keys, lines, strict=True):
        if key in seen:
            raise RunDirError(
                f"{path}:{ln}: update {key[0]}, seed {key[1]} repeats line {seen[key]}; delete one of them"
            )
        seen[key] = ln
