"""Reliable evaluation statistics (rliable-style), NumPy/SciPy only.

Scores are ``[runs, tasks]`` arrays, normalised per task (see
:func:`normalize`). Aggregates follow Agarwal et al. (2021):

* ``iqm``: 25% trimmed mean pooled over all runs and tasks;
* ``mean`` / ``median``: of the per-task mean scores;
* ``optimality_gap``: ``gamma - mean(min(scores, gamma))``;
* ``probability_of_improvement``: P(X > Y), the Mann-Whitney U statistic over
  ``N_x N_y`` averaged over tasks (ties count 1/2);
* performance profiles (run-score and average-score);
* ``stratified_bootstrap_ci``: runs resampled with replacement independently
  within each task; percentile intervals.

Bad input (empty arrays, NaN, a 1-D array where ``[runs, tasks]`` is needed,
ragged nested lists: runs with different numbers of tasks) raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats as _st

Metric = Callable[[np.ndarray], float]


def as_scores(scores: Any, name: str = "scores") -> np.ndarray:
    """Validate and return a float ``[runs, tasks]`` array.

    Accepts an array or a (nested) sequence, read the same way: ``[runs, tasks]``,
    i.e. a sequence of per-run rows ``[[run0 task0, run0 task1], [run1 task0, ...]]``
    whose rows must all have the same number of tasks. 1-D input means one task.
    """
    if isinstance(scores, list | tuple) and scores and np.ndim(scores[0]) == 1:
        lengths = {len(s) for s in scores}
        if len(lengths) != 1:
            raise ValueError(f"{name}: runs (rows) have different numbers of tasks {sorted(lengths)}; scores are "
                             "[runs, tasks]: give every run a score on every task")
        scores = np.stack([np.asarray(s, float) for s in scores], axis=0)
    arr = np.asarray(scores, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected [runs, tasks], got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: empty score array (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise ValueError(f"{name}: {bad} non-finite value(s) (NaN/inf); drop or impute failed runs explicitly")
    return arr


def iqm(scores: Any) -> float:
    """Interquartile mean: 25% trimmed mean over all runs and tasks pooled."""
    return float(_st.trim_mean(as_scores(scores).ravel(), proportiontocut=0.25))


def mean(scores: Any) -> float:
    """Mean over tasks of the per-task mean score."""
    return float(np.mean(as_scores(scores).mean(axis=0)))


def median(scores: Any) -> float:
    """Median over tasks of the per-task mean score."""
    return float(np.median(as_scores(scores).mean(axis=0)))


def optimality_gap(scores: Any, gamma: float = 1.0) -> float:
    """``gamma - mean(min(scores, gamma))``: how far below ``gamma`` runs fall on average."""
    return float(gamma - np.mean(np.minimum(as_scores(scores), gamma)))


def probability_of_improvement(x: Any, y: Any) -> float:
    """P(X > Y) averaged over tasks; ``x`` and ``y`` are ``[runs, tasks]`` (run counts may differ)."""
    x, y = as_scores(x, "x"), as_scores(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x has {x.shape[1]} tasks, y has {y.shape[1]}")
    per_task = []
    for t in range(x.shape[1]):
        gt = (x[:, t, None] > y[None, :, t]).sum()
        eq = (x[:, t, None] == y[None, :, t]).sum()
        per_task.append((gt + 0.5 * eq) / (x.shape[0] * y.shape[0]))
    return float(np.mean(per_task))


def run_score_profile(scores: Any, taus: Sequence[float]) -> np.ndarray:
    """``F(tau)``: fraction of runs scoring above ``tau`` (averaged over tasks). Returns ``[len(taus)]``."""
    s = as_scores(scores)
    taus = np.asarray(taus, float)
    return np.mean(s[None, :, :] > taus[:, None, None], axis=(1, 2))


def average_score_profile(scores: Any, taus: Sequence[float]) -> np.ndarray:
    """Fraction of tasks whose mean score is above ``tau``. Returns ``[len(taus)]``."""
    m = as_scores(scores).mean(axis=0)
    taus = np.asarray(taus, float)
    return np.mean(m[None, :] > taus[:, None], axis=1)


def stratified_bootstrap(scores: Any, reps: int = 2000, seed: int = 0) -> np.ndarray:
    """``[reps, runs, tasks]`` resamples: runs drawn with replacement within each task."""
    s = as_scores(scores)
    if reps <= 0:
        raise ValueError(f"reps must be positive, got {reps}")
    rng = np.random.default_rng(seed)
    n, t = s.shape
    idx = rng.integers(0, n, size=(reps, n, t))
    return s[idx, np.arange(t)[None, None, :]]


def stratified_bootstrap_ci(
    scores: Any, metric_fn: Metric = iqm, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """``(point, low, high)``: the metric and its percentile bootstrap interval."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    s = as_scores(scores)
    boot = np.array([metric_fn(b) for b in stratified_bootstrap(s, reps, seed)])
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    return float(metric_fn(s)), float(lo), float(hi)


def poi_ci(x: Any, y: Any, reps: int = 2000, confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """P(X > Y) with a stratified-bootstrap interval (x and y resampled independently)."""
    xb = stratified_bootstrap(x, reps, seed)
    yb = stratified_bootstrap(y, reps, seed + 1)
    boot = np.array([probability_of_improvement(a, b) for a, b in zip(xb, yb, strict=True)])
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    return probability_of_improvement(x, y), float(lo), float(hi)


METRICS: dict[str, Metric] = {"IQM": iqm, "Mean": mean, "Median": median, "Optimality gap": optimality_gap}


def aggregate(
    score_dict: Mapping[str, Any], reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> dict[str, dict[str, tuple[float, float, float]]]:
    """``{algo: {metric: (point, low, high)}}`` for every metric in :data:`METRICS`."""
    if not score_dict:
        raise ValueError("score_dict is empty")
    tasks = {k: as_scores(v, k).shape[1] for k, v in score_dict.items()}
    if len(set(tasks.values())) != 1:
        raise ValueError(f"algorithms have different numbers of tasks: {tasks}")
    return {
        algo: {name: stratified_bootstrap_ci(s, fn, reps, confidence, seed) for name, fn in METRICS.items()}
        for algo, s in score_dict.items()
    }


def normalize(scores: Any, low: Sequence[float] | float, high: Sequence[float] | float) -> np.ndarray:
    """Min-max normalise ``[runs, tasks]`` per task: ``(s - low[t]) / (high[t] - low[t])``."""
    s = as_scores(scores)
    low = np.broadcast_to(np.asarray(low, float), (s.shape[1],))
    high = np.broadcast_to(np.asarray(high, float), (s.shape[1],))
    if np.any(high == low):
        raise ValueError(f"normalize: high equals low for task(s) {np.flatnonzero(high == low).tolist()}")
    return (s - low) / (high - low)


def split_seeds(num_seeds: int, num_tune: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint ``(tuning_seeds, test_seeds)`` drawn from ``0 .. num_seeds-1`` (tune on one, report on the other)."""
    if not 0 < num_tune < num_seeds:
        raise ValueError(f"need 0 < num_tune < num_seeds, got num_tune={num_tune}, num_seeds={num_seeds}")
    perm = np.random.default_rng(seed).permutation(num_seeds)
    return np.sort(perm[:num_tune]), np.sort(perm[num_tune:])
