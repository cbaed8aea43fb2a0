"""Is an ES run going anywhere? Diagnostics from the per-generation metrics of :mod:`jaxrl.meta.es`.

Every generation :meth:`jaxrl.meta.es.EvolutionStrategy.step` reports ``displacement/<layer>``
(rms over the layer's coordinates of ``mean - start mean``), ``step_scale`` (Adam's learning
rate of that generation for OpenAI-ES, sigma for SNES / CMA-ES), ``grad_cosine`` (cosine
between this generation's ES gradient estimate and the previous one; 0 in generation 1) and
``fitness_mean``. From those columns (a ``metrics.csv`` read back, or the arrays a jitted run
returns) :func:`diagnose` computes

* per layer, the displacement against the **noise scale** ``sqrt(sum_g lr_g^2)`` (``lr sqrt(G)``
  at constant lr: how far Adam walks on pure noise, one lr-sized step of random sign per
  generation) and the **signal scale** ``sum_g lr_g`` (``lr G``: every step in one direction);
* the **fitness trend**: least-squares slope of ``fitness_mean`` over generations with a 95%
  interval (t interval, sample size shrunk for the lag-1 autocorrelation of the residuals
  around a quadratic fit);
* the **gradient cosine**: mean over generations 2.. with its standard error (about 0 when the
  estimates are noise, near 1 when they agree).

A run is **noise-dominated** when every layer's displacement is below
:data:`NOISE_RATIO` x the noise scale *and* the trend interval contains 0: nothing moved farther
than a random walk and the fitness did not measurably change. :func:`write_diagnostics` writes
A run too short for that test (``lr*G`` not above the bar, e.g. ``G <= 4`` at a constant lr) gets the
verdict ``None`` and a warning saying so. :func:`write_diagnostics` writes
``diagnostics.json`` and ``diagnostics.png`` into a run directory (``jaxrl meta`` does after every
run; the LPG study can call it on its own ``metrics.csv``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

NOISE_RATIO = 2.0  # displacement / noise scale below this in every layer: no direction found
PREFIX = "displacement/"


def layers(metrics: Mapping[str, Any]) -> list[str]:
    """Layer names of the ``displacement/<layer>`` columns."""
    return [k[len(PREFIX) :] for k in metrics if k.startswith(PREFIX)]


def scales(step_scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(noise [G], signal [G])`` scales after each generation from the per-generation step sizes ``[G]``."""
    lr = np.asarray(step_scale, np.float64)
    return np.sqrt(np.cumsum(lr**2)), np.cumsum(np.abs(lr))


def fitness_trend(fitness: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Least-squares slope of ``fitness [G]`` per generation with a ``level`` interval.

    The noise around the trend is measured on the residuals of a *quadratic* fit (so a trend that
    bends, e.g. under a decaying learning rate, is not mistaken for noise); the t interval uses an
    effective sample size ``n (1 - rho) / (1 + rho)`` (``rho``: lag-1 autocorrelation of those
    residuals, clipped to [0, 0.95]) so that slowly wandering fitness gets a wider interval (a
    pure random walk still shows a "trend" in about half of 80-generation series: it does drift, which
    is why the noise-dominated verdict also needs the displacement test). Non-finite generations are
    dropped; fewer than 4 give NaNs.
    """
    from scipy import stats

    y = np.asarray(fitness, np.float64)
    x = np.arange(1, len(y) + 1, dtype=np.float64)
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    n = len(y)
    if n < 4:
        return {"slope": math.nan, "low": math.nan, "high": math.nan, "n_eff": float(n), "rho": math.nan}
    xc = x - x.mean()
    sxx = float(xc @ xc)
    slope = float(xc @ (y - y.mean()) / sxx)
    resid = y - np.polyval(np.polyfit(xc, y, 2), xc)
    ss = float(resid @ resid)
    rho = float(np.clip(resid[1:] @ resid[:-1] / ss, 0.0, 0.95)) if ss > 0 else 0.0
    n_eff = max(4.0, n * (1 - rho) / (1 + rho))
    se = math.sqrt(ss / (n - 3) / sxx * n / n_eff)
    half = float(stats.t.ppf(0.5 + level / 2, n_eff - 3)) * se
    return {"slope": slope, "low": slope - half, "high": slope + half, "n_eff": n_eff, "rho": rho}


def diagnose(metrics: Mapping[str, Any], noise_ratio: float = NOISE_RATIO) -> dict[str, Any]:
    """Diagnostics of one ES run from its per-generation metric arrays (see the module docstring).

    ``metrics``: ``{column: [G]}`` with ``fitness_mean``, ``step_scale``, ``grad_cosine`` and
    ``displacement/<layer>``. Returns a JSON-ready dict; ``noise_dominated`` is the verdict and
    ``warning`` its explanation (``None`` when the run is not noise-dominated).
    """
    need = ("fitness_mean", "step_scale", "grad_cosine")
    missing = [k for k in need if k not in metrics] + ([] if layers(metrics) else [PREFIX + "<layer>"])
    if missing:
        raise ValueError(f"ES diagnostics need the metrics {missing} (written by jaxrl.meta.es from this version on)")
    noise, signal = scales(np.asarray(metrics["step_scale"]))
    g = len(noise)
    per_layer = {}
    for name in layers(metrics):
        d = float(np.asarray(metrics[PREFIX + name], np.float64)[-1])
        per_layer[name] = {
            "displacement_rms": d,
            "displacement_over_noise": d / noise[-1] if noise[-1] > 0 else math.inf,
            "displacement_over_signal": d / signal[-1] if signal[-1] > 0 else math.inf,
        }
    trend = fitness_trend(np.asarray(metrics["fitness_mean"]))
    cos = np.asarray(metrics["grad_cosine"], np.float64)[1:]  # generation 1 has no predecessor
    cos = cos[np.isfinite(cos)]
    cosine = {
        "mean": float(cos.mean()) if len(cos) else math.nan,
        "stderr": float(cos.std(ddof=1) / math.sqrt(len(cos))) if len(cos) > 1 else math.nan,
        "n": len(cos),
    }
    no_move = all(v["displacement_over_noise"] < noise_ratio for v in per_layer.values())
    flat = not (trend["low"] > 0 or trend["high"] < 0)  # NaN interval (too few generations) counts as flat
    judgeable = signal[-1] > noise_ratio * noise[-1]  # else even a consistent gradient stays under the bar
    noisy = bool(no_move and flat) if judgeable else None
    warning = None
    if not judgeable:
        warning = (
            f"ES run too short to judge: after {g} generations even a consistent gradient moves the mean only "
            f"lr*G = {signal[-1] / noise[-1]:.2f} x the noise scale lr*sqrt(G) (the bar is {noise_ratio:g} x); "
            f"run more than {math.ceil(noise_ratio**2)} generations (at a constant lr)."
        )
    elif noisy:
        worst = max(v["displacement_over_noise"] for v in per_layer.values())
        trend_text = (
            f"the fitness trend {trend['slope']:.3g}/generation [{trend['low']:.3g}, {trend['high']:.3g}] contains 0"
            if np.isfinite(trend["slope"])
            else "too few generations for a fitness trend"
        )
        warning = (
            f"noise-dominated ES run: after {g} generations the mean moved at most {worst:.2f} x the noise scale "
            f"lr*sqrt(G) in every layer (< {noise_ratio:g}; a consistent gradient reaches lr*G = "
            f"{signal[-1] / noise[-1]:.1f} x it) and {trend_text} (gradient cosine {cosine['mean']:.2f}). "
            "The search has found no direction: try more seeds per member, common random numbers (if off), a "
            "larger population, more generations, or a task on which objectives differ (README: Discovering "
            "objectives with evolution strategies)."
        )
    return {
        "generations": g,
        "noise_scale": float(noise[-1]),
        "signal_scale": float(signal[-1]),
        "layers": per_layer,
        "fitness_trend": trend,
        "grad_cosine": cosine,
        "rule": f"noise-dominated = displacement/noise < {noise_ratio:g} in every layer and the 95% fitness-trend "
        "interval contains 0",
        "noise_dominated": noisy,  # None: too few generations to tell
        "warning": warning,
    }


def plot_diagnostics(metrics: Mapping[str, Any], diag: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Three panels: displacement per layer against the noise / signal scales, fitness with its trend line,
    gradient cosine over generations. Writes a PNG."""
    from jaxrl.plots import pyplot

    plt = pyplot()
    noise, signal = scales(np.asarray(metrics["step_scale"]))
    gens = np.arange(1, len(noise) + 1)
    fig, ax = plt.subplots(1, 3, figsize=(14, 4), constrained_layout=True)
    for name in layers(metrics):
        ax[0].plot(gens, np.asarray(metrics[PREFIX + name]), label=name)
    ax[0].plot(gens, noise, "k--", label="noise lr*sqrt(G)")
    ax[0].plot(gens, NOISE_RATIO * noise, "k:", label=f"{NOISE_RATIO:g} x noise")
    ax[0].plot(gens, signal, "r--", label="signal lr*G")
    ax[0].set_yscale("log")
    ax[0].set_xlabel("generation")
    ax[0].set_ylabel("rms displacement of the mean per coordinate")
    ax[0].legend(fontsize=7)
    f = np.asarray(metrics["fitness_mean"], np.float64)
    t = diag["fitness_trend"]
    ax[1].plot(gens, f, ".-", label="mean fitness")
    if np.isfinite(t["slope"]):
        ok = np.isfinite(f)
        line = np.nanmean(f) + t["slope"] * (gens - gens[ok].mean())
        ax[1].plot(gens, line, "r-", label=f"slope {t['slope']:.3g} [{t['low']:.3g}, {t['high']:.3g}]")
    ax[1].set_xlabel("generation")
    ax[1].set_ylabel("fitness")
    ax[1].legend(fontsize=7)
    ax[2].plot(gens[1:], np.asarray(metrics["grad_cosine"])[1:], ".-")
    ax[2].axhline(0.0, color="k", lw=0.5)
    ax[2].set_ylim(-1.05, 1.05)
    ax[2].set_xlabel("generation")
    ax[2].set_ylabel("cos(ES gradient, previous)")
    verdict = {True: "NOISE-DOMINATED", False: "ES diagnostics", None: "ES diagnostics (too short to judge)"}
    fig.suptitle(verdict[diag["noise_dominated"]], fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_diagnostics(run_dir: str | os.PathLike, metrics: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Diagnose the run in ``run_dir`` (its ``metrics.csv`` unless ``metrics`` is given) and write
    ``diagnostics.json`` and ``diagnostics.png`` there; returns the diagnostics."""
    from jaxrl.runs import write_json

    run_dir = Path(run_dir)
    if metrics is None:
        from jaxrl.meta.runner import GenerationCSV

        metrics = GenerationCSV(run_dir / "metrics.csv").read()
    diag = diagnose(metrics)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "diagnostics.json", diag)
    plot_diagnostics(metrics, diag, run_dir / "diagnostics.png")
    return diag


__all__ = ["NOISE_RATIO", "diagnose", "fitness_trend", "layers", "plot_diagnostics", "scales", "write_diagnostics"]
