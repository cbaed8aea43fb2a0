"""TD3 (twin critics, target-policy smoothing, delayed actor updates) as one jit-compiled program.

>>> from jaxrl.agents import td3
>>> cfg = td3.Config(env_id="Pendulum-v1", total_timesteps=30_000)
>>> state, metrics = jax.jit(td3.make_train(cfg))(jax.random.key(0))
"""

from jaxrl.agents.td3.config import Config, HParams
from jaxrl.agents.td3.td3 import TD3, Learner, make_train, smoothed_action, td3_target

__all__ = ["TD3", "Config", "HParams", "Learner", "make_train", "smoothed_action", "td3_target"]
