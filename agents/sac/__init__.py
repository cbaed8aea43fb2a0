"""Soft Actor-Critic (continuous, and discrete SAC for ``Discrete`` actions) as one jit-compiled program.

>>> from jaxrl.agents import sac
>>> cfg = sac.Config(env_id="Pendulum-v1", total_timesteps=30_000)
>>> state, metrics = jax.jit(sac.make_train(cfg))(jax.random.key(0))
"""

from jaxrl.agents.sac.config import Config, HParams
from jaxrl.agents.sac.sac import (
    SAC,
    Learner,
    discrete_soft_target,
    discrete_soft_value,
    make_train,
    soft_target,
    temperature_loss,
)
from jaxrl.offpolicy_nets import DeterministicActor, GaussianActor, TanhGaussian, TwinCritic, tanh_log_det

__all__ = [
    "SAC",
    "Config",
    "DeterministicActor",
    "GaussianActor",
    "HParams",
    "Learner",
    "TanhGaussian",
    "TwinCritic",
    "discrete_soft_target",
    "discrete_soft_value",
    "make_train",
    "soft_target",
    "tanh_log_det",
    "temperature_loss",
]
