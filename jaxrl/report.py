"""Aggregate run directories into an rliable-style report (``jaxrl report``).

Each run directory (written by ``jaxrl train``, see :mod:`jaxrl.runs`) holds
one algorithm on one environment over several seeds. The report groups runs by
algorithm and environment (tasks), normalises final scores per task, and
writes into ``out``:

* ``report.md``  -- aggregate table (IQM, mean, median, optimality gap with 95%
  stratified-bootstrap intervals) and a per-task table of raw scores;
* ``aggregate.json`` -- the same numbers, machine-readable;
* ``learning_curves.png``, ``intervals.png``, ``profiles.png`` and, with two
  or more algorithms, ``improvement.png`` (P(X > Y) matrix).

Normalisation: ``(score - low) / (high - low)`` per task with ``low``/``high``
from ``refs`` (``--ref ENV=LOW:HIGH``) or :data:`REFERENCE_SCORES`; a task
without a reference is normalised by the minimum and maximum of all runs on it
(said in the report), which ranks algorithms but is not comparable across
reports.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl import plots, stats
from jaxrl.runs import RunDir, forward_fill, write_json

REFERENCE_SCORES: dict[str, tuple[float, float]] = {
    # (random-policy return, maximum / solved return)
    "CartPole-v1": (22.0, 500.0),
    "Acrobot-v1": (-500.0, -60.0),
    "MountainCar-v0": (-200.0, -100.0),
    "Pendulum-v1": (-1200.0, -140.0),
}


@dataclasses.dataclass
class Run:
    path: Path
    algo: str
    env_id: str
    scores: np.ndarray  # [seeds] final score per seed
    env_steps: np.ndarray  # [updates]
    returns: np.ndarray  # [seeds, updates]


def load_run(path: str | Path) -> Run:
    """Read one run directory; ``ValueError`` naming the file when something is missing or malformed."""
    rd = RunDir(path)
    for name in ("config.json", "scores.json", "metrics.csv", "seeds.json"):
        if not (rd.path / name).is_file():
            raise ValueError(f"{rd.path} is not a complete run directory: {name} is missing")
    cfg = rd.config
    try:
        algo, env_id = str(cfg["algo"]), str(cfg["env_id"])
        per_seed = rd.read_json("scores.json")["per_seed"]
    except (KeyError, TypeError) as e:
        raise ValueError(f"{rd.path}: malformed config.json/scores.json ({e!r})") from e
    scores = np.array([np.nan if v is None else v for v in per_seed.values()], dtype=float)
    m = rd.read_metrics()
    if "env_steps" not in m or "episode_return" not in m:
        raise ValueError(f"{rd.path}/metrics.csv lacks env_steps/episode_return columns")
    return Run(rd.path, algo, env_id, scores, np.nanmean(m["env_steps"], axis=0), m["episode_return"])


def group(runs: Sequence[Run]) -> dict[str, dict[str, list[Run]]]:
    """``{algo: {env_id: [runs]}}``, every algorithm required to cover the same environments."""
    if not runs:
        raise ValueError("no runs to report")
    out: dict[str, dict[str, list[Run]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        out[r.algo][r.env_id].append(r)
    envs = {a: sorted(e) for a, e in out.items()}
    if len({tuple(v) for v in envs.values()}) != 1:
        raise ValueError(f"algorithms cover different environments: {envs}; report them separately")
    return {a: dict(e) for a, e in out.items()}


def score_matrix(runs_by_env: Mapping[str, list[Run]], envs: Sequence[str], algo: str) -> np.ndarray:
    """``[runs, tasks]`` raw final scores of one algorithm; equal run counts per task required."""
    cols = []
    for env in envs:
        s = np.concatenate([r.scores for r in runs_by_env[env]])
        if not np.all(np.isfinite(s)):
            bad = [str(r.path) for r in runs_by_env[env] if not np.all(np.isfinite(r.scores))]
            raise ValueError(f"{algo} on {env}: some seeds finished no episode (NaN score) in {bad}")
        cols.append(s)
    counts = {env: len(c) for env, c in zip(envs, cols, strict=True)}
    if len(set(counts.values())) != 1:
        raise ValueError(f"{algo}: different numbers of runs per environment {counts}; use equal seed counts")
    return np.stack(cols, axis=1)


def build_report(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    refs: Mapping[str, tuple[float, float]] | None = None,
    reps: int = 2000,
    seed: int = 0,
) -> str:
    """Write the report files into ``out`` and return the Markdown text."""
    grouped = group([load_run(p) for p in run_dirs])
    algos = list(grouped)
    envs = sorted(next(iter(grouped.values())))
    raw = {a: score_matrix(grouped[a], envs, a) for a in algos}
    refs = {**REFERENCE_SCORES, **(refs or {})}
    low, high, pooled = [], [], []
    for t, env in enumerate(envs):
        if env in refs:
            lo, hi = refs[env]
        else:
            col = np.concatenate([raw[a][:, t] for a in algos])
            lo, hi = float(col.min()), float(col.max())
            hi = hi if hi > lo else lo + 1.0
            pooled.append(env)
        low.append(lo)
        high.append(hi)
    norm = {a: stats.normalize(raw[a], low, high) for a in algos}
    agg = stats.aggregate(norm, reps=reps, seed=seed)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # Updates in which no episode ended hold NaN: carry the last finished episode's return forward.
    panels = {
        env: {a: (r.env_steps, forward_fill(r.returns)) for a in algos for r in grouped[a][env][:1]} for env in envs
    }
    plots.learning_curve_grid(panels, out / "learning_curves.png")
    plots.interval_estimates(agg, out / "intervals.png")
    plots.performance_profiles(norm, out / "profiles.png", taus=np.linspace(-0.05, 1.05, 111))
    figures = ["learning_curves.png", "intervals.png", "profiles.png"]
    poi = {}
    if len(algos) > 1:
        plots.improvement_matrix(norm, out / "improvement.png")
        figures.append("improvement.png")
        pairs = [(x, y) for x in algos for y in algos if x != y]
        poi = {f"{x} > {y}": stats.poi_ci(norm[x], norm[y], reps=reps, seed=seed) for x, y in pairs}

    md = _markdown(algos, envs, raw, agg, poi, low, high, pooled, reps)
    (out / "report.md").write_text(md)
    write_json(
        out / "aggregate.json",
        {
            "runs": [str(p) for p in run_dirs],
            "tasks": envs,
            "normalisation": {env: [lo, hi] for env, lo, hi in zip(envs, low, high, strict=True)},
            "pooled_normalisation": pooled,
            "aggregate": agg,
            "probability_of_improvement": poi,
            "raw_scores": {a: raw[a].tolist() for a in algos},
            "bootstrap": {"reps": reps, "seed": seed, "confidence": 0.95},
            "figures": figures,
        },
    )
    return md


def _fmt(p: float, lo: float, hi: float) -> str:
    return f"{p:.3f} [{lo:.3f}, {hi:.3f}]"


def _markdown(algos, envs, raw, agg, poi, low, high, pooled, reps) -> str:
    metrics = list(next(iter(agg.values())))
    n_runs = {a: raw[a].shape[0] for a in algos}
    lines = [
        f"Normalised scores over {len(envs)} task(s) ({', '.join(envs)}); point estimate [95% stratified-bootstrap"
        f" interval, {reps} resamples].",
        "",
        "| Algorithm | Runs/task | " + " | ".join(metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]
    for a in algos:
        lines.append(f"| {a} | {n_runs[a]} | " + " | ".join(_fmt(*agg[a][m]) for m in metrics) + " |")
    lines += ["", "Raw final return per task (mean [95% interval over seeds]):", ""]
    lines += ["| Algorithm | " + " | ".join(envs) + " |", "|---|" + "---|" * len(envs)]
    for a in algos:
        cis = [stats.stratified_bootstrap_ci(raw[a][:, t], stats.mean, reps) for t in range(len(envs))]
        lines.append(f"| {a} | " + " | ".join(f"{p:.1f} [{lo:.1f}, {hi:.1f}]" for p, lo, hi in cis) + " |")
    if poi:
        lines += ["", "| P(X > Y) | estimate [95% interval] |", "|---|---|"]
        lines += [f"| {k} | {_fmt(*v)} |" for k, v in poi.items()]
    refs = ", ".join(f"{e}: [{lo:g}, {hi:g}]" for e, lo, hi in zip(envs, low, high, strict=True))
    lines += ["", f"Normalisation (low, high): {refs}."]
    if pooled:
        lines.append(f"No reference scores for {', '.join(pooled)}: normalised by the min/max over all runs.")
    return "\n".join(lines) + "\n"


def parse_ref(text: str) -> tuple[str, tuple[float, float]]:
    """``"ENV=LOW:HIGH"`` -> ``(env, (low, high))``."""
    try:
        env, rng = text.split("=", 1)
        lo, hi = (float(v) for v in rng.split(":"))
    except ValueError as e:
        raise ValueError(f"--ref expects ENV=LOW:HIGH, got {text!r}") from e
    if not hi > lo:
        raise ValueError(f"--ref {text!r}: HIGH must exceed LOW")
    return env, (lo, hi)


def run_cli(args: Any) -> int:
    refs = dict(parse_ref(r) for r in args.ref)
    md = build_report(args.runs, args.out, refs, args.reps, args.seed)
    print(md)
    print(f"report written to {args.out}/")
    return 0
