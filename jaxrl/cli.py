"""The ``jaxrl`` command line: argument parsing only; the work is in the library.

    jaxrl envs [--family F] [--markdown] [--update README.md | --check README.md]
    jaxrl train [ALGO] [--env ID] [--seeds N] [--total-steps 3e6] [--set key=value ...] [--config exp.toml]
    jaxrl train --resume runs/ppo-CartPole-v1-20260509T073525Z
    jaxrl eval RUN [--episodes N] [--seeds S ...] [--video out.gif]
    jaxrl gif RUN
    jaxrl report RUN [RUN ...]
    jaxrl meta ... / jaxrl pbt ...          (parsers of their own)

Agents come from the agent registry (:mod:`jaxrl.agent`), training from :mod:`jaxrl.experiment`
and :mod:`jaxrl.driver`, configs from :mod:`jaxrl.settings`, run directories from :mod:`jaxrl.runs`.
User errors print one line (what, where, how to fix) and exit 2; a diverged run exits 3; Ctrl-C
exits 130 with the ``--resume`` command. ``--debug`` (before the command) shows tracebacks and
turns on the environments' checked mode (invalid actions raise).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from jaxrl.errors import DivergedError, UserError

SUBPROGRAMS: dict[str, tuple[str, str]] = {
    "meta": ("jaxrl.meta.cli", "meta-learning: discover objectives with evolution strategies (jaxrl meta --help)"),
    "pbt": ("jaxrl.meta.pbt_cli", "population based training of an agent on device (jaxrl pbt --help)"),
}
"""Commands with parsers of their own: ``module.main(argv)`` gets everything after the command name."""


def key_value(text: str) -> tuple[str, str]:
    """``--set key=value`` -> ``(key, value text)``."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set expects key=value, got {text!r}")
    k, v = text.split("=", 1)
    return k.strip(), v.strip()


def steps_arg(text: str) -> int:
    from jaxrl.settings import parse_steps

    try:
        return parse_steps(text)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


# =========================================================================== commands
def cmd_envs(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jaxrl import envtable

    rows = envtable.env_rows(args.family)
    if args.update or args.check:
        if args.family:
            raise UserError("--update/--check write the full table; drop --family")
        path = Path(args.update or args.check)
        old = path.read_text()
        new = envtable.replace_block(old, envtable.markdown_table(rows))
        if args.check:
            if new != old:
                print(f"{path}: environment table is out of date; run `jaxrl envs --markdown --update {path}`")
                return 1
            print(f"{path}: environment table is up to date ({len(rows)} environments)")
            return 0
        path.write_text(new)
        print(f"updated the environment table in {path} ({len(rows)} environments)")
        return 0
    print(envtable.markdown_table(rows) if args.markdown else envtable.text_table(rows))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from jaxrl import train_job

    job = train_job.prepare(args)  # every check before the first file is written
    return train_job.run(job)


def cmd_eval(args: argparse.Namespace) -> int:
    from jaxrl import train_job

    return train_job.evaluate_cli(args)


def cmd_gif(args: argparse.Namespace) -> int:
    from jaxrl import train_job

    return train_job.gif_cli(args)


def cmd_report(args: argparse.Namespace) -> int:
    from jaxrl import report  # matplotlib only when reporting

    return report.run_cli(args)


# =========================================================================== parser
def add_train_parser(sub: argparse._SubParsersAction, help_algo: str | None = None) -> None:
    from jaxrl.agent import list_agents

    t = sub.add_parser(
        "train",
        help="train an agent over many seeds",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train ALGO on an environment for several seeds at once and write a run directory (config, "
        "versions, metrics.csv, scores, checkpoint, learning_curve.png). `jaxrl train ALGO --help` lists the "
        "algorithm's config fields.",
        epilog=train_help(help_algo) if help_algo else None,
    )
    t.add_argument("algo", nargs="?", choices=list_agents(), help="algorithm (default: ppo)")
    t.add_argument("--env", metavar="ID", help="environment id (default: the algorithm's, CartPole-v1 for ppo)")
    t.add_argument("--config", metavar="FILE", help="a TOML experiment file (see jaxrl.settings); flags override it")
    t.add_argument("--seeds", type=int, metavar="N", help="number of seeds trained in parallel (default 16)")
    t.add_argument("--seed", type=int, metavar="S", help="first seed (default 0): seeds are SEED .. SEED+N-1")
    t.add_argument("--devices", metavar="all|N", help="shard the seeds over all (or the first N) devices "
                   "(jax.sharding mesh); --seeds must be a multiple of the device count. Default: all devices when "
                   "the seeds split evenly (on CPU every core is a device), else one; --devices 1 turns it off")
    t.add_argument("--total-steps", type=steps_arg, metavar="STEPS",
                   help="environment steps per seed, e.g. 3e6 (default: config's)")
    t.add_argument("--out", metavar="DIR", help="run directory (default runs/<algo>-<env>-<utc time>)")
    c = t.add_mutually_exclusive_group()
    c.add_argument("--chunks", type=int, metavar="N", help="number of jitted chunks to log/checkpoint after "
                   "(default about 20)")
    c.add_argument("--log-every", type=int, metavar="UPDATES", help="updates per chunk instead of --chunks")
    t.add_argument("--set", dest="overrides", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="config override, repeatable: --set lr=1e-3 --set actor_hidden=(128,128)")
    t.add_argument("--eval-episodes", type=int, metavar="N", help="evaluation episodes per seed at the end "
                   "(default 10)")
    t.add_argument("--log", metavar="SINKS", help="metric sinks, comma-separated: csv (always), tensorboard, wandb")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)


def build_parser(help_algo: str | None = None) -> argparse.ArgumentParser:
    """The parser; ``help_algo`` adds that algorithm's config fields to ``jaxrl train --help``."""
    p = argparse.ArgumentParser(prog="jaxrl", description="JAX-native reinforcement learning: environments and agents.")
    p.add_argument("--debug", action="store_true", help="tracebacks for errors; environments check action values")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    e = sub.add_parser("envs", help="list registered environments",
                       description="List registered environments with their spaces, episode lengths and descriptions.")
    e.add_argument("--family", metavar="F", help="only this family (control, minatar, brax, ...)")
    e.add_argument("--markdown", action="store_true", help="print a markdown table")
    g = e.add_mutually_exclusive_group()
    g.add_argument("--update", metavar="FILE", help="rewrite the generated table in FILE (e.g. README.md)")
    g.add_argument("--check", metavar="FILE", help="exit 1 if the generated table in FILE is out of date")
    e.set_defaults(func=cmd_envs)

    add_train_parser(sub, help_algo)

    ev = sub.add_parser("eval", help="evaluate a trained run's policy (return and success per seed)",
                        description="Evaluate the deterministic policy of every (or the chosen) seed of a run "
                        "directory: return and success rate per seed, mean and 95%% interval; optionally a GIF.")
    ev.add_argument("run", help="run directory written by `jaxrl train`")
    ev.add_argument("--episodes", type=int, default=32, metavar="N", help="episodes per seed (default 32)")
    ev.add_argument("--seeds", type=int, nargs="+", metavar="S", help="only these seeds (default: all)")
    ev.add_argument("--key", type=int, default=0, help="evaluation key (default 0)")
    ev.add_argument("--video", metavar="GIF", help="also render one episode of the first chosen seed to GIF")
    ev.set_defaults(func=cmd_eval)

    r = sub.add_parser(
        "report",
        help="aggregate run directories into tables and figures",
        description="Aggregate runs (algorithms x environments x seeds) into an rliable-style report: IQM, mean, "
        "median and optimality gap with 95%% stratified-bootstrap intervals, learning curves, performance profiles "
        "and a probability-of-improvement matrix, written as Markdown, JSON and PNG.",
    )
    r.add_argument("runs", nargs="+", help="run directories written by `jaxrl train`")
    r.add_argument("--out", default="report", help="output directory (default: ./report)")
    r.add_argument("--ref", action="append", default=[], metavar="ENV=LOW:HIGH",
                   help="reference scores for min-max normalisation (repeatable)")
    r.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default 2000)")
    r.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    r.set_defaults(func=cmd_report)

    gp = sub.add_parser("gif", help="render an episode of a trained run's greedy policy to a GIF",
                        description="Render one episode of the greedy policy of a `jaxrl train` run directory to an "
                        "animated GIF (every family with a renderer).")
    gp.add_argument("run", help="run directory written by `jaxrl train`")
    gp.add_argument("--seed-index", type=int, default=0, help="which of the run's seeds (default 0)")
    gp.add_argument("--episode-seed", type=int, default=0, help="key of the rendered episode (default 0)")
    gp.add_argument("--out", help="GIF path (default RUN/episode-seed<S>.gif)")
    gp.set_defaults(func=cmd_gif)

    for name, (_, text) in SUBPROGRAMS.items():  # listed here for --help; main() hands them their arguments
        sub.add_parser(name, help=text, add_help=False)
    return p


def split_host_cpus() -> int | None:
    """Expose every CPU core as a JAX CPU device (``XLA_FLAGS``), so seeds can be sharded one core each.

    XLA runs one device's program on one thread; a vmapped batch of seeds on a single CPU
    device keeps the other cores mostly idle. Takes effect only if called before JAX starts
    its CPU backend; does nothing when ``XLA_FLAGS`` already sets a device count or
    ``JAXRL_NO_CPU_SPLIT`` is set. Returns the count set (or None).
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags or os.environ.get("JAXRL_NO_CPU_SPLIT"):
        return None
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if n > 1:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()
        return n
    return None


def train_help(algo: str) -> str:
    """``jaxrl train ALGO --help`` epilogue: every config field with its default and a one-line doc."""
    from jaxrl.agent import agent_spec
    from jaxrl.settings import describe_fields

    spec = agent_spec(algo)
    return f"{algo} config fields (--set NAME=VALUE; a [config] table in --config):\n" + describe_fields(
        spec.config_class()
    )


def run_command(argv: list[str], debug: bool) -> int:
    """Parse and run one command; user errors are raised to :func:`main`."""
    if argv and argv[0] in SUBPROGRAMS:
        return int(importlib.import_module(SUBPROGRAMS[argv[0]][0]).main(argv[1:]) or 0)
    help_algo = None
    if argv[:1] == ["train"] and any(a in ("-h", "--help") for a in argv[1:]):
        from jaxrl.agent import list_agents

        help_algo = next((a for a in argv[1:] if a in list_agents()), None)
    args = build_parser(help_algo).parse_args(argv)
    args.argv = argv
    args.debug = debug
    return int(args.func(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    from_shell = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv[:1] or os.environ.get("JAXRL_DEBUG") == "1"
    if argv[:1] == ["--debug"]:
        argv = argv[1:]
    if from_shell and argv and argv[0] == "train":
        split_host_cpus()  # seeds of `jaxrl train` are sharded over the cores (see --devices)
    from jaxrl import checks

    if debug:
        checks.enable(True)  # before anything compiles: environments raise on invalid action values
        with checks.translate():
            return run_command(argv, debug)
    command = argv[0] if argv else "jaxrl"
    try:
        with checks.translate():  # an InvalidActionError inside jit comes back as itself (a UserError)
            return run_command(argv, debug)
    except DivergedError as e:
        print(f"jaxrl {command}: run diverged: {e}", file=sys.stderr)
        return 3
    except UserError as e:
        print(f"jaxrl {command}: error: {e}", file=sys.stderr)
        return 130 if type(e).__name__ == "Interrupted" else 2
    except KeyboardInterrupt:
        print(f"jaxrl {command}: interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError) as e:
        print(f"jaxrl {command}: error: {e} (run with --debug for a traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
