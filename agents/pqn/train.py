"""PQN on the shared on-policy loop (:class:`jaxrl.onpolicy.OnPolicyAgent`), with chunked training for checkpoints.

>>> cfg = pqn.Config(env_id="CartPole-v1")
>>> state, metrics = jax.jit(pqn.make_train(cfg))(jax.random.key(0))
>>> state, metrics = jax.jit(jax.vmap(pqn.make_train(cfg)))(jax.random.split(key, 16), hparams)

One update: roll out ``num_steps`` steps of ``num_envs`` environments with an
epsilon-greedy policy on the current Q-network, compute Q(lambda) returns
(:func:`jaxrl.agents.pqn.loss.q_lambda_targets`; truncated episodes bootstrap
from the max Q of their terminal observation), then ``update_epochs`` passes
of ``num_minibatches`` Adam steps on the squared error to those returns. No
replay buffer and no target network: the LayerNorm Q-network and the many
parallel environments keep the updates stable (Gallici et al., 2024).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl.agents.pqn.config import Config, HParams
from jaxrl.agents.pqn.loss import Batch, pqn_loss, q_lambda_targets
from jaxrl.agents.pqn.network import QNetwork
from jaxrl.env import Environment
from jaxrl.exploration import epsilon, epsilon_greedy
from jaxrl.onpolicy import OnPolicyAgent, with_nonfinite
from jaxrl.rollout import EnvCarry, Transition, flatten_batch, rollout

METRIC_NAMES = with_nonfinite(
    ("episode_return", "episode_length", "env_steps", "loss", "q_mean", "grad_norm", "epsilon", "lr")
)


@struct.dataclass
class RunnerState:
    """Everything a run carries between updates (a checkpoint saves exactly this)."""

    params: Any  # Q-network parameters
    opt_state: Any  # Adam moments (flat [num_params] vectors) and count
    env_state: Any  # [B, ...] batched environment state
    obs: jax.Array  # [B, obs_dim] current observations
    key: jax.Array  # PRNG key of the next update
    update: jax.Array  # [] int32, updates done
    hparams: HParams  # traced hyperparameters of this run


class PQN(OnPolicyAgent):
    """PQN on ``cfg.env_id`` (or ``env``, an id or an :class:`Environment` object; discrete actions).

    Methods are pure and jittable; ``vmap`` them over keys/states.
    """

    config_type = Config
    name = "pqn"
    kinds = ("categorical",)
    learner_metrics = ("loss", "q_mean")
    report_grad_norm = True
    extra_metrics = ("epsilon", "lr")

    def __init__(self, cfg: Config, *, env: str | Environment | None = None, env_params: Any = None):
        super().__init__(cfg, env=env, env_params=env_params)

    def build(self) -> None:
        self.num_actions = self.spec.head_size
        self.network = QNetwork(self.cfg.hidden, self.num_actions, self.cfg.activation, self.cfg.layer_norm)
        self.optimizer = optax.scale_by_adam()

    # ------------------------------------------------------------------ pieces
    def q(self, params: Any, obs: jax.Array) -> jax.Array:
        """Q-values ``[..., num_actions]`` of observations ``[..., obs_dim]``."""
        return self.network.apply(params, obs)

    def max_q(self, params: Any, obs: jax.Array) -> jax.Array:
        """``max_a Q(obs, a)``, ``[...]``."""
        return jnp.max(self.q(params, obs), axis=-1)

    def greedy(self, params: Any, obs: jax.Array) -> jax.Array:
        """``argmax_a Q(obs, a)``, ``[...]`` int32."""
        return jnp.argmax(self.q(params, obs), axis=-1).astype(jnp.int32)

    def epsilon(self, hp: HParams, update: jax.Array) -> jax.Array:
        """Exploration rate of update ``update``: linear from ``eps_start`` to ``eps_end`` over
        ``exploration_fraction`` of the ``num_updates`` updates, then constant."""
        return epsilon(hp, self.progress(update))

    # ------------------------------------------------------------------ hooks
    def initial_state(self, **fields: Any) -> RunnerState:
        return RunnerState(**fields)

    def prepare(self, key: jax.Array, state: RunnerState):
        """Epsilon-greedy rollout and the Q(lambda) targets as a ``[T*B]`` :class:`Batch`."""
        hp = state.hparams
        eps = self.epsilon(hp, state.update)
        carry, traj = self.collect(key, state.params, state.env_state, state.obs, eps)
        targets = self.targets(state.params, hp, traj, carry.obs)  # [T, B]
        batch = flatten_batch(Batch(traj.obs, traj.action, targets))  # [T*B, ...]
        return carry, traj, batch, {"epsilon": eps, "lr": self.learning_rate(hp, state.update)}, {}

    def loss(self, params: Any, batch: Batch, state: RunnerState, progress: jax.Array):
        return pqn_loss(params, self.network.apply, batch)

    def collect(
        self, key: jax.Array, params: Any, env_state: Any, obs: jax.Array, eps: jax.Array
    ) -> tuple[EnvCarry, Transition]:
        """``num_steps`` epsilon-greedy steps; ``extras = max_a Q(obs_t, a)``, ``[T, B]``."""

        def act(k, o):  # o [B, obs_dim]
            q = self.q(params, o)  # [B, A]
            return epsilon_greedy(k, q, eps), jnp.max(q, axis=-1)

        return rollout(key, self.venv, self.env_params, EnvCarry(env_state, obs), act, self.cfg.num_steps)

    def targets(self, params: Any, hp: HParams, traj: Transition, last_obs: jax.Array) -> jax.Array:
        """Q(lambda) targets ``[T, B]`` of a rollout (see :func:`jaxrl.agents.pqn.loss.q_lambda_targets`)."""
        return q_lambda_targets(lambda o: self.max_q(params, o), traj, last_obs, hp.gamma, hp.td_lambda)

    def greedy_action(self, runner_state: RunnerState, obs: jax.Array) -> jax.Array:
        """``argmax_a Q`` actions ``[B]`` for observations ``[B, obs_dim]``."""
        return self.greedy(runner_state.params, obs)


def make_train(cfg: Config, *, env: str | Environment | None = None, env_params: Any = None):
    """``train(key, hparams=None) -> (runner_state, metrics)`` running all ``cfg.num_updates`` updates.

    A plain function; build ``PQN(cfg)`` and use ``agent.make_train()`` when you also need the agent.
    """
    return PQN(cfg, env=env, env_params=env_params).make_train()
