"""Soft Actor-Critic with automatic temperature, for continuous and discrete actions.

>>> cfg = sac.Config(env_id="Pendulum-v1", total_timesteps=30_000)
>>> state, metrics = jax.jit(sac.make_train(cfg))(jax.random.key(0))

* Continuous (``Box``; Haarnoja et al. 2018): tanh-squashed diagonal Gaussian actor in
  ``[-1, 1]`` (the core rescales to the env's bounds), twin Q critics with Polyak-averaged
  targets, ``y = r + discount * (min_k Q'_k(s', a') - alpha log pi(a'|s'))``, ``a' ~ pi(s')``;
  target entropy ``-target_entropy_scale * action_dim``.
* Discrete (``Discrete``; Christodoulou 2019): categorical actor, critics output ``Q(s, .)``
  for all actions, and every expectation over actions is exact,
  ``V(s') = sum_a pi(a|s') (min_k Q'_k(s', a) - alpha log pi(a|s'))``; target entropy
  ``target_entropy_ratio * log(num_actions)``.

The temperature is learnt (``autotune``) with loss ``-log_alpha * (log pi + target_entropy)``
(``log pi`` held fixed; ``E_pi[log pi]`` in the discrete case), so ``alpha`` grows while the
policy's entropy is below the target and shrinks above it. Each learner update: critics on
the current batch, then the actor against the updated critics, then the temperature, then
the target critics. The loop (acting, replay, n-step batches, actor lag) is the core's
:class:`jaxrl.offpolicy.OffPolicyAgent`; ``Batch.discount`` is 0 where an episode
terminated and ``gamma^k`` where it was truncated (bootstrapping from the final observation).

Shapes: ``S`` batch, ``B`` environments, ``d`` action dimensions, ``A`` discrete actions,
``K = 2`` critics.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl import offpolicy
from jaxrl.agents.sac.config import Config, HParams
from jaxrl.networks import MLP, Categorical
from jaxrl.offpolicy import Batch, OffPolicyAgent
from jaxrl.offpolicy_nets import GaussianActor, TanhGaussian, TwinCritic, critic_q


@struct.dataclass
class Learner:
    """SAC learner state (a pytree; one per seed under ``vmap``)."""

    actor: Any
    critic: Any  # twin critics, leaves [K, ...]
    critic_target: Any
    log_alpha: jax.Array  # []
    actor_opt: Any
    critic_opt: Any
    alpha_opt: Any


# --------------------------------------------------------------------------- pure pieces
def soft_target(batch: Batch, next_q: jax.Array, next_log_pi: jax.Array, alpha: jax.Array) -> jax.Array:
    """Continuous soft TD target ``reward + discount * (min_k next_q[k] - alpha * next_log_pi)``.

    ``next_q [K, S]``: target critics at ``(next_obs, a')``; ``next_log_pi [S]``: ``log pi(a'|next_obs)``.
    Returns ``[S]``.
    """
    return batch.reward + batch.discount * (jnp.min(next_q, axis=0) - alpha * next_log_pi)


def discrete_soft_value(q: jax.Array, logits: jax.Array, alpha: jax.Array) -> jax.Array:
    """Exact soft value ``sum_a pi(a) (min_k q[k, :, a] - alpha log pi(a))`` -> ``[S]``.

    ``q [K, S, A]``: critics for every action; ``logits [S, A]``: the policy ``pi = softmax(logits)``.
    """
    logp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.sum(jnp.exp(logp) * (jnp.min(q, axis=0) - alpha * logp), axis=-1)


def discrete_soft_target(batch: Batch, next_q: jax.Array, next_logits: jax.Array, alpha: jax.Array) -> jax.Array:
    """Discrete soft TD target ``reward + discount * discrete_soft_value(next_q, next_logits, alpha)``; ``[S]``."""
    return batch.reward + batch.discount * discrete_soft_value(next_q, next_logits, alpha)


def temperature_loss(log_alpha: jax.Array, log_pi: jax.Array, target_entropy: jax.Array) -> jax.Array:
    """``mean(-log_alpha * (log_pi + target_entropy))`` with ``log_pi [S]`` held fixed.

    Its gradient in ``log_alpha`` is ``entropy - target_entropy`` (entropy ``= -mean(log_pi)``):
    gradient descent raises ``alpha`` while the entropy is below the target.
    """
    return -log_alpha * jnp.mean(jax.lax.stop_gradient(log_pi) + target_entropy)


# --------------------------------------------------------------------------- agent
class SAC(OffPolicyAgent):
    """SAC on ``Box`` action spaces (``kind == "gaussian"``), discrete SAC on ``Discrete`` ones."""

    config_type = Config
    name = "sac"
    kinds = ("categorical", "gaussian")
    continuous_mode = "rescale"
    learner_metrics = ("critic_loss", "actor_loss", "alpha", "entropy", "q_mean")

    def build(self) -> None:
        cfg = self.cfg
        self.discrete = self.spec.kind == "categorical"
        self.action_dim = self.spec.head_size  # d, or A when discrete
        if self.discrete:
            self.actor = MLP(cfg.hidden, self.action_dim, cfg.activation, out_scale=0.01)
            self.critic = TwinCritic(cfg.hidden, self.action_dim, cfg.activation)
        else:
            self.actor = GaussianActor(cfg.hidden, self.action_dim, cfg.activation, cfg.log_std_min, cfg.log_std_max)
            self.critic = TwinCritic(cfg.hidden, 1, cfg.activation)
        self.optimizer = optax.scale_by_adam()

    # ------------------------------------------------------------------ networks
    def target_entropy(self, hp: HParams) -> jax.Array:
        """``ratio * log(A)`` (discrete) or ``-scale * d`` (continuous); ``[]``."""
        if self.discrete:
            return hp.target_entropy_ratio * jnp.log(jnp.float32(self.action_dim))
        return -hp.target_entropy_scale * self.action_dim

    def policy(self, actor: Any, obs: jax.Array) -> TanhGaussian | Categorical:
        """Action distribution for ``obs [S, obs_dim]`` (batch ``[S]``, events ``[d]`` or over ``A``)."""
        out = self.actor.apply(actor, obs)
        return Categorical(out) if self.discrete else out

    def q_values(self, critic: Any, obs: jax.Array, action: jax.Array | None = None) -> jax.Array:
        """Critic values: continuous ``Q_k(obs, action)`` -> ``[K, S]`` (``action [S, ...]``, flattened);
        discrete ``Q_k(obs, .)`` -> ``[K, S, A]`` (``action`` unused)."""
        if self.discrete:
            return self.critic.apply(critic, obs)
        return critic_q(self.critic, critic, obs, action)

    # ------------------------------------------------------------------ hooks
    def init_learner(self, key: jax.Array, hparams: HParams) -> Learner:
        k_actor, k_critic = jax.random.split(key)
        obs = jnp.zeros((1, self.spec.obs_dim), jnp.float32)
        actor = self.actor.init(k_actor, obs)
        if self.discrete:
            critic = self.critic.init(k_critic, obs)
        else:
            critic = self.critic.init(k_critic, jnp.zeros((1, self.spec.obs_dim + self.action_dim), jnp.float32))
        log_alpha = jnp.log(jnp.asarray(hparams.init_alpha, jnp.float32))
        opt = self.optimizer
        return Learner(actor, critic, critic, log_alpha, opt.init(actor), opt.init(critic), opt.init(log_alpha))

    def acting_params(self, learner: Learner) -> Any:
        return learner.actor

    def explore(self, params: Any, key: jax.Array, obs: jax.Array, hparams: HParams, progress: jax.Array) -> jax.Array:
        """Samples of the stochastic policy: ``[B]`` int32 or ``[B, *action_shape]`` in ``(-1, 1)``."""
        action = self.policy(params, obs).sample(key)
        return action if self.discrete else self.spec.to_env_action(action)

    def greedy(self, params: Any, obs: jax.Array) -> jax.Array:
        """``argmax`` logits (discrete) or ``tanh(mean)`` (continuous)."""
        action = self.policy(params, obs).mode()
        return action if self.discrete else self.spec.to_env_action(action)

    def target(self, learner: Learner, key: jax.Array, batch: Batch) -> jax.Array:
        """Soft TD targets ``[S]`` from the target critics and the current actor (``key``: ``a' ~ pi(next_obs)``)."""
        alpha = jnp.exp(learner.log_alpha)
        if self.discrete:
            next_q = self.q_values(learner.critic_target, batch.next_obs)  # [K, S, A]
            y = discrete_soft_target(batch, next_q, self.policy(learner.actor, batch.next_obs).logits, alpha)
        else:
            a_next, logp_next = self.policy(learner.actor, batch.next_obs).sample_and_log_prob(key)
            y = soft_target(batch, self.q_values(learner.critic_target, batch.next_obs, a_next), logp_next, alpha)
        return jax.lax.stop_gradient(y)

    def learn(self, learner: Learner, key: jax.Array, batch: Batch, hp: HParams, step: jax.Array):
        k_target, k_actor = jax.random.split(key)
        alpha = jnp.exp(learner.log_alpha)
        y = self.target(learner, k_target, batch)  # [S]

        # critics
        def critic_loss_fn(critic):
            q = self.q_values(critic, batch.obs, None if self.discrete else batch.action)
            if self.discrete:  # [K, S, A] -> [K, S]
                idx = jnp.broadcast_to(batch.action.astype(jnp.int32)[None, :, None], q.shape[:2] + (1,))
                q = jnp.take_along_axis(q, idx, axis=-1)[..., 0]
            err = q - y  # [K, S]
            return jnp.mean(batch.weight * 0.5 * jnp.sum(err**2, axis=0)), (err, jnp.mean(q))

        (critic_loss, (err, q_mean)), grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(learner.critic)
        critic, critic_opt, _ = offpolicy.adam_step(
            self.optimizer, learner.critic, grads, learner.critic_opt, hp.lr, hp.max_grad_norm
        )

        # actor, against the updated critics
        def actor_loss_fn(actor):
            dist = self.policy(actor, batch.obs)
            if self.discrete:
                logp = jax.nn.log_softmax(dist.logits, axis=-1)  # [S, A]
                q = jnp.min(self.q_values(critic, batch.obs), axis=0)  # [S, A]
                p = jnp.exp(logp)
                return jnp.mean(jnp.sum(p * (alpha * logp - q), axis=-1)), jnp.sum(p * logp, axis=-1)
            action, logp = dist.sample_and_log_prob(k_actor)  # [S, d], [S]
            q = jnp.min(self.q_values(critic, batch.obs, action), axis=0)  # [S]
            return jnp.mean(alpha * logp - q), logp

        (actor_loss, log_pi), grads = jax.value_and_grad(actor_loss_fn, has_aux=True)(learner.actor)
        actor, actor_opt, _ = offpolicy.adam_step(
            self.optimizer, learner.actor, grads, learner.actor_opt, hp.lr, hp.max_grad_norm
        )

        # temperature
        if self.cfg.autotune:
            target_entropy = self.target_entropy(hp)
            g = jax.grad(temperature_loss)(learner.log_alpha, log_pi, target_entropy)
            log_alpha, alpha_opt, _ = offpolicy.adam_step(
                self.optimizer, learner.log_alpha, g, learner.alpha_opt, hp.alpha_lr, hp.max_grad_norm
            )
        else:
            log_alpha, alpha_opt = learner.log_alpha, learner.alpha_opt

        critic_target = offpolicy.polyak(learner.critic_target, critic, hp.tau)
        metrics = {
            "critic_loss": critic_loss,
            "actor_loss": actor_loss,
            "alpha": jnp.exp(log_alpha),
            "entropy": -jnp.mean(log_pi),
            "q_mean": q_mean,
        }
        new = Learner(actor, critic, critic_target, log_alpha, actor_opt, critic_opt, alpha_opt)
        return new, metrics, jnp.mean(jnp.abs(err), axis=0) + 1e-6


def make_train(cfg: Config, *, env: Any = None, env_params: Any = None):
    """``train(key, hparams=None) -> (state, metrics)``; metrics are ``[num_updates]`` arrays (a plain function).

    ``env``: an id or an :class:`jaxrl.Environment` object replacing ``cfg.env_id``; build
    ``SAC(cfg, env=..., env_params=...)`` and use ``agent.make_train()`` when you also need the agent.
    """
    return SAC(cfg, env=env, env_params=env_params).make_train()
