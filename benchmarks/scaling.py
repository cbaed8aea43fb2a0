"""Multi-device scaling: PPO seeds sharded over 1, 2, 4 devices with :mod:`jaxrl.sharding`.

``python -m benchmarks.scaling`` trains PPO on CartPole-v1 for ``--seeds`` seeds
(PureJaxRL's network and update shape, ``--total-steps`` env steps per seed) as
one program, ``sharding.sharded_vmap(train, batch_mesh(d))``, for every device
count ``d`` in ``--devices``. Each count runs in its own Python process with
``XLA_FLAGS=--xla_force_host_platform_device_count=d`` set before JAX starts
(the device count is fixed at start-up). ``--accelerator`` adds one process on
the default (non-CPU) backend over 1, 2, 4, ... of its devices, when it has one.

Per row: compile seconds, best run seconds (``--repeats`` timed calls), env steps
per second (all seeds), speed-up over one device, parallel efficiency
(speed-up / devices), the process CPU seconds of the best run and ``busy_cores =
cpu_s / run_s`` (how many cores it kept busy), and the machine's 1-minute load
when the row started (other processes).

Forced CPU "devices" are threads of one process sharing the machine's cores: on a
2-core machine nothing beyond 2 devices can scale, and other processes' load
takes cores away. Writes ``scaling-<utc>.json`` / ``scaling-latest.json`` and
``scaling.png`` (steps/s vs devices with the ideal linear line) under
``benchmarks/results/`` (``--name`` changes the prefix).

``returns_sha1`` fingerprints every seed's training curve. XLA's kernels depend
on the ``vmap`` width (seeds per device), so 16 seeds on 1 device vs 8 per device
on 2 round differently in the last bit and the runs drift apart over training;
with ``--chunk c`` every device runs its seeds ``c`` at a time and the fingerprints
of all device counts agree bitwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULT = "SCALING_RESULT "


# --------------------------------------------------------------------------- one device count (a subprocess)
def worker(devices: int, seeds: int, total_steps: int, repeats: int, chunk: int | None) -> list[dict[str, Any]]:
    """Time PPO over ``seeds`` seeds on the first ``devices`` devices of this process."""
    import hashlib

    import jax
    import numpy as np

    from jaxrl import sharding
    from jaxrl.agents import ppo

    cfg = ppo.Config(env_id="CartPole-v1", total_timesteps=total_steps)
    train = ppo.make_train(cfg)
    keys = jax.random.split(jax.random.key(0), seeds)
    steps = seeds * cfg.num_updates * cfg.batch_size
    fn = sharding.sharded_vmap(train, sharding.batch_mesh(devices), chunk=chunk)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    _, metrics = jax.block_until_ready(fn(keys))
    first = time.perf_counter() - t0
    runs = []  # (wall s, process CPU s) per timed call
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn(keys))
        runs.append((time.perf_counter() - t0, time.process_time() - c0))
    run_s, cpu_s = min(runs)
    returns = np.asarray(metrics["episode_return"])  # [seeds, updates]
    ret = returns[:, -10:]
    return [
        {
            "platform": jax.devices()[0].platform,
            "device_kind": jax.devices()[0].device_kind,
            "devices": devices,
            "seeds": seeds,
            "env_steps": steps,
            "compile_s": round(max(first - run_s, 0.0), 2),
            "run_s": round(run_s, 3),
            "median_s": round(float(np.median([w for w, _ in runs])), 3),
            "steps_per_s": round(steps / run_s),
            "cpu_s": round(cpu_s, 3),
            "busy_cores": round(cpu_s / run_s, 2),
            "final_return": round(float(np.nanmean(ret)), 1),
            "chunk": chunk,
            "returns_sha1": hashlib.sha1(returns.tobytes()).hexdigest()[:10],  # bitwise identity across rows
            "load_avg": round(load, 2),
            "cores": os.cpu_count(),
        }
    ]


def _spawn(args: list[str], env: dict[str, str], timeout: float) -> list[dict[str, Any]]:
    cmd = [sys.executable, "-m", "benchmarks.scaling", *args]
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=root)
    lines = [line[len(RESULT) :] for line in r.stdout.splitlines() if line.startswith(RESULT)]
    if r.returncode != 0 or not lines:
        print(f"worker {' '.join(args)} failed (rc {r.returncode}):\n{r.stderr[-3000:]}", flush=True)
        return []
    return json.loads(lines[-1])


def run_cpu(devices: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        "JAX_PLATFORMS": "cpu",
    }
    return _spawn(_worker_args(devices, args), env, args.timeout)


def run_accelerator(args: argparse.Namespace) -> list[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_PLATFORMS", "XLA_FLAGS")}
    return _spawn([*_worker_args(0, args), "--accelerator"], env, args.timeout)


def _worker_args(devices: int, args: argparse.Namespace) -> list[str]:
    return [
        *(["--chunk", str(args.chunk)] if args.chunk else []),
        "--worker",
        str(devices),
        "--seeds",
        str(args.seeds),
        "--total-steps",
        str(args.total_steps),
        "--repeats",
        str(args.repeats),
    ]


# --------------------------------------------------------------------------- report
def add_speedup(rows: list[dict[str, Any]]) -> None:
    """``speedup`` over the 1-device row of the same platform, ``efficiency`` = speedup / devices."""
    for platform in {r["platform"] for r in rows}:
        group = [r for r in rows if r["platform"] == platform]
        base = next((r["steps_per_s"] for r in group if r["devices"] == 1), None)
        for r in group:
            r["speedup"] = round(r["steps_per_s"] / base, 2) if base else None
            r["efficiency"] = round(r["speedup"] / r["devices"], 2) if base else None


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.2), constrained_layout=True)
    markers = {"cpu": "o", "gpu": "s", "tpu": "^"}
    for platform in sorted({r["platform"] for r in rows}):
        group = sorted((r for r in rows if r["platform"] == platform), key=lambda r: r["devices"])
        d = [r["devices"] for r in group]
        sps = [r["steps_per_s"] for r in group]
        label = f"{platform} ({group[0]['device_kind']})" if platform != "cpu" else f"CPU ({group[0]['cores']} cores)"
        label += f", load {max(r['load_avg'] for r in group):.1f}" if platform == "cpu" else ""
        (line,) = axes[0].plot(d, sps, marker=markers.get(platform, "o"), label=label)
        base = next((r["steps_per_s"] for r in group if r["devices"] == 1), None)
        if base and len(d) > 1:
            axes[0].plot(d, [base * x for x in d], ls="--", color=line.get_color(), alpha=0.6, label="ideal (linear)")
        if base:
            axes[1].plot(d, [r["efficiency"] for r in group], marker=markers.get(platform, "o"), color=line.get_color())
    cores = next((r["cores"] for r in rows if r["platform"] == "cpu"), None)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("devices")
        ax.set_xticks(sorted({r["devices"] for r in rows}), [str(x) for x in sorted({r["devices"] for r in rows})])
        ax.grid(alpha=0.3, which="both")
        if cores:
            ax.axvline(cores, color="grey", lw=0.8, ls=":")
    axes[0].set_ylim(bottom=0)
    axes[0].yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1e3:,.0f}k"))
    axes[0].set_ylabel("env steps / s (all seeds)")
    axes[0].legend(fontsize=7, frameon=False)
    axes[0].set_title("throughput (dashed: linear in devices)", fontsize=9)
    fig.suptitle(title, fontsize=10)
    axes[1].axhline(1.0, color="grey", lw=0.8, ls="--")
    axes[1].set_ylim(0, 1.2)
    axes[1].set_ylabel("parallel efficiency")
    axes[1].set_title("speed-up / devices (dotted: physical cores)", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    print(f"wrote {path}", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4], help="forced CPU device counts")
    p.add_argument("--seeds", type=int, default=16, help="PPO seeds (divisible by every device count)")
    p.add_argument("--total-steps", type=int, default=65_536, help="env steps per seed")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per device count (best is reported)")
    p.add_argument("--chunk", type=int, default=None, help="seeds per vmap call on a device (lax.map over chunks)")
    p.add_argument("--name", default="scaling", help="result name: <name>-latest.json and <name>.png")
    p.add_argument("--accelerator", action="store_true", help="also run on the default accelerator backend")
    p.add_argument("--timeout", type=float, default=600, help="seconds per worker process")
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker is not None:  # inside a subprocess: XLA_FLAGS / backend already fixed
        if args.accelerator:
            import jax

            if jax.devices()[0].platform == "cpu":
                print(RESULT + "[]", flush=True)
                return
            counts = [d for d in (1, 2, 4, 8, 16) if d <= jax.device_count() and args.seeds % d == 0]
            rows = [r for d in counts for r in worker(d, args.seeds, args.total_steps, args.repeats, args.chunk)]
        else:
            rows = worker(args.worker, args.seeds, args.total_steps, args.repeats, args.chunk)
        print(RESULT + json.dumps(rows), flush=True)
        return

    from benchmarks.common import RESULTS_DIR, print_table, write_result

    bad = [d for d in args.devices if d < 1 or args.seeds % (d * min(args.chunk or 1, args.seeds // d))]
    if bad:
        raise SystemExit(f"--seeds {args.seeds} must split over every device count (x --chunk); not over {bad}")
    rows: list[dict[str, Any]] = []
    for d in args.devices:
        rows += run_cpu(d, args)
        if rows:
            print_table(rows[-1:])
    if args.accelerator:
        rows += run_accelerator(args)
    add_speedup(rows)
    columns = [
        *("platform", "devices", "seeds", "compile_s", "run_s", "steps_per_s", "speedup", "efficiency"),
        *("busy_cores", "final_return", "returns_sha1", "load_avg"),
    ]
    title = f"PPO CartPole-v1, {args.seeds} seeds x {args.total_steps:,} steps, sharded_vmap over devices"
    title += f" (chunk {args.chunk})" if args.chunk else ""
    print_table(rows, columns, title=title)
    plot(rows, RESULTS_DIR / f"{args.name}.png", title)
    write_result(args.name, {"args": vars(args), "rows": rows, "note": __doc__.split("\n\n")[-1].strip()})


if __name__ == "__main__":
    main()
