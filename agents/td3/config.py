"""TD3 configuration: one :class:`Config` whose fields say static or traced; :class:`HParams` derived from it."""

from __future__ import annotations

from dataclasses import dataclass

from jaxrl.config import (
    GAMMA,
    GRAD_NORM,
    LR,
    RATE,
    activations,
    ge,
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
    """TD3 settings; the defaults learn Pendulum-v1 (return >= -250) in 30k env steps.

    Actions are ``tanh`` outputs in ``[-1, 1]``, rescaled to the env's bounds by the core;
    the noise scales are in those units.
    """

    _name = "td3.Config"

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
    policy_delay: int = static(2, positive)  # actor and target updates every this many learner updates
    lr: float = traced(1e-3, LR)  # actor and critic learning rate
    gamma: float = traced(0.99, GAMMA)
    max_grad_norm: float = traced(100.0, GRAD_NORM)  # global-norm clip, per network
    tau: float = traced(0.005, RATE)  # soft target-update rate (actor and critics), every policy_delay updates
    policy_noise: float = traced(0.2, ge(0))  # std of the target-policy smoothing noise (actions in [-1, 1])
    noise_clip: float = traced(0.5, ge(0))  # the smoothing noise is clipped to [-noise_clip, noise_clip]
    exploration_noise: float = traced(0.1, ge(0))  # std of the Gaussian noise added to the actor's actions


HParams = hparams_class(Config)
"""Traced TD3 hyperparameters: lr, gamma, max_grad_norm, tau, policy_noise, noise_clip, exploration_noise."""
