"""DQN family (double, dueling, n-step, prioritised replay) as one jit-compiled program.

>>> from jaxrl.agents import dqn
>>> cfg = dqn.Config(env_id="CartPole-v1", total_timesteps=100_000)
>>> state, metrics = jax.jit(dqn.make_train(cfg))(jax.random.key(0))
"""

from jaxrl.agents.dqn.config import Config, HParams
from jaxrl.agents.dqn.dqn import DQN, Learner, QNetwork, epsilon, make_train, td_targets

__all__ = ["DQN", "Config", "HParams", "Learner", "QNetwork", "epsilon", "make_train", "td_targets"]
