"""An agent trained by a fixed, discovered LPG rule, behind the :class:`jaxrl.Agent` contract.

``jaxrl train lpg --set rule=benchmarks/results/lpg/cpu/lpg_rule --env MiniGrid-Empty-Random-6x6-v0``
trains fresh agents with a rule saved by the LPG study (:func:`jaxrl.meta.lpg.save_rule`), through
the same driver, checkpoints, PBT and ``check_agent`` as every other agent. ``rule="random"`` uses
an untrained rule initialised from ``rule_seed`` (a baseline, and what the contract tests use).

Registered as ``lpg`` through the ``jaxrl.agents`` entry point of this package (:func:`register`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.config import LR, ge, hparams_class, resolve_hparams, traced
from jaxrl.diagnostics import NONFINITE
from jaxrl.errors import UserError
from jaxrl.meta.lpg.agent import AgentConfig, AgentState, LPGAgent
from jaxrl.meta.lpg.network import LPGNetwork, load_rule
from jaxrl.rollout import scan_updates

METRIC_NAMES = ("episode_return", "env_steps", "loss", "pg", "kl", "pi_hat", "entropy", "grad_norm")


@dataclass(frozen=True)
class Config(AgentConfig):
    """The LPG agent's settings plus the run length and the rule to train with; ``lr`` and ``kl_coef``
    are traced here (``vmap`` sweeps and PBT search them)."""

    _name = "lpg.Config"

    lr: float = traced(1e-3, LR)
    kl_coef: float = traced(0.5, ge(0))  # weight of KL(y || y_hat)
    total_timesteps: int = 100_000  # environment steps per run
    rule: str = "random"  # a folder saved by save_rule, or "random" (an untrained rule from rule_seed)
    rule_seed: int = 0  # key of the untrained rule
    time_aware: bool = False  # with rule="random": a TA-LPG architecture

    def validate(self) -> None:
        super().validate()
        self.check_ints("total_timesteps")
        self.check_ints("rule_seed", minimum=0)
        if self.total_timesteps < self.num_envs * self.num_steps:
            raise ValueError(f"lpg.Config: total_timesteps={self.total_timesteps} is less than one update "
                             f"(num_envs*num_steps = {self.num_envs * self.num_steps})")

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // (self.num_envs * self.num_steps)


def load(cfg: Config) -> tuple[LPGNetwork, Any]:
    """``(rule, rule params)`` named by ``cfg.rule``."""
    if cfg.rule == "random":
        rule = LPGNetwork(y_dim=cfg.y_dim, time_aware=cfg.time_aware)
        return rule, rule.init_params(jax.random.key(cfg.rule_seed))
    try:
        rule, params, _ = load_rule(cfg.rule)
    except (ValueError, FileNotFoundError) as e:
        raise UserError(f"lpg.Config.rule: {e}") from None
    return rule, params


HParams = hparams_class(Config)
"""Traced LPG-agent hyperparameters: lr, kl_coef."""


@struct.dataclass
class LPGState(AgentState):
    """The LPG agent's state plus the run's traced hyperparameters."""

    hparams: Any = None


class LPG:
    """A fresh agent trained by one fixed rule: ``init / train_chunk / evaluate / greedy_action``."""

    metric_names = (*METRIC_NAMES, NONFINITE)  # scan_updates adds the divergence flag

    def __init__(self, cfg: Config):
        if not isinstance(cfg, Config):
            raise TypeError(f"LPG needs a jaxrl.meta.lpg.trained.Config, got {type(cfg).__name__}")
        self.cfg = cfg
        self.rule, self.rule_params = load(cfg)
        self.inner = LPGAgent(cfg, self.rule)
        self.env, self.env_params = self.inner.ae.env, self.inner.env_params

    @property
    def num_updates(self) -> int:
        return self.cfg.num_updates

    def init(self, key: jax.Array, hparams: Any = None) -> LPGState:
        s = self.inner.init(key)
        return LPGState(s.params, s.opt_state, s.env, s.key, s.update, resolve_hparams(self.cfg, hparams))

    def train_chunk(self, state: LPGState, n_updates: int) -> tuple[LPGState, dict[str, jax.Array]]:
        """``n_updates`` rule updates of a lifetime of ``num_updates``; metrics ``[n_updates]``."""
        lifetime = jnp.int32(self.num_updates)
        batch = self.cfg.num_envs * self.cfg.num_steps

        def step(state: LPGState):
            hp = state.hparams
            s, m = self.inner.update(state, self.rule_params, lifetime, lr=hp.lr, kl_coef=hp.kl_coef)
            s = state.replace(params=s.params, opt_state=s.opt_state, env=s.env, key=s.key, update=s.update)
            ret = jnp.where(m["episodes"] > 0, m["return_sum"] / jnp.maximum(m["episodes"], 1.0), jnp.nan)
            out = {k: m[k] for k in METRIC_NAMES if k in m}
            return s, {**out, "episode_return": ret, "env_steps": s.update * batch}

        return scan_updates(step, state, n_updates)

    def greedy_action(self, state: LPGState, obs: jax.Array) -> jax.Array:
        """``argmax`` of the policy's logits for observations ``[B, obs_dim]``."""
        return jnp.argmax(self.inner.policy_logits(state.params, obs), axis=-1).astype(jnp.int32)

    def evaluate(self, key: jax.Array, state: LPGState, num_episodes: int) -> jax.Array:
        return self.inner.evaluate(key, state, num_episodes)


def register() -> None:
    """Entry point of the ``jaxrl.agents`` group: makes ``jaxrl train lpg`` and ``make_agent("lpg")`` work."""
    from jaxrl.agent import register_agent

    register_agent("lpg", "jaxrl.meta.lpg.trained", "Config", "LPG", "MiniGrid-Empty-Random-6x6-v0",
                   "an agent trained by a discovered LPG rule (--set rule=PATH)", overwrite=True)


__all__ = ["LPG", "METRIC_NAMES", "Config", "register"]
