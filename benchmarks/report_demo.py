"""Train PPO on three control environments with 16 seeds each and produce the full report.

    python -m benchmarks.report_demo [--steps 2e5] [--seeds 16] [--out benchmarks/results/report_demo]

Each environment is one `jaxrl train` run directory (all seeds compiled into
one program); `jaxrl report` then aggregates them into report.md,
aggregate.json and the figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxrl import cli, report

ENVS = {  # env id -> config overrides (PPO defaults otherwise)
    "CartPole-v1": [],
    "Acrobot-v1": [],
    "Pendulum-v1": ["num_envs=16", "num_steps=128", "lr=1e-3", "gamma=0.95", "normalize_obs=True",
                    "normalize_reward=True", "ent_coef=0.0"],
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", default="2e5", help="environment steps per seed (default 2e5)")
    p.add_argument("--seeds", type=int, default=16)
    p.add_argument("--out", default="benchmarks/results/report_demo")
    a = p.parse_args()
    out = Path(a.out)
    runs = []
    for env, overrides in ENVS.items():
        run = out / "runs" / env
        if not (run / "scores.json").exists():
            argv = ["train", "ppo", "--env", env, "--seeds", str(a.seeds), "--total-steps", a.steps,
                    "--out", str(run), "--no-progress", "--chunks", "4"]
            for o in overrides:
                argv += ["--set", o]
            cli.main(argv)
        runs.append(run)
    md = report.build_report(runs, out / "report")
    print(md)


if __name__ == "__main__":
    main()
