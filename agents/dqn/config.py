"""DQN configuration: one :class:`Config` whose fields say static or traced; :class:`HParams` derived from it."""

from __future__ import annotations

from dataclasses import dataclass

from jaxrl.config import (
    GAMMA,
    GRAD_NORM,
    LR,
    RATE,
    UNIT,
    activations,
    hparams_class,
    layer_sizes,
    non_negative,
    positive,
    static,
    traced,
)
from jaxrl.offpolicy import OffPolicyConfig


@dataclass(frozen=True)
class Config(OffPolicyConfig):
    """DQN settings; defaults (double DQN, rejax-like replay ratio, annealed lr) solve CartPole-v1 in 200k steps."""

    _name = "dqn.Config"

    total_timesteps: int = static(200_000, positive)
    num_envs: int = static(10, positive)
    batch_size: int = static(100, positive)
    buffer_size: int = static(50_000, positive)
    learning_starts: int = static(5_000, non_negative)
    gradient_steps: int = static(5, positive)
    anneal_lr: bool = True
    hidden: tuple[int, ...] = static((64, 64), layer_sizes)
    activation: str = static("relu", activations())
    double: bool = True  # double DQN: online net picks the next action, target net values it
    dueling: bool = False  # dueling heads: Q = V + A - mean(A)
    huber: bool = False  # Huber instead of squared TD loss
    target_period: int = static(0, non_negative)  # hard target copy every this many learner updates; 0: soft (tau)
    lr: float = traced(1e-3, LR)
    gamma: float = traced(0.99, GAMMA)
    max_grad_norm: float = traced(10.0, GRAD_NORM)
    tau: float = traced(0.02, RATE)  # soft target-update rate (used when target_period == 0)
    eps_start: float = traced(1.0, UNIT)
    eps_end: float = traced(0.05, UNIT)
    exploration_fraction: float = traced(0.5, RATE)  # fraction of total_timesteps over which epsilon decays


HParams = hparams_class(Config)
"""Traced DQN hyperparameters: lr, gamma, max_grad_norm, tau, eps_start, eps_end, exploration_fraction."""
