"""LPG vs TA-LPG vs PPO: ``python -m jaxrl.meta.lpg.study [--preset cpu|reduced]``.

1. Meta-train LPG and TA-LPG (:mod:`jaxrl.meta.lpg.meta_train`: OpenAI-ES, antithetic pairs
   sharing level and key, pairwise shaping) on the gridworld distribution with log-uniform
   lifetimes. Each rule is a run directory ``runs/<rule>/`` with ``metrics.csv`` and an ES
   checkpoint written after every chunk of generations; an interrupted run resumes from it.
2. Train fresh agents with each discovered rule (the ES mean) and with PPO (the same
   ``num_envs x num_steps`` per update) on an in-distribution gridworld, held-out gridworlds and
   held-out MinAtar / control tasks, at several lifetimes ``N`` (updates). Score: the return of
   the greedy policy after ``N`` updates, normalised per task with :data:`REFERENCE`. Per method and
   lifetime: IQM with 95% stratified-bootstrap intervals (``jaxrl.stats``) over tasks x seeds, and
   P(TA-LPG > LPG), the study's key comparison, per lifetime.

Writes ``study.json`` (configuration, timings, per-task scores, aggregates),
``lifetimes.png`` and the discovered rules ``lpg_rule/`` and ``ta_lpg_rule/``
(:func:`jaxrl.meta.lpg.load_rule`) to ``--out`` (default ``benchmarks/results/lpg/<preset>/``). The full
configuration of the study (GRU 256, population 1024, 2,500 generations) is
``jaxrl.meta.lpg.meta_train.FULL``; it is meant for accelerators.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import stats
from jaxrl.agents import ppo
from jaxrl.meta.es import ESConfig
from jaxrl.meta.lpg.agent import AgentConfig, LPGAgent
from jaxrl.meta.lpg.meta_train import LPGMetaConfig, LPGMetaTrainer
from jaxrl.meta.lpg.network import save_rule
from jaxrl.runs import RunDir

# (low, high) returns for normalisation: grids 0 (never reaches the goal) to 1; CartPole 0 to 500;
# Breakout-MinAtar 0 to 30 (a strong DQN-level score).
REFERENCE = {"CartPole-v1": (0.0, 500.0), "Breakout-MinAtar": (0.0, 30.0)}
EVAL_TASKS: dict[str, dict[str, Any]] = {
    "MiniGrid-Empty-Random-6x6-v0": dict(obs_scale=0.1),  # inside the training distribution
    "MiniGrid-DoorKey-5x5-v0": dict(obs_scale=0.1),  # held out: keys and doors never seen
    "MiniGrid-LavaCrossingS9N1-v0": dict(obs_scale=0.1),  # held out: larger, a river of lava
    "CartPole-v1": dict(obs_scale=1.0),  # held out: control
    "Breakout-MinAtar": dict(obs_scale=1.0),  # held out: MinAtar
}
PRESETS: dict[str, dict[str, Any]] = {
    # measured: 300 generations in 20-21 min per rule with another process on the 2 cores, evaluation 8 min
    "cpu": dict(generations=300, popsize=32, chunk=10, eval_seeds=8, lifetimes=(20, 80, 250)),
    "reduced": dict(generations=4, popsize=8, chunk=2, eval_seeds=2, lifetimes=(10, 20)),
}
RULES = ("lpg", "ta_lpg")
METHODS = ("ppo", "lpg", "ta_lpg")


def normalise(env_id: str, returns: np.ndarray) -> np.ndarray:
    lo, hi = REFERENCE.get(env_id, (0.0, 1.0))
    return (np.asarray(returns, np.float64) - lo) / (hi - lo)


# --------------------------------------------------------------------------- 1. meta-training
def meta_train(cfg: LPGMetaConfig, run_dir: Path, chunk: int, seed: int = 0, log: Any = print) -> tuple[Any, dict]:
    """Run (or resume) ``cfg.generations`` generations (the shared run driver); ``(rule (ES mean), summary)``."""
    from jaxrl.meta.es_diagnostics import write_diagnostics
    from jaxrl.meta.runner import run_es

    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = LPGMetaTrainer(cfg)
    resume = (run_dir / "config.json").exists()
    if not resume:
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1, default=str))
    t0 = time.perf_counter()

    def report(done: int, total: int, m: dict[str, np.ndarray], seconds: float) -> None:
        log(f"  gen {done:4d}/{total}  fitness mean {np.nanmean(m['fitness_mean']):.3f}  "
            f"lifetime {np.nanmean(m['lifetime']):5.1f}  {time.perf_counter() - t0:6.0f} s")  # fmt: skip

    result, _ = run_es(trainer, run_dir, seed, cfg.generations, chunk, resume=resume, progress=report, log=log)
    diag = write_diagnostics(run_dir)  # diagnostics.json / .png: is the search going anywhere?
    if diag.get("warning"):
        log(f"  WARNING: {diag['warning']}")
    return trainer.es.mean(result.state), {"generations": result.done, "wall_s": time.perf_counter() - t0}


# --------------------------------------------------------------------------- 2. evaluation
def eval_rule(rule: Any, params: Any, agent_cfg: AgentConfig, lifetimes: tuple[int, ...], seeds: int,
              seed: int) -> np.ndarray:  # fmt: skip
    """Greedy-policy return ``[len(lifetimes), seeds]`` after training with ``rule`` (one compile)."""
    agent = LPGAgent(agent_cfg, rule)

    def one(key, n):
        k_train, k_eval = jax.random.split(key)
        state, _ = agent.lifetime(k_train, params, n)
        return jnp.nanmean(agent.evaluate(k_eval, state, 8))

    fn = jax.jit(jax.vmap(one, in_axes=(0, None)))
    keys = jax.random.split(jax.random.key(seed), seeds)
    return np.stack([np.asarray(fn(keys, jnp.int32(n))) for n in lifetimes])


def eval_ppo(agent_cfg: AgentConfig, lifetimes: tuple[int, ...], seeds: int, seed: int) -> np.ndarray:
    """PPO (4 epochs x 4 minibatches per update, no annealing) with the agent's batch shape, same protocol."""
    cfg = ppo.Config(
        env_id=agent_cfg.env_id, num_envs=agent_cfg.num_envs, num_steps=agent_cfg.num_steps,
        total_timesteps=max(lifetimes) * agent_cfg.batch_size, num_minibatches=4, lr=agent_cfg.lr / 3,
        anneal_lr=False, normalize_obs=True,
    )  # fmt: skip
    agent = ppo.PPO(cfg)
    chunk = int(np.gcd.reduce(np.array(lifetimes)))
    step = jax.jit(jax.vmap(lambda s: agent.train_chunk(s, chunk)[0]))
    evaluate = jax.jit(jax.vmap(lambda k, s: jnp.nanmean(agent.evaluate(k, s, 8))))
    keys = jax.random.split(jax.random.key(seed), seeds)
    state = jax.vmap(agent.init)(jax.vmap(lambda k: jax.random.split(k)[0])(keys))
    eval_keys = jax.vmap(lambda k: jax.random.split(k)[1])(keys)
    out, done = [], 0
    for n in lifetimes:
        while done < n:
            state, done = step(state), done + chunk
        out.append(np.asarray(evaluate(eval_keys, state)))
    return np.stack(out)


def summarise(scores: dict[str, dict[str, np.ndarray]], lifetimes: tuple[int, ...], reps: int = 2000) -> dict:
    """IQM [95% CI] per method and lifetime over tasks x seeds; P(TA-LPG > LPG), P(rule > PPO) per lifetime."""
    tasks = sorted(scores)
    out: dict[str, Any] = {"iqm": {}, "poi": {}}
    for i, n in enumerate(lifetimes):
        per = {m: np.stack([scores[t][m][i] for t in tasks], axis=1) for m in METHODS}  # [seeds, tasks]
        out["iqm"][n] = {m: dict(zip(("iqm", "low", "high"), stats.stratified_bootstrap_ci(per[m], stats.iqm,
                                                                                           reps=reps), strict=True))
                         for m in METHODS}  # fmt: skip
        out["poi"][n] = {
            f"{a} > {b}": dict(zip(("p", "low", "high"), stats.poi_ci(per[a], per[b], reps=reps), strict=True))
            for a, b in (("ta_lpg", "lpg"), ("lpg", "ppo"), ("ta_lpg", "ppo"))
        }
    return out


def plot(summary: dict, lifetimes: tuple[int, ...], path: Path) -> None:
    from jaxrl.plots import pyplot

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for m in METHODS:
        v = [summary["iqm"][n][m] for n in lifetimes]
        ax.errorbar(lifetimes, [x["iqm"] for x in v],
                    yerr=[[x["iqm"] - x["low"] for x in v], [x["high"] - x["iqm"] for x in v]], label=m, capsize=3,
                    marker="o")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xticks(lifetimes, [str(n) for n in lifetimes])
    ax.minorticks_off()
    ax.set_xlabel("lifetime N (updates)")
    ax.set_ylabel("normalised score (IQM, 95% CI)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    p.add_argument("--out", help="output folder (default benchmarks/results/lpg/<preset>)")
    p.add_argument("--generations", type=int)
    p.add_argument("--rules", nargs="+", default=list(RULES), choices=RULES)
    p.add_argument("--skip-meta", action="store_true", help="evaluate the rules already in --out")
    args = p.parse_args(argv)
    preset = dict(PRESETS[args.preset])
    if args.generations:
        preset["generations"] = args.generations
    out = Path(args.out or Path("benchmarks/results/lpg") / args.preset)
    lifetimes = tuple(preset["lifetimes"])
    t_start = time.perf_counter()
    base = LPGMetaConfig(
        generations=preset["generations"],
        es=ESConfig(popsize=preset["popsize"], lr=1e-2, sigma=0.1, shaping="pairwise", antithetic=True),
    )
    rules, meta = {}, {}
    for name in args.rules:
        cfg = base.replace(time_aware=name == "ta_lpg")
        print(f"[meta] {name}: {cfg.generations} generations, population {cfg.es.popsize}", flush=True)
        if args.skip_meta:
            if RunDir(out / "runs" / name).latest_checkpoint() is None:
                raise SystemExit(f"--skip-meta: no meta-trained {name} in {out / 'runs' / name}")
            cfg = cfg.replace(generations=1)  # restores the checkpoint; trains nothing more
        params, meta[name] = meta_train(cfg, out / "runs" / name, preset["chunk"])
        save_rule(out / f"{name}_rule", cfg.rule, params, {"generations": meta[name]["generations"]})
        rules[name] = (cfg.rule, params)

    scores: dict[str, dict[str, np.ndarray]] = {}
    timing: dict[str, dict[str, float]] = {}
    for env_id, overrides in EVAL_TASKS.items():
        agent_cfg = base.agent.replace(env_id=env_id, **overrides)
        scores[env_id], timing[env_id] = {}, {}
        for m in METHODS:
            t = time.perf_counter()
            if m == "ppo":
                r = eval_ppo(agent_cfg, lifetimes, preset["eval_seeds"], seed=1)
            elif m in rules:
                r = eval_rule(*rules[m], agent_cfg, lifetimes, preset["eval_seeds"], seed=1)
            else:
                continue
            scores[env_id][m], timing[env_id][m] = normalise(env_id, r), time.perf_counter() - t
            print(
                f"[eval] {env_id:30s} {m:7s} "
                + "  ".join(f"N={n}: {np.nanmean(v):.3f}" for n, v in zip(lifetimes, scores[env_id][m], strict=True)),
                flush=True,
            )
    summary = summarise(scores, lifetimes) if set(rules) == set(RULES) else {}
    if summary:
        plot(summary, lifetimes, out / "lifetimes.png")
        for n in lifetimes:
            row = "  ".join(
                f"{m} {v['iqm']:.3f} [{v['low']:.3f}, {v['high']:.3f}]" for m, v in summary["iqm"][n].items()
            )
            poi = summary["poi"][n]["ta_lpg > lpg"]
            print(f"N={n:4d}  {row}  P(TA-LPG > LPG) {poi['p']:.2f} [{poi['low']:.2f}, {poi['high']:.2f}]")
    record = {
        "preset": args.preset,
        "settings": preset,
        "meta_config": base.to_dict(),
        "meta": meta,
        "scores": {t: {m: v.tolist() for m, v in d.items()} for t, d in scores.items()},
        "eval_wall_s": timing,
        "summary": summary,
        "total_wall_s": time.perf_counter() - t_start,
        "versions": {"jax": jax.__version__},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.json").write_text(json.dumps(record, indent=1, default=str))
    print(f"wrote {out / 'study.json'} ({record['total_wall_s'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
