"""PPO on the shared on-policy loop (:class:`jaxrl.onpolicy.OnPolicyAgent`), with chunked training for checkpoints.

>>> cfg = ppo.Config(env_id="CartPole-v1", total_timesteps=500_000)
>>> state, metrics = jax.jit(ppo.make_train(cfg))(jax.random.key(0))
>>> state, metrics = jax.jit(jax.vmap(ppo.make_train(cfg)))(jax.random.split(key, 256))
>>> agent = ppo.PPO(cfg, env=my_env, env_params=p)      # an unregistered Environment object

One update: roll out ``num_steps`` steps of ``num_envs`` environments with the
current policy, compute GAE (bootstrapping truncated episodes from the value
of their terminal observation), then ``update_epochs`` passes of
``num_minibatches`` Adam steps on the PPO loss. Observation and reward
normalisation statistics live in the :class:`RunnerState` (so checkpoints
include them): a rollout uses the statistics fixed at its start, the same
ones normalise its batch for training, and the statistics absorb the batch
afterwards. A learned policy objective's parameters live in
``RunnerState.objective_params`` (``init(key, hparams, objective_params)``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl import running_stats as rs
from jaxrl.agents.ppo.config import Config, HParams
from jaxrl.agents.ppo.loss import Batch, PolicyObjective, clipped_objective, ppo_loss
from jaxrl.env import Environment
from jaxrl.networks import ActorCritic
from jaxrl.onpolicy import OnPolicyAgent, with_nonfinite
from jaxrl.returns import gae, successor_values
from jaxrl.rollout import EnvCarry, Transition, flatten_batch, rollout

LOSS_METRICS = ("total_loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_frac")
METRIC_NAMES = with_nonfinite(("episode_return", "episode_length", "env_steps", *LOSS_METRICS))


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
    objective_params: Any = None  # parameters of a learned policy objective (meta-learning); None for PPO-clip


class PPO(OnPolicyAgent):
    """PPO on ``cfg.env_id`` (or ``env``, an id or an :class:`Environment` object, with ``env_params``).

    Methods are pure and jittable; ``vmap`` them over keys/runner states.
    ``policy_objective(log_ratio, advantage, progress, hparams, objective_params)`` replaces PPO-clip.
    """

    config_type = Config
    name = "ppo"
    continuous_mode = "clip"  # the policy samples unbounded Gaussian actions, clipped into the bounds
    learner_metrics = LOSS_METRICS

    def __init__(
        self,
        cfg: Config,
        policy_objective: PolicyObjective | None = None,
        *,
        env: str | Environment | None = None,
        env_params: Any = None,
    ):
        self.objective = clipped_objective if policy_objective is None else policy_objective
        super().__init__(cfg, env=env, env_params=env_params)

    def build(self) -> None:
        cfg, act_space = self.cfg, self.spec.action_space
        self.continuous = self.spec.continuous
        self.network = ActorCritic(
            kind=self.spec.kind,
            head_size=self.spec.head_size,
            actor_hidden=cfg.actor_hidden,
            critic_hidden=cfg.critic_hidden,
            activation=cfg.activation,
            nvec=tuple(int(n) for n in getattr(act_space, "nvec", ())),
            init_log_std=cfg.init_log_std,
        )
        self.optimizer = optax.scale_by_adam(eps=cfg.adam_eps)

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
    def init(self, key: jax.Array, hparams: HParams | dict | None = None, objective_params: Any = None) -> RunnerState:
        """Fresh runner state: network, optimiser, environments, statistics, the objective's parameters."""
        state = super().init(key, hparams)
        return state if objective_params is None else state.replace(objective_params=objective_params)

    def initial_state(self, **fields: Any) -> RunnerState:
        return RunnerState(
            **fields,
            obs_stats=rs.init((self.obs_dim,)),
            return_stats=rs.init(()),
            discounted_return=jnp.zeros((self.cfg.num_envs,), jnp.float32),
        )

    def make_train(self):
        """``train(key, hparams=None, objective_params=None) -> (runner_state, metrics)`` over all updates."""

        def train(key: jax.Array, hparams: HParams | dict | None = None, objective_params: Any = None):
            return self.train_chunk(self.init(key, hparams, objective_params), self.num_updates)

        return train

    def prepare(self, key: jax.Array, state: RunnerState):
        """Rollout, reward scaling, GAE and the normalised ``[T*B]`` :class:`Batch`; updates the statistics."""
        cfg = self.cfg
        carry, traj = self.collect(key, state)
        log_prob, values = traj.extras  # [T, B] each
        rewards, disc_ret, ret_stats = self._scale_rewards(state, traj.reward, traj.terminated | traj.truncated)
        adv, targets = self.advantages(state.params, state.obs_stats, state.hparams, traj, rewards, carry.obs)
        obs_n = self.normalize(state.obs_stats, traj.obs)  # [T, B, obs_dim]: the statistics the rollout used
        batch = flatten_batch(Batch(obs_n, self._flat_action(traj.action), log_prob, values, adv, targets))
        obs_stats = rs.update(state.obs_stats, traj.obs) if cfg.normalize_obs else state.obs_stats
        own = {"obs_stats": obs_stats, "return_stats": ret_stats, "discounted_return": disc_ret}
        return carry, traj, batch, {}, own

    def loss(self, params: Any, batch: Batch, state: RunnerState, progress: jax.Array):
        cfg = self.cfg
        return ppo_loss(
            params, self.network.apply, batch, state.hparams, progress, self.objective,
            cfg.normalize_advantages, cfg.clip_value_loss, state.objective_params,
        )  # fmt: skip

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

    def greedy_action(self, runner_state: RunnerState, obs: jax.Array) -> jax.Array:
        """Deterministic env actions ``[B, ...]`` (the policy's mode) for raw observations ``[B, obs_dim]``."""
        pi = self.policy(runner_state.params, self.normalize(runner_state.obs_stats, obs))
        return self._env_action(pi.mode())


def make_train(
    cfg: Config,
    policy_objective: PolicyObjective | None = None,
    *,
    env: str | Environment | None = None,
    env_params: Any = None,
):
    """``train(key, hparams=None, objective_params=None) -> (runner_state, metrics)`` running all updates.

    A plain function; the agent it runs is ``PPO(cfg, policy_objective, env=env, env_params=env_params)``
    (build that when you also need ``evaluate`` or ``greedy_action``, and use ``agent.make_train()``).
    """
    return PPO(cfg, policy_objective, env=env, env_params=env_params).make_train()
