"""``jaxrl meta``: discover PPO objectives (LPO, TA-LPO) with evolution strategies.

    jaxrl meta lpo --env CartPole-v1 --generations 100 --popsize 16 --seeds 2 --total-steps 65536 --out runs/lpo
    jaxrl meta ta_lpo --env CartPole-v1 --env Acrobot-v1 --normalise CartPole-v1=0:500 --normalise Acrobot-v1=-500:0
    jaxrl meta lpo --resume runs/lpo                      # continue from the last checkpoint
    jaxrl meta lpo --resume runs/lpo --generations 200    # ... and extend the run to 200 generations

The generations run as a host loop over jitted chunks of ``--chunk`` generations
(``lax.scan`` inside, one compile); after every chunk the ES state is checkpointed and
the search mean / best member are saved as loadable objectives. Run directory::

    config.json         meta-config (ES, inner PPO configs, fitness), seed, chunking, command
    versions.json       package versions (+ git commit);  machine.json: CPU, memory, JAX backend
    metrics.csv         one row per generation: fitness_best/mean/min, best_so_far, sigma, return/<env>, wall_s
                        (wall_s: the chunk's seconds / its generations; the first chunk includes compiling)
    checkpoint/         ES state after the last chunk (jaxrl.checkpoint; --resume)
    objective_mean/     discovered parameters: the ES mean (jaxrl.meta.objectives.load_objective)
    objective_best/     the best member evaluated so far
    summary.json        final numbers
    diagnostics.json    is the search going anywhere? per-layer displacement of the ES mean against the noise
                        (lr*sqrt(G)) and signal (lr*G) scales, fitness trend with a 95% interval, cosine of
                        successive ES gradients, and the noise-dominated verdict (jaxrl.meta.es_diagnostics)
    diagnostics.png     the same as plots; a noise-dominated run also prints a WARNING
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

COMMANDS = ("lpo", "ta_lpo")
CHECKPOINT = "checkpoint"


def _parse_normalise(text: str) -> tuple[str, tuple[float, float]]:
    try:
        env, rng = text.split("=", 1)
        lo, hi = (float(x) for x in rng.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--normalise expects ENV=LOW:HIGH, got {text!r}") from None
    return env.strip(), (lo, hi)


def build_parser() -> argparse.ArgumentParser:
    from jaxrl.cli import key_value, steps_arg
    from jaxrl.meta.es import SHAPINGS, STRATEGIES

    p = argparse.ArgumentParser(
        prog="jaxrl meta",
        description="Meta-learn a PPO policy objective with evolution strategies (whole population in one program).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1].split("The generations")[0],
    )
    p.add_argument("objective", choices=COMMANDS, help="learned objective: lpo or ta_lpo (temporally aware)")
    p.add_argument("--env", action="append", metavar="ID", help="training environment (repeatable; CartPole-v1)")
    p.add_argument("--generations", type=int, metavar="N", help="ES generations (default 100)")
    p.add_argument("--popsize", type=int, metavar="P", help="population size (default 16; even when antithetic)")
    p.add_argument("--seeds", type=int, metavar="S", help="inner training seeds per member (default 2)")
    p.add_argument("--total-steps", type=steps_arg, metavar="T", help="env steps per inner run (default 65536)")
    p.add_argument("--strategy", choices=STRATEGIES, help="evolution strategy (default open_es)")
    p.add_argument("--shaping", choices=SHAPINGS, help="fitness shaping (default centered_rank)")
    p.add_argument("--lr", type=float, help="Open_ES Adam learning rate (default 0.01)")
    p.add_argument("--sigma", type=float, help="initial noise std (default 0.04)")
    p.add_argument("--sigma-decay", type=float, help="per-generation sigma decay for Open_ES (default 1: none)")
    p.add_argument("--sigma-floor", type=float, help="floor of the decaying sigma (default 0)")
    p.add_argument("--lr-decay", type=float, help="per-generation Open_ES learning-rate decay (default 1: none)")
    p.add_argument("--lr-floor", type=float, help="floor of the decaying learning rate (default 0)")
    p.add_argument("--adam-b1", type=float, help="Open_ES Adam beta1 (default 0.9; LPO's authors: 0.99)")
    p.add_argument("--no-crn", action="store_true",
                   help="own evaluation seeds per member (pair) instead of common random numbers (default: shared)")
    p.add_argument("--weight-decay", type=float, help="Open_ES AdamW decay of the mean (default 0)")
    p.add_argument("--init-scale", type=float, help="initial mean: scale x LeCun-normal (default 0.1; 0: exactly PPO)")
    p.add_argument("--no-antithetic", action="store_true", help="independent noise instead of +/- pairs")
    p.add_argument("--fitness", choices=("train", "eval"),
                   help="fresh evaluation episodes of the final agent (eval, default) or the last training returns")
    p.add_argument(
        "--normalise", action="append", type=_parse_normalise, metavar="ENV=LOW:HIGH", help="score range per env"
    )
    p.add_argument("--member-batch", type=int, metavar="B", help="inner runs trained at once (default: all P*S)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="override a ppo.Config field of the inner runs (repeatable), e.g. --set num_envs=8",
    )
    p.add_argument(
        "--chunk", type=int, metavar="K", help="generations per jitted chunk / checkpoint (default ~10 chunks)"
    )
    p.add_argument("--seed", type=int, default=None, help="meta-training seed (default 0)")
    p.add_argument("--out", metavar="DIR", help="run directory (default runs/meta-<objective>-<env>-<utc>)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR (settings come from its config.json)")
    p.add_argument("--devices", metavar="all|N",
                   help="evaluate the ES population on all (or N) devices; --popsize must be a multiple")
    p.add_argument("--log", metavar="SINKS", help="extra metric sinks, comma-separated: tensorboard, wandb "
                   "(metrics.csv is always written)")
    p.add_argument("--config", metavar="FILE", help="a TOML file of these flags' values (env = [...], a [set] "
                   "table of inner ppo.Config fields); flags on the command line override it")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`jaxrl.meta.es.MetaConfig` of a fresh run."""
    from jaxrl.agents import ppo
    from jaxrl.meta.es import ESConfig, MetaConfig, inner_configs
    from jaxrl.settings import coerce, field_default, parse_value

    fields = {f.name: f for f in dataclasses.fields(ppo.Config)}
    overrides: dict[str, Any] = {"total_timesteps": args.total_steps or 65_536}
    for k, v in args.overrides:
        if k not in fields or k == "env_id":
            raise SystemExit(f"jaxrl meta: unknown ppo.Config field {k!r} in --set; valid: {', '.join(fields)}")
        overrides[k] = coerce(parse_value(v), field_default(fields[k]), f"Config.{k}")
    es_kwargs = {
        k: v
        for k, v in {
            "strategy": args.strategy,
            "popsize": args.popsize or 16,
            "num_seeds": args.seeds or 2,
            "lr": args.lr,
            "sigma": args.sigma,
            "sigma_decay": args.sigma_decay,
            "sigma_min": args.sigma_floor,
            "lr_decay": args.lr_decay,
            "lr_floor": args.lr_floor,
            "adam_b1": args.adam_b1,
            "weight_decay": args.weight_decay,
            "shaping": args.shaping,
            "antithetic": False if args.no_antithetic else None,
            "common_random_numbers": False if args.no_crn else None,  # None: MetaConfig's default (on)
        }.items()
        if v is not None
    }
    return MetaConfig(
        objective=args.objective,
        inner=inner_configs(args.env or ["CartPole-v1"], **overrides),
        es=ESConfig(**es_kwargs),
        generations=args.generations or 100,
        **({} if args.fitness is None else {"fitness": args.fitness}),
        normalise=dict(args.normalise or []),
        member_batch=args.member_batch,
        **({} if args.init_scale is None else {"init_scale": args.init_scale}),
    )


# --------------------------------------------------------------------------- run directory
def default_out(cfg: Any) -> Path:
    from jaxrl.runs import utc_stamp

    return Path("runs") / f"meta-{cfg.objective}-{'+'.join(cfg.env_ids)}-{utc_stamp()}"


_TRAINERS: dict[tuple[str, bool], tuple[Any, dict[int, Any], list]] = {}


def _trainer(cfg: Any, progress: bool, devices: str | None = None) -> tuple[Any, dict[int, Any], list]:
    """``(MetaTrainer, {chunk length: jitted chunk}, [callback])`` cached per config in this process,
    so a resumed or repeated run (tests, notebooks) reuses the compiled chunks."""
    from jaxrl.meta.es import MetaTrainer

    program = dataclasses.replace(cfg, generations=1).to_dict()  # the chunk programs do not depend on the total
    key = (json.dumps(program, sort_keys=True, default=repr), progress, str(devices))
    if key not in _TRAINERS:
        hook: list = [None]
        callback = (lambda m: hook[0](m) if hook[0] is not None else None) if progress else None
        trainer = MetaTrainer(cfg, on_generation=callback)
        if devices:  # population members (and their seeds) split over a device mesh
            from jaxrl import sharding

            mesh = sharding.batch_mesh(devices)
            sharding.check_batch(cfg.es.popsize, sharding.mesh_size(mesh))  # ValueError if uneven
            trainer.es.fitness_fn = sharding.shard_batched(trainer.fitness, mesh)
        _TRAINERS[key] = (trainer, {}, hook)
    return _TRAINERS[key]


def run_meta(
    cfg: Any,
    out: str | Path,
    seed: int = 0,
    chunk: int | None = None,
    resume: bool = False,
    progress: bool = True,
    command: Sequence[str] = (),
    devices: str | None = None,
    log: Sequence[str] = ("csv",),
) -> dict[str, Any]:
    """Meta-train ``cfg`` into run directory ``out`` chunk by chunk (checkpoint after each); returns the summary.

    ``log``: metric sinks (:mod:`jaxrl.sinks`; metrics.csv is always written)."""
    from tqdm.auto import tqdm

    from jaxrl.driver import drive, pick_chunk_size
    from jaxrl.meta.objectives import save_objective
    from jaxrl.meta.runner import GenerationCSV, es_program
    from jaxrl.runs import RunDir, machine_info, versions, write_json
    from jaxrl.sinks import make_sinks, used_packages

    out = Path(out)
    chunk = chunk or pick_chunk_size(cfg.generations, chunks=10)  # the driver's chunk sizing
    if not resume:
        if out.exists() and any(out.iterdir()):
            raise SystemExit(f"jaxrl meta: {out} exists and is not empty (use --resume {out} to continue it)")
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "versions.json", versions(extra=("evosax", "optax", "flax", *used_packages(log))))
        write_json(out / "machine.json", machine_info())
    write_json(
        out / "config.json",
        {"meta_config": cfg.to_dict(), "seed": seed, "chunk_generations": chunk, "command": list(command),
         "log": list(log)},
    )

    bar = tqdm(
        total=cfg.generations,
        unit="gen",
        disable=not progress,
        desc=f"meta {cfg.objective}",
        dynamic_ncols=True,
        mininterval=1.0,
        smoothing=0.3,
    )

    def on_generation(m: dict[str, Any]) -> None:  # host callback after every generation (throttled by tqdm)
        bar.set_postfix_str(
            f"best {float(m['fitness_best']):.4g} mean {float(m['fitness_mean']):.4g} sigma {float(m['sigma']):.3g}",
            refresh=False,
        )
        bar.update(1)

    trainer, fns, hook = _trainer(cfg, progress, devices)
    hook[0] = on_generation

    def on_chunk(done: int, state: Any, metrics: dict[str, np.ndarray]) -> None:  # the discovered objective
        info = {"generation": done, "meta_config": cfg.to_dict()}
        save_objective(out / "objective_mean", trainer.objective, trainer.es.mean(state), info)
        save_objective(out / "objective_best", trainer.objective, trainer.es.best(state), info)

    def restored(meta: dict[str, Any]) -> None:
        bar.n = bar.last_print_n = int(meta["updates_done"])
        bar.refresh()

    program = es_program(trainer, seed, cfg.generations, fns)
    program.on_restore = restored
    csv_file = GenerationCSV(out / "metrics.csv")
    sinks = [csv_file, *make_sinks(log, RunDir(out), {"meta_config": cfg.to_dict()})]
    try:
        result = drive(program, RunDir(out), chunk, resume=resume, sinks=sinks, on_chunk=on_chunk,
                       resume_hint=f"jaxrl meta {cfg.objective} --resume {out}", log=bar.write)
    finally:
        bar.close()
    state, done, ran = result.state, result.done, result.done - result.resumed_from
    wall = result.seconds
    m = csv_file.read() if csv_file.path.exists() else {}
    diag = None
    if m:
        from jaxrl.meta.es_diagnostics import write_diagnostics

        try:
            diag = write_diagnostics(out, m)
        except ValueError as e:  # a run directory from before the diagnostics metrics existed
            bar.write(f"jaxrl meta: no diagnostics: {e}")
    summary = {
        "objective": cfg.objective,
        "envs": list(cfg.env_ids),
        "generations": done,
        "best_fitness": float(np.asarray(state.best_fitness)),
        "last_fitness_mean": float(m["fitness_mean"][-1]) if m else None,
        "last_fitness_best": float(m["fitness_best"][-1]) if m else None,
        "sigma": float(np.asarray(trainer.es.sigma(state))),
        "wall_s_this_session": round(wall, 2),
        "inner_env_steps_per_generation": cfg.inner_steps,
        "inner_env_steps_per_s": round(cfg.inner_steps * ran / wall) if ran else None,  # incl. compilation
        "objective_mean": str(out / "objective_mean"),
        "objective_best": str(out / "objective_best"),
        "noise_dominated": None if diag is None else diag["noise_dominated"],
        "warning": None if diag is None else diag["warning"],
    }
    write_json(out / "summary.json", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``jaxrl meta`` (``argv``: everything after ``meta``)."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 2
    args = parser.parse_args(argv)
    if args.config:
        from jaxrl.settings import args_from_toml

        args_from_toml(parser, args, args.config)
    from jaxrl.meta.es import MetaConfig
    from jaxrl.sinks import parse_log

    if args.resume:
        fixed = ("env", "popsize", "seeds", "total_steps", "strategy", "shaping", "lr", "sigma", "sigma_decay")
        fixed += ("fitness", "normalise", "member_batch", "out", "seed", "init_scale", "weight_decay")
        fixed += ("sigma_floor", "lr_decay", "lr_floor", "adam_b1")
        clash = [f"--{f.replace('_', '-')}" for f in fixed if getattr(args, f) is not None]
        clash += (["--set"] if args.overrides else []) + (["--no-antithetic"] if args.no_antithetic else [])
        clash += ["--no-crn"] if args.no_crn else []
        if clash:
            raise SystemExit(f"jaxrl meta --resume takes its settings from the run directory; drop {clash}")
        out = Path(args.resume)
        if not (out / "config.json").exists():
            raise SystemExit(f"jaxrl meta: {out} has no config.json (not a jaxrl meta run directory)")
        saved = json.loads((out / "config.json").read_text())
        cfg = MetaConfig.from_dict(saved["meta_config"])
        if cfg.objective != args.objective:
            raise SystemExit(f"jaxrl meta: {out} meta-trains {cfg.objective!r}, not {args.objective!r}")
        if args.generations:
            cfg = dataclasses.replace(cfg, generations=args.generations)
        seed, chunk = int(saved["seed"]), args.chunk or int(saved["chunk_generations"])
        log = parse_log(args.log if args.log is not None else ",".join(saved.get("log", [])))
    else:
        try:
            cfg = config_from_args(args)
        except ValueError as e:
            raise SystemExit(f"jaxrl meta: {e}") from None
        out = Path(args.out) if args.out else default_out(cfg)
        seed, chunk = args.seed or 0, args.chunk
        log = parse_log(args.log)

    print(
        f"meta-training {cfg.objective} on {', '.join(cfg.env_ids)}: {cfg.es.strategy}, population {cfg.es.popsize} x "
        f"{cfg.es.num_seeds} seeds ({'common to all members' if cfg.es.common_random_numbers else 'own per member'}), "
        f"fitness {cfg.fitness}, {cfg.generations} generations, "
        f"{cfg.inner_steps:,} inner env steps per generation -> {out}",
        flush=True,
    )
    try:
        s = run_meta(cfg, out, seed, chunk, resume=bool(args.resume), progress=not args.no_progress,
                     command=["meta", *argv], devices=args.devices, log=log)
    except ValueError as e:
        raise SystemExit(f"jaxrl meta: {e}") from None
    print(
        f"done: {s['generations']} generations, best fitness {s['best_fitness']:.4g}, "
        f"last mean fitness {s['last_fitness_mean']:.4g}, sigma {s['sigma']:.3g}\n"
        f"discovered objective: {s['objective_mean']} (ES mean), {s['objective_best']} (best member)\n"
        f"diagnostics: {out / 'diagnostics.json'}, {out / 'diagnostics.png'}",
        flush=True,
    )
    if s["warning"]:
        print(f"WARNING: {s['warning']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
