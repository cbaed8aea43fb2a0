"""PPO as a jit-compiled train function, with chunked training for checkpoints.

>>> cfg = ppo.Config(env_id="CartPole-v1", total_timesteps=500_000)
>>> state, metrics = jax.jit(ppo.make_train(cfg))(jax.random.key(0))
>>> state, metrics = jax.jit(jax.vmap(ppo.make_train(cfg)))(jax.random.split(key, 256))

One update: roll out ``num_steps`` steps of ``num_envs`` environments with the
current policy, compute GAE (bootstrapping truncated episodes from the value
of their terminal observation), then ``update_epochs`` passes of
``num_minibatches`` Adam steps on the PPO loss. Observation and reward
normalisation statistics live in the :class:`RunnerState` (so checkpoints
include them): a rollout uses the statistics fixed at its start, the same
ones normalise its batch for training, and the statistics absorb the batch
afterwards.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.flatten_util import ravel_pytree

from jaxrl import running_stats as rs
from jaxrl.agent_env import agent_env
from jaxrl.agents.ppo.config import Config, HParams, as_hparams
from jaxrl.agents.ppo.evaluate import evaluate
from jaxrl.agents.ppo.loss import Batch, PolicyObjective, clipped_objective, ppo_loss
from jaxrl.networks import ActorCritic
from jaxrl.optim import adam_step
from jaxrl.returns import gae, successor_values
from jaxrl.rollout import EnvCarry, Transition, episode_mean, flatten_batch, rollout, scan_updates, sgd_epochs

METRIC_NAMES = (
    "episode_return",
    "episode_length",
    "env_steps",
    "total_loss",
    "policy_loss",
    "value_loss",
    "entropy",
    "approx_kl",
    "clip_frac",
)


@struct.dataclass
class RunnerState:
    """Everything a run carries between updates (a checkpoint saves exactly this)."""

    params: Any  # network parameters
    opt_state: Any  # Adam moments (flat [num_params] vectors) and count
    env_state: Any  # [B, ...] batched environment state
    obs: jax.Array  # [B, obs_dim] current raw observations
    obs_stats: rs.RunningMeanStd  # [obs_dim] observation statistics (unused unless normalize_obs)
    return_stats: rs.RunningMeanStd  # [] discounted-return statistics (unused unless normalize_reward)
    discounted_return: jax.Array  # [B] running discounted return, for reward normalisation
    key: jax.Array  # PRNG key of the next update
    update: jax.Array  # [] int32, updates done
    hparams: HParams  # traced hyperparameters of this run


class PPO:
    """PPO on ``cfg.env_id``. Methods are pure and jittable; ``vmap`` them over keys/runner states."""

    def __init__(self, cfg: Config, policy_objective: PolicyObjective | None = None):
        if not isinstance(cfg, Config):
            raise TypeError(f"PPO needs a ppo.Config, got {type(cfg).__name__}")
        self.cfg = cfg
        self.objective = clipped_objective if policy_objective is None else policy_objective
        # Box actions are clipped into bounds: the policy samples unbounded Gaussian actions
        self.spec = agent_env(cfg.env_id, cfg.env_params, cfg.num_envs, cfg.reset_mode, continuous="clip", who="ppo")
        self.env, self.env_params, self.venv = self.spec.env, self.spec.env_params, self.spec.venv
        self.obs_dim, self.action_shape = self.spec.obs_dim, self.spec.action_shape
        self.continuous = self.spec.continuous
        kind, head, act_space = self.spec.kind, self.spec.head_size, self.spec.action_space
        self.network = ActorCritic(
            kind=kind,
            head_size=head,
            actor_hidden=cfg.actor_hidden,
            critic_hidden=cfg.critic_hidden,
            activation=cfg.activation,
            nvec=tuple(int(n) for n in getattr(act_space, "nvec", ())),
            init_log_std=cfg.init_log_std,
        )
        self.optimizer = optax.scale_by_adam(eps=cfg.adam_eps)

    @property
    def num_updates(self) -> int:
        return self.cfg.num_updates

    # ------------------------------------------------------------------ pieces
    def normalize(self, stats: rs.RunningMeanStd, obs: jax.Array) -> jax.Array:
        return rs.normalize(stats, obs, self.cfg.obs_clip) if self.cfg.normalize_obs else obs

    def policy(self, params: Any, obs: jax.Array) -> Any:
        """Action distribution for (already normalised) observations ``[..., obs_dim]``."""
        return self.network.apply(params, obs, method=ActorCritic.policy)

    def value(self, params: Any, obs: jax.Array) -> jax.Array:
        return self.network.apply(params, obs, method=ActorCritic.value)

    def _env_action(self, action: jax.Array) -> jax.Array:
        if self.continuous:
            return action.reshape(action.shape[:-1] + self.action_shape)
        return action

    def _flat_action(self, action: jax.Array) -> jax.Array:
        if self.continuous:
            return action.reshape(action.shape[: action.ndim - len(self.action_shape)] + (-1,))
        return action

    # ------------------------------------------------------------------ API
    def init(self, key: jax.Array, hparams: HParams | dict | None = None) -> RunnerState:
        """Fresh runner state: network, optimiser, environments, statistics."""
        hparams = as_hparams(self.cfg, hparams)
        k_net, k_env, k_run = jax.random.split(key, 3)
        params = self.network.init(k_net, jnp.zeros((1, self.obs_dim), jnp.float32))
        obs, env_state = self.venv.reset(k_env, self.env_params)
        return RunnerState(
            params=params,
            opt_state=self.optimizer.init(ravel_pytree(params)[0]),
            env_state=env_state,
            obs=obs,
            obs_stats=rs.init((self.obs_dim,)),
            return_stats=rs.init(()),
            discounted_return=jnp.zeros((self.cfg.num_envs,), jnp.float32),
            key=k_run,
            update=jnp.int32(0),
            hparams=hparams,
        )

    def train_chunk(self, runner_state: RunnerState, n_updates: int) -> tuple[RunnerState, dict[str, jax.Array]]:
        """Run ``n_updates`` (static) updates; metrics are ``[n_updates]`` arrays.

        Chunks compose exactly: ``train_chunk(train_chunk(s, a)[0], b)`` equals
        ``train_chunk(s, a + b)``. The learning-rate schedule follows
        ``runner_state.update / num_updates`` (annealing stops at zero).
        """
        return scan_updates(self.update_step, runner_state, n_updates)

    def update_step(self, state: RunnerState) -> tuple[RunnerState, dict[str, jax.Array]]:
        """One PPO update (rollout, advantages, epochs of minibatch SGD)."""
        cfg, hp = self.cfg, state.hparams
        k_roll, k_train, k_next = jax.random.split(state.key, 3)
        carry, traj = self.collect(k_roll, state)
        log_prob, values = traj.extras  # [T, B] each
        rewards, disc_ret, ret_stats = self._scale_rewards(state, traj.reward, traj.terminated | traj.truncated)
        adv, targets = self.advantages(state.params, state.obs_stats, hp, traj, rewards, carry.obs)

        obs_n = self.normalize(state.obs_stats, traj.obs)  # [T, B, obs_dim]: the statistics the rollout used
        batch = flatten_batch(Batch(obs_n, self._flat_action(traj.action), log_prob, values, adv, targets))
        progress = state.update.astype(jnp.float32) / self.num_updates
        params, opt_state, losses = self._sgd(k_train, state.params, state.opt_state, batch, hp, progress)

        obs_stats = rs.update(state.obs_stats, traj.obs) if cfg.normalize_obs else state.obs_stats
        info = traj.info
        metrics = {
            "episode_return": episode_mean(info["episode_return"], info["returned_episode"]),
            "episode_length": episode_mean(info["episode_length"].astype(jnp.float32), info["returned_episode"]),
            "env_steps": (state.update + 1) * cfg.batch_size,
            **losses,
        }
        new_state = state.replace(
            params=params,
            opt_state=opt_state,
            env_state=carry.state,
            obs=carry.obs,
            obs_stats=obs_stats,
            return_stats=ret_stats,
            discounted_return=disc_ret,
            key=k_next,
            update=state.update + 1,
        )
        return new_state, metrics

    def collect(self, key: jax.Array, state: RunnerState) -> tuple[EnvCarry, Transition]:
        """``num_steps`` steps of the current policy; ``extras = (log_prob, value)``, each ``[T, B]``.

        Only the actor runs inside the step loop. Values do not steer acting,
        so the critic runs once on the whole ``[T, B]`` batch afterwards (same
        parameters, same normalisation statistics): one large matmul instead
        of ``num_steps`` tiny ones.
        """
        params, stats = state.params, state.obs_stats

        def act(k, obs):  # obs [B, obs_dim] raw
            pi = self.policy(params, self.normalize(stats, obs))
            a = pi.sample(k)
            return self._env_action(a), pi.log_prob(a)

        carry = EnvCarry(state.env_state, state.obs)
        carry, traj = rollout(key, self.venv, self.env_params, carry, act, self.cfg.num_steps)
        values = self.value(params, self.normalize(stats, traj.obs))  # [T, B]
        return carry, traj._replace(extras=(traj.extras, values))

    def advantages(
        self, params: Any, obs_stats: rs.RunningMeanStd, hp: HParams, traj: Transition, rewards: jax.Array, last_obs
    ) -> tuple[jax.Array, jax.Array]:
        """GAE ``(advantages, targets)`` ``[T, B]``; truncated steps bootstrap from ``V(final_obs)``.

        The successor value of step ``t`` is ``values[t + 1]`` inside an
        episode (``V(last_obs)`` at the end of the rollout); where the episode
        was truncated it is the critic on ``traj.next_obs[t]`` (the terminal
        observation), evaluated only when some step of the batch was truncated.
        """
        values = traj.extras[1]  # [T, B]
        last_value = self.value(params, self.normalize(obs_stats, last_obs))  # [B]
        final = lambda: self.value(params, self.normalize(obs_stats, traj.next_obs))  # noqa: E731
        next_values = successor_values(values, last_value, traj.truncated, final)
        return gae(rewards, values, next_values, traj.terminated, traj.truncated, hp.gamma, hp.gae_lambda)

    def _scale_rewards(self, state: RunnerState, rewards: jax.Array, done: jax.Array):
        """Divide rewards ``[T, B]`` by the running std of the discounted return (when normalize_reward)."""
        if not self.cfg.normalize_reward:
            return rewards, state.discounted_return, state.return_stats
        gamma = state.hparams.gamma

        def step(ret, x):
            r, d = x
            ret = gamma * ret + r
            return jnp.where(d, 0.0, ret), ret

        disc_ret, rets = jax.lax.scan(step, state.discounted_return, (rewards, done))
        stats = rs.update(state.return_stats, rets)
        return rewards / jnp.sqrt(stats.var + 1e-8), disc_ret, stats

    def _sgd(self, key, params, opt_state, batch: Batch, hp: HParams, progress: jax.Array):
        """``update_epochs`` passes of ``num_minibatches`` Adam steps; returns mean loss metrics.

        The optimiser works on the parameters raveled into one vector (one
        fused Adam update instead of one per layer); ``params`` stay a pytree
        outside this function.
        """
        cfg = self.cfg
        lr = hp.lr * jnp.maximum(1.0 - progress, 0.0) if cfg.anneal_lr else hp.lr
        flat, unravel = ravel_pytree(params)

        def loss_fn(f, mb):
            return ppo_loss(
                unravel(f), self.network.apply, mb, hp, progress, self.objective,
                cfg.normalize_advantages, cfg.clip_value_loss,
            )

        def sgd_step(carry, mb):
            f, o = carry
            g, m = jax.grad(loss_fn, has_aux=True)(f, mb)
            f, o, _ = adam_step(self.optimizer, f, g, o, lr, hp.max_grad_norm)
            return (f, o), m

        carry = (flat, opt_state)
        (flat, opt_state), m = sgd_epochs(key, carry, batch, cfg.update_epochs, cfg.num_minibatches, sgd_step)
        return unravel(flat), opt_state, m

    def greedy_action(self, runner_state: RunnerState, obs: jax.Array) -> jax.Array:
        """Deterministic env actions ``[B, ...]`` (the policy's mode) for raw observations ``[B, obs_dim]``."""
        pi = self.policy(runner_state.params, self.normalize(runner_state.obs_stats, obs))
        return self._env_action(pi.mode())

    def evaluate(self, key: jax.Array, runner_state: RunnerState, num_episodes: int, max_steps: int | None = None):
        """Returns ``[num_episodes]`` of the deterministic policy (see :func:`jaxrl.agents.ppo.evaluate.evaluate`)."""
        return evaluate(self, key, runner_state, num_episodes, max_steps)


def make(cfg: Config, policy_objective: PolicyObjective | None = None) -> PPO:
    return PPO(cfg, policy_objective)


def make_train(cfg: Config, policy_objective: PolicyObjective | None = None):
    """``train(key, hparams=None) -> (runner_state, metrics)`` running all ``cfg.num_updates`` updates."""
    agent = PPO(cfg, policy_objective)

    def train(key: jax.Array, hparams: HParams | dict | None = None):
        return agent.train_chunk(agent.init(key, hparams), agent.num_updates)

    train.agent = agent
    return train
