"""TD3 configuration: static :class:`Config` and traced :class:`HParams`."""

from __future__ import annotations

from dataclasses import dataclass

import jax
from flax import struct

from jaxrl.offpolicy import COMMON_CHECKS, OffPolicyConfig


@struct.dataclass
class HParams:
    """Traced TD3 hyperparameters (scalars, or ``[S]`` under ``vmap``)."""

    lr: jax.Array  # actor and critic learning rate
    gamma: jax.Array
    max_grad_norm: jax.Array  # global-norm clip, per network
    tau: jax.Array  # soft target-update rate (actor and critics), applied every policy_delay updates
    policy_noise: jax.Array  # std of the target-policy smoothing noise (actions in [-1, 1])
    noise_clip: jax.Array  # the smoothing noise is clipped to [-noise_clip, noise_clip]
    exploration_noise: jax.Array  # std of the Gaussian noise added to the actor's actions when acting


CHECKS = {
    **COMMON_CHECKS,
    "tau": (lambda x: (x > 0) & (x <= 1), "in (0, 1]"),
    "policy_noise": (lambda x: x >= 0, ">= 0"),
    "noise_clip": (lambda x: x >= 0, ">= 0"),
    "exploration_noise": (lambda x: x >= 0, ">= 0"),
}


@dataclass(frozen=True)
class Config(OffPolicyConfig):
    """TD3 settings; the defaults learn Pendulum-v1 (return >= -250) in 30k env steps.

    Actions are ``tanh`` outputs in ``[-1, 1]``, rescaled to the env's bounds by the core;
    the noise scales are in those units.
    """

    _name = "td3.Config"

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
    policy_delay: int = 2  # actor and target updates every this many learner updates
    # traced
    lr: float = 1e-3
    gamma: float = 0.99
    max_grad_norm: float = 100.0
    tau: float = 0.005
    policy_noise: float = 0.2
    noise_clip: float = 0.5
    exploration_noise: float = 0.1

    def validate(self) -> None:
        super().validate()
        self.check_ints("policy_delay")
        self.check_reals(CHECKS)
