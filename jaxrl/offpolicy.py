"""The training loop shared by replay-based agents (DQN, SAC, TD3, ...).

One *iteration* (``update_step``):

1. act for ``num_steps`` steps in ``num_envs`` environments with the acting
   parameters -- uniformly random actions until ``learning_starts`` env
   steps, then the agent's exploration policy. With ``actor_lag = k`` the
   acting parameters are the learner's parameters from ``k`` iterations ago
   (workers acting on a stale snapshot while the learner moves on, as in
   asynchronous parallel training), held in a ring of ``k + 1`` snapshots;
2. write the ``[T, B]`` transitions into the :class:`jaxrl.replay.Replay`
   buffer (true successor observations, so truncated episodes bootstrap from
   their terminal observation);
3. once ``learning_starts`` steps were taken, ``gradient_steps`` learner
   updates, each on a :class:`Batch` sampled from the buffer, with ``n_step``
   returns when ``n_step > 1``.

An agent subclasses :class:`OffPolicyAgent` and supplies ``init_learner``,
``acting_params``, ``explore``, ``greedy`` and ``learn``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.agent_env import AgentEnv, evaluate_policy
from jaxrl.config import (
    GAMMA,
    GRAD_NORM,
    LR,
    UNIT,
    ConfigBase,
    activations,
    ge,
    layer_sizes,
    non_negative,
    positive,
    reset_modes,
    resolve_hparams,
    static,
    traced,
)
from jaxrl.env import Environment
from jaxrl.optim import adam_step  # noqa: F401  (re-exported for agents)
from jaxrl.replay import Replay, ReplayState, Sample
from jaxrl.returns import nstep_return
from jaxrl.rollout import EnvCarry, episode_mean, rollout, scan_updates


# =========================================================================== config
@dataclass(frozen=True)
class OffPolicyConfig(ConfigBase):
    """Settings every replay-based agent shares; agents subclass it and add their own fields.

    A subclass changing a default re-declares the field with its kind: ``lr: float = traced(3e-4, LR)``.
    """

    env_id: str = "CartPole-v1"
    env_params: Mapping[str, Any] = static(factory=dict)
    total_timesteps: int = static(100_000, positive)
    num_envs: int = static(1, positive)
    num_steps: int = static(1, positive)  # env steps per environment per iteration
    gradient_steps: int = static(1, positive)  # learner updates per iteration
    batch_size: int = static(128, positive)
    buffer_size: int = static(100_000, positive)
    learning_starts: int = static(1_000, non_negative)  # env steps (all envs) of random actions before learning
    n_step: int = static(1, positive)
    actor_lag: int = static(0, non_negative)  # act with parameters this many iterations old
    prioritized: bool = False
    priority_alpha: float = static(0.6, ge(0))
    priority_beta: float = static(0.4, UNIT)
    hidden: tuple[int, ...] = static((64, 64), layer_sizes)
    activation: str = static("relu", activations())
    reset_mode: str | None = static(None, reset_modes)
    anneal_lr: bool = False  # scale the traced ``lr`` linearly to 0 over the run
    lr: float = traced(1e-3, LR)
    gamma: float = traced(0.99, GAMMA)
    max_grad_norm: float = traced(10.0, GRAD_NORM)

    @property
    def steps_per_iteration(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        """Iterations of a full run."""
        return self.total_timesteps // self.steps_per_iteration

    def validate(self) -> None:
        name = self._name
        if self.num_updates < 1:
            raise ValueError(f"{name}: total_timesteps={self.total_timesteps} is less than one iteration "
                             f"(num_envs*num_steps = {self.steps_per_iteration})")
        need = self.num_envs * max(self.n_step, self.num_steps)
        if self.buffer_size < need:
            raise ValueError(f"{name}.buffer_size={self.buffer_size} must hold at least num_envs * "
                             f"max(n_step, num_steps) = {need} steps")
        self.check_common()


# =========================================================================== pieces
class Stored(NamedTuple):
    """One environment step as the replay buffer keeps it (leaves ``[B, ...]`` per step)."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    next_obs: jax.Array  # true successor: the terminal observation where the episode ended


class Batch(NamedTuple):
    """A learner batch in one-step form: ``target = reward + discount * V(next_obs)``; leaves ``[S, ...]``."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array  # n-step discounted reward sum
    discount: jax.Array  # gamma^k, 0 where the episode terminated within the n steps
    next_obs: jax.Array  # observation bootstrapped from
    weight: jax.Array  # importance weight (ones unless prioritized)


def to_batch(sample: Sample, gamma: jax.Array, n_step: int) -> Batch:
    """:class:`Batch` from a replay sample (items, or ``[S, n]`` sequences when ``n_step > 1``)."""
    d: Stored = sample.data
    if n_step == 1:
        discount = gamma * (1.0 - d.terminated.astype(jnp.float32))
        return Batch(d.obs, d.action, d.reward.astype(jnp.float32), discount, d.next_obs, sample.weight)
    ret, discount, last = nstep_return(d.reward, d.terminated, d.truncated, gamma)
    next_obs = jnp.take_along_axis(d.next_obs, last.reshape(last.shape + (1,) * (d.next_obs.ndim - 1)), axis=1)[:, 0]
    return Batch(d.obs[:, 0], d.action[:, 0], ret, discount, next_obs, sample.weight)


def polyak(target: Any, online: Any, tau: jax.Array) -> Any:
    """Soft target update ``target <- (1 - tau) target + tau online`` (``tau = 1``: hard copy)."""
    return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


def periodic(target: Any, online: Any, step: jax.Array, period: int) -> Any:
    """Hard copy of ``online`` into ``target`` every ``period`` steps (``step`` counts from 1)."""
    copy = (step % period) == 0
    return jax.tree.map(lambda t, o: jnp.where(copy, o, t), target, online)


class LagState(struct.PyTreeNode):
    """A ring of ``k + 1`` snapshots of the acting parameters (leaves ``[k + 1, ...]``)."""

    snapshots: Any
    index: jax.Array  # [] int32: the slot written next, which holds the oldest snapshot


def lag_init(params: Any, k: int) -> LagState:
    return LagState(jax.tree.map(lambda x: jnp.broadcast_to(x, (k + 1,) + x.shape), params), jnp.int32(0))


def lag_push(lag: LagState, params: Any) -> LagState:
    size = jax.tree.leaves(lag.snapshots)[0].shape[0]
    snaps = jax.tree.map(lambda s, p: jax.lax.dynamic_update_index_in_dim(s, p, lag.index, 0), lag.snapshots, params)
    return LagState(snaps, (lag.index + 1) % size)


def lag_oldest(lag: LagState) -> Any:
    return jax.tree.map(lambda s: jax.lax.dynamic_index_in_dim(s, lag.index, 0, keepdims=False), lag.snapshots)


# =========================================================================== the loop
@struct.dataclass
class OffPolicyState:
    """Everything a replay-based run carries (a checkpoint saves exactly this)."""

    learner: Any  # agent-specific: parameters, target parameters, optimiser states, temperature, ...
    lag: LagState  # snapshots of the acting parameters
    buffer: ReplayState
    env_state: Any  # [B, ...]
    obs: jax.Array  # [B, obs_dim]
    key: jax.Array
    update: jax.Array  # [] int32 iterations done
    grad_steps: jax.Array  # [] int32 learner updates done
    hparams: Any


class OffPolicyAgent:
    """Base class; subclasses set ``config_type``, ``name``, ``kinds``, ``learner_metrics`` and the hooks below.

    The environment is ``cfg.env_id`` unless the agent is given one: ``DQN(cfg, env=my_env, env_params=p)``
    trains on an :class:`jaxrl.Environment` object without registering it.
    """

    config_type: type = OffPolicyConfig
    name: str = "agent"
    kinds: tuple[str, ...] = ("categorical",)
    continuous_mode: str = "rescale"
    learner_metrics: tuple[str, ...] = ()

    def __init__(self, cfg: Any, *, env: str | Environment | None = None, env_params: Any = None):
        if not isinstance(cfg, self.config_type):
            raise TypeError(f"{type(self).__name__} needs a {self.name}.Config, got {type(cfg).__name__}")
        self.cfg = cfg
        self.spec: AgentEnv = self.make_env(cfg, env, env_params)
        self.env, self.env_params, self.venv = self.spec.env, self.spec.env_params, self.spec.venv
        self.replay = Replay(cfg.buffer_size, cfg.num_envs, cfg.prioritized, cfg.priority_alpha)
        # learning needs learning_starts steps and at least n_step rows in the buffer
        self.learn_from = max(cfg.learning_starts, cfg.num_envs * cfg.n_step)
        self.build()

    def make_env(self, cfg, env: str | Environment | None = None, env_params: Any = None) -> AgentEnv:
        from jaxrl.agent_env import agent_env

        return agent_env(cfg.env_id if env is None else env, cfg.env_params, cfg.num_envs, cfg.reset_mode,
                         self.continuous_mode, self.kinds, who=self.name, params=env_params)

    # ------------------------------------------------------------------ hooks
    def build(self) -> None:
        """Networks and optimisers (``self.spec`` is ready)."""

    def init_learner(self, key: jax.Array, hparams: Any) -> Any:
        raise NotImplementedError

    def acting_params(self, learner: Any) -> Any:
        """The parameters the behaviour policy needs (snapshotted for actor lag)."""
        raise NotImplementedError

    def explore(self, params: Any, key: jax.Array, obs: jax.Array, hparams: Any, progress: jax.Array) -> jax.Array:
        """Exploration actions ``[B, ...]`` for observations ``[B, obs_dim]``."""
        raise NotImplementedError

    def greedy(self, params: Any, obs: jax.Array) -> jax.Array:
        """Deterministic actions for evaluation."""
        raise NotImplementedError

    def learn(self, learner: Any, key: jax.Array, batch: Batch, hparams: Any, step: jax.Array):
        """One learner update; returns ``(learner, metrics dict of scalars, priorities [S] or None)``.

        ``step`` counts learner updates from 1 (for target-update periods, delays).
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ API
    @property
    def num_updates(self) -> int:
        return self.cfg.num_updates

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Keys of the metrics ``train_chunk`` returns, each ``[n_updates]``."""
        from jaxrl.onpolicy import with_nonfinite

        return with_nonfinite(("episode_return", "episode_length", "env_steps", *self.learner_metrics))

    def hparams(self, hparams: Any = None) -> Any:
        """The run's ``HParams`` from the config and ``hparams`` (see :func:`jaxrl.config.resolve_hparams`)."""
        return resolve_hparams(self.cfg, hparams)

    def init(self, key: jax.Array, hparams: Any = None) -> OffPolicyState:
        hparams = self.hparams(hparams)
        k_learn, k_env, k_run = jax.random.split(key, 3)
        learner = self.init_learner(k_learn, hparams)
        obs, env_state = self.venv.reset(k_env, self.env_params)
        example = Stored(
            obs=obs,
            action=self.spec.random_actions(k_env, self.cfg.num_envs),
            reward=jnp.zeros(self.cfg.num_envs, jnp.float32),
            terminated=jnp.zeros(self.cfg.num_envs, bool),
            truncated=jnp.zeros(self.cfg.num_envs, bool),
            next_obs=obs,
        )
        return OffPolicyState(
            learner=learner,
            lag=lag_init(self.acting_params(learner), self.cfg.actor_lag),
            buffer=self.replay.init(example),
            env_state=env_state,
            obs=obs,
            key=k_run,
            update=jnp.int32(0),
            grad_steps=jnp.int32(0),
            hparams=hparams,
        )

    def train_chunk(self, state: OffPolicyState, n_updates: int) -> tuple[OffPolicyState, dict[str, jax.Array]]:
        """``n_updates`` (static) iterations; metrics ``[n_updates]``. Chunks compose exactly."""
        return scan_updates(self.update_step, state, n_updates)

    def update_step(self, state: OffPolicyState) -> tuple[OffPolicyState, dict[str, jax.Array]]:
        cfg, hp = self.cfg, state.hparams
        k_roll, k_learn, k_next = jax.random.split(state.key, 3)
        acting = lag_oldest(state.lag) if cfg.actor_lag else self.acting_params(state.learner)
        steps_before = state.update * cfg.steps_per_iteration
        progress = steps_before.astype(jnp.float32) / cfg.total_timesteps
        warm = steps_before < cfg.learning_starts

        def act(k, obs):
            k_rand, k_pol = jax.random.split(k)
            rand = self.spec.random_actions(k_rand, obs.shape[0])
            pol = self.explore(acting, k_pol, obs, hp, progress)
            return jnp.where(warm, rand, pol).astype(rand.dtype), ()

        carry, traj = rollout(k_roll, self.venv, self.env_params, EnvCarry(state.env_state, state.obs), act,
                              cfg.num_steps)
        buffer = self.replay.add_many(
            state.buffer, Stored(traj.obs, traj.action, traj.reward, traj.terminated, traj.truncated, traj.next_obs)
        )
        steps_after = steps_before + cfg.steps_per_iteration
        learner, buffer, grad_steps, lm = jax.lax.cond(
            steps_after >= self.learn_from,
            lambda: self._learn_phase(state.learner, buffer, k_learn, self._annealed(hp, progress), state.grad_steps),
            lambda: (state.learner, buffer, state.grad_steps,
                     {m: jnp.float32(jnp.nan) for m in self.learner_metrics}),
        )
        lag = lag_push(state.lag, self.acting_params(learner)) if cfg.actor_lag else state.lag
        info = traj.info
        metrics = {
            "episode_return": episode_mean(info["episode_return"], info["returned_episode"]),
            "episode_length": episode_mean(info["episode_length"].astype(jnp.float32), info["returned_episode"]),
            "env_steps": steps_after,
            **lm,
        }
        new = state.replace(learner=learner, lag=lag, buffer=buffer, env_state=carry.state, obs=carry.obs,
                            key=k_next, update=state.update + 1, grad_steps=grad_steps)
        return new, metrics

    def _annealed(self, hp: Any, progress: jax.Array) -> Any:
        return hp.replace(lr=hp.lr * jnp.maximum(1.0 - progress, 0.0)) if self.cfg.anneal_lr else hp

    def _learn_phase(self, learner, buffer: ReplayState, key, hp, grad_steps):
        cfg = self.cfg
        length = cfg.n_step if cfg.n_step > 1 else None

        def one(c, k):
            learner, buffer, g = c
            k_s, k_l = jax.random.split(k)
            sample = self.replay.sample(k_s, buffer, cfg.batch_size, length, cfg.priority_beta)
            batch = to_batch(sample, hp.gamma, cfg.n_step)
            learner, m, prio = self.learn(learner, k_l, batch, hp, g + 1)
            if cfg.prioritized and prio is not None:
                buffer = self.replay.update_priorities(buffer, sample, prio)
            return (learner, buffer, g + 1), {k2: jnp.asarray(v, jnp.float32) for k2, v in m.items()}

        (learner, buffer, g), m = jax.lax.scan(one, (learner, buffer, grad_steps),
                                               jax.random.split(key, cfg.gradient_steps))
        return learner, buffer, g, jax.tree.map(jnp.mean, m)

    def greedy_action(self, state: OffPolicyState, obs: jax.Array) -> jax.Array:
        """Deterministic env actions ``[B, ...]`` of the learner's current parameters."""
        return self.greedy(self.acting_params(state.learner), obs)

    def evaluate(self, key: jax.Array, state: OffPolicyState, num_episodes: int, max_steps: int | None = None):
        """Returns ``[num_episodes]`` of the greedy policy (NaN for episodes unfinished after ``max_steps``)."""
        if max_steps is None:
            max_steps = self.spec.eval_steps()
        return evaluate_policy(self.env, self.env_params, key, lambda o: self.greedy_action(state, o), num_episodes,
                               max_steps)


    def make_train(self) -> Callable[..., tuple[OffPolicyState, dict[str, jax.Array]]]:
        """``train(key, hparams=None) -> (state, metrics)`` over all ``num_updates`` iterations (a plain function)."""

        def train(key: jax.Array, hparams: Any = None):
            return self.train_chunk(self.init(key, hparams), self.num_updates)

        return train


def make_train(agent: OffPolicyAgent):
    """``agent.make_train()``: ``train(key, hparams=None) -> (state, metrics)`` over all iterations."""
    return agent.make_train()
