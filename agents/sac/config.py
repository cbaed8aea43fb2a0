"""SAC configuration: one :class:`Config` whose fields say static or traced; :class:`HParams` derived from it."""

from __future__ import annotations

from dataclasses import dataclass

from jaxrl.config import (
    GAMMA,
    GRAD_NORM,
    LR,
    RATE,
    activations,
    gt,
    hparams_class,
    in_range,
    layer_sizes,
    non_negative,
    positive,
    static,
    traced,
)
from jaxrl.errors import UserError
from jaxrl.offpolicy import OffPolicyConfig


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
    total_timesteps: int = static(30_000, positive)
    num_envs: int = static(1, positive)
    num_steps: int = static(1, positive)
    gradient_steps: int = static(1, positive)
    batch_size: int = static(256, positive)
    buffer_size: int = static(100_000, positive)
    learning_starts: int = static(1_000, non_negative)
    hidden: tuple[int, ...] = static((64, 64), layer_sizes)  # actor and each critic
    activation: str = static("relu", activations())
    autotune: bool = True  # learn the temperature; False: alpha stays init_alpha
    log_std_min: float = -5.0  # clip of the actor's state-dependent log-std
    log_std_max: float = 2.0
    lr: float = traced(1e-3, LR)  # actor and critic learning rate
    gamma: float = traced(0.99, GAMMA)
    max_grad_norm: float = traced(100.0, GRAD_NORM)  # global-norm clip, per network
    tau: float = traced(0.005, RATE)  # soft target-update rate of the critics
    alpha_lr: float = traced(1e-3, gt(0))  # temperature learning rate
    init_alpha: float = traced(1.0, gt(0))  # initial temperature (the fixed one when autotune=False)
    target_entropy_scale: float = traced(1.0)  # continuous: target entropy = -scale * action_dim
    target_entropy_ratio: float = traced(0.7, in_range(0, 1, lo_open=True))  # discrete: ratio * log(num_actions)

    def validate(self) -> None:
        super().validate()
        if not self.log_std_min < self.log_std_max:
            raise UserError(f"sac.Config needs log_std_min < log_std_max, got {self.log_std_min}, {self.log_std_max}")


HParams = hparams_class(Config)
"""Traced SAC hyperparameters: lr, gamma, max_grad_norm, tau, alpha_lr, init_alpha, target_entropy_scale/_ratio."""
