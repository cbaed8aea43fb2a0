"""Run directories: everything needed to inspect, reproduce and resume a training run.

Agent-agnostic: the writer takes plain dicts and ``[seeds, updates]`` arrays, so
any agent whose ``train_chunk`` returns a metrics dict can use it. Layout::

    <run>/config.json          {"algo", "env_id", "config": {...}, "run": {...}}
    <run>/versions.json        python, jaxrl, jax, jaxlib and every dependency (+ git commit)
    <run>/machine.json         platform, CPU count, memory, JAX backend and devices
    <run>/seeds.json           the seed of every run
    <run>/metrics.csv          one row per (update, seed): update, seed, env_steps, episode_return, ...
    <run>/scores.json          final score per seed, mean and 95% bootstrap CI
    <run>/checkpoints/ckpt-000000040/   the newest checkpoint (jaxrl.checkpoint), after 40 updates
    <run>/checkpoints/ckpt-000000032/   the previous one (older ones are deleted)
    <run>/checkpoint           symbolic link to the newest checkpoint (replaced atomically)
    <run>/learning_curve.png   mean return over seeds with a 95% bootstrap band vs env steps

Crash safety: every JSON file is written to a temporary name and renamed into
place (strict JSON: NaN/inf become null, listed under ``"nonfinite"`` where
that matters). A checkpoint is written into a hidden folder and published by
renaming it to its versioned name ``ckpt-<updates_done>``, so at every instant
the newest complete checkpoint exists; :meth:`RunDir.latest_checkpoint` finds
it (recovering a finished save that was killed before its rename) and the
previous one is deleted only after the new one is published. Every record
carries the same counter: the checkpoint's ``updates_done`` (its folder name),
the ``update`` column of metrics.csv (rows ``0 .. updates_done - 1`` belong to
a checkpoint; :meth:`RunDir.reconcile_metrics` drops the rows written after it
on resume and refuses a metrics.csv that is behind it), ``round`` in a PBT
``history.json`` (:func:`reconcile_history`). Malformed files raise
:class:`jaxrl.errors.RunDirError` naming the file and line.

Only NumPy is needed to write; matplotlib is imported when plotting and
``jaxrl.checkpoint`` when saving a checkpoint. The file formats and JSON helpers live in
:mod:`jaxrl.records` (re-exported here).
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl.errors import RunDirError
from jaxrl.records import (
    _FIX_ROW,
    _check_unique,
    _parse_row,
    _read_csv,
    flag_nonfinite,
    git_commit,
    machine_info,
    reconcile_history,
    to_jsonable,
    unflag_nonfinite,
    utc_stamp,
    versions,
    write_json,
)
from jaxrl.run_checkpoints import CheckpointStore

FIRST_COLUMNS = ("update", "seed", "env_steps", "episode_return", "episode_length")


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
class RunDir(CheckpointStore):
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
        """``{column: [seeds, updates]}`` from metrics.csv (rows sorted by update then seed).

        Raises :class:`RunDirError` naming the file and line for a malformed row (wrong number of
        cells, a cell that is not a number, a repeated ``(update, seed)``), a row cut off at the
        end of the file, or an update without a row for every seed (a truncated file).
        """
        path = self.metrics_path
        header, body, torn = _read_csv(path)
        if torn:
            raise RunDirError(
                f"{path}:{body[-1][0] if body else 1}: the file ends in the middle of a row (it was cut off while "
                "being written); resume the run (--resume) to drop the rows after its last checkpoint, or delete "
                "that line"
            )
        data = np.array([_parse_row(path, header, ln, cells) for ln, cells in body], dtype=np.float64)
        if data.size == 0:
            return {h: np.zeros((len(self.seeds), 0)) for h in header}
        _check_unique(path, [(int(r[0]), int(r[1])) for r in data], [ln for ln, _ in body])
        seeds = sorted({int(s) for s in data[:, 1]})
        updates = sorted({int(u) for u in data[:, 0]})
        if len(data) != len(seeds) * len(updates):
            have: dict[int, set[int]] = {}
            for u, s in data[:, :2].astype(int):
                have.setdefault(int(u), set()).add(int(s))
            u = next(u for u in updates if len(have[u]) != len(seeds))
            raise RunDirError(
                f"{path}: update {u} has rows for seeds {sorted(have[u])} but not {sorted(set(seeds) - have[u])}: "
                "the file is truncated or rows were deleted; resume the run (--resume) to rewrite it from its "
                "last checkpoint, or delete the incomplete update's rows"
            )
        s_pos = {s: i for i, s in enumerate(seeds)}
        u_pos = {u: i for i, u in enumerate(updates)}
        out = {h: np.full((len(seeds), len(updates)), np.nan) for h in header}
        rows_i = [s_pos[int(s)] for s in data[:, 1]]
        cols_i = [u_pos[int(u)] for u in data[:, 0]]
        for j, h in enumerate(header):
            out[h][rows_i, cols_i] = data[:, j]
        return out

    def reconcile_metrics(self, updates_done: int, *, missing_ok: bool = False) -> int:
        """Make metrics.csv agree with a checkpoint after ``updates_done`` updates; returns the rows dropped.

        Rows with ``update >= updates_done`` (written after the checkpoint, before a crash) and a row
        cut off at the end of the file are dropped (the file is replaced atomically). Raises
        :class:`RunDirError` when the remaining rows do not cover every seed of updates
        ``0 .. updates_done - 1`` (the file is behind its checkpoint: resuming would leave a gap),
        or naming the line of a malformed row. A missing metrics.csv is an error unless
        ``updates_done == 0`` or ``missing_ok`` (a run that writes no metrics).
        """
        path, updates_done = self.metrics_path, int(updates_done)
        if not path.exists() or path.stat().st_size == 0:
            if updates_done == 0 or missing_ok:
                return 0
            raise RunDirError(
                f"{path} is missing but the checkpoint is at update {updates_done}: the metrics of updates "
                f"0..{updates_done - 1} are lost; put metrics.csv back, or start a new run instead of resuming"
            )
        header, body, torn = _read_csv(path)
        if torn and not body:  # killed while writing the header: nothing to keep
            if updates_done:
                raise RunDirError(f"{path} holds only a partial header but the checkpoint is at update {updates_done}")
            path.write_text("")
            return 0
        keep, dropped = [], 0
        for i, (ln, cells) in enumerate(body):
            if torn and i == len(body) - 1:
                dropped += 1  # the row being written when the run was killed
                continue
            try:
                u = int(cells[0])
            except (ValueError, IndexError):
                raise RunDirError(f"{path}:{ln}: update {cells[:1]} is not an integer; {_FIX_ROW}") from None
            if u >= updates_done:
                dropped += 1
                continue
            keep.append((ln, cells, _parse_row(path, header, ln, cells)))
        _check_unique(path, [(int(v[0]), int(v[1])) for _, _, v in keep], [ln for ln, _, _ in keep])
        seeds = set(self.seeds) if (self.path / "seeds.json").exists() else {int(v[1]) for _, _, v in keep}
        have: dict[int, set[int]] = {}
        for _, _, v in keep:
            have.setdefault(int(v[0]), set()).add(int(v[1]))
        short = next((u for u in range(updates_done) if not seeds or have.get(u, set()) != seeds), None)
        if short is not None:
            raise RunDirError(
                f"{path} is behind its checkpoint: the checkpoint is at update {updates_done} but update {short} "
                f"has rows for seeds {sorted(have.get(short, set()))} of {sorted(seeds)}; resuming would leave a "
                "gap in the metrics: put the complete metrics.csv back, or start a new run instead of resuming"
            )
        if dropped:
            tmp = path.with_suffix(".csv.tmp")
            with open(tmp, "w", newline="") as f:
                csv.writer(f).writerows([header] + [cells for _, cells, _ in keep])
            os.replace(tmp, path)
        return dropped

    def truncate_metrics(self, num_updates: int) -> int:
        """:meth:`reconcile_metrics` (its former, lenient name), a missing metrics.csv allowed."""
        return self.reconcile_metrics(num_updates, missing_ok=True)

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
    import matplotlib.ticker

    from jaxrl.plots import pyplot

    plt = pyplot()

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
    "flag_nonfinite",
    "forward_fill",
    "git_commit",
    "machine_info",
    "plot_learning_curve",
    "reconcile_history",
    "to_jsonable",
    "unflag_nonfinite",
    "utc_stamp",
    "versions",
    "write_json",
]

if __name__ == "__main__":  # pragma: no cover
    json.dump({"versions": versions(), "machine": machine_info()}, sys.stdout, indent=2)
