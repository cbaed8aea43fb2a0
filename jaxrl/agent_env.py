"""Environment set-up shared by agents, and deterministic-policy evaluation.

:func:`agent_env` turns an env id into what an agent trains on: flat float
observations, episode statistics for metrics, a :class:`jaxrl.VecEnv`, and a
description of the action space. :func:`evaluate_policy` plays whole
episodes of a deterministic policy without auto-reset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

import jaxrl
from jaxrl import spaces
from jaxrl.env import Environment
from jaxrl.networks import distribution_for
from jaxrl.wrappers import ClipAction, EpisodeStatistics, FlattenObservation, RescaleAction


@dataclass(frozen=True)
class AgentEnv:
    env: Environment  # single environment (with EpisodeStatistics outermost)
    env_params: Any
    venv: jaxrl.VecEnv
    obs_dim: int
    action_space: spaces.Space  # as the agent sees it (after rescaling)
    kind: str  # "categorical", "multi_categorical" or "gaussian" (see networks.distribution_for)
    head_size: int  # logits / action dimensions of the policy head
    action_shape: tuple[int, ...]

    @property
    def continuous(self) -> bool:
        return self.kind == "gaussian"

    def to_env_action(self, flat: jax.Array) -> jax.Array:
        """Flat policy actions ``[B, d]`` -> ``[B, *action_shape]``."""
        return flat.reshape((flat.shape[0],) + self.action_shape)

    def random_actions(self, key: jax.Array, n: int) -> Any:
        """``n`` uniformly random actions, ``[n, ...]``."""
        return jax.vmap(self.action_space.sample)(jax.random.split(key, n))


def agent_env(
    env_id: str,
    env_params: Mapping[str, Any] | None,
    num_envs: int,
    reset_mode: str | None = None,
    continuous: str = "clip",
    kinds: tuple[str, ...] = ("categorical", "multi_categorical", "gaussian"),
    who: str = "agent",
) -> AgentEnv:
    """Build the training environment of an agent.

    ``continuous="clip"`` clips Box actions into the bounds (Gaussian
    policies); ``"rescale"`` exposes them as ``[-1, 1]`` (tanh-squashed
    policies). ``kinds`` lists the action-space kinds the agent supports; others
    raise a ``TypeError`` naming the environment.
    """
    env, params = jaxrl.make(env_id, **dict(env_params or {}))
    obs_space = env.observation_space(params)
    if not (isinstance(obs_space, spaces.Box) and len(obs_space.shape) == 1):
        env = FlattenObservation(env)
        obs_space = env.observation_space(params)
    space = env.action_space(params)
    kind, head = distribution_for(space)
    if kind not in kinds:
        raise TypeError(f"{who} does not support {env_id} (action space {space!r}); it handles {', '.join(kinds)}")
    if kind == "gaussian":
        if continuous == "clip":
            env = ClipAction(env)
        elif continuous == "rescale":
            env = RescaleAction(env)
        else:
            raise ValueError(f"continuous must be 'clip' or 'rescale', got {continuous!r}")
    env = EpisodeStatistics(env)
    return AgentEnv(
        env=env,
        env_params=params,
        venv=jaxrl.VecEnv(env, num_envs, reset_mode=reset_mode),
        obs_dim=obs_space.shape[0],
        action_space=env.action_space(params),
        kind=kind,
        head_size=head,
        action_shape=tuple(space.shape),
    )


def default_eval_steps(env_id: str, env_params: Any) -> int:
    """Twice the episode limit (``env_params.max_steps_in_episode`` or the registry's)."""
    horizon = getattr(env_params, "max_steps_in_episode", None)
    if not isinstance(horizon, int):
        horizon = jaxrl.spec(env_id).max_episode_steps
    return 2 * int(horizon)


def evaluate_policy(
    env: Environment,
    env_params: Any,
    key: jax.Array,
    act: Callable[[jax.Array], Any],
    num_episodes: int,
    max_steps: int,
) -> jax.Array:
    """Return of ``num_episodes`` parallel episodes of ``act(obs[N]) -> action[N]``; ``[num_episodes]``.

    ``env`` must record ``EpisodeStatistics``. Episodes play without
    auto-reset; one still running after ``max_steps`` steps gives NaN, so a
    missing time limit can neither hang nor bias the result silently.
    """
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes <= 0:
        raise ValueError(f"num_episodes must be a positive int, got {num_episodes!r}")
    k_reset, k_steps = jax.random.split(key)
    obs, state = jax.vmap(env.reset_env, in_axes=(0, None))(jax.random.split(k_reset, num_episodes), env_params)
    step_fn = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))  # no auto-reset: each env plays one episode

    def cond(c):
        t, _, _, _, done, _ = c
        return jnp.logical_and(t < max_steps, ~jnp.all(done))

    def body(c):
        t, key, state, obs, done, returns = c
        key, k = jax.random.split(key)
        out = step_fn(jax.random.split(k, num_episodes), state, act(obs), env_params)
        ended = out.info["returned_episode"] & ~done
        returns = jnp.where(ended, out.info["episode_return"], returns)
        return t + 1, key, out.state, out.obs, done | ended, returns

    init = (jnp.int32(0), k_steps, state, obs, jnp.zeros(num_episodes, bool), jnp.zeros(num_episodes, jnp.float32))
    _, _, _, _, done, returns = jax.lax.while_loop(cond, body, init)
    return jnp.where(done, returns, jnp.nan)
