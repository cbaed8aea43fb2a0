"""``jaxrl pbt``: population based training of any agent from the shell.

    jaxrl pbt ppo --env CartPole-v1 --population 8 --rounds 10 --updates-per-round 20 \\
        --search lr=1e-4:1e-2:log --search ent_coef=0:0.05 --out runs/pbt-cartpole
    jaxrl pbt ppo ... --random-search            # same sampling and budget, no exploit/explore
    jaxrl pbt --resume runs/pbt-cartpole          # continue after an interruption

One jitted round (train every member, evaluate, exploit, explore) is called
once per round (one compile); after every round the population state is
checkpointed with orbax and the history (fitness, hyperparameters, parents)
is written, so ``--resume`` continues exactly. ``history.json`` is strict JSON
written atomically before the checkpoint and carries its ``round``: on resume
a history one round ahead of the checkpoint (killed between the two writes)
is cut back to it, and one behind it is an error, never a silent restart or a
wrong incumbent. A diverged member's NaN fitness is written as null and named
under ``"nonfinite"``. At the end: the incumbent's
lineage and hyperparameter schedule, ``history.json``, ``schedules.png``
(every member's hyperparameters per round, copies marked) and
``lineage.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl.agent import agent_spec
from jaxrl.meta.pbt import PBT, PBTConfig, Prior, incumbent_schedule


def parse_prior(text: str) -> tuple[str, Prior]:
    """``name=low:high[:log]`` -> ``(name, Prior)``."""
    try:
        name, rng = text.split("=", 1)
        parts = rng.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
            raise ValueError
        return name.strip(), Prior(float(parts[0]), float(parts[1]), log=len(parts) == 3)
    except ValueError as e:
        msg = str(e) if "Prior" in str(e) else "expected name=low:high or name=low:high:log"
        raise argparse.ArgumentTypeError(f"--search {text!r}: {msg}") from None


def build_parser() -> argparse.ArgumentParser:
    from jaxrl.agent import list_agents
    from jaxrl.cli import key_value

    p = argparse.ArgumentParser(prog="jaxrl pbt", description="Population based training on device.")
    p.add_argument("algo", nargs="?", choices=list_agents(), help="agent (default: ppo)")
    p.add_argument("--env", metavar="ID", help="environment id (default: the agent's)")
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--updates-per-round", type=int, default=None, help="default: the agent's updates / rounds")
    p.add_argument("--search", type=parse_prior, action="append", default=[], metavar="NAME=LOW:HIGH[:log]",
                   help="searched hyperparameter and its prior (repeatable)")
    p.add_argument("--selection", choices=("truncation", "tournament"), default="truncation")
    p.add_argument("--fraction", type=float, default=0.25)
    p.add_argument("--resample-prob", type=float, default=0.25)
    p.add_argument("--ready-rounds", type=int, default=1)
    p.add_argument("--fitness", choices=("eval", "train"), default="eval")
    p.add_argument("--eval-episodes", type=int, default=8)
    p.add_argument("--random-search", action="store_true", help="no exploit/explore: random search baseline")
    p.add_argument("--set", dest="overrides", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="agent config override (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="DIR", help="run directory (default runs/pbt-<algo>-<env>-<utc>)")
    p.add_argument("--resume", metavar="DIR", help="continue the PBT run in DIR")
    p.add_argument("--devices", metavar="all|N",
                   help="shard the population over all (or N) devices; --population must be a multiple")
    p.add_argument("--log", metavar="SINKS", help="extra metric sinks, comma-separated: tensorboard, wandb "
                   "(history.json is always written); one run per member")
    p.add_argument("--config", metavar="FILE", help="a TOML file of these flags' values (search = [...], "
                   "a [set] table of agent fields); flags on the command line override it")
    p.add_argument("--no-progress", action="store_true")
    return p


def _setup(args: argparse.Namespace) -> tuple[dict[str, Any], Path]:
    """The run record (algo, config values, PBT settings) and the run directory."""
    from jaxrl.runs import utc_stamp

    if args.resume:
        out = Path(args.resume)
        rec_path = out / "pbt.json"
        if not rec_path.exists():
            raise SystemExit(f"{out} is not a PBT run directory (no pbt.json)")
        return json.loads(rec_path.read_text()), out
    if not args.search:
        raise SystemExit("jaxrl pbt: name at least one --search NAME=LOW:HIGH[:log]")
    algo = args.algo or "ppo"
    values: dict[str, Any] = {agent_spec(algo).env_field: args.env or agent_spec(algo).default_env}
    values.update({k: v for k, v in args.overrides})
    rec = {
        "algo": algo,
        "config": values,
        "pbt": {
            "search": {n: [p.low, p.high, p.log] for n, p in args.search},
            "population": args.population,
            "rounds": args.rounds,
            "updates_per_round": args.updates_per_round,
            "selection": args.selection,
            "fraction": args.fraction,
            "resample_prob": args.resample_prob,
            "ready_rounds": args.ready_rounds,
            "fitness": args.fitness,
            "eval_episodes": args.eval_episodes,
            "exploit": not args.random_search,
        },
        "seed": args.seed,
        "command": " ".join(["jaxrl", "pbt", *args.argv]),
    }
    env = values[agent_spec(algo).env_field]
    out = Path(args.out) if args.out else Path("runs") / f"pbt-{algo}-{env}-{utc_stamp()}"
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"run directory {out} is not empty; pick another --out or --resume it")
    return rec, out


def build(rec: dict[str, Any]) -> PBT:
    from jaxrl.agent import agent_spec
    from jaxrl.settings import build_config

    algo = agent_spec(rec["algo"])
    try:
        cfg = build_config(algo, rec["config"], strings=True)
        agent = algo.make(cfg)
        pb = dict(rec["pbt"])
        pb["search"] = {n: Prior(lo, hi, log) for n, (lo, hi, log) in pb["search"].items()}
        if pb["updates_per_round"] is None:
            pb["updates_per_round"] = max(int(agent.num_updates) // pb["rounds"], 1)
            rec["pbt"]["updates_per_round"] = pb["updates_per_round"]
        return PBT(agent, PBTConfig(**pb))
    except (ValueError, TypeError) as e:
        raise SystemExit(f"jaxrl pbt: invalid configuration: {e}") from None


def _history_json(history: dict[str, list]) -> dict[str, Any]:
    return {k: np.asarray(v).tolist() if k != "hparams" else {n: np.asarray(x).tolist() for n, x in v.items()}
            for k, v in history.items()}


class HistorySink:
    """history.json on the run driver: one entry per round, written atomically *before* that round's
    checkpoint and carrying its round; on resume cut back to the checkpoint (:func:`reconcile_history`),
    or refused when it is behind it."""

    def __init__(self, path: Path, search: Any):
        self.path = path
        self.history: dict[str, Any] = {k: [] for k in ("fitness", "train_return", "parent", "copied")}
        self.history["hparams"] = {n: [] for n in search}

    def write(self, first: int, metrics: dict[str, np.ndarray], labels: Sequence[Any]) -> None:
        from jaxrl.runs import flag_nonfinite, write_json

        n = next(iter(metrics.values())).shape[1]
        for t in range(n):  # metrics [P, n]
            for k in ("fitness", "train_return", "parent", "copied"):
                self.history[k].append(np.asarray(metrics[k][:, t]).tolist())
            for name in self.history["hparams"]:
                self.history["hparams"][name].append(np.asarray(metrics[f"hparams/{name}"][:, t]).tolist())
        write_json(self.path, flag_nonfinite({"round": first + n, **_history_json(self.history)}))

    def reconcile(self, done: int) -> int:
        from jaxrl.runs import flag_nonfinite, reconcile_history, write_json

        if not done and not self.path.exists():
            return 0
        hist = reconcile_history(self.path, done)  # ahead of the checkpoint: cut; behind it: RunDirError
        hist.pop("round")
        self.history = hist
        write_json(self.path, flag_nonfinite({"round": done, **_history_json(hist)}))
        return 0

    def close(self) -> None:
        pass


def pbt_program(pbt: PBT, seed: int, round_fn: Any) -> Any:
    """The :class:`jaxrl.driver.Program` of ``rounds`` PBT rounds (one round per chunk; metrics ``[P, 1]``)."""
    import jax

    from jaxrl.driver import Program

    def one_round(state: Any) -> tuple[Any, dict[str, Any]]:
        state, record = round_fn(state)
        return state, jax.tree.map(lambda x: x[:, None], record)

    return Program(total=pbt.cfg.rounds, init=lambda: jax.jit(pbt.init)(jax.random.key(seed)),
                   make_chunk=lambda n: one_round, labels=list(range(pbt.cfg.population)), unit="round",
                   meta=lambda done, state: {"round": done})


def plot(history: dict[str, Any], priors: dict[str, Prior], path_sched: Path, path_lineage: Path) -> None:
    from jaxrl.plots import pyplot

    plt = pyplot()

    names = sorted(history["hparams"])
    copied = np.asarray(history["copied"])  # [R, P]
    rounds = np.arange(1, copied.shape[0] + 1)
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 2.6 * len(names)), squeeze=False)
    for ax, n in zip(axes[:, 0], names, strict=True):
        v = np.asarray(history["hparams"][n])  # [R, P]: value used in round r
        for m in range(v.shape[1]):
            ax.plot(rounds, v[:, m], lw=1, alpha=0.8)
        r_idx, m_idx = np.nonzero(copied[:-1])
        ax.scatter(rounds[r_idx] + 1, v[r_idx + 1, m_idx], marker="x", c="k", s=18, label="after a copy")
        if priors[n].log:
            ax.set_yscale("log")
        ax.set_ylabel(n)
    axes[0, 0].set_title("hyperparameter schedules per member")
    axes[-1, 0].set_xlabel("round")
    fig.tight_layout()
    fig.savefig(path_sched, dpi=110)
    plt.close(fig)

    parent, fit = np.asarray(history["parent"]), np.asarray(history["fitness"])
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for r in range(parent.shape[0] - 1):
        for m in range(parent.shape[1]):
            ax.plot([r + 1, r + 2], [parent[r, m], m], c="tab:red" if parent[r, m] != m else "0.7",
                    lw=1.5 if parent[r, m] != m else 0.8)
    sc = ax.scatter(np.repeat(rounds, parent.shape[1]), np.tile(np.arange(parent.shape[1]), len(rounds)),
                    c=fit.reshape(-1), cmap="viridis", zorder=3)
    fig.colorbar(sc, ax=ax, label="fitness")
    ax.set_xlabel("round")
    ax.set_ylabel("member")
    ax.set_title("lineage (red: copied from another member)")
    fig.tight_layout()
    fig.savefig(path_lineage, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    import jax

    from jaxrl.driver import drive
    from jaxrl.runs import RunDir, flag_nonfinite, machine_info, versions, write_json
    from jaxrl.sinks import make_sinks, parse_log, used_packages

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config:
        from jaxrl.settings import args_from_toml

        args_from_toml(parser, args, args.config)
    args.argv = argv
    rec, out = _setup(args)
    log = parse_log(args.log if args.log is not None else ",".join(rec.get("log", [])))  # checked before writing
    rec["log"] = list(log)
    pbt = build(rec)
    cfg = pbt.cfg
    hist_path = out / "history.json"
    if args.devices:
        from jaxrl import sharding

        try:
            mesh = sharding.batch_mesh(args.devices)
        except ValueError as e:
            raise SystemExit(f"jaxrl pbt --devices: {e}") from None
        d = sharding.mesh_size(mesh)
        if cfg.population % d:
            raise SystemExit(f"jaxrl pbt: population {cfg.population} does not split over {d} devices; "
                             f"use a multiple of {d}")
        like = jax.eval_shape(pbt.init, jax.random.key(0))
        round_fn = sharding.shard_carry(pbt.round_step, sharding.population_shardings(like, mesh, cfg.population))
    else:
        round_fn = jax.jit(pbt.round_step)
    if not args.resume:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "pbt.json", rec)
        write_json(out / "versions.json", versions(extra=used_packages(log)))
        write_json(out / "machine.json", machine_info())
    print(f"pbt {rec['algo']} on {list(rec['config'].values())[0]}: population {cfg.population}, "
          f"{cfg.rounds} rounds, {cfg.updates_per_round} updates per round -> {out}", flush=True)
    t_start = time.perf_counter()
    sink = HistorySink(hist_path, cfg.search)

    def report(done: int, total: int, m: dict[str, np.ndarray], seconds: float) -> None:
        if args.no_progress:
            return
        f = m["fitness"][:, -1]
        bad = int(np.sum(~np.isfinite(f)))
        print(f"round {done}/{total}  best {np.nanmax(f):.2f}  mean {np.nanmean(f):.2f}  copies "
              f"{int(np.sum(m['copied'][:, -1]))}  {seconds:.1f}s" + (f"  diverged members {bad}" if bad else ""),
              flush=True)

    extra = make_sinks(log, RunDir(out), rec, label="member")
    drive(pbt_program(pbt, rec["seed"], round_fn), RunDir(out), 1, resume=bool(args.resume), sinks=[sink, *extra],
          progress=report, resume_hint=f"jaxrl pbt --resume {out}")
    history = sink.history
    best, sched = incumbent_schedule(history)
    summary = {
        "incumbent": best,
        "final_fitness": float(np.asarray(history["fitness"])[-1][best]),
        "schedule": {n: v.tolist() for n, v in sched.items()},
        "wall_s_this_session": round(time.perf_counter() - t_start, 1),
    }
    write_json(out / "incumbent.json", flag_nonfinite(summary))
    plot(history, cfg.search, out / "schedules.png", out / "lineage.png")
    print(f"incumbent: member {best}, fitness {summary['final_fitness']:.2f}")
    for n, v in sched.items():
        print(f"  {n}: " + " -> ".join(f"{x:.3g}" for x in v))
    print(f"run directory: {out}")
    return 0
