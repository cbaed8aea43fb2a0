"""DQN with double-Q, dueling-head, n-step and prioritised-replay options.

>>> cfg = dqn.Config(env_id="CartPole-v1", total_timesteps=100_000)
>>> state, metrics = jax.jit(dqn.make_train(cfg))(jax.random.key(0))

The loop (acting, replay, actor lag, n-step batches) is the core's
:class:`jaxrl.offpolicy.OffPolicyAgent`; this module holds only the Q-network,
epsilon-greedy exploration and the TD update.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl import offpolicy
from jaxrl.agents.dqn.config import Config, HParams
from jaxrl.exploration import epsilon, epsilon_greedy
from jaxrl.networks import MLP, activation
from jaxrl.offpolicy import Batch, OffPolicyAgent


class QNetwork(nn.Module):
    """``Q(obs) -> [..., num_actions]``; with ``dueling``, ``V + A - mean(A)`` from a shared trunk."""

    hidden: tuple[int, ...]
    num_actions: int
    activation: str = "relu"
    dueling: bool = False

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        if not self.dueling:
            return MLP(self.hidden, self.num_actions, self.activation)(obs)
        trunk = MLP(self.hidden[:-1], self.hidden[-1], self.activation, name="trunk")(obs)
        trunk = activation(self.activation)(trunk)  # the core table: every configured activation
        v = nn.Dense(1, name="value")(trunk)
        a = nn.Dense(self.num_actions, name="advantage")(trunk)
        return v + a - jnp.mean(a, axis=-1, keepdims=True)


@struct.dataclass
class Learner:
    params: Any
    target: Any
    opt_state: Any


def td_targets(q_next_online: jax.Array, q_next_target: jax.Array, batch: Batch, double: bool) -> jax.Array:
    """``reward + discount * Q_target(next_obs, a*)``, ``a*`` from the online net when ``double``; ``[S]``."""
    if double:
        a_star = jnp.argmax(q_next_online, axis=-1)
        v_next = jnp.take_along_axis(q_next_target, a_star[:, None], axis=-1)[:, 0]
    else:
        v_next = jnp.max(q_next_target, axis=-1)
    return batch.reward + batch.discount * v_next


class DQN(OffPolicyAgent):
    config_type = Config
    name = "dqn"
    kinds = ("categorical",)
    learner_metrics = ("loss", "q_mean", "grad_norm")

    def build(self) -> None:
        cfg = self.cfg
        if len(cfg.hidden) < 1:
            raise ValueError("dqn.Config.hidden needs at least one layer")
        self.network = QNetwork(cfg.hidden, self.spec.head_size, cfg.activation, cfg.dueling)
        self.optimizer = optax.scale_by_adam()

    def q(self, params: Any, obs: jax.Array) -> jax.Array:
        return self.network.apply(params, obs)

    def init_learner(self, key: jax.Array, hparams: HParams) -> Learner:
        params = self.network.init(key, jnp.zeros((1, self.spec.obs_dim), jnp.float32))
        return Learner(params, params, self.optimizer.init(params))

    def acting_params(self, learner: Learner) -> Any:
        return learner.params

    def greedy(self, params: Any, obs: jax.Array) -> jax.Array:
        return jnp.argmax(self.q(params, obs), axis=-1).astype(jnp.int32)

    def explore(self, params, key, obs, hparams, progress) -> jax.Array:
        return epsilon_greedy(key, self.q(params, obs), epsilon(hparams, progress))

    def learn(self, learner: Learner, key: jax.Array, batch: Batch, hp: HParams, step: jax.Array):
        cfg = self.cfg
        q_next_online = self.q(learner.params, batch.next_obs) if cfg.double else None
        q_next_target = self.q(learner.target, batch.next_obs)
        target = jax.lax.stop_gradient(td_targets(q_next_online, q_next_target, batch, cfg.double))

        def loss_fn(params):
            q = self.q(params, batch.obs)
            q_a = jnp.take_along_axis(q, batch.action[:, None].astype(jnp.int32), axis=-1)[:, 0]
            err = q_a - target
            per = optax.huber_loss(err) if cfg.huber else 0.5 * err**2
            return jnp.mean(batch.weight * per), (err, jnp.mean(q_a))

        (loss, (err, q_mean)), grads = jax.value_and_grad(loss_fn, has_aux=True)(learner.params)
        params, opt_state, gnorm = offpolicy.adam_step(self.optimizer, learner.params, grads, learner.opt_state,
                                                       hp.lr, hp.max_grad_norm)
        if cfg.target_period:
            target_params = offpolicy.periodic(learner.target, params, step, cfg.target_period)
        else:
            target_params = offpolicy.polyak(learner.target, params, hp.tau)
        metrics = {"loss": loss, "q_mean": q_mean, "grad_norm": gnorm}
        return Learner(params, target_params, opt_state), metrics, jnp.abs(err) + 1e-6


def make_train(cfg: Config, *, env: Any = None, env_params: Any = None):
    """``train(key, hparams=None) -> (state, metrics)``; metrics are ``[num_updates]`` arrays (a plain function).

    ``env``: an id or an :class:`jaxrl.Environment` object replacing ``cfg.env_id``; build
    ``DQN(cfg, env=..., env_params=...)`` and use ``agent.make_train()`` when you also need the agent.
    """
    return DQN(cfg, env=env, env_params=env_params).make_train()
