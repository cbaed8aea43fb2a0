"""Configs from text: ``--set key=value`` values, TOML experiment files, and field documentation.

>>> spec = jaxrl.agent_spec("ppo")
>>> cfg = build_config(spec, {"lr": "1e-3", "actor_hidden": "(128, 128)"}, strings=True)
>>> values = read_toml("exp.toml")          # {"algo": "ppo", "env": "CartPole-v1", "config": {...}, ...}

A config file holds what ``jaxrl train`` takes on the command line::

    algo = "ppo"                 # optional; the command line's ALGO wins
    env = "CartPole-v1"
    seeds = 8
    total_steps = 1e6
    [config]                     # any field of the agent's Config
    lr = 3e-4
    actor_hidden = [128, 128]

Unknown keys are rejected with the valid names listed; ``--set`` overrides the file.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jaxrl.errors import UserError

TRAIN_KEYS = ("algo", "env", "seeds", "seed", "total_steps", "devices", "chunks", "log_every", "eval_episodes",
              "out", "log", "config")
"""Top-level keys of a ``jaxrl train --config`` file."""


def field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def coerce(value: Any, default: Any, name: str = "") -> Any:
    """Convert a parsed value to the type of a config field's default (3e6 -> int, [64, 64] -> tuple, ...)."""
    if value is None or default is None or default is dataclasses.MISSING:
        return value
    if isinstance(default, bool):
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, bool | int) and value in (0, 1):
            return bool(value)
        raise UserError(f"{name} expects true/false, got {value!r}")
    if isinstance(default, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise UserError(f"{name} expects an integer, got {value!r}")
    if isinstance(default, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise UserError(f"{name} expects a number, got {value!r}")
    if isinstance(default, tuple) and isinstance(value, list | tuple):
        return tuple(value)
    if isinstance(default, tuple) and isinstance(value, int | float):
        return (value,)
    return value


def parse_value(text: str) -> Any:
    """``--set`` values: Python literals (3e6, (64, 64), {'a': 1}, True, None), anything else a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return {"true": True, "false": False, "none": None, "null": None}.get(text.lower(), text)


def build_config(spec: Any, values: Mapping[str, Any], strings: bool = False) -> Any:
    """``spec``'s (an :class:`jaxrl.agent.AgentSpec`) config from field values (``strings``: ``--set`` text).

    Unknown fields and values the config rejects raise :class:`UserError` naming the field.
    """
    cls = spec.config_class()
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in values if k not in fields]
    if unknown:
        raise UserError(f"unknown {spec.name} config field(s) {unknown}; valid: {', '.join(fields)}")
    kwargs = {}
    for k, v in values.items():
        v = parse_value(v) if strings and isinstance(v, str) else v
        kwargs[k] = coerce(v, field_default(fields[k]), f"{spec.name} config field {k}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        raise UserError(f"invalid {spec.name} configuration: {e}") from None


def parse_steps(text: str | float | int) -> int:
    """``3e6`` / ``3_000_000`` / ``500000`` -> int; rejects fractions and non-positive values."""
    try:
        v = float(str(text).replace("_", ""))
    except ValueError:
        raise UserError(f"expected a number of steps like 3e6, got {text!r}") from None
    if not v.is_integer() or v <= 0:
        raise UserError(f"number of steps must be a positive integer, got {text!r}")
    return int(v)


def load_toml(path: Path) -> dict[str, Any]:
    """A TOML file's top-level table; a missing or malformed file raises :class:`UserError`."""
    import tomllib

    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"config file {path} is not valid TOML: {e}") from None


def read_toml(path: str | Path, allowed: tuple[str, ...] = TRAIN_KEYS) -> dict[str, Any]:
    """The top-level table of a TOML file; unknown keys raise :class:`UserError` listing ``allowed``."""
    path = Path(path)
    data = load_toml(path)
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise UserError(f"config file {path}: unknown key(s) {unknown}; valid: {', '.join(allowed)}")
    if "config" in data and not isinstance(data["config"], dict):
        raise UserError(f"config file {path}: [config] must be a table of config fields")
    return data


def args_from_toml(parser: Any, args: Any, path: str | Path, skip: tuple[str, ...] = ("config", "resume")) -> Any:
    """Fill ``args`` (parsed by ``parser``) from a TOML file: each key is a flag's name without dashes
    (``updates_per_round = 4``; a list for repeatable flags: ``search = ["lr=1e-4:1e-2:log"]``); a
    ``[set]`` table gives config overrides. Flags given on the command line win (repeatable ones
    are added after the file's, so ``--set`` overrides it). Unknown keys raise :class:`UserError`
    listing the valid ones. Used by ``jaxrl pbt --config`` and ``jaxrl meta --config``.
    """
    import argparse

    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", *skip) and a.dest != argparse.SUPPRESS}
    path = Path(path)
    data = load_toml(path)
    if isinstance(data.get("set"), dict):
        data["overrides"] = [f"{k}={v!r}" if isinstance(v, list | tuple | str) else f"{k}={v}"
                             for k, v in data.pop("set").items()]
    unknown = sorted(set(data) - set(actions))
    if unknown:
        valid = ", ".join(sorted("set" if d == "overrides" else d for d in actions))
        raise UserError(f"config file {path}: unknown key(s) {unknown}; valid: {valid}")

    def convert(action: Any, v: Any) -> Any:
        if action.type is not None and isinstance(v, str):
            try:
                return action.type(v)
            except (argparse.ArgumentTypeError, ValueError) as e:
                raise UserError(f"config file {path}: {action.dest}: {e}") from None
        if action.type in (int, float) and isinstance(v, int | float) and not isinstance(v, bool):
            return action.type(v)
        return v

    for dest, v in data.items():
        action = actions[dest]
        current = getattr(args, dest)
        if isinstance(action, argparse._AppendAction):
            values = v if isinstance(v, list) else [v]
            setattr(args, dest, [convert(action, x) for x in values] + list(current or []))
        elif current == parser.get_default(dest):
            if action.choices is not None and v not in action.choices:
                raise UserError(f"config file {path}: {dest} must be one of {list(action.choices)}, got {v!r}")
            setattr(args, dest, convert(action, v))
    return args


def to_toml(values: Mapping[str, Any]) -> str:
    """A TOML text for a flat table plus one ``[config]`` sub-table (what :func:`read_toml` reads back)."""

    def lit(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list | tuple):
            return "[" + ", ".join(lit(x) for x in v) + "]"
        if isinstance(v, Mapping):
            return "{" + ", ".join(f"{k} = {lit(x)}" for k, x in v.items()) + "}"
        raise TypeError(f"cannot write {v!r} as TOML")

    lines = [f"{k} = {lit(v)}" for k, v in values.items() if k != "config" and v is not None]
    if "config" in values:
        lines += ["", "[config]"]
        lines += [f"{k} = {lit(v)}" for k, v in values["config"].items() if v is not None]
    return "\n".join(lines) + "\n"


_COMMENT = re.compile(r"^\s*(\w+)\s*:[^=#]*=[^#]*#\s*(.+)$")

COMMON_DOCS = {
    "env_id": "environment id (jaxrl envs lists them)",
    "env_params": "overrides of the environment's default params",
    "total_timesteps": "environment steps per seed",
    "num_envs": "parallel environments per seed",
    "num_steps": "environment steps per environment per update (rollout length)",
    "update_epochs": "passes over each batch",
    "num_minibatches": "minibatches per pass",
    "batch_size": "transitions per learner update",
    "buffer_size": "replay buffer capacity (transitions)",
    "n_step": "n-step returns (1: one-step targets)",
    "prioritized": "prioritised replay",
    "priority_alpha": "prioritised replay: priority exponent",
    "priority_beta": "prioritised replay: importance-weight exponent",
    "lr": "learning rate (Adam)",
    "gamma": "discount factor",
    "gae_lambda": "GAE lambda",
    "clip_eps": "PPO clip range of the probability ratio",
    "ent_coef": "entropy bonus coefficient",
    "vf_coef": "value loss coefficient",
    "max_grad_norm": "global gradient-norm clip",
    "anneal_lr": "decay the learning rate linearly to 0 over the run",
    "activation": "hidden-layer activation",
    "hidden": "hidden layer sizes",
    "actor_hidden": "hidden layer sizes of the policy",
    "critic_hidden": "hidden layer sizes of the value function",
    "normalize_obs": "normalise observations with running statistics",
    "normalize_reward": "scale rewards by the running std of the discounted return",
    "normalize_advantages": "normalise advantages per minibatch",
    "clip_value_loss": "PPO-style clipped value loss",
    "obs_clip": "clip normalised observations to [-obs_clip, obs_clip]",
    "adam_eps": "Adam epsilon",
    "eps_start": "epsilon-greedy: exploration rate at the start",
    "eps_end": "epsilon-greedy: final exploration rate",
    "reset_mode": "VecEnv reset mode (None: its default)",
    "y_dim": "size of the LPG prediction vector y",
    "log_std_max": "upper bound of the actor's log standard deviation",
}
"""One-line docs of fields many configs share (a field's own comment or ``metadata["doc"]`` wins)."""


def field_docs(cls: type) -> dict[str, str]:
    """One line of documentation per config field: ``metadata["doc"]``, else the source's trailing comment."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for line in source.splitlines():
            m = _COMMENT.match(line)
            if m:
                docs[m.group(1)] = m.group(2).strip()
    for f in dataclasses.fields(cls):
        doc = f.metadata.get("doc") if f.metadata else None
        if doc:
            docs[f.name] = doc
    return {f.name: docs.get(f.name) or COMMON_DOCS.get(f.name, "") for f in dataclasses.fields(cls)}


def describe_fields(cls: type) -> str:
    """``jaxrl train ALGO --help``: every field with its default, static/traced and a one-line doc."""
    docs = field_docs(cls)
    rows = []
    for f in dataclasses.fields(cls):
        d = field_default(f)
        kind = (f.metadata or {}).get("jaxrl", ("",))[0]  # jaxrl.config.static / traced
        default = "(required)" if d is dataclasses.MISSING else repr(dict(d) if isinstance(d, Mapping) else d)
        rows.append((f.name, default, kind, docs[f.name]))
    w0 = max(len(r[0]) for r in rows)
    w1 = min(max(len(r[1]) for r in rows), 24)
    return "\n".join(f"  {n:<{w0}}  {d:<{w1}}  {k + ': ' if k else ''}{doc}".rstrip() for n, d, k, doc in rows)


__all__ = ["args_from_toml", "build_config", "coerce", "describe_fields", "field_docs", "parse_steps", "parse_value",
           "read_toml", "to_toml"]
