"""An agent trained by a learned policy gradient: policy ``pi(a|s)`` and prediction ``y(s)`` from one torso.

One update: roll out ``num_steps`` steps of ``num_envs`` environments with the current
policy, let the learned rule read the trajectory (:class:`LPGNetwork`, inputs stop-gradiented),
and take one Adam step on

    L(theta) = mean_t,b[ log pi_theta(a_t|s_t) * pi_hat_t ] + kl_coef * mean_t,b[ KL(y_theta(s_t) || y_hat_t) ]

(``pi_hat`` and ``y_hat`` are constants for the gradient). There is no value function: the rule
decides what ``y`` means. A lifetime is ``N`` such updates; TA-LPG's rule also reads ``n / N``
and ``log N``. :meth:`LPGAgent.lifetime` runs a lifetime whose length is a traced value (a
``while_loop``; under ``vmap`` with per-member lifetimes every member stops at its own ``N``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl.agent_env import agent_env, default_eval_steps, evaluate_policy
from jaxrl.config import ConfigBase, activations, ge, gt, in_range, layer_sizes, positive, reset_modes, static
from jaxrl.meta.lpg.network import Y_DIM, LPGInputs, LPGNetwork, time_inputs
from jaxrl.networks import activation, orthogonal
from jaxrl.optim import adam_step
from jaxrl.registry import spec
from jaxrl.rollout import EnvCarry, rollout, scan_updates


@dataclass(frozen=True)
class AgentConfig(ConfigBase):
    """The inner agent of LPG: environment, batch shape and optimiser (all static)."""

    _name = "lpg.AgentConfig"

    env_id: str = "MiniGrid-Empty-Random-6x6-v0"
    env_params: Mapping[str, Any] = static(factory=dict)
    num_envs: int = static(32, positive)
    num_steps: int = static(20, positive)  # trajectory length T of one update
    lr: float = static(1e-3, gt(0))
    gamma: float = static(0.99, in_range(0, 1))
    kl_coef: float = static(0.5, ge(0))
    max_grad_norm: float = static(1.0, gt(0))
    hidden: tuple[int, ...] = static((64, 64), layer_sizes)
    activation: str = static("tanh", activations())
    obs_scale: float = static(1.0, gt(0))  # observations are multiplied by this (grid codes: 0.1)
    y_dim: int = static(Y_DIM, positive)
    reset_mode: str | None = static(None, reset_modes)

    def validate(self) -> None:
        """The env id is checked against the registry (not built); ``env_params`` names when the agent builds it."""
        spec(self.env_id)  # unknown ids raise naming close matches

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps


class AgentNet(nn.Module):
    """``obs [..., d] -> (policy logits [..., A], prediction logits [..., m])`` from a shared MLP torso."""

    num_actions: int
    y_dim: int = Y_DIM
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        act = activation(self.activation)
        x = obs
        for i, h in enumerate(self.hidden):
            x = act(nn.Dense(h, kernel_init=orthogonal(np.sqrt(2.0)), name=f"hidden_{i}")(x))
        logits = nn.Dense(self.num_actions, kernel_init=orthogonal(0.01), name="pi")(x)
        y_logits = nn.Dense(self.y_dim, kernel_init=orthogonal(0.01), name="y")(x)
        return logits, y_logits


@struct.dataclass
class AgentState:
    params: Any
    opt_state: Any
    env: EnvCarry  # [B] env states and observations
    key: jax.Array
    update: jax.Array  # [] int32, updates done (n)


def lpg_loss(
    params: Any,
    net: AgentNet,
    rule: LPGNetwork,
    rule_params: Any,
    obs: jax.Array,
    action: jax.Array,
    reward: jax.Array,
    terminated: jax.Array,
    done: jax.Array,
    next_obs: jax.Array,
    gamma: jax.Array,
    progress: jax.Array,
    log_lifetime: jax.Array,
    kl_coef: float,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The agent's loss on one ``[T, B]`` trajectory; the rule's outputs carry no gradient.

    ``obs``/``next_obs``: ``[T, B, d]`` (already scaled); ``action``, ``reward``, ``terminated``,
    ``done``: ``[T, B]``.
    """
    logits, y_logits = net.apply({"params": params}, obs)  # [T, B, A], [T, B, m]
    _, y_next_logits = net.apply({"params": params}, next_obs)
    logp = jax.nn.log_softmax(logits)
    logp_a = jnp.take_along_axis(logp, action[..., None].astype(jnp.int32), axis=-1)[..., 0]  # [T, B]
    log_y = jax.nn.log_softmax(y_logits)
    y = jnp.exp(log_y)
    sg = jax.lax.stop_gradient
    inp = LPGInputs(
        reward=reward.astype(jnp.float32),
        terminated=terminated,
        done=done,
        gamma=gamma,
        pi_a=sg(jnp.exp(logp_a)),
        y=sg(y),
        y_next=sg(jax.nn.softmax(y_next_logits)),
        progress=progress,
        log_lifetime=log_lifetime,
    )
    pi_hat, y_hat_logits = rule.apply({"params": rule_params}, inp)
    pi_hat, log_y_hat = sg(pi_hat), sg(jax.nn.log_softmax(y_hat_logits))
    kl = jnp.sum(y * (log_y - log_y_hat), axis=-1)  # [T, B]
    pg = jnp.mean(logp_a * pi_hat)
    loss = pg + kl_coef * jnp.mean(kl)
    entropy = -jnp.mean(jnp.sum(jnp.exp(logp) * logp, axis=-1))
    return loss, {"loss": loss, "pg": pg, "kl": jnp.mean(kl), "pi_hat": jnp.mean(pi_hat), "entropy": entropy}


class LPGAgent:
    """Trains fresh agents on ``cfg.env_id`` with a learned rule ``rule`` (LPG or TA-LPG).

    ``rule_params`` and ``env_params`` are arguments of every method, so ``jax.vmap`` runs a
    population of rules over a distribution of levels.
    """

    def __init__(self, cfg: AgentConfig, rule: LPGNetwork):
        if rule.y_dim != cfg.y_dim:
            raise ValueError(f"rule.y_dim={rule.y_dim} differs from the agent's y_dim={cfg.y_dim}")
        self.cfg = cfg
        self.rule = rule
        self.ae = agent_env(cfg.env_id, cfg.env_params, cfg.num_envs, cfg.reset_mode, kinds=("categorical",),
                            who="the LPG agent")  # fmt: skip
        self.net = AgentNet(self.ae.head_size, cfg.y_dim, cfg.hidden, cfg.activation)
        self.opt = optax.scale_by_adam()

    @property
    def env_params(self) -> Any:
        return self.ae.env_params

    def init(self, key: jax.Array, env_params: Any = None) -> AgentState:
        env_params = self.env_params if env_params is None else env_params
        k_net, k_env, k_run = jax.random.split(key, 3)
        params = self.net.init(k_net, jnp.zeros((1, self.ae.obs_dim), jnp.float32))["params"]
        obs, env_state = self.ae.venv.reset(k_env, env_params)
        return AgentState(params, self.opt.init(params), EnvCarry(env_state, obs), k_run, jnp.int32(0))

    def policy_logits(self, params: Any, obs: jax.Array) -> jax.Array:
        return self.net.apply({"params": params}, obs * self.cfg.obs_scale)[0]

    def update(
        self, state: AgentState, rule_params: Any, lifetime: jax.Array, env_params: Any = None,
        lr: Any = None, kl_coef: Any = None,
    ) -> tuple[AgentState, dict[str, jax.Array]]:
        """One rollout and one learned-rule update. Metrics are scalars (``return_sum``/``episodes``:
        returns and count of the episodes that ended during this rollout). ``lr`` and ``kl_coef``
        (traced values, e.g. PBT's) replace the config's when given."""
        cfg, env_params = self.cfg, self.env_params if env_params is None else env_params
        key, k_roll = jax.random.split(state.key)

        def policy(k, obs):
            return jax.random.categorical(k, self.policy_logits(state.params, obs)).astype(jnp.int32), None

        env, tr = rollout(k_roll, self.ae.venv, env_params, state.env, policy, cfg.num_steps)
        progress, log_n = time_inputs(state.update, lifetime)
        scale = cfg.obs_scale
        grad_fn = jax.grad(lpg_loss, has_aux=True)
        grads, m = grad_fn(
            state.params, self.net, self.rule, rule_params, tr.obs * scale, tr.action, tr.reward, tr.terminated,
            tr.terminated | tr.truncated, tr.next_obs * scale, jnp.float32(cfg.gamma), progress, log_n,
            cfg.kl_coef if kl_coef is None else kl_coef,
        )  # fmt: skip
        params, opt_state, gnorm = adam_step(self.opt, state.params, grads, state.opt_state,
                                              cfg.lr if lr is None else lr, cfg.max_grad_norm)
        ended = tr.info["returned_episode"]
        m = {
            **m,
            "grad_norm": gnorm,
            "return_sum": jnp.sum(jnp.where(ended, tr.info["episode_return"], 0.0)),
            "episodes": jnp.sum(ended).astype(jnp.float32),
        }
        return AgentState(params, opt_state, env, key, state.update + 1), m

    def train(
        self, key: jax.Array, rule_params: Any, num_updates: int, env_params: Any = None
    ) -> tuple[AgentState, dict[str, jax.Array]]:
        """A lifetime of ``num_updates`` (static) updates under ``lax.scan``; metrics ``[num_updates]``."""
        step = lambda s: self.update(s, rule_params, jnp.int32(num_updates), env_params)  # noqa: E731
        return scan_updates(step, self.init(key, env_params), num_updates)  # checks num_updates first

    def lifetime(
        self, key: jax.Array, rule_params: Any, lifetime: jax.Array, env_params: Any = None, window: float = 0.25
    ) -> tuple[AgentState, jax.Array]:
        """Train for ``lifetime`` updates (a traced int) with a ``while_loop``.

        Returns the final state and the lifetime score: the mean return of the episodes that
        ended during the last ``max(1, floor(window * N))`` updates (0 if none ended).
        """
        n_total = jnp.asarray(lifetime, jnp.int32)
        start = n_total - jnp.maximum(1, jnp.floor(window * n_total).astype(jnp.int32))

        def body(c):
            state, ret, count = c
            inside = state.update >= start
            state, m = self.update(state, rule_params, n_total, env_params)
            return state, ret + jnp.where(inside, m["return_sum"], 0.0), count + jnp.where(inside, m["episodes"], 0.0)

        init = (self.init(key, env_params), jnp.float32(0.0), jnp.float32(0.0))
        state, ret, count = jax.lax.while_loop(lambda c: c[0].update < n_total, body, init)
        return state, jnp.where(count > 0, ret / jnp.maximum(count, 1.0), 0.0)

    def evaluate(self, key: jax.Array, state: AgentState, num_episodes: int = 16, env_params: Any = None) -> jax.Array:
        """Returns ``[num_episodes]`` of the greedy policy (NaN for an episode unfinished in time)."""
        env_params = self.env_params if env_params is None else env_params

        def act(obs):
            return jnp.argmax(self.policy_logits(state.params, obs), axis=-1).astype(jnp.int32)

        steps = default_eval_steps(self.cfg.env_id, env_params)
        return evaluate_policy(self.ae.env, env_params, key, act, num_episodes, steps)
