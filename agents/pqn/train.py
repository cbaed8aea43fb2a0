"""PQN as a jit-compiled train function, with chunked training for checkpoints.

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
from jax.flatten_util import ravel_pytree

from jaxrl.agent_env import AgentEnv, agent_env
from jaxrl.agents.pqn.config import Config, HParams, as_hparams
from jaxrl.agents.pqn.evaluate import evaluate
from jaxrl.agents.pqn.loss import Batch, pqn_loss, q_lambda_targets
from jaxrl.agents.pqn.network import QNetwork
from jaxrl.exploration import epsilon, epsilon_greedy
from jaxrl.optim import adam_step
from jaxrl.rollout import EnvCarry, Transition, episode_mean, flatten_batch, rollout, scan_updates, sgd_epochs

METRIC_NAMES = ("episode_return", "episode_length", "env_steps", "loss", "q_mean", "grad_norm", "epsilon", "lr")


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


class PQN:
    """PQN on ``cfg.env_id`` (discrete actions). Methods are pure and jittable; ``vmap`` them over keys/states."""

    def __init__(self, cfg: Config):
        if not isinstance(cfg, Config):
            raise TypeError(f"PQN needs a pqn.Config, got {type(cfg).__name__}")
        self.cfg = cfg
        self.spec: AgentEnv = agent_env(
            cfg.env_id, cfg.env_params, cfg.num_envs, cfg.reset_mode, kinds=("categorical",), who="pqn"
        )
        self.env, self.env_params, self.venv = self.spec.env, self.spec.env_params, self.spec.venv
        self.num_actions = self.spec.head_size
        self.network = QNetwork(cfg.hidden, self.num_actions, cfg.activation, cfg.layer_norm)
        self.optimizer = optax.scale_by_adam()

    @property
    def num_updates(self) -> int:
        return self.cfg.num_updates

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
        return epsilon(hp, update.astype(jnp.float32) / self.num_updates)

    def learning_rate(self, hp: HParams, update: jax.Array) -> jax.Array:
        """``lr``, or with ``anneal_lr`` ``lr * (1 - update / num_updates)`` (stops at zero)."""
        if not self.cfg.anneal_lr:
            return hp.lr
        return hp.lr * jnp.maximum(1.0 - update.astype(jnp.float32) / self.num_updates, 0.0)

    # ------------------------------------------------------------------ API
    def init(self, key: jax.Array, hparams: HParams | dict | None = None) -> RunnerState:
        """Fresh runner state: network, optimiser, environments."""
        hparams = as_hparams(self.cfg, hparams)
        k_net, k_env, k_run = jax.random.split(key, 3)
        params = self.network.init(k_net, jnp.zeros((1, self.spec.obs_dim), jnp.float32))
        obs, env_state = self.venv.reset(k_env, self.env_params)
        return RunnerState(
            params=params,
            opt_state=self.optimizer.init(ravel_pytree(params)[0]),
            env_state=env_state,
            obs=obs,
            key=k_run,
            update=jnp.int32(0),
            hparams=hparams,
        )

    def train_chunk(self, runner_state: RunnerState, n_updates: int) -> tuple[RunnerState, dict[str, jax.Array]]:
        """Run ``n_updates`` (static) updates; metrics are ``[n_updates]`` arrays.

        Chunks compose exactly: ``train_chunk(train_chunk(s, a)[0], b)`` equals
        ``train_chunk(s, a + b)``; the epsilon and learning-rate schedules follow
        ``runner_state.update / num_updates``.
        """
        return scan_updates(self.update_step, runner_state, n_updates)

    def update_step(self, state: RunnerState) -> tuple[RunnerState, dict[str, jax.Array]]:
        """One PQN update (epsilon-greedy rollout, Q(lambda) targets, epochs of minibatch SGD)."""
        cfg, hp = self.cfg, state.hparams
        k_roll, k_train, k_next = jax.random.split(state.key, 3)
        eps = self.epsilon(hp, state.update)
        carry, traj = self.collect(k_roll, state.params, state.env_state, state.obs, eps)
        targets = self.targets(state.params, hp, traj, carry.obs)  # [T, B]
        batch = flatten_batch(Batch(traj.obs, traj.action, targets))  # [T*B, ...]
        lr = self.learning_rate(hp, state.update)
        params, opt_state, losses = self._sgd(k_train, state.params, state.opt_state, batch, hp, lr)

        info = traj.info
        metrics = {
            "episode_return": episode_mean(info["episode_return"], info["returned_episode"]),
            "episode_length": episode_mean(info["episode_length"].astype(jnp.float32), info["returned_episode"]),
            "env_steps": (state.update + 1) * cfg.batch_size,
            **losses,
            "epsilon": eps,
            "lr": lr,
        }
        new_state = state.replace(
            params=params,
            opt_state=opt_state,
            env_state=carry.state,
            obs=carry.obs,
            key=k_next,
            update=state.update + 1,
        )
        return new_state, metrics

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

    def _sgd(self, key, params, opt_state, batch: Batch, hp: HParams, lr: jax.Array):
        """``update_epochs`` passes of ``num_minibatches`` clipped Adam steps; returns mean loss metrics.

        The optimiser works on the parameters raveled into one vector (one fused Adam update).
        """
        flat, unravel = ravel_pytree(params)

        def step(carry, mb: Batch):
            f, o = carry
            g, m = jax.grad(lambda f_: pqn_loss(unravel(f_), self.network.apply, mb), has_aux=True)(f)
            f, o, norm = adam_step(self.optimizer, f, g, o, lr, hp.max_grad_norm)
            return (f, o), {**m, "grad_norm": norm}

        (flat, opt_state), m = sgd_epochs(
            key, (flat, opt_state), batch, self.cfg.update_epochs, self.cfg.num_minibatches, step
        )
        return unravel(flat), opt_state, m

    def greedy_action(self, runner_state: RunnerState, obs: jax.Array) -> jax.Array:
        """``argmax_a Q`` actions ``[B]`` for observations ``[B, obs_dim]``."""
        return self.greedy(runner_state.params, obs)

    def evaluate(self, key: jax.Array, runner_state: RunnerState, num_episodes: int, max_steps: int | None = None):
        """Returns ``[num_episodes]`` of the greedy policy (see :func:`jaxrl.agents.pqn.evaluate.evaluate`)."""
        return evaluate(self, key, runner_state, num_episodes, max_steps)


def make(cfg: Config) -> PQN:
    return PQN(cfg)


def make_train(cfg: Config):
    """``train(key, hparams=None) -> (runner_state, metrics)`` running all ``cfg.num_updates`` updates."""
    agent = PQN(cfg)

    def train(key: jax.Array, hparams: HParams | dict | None = None):
        return agent.train_chunk(agent.init(key, hparams), agent.num_updates)

    train.agent = agent
    return train
