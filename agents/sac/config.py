"""SAC configuration: static :class:`Config` and traced :class:`HParams`."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np
from flax import struct

from jaxrl.offpolicy import COMMON_CHECKS, OffPolicyConfig


@struct.dataclass
class HParams:
    """Traced SAC hyperparameters (scalars, or ``[S]`` under ``vmap``)."""

    lr: jax.Array  # actor and critic learning rate
    gamma: jax.Array
    max_grad_norm: jax.Array  # global-norm clip, per network
    tau: jax.Array  # soft target-update rate of the critics
    alpha_lr: jax.Array  # temperature learning rate
    init_alpha: jax.Array  # initial temperature (the fixed one when autotune=False)
    target_entropy_scale: jax.Array  # continuous: target entropy = -scale * action_dim
    target_entropy_ratio: jax.Array  # discrete: target entropy = ratio * log(num_actions)


CHECKS = {
    **COMMON_CHECKS,
    "tau": (lambda x: (x > 0) & (x <= 1), "in (0, 1]"),
    "alpha_lr": (lambda x: x > 0, "> 0"),
    "init_alpha": (lambda x: x > 0, "> 0"),
    "target_entropy_scale": (lambda x: np.isfinite(x), "a real number"),
    "target_entropy_ratio": (lambda x: (x > 0) & (x <= 1), "in (0, 1]"),
}


@dataclass(frozen=True)
class Config(OffPolicyConfig):
    """SAC settings; the defaults learn Pendulum-v1 (return >= -250) in 30k env steps.

    One learner update per env step (``gradient_steps / (num_envs * num_steps) = 1``),
    as in the SAC paper. Continuous actions are tanh-squashed into ``[-1, 1]`` and
    rescaled to the env's bounds by the core; ``Discrete`` action spaces get
    discrete SAC (Christodoulou 2019).
    """

    _name = "sac.Config"

    env_id: str = "Pendulum-v1"
    total_timesteps: int = 30_000
    num_envs: int = 1
    num_steps: int = 1
    gradient_steps: int = 1
    batch_size: int = 256
    buffer_size: int = 100_000
    learning_starts: int = 1_000
    hidden: tuple[int, ...] = (64, 64)  # actor and each critic
    activation: str = "relu"
    autotune: bool = True  # learn the temperature; False: alpha stays init_alpha
    log_std_min: float = -5.0  # clip of the actor's state-dependent log-std
    log_std_max: float = 2.0
    # traced
    lr: float = 1e-3
    gamma: float = 0.99
    max_grad_norm: float = 100.0
    tau: float = 0.005
    alpha_lr: float = 1e-3
    init_alpha: float = 1.0
    target_entropy_scale: float = 1.0
    target_entropy_ratio: float = 0.7

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.autotune, bool):
            raise ValueError(f"sac.Config.autotune must be a bool, got {self.autotune!r}")
        self.check_reals(CHECKS)
        real = (lambda x: True, "a real number")
        self.check_reals({"log_std_min": real, "log_std_max": real})
        if not self.log_std_min < self.log_std_max:
            raise ValueError(f"sac.Config needs log_std_min < log_std_max, got {self.log_std_min}, {self.log_std_max}")
