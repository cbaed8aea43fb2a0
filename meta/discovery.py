"""Discovery run: evolve LPO and TA-LPO on a cheap task, then test them against PPO elsewhere.

    python -m jaxrl.meta.discovery                    # full preset: < 30 min on an otherwise idle 2-core CPU
    python -m jaxrl.meta.discovery --preset reduced   # a few minutes: proves the pipeline end to end

1. Meta-train LPO and TA-LPO (OpenAI-ES, antithetic pairs, common random numbers across the
   generation, centered-rank shaping) on CartPole-v1 with a short PPO horizon; fitness = the return
   of fresh evaluation episodes of the final agent / 500 (MetaConfig's defaults).
   Each is a ``jaxrl meta`` run directory (metrics.csv, checkpoint/, objective_mean/).
2. Evaluate PPO-clip, DPO, discovered LPO and discovered TA-LPO (ES mean parameters) with
   fresh seeds (the same seeds for every objective) on the training task, on CartPole at
   shorter and longer horizons and on held-out Acrobot-v1; score = final training return
   (mean over the last 10% of updates), normalised per task to [0, 1]
   (CartPole: R / 500, Acrobot: (R + 500) / 500); IQM with 95% stratified-bootstrap
   intervals (``jaxrl.stats``) per task, over held-out tasks, and P(objective > PPO).
3. Plot drift heat maps over (r, A): PPO, DPO, LPO, and TA-LPO at several n/N.

Writes to ``--out`` (default ``benchmarks/results/meta/<preset>/``): ``discovery.json``,
``lpo_params/`` and ``ta_lpo_params/`` (``jaxrl.meta.objectives.load_objective``),
``drift_lpo.png``, ``drift_ta_lpo.png`` and ``runs/<objective>/``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxrl import stats
from jaxrl.agents import ppo
from jaxrl.meta.es import ESConfig, MetaConfig, inner_configs
from jaxrl.meta.objectives import make_objective

REFERENCE = {"CartPole-v1": (0.0, 500.0), "Acrobot-v1": (-500.0, 0.0)}  # (low, high) score range per env

PRESETS: dict[str, dict[str, Any]] = {
    # 2 x 80 generations x 1.05M inner steps + evaluation (~7.5M steps, 16 compiles): about 17 min at 200k
    # inner steps/s, 22 min at 150k (measured: 120-150k inner steps per CPU-second, benchmarks/meta.py)
    "full": dict(
        generations=80,
        popsize=16,
        seeds=2,
        train_steps=32_768,
        eval_seeds=8,
        sigma_decay=0.995,
        tasks=[("CartPole-v1", 32_768), ("CartPole-v1", 8_192), ("CartPole-v1", 131_072), ("Acrobot-v1", 65_536)],
    ),
    "reduced": dict(
        generations=8,
        popsize=8,
        seeds=2,
        train_steps=16_384,
        eval_seeds=4,
        sigma_decay=1.0,
        tasks=[("CartPole-v1", 16_384), ("CartPole-v1", 8_192), ("CartPole-v1", 65_536), ("Acrobot-v1", 32_768)],
    ),
}
EVAL_OBJECTIVES = ("ppo", "dpo", "lpo", "ta_lpo")


def final_returns(
    cfg: ppo.Config, objective: Any, params: Any, seeds: int, seed: int = 12345
) -> tuple[np.ndarray, float]:
    """Final training return ``[seeds]`` (mean episode return over the last 10% of updates) and wall seconds.

    All seeds train in one ``vmap``-ed program; the keys depend only on ``seed`` so every
    objective sees the same seeds (a paired comparison).
    """
    train = ppo.make_train(cfg, objective)
    keys = jax.random.split(jax.random.key(seed), seeds)
    t0 = time.perf_counter()
    _, metrics = jax.block_until_ready(jax.jit(jax.vmap(train, in_axes=(0, None, None)))(keys, None, params))
    window = max(1, cfg.num_updates // 10)
    r = np.asarray(metrics["episode_return"])[:, -window:]
    return np.nanmean(r, axis=1), time.perf_counter() - t0


def normalise(env_id: str, returns: np.ndarray) -> np.ndarray:
    lo, hi = REFERENCE[env_id]
    return (np.asarray(returns, np.float64) - lo) / (hi - lo)


def ci(scores: np.ndarray, reps: int = 2000) -> dict[str, float]:
    point, lo, hi = stats.stratified_bootstrap_ci(scores, stats.iqm, reps=reps)
    return {"iqm": point, "low": lo, "high": hi}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="full")
    p.add_argument("--out", help="output folder (default benchmarks/results/meta/<preset>)")
    p.add_argument("--generations", type=int)
    p.add_argument("--popsize", type=int)
    p.add_argument("--seeds", type=int, help="inner seeds per member during meta-training")
    p.add_argument("--train-steps", type=int, help="env steps of each meta-training inner run")
    p.add_argument("--eval-seeds", type=int)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--sigma", type=float, default=0.04)
    p.add_argument("--objectives", nargs="+", default=["lpo", "ta_lpo"], choices=["lpo", "ta_lpo"])
    p.add_argument("--skip-meta", action="store_true", help="reuse the runs already in --out (evaluate and plot)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    preset = dict(PRESETS[args.preset])
    for k in ("generations", "popsize", "seeds", "train_steps", "eval_seeds"):
        if getattr(args, k) is not None:
            preset[k] = getattr(args, k)
    out = Path(args.out or Path("benchmarks/results/meta") / args.preset)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    from jaxrl.meta.cli import run_meta
    from jaxrl.meta.objectives import load_objective, save_objective
    from jaxrl.meta.runner import GenerationCSV

    # ---------------------------------------------------------------- 1. meta-training
    meta: dict[str, Any] = {}
    discovered: dict[str, Any] = {}
    for name in args.objectives:
        cfg = MetaConfig(
            objective=name,
            inner=inner_configs(["CartPole-v1"], total_timesteps=preset["train_steps"]),
            es=ESConfig(
                popsize=preset["popsize"],
                num_seeds=preset["seeds"],
                lr=args.lr,
                sigma=args.sigma,
                sigma_decay=preset["sigma_decay"],
                sigma_min=0.01,
            ),
            generations=preset["generations"],
            normalise={"CartPole-v1": REFERENCE["CartPole-v1"]},
        )
        run_dir = out / "runs" / name
        t0 = time.perf_counter()
        if not args.skip_meta:
            if run_dir.exists():
                import shutil

                shutil.rmtree(run_dir)
            print(f"== meta-training {name}: {cfg.inner_steps:,} inner env steps per generation", flush=True)
            summary = run_meta(cfg, run_dir, seed=0, progress=not args.no_progress, command=["discovery"])
        else:
            import json

            summary = json.loads((run_dir / "summary.json").read_text())
        objective, params, _ = load_objective(run_dir / "objective_mean")
        save_objective(out / f"{name}_params", objective, params, {"source": str(run_dir), "preset": args.preset})
        discovered[name] = params
        curve = GenerationCSV(run_dir / "metrics.csv").read()
        meta[name] = {
            "config": cfg.to_dict(),
            "wall_s": round(time.perf_counter() - t0, 1),
            "summary": summary,
            "fitness_mean_per_generation": curve["fitness_mean"].round(4).tolist(),
            "fitness_best_per_generation": curve["fitness_best"].round(4).tolist(),
            "sigma_per_generation": curve["sigma"].round(5).tolist(),
        }
        print(
            f"{name}: fitness mean first gen {curve['fitness_mean'][0]:.3f} -> last gen {curve['fitness_mean'][-1]:.3f}"
            f" (best member ever {summary['best_fitness']:.3f}), {meta[name]['wall_s']} s",
            flush=True,
        )

    # ---------------------------------------------------------------- 2. evaluation
    tasks = [(env, steps) for env, steps in preset["tasks"]]
    train_task = ("CartPole-v1", preset["train_steps"])
    if train_task not in tasks:
        tasks.insert(0, train_task)
    names = [n for n in EVAL_OBJECTIVES if n in ("ppo", "dpo") or n in discovered]
    raw: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    scores: dict[str, dict[str, np.ndarray]] = {n: {} for n in names}
    t_eval = time.perf_counter()
    for env, steps in tasks:
        cfg = ppo.Config(env_id=env, total_timesteps=steps)
        label = f"{env}@{steps}"
        for n in names:
            obj = make_objective(n, cfg.num_updates)
            r, dt = final_returns(cfg, obj, discovered.get(n), preset["eval_seeds"])
            raw[n][label] = r.tolist()
            scores[n][label] = normalise(env, r)
            print(
                f"eval {label:<22} {n:<7} return {np.nanmean(r):8.2f} +- {np.nanstd(r):6.2f}  ({dt:.1f} s)", flush=True
            )
    eval_s = time.perf_counter() - t_eval

    labels = [f"{e}@{s}" for e, s in tasks]
    train_label = f"{train_task[0]}@{train_task[1]}"
    held_out = [lab for lab in labels if lab != train_label]
    results: dict[str, Any] = {"per_task": {}, "held_out": {}, "all": {}, "p_improvement_vs_ppo": {}}
    for n in names:
        results["per_task"][n] = {lab: ci(scores[n][lab][:, None]) for lab in labels}
        results["held_out"][n] = ci(np.stack([scores[n][lab] for lab in held_out], axis=1))
        results["all"][n] = ci(np.stack([scores[n][lab] for lab in labels], axis=1))
        if n != "ppo":
            x = np.stack([scores[n][lab] for lab in held_out], axis=1)
            y = np.stack([scores["ppo"][lab] for lab in held_out], axis=1)
            poi, lo, hi = stats.poi_ci(x, y)
            results["p_improvement_vs_ppo"][n] = {"held_out": {"p": poi, "low": lo, "high": hi}}
    print("\nIQM of normalised final return, 95% stratified-bootstrap CI")
    header = f"{'objective':<8} " + " ".join(f"{lab:>24}" for lab in labels) + f" {'held-out':>24}"
    print(header)
    for n in names:
        cells = [results["per_task"][n][lab] for lab in labels] + [results["held_out"][n]]
        print(f"{n:<8} " + " ".join(f"{c['iqm']:6.3f} [{c['low']:.3f},{c['high']:.3f}]".rjust(24) for c in cells))

    # ---------------------------------------------------------------- 3. heat maps
    from jaxrl.meta.plots import plot_drift_heatmaps

    plots = {}
    panels = [("PPO-clip", make_objective("ppo"), None, 1.0), ("DPO", make_objective("dpo"), None, 1.0)]
    if "lpo" in discovered:
        panels.append(("LPO (discovered)", make_objective("lpo"), discovered["lpo"], 1.0))
    plots["drift_lpo"] = str(plot_drift_heatmaps(panels, out / "drift_lpo.png", "Drift over (r, A)"))
    if "ta_lpo" in discovered:
        n_train = ppo.Config(total_timesteps=preset["train_steps"]).num_updates
        ta = make_objective("ta_lpo", n_train)
        ta_panels = [(f"TA-LPO n/N={f:g}", ta, discovered["ta_lpo"], f) for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
        plots["drift_ta_lpo"] = str(plot_drift_heatmaps(ta_panels, out / "drift_ta_lpo.png", "TA-LPO drift vs n/N"))

    from jaxrl.runs import machine_info, utc_stamp, versions, write_json

    record = {
        "benchmark": "meta_discovery",
        "preset": args.preset,
        "reduced": args.preset != "full",
        "utc": utc_stamp(),
        "command": "python -m jaxrl.meta.discovery " + " ".join(argv if argv is not None else []),
        "machine": machine_info(),
        "versions": versions(extra=("evosax", "optax", "flax")),
        "settings": {k: v for k, v in preset.items()},
        "meta_training": meta,
        "evaluation": {
            "score": "final training return (mean over the last 10% of updates), normalised per task",
            "reference_ranges": REFERENCE,
            "seeds": preset["eval_seeds"],
            "train_task": train_label,
            "held_out_tasks": held_out,
            "raw_returns": raw,
            "iqm": results,
            "wall_s": round(eval_s, 1),
        },
        "artefacts": {
            **{f"{n}_params": str(out / f"{n}_params") for n in discovered},
            **plots,
        },
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    path = write_json(out / "discovery.json", record)
    print(f"\nwrote {path} ({record['wall_s']} s in all)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
