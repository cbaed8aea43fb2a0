"""Meta-training throughput: inner PPO steps per second across a whole ES population.

``python -m benchmarks.meta`` times one jitted chunk of ES generations of LPO
meta-training (ask -> train PPO for every member x seed x environment under
``vmap`` -> shape -> tell) for populations of 16 and 64 and reports

    steps_per_s = popsize * seeds * sum over environments of env steps per run * generations / wall seconds

(inner-training environment steps, each with its share of PPO's gradient updates,
per second of wall time), with the compile time, the process CPU time and the
machine's load average. Inner runs: CartPole-v1 with PureJaxRL's PPO settings
(4 envs x 128 steps, 4 epochs x 4 minibatches) and a short horizon.
``--member-batch B`` trains B runs at a time (``lax.map`` over chunks) to show the
cost of bounding memory. Writes ``benchmarks/results/meta-<utc>.json``.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np

from benchmarks.common import print_table, write_result
from jaxrl.meta.es import ESConfig, MetaConfig, MetaTrainer, inner_configs


def bench(popsize: int, args: argparse.Namespace) -> dict:
    inner = inner_configs(args.envs, total_timesteps=args.total_steps)
    cfg = MetaConfig(
        objective=args.objective,
        inner=inner,
        es=ESConfig(popsize=popsize, num_seeds=args.seeds, common_random_numbers=False),
        generations=args.generations,
        member_batch=args.member_batch,
        fitness="train",  # the regime of the earlier records (no evaluation episodes): comparable throughput
    )
    trainer = MetaTrainer(cfg)
    state = jax.jit(trainer.init)(jax.random.key(0))
    fn = jax.jit(lambda s: trainer.run(s, args.generations))
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    state, metrics = jax.block_until_ready(fn(state))
    first = time.perf_counter() - t0
    runs = []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        state, metrics = jax.block_until_ready(fn(state))
        runs.append((time.perf_counter() - t0, time.process_time() - c0))
    wall, cpu = min(runs)
    steps = cfg.inner_steps * args.generations
    return {
        "objective": args.objective,
        "envs": "+".join(args.envs),
        "popsize": popsize,
        "seeds": args.seeds,
        "inner_runs": popsize * args.seeds * len(args.envs),
        "steps_per_run": sum(c.num_updates * c.batch_size for c in inner) // len(inner),
        "generations": args.generations,
        "member_batch": args.member_batch,
        "compile_s": round(max(first - wall, 0.0), 2),
        "run_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "steps_per_s": round(steps / wall),
        "steps_per_cpu_s": round(steps / cpu) if cpu > 0 else None,
        "fitness_mean": round(float(np.nanmean(np.asarray(metrics["fitness_mean"]))), 2),
        "load_avg": round(load, 2),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--popsizes", type=int, nargs="+", default=[16, 64])
    p.add_argument("--seeds", type=int, default=2, help="inner seeds per member")
    p.add_argument("--envs", nargs="+", default=["CartPole-v1"], help="training environments")
    p.add_argument("--total-steps", type=int, default=16_384, help="env steps per inner run")
    p.add_argument("--generations", type=int, default=1, help="generations per timed call")
    p.add_argument("--repeats", type=int, default=2, help="timed calls (best is reported)")
    p.add_argument("--member-batch", type=int, default=None, help="inner runs trained at once (default all)")
    p.add_argument("--objective", default="lpo", choices=["lpo", "ta_lpo"])
    args = p.parse_args(argv)
    rows = []
    for popsize in args.popsizes:
        rows.append(bench(popsize, args))
        print_table(rows[-1:])
    print_table(rows, title="LPO meta-training throughput (inner PPO env steps per second of wall time)")
    write_result("meta", {"args": vars(args), "rows": rows})


if __name__ == "__main__":
    main()
