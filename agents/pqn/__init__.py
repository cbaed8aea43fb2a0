"""PQN (parallel Q-learning; Gallici et al., 2024) as one jit-compiled program.

>>> from jaxrl.agents import pqn
>>> cfg = pqn.Config(env_id="CartPole-v1")
>>> state, metrics = jax.jit(pqn.make_train(cfg))(jax.random.key(0))
>>> agent = pqn.PQN(cfg); s = agent.init(key); s, m = agent.train_chunk(s, 10); agent.evaluate(key, s, 8)
"""

from jaxrl.agents.pqn.config import Config, HParams, as_hparams, default_hparams
from jaxrl.agents.pqn.loss import Batch, pqn_loss, q_lambda_targets
from jaxrl.agents.pqn.network import QNetwork
from jaxrl.agents.pqn.train import METRIC_NAMES, PQN, RunnerState, make_train

__all__ = [
    "METRIC_NAMES",
    "PQN",
    "Batch",
    "Config",
    "HParams",
    "QNetwork",
    "RunnerState",
    "as_hparams",
    "default_hparams",
    "make_train",
    "pqn_loss",
    "q_lambda_targets",
]
