"""DQN configuration: static :class:`Config` and traced :class:`HParams`."""

from __future__ import annotations

from dataclasses import dataclass

import jax
from flax import struct

from jaxrl.exploration import EPSILON_CHECKS
from jaxrl.offpolicy import COMMON_CHECKS, OffPolicyConfig


@struct.dataclass
class HParams:
    """Traced DQN hyperparameters (scalars, or ``[S]`` under ``vmap``)."""

    lr: jax.Array
    gamma: jax.Array
    max_grad_norm: jax.Array
    tau: jax.Array  # soft target-update rate (used when target_period == 0)
    eps_start: jax.Array
    eps_end: jax.Array
    exploration_fraction: jax.Array  # fraction of total_timesteps over which epsilon decays linearly


CHECKS = {**COMMON_CHECKS, "tau": (lambda x: (x > 0) & (x <= 1), "in (0, 1]"), **EPSILON_CHECKS}


@dataclass(frozen=True)
class Config(OffPolicyConfig):
    """DQN settings; defaults (double DQN, rejax-like replay ratio, annealed lr) solve CartPole-v1 in 200k steps."""

    _name = "dqn.Config"

    total_timesteps: int = 200_000
    num_envs: int = 10
    batch_size: int = 100
    buffer_size: int = 50_000
    learning_starts: int = 5_000
    gradient_steps: int = 5
    anneal_lr: bool = True
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    double: bool = True  # double DQN: online net picks the next action, target net values it
    dueling: bool = False  # dueling heads: Q = V + A - mean(A)
    huber: bool = False  # Huber instead of squared TD loss
    target_period: int = 0  # hard target copy every this many learner updates; 0: soft updates with tau
    # traced
    lr: float = 1e-3
    gamma: float = 0.99
    max_grad_norm: float = 10.0
    tau: float = 0.02
    eps_start: float = 1.0
    eps_end: float = 0.05
    exploration_fraction: float = 0.5

    def validate(self) -> None:
        super().validate()
        self.check_ints("target_period", minimum=0)
        self.check_reals(CHECKS)
