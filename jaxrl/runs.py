"""Run directories: everything needed to inspect, reproduce and resume a training run.

Agent-agnostic: the writer takes plain dicts and ``[seeds, updates]`` arrays, so
any agent whose ``train_chunk`` returns a metrics dict can use it. Layout::

    <run>/config.json          {"algo", "env_id", "config": {...}, "run": {...}}
    <run>/versions.json        python, jaxrl, jax, jaxlib and every dependency (+ git commit)
    <run>/machine.json         platform, CPU count, memory, JAX backend and devices
    <run>/seeds.json           the seed of every run
    <run>/metrics.csv          one row per (update, seed): update, seed, env_steps, episode_return, ...
    <run>/scores.json          final score per seed, mean and 95% bootstrap CI
    <run>/checkpoint/          latest checkpoint (jaxrl.checkpoint), replaced atomically by each save
    <run>/learning_curve.png   mean return over seeds with a 95% bootstrap band vs env steps

Only NumPy is needed to write; matplotlib is imported when plotting and
``jaxrl.checkpoint`` when saving a checkpoint.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import re
import subprocess
import sys
import warnings
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

FIRST_COLUMNS = ("update", "seed", "env_steps", "episode_return", "episode_length")
CHECKPOINT = "checkpoint"


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
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- statistics
def bootstrap_ci(
    values: Any, confidence: float = 0.95, reps: int = 10_000, seed: int = 0, axis: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over ``axis`` (seeds) with a percentile-bootstrap interval: ``(mean, low, high)``.

    Seeds are resampled with replacement ``reps`` times (NumPy, seeded); the
    interval holds the ``(1-confidence)/2`` and ``(1+confidence)/2`` quantiles
    of the resampled means. NaN entries are ignored (a column that is all NaN
    gives NaN). For ``[seeds]`` input the results are scalars; for
    ``[seeds, T]`` they are ``[T]``.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.moveaxis(np.asarray(values, dtype=np.float64), axis, 0)
    if x.shape[0] == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.shape[0], size=(reps, x.shape[0]))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "Mean of empty slice" for all-NaN columns
        mean = np.nanmean(x, axis=0)
        boot = np.nanmean(x[idx], axis=1)  # [reps, ...]
        a = (1 - confidence) / 2
        low, high = np.nanquantile(boot, [a, 1 - a], axis=0)
    return mean, low, high


def forward_fill(x: np.ndarray) -> np.ndarray:
    """Replace NaN along the last axis by the last finite value before it (leading NaNs stay)."""
    x = np.asarray(x, dtype=np.float64)
    idx = np.where(np.isfinite(x), np.arange(x.shape[-1]), 0)
    np.maximum.accumulate(idx, axis=-1, out=idx)
    out = np.take_along_axis(x, idx, axis=-1)
    seen = np.maximum.accumulate(np.isfinite(x), axis=-1)
    return np.where(seen, out, np.nan)


# --------------------------------------------------------------------------- the run directory
class RunDir:
    """Writer for one run directory (see the module docstring for the layout)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # -- creation / loading
    @classmethod
    def create(
        cls, path: str | os.PathLike, config: Mapping[str, Any], seeds: Sequence[int], exist_ok: bool = False
    ) -> RunDir:
        """Make the directory and write config, versions, machine and seeds."""
        path = Path(path)
        if path.exists() and any(path.iterdir()) and not exist_ok:
            raise FileExistsError(f"run directory {path} exists and is not empty (use --resume to continue it)")
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path)
        write_json(path / "config.json", config)
        write_json(path / "versions.json", versions())
        write_json(path / "machine.json", machine_info())
        write_json(path / "seeds.json", {"seeds": [int(s) for s in seeds]})
        return run

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text())

    @property
    def config(self) -> dict[str, Any]:
        return self.read_json("config.json")

    @property
    def seeds(self) -> list[int]:
        return self.read_json("seeds.json")["seeds"]

    # -- metrics
    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.csv"

    def append_metrics(self, metrics: Mapping[str, Any], first_update: int) -> None:
        """Append rows for a chunk: ``metrics[name]`` is ``[seeds, n]``; rows are numbered from ``first_update``.

        Columns are fixed by the first call (``FIRST_COLUMNS`` present, then the rest sorted);
        later chunks must report the same metric names.
        """
        arrays = {k: np.asarray(v) for k, v in metrics.items()}
        shapes = {k: a.shape for k, a in arrays.items()}
        if not arrays or len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 2:
            raise ValueError(f"metrics must be a non-empty dict of equal [seeds, updates] arrays, got shapes {shapes}")
        num_seeds, n = next(iter(shapes.values()))
        seeds = self.seeds if (self.path / "seeds.json").exists() else list(range(num_seeds))
        if len(seeds) != num_seeds:
            raise ValueError(f"metrics have {num_seeds} seeds, the run has {len(seeds)}")
        new_file = not self.metrics_path.exists() or self.metrics_path.stat().st_size == 0
        if new_file:
            names = [c for c in FIRST_COLUMNS[2:] if c in arrays] + sorted(k for k in arrays if k not in FIRST_COLUMNS)
            header = ["update", "seed", *names]
        else:
            with open(self.metrics_path, newline="") as f:
                header = next(csv.reader(f))
            names = header[2:]
            if set(names) != set(arrays):
                raise ValueError(f"metric names changed: file has {sorted(names)}, got {sorted(arrays)}")
        with open(self.metrics_path, "a", newline="") as f:
            w = csv.writer(f)
            if new_file:
                w.writerow(header)
            for u in range(n):
                for i in range(num_seeds):
                    w.writerow([first_update + u, seeds[i], *(_fmt(arrays[k][i, u]) for k in names)])

    def read_metrics(self) -> dict[str, np.ndarray]:
        """``{column: [seeds, updates]}`` from metrics.csv (rows sorted by update then seed)."""
        with open(self.metrics_path, newline="") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        data = np.array([[float(v) if v else np.nan for v in r] for r in body], dtype=np.float64)
        if data.size == 0:
            return {h: np.zeros((len(self.seeds), 0)) for h in header}
        seeds = sorted(set(data[:, 1].astype(int)))
        updates = sorted(set(data[:, 0].astype(int)))
        s_pos = {s: i for i, s in enumerate(seeds)}
        u_pos = {u: i for i, u in enumerate(updates)}
        out = {h: np.full((len(seeds), len(updates)), np.nan) for h in header}
        rows_i = [s_pos[int(s)] for s in data[:, 1]]
        cols_i = [u_pos[int(u)] for u in data[:, 0]]
        for j, h in enumerate(header):
            out[h][rows_i, cols_i] = data[:, j]
        return out

    def truncate_metrics(self, num_updates: int) -> None:
        """Drop rows with ``update >= num_updates`` (written after the last checkpoint before a crash)."""
        if not self.metrics_path.exists():
            return
        with open(self.metrics_path, newline="") as f:
            rows = list(csv.reader(f))
        keep = [rows[0]] + [r for r in rows[1:] if int(r[0]) < num_updates]
        tmp = self.metrics_path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            csv.writer(f).writerows(keep)
        os.replace(tmp, self.metrics_path)

    # -- checkpoints
    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT

    def save_checkpoint(self, tree: Any, metadata: Mapping[str, Any]) -> Path:
        """Save ``tree`` with ``metadata`` via ``jaxrl.checkpoint`` (atomically replacing the previous one)."""
        from jaxrl import checkpoint

        return Path(checkpoint.save(self.checkpoint_path, tree, to_jsonable(dict(metadata))))

    def restore_checkpoint(self, like: Any) -> tuple[Any, dict[str, Any]]:
        """``(tree, metadata)`` from the latest checkpoint, shaped like ``like``."""
        from jaxrl import checkpoint

        return checkpoint.restore(self.checkpoint_path, like=like)

    # -- results
    def write_scores(self, scores: Any, extra: Mapping[str, Any] | None = None, seed: int = 0) -> dict[str, Any]:
        """Final score per seed, their mean and 95% percentile-bootstrap CI -> scores.json."""
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        mean, low, high = bootstrap_ci(scores, seed=seed)
        out = {
            "per_seed": dict(zip(map(str, self.seeds), scores.tolist(), strict=True)),
            "mean": float(mean),
            "ci95": [float(low), float(high)],
            "ci_method": f"percentile bootstrap over seeds (10000 resamples, numpy seed {seed})",
            **dict(extra or {}),
        }
        write_json(self.path / "scores.json", out)
        return out

    def plot_learning_curve(self, title: str = "", metric: str = "episode_return") -> Path:
        """learning_curve.png from metrics.csv: mean over seeds and 95% bootstrap band vs env steps."""
        m = self.read_metrics()
        return plot_learning_curve(
            self.path / "learning_curve.png", m["env_steps"], m[metric], title=title, ylabel=metric.replace("_", " ")
        )


def _fmt(v: Any) -> str:
    """CSV cell: shortest repr at the array's precision (float32 stays short), NaN as empty."""
    a = np.asarray(v)
    if a.dtype.kind == "f":
        return "" if np.isnan(a) else (str(a.astype(np.float32)[()]) if a.dtype.itemsize <= 4 else repr(float(a)))
    return str(int(a)) if a.dtype == bool else str(a.item())


def plot_learning_curve(
    path: str | os.PathLike,
    env_steps: Any,
    returns: Any,
    title: str = "",
    ylabel: str = "episode return",
    max_points: int = 400,
) -> Path:
    """Plot ``returns [seeds, T]`` against ``env_steps [seeds, T]`` (or ``[T]``).

    Each seed's curve is forward-filled over updates where no episode ended
    (NaN), then the mean and 95% percentile-bootstrap band over seeds are drawn.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    y = forward_fill(np.atleast_2d(np.asarray(returns, dtype=np.float64)))
    steps = np.asarray(env_steps, dtype=np.float64)
    x = np.nanmean(steps, axis=0) if steps.ndim == 2 else steps
    if y.shape[1] > max_points:
        keep = np.unique(np.linspace(0, y.shape[1] - 1, max_points).round().astype(int))
        x, y = x[keep], y[:, keep]
    mean, low, high = bootstrap_ci(y, reps=1000)
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    ax.plot(x, mean, color="C0", lw=2, label=f"mean over {y.shape[0]} seeds")
    if y.shape[0] > 1:
        ax.fill_between(x, low, high, color="C0", alpha=0.25, lw=0, label="95% bootstrap CI")
    ax.set_xlabel("environment steps (per seed)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter(sep=""))  # 200k, 1.5M
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def default_run_dir(algo: str, env_id: str, root: str | os.PathLike = "runs") -> Path:
    """``runs/<algo>-<env>-<utc time>``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", env_id)
    return Path(root) / f"{algo}-{safe}-{utc_stamp()}"


__all__ = [
    "RunDir",
    "bootstrap_ci",
    "default_run_dir",
    "forward_fill",
    "machine_info",
    "plot_learning_curve",
    "to_jsonable",
    "utc_stamp",
    "versions",
    "write_json",
]

if __name__ == "__main__":  # pragma: no cover
    json.dump({"versions": versions(), "machine": machine_info()}, sys.stdout, indent=2)
