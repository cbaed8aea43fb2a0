"""The one run driver: chunks of equal size, a checkpoint after each, resume, metric sinks, progress.

Every run type -- ``jaxrl train`` (an :class:`jaxrl.Agent` over many seeds), ``jaxrl pbt``,
``jaxrl meta`` and the LPG study -- is a :class:`Program`: a total number of *units* (updates,
rounds, generations), a fresh state, and jitted chunk functions ``state -> (state, metrics)``.
:func:`drive` runs it into a :class:`jaxrl.runs.RunDir`::

    resume?  latest complete checkpoint -> state, reconcile metrics.csv to it, say where it continues
    loop:    chunk -> metrics to the sinks -> divergence check -> checkpoint (atomic)
    Ctrl-C:  nothing new is saved; the error names the last checkpoint and the --resume command

Metrics are ``{name: [S, n]}`` (``S`` runs: seeds, members; ``n`` units of the chunk). A metric
``nonfinite`` (:mod:`jaxrl.diagnostics`) stops the run after the chunk in which it is set: the
sinks get that chunk's metrics, the checkpoint is *not* replaced (the last finite one stays),
and :class:`jaxrl.errors.DivergedError` names the runs, the unit and the quantities.

Logging happens on the host between chunks (``jax.device_get`` of each chunk's metrics, after
the chunk finished): sinks never cause a retrace or a device sync inside a chunk.

For agents, :func:`train` is the whole ``jaxrl train`` job (vmapped over seeds, sharded over
devices, evaluated and scored at the end); with ``run=None`` it keeps nothing on disk, which is
what a notebook wants together with ``progress_fn(step, metrics)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from jaxrl.diagnostics import NONFINITE, describe, first_divergence
from jaxrl.errors import DivergedError, UserError


class Interrupted(UserError):
    """Ctrl-C during a run: nothing new was saved; the message says how to resume."""


# =========================================================================== sinks
class MetricSink(Protocol):
    """Receives every chunk's metrics on the host: ``write(first, metrics, labels)``.

    ``first`` is the number of units done before the chunk; ``metrics[name]`` is ``[S, n]``;
    ``labels`` names the ``S`` runs (seeds). ``close()`` is called once at the end. A sink that
    keeps a record on disk also has ``reconcile(done) -> rows dropped``, called on resume so that
    the record matches the checkpoint (never silently behind it: it raises instead).
    """

    def write(self, first: int, metrics: Mapping[str, np.ndarray], labels: Sequence[Any]) -> None: ...

    def close(self) -> None: ...


class CallbackSink:
    """``progress_fn(step, metrics)`` after every chunk (``step``: units done; metrics ``[S, n]`` NumPy)."""

    def __init__(self, progress_fn: Callable[[int, dict[str, np.ndarray]], Any]):
        self.fn = progress_fn

    def write(self, first: int, metrics: Mapping[str, np.ndarray], labels: Sequence[Any]) -> None:
        n = next(iter(metrics.values())).shape[1] if metrics else 0
        self.fn(first + n, dict(metrics))

    def close(self) -> None:
        pass


class RunDirSink:
    """metrics.csv of a :class:`jaxrl.runs.RunDir` (one row per unit and run)."""

    def __init__(self, run: Any):
        self.run = run

    def write(self, first: int, metrics: Mapping[str, np.ndarray], labels: Sequence[Any]) -> None:
        self.run.append_metrics(metrics, first)

    def reconcile(self, done: int) -> int:
        """On resume: metrics.csv cut back to the checkpoint's ``done`` updates (RunDirError if it is behind)."""
        return int(self.run.reconcile_metrics(done) or 0)

    def close(self) -> None:
        pass


# =========================================================================== programs
@dataclass
class Program:
    """A run in chunks: ``total`` units from ``init()``; ``chunk(n)`` is a (cached) jitted ``state -> (state, m)``.

    ``labels`` name the ``S`` runs whose metrics come back as ``[S, n]`` (``batched=False``: one
    run whose metrics ``[n]`` are given a leading axis). ``meta(done, state)`` is the checkpoint's
    metadata beside ``updates_done``.
    """

    total: int
    init: Callable[[], Any]
    make_chunk: Callable[[int], Callable[[Any], tuple[Any, dict]]]
    labels: Sequence[Any] = (0,)
    unit: str = "update"
    batched: bool = True
    meta: Callable[[int, Any], dict[str, Any]] = lambda done, state: {}
    on_restore: Callable[[dict[str, Any]], Any] | None = None  # gets the restored checkpoint's metadata
    _fns: dict[int, Callable] = field(default_factory=dict, repr=False)

    def chunk(self, n: int) -> Callable[[Any], tuple[Any, dict]]:
        if n not in self._fns:
            self._fns[n] = self.make_chunk(n)
        return self._fns[n]


@dataclass
class Result:
    state: Any
    done: int  # units done (in this and earlier sessions)
    resumed_from: int  # units done when this session started
    seconds: float  # wall time of this session's chunks


def flatten_metrics(
    metrics: Mapping[str, Any], num_runs: int, batched: bool = True, prefix: str = ""
) -> dict[str, np.ndarray]:
    """Nested dict of ``[S, n, ...]`` (``batched=False``: ``[n, ...]`` of one run) -> flat ``{"a/b": [S, n]}``.

    Axes after the second are averaged (NaN ignored).
    """
    out: dict[str, np.ndarray] = {}
    for k, v in metrics.items():
        if isinstance(v, Mapping):
            out.update(flatten_metrics(v, num_runs, batched, f"{prefix}{k}/"))
            continue
        a = np.asarray(v)
        if not batched:
            a = a[None]
        if a.ndim < 2 or a.shape[0] != num_runs:
            raise ValueError(f"metric {prefix}{k} has shape {np.shape(v)}; chunks must return [runs, n] or [n]")
        if a.ndim > 2:
            a = np.nanmean(a.reshape(a.shape[:2] + (-1,)).astype(np.float64), axis=-1)
        out[prefix + k] = a
    return out


def pick_chunk_size(num_updates: int, chunks: int | None = None, log_every: int | None = None) -> int:
    """Updates per jitted chunk.

    ``log_every`` is taken as is; with ``chunks`` the size is a divisor of ``num_updates`` giving
    between ``chunks/2`` and ``2*chunks`` equal chunks when one exists (one compile), else
    ``ceil(num_updates / chunks)`` (one more compile for the shorter last chunk).
    """
    if isinstance(num_updates, bool) or not isinstance(num_updates, int) or num_updates < 1:
        raise UserError(f"num_updates must be a positive integer, got {num_updates!r}")
    if log_every is not None:
        if log_every < 1:
            raise UserError(f"--log-every must be >= 1, got {log_every}")
        return min(log_every, num_updates)
    if chunks is not None and chunks < 1:
        raise UserError(f"--chunks must be >= 1, got {chunks}")
    chunks = max(1, min(chunks or 20, num_updates))
    divisors = [d for d in range(1, num_updates + 1) if num_updates % d == 0]
    fits = [d for d in divisors if chunks / 2 <= num_updates // d <= 2 * chunks]
    if fits:
        return min(fits, key=lambda d: abs(num_updates // d - chunks))
    return -(-num_updates // chunks)


def reconcile(sinks: Sequence[Any], done: int) -> int:
    """Bring every sink with a ``reconcile(done)`` method (file records) back to ``done`` units; rows dropped."""
    return sum(int(sink.reconcile(done) or 0) for sink in sinks if hasattr(sink, "reconcile"))


# =========================================================================== the loop
def drive(
    program: Program,
    run: Any = None,
    chunk_size: int | None = None,
    *,
    resume: bool = False,
    sinks: Sequence[MetricSink] = (),
    on_chunk: Callable[[int, Any, dict[str, np.ndarray]], Any] | None = None,
    progress: Callable[[int, int, dict[str, np.ndarray], float], Any] | None = None,
    resume_hint: str = "",
    log: Callable[[str], Any] = print,
) -> Result:
    """Run ``program`` chunk by chunk (see the module docstring); ``run=None`` keeps nothing on disk.

    ``on_chunk(done, state, metrics)`` runs after each checkpoint (artifacts such as a discovered
    objective); ``progress(done, total, metrics, seconds)`` after each chunk.
    """
    import jax

    total = int(program.total)
    chunk_size = chunk_size or pick_chunk_size(total)
    labels = list(program.labels)
    state = program.init()
    done = 0
    if run is not None and resume:
        ckpt = run.latest_checkpoint()
        if ckpt is not None:
            state, meta = run.restore_checkpoint(like=state)
            done = int(meta["updates_done"])
            if program.on_restore is not None:
                program.on_restore(meta)
            dropped = reconcile(sinks, done)
            extra = f" ({dropped} metric rows after it dropped)" if dropped else ""
            log(f"resuming {run.path} from {program.unit} {done} of {total}{extra}")
        else:
            reconcile(sinks, 0)
            log(f"{run.path} has no checkpoint yet: starting from {program.unit} 0 of {total}")
    t_start = time.perf_counter()
    start = done
    try:
        while done < total:
            n = min(chunk_size, total - done)
            t0 = time.perf_counter()
            new_state, metrics = program.chunk(n)(state)
            metrics = flatten_metrics(jax.device_get(metrics), len(labels), program.batched)
            dt = time.perf_counter() - t0
            flags = metrics.get(NONFINITE)
            for sink in sinks:
                sink.write(done, metrics, labels)
            if flags is not None and np.any(flags):
                diverged = first_divergence(flags, labels, done)
                kept = f"; the last finite checkpoint (at {program.unit} {done}) is kept" if run is not None else ""
                raise DivergedError(describe(diverged, program.unit) + kept, diverged, done)
            state, done = new_state, done + n
            if run is not None:
                run.save_checkpoint(state, {"updates_done": done, "num_updates": total, **program.meta(done, state)})
            if on_chunk is not None:
                on_chunk(done, state, metrics)
            if progress is not None:
                progress(done, total, metrics, dt)
    except KeyboardInterrupt:
        where = f"the last checkpoint is at {program.unit} {done} of {total}" if run is not None else "nothing saved"
        hint = f"; continue with: {resume_hint}" if resume_hint and run is not None else ""
        raise Interrupted(f"interrupted: {where}{hint}") from None
    finally:
        for sink in sinks:
            sink.close()
    return Result(state, done, start, time.perf_counter() - t_start)


__all__ = [
    "CallbackSink",
    "Interrupted",
    "MetricSink",
    "Program",
    "Result",
    "RunDirSink",
    "drive",
    "flatten_metrics",
    "pick_chunk_size",
]
