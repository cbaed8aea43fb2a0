"""The jobs behind ``jaxrl train``, ``jaxrl eval`` and ``jaxrl gif`` (the command line only parses).

:func:`prepare` checks every argument -- algorithm, config values, seeds, devices, chunking, the
output directory -- *before* anything is written, so a bad value leaves no half-made run
directory behind. :func:`run` then creates the run directory and trains through
:func:`jaxrl.experiment.train`.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl.errors import RunDirError, UserError

FORMAT = 2  # config.json "format" (jaxrl.policy.RUN_FORMAT)


@dataclass
class Job:
    algo: str
    cfg: Any
    agent: Any
    seeds: list[int]
    chunk: int
    eval_episodes: int
    devices: str | None
    out: Path
    record: dict[str, Any]
    resume: bool
    log: tuple[str, ...] = ("csv",)
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def env_id(self) -> str:
        return str(self.record["env_id"])


def resolve_devices(value: Any, num_seeds: int) -> str | None:
    """``--devices``: None (auto: all devices when the seeds split evenly), ``"1"``/off, ``"all"`` or ``"N"``."""
    import jax

    from jaxrl import sharding

    if value is None:
        n_dev = jax.device_count()
        return "all" if n_dev > 1 and num_seeds % n_dev == 0 else None
    text = str(value).strip().lower()
    if text in ("1", "none", "off"):
        return None
    if text != "all" and not text.isdigit():
        raise UserError(f"--devices must be 'all' or a positive integer, got {value!r}")
    if text.isdigit() and int(text) < 1:
        raise UserError(f"--devices must be 'all' or a positive integer, got {value!r}")
    try:
        d = sharding.mesh_size(sharding.batch_mesh(text))
    except ValueError as e:
        raise UserError(f"--devices: {e}") from None
    if num_seeds % d:
        raise UserError(f"{num_seeds} seeds do not split over {d} devices; use --seeds a multiple of {d} "
                        "or --devices 1")
    return text


def check_out(out: Path) -> None:
    """The run directory can be created and written (it may exist only if empty)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory path")
    if out.is_dir() and any(out.iterdir()):
        raise UserError(f"run directory {out} exists and is not empty (use --resume {out} to continue it)")
    parent = next((p for p in [out, *out.parents] if p.exists()), Path("."))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot create the run directory {out}: {parent} is not writable")


def prepare(args: argparse.Namespace) -> Job:
    """Everything ``jaxrl train`` needs, checked; nothing written yet."""
    from jaxrl.agent import agent_spec, check_protocol
    from jaxrl.driver import pick_chunk_size
    from jaxrl.experiment import check_seeds
    from jaxrl.runs import RunDir, default_run_dir
    from jaxrl.settings import build_config, parse_steps, parse_value, read_toml
    from jaxrl.sinks import parse_log

    if args.resume:
        clash = [f"--{f.replace('_', '-')}" for f in ("algo", "env", "total_steps", "out", "seeds", "seed", "chunks",
                                                      "log_every", "config", "eval_episodes", "devices")
                 if getattr(args, f, None) is not None] + (["--set"] if args.overrides else [])
        if clash:
            raise UserError(f"--resume takes everything from the run directory; drop {', '.join(clash)}")
        run = RunDir(args.resume)
        if not (run.path / "config.json").is_file():
            raise RunDirError(f"{run.path} is not a run directory of `jaxrl train` (no config.json)")
        rec = run.config
        if rec.get("format", 1) > FORMAT:
            raise RunDirError(f"{run.path} was written by a newer jaxrl (format {rec['format']})")
        spec = agent_spec(rec["algo"])
        cfg = build_config(spec, rec["config"])
        r = rec["run"]
        seeds = check_seeds(run.seeds)
        devices = r.get("devices", None)
        if devices is not None:
            devices = resolve_devices(devices, len(seeds))
        return Job(spec.name, cfg, spec.make(cfg), seeds, int(r["chunk_size"]), int(r["eval_episodes"]), devices,
                   run.path, rec, True, parse_log(",".join(r.get("log", []))), not args.no_progress)

    file = read_toml(args.config) if getattr(args, "config", None) else {}
    algo = args.algo or file.get("algo") or "ppo"
    spec = agent_spec(algo)
    values: dict[str, Any] = dict(file.get("config", {}))
    env = args.env or file.get("env")
    if env is not None or spec.env_field not in values:
        values[spec.env_field] = env or spec.default_env
    steps = args.total_steps if args.total_steps is not None else file.get("total_steps")
    if steps is not None:
        values[spec.steps_field] = parse_steps(steps)
    for k, v in args.overrides:
        values[k] = parse_value(v)
    cfg = build_config(spec, values)
    n_seeds = args.seeds if args.seeds is not None else file.get("seeds", 16)
    base = args.seed if args.seed is not None else file.get("seed", 0)
    for name, v in (("--seeds", n_seeds), ("--seed", base)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise UserError(f"{name} must be an integer, got {v!r}")
    if n_seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {n_seeds}")
    if base < 0:
        raise UserError(f"--seed must be >= 0, got {base}")
    seeds = check_seeds(range(base, base + n_seeds))
    eval_episodes = args.eval_episodes if args.eval_episodes is not None else file.get("eval_episodes", 10)
    if isinstance(eval_episodes, bool) or not isinstance(eval_episodes, int) or eval_episodes < 1:
        raise UserError(f"--eval-episodes must be a positive integer, got {eval_episodes!r}")
    devices = resolve_devices(args.devices if args.devices is not None else file.get("devices"), len(seeds))
    log = parse_log(args.log if args.log is not None else file.get("log"))
    try:
        agent = spec.make(cfg)
    except (TypeError, ValueError) as e:
        raise UserError(f"cannot build {algo} on {getattr(cfg, spec.env_field)}: {e}") from None
    check_protocol(agent)
    chunks = args.chunks if args.chunks is not None else file.get("chunks")
    log_every = args.log_every if args.log_every is not None else file.get("log_every")
    chunk = pick_chunk_size(int(agent.num_updates), chunks, log_every)
    env_id = getattr(cfg, spec.env_field)
    out = Path(args.out or file.get("out") or default_run_dir(algo, env_id))
    check_out(out)
    record = {
        "format": FORMAT,
        "algo": algo,
        "env_id": env_id,
        "config": cfg,
        "run": {"chunk_size": chunk, "num_updates": int(agent.num_updates), "eval_episodes": eval_episodes,
                "devices": devices, "log": list(log), "command": " ".join(["jaxrl", *args.argv])},
    }
    return Job(algo, cfg, agent, seeds, chunk, eval_episodes, devices, out, record, False, log,
               not args.no_progress, {"seed": base})


def reproduce_toml(job: Job) -> str:
    """config.toml: passed back with ``jaxrl train --config`` it reproduces the run exactly."""
    from jaxrl.runs import to_jsonable
    from jaxrl.settings import to_toml

    values = {"algo": job.algo, "seeds": len(job.seeds), "seed": job.seeds[0], "log_every": job.chunk,
              "eval_episodes": job.eval_episodes, "config": to_jsonable(job.cfg)}
    if job.devices is not None:
        values["devices"] = job.devices
    if tuple(job.log) != ("csv",):
        values["log"] = ",".join(job.log)
    return to_toml(values)


def run(job: Job) -> int:
    """Create (or reopen) the run directory and train; prints the scores table."""
    from jaxrl.experiment import format_scores, train
    from jaxrl.runs import RunDir, versions, write_json
    from jaxrl.sinks import make_sinks, used_packages

    if job.resume:
        run_dir = RunDir(job.out)
    else:
        run_dir = RunDir.create(job.out, job.record, job.seeds)
        (run_dir.path / "config.toml").write_text(reproduce_toml(job))
        if used_packages(job.log):  # versions.json names the optional packages this run uses too
            write_json(run_dir.path / "versions.json", versions(extra=used_packages(job.log)))
    n_up = int(job.agent.num_updates)
    extra = f" (+1 compile for the last {n_up % job.chunk})" if n_up % job.chunk else ""
    where = f", sharded over devices ({job.devices})" if job.devices else ""
    print(f"{job.algo} on {job.env_id}: {len(job.seeds)} seeds{where}, {n_up} updates in chunks of {job.chunk}"
          f"{extra} -> {run_dir.path}", flush=True)
    sinks = make_sinks(job.log, run_dir, job.record)
    scores = train(job.agent, job.seeds, run_dir, job.chunk, eval_episodes=job.eval_episodes, resume=job.resume,
                   devices=job.devices, sinks=sinks, progress_bar=job.progress, title=f"{job.algo} {job.env_id}",
                   resume_hint=f"jaxrl train --resume {run_dir.path}")
    print(format_scores(scores))
    print(f"run directory: {run_dir.path}")
    return 0


# =========================================================================== eval / gif
def evaluate_cli(args: argparse.Namespace) -> int:
    """``jaxrl eval RUN``: return and success per seed, mean and 95% interval; optional GIF."""
    import jax

    from jaxrl.policy import evaluate_episodes, load_run
    from jaxrl.runs import bootstrap_ci

    if args.episodes < 1:
        raise UserError(f"--episodes must be >= 1, got {args.episodes}")
    loaded = load_run(args.run)
    seeds = args.seeds or loaded.seeds
    agent = loaded.agent
    rows = []
    for i, s in enumerate(seeds):
        state = loaded.state(s)
        key = jax.random.fold_in(jax.random.key(args.key), i)
        ret, succ = evaluate_episodes(agent, state, key, args.episodes)
        rows.append((s, float(np.nanmean(ret)), float(np.nanmean(succ)) if np.isfinite(succ).any() else None))
    print(f"{loaded.algo} on {loaded.env_id} ({loaded.path}), update {loaded.updates_done}, "
          f"{args.episodes} episodes per seed")
    print(f"{'seed':>6}  {'return':>12}  {'success':>8}")
    for s, r, sc in rows:
        print(f"{s:>6}  {r:>12.3f}  {'-' if sc is None else format(sc, '.3f'):>8}")
    rets = np.array([r for _, r, _ in rows])
    mean, lo, hi = bootstrap_ci(rets)
    print(f"{'mean':>6}  {float(mean):>12.3f}  95% CI [{float(lo):.3f}, {float(hi):.3f}] over {len(rows)} seeds")
    if all(sc is not None for _, _, sc in rows):
        m, lo, hi = bootstrap_ci(np.array([sc for _, _, sc in rows]))
        print(f"success {float(m):.3f}  95% CI [{float(lo):.3f}, {float(hi):.3f}]")
    if args.video:
        from jaxrl.policy import write_policy_gif

        path = write_policy_gif(loaded, seeds[0], jax.random.key(args.key), Path(args.video))
        print(f"wrote {path}")
    return 0


def gif_cli(args: argparse.Namespace) -> int:
    """``jaxrl gif RUN``: one episode of one seed's greedy policy as an animated GIF."""
    import jax

    from jaxrl.policy import load_run, write_policy_gif

    loaded = load_run(args.run)
    if not 0 <= args.seed_index < len(loaded.seeds):
        raise UserError(f"--seed-index must be in [0, {len(loaded.seeds)}), got {args.seed_index}")
    seed = loaded.seeds[args.seed_index]
    out = Path(args.out or loaded.path / f"episode-seed{seed}.gif")
    path = write_policy_gif(loaded, seed, jax.random.key(args.episode_seed), out)
    print(f"wrote {path}")
    return 0
