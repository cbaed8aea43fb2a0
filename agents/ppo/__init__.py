"""Proximal Policy Optimisation as one jit-compiled program.

>>> from jaxrl.agents import ppo
>>> cfg = ppo.Config(env_id="CartPole-v1", total_timesteps=500_000)
>>> state, metrics = jax.jit(ppo.make_train(cfg))(jax.random.key(0))
>>> agent = ppo.PPO(cfg); s = agent.init(key); s, m = agent.train_chunk(s, 10); agent.evaluate(key, s, 8)
>>> agent = ppo.PPO(cfg, env=jaxrl.testing.ChainEnv())   # an Environment object, no registration
"""

from jaxrl.agents.ppo.config import Config, HParams, as_hparams, default_hparams
from jaxrl.agents.ppo.loss import Batch, PolicyObjective, clipped_objective, ppo_loss
from jaxrl.agents.ppo.train import METRIC_NAMES, PPO, RunnerState, make_train

__all__ = [
    "METRIC_NAMES",
    "PPO",
    "Batch",
    "Config",
    "HParams",
    "PolicyObjective",
    "RunnerState",
    "as_hparams",
    "clipped_objective",
    "default_hparams",
    "make_train",
    "ppo_loss",
]
