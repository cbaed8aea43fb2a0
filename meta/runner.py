"""Evolution-strategy runs on the shared run driver (``jaxrl meta`` and the LPG study).

An ES trainer is anything with ``init(key) -> state`` and ``run(state, n) -> (state, metrics [n])``
(:class:`jaxrl.meta.es.MetaTrainer`, :class:`jaxrl.meta.lpg.meta_train.LPGMetaTrainer`). :func:`run_es`
runs one through :func:`jaxrl.driver.drive` into a run directory: ``metrics.csv`` with one row per
generation (:class:`GenerationCSV`), an ES checkpoint after every chunk (atomic; ``resume``
continues from the newest complete one and cuts the CSV back to it), and ``on_chunk`` hooks for
artifacts such as the discovered objective.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl.driver import MetricSink, Program, Result, drive
from jaxrl.errors import RunDirError


class GenerationCSV:
    """``metrics.csv``: one row per generation (columns fixed by the first chunk), plus ``wall_s``.

    ``wall_s`` is the chunk's wall time divided by its generations (the first chunk includes
    compiling). A driver sink (:class:`jaxrl.driver.MetricSink`) for runs with one label.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._t = time.perf_counter()

    def write(self, first: int, metrics: Mapping[str, np.ndarray], labels: Sequence[Any]) -> None:
        m = {k: np.asarray(v)[0] for k, v in metrics.items()}  # [1, n] -> [n]
        n = len(next(iter(m.values())))
        now = time.perf_counter()
        wall = np.full(n, (now - self._t) / max(n, 1))
        self._t = now
        m.setdefault("generation", np.arange(first + 1, first + n + 1))
        cols = ["generation", *sorted(k for k in m if k != "generation"), "wall_s"]
        new = not self.path.exists() or self.path.stat().st_size == 0
        if not new:
            with self.path.open(newline="") as f:
                have = next(csv.reader(f), [])
            if have != cols:
                raise RunDirError(f"{self.path}: columns changed (file {have[:6]}..., now {cols[:6]}...)")
        with self.path.open("a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(cols)
            for i in range(n):
                row = [m[c][i] if c != "wall_s" else wall[i] for c in cols]
                w.writerow([int(v) if c == "generation" else f"{float(v):.6g}" for c, v in zip(cols, row, strict=True)])

    def reconcile(self, done: int) -> int:
        """Keep the rows of the first ``done`` generations; RunDirError if the file has fewer."""
        if not self.path.exists():
            if done:
                raise RunDirError(f"{self.path} is missing but the checkpoint is at generation {done}")
            return 0
        rows = self._rows()
        if not rows:
            return 0
        keep = [rows[0]] + [r for r in rows[1:] if int(r[0]) <= done]
        if len(keep) - 1 < done:
            raise RunDirError(f"{self.path} has {len(keep) - 1} generations but the checkpoint has {done}: "
                              "the record is behind its checkpoint; start a new run directory")
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            csv.writer(f).writerows(keep)
        os.replace(tmp, self.path)
        self._t = time.perf_counter()
        return len(rows) - len(keep)

    def _rows(self) -> list[list[str]]:
        with self.path.open(newline="") as f:
            rows = list(csv.reader(f))
        for i, r in enumerate(rows[1:], start=2):
            if len(r) != len(rows[0]):
                raise RunDirError(f"{self.path}:{i}: {len(r)} cells, the header has {len(rows[0])}")
        return rows

    def read(self) -> dict[str, np.ndarray]:
        """``{column: [generations]}``; RunDirError naming the line of a malformed row."""
        rows = self._rows()
        out = {}
        for j, c in enumerate(rows[0]):
            vals = []
            for i, r in enumerate(rows[1:], start=2):
                try:
                    vals.append(float(r[j]))
                except ValueError:
                    raise RunDirError(f"{self.path}:{i}: column {c!r} holds {r[j]!r}, not a number") from None
            out[c] = np.array(vals)
        return out

    def close(self) -> None:
        pass


def es_program(trainer: Any, seed: int, generations: int, fns: dict[int, Callable] | None = None) -> Program:
    """The :class:`jaxrl.driver.Program` of ``generations`` ES generations from ``key(seed)``."""
    import jax

    fns = {} if fns is None else fns

    def make_chunk(n: int) -> Callable:
        if n not in fns:
            fns[n] = jax.jit(lambda s, n=n: trainer.run(s, n))
        return fns[n]

    return Program(
        total=int(generations),
        init=lambda: jax.jit(trainer.init)(jax.random.key(seed)),
        make_chunk=make_chunk,
        labels=[seed],
        unit="generation",
        batched=False,
        meta=lambda done, state: {"generation": done},
    )


def run_es(
    trainer: Any,
    out: str | os.PathLike,
    seed: int,
    generations: int,
    chunk: int,
    *,
    resume: bool = False,
    sinks: Sequence[MetricSink] = (),
    on_chunk: Callable[[int, Any, dict[str, np.ndarray]], Any] | None = None,
    progress: Callable[[int, int, dict[str, np.ndarray], float], Any] | None = None,
    fns: dict[int, Callable] | None = None,
    resume_hint: str = "",
    log: Callable[[str], Any] = print,
) -> tuple[Result, GenerationCSV]:
    """Run (or resume) an ES trainer into ``out`` (see the module docstring); ``(result, metrics csv)``."""
    from jaxrl.runs import RunDir

    run = RunDir(out)
    table = GenerationCSV(run.path / "metrics.csv")
    result = drive(es_program(trainer, seed, generations, fns), run, chunk, resume=resume,
                   sinks=[table, *sinks], on_chunk=on_chunk, progress=progress, resume_hint=resume_hint, log=log)
    return result, table


__all__ = ["GenerationCSV", "es_program", "run_es"]
