"""Off-policy agents: throughput and final return, the rejax comparison, and actor lag.

``python -m benchmarks.offpolicy`` runs

* every agent (DQN, PQN, discrete SAC on CartPole-v1; SAC, TD3 on
  Pendulum-v1) at 1 and 16 ``vmap``-ed seeds as one jitted program: compile
  seconds, run seconds, env steps per second (all seeds), final training
  return (mean of the last 10% of updates) and greedy evaluation return;
* the rejax reference: 45 discrete-SAC CartPole-v1 agents of 100k steps each
  in one program (rejax reports 61 s on a Colab T4 GPU, about 73k steps/s);
* ``--lag``: learning with actor lag ``k = 0`` vs ``k > 0`` (acting with
  parameters ``k`` iterations old, the on-device form of the fin-ray study's
  asynchronous workers) for SAC on the fin-ray and Kuramoto-Sivashinsky
  environments.

``--quick`` shrinks budgets for a smoke run. Each section prints a table and
all go into one JSON record under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import time
from typing import Any

import jax
import numpy as np

import jaxrl
from benchmarks.common import print_table, write_result

REJAX = {"agents": 45, "steps_each": 100_000, "wall_s": 61.0, "steps_per_s": 73_000, "device": "Colab T4 GPU"}
# discrete SAC for the comparison: 32 envs per agent, one update of 128 samples per 32 env steps
REJAX_SAC = dict(num_envs=32, gradient_steps=1, batch_size=128, learning_starts=2_000, tau=0.05, buffer_size=20_000)

# (label, module, env, config overrides); budgets are each agent's default learning budget on that env
AGENTS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("dqn", "jaxrl.agents.dqn", "CartPole-v1", {}),
    ("pqn", "jaxrl.agents.pqn", "CartPole-v1", {}),
    ("sac-discrete", "jaxrl.agents.sac", "CartPole-v1", {}),
    ("sac", "jaxrl.agents.sac", "Pendulum-v1", {}),
    ("td3", "jaxrl.agents.td3", "Pendulum-v1", {}),
]


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _config(mod, env_id: str, overrides: dict[str, Any], quick: bool):
    cfg = mod.Config(env_id=env_id, **overrides)
    if quick:
        cfg = cfg.replace(total_timesteps=max(cfg.total_timesteps // 10, 1))
        if hasattr(cfg, "learning_starts"):
            cfg = cfg.replace(learning_starts=min(cfg.learning_starts, cfg.total_timesteps // 4))
    return cfg


def run_agent(mod, cfg, seeds: int) -> dict[str, Any]:
    """One jitted program of ``seeds`` runs: timings, steps/s, final training and greedy returns."""
    agent = jaxrl.make_agent(mod.__name__.rsplit(".", 1)[-1], cfg)  # the registered agent of this family
    train = agent.make_train()
    keys = jax.random.split(jax.random.key(0), seeds)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    compiled = jax.jit(jax.vmap(train)).lower(keys).compile()
    compile_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    states, metrics = jax.block_until_ready(compiled(keys))
    run_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    steps = int(np.asarray(metrics["env_steps"])[:, -1].sum())  # env steps of all seeds
    r = np.asarray(metrics["episode_return"])
    tail = max(r.shape[1] // 10, 1)
    ev = jax.jit(jax.vmap(lambda k, s: agent.evaluate(k, s, 10)))(jax.random.split(jax.random.key(1), seeds), states)
    return {
        "env": cfg.env_id,
        "seeds": seeds,
        "steps_each": int(steps // seeds),
        "compile_s": round(compile_s, 2),
        "run_s": round(run_s, 2),
        "cpu_s": round(cpu_s, 2),
        "steps_per_s": round(steps / run_s),
        "final_return": round(float(np.nanmean(r[:, -tail:])), 1),
        "eval_return": round(float(np.nanmean(np.asarray(ev))), 1),
        "load_avg": round(load, 2),
    }


def bench_agents(seed_counts: list[int], quick: bool, only: list[str] | None = None) -> list[dict]:
    rows = []
    for label, module, env_id, overrides in AGENTS:
        if only and label not in only:
            continue
        mod = _module(module)
        if mod is None:
            print(f"{module} is not available: skipping {label}")
            continue
        cfg = _config(mod, env_id, overrides, quick)
        for n in seed_counts:
            rows.append({"agent": label, **run_agent(mod, cfg, n)})
            print_table(rows[-1:])
    return rows


def bench_rejax(quick: bool) -> dict | None:
    """45 discrete-SAC agents on CartPole-v1, 100k steps each, in one program."""
    mod = _module("jaxrl.agents.sac")
    if mod is None:
        return None
    cfg = _config(mod, "CartPole-v1", {"total_timesteps": REJAX["steps_each"], **REJAX_SAC}, quick)
    row = {"agent": "sac-discrete", **run_agent(mod, cfg, REJAX["agents"])}
    row["rejax_steps_per_s"] = REJAX["steps_per_s"]
    row["speedup_vs_rejax_t4"] = round(row["steps_per_s"] / REJAX["steps_per_s"], 2)
    print_table([row])
    return row


# SAC with 8 envs ("workers") and 4 learner updates per iteration; KS with the study's gamma and batch
LAG_SAC = dict(num_envs=8, gradient_steps=4, learning_starts=2_000)
LAG_ENVS = [
    ("FinPlate-Thrust-v1", dict(LAG_SAC, gamma=0.95)),
    ("FinRay-Thrust-v1", dict(LAG_SAC, gamma=0.95)),
    ("KS-v0", dict(LAG_SAC, gamma=0.977, batch_size=128)),
]


def bench_lag(lags: list[int], seeds: int, steps: int, quick: bool, envs: list[str] | None) -> list[dict]:
    """SAC with actor lag k: final training return and greedy evaluation per (env, k)."""
    mod = _module("jaxrl.agents.sac")
    if mod is None:
        return []
    rows = []
    for env_id, overrides in LAG_ENVS:
        if envs and env_id not in envs:
            continue
        for k in lags:
            cfg = _config(mod, env_id, {**overrides, "total_timesteps": steps, "actor_lag": k}, quick)
            row = {"agent": "sac", "actor_lag": k, **run_agent(mod, cfg, seeds)}
            rows.append(row)
            print_table([row])
    return rows


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 16], help="vmapped seeds per agent run")
    p.add_argument("--quick", action="store_true", help="10x smaller budgets (smoke run)")
    p.add_argument("--skip-agents", action="store_true")
    p.add_argument("--agents", nargs="*", default=None, help=f"only these of {[a[0] for a in AGENTS]}")
    p.add_argument("--skip-rejax", action="store_true")
    p.add_argument("--lag", type=int, nargs="*", default=None, help="actor lags to compare, e.g. --lag 0 4 16")
    p.add_argument("--lag-seeds", type=int, default=2)
    p.add_argument("--lag-steps", type=int, default=20_000)
    p.add_argument("--lag-envs", nargs="*", default=None)
    args = p.parse_args(argv)
    record: dict[str, Any] = {"args": vars(args)}
    if not args.skip_agents:
        record["agents"] = bench_agents(args.seeds, args.quick, args.agents)
    if not args.skip_rejax:
        record["rejax"] = bench_rejax(args.quick)
    if args.lag:
        record["actor_lag"] = bench_lag(args.lag, args.lag_seeds, args.lag_steps, args.quick, args.lag_envs)
    write_result("offpolicy", record)
    return record


if __name__ == "__main__":
    main()
