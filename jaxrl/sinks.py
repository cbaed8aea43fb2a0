"""Metric sinks for the run driver: TensorBoard event files and Weights & Biases.

A sink gets each chunk's metrics on the host after the chunk has finished
(:class:`jaxrl.driver.MetricSink`: ``write(first, metrics [S, n], labels)``), so logging never
retraces a chunk or syncs the device inside one. metrics.csv (the run directory's own record) is
always written; these are extra:

* ``tensorboard`` -- ``<run>/tensorboard/seed_<s>/`` event files (tensorboardX, installed with brax),
  one scalar per metric and update, step = env steps when the agent reports them, else the update;
* ``wandb`` -- one W&B run per seed, grouped by the run directory's name (``pip install -e
  ".[wandb]"``; ``WANDB_MODE=offline`` works without a network).

Non-finite values are skipped (a NaN ``episode_return`` means no episode ended in that update).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl.errors import UserError

SINKS = ("csv", "tensorboard", "wandb")


def _steps(metrics: Mapping[str, np.ndarray], first: int, i: int) -> np.ndarray:
    n = next(iter(metrics.values())).shape[1]
    if "env_steps" in metrics:
        return np.asarray(metrics["env_steps"][i], np.int64)
    return np.arange(first + 1, first + n + 1)


class TensorBoardSink:
    """Scalars per run into ``root/<label>_<s>`` (tensorboardX ``SummaryWriter``; label: seed, member, ...)."""

    def __init__(self, root: str | Path, label: str = "seed"):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise UserError("--log tensorboard needs tensorboardX (pip install tensorboardX)") from None
        self.root, self.label = Path(root), label
        self._writer = SummaryWriter
        self.writers: dict[Any, Any] = {}

    def write(self, first: int, metrics: Mapping[str, np.ndarray], labels: Sequence[Any]) -> None:
        for i, label in enumerate(labels):
            w = self.writers.get(label)
            if w is None:
                w = self.writers[label] = self._writer(str(self.root / f"{self.label}_{label}"))
            steps = _steps(metrics, first, i)
            for name, values in metrics.items():
                if name == "env_steps":
                    continue
                for t, v in enumerate(np.asarray(values[i], np.float64)):
                    if np.isfinite(v):
                        w.add_scalar(name, float(v), int(steps[t]))
            w.flush()

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        self.writers = {}


class WandbSink:
    """One W&B run per seed or member (``group`` = the run directory's name); config from the run record."""

    def __init__(self, group: str, config: Mapping[str, Any], directory: str | Path, label: str = "seed"):
        try:
            import wandb
        except ImportError:
            raise UserError('--log wandb needs the wandb package: pip install -e ".[wandb]"') from None
        self.wandb = wandb
        self.group, self.config, self.dir, self.label = group, dict(config), str(directory), label
        self.runs: dict[Any, Any] = {}

    def write(self, first: int, metrics: Mapping[str, np.ndarray], labels: Sequence[Any]) -> None:
        for i, label in enumerate(labels):
            r = self.runs.get(label)
            if r is None:
                r = self.runs[label] = self.wandb.init(project="jaxrl", group=self.group,
                                                       name=f"{self.group}-{self.label}{label}",
                                                       config={**self.config, self.label: label}, dir=self.dir,
                                                       reinit="create_new")
            steps = _steps(metrics, first, i)
            n = len(steps)
            for t in range(n):
                row = {k: float(v[i, t]) for k, v in metrics.items() if k != "env_steps" and np.isfinite(v[i, t])}
                r.log({**row, "update": first + t + 1}, step=int(steps[t]))

    def close(self) -> None:
        for r in self.runs.values():
            r.finish()
        self.runs = {}


def parse_log(text: str | None) -> tuple[str, ...]:
    """``--log csv,tensorboard`` -> ``("csv", "tensorboard")`` (csv always first); unknown names: UserError."""
    names = tuple(dict.fromkeys(["csv", *(t.strip() for t in (text or "").split(",") if t.strip())]))
    bad = [n for n in names if n not in SINKS]
    if bad:
        raise UserError(f"--log: unknown sink(s) {bad}; choose from {', '.join(SINKS)}")
    return names


def make_sinks(names: Sequence[str], run: Any, record: Mapping[str, Any], label: str = "seed") -> list[Any]:
    """Sinks for ``--log`` names (``csv`` is the run directory's own record, written anyway); ``label``
    names what the runs are (``seed`` for ``jaxrl train``, ``member`` for PBT)."""
    from jaxrl.runs import to_jsonable

    out: list[Any] = []
    for name in names:
        if name == "csv":
            continue
        if name == "tensorboard":
            out.append(TensorBoardSink(run.path / "tensorboard", label))
        elif name == "wandb":
            out.append(WandbSink(run.path.name, to_jsonable(record), run.path, label))
        else:
            raise UserError(f"unknown metric sink {name!r}; choose from csv, tensorboard, wandb")
    return out


def used_packages(names: Sequence[str]) -> tuple[str, ...]:
    """Optional packages a set of sinks uses (for versions.json)."""
    return tuple({"tensorboard": "tensorboardX", "wandb": "wandb"}[n] for n in names if n != "csv")


__all__ = ["SINKS", "TensorBoardSink", "WandbSink", "make_sinks", "parse_log", "used_packages"]
