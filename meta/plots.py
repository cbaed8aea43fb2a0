"""Heat maps of drift functions over (r, A), for discovered objectives at several n/N."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.meta.objectives import MirrorObjective, PPOClip

RATIOS = np.linspace(0.5, 1.5, 201)  # r = pi_new / pi_old
ADVANTAGES = np.linspace(-2.0, 2.0, 161)  # normalised advantages


def drift_grid(
    objective: MirrorObjective,
    params: Any,
    frac: float = 1.0,
    ratios: np.ndarray = RATIOS,
    advantages: np.ndarray = ADVANTAGES,
    clip_eps: float = 0.2,
) -> np.ndarray:
    """Drift on the grid: ``[len(advantages), len(ratios)]`` (rows: A, columns: r) at ``n/N = frac``."""
    r, a = np.meshgrid(np.asarray(ratios, np.float32), np.asarray(advantages, np.float32))
    d = jax.jit(objective.drift)(params, jnp.log(r), jnp.asarray(a), jnp.float32(frac), clip_eps)
    return np.asarray(d, np.float64)


def plot_drift_heatmaps(
    panels: Sequence[tuple[str, MirrorObjective, Any, float]],
    path: str | os.PathLike,
    title: str = "",
    ratios: np.ndarray = RATIOS,
    advantages: np.ndarray = ADVANTAGES,
    clip_eps: float = 0.2,
) -> Path:
    """One column per panel ``(label, objective, params, n/N)``; top row the drift, bottom row
    ``drift - drift_PPO`` (what the objective changes relative to PPO-clip). Writes a PNG."""
    from jaxrl.plots import pyplot

    plt = pyplot()

    grids = [drift_grid(o, p, f, ratios, advantages, clip_eps) for _, o, p, f in panels]
    ppo = drift_grid(PPOClip(), None, 1.0, ratios, advantages, clip_eps)
    diffs = [g - ppo for g in grids]
    vmax = max(float(np.percentile(g, 99)) for g in grids) or 1.0
    dmax = max(float(np.percentile(np.abs(d), 99)) for d in diffs) or 1e-3
    n = len(panels)
    fig, axes = plt.subplots(2, n, figsize=(3.2 * n + 1.0, 6.0), squeeze=False, constrained_layout=True)
    extent = (ratios[0], ratios[-1], advantages[0], advantages[-1])
    for i, ((label, _, _, _), g, d) in enumerate(zip(panels, grids, diffs, strict=True)):
        im = axes[0, i].imshow(g, origin="lower", aspect="auto", extent=extent, cmap="viridis", vmin=0, vmax=vmax)
        axes[0, i].set_title(label, fontsize=9)
        axes[1, i].set_title(f"max |drift - drift_PPO| = {np.abs(d).max():.2g}", fontsize=8)
        im2 = axes[1, i].imshow(d, origin="lower", aspect="auto", extent=extent, cmap="RdBu_r", vmin=-dmax, vmax=dmax)
        for ax in axes[:, i]:
            ax.axvline(1.0, color="w", lw=0.5, ls=":")
            ax.axhline(0.0, color="w", lw=0.5, ls=":")
            ax.set_xlabel("r = pi / pi_old")
        if i == 0:
            axes[0, i].set_ylabel("drift\nA (normalised)")
            axes[1, i].set_ylabel("drift - drift_PPO\nA (normalised)")
    fig.colorbar(im, ax=axes[0, :].tolist(), shrink=0.9)
    fig.colorbar(im2, ax=axes[1, :].tolist(), shrink=0.9)
    if title:
        fig.suptitle(title, fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
