"""Paper-style figures for RL results (matplotlib).

Every function takes NumPy arrays (see :mod:`jaxrl.stats` for the
``[runs, tasks]`` convention), draws on a new figure, saves it when ``path``
is given and returns the figure. :func:`pyplot` picks the headless Agg backend
only where nothing else is chosen and there is no display, so figures still show
inline in a notebook (ipykernel sets ``MPLBACKEND``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl import stats


def pyplot() -> Any:
    """``matplotlib.pyplot``, on the Agg backend unless a backend was chosen (``MPLBACKEND``, an
    earlier pyplot import, e.g. a notebook's inline backend) or a display is available."""
    import matplotlib

    if not (os.environ.get("MPLBACKEND") or "matplotlib.pyplot" in sys.modules or os.environ.get("DISPLAY")):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


plt = pyplot()

_STYLE = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 11,
    "axes.titlesize": 12,
    "legend.frameon": False,
}


def _finish(fig: Any, path: str | Path | None) -> Any:
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=130)
    plt.close(fig)
    return fig


def _colors(n: int) -> list:
    cmap = plt.get_cmap("tab10")
    return [cmap(i % 10) for i in range(n)]


def learning_curves(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path | None = None,
    title: str = "",
    xlabel: str = "Environment steps",
    ylabel: str = "Episode return",
    confidence: float = 0.95,
    reps: int = 1000,
    seed: int = 0,
) -> Any:
    """Mean curve with a bootstrap confidence band over seeds, one line per label.

    ``curves[label] = (x [T], y [seeds, T])``; NaN entries (no finished
    episode yet) are ignored point-wise.
    """
    return learning_curve_grid({title: curves}, path, xlabel, ylabel, confidence, reps, seed)


def learning_curve_grid(
    panels: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]],
    path: str | Path | None = None,
    xlabel: str = "Environment steps",
    ylabel: str = "Episode return",
    confidence: float = 0.95,
    reps: int = 1000,
    seed: int = 0,
) -> Any:
    """One panel per title (e.g. per environment), each as in :func:`learning_curves`.

    Labels keep the same colour across panels.
    """
    labels = list(dict.fromkeys(lab for curves in panels.values() for lab in curves))
    color = dict(zip(labels, _colors(len(labels)), strict=True))
    n = len(panels)
    cols = min(n, 3)
    rows = -(-n // cols)
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(6.4 if n == 1 else 4.6 * cols, 4.2 if n == 1 else 3.6 * rows),
                                 squeeze=False)
        for ax, (title, curves) in zip(axes.flat, panels.items(), strict=False):
            for label, (x, y) in curves.items():
                x, y = np.asarray(x, float), np.atleast_2d(np.asarray(y, float))
                mean, lo, hi = mean_band(y, confidence, reps, seed)
                ax.plot(x, mean, color=color[label], lw=2, label=f"{label} (n={y.shape[0]})")
                ax.fill_between(x, lo, hi, color=color[label], alpha=0.25, lw=0)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            if title:
                ax.set_title(title)
            ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
            ax.legend(loc="best", fontsize=9)
        for ax in list(axes.flat)[n:]:
            ax.set_visible(False)
        return _finish(fig, path)


def mean_band(y: np.ndarray, confidence: float = 0.95, reps: int = 1000, seed: int = 0):
    """Per-column mean of ``y [seeds, T]`` with a percentile-bootstrap band over seeds (NaN-aware)."""
    from jaxrl.runs import bootstrap_ci

    return bootstrap_ci(np.atleast_2d(np.asarray(y, float)), confidence, reps, seed, axis=0)


def interval_estimates(
    agg: Mapping[str, Mapping[str, tuple[float, float, float]]],
    path: str | Path | None = None,
    xlabel: str = "Normalised score",
) -> Any:
    """rliable-style panel per metric: point estimate and interval per algorithm.

    ``agg`` is the output of :func:`jaxrl.stats.aggregate`.
    """
    algos = list(agg)
    metrics = list(next(iter(agg.values())))
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, len(metrics), figsize=(3.0 * len(metrics), 0.5 * len(algos) + 1.4), squeeze=False)
        for ax, m in zip(axes[0], metrics, strict=True):
            for i, (a, c) in enumerate(zip(algos, _colors(len(algos)), strict=True)):
                p, lo, hi = agg[a][m]
                ax.barh(i, hi - lo, left=lo, height=0.6, color=c, alpha=0.6)
                ax.plot([p, p], [i - 0.3, i + 0.3], color="k", lw=2)
            ax.set_yticks(range(len(algos)), algos if ax is axes[0][0] else [""] * len(algos))
            ax.set_title(m)
            ax.grid(axis="y", visible=False)
        fig.supxlabel(xlabel, fontsize=11)
        return _finish(fig, path)


def performance_profiles(
    score_dict: Mapping[str, np.ndarray],
    path: str | Path | None = None,
    taus: Sequence[float] | None = None,
    kind: str = "run",
    confidence: float = 0.95,
    reps: int = 500,
    seed: int = 0,
) -> Any:
    """Score distributions ``F(tau)`` with bootstrap bands (``kind`` = ``"run"`` or ``"average"``)."""
    if kind not in ("run", "average"):
        raise ValueError(f"kind must be 'run' or 'average', got {kind!r}")
    fn = stats.run_score_profile if kind == "run" else stats.average_score_profile
    all_scores = np.concatenate([stats.as_scores(s).ravel() for s in score_dict.values()])
    if taus is None:
        taus = np.linspace(all_scores.min(), all_scores.max(), 101)
    taus = np.asarray(taus, float)
    a = (1 - confidence) / 2
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 4.0))
        for (name, s), c in zip(score_dict.items(), _colors(len(score_dict)), strict=True):
            boot = np.stack([fn(b, taus) for b in stats.stratified_bootstrap(s, reps, seed)])
            lo, hi = np.quantile(boot, [a, 1 - a], axis=0)
            ax.plot(taus, fn(s, taus), color=c, lw=2, label=name)
            ax.fill_between(taus, lo, hi, color=c, alpha=0.2, lw=0)
        ax.set_xlabel(r"Normalised score ($\tau$)")
        what = "runs with score" if kind == "run" else "tasks with mean"
        ax.set_ylabel(rf"Fraction of {what} $> \tau$")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(loc="best")
        return _finish(fig, path)


def improvement_matrix(score_dict: Mapping[str, np.ndarray], path: str | Path | None = None) -> Any:
    """Heat map of P(row > column) for every pair of algorithms."""
    names = list(score_dict)
    n = len(names)
    mat = np.full((n, n), np.nan)
    for i, x in enumerate(names):
        for j, y in enumerate(names):
            if i != j:
                mat[i, j] = stats.probability_of_improvement(score_dict[x], score_dict[y])
    with plt.rc_context({**_STYLE, "axes.grid": False}):
        fig, ax = plt.subplots(figsize=(1.1 * n + 2.2, 1.0 * n + 1.4))
        im = ax.imshow(mat, vmin=0, vmax=1, cmap="RdBu")
        for i in range(n):
            for j in range(n):
                if i != j:
                    tone = "white" if abs(mat[i, j] - 0.5) > 0.3 else "black"
                    ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=10, color=tone)
        ax.set_xticks(range(n), names, rotation=30, ha="right")
        ax.set_yticks(range(n), names)
        ax.set_xlabel("Y")
        ax.set_ylabel("X")
        ax.set_title("P(X > Y)")
        fig.colorbar(im, ax=ax, fraction=0.046)
        return _finish(fig, path)
