"""TD3: twin delayed deep deterministic policy gradient (Fujimoto et al. 2018).

>>> cfg = td3.Config(env_id="Pendulum-v1", total_timesteps=30_000)
>>> state, metrics = jax.jit(td3.make_train(cfg))(jax.random.key(0))

Deterministic ``tanh`` actor in ``[-1, 1]`` (the core rescales to the env's bounds), twin
critics, and

* clipped double-Q targets with target-policy smoothing,
  ``y = r + discount * min_k Q'_k(s', clip(mu'(s') + clip(policy_noise * eps, +-noise_clip), -1, 1))``;
* delayed updates: the actor (``max_a Q_1``) and the Polyak-averaged targets of actor and
  critics move only on learner updates ``step`` with ``step % policy_delay == 0``
  (``step`` counts from 1); the critics move on every update;
* exploration ``clip(mu(s) + exploration_noise * eps, -1, 1)``.

The loop (acting, replay, n-step batches, actor lag) is the core's
:class:`jaxrl.offpolicy.OffPolicyAgent`. Continuous (``Box``) action spaces only.

Shapes: ``S`` batch, ``B`` environments, ``d`` action dimensions, ``K = 2`` critics.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl import offpolicy
from jaxrl.agents.td3.config import Config, HParams
from jaxrl.offpolicy import Batch, OffPolicyAgent
from jaxrl.offpolicy_nets import DeterministicActor, TwinCritic, critic_q


@struct.dataclass
class Learner:
    """TD3 learner state (a pytree; one per seed under ``vmap``)."""

    actor: Any
    critic: Any  # twin critics, leaves [K, ...]
    actor_target: Any
    critic_target: Any
    actor_opt: Any
    critic_opt: Any


def smoothed_action(action: jax.Array, noise: jax.Array, policy_noise: jax.Array, noise_clip: jax.Array) -> jax.Array:
    """Target-policy smoothing ``clip(action + clip(policy_noise * noise, +-noise_clip), -1, 1)``; ``[S, d]``.

    ``noise [S, d]`` is standard normal.
    """
    eps = jnp.clip(policy_noise * noise, -noise_clip, noise_clip)
    return jnp.clip(action + eps, -1.0, 1.0)


def td3_target(batch: Batch, next_q: jax.Array) -> jax.Array:
    """Clipped double-Q target ``reward + discount * min_k next_q[k]``; ``next_q [K, S]`` -> ``[S]``."""
    return batch.reward + batch.discount * jnp.min(next_q, axis=0)


class TD3(OffPolicyAgent):
    """TD3 on ``Box`` action spaces."""

    config_type = Config
    name = "td3"
    kinds = ("gaussian",)
    continuous_mode = "rescale"
    learner_metrics = ("critic_loss", "actor_loss", "q_mean")

    def build(self) -> None:
        cfg = self.cfg
        self.action_dim = self.spec.head_size
        self.actor = DeterministicActor(cfg.hidden, self.action_dim, cfg.activation)
        self.critic = TwinCritic(cfg.hidden, 1, cfg.activation)
        self.optimizer = optax.scale_by_adam()

    # ------------------------------------------------------------------ networks
    def mu(self, actor: Any, obs: jax.Array) -> jax.Array:
        """Deterministic actions ``[S, d]`` in ``[-1, 1]`` for ``obs [S, obs_dim]``."""
        return self.actor.apply(actor, obs)

    def q_values(self, critic: Any, obs: jax.Array, action: jax.Array) -> jax.Array:
        """``Q_k(obs, action)`` -> ``[K, S]`` (``action [S, ...]``, flattened)."""
        return critic_q(self.critic, critic, obs, action)

    # ------------------------------------------------------------------ hooks
    def init_learner(self, key: jax.Array, hparams: HParams) -> Learner:
        k_actor, k_critic = jax.random.split(key)
        actor = self.actor.init(k_actor, jnp.zeros((1, self.spec.obs_dim), jnp.float32))
        critic = self.critic.init(k_critic, jnp.zeros((1, self.spec.obs_dim + self.action_dim), jnp.float32))
        return Learner(actor, critic, actor, critic, self.optimizer.init(actor), self.optimizer.init(critic))

    def acting_params(self, learner: Learner) -> Any:
        return learner.actor

    def explore(self, params: Any, key: jax.Array, obs: jax.Array, hparams: HParams, progress: jax.Array) -> jax.Array:
        """``clip(mu(obs) + exploration_noise * N(0, 1), -1, 1)`` -> ``[B, *action_shape]``."""
        a = self.mu(params, obs)
        a = jnp.clip(a + hparams.exploration_noise * jax.random.normal(key, a.shape, a.dtype), -1.0, 1.0)
        return self.spec.to_env_action(a)

    def greedy(self, params: Any, obs: jax.Array) -> jax.Array:
        return self.spec.to_env_action(self.mu(params, obs))

    def target(self, learner: Learner, key: jax.Array, batch: Batch, hp: HParams) -> jax.Array:
        """TD targets ``[S]`` from the target networks with smoothed target actions (``key``: the noise)."""
        a_next = self.mu(learner.actor_target, batch.next_obs)  # [S, d]
        noise = jax.random.normal(key, a_next.shape, a_next.dtype)
        a_next = smoothed_action(a_next, noise, hp.policy_noise, hp.noise_clip)
        return jax.lax.stop_gradient(td3_target(batch, self.q_values(learner.critic_target, batch.next_obs, a_next)))

    def learn(self, learner: Learner, key: jax.Array, batch: Batch, hp: HParams, step: jax.Array):
        y = self.target(learner, key, batch, hp)  # [S]

        def critic_loss_fn(critic):
            q = self.q_values(critic, batch.obs, batch.action)  # [K, S]
            err = q - y
            return jnp.mean(batch.weight * 0.5 * jnp.sum(err**2, axis=0)), (err, jnp.mean(q))

        (critic_loss, (err, q_mean)), grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(learner.critic)
        critic, critic_opt, _ = offpolicy.adam_step(
            self.optimizer, learner.critic, grads, learner.critic_opt, hp.lr, hp.max_grad_norm
        )

        def actor_loss_fn(actor):  # -Q_1(s, mu(s)) with the updated critics
            return -jnp.mean(self.q_values(critic, batch.obs, self.mu(actor, batch.obs))[0])

        def delayed(learner: Learner):
            loss, grads = jax.value_and_grad(actor_loss_fn)(learner.actor)
            actor, actor_opt, _ = offpolicy.adam_step(
                self.optimizer, learner.actor, grads, learner.actor_opt, hp.lr, hp.max_grad_norm
            )
            return (
                loss,
                actor,
                actor_opt,
                offpolicy.polyak(learner.actor_target, actor, hp.tau),
                offpolicy.polyak(learner.critic_target, critic, hp.tau),
            )

        def hold(learner: Learner):
            return (
                actor_loss_fn(learner.actor),
                learner.actor,
                learner.actor_opt,
                learner.actor_target,
                learner.critic_target,
            )

        actor_loss, actor, actor_opt, actor_target, critic_target = jax.lax.cond(
            step % self.cfg.policy_delay == 0, delayed, hold, learner
        )
        metrics = {"critic_loss": critic_loss, "actor_loss": actor_loss, "q_mean": q_mean}
        new = Learner(actor, critic, actor_target, critic_target, actor_opt, critic_opt)
        return new, metrics, jnp.mean(jnp.abs(err), axis=0) + 1e-6


def make_train(cfg: Config, *, env: Any = None, env_params: Any = None):
    """``train(key, hparams=None) -> (state, metrics)``; metrics are ``[num_updates]`` arrays (a plain function).

    ``env``: an id or an :class:`jaxrl.Environment` object replacing ``cfg.env_id``; build
    ``TD3(cfg, env=..., env_params=...)`` and use ``agent.make_train()`` when you also need the agent.
    """
    return TD3(cfg, env=env, env_params=env_params).make_train()
