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

Runs are counted once: a directory named twice (the same resolved path) and a
seed that repeats another directory's (same algorithm, environment, config
and seed: the same experiment, not an independent sample) are dropped with a
warning on stderr. A seed that ``scores.json`` marks diverged (``"status":
{seed: "diverged"}``, with ``"diverged": {seed: {"update", "quantity"}}``) is
listed as such and left out of the aggregates; a seed with no score and no
such mark finished no episode, which is an error. Missing or malformed files
raise :class:`jaxrl.errors.RunDirError` naming the file (and line).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl import plots, stats
from jaxrl.errors import RunDirError, UserError
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
    scores: np.ndarray  # [seeds] final score per seed (NaN: diverged or no episode finished)
    env_steps: np.ndarray  # [updates]
    returns: np.ndarray  # [seeds, updates]
    seeds: list[int] = dataclasses.field(default_factory=list)  # [seeds]
    status: list[str] = dataclasses.field(default_factory=list)  # [seeds] "ok", "diverged" or "no_episode"
    diverged: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)  # seed -> {"update", "quantity"}
    config_key: str = ""  # canonical JSON of the agent config: with algo, env and seed, a run's identity

    def subset(self, keep: Sequence[int]) -> Run:
        """The same run restricted to the seeds at positions ``keep``."""
        seeds = [self.seeds[i] for i in keep]
        return dataclasses.replace(
            self, scores=self.scores[list(keep)], returns=self.returns[list(keep)], seeds=seeds,
            status=[self.status[i] for i in keep], diverged={s: d for s, d in self.diverged.items() if s in seeds},
        )


def _json(rd: RunDir, name: str) -> Any:
    try:
        return rd.read_json(name)
    except json.JSONDecodeError as e:
        raise RunDirError(f"{rd.path / name}:{e.lineno}: not valid JSON ({e.msg}); rewrite or remove that run") from e
    except OSError as e:
        raise RunDirError(f"{rd.path / name} cannot be read: {e}") from e


def load_run(path: str | Path) -> Run:
    """Read one run directory; :class:`RunDirError` naming the file when something is missing or malformed."""
    rd = RunDir(path)
    for name in ("config.json", "scores.json", "metrics.csv", "seeds.json"):
        if not (rd.path / name).is_file():
            raise RunDirError(f"{rd.path} is not a complete run directory: {name} is missing")
    cfg, sc = _json(rd, "config.json"), _json(rd, "scores.json")
    try:
        algo, env_id = str(cfg["algo"]), str(cfg["env_id"])
        per_seed = sc["per_seed"]
        seeds = [int(s) for s in _json(rd, "seeds.json")["seeds"]]
        marks = {int(s): str(v) for s, v in dict(sc.get("status") or {}).items()}
        diverged = {int(s): dict(v) for s, v in dict(sc.get("diverged") or {}).items()}
        scores = np.array([np.nan if per_seed.get(str(s)) is None else per_seed[str(s)] for s in seeds], dtype=float)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise RunDirError(f"{rd.path}: malformed config.json/scores.json/seeds.json ({e!r})") from e
    status = []
    for s, v in zip(seeds, scores, strict=True):
        if marks.get(s) == "diverged" or s in diverged:
            status.append("diverged")
        else:
            status.append("ok" if np.isfinite(v) else "no_episode")
    m = rd.read_metrics()
    if "env_steps" not in m or "episode_return" not in m:
        raise RunDirError(f"{rd.path}/metrics.csv lacks env_steps/episode_return columns")
    if m["episode_return"].shape[0] != len(seeds):
        raise RunDirError(f"{rd.path}/metrics.csv has {m['episode_return'].shape[0]} seeds, seeds.json {len(seeds)}")
    key = json.dumps(cfg.get("config"), sort_keys=True, default=str)
    return Run(rd.path, algo, env_id, scores, np.nanmean(m["env_steps"], axis=0), m["episode_return"], seeds,
               status, diverged, key)


def _stderr(msg: str) -> None:
    print(f"jaxrl report: warning: {msg}", file=sys.stderr)


def dedupe(runs: Sequence[Run], warn: Callable[[str], Any] = _stderr) -> list[Run]:
    """Count every run once: drop a repeated directory and any seed repeating an earlier one's identity.

    A run's identity is (algorithm, environment, agent config, seed); a repeat is the same
    experiment again, not an independent sample, so it would narrow the intervals falsely.
    """
    out, paths, ids = [], set(), {}
    for r in runs:
        where = r.path.resolve()
        if where in paths:
            warn(f"{r.path} is listed more than once; counted once")
            continue
        paths.add(where)
        keep = []
        for i, s in enumerate(r.seeds):
            ident = (r.algo, r.env_id, r.config_key, s)
            if ident in ids:
                warn(f"seed {s} of {r.path} repeats {ids[ident]} (same algorithm, environment, config and seed); "
                     "counted once")
                continue
            ids[ident] = r.path
            keep.append(i)
        if keep:
            out.append(r if len(keep) == len(r.seeds) else r.subset(keep))
    return out


def group(runs: Sequence[Run]) -> dict[str, dict[str, list[Run]]]:
    """``{algo: {env_id: [runs]}}``, every algorithm required to cover the same environments."""
    if not runs:
        raise UserError("no runs to report")
    out: dict[str, dict[str, list[Run]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        out[r.algo][r.env_id].append(r)
    envs = {a: sorted(e) for a, e in out.items()}
    if len({tuple(v) for v in envs.values()}) != 1:
        raise UserError(f"algorithms cover different environments: {envs}; report them separately")
    return {a: dict(e) for a, e in out.items()}


def score_matrix(runs_by_env: Mapping[str, list[Run]], envs: Sequence[str], algo: str) -> np.ndarray:
    """``[runs, tasks]`` raw final scores of one algorithm, diverged seeds left out; equal counts per task required."""
    cols = []
    for env in envs:
        runs = runs_by_env[env]
        bad = [f"{r.path} seed {s}" for r in runs for s, st in zip(r.seeds, r.status, strict=True)
               if st == "no_episode"]
        if bad:
            raise UserError(f"{algo} on {env}: some seeds finished no episode (NaN score, not marked diverged): "
                            f"{bad}; train them longer or leave those runs out")
        cols.append(np.concatenate([r.scores[[st == "ok" for st in r.status]] for r in runs]))
    counts = {env: len(c) for env, c in zip(envs, cols, strict=True)}
    if len(set(counts.values())) != 1 or not all(counts.values()):
        div = {env: sum(st == "diverged" for r in runs_by_env[env] for st in r.status) for env in envs}
        raise UserError(f"{algo}: different numbers of runs per environment {counts} (diverged seeds, left out: "
                        f"{div}); use equal seed counts")
    return np.stack(cols, axis=1)


def diverged_seeds(grouped: Mapping[str, Mapping[str, list[Run]]]) -> list[dict[str, Any]]:
    """One record per diverged seed: algorithm, environment, run, seed, and the update and quantity that diverged."""
    return [
        {"algo": a, "env_id": env, "run": str(r.path), "seed": s, **r.diverged.get(s, {})}
        for a, by_env in grouped.items()
        for env, runs in by_env.items()
        for r in runs
        for s, st in zip(r.seeds, r.status, strict=True)
        if st == "diverged"
    ]


def build_report(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    refs: Mapping[str, tuple[float, float]] | None = None,
    reps: int = 2000,
    seed: int = 0,
    warn: Callable[[str], Any] = _stderr,
) -> str:
    """Write the report files into ``out`` and return the Markdown text (``warn``: duplicates dropped)."""
    unique = list({Path(p).resolve(): p for p in reversed(list(run_dirs))}.values())[::-1]
    if len(unique) < len(run_dirs):
        warn(f"{len(run_dirs) - len(unique)} run director{'y is' if len(run_dirs) - len(unique) == 1 else 'ies are'} "
             "listed more than once; each is counted once")
    runs = dedupe([load_run(p) for p in unique], warn)
    grouped = group(runs)
    diverged = diverged_seeds(grouped)
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

    md = _markdown(algos, envs, raw, agg, poi, low, high, pooled, reps, diverged)
    (out / "report.md").write_text(md)
    write_json(
        out / "aggregate.json",
        {
            "runs": [str(r.path) for r in runs],
            "seeds": {str(r.path): r.seeds for r in runs},
            "diverged": diverged,
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


def _markdown(algos, envs, raw, agg, poi, low, high, pooled, reps, diverged) -> str:
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
    if diverged:
        lines += ["", f"Diverged seeds ({len(diverged)}), left out of every number above:", "",
                  "| Algorithm | Task | Run | Seed | Update | Quantity |", "|---|---|---|---|---|---|"]
        lines += [f"| {d['algo']} | {d['env_id']} | {d['run']} | {d['seed']} | {d.get('update', '?')} | "
                  f"{d.get('quantity', '?')} |" for d in diverged]
    return "\n".join(lines) + "\n"


def parse_ref(text: str) -> tuple[str, tuple[float, float]]:
    """``"ENV=LOW:HIGH"`` -> ``(env, (low, high))``."""
    try:
        env, rng = text.split("=", 1)
        lo, hi = (float(v) for v in rng.split(":"))
    except ValueError as e:
        raise UserError(f"--ref expects ENV=LOW:HIGH, got {text!r}") from e
    if not hi > lo:
        raise UserError(f"--ref {text!r}: HIGH must exceed LOW")
    return env, (lo, hi)


def run_cli(args: Any) -> int:
    refs = dict(parse_ref(r) for r in args.ref)
    md = build_report(args.runs, args.out, refs, args.reps, args.seed)
    print(md)
    print(f"report written to {args.out}/")
    return 0
