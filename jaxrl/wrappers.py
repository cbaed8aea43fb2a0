"""Pure wrappers over :class:`jaxrl.Environment`.

Each wrapper is itself an ``Environment``: it transforms ``reset_env`` /
``step_env`` and nests its own state around the inner state in a
``flax.struct`` dataclass. Auto-reset happens once, in the outermost
``step`` (or in :class:`jaxrl.VecEnv`), through ``reset_episode``, which the
stateful wrappers override so their cross-episode state survives resets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl import spaces
from jaxrl.env import Environment, Step


class Wrapper(Environment):
    """Delegates everything to ``self.env``; subclasses override what they change."""

    def __init__(self, env: Environment):
        self.env = env

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def unwrapped(self) -> Environment:
        return getattr(self.env, "unwrapped", self.env)

    def reset_env(self, key, params):
        return self.env.reset_env(key, params)

    def step_env(self, key, state, action, params) -> Step:
        return self.env.step_env(key, state, action, params)

    def reset_episode(self, key, state, params):
        return self.env.reset_episode(key, state, params)

    def observation_space(self, params):
        return self.env.observation_space(params)

    def action_space(self, params):
        return self.env.action_space(params)

    def render(self, state, params):
        """The inner environment's picture; wrappers that nest the inner state (``env_state``) override it."""
        return self.env.render(state, params)

    def __getattr__(self, name: str) -> Any:
        if name == "env":  # not yet set (e.g. during unpickling)
            raise AttributeError(name)
        return getattr(self.env, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.env!r})"


# --------------------------------------------------------------------------- time limit
@struct.dataclass
class TimeLimitState:
    env_state: Any
    step: jax.Array  # [] int32, steps taken in the current episode


class TimeLimit(Wrapper):
    """Truncate episodes after ``max_steps`` steps (``truncated=True``, not ``terminated``)."""

    def __init__(self, env: Environment, max_steps: int):
        super().__init__(env)
        if int(max_steps) <= 0:
            raise ValueError(f"TimeLimit needs max_steps > 0, got {max_steps}")
        self.max_steps = int(max_steps)

    def reset_env(self, key, params):
        obs, s = self.env.reset_env(key, params)
        return obs, TimeLimitState(s, jnp.int32(0))

    def reset_episode(self, key, state, params):
        obs, s = self.env.reset_episode(key, state.env_state, params)
        return obs, TimeLimitState(s, jnp.int32(0))

    def step_env(self, key, state, action, params) -> Step:
        out = self.env.step_env(key, state.env_state, action, params)
        t = state.step + 1
        truncated = jnp.logical_or(out.truncated, t >= self.max_steps)
        return out._replace(state=TimeLimitState(out.state, t), truncated=truncated)

    def render(self, state, params):
        return self.env.render(state.env_state, params)


# --------------------------------------------------------------------------- episode statistics
@struct.dataclass
class EpisodeStatsState:
    env_state: Any
    episode_return: jax.Array  # [] float32, running return of the current episode
    episode_length: jax.Array  # [] int32
    returned_episode_return: jax.Array  # [] float32, return of the last finished episode
    returned_episode_length: jax.Array  # [] int32
    any_finished: jax.Array  # [] bool, True once any episode has finished


class EpisodeStatistics(Wrapper):
    """Track episode return and length.

    ``info`` gains ``episode_return`` / ``episode_length`` (running totals
    including this step: the final values when ``returned_episode`` is true),
    ``returned_episode`` (this step ended an episode), ``returned_episode_return``
    / ``returned_episode_length`` (last finished episode) and ``any_finished``.
    """

    def reset_env(self, key, params):
        obs, s = self.env.reset_env(key, params)
        f0, i0 = jnp.float32(0.0), jnp.int32(0)
        return obs, EpisodeStatsState(s, f0, i0, f0, i0, jnp.bool_(False))

    def reset_episode(self, key, state, params):
        obs, s = self.env.reset_episode(key, state.env_state, params)
        return obs, state.replace(env_state=s, episode_return=jnp.float32(0.0), episode_length=jnp.int32(0))

    def step_env(self, key, state, action, params) -> Step:
        out = self.env.step_env(key, state.env_state, action, params)
        done = jnp.logical_or(out.terminated, out.truncated)
        ret = state.episode_return + out.reward.astype(jnp.float32)
        length = state.episode_length + 1
        new = EpisodeStatsState(
            env_state=out.state,
            episode_return=ret,
            episode_length=length,
            returned_episode_return=jnp.where(done, ret, state.returned_episode_return),
            returned_episode_length=jnp.where(done, length, state.returned_episode_length),
            any_finished=jnp.logical_or(state.any_finished, done),
        )
        info = {
            **out.info,
            "episode_return": ret,
            "episode_length": length,
            "returned_episode": done,
            "returned_episode_return": new.returned_episode_return,
            "returned_episode_length": new.returned_episode_length,
            "any_finished": new.any_finished,
        }
        return out._replace(state=new, info=info)

    def render(self, state, params):
        return self.env.render(state.env_state, params)


# --------------------------------------------------------------------------- observation / action transforms
def _flatten(obs: Any) -> jax.Array:
    leaves = jax.tree.leaves(obs)
    return jnp.concatenate([jnp.ravel(x).astype(jnp.float32) for x in leaves])


class FlattenObservation(Wrapper):
    """Flatten (a pytree of) observations into one float32 vector."""

    def reset_env(self, key, params):
        obs, s = self.env.reset_env(key, params)
        return _flatten(obs), s

    def reset_episode(self, key, state, params):
        obs, s = self.env.reset_episode(key, state, params)
        return _flatten(obs), s

    def step_env(self, key, state, action, params) -> Step:
        out = self.env.step_env(key, state, action, params)
        return out._replace(obs=_flatten(out.obs))

    def observation_space(self, params):
        inner = self.env.observation_space(params)
        if isinstance(inner, spaces.Box):
            n = spaces.flat_dim(inner)
            low = jnp.broadcast_to(jnp.asarray(inner.low, jnp.float32), inner.shape).reshape(n)
            high = jnp.broadcast_to(jnp.asarray(inner.high, jnp.float32), inner.shape).reshape(n)
            return spaces.Box(low, high, (n,), jnp.float32)
        return spaces.Box(-jnp.inf, jnp.inf, (spaces.flat_dim(inner),), jnp.float32)


def _box(env: Environment, params: Any, who: str) -> spaces.Box:
    space = env.action_space(params)
    if not isinstance(space, spaces.Box):
        raise TypeError(f"{who} needs a Box action space, {env.name} has {space!r}")
    return space


class ClipAction(Wrapper):
    """Clip continuous actions into the action space bounds before stepping."""

    def __init__(self, env: Environment):
        super().__init__(env)
        _box(env, env.default_params, "ClipAction")

    def step_env(self, key, state, action, params) -> Step:
        space = self.env.action_space(params)
        action = jnp.asarray(action)
        action = jnp.clip(action, space.low, space.high).astype(action.dtype)
        return self.env.step_env(key, state, action, params)


class RescaleAction(Wrapper):
    """Expose actions in ``[low, high]`` (default ``[-1, 1]``), mapped affinely to the env's bounds.

    Actions outside ``[low, high]`` are clipped first.
    """

    def __init__(self, env: Environment, low: float = -1.0, high: float = 1.0):
        super().__init__(env)
        _box(env, env.default_params, "RescaleAction")
        if not low < high:
            raise ValueError(f"RescaleAction needs low < high, got {low}, {high}")
        self.low, self.high = float(low), float(high)

    def step_env(self, key, state, action, params) -> Step:
        space = self.env.action_space(params)
        action = jnp.asarray(action)
        a = jnp.clip(action, self.low, self.high)
        frac = (a - self.low) / (self.high - self.low)
        env_action = (space.low + frac * (jnp.asarray(space.high) - space.low)).astype(action.dtype)
        return self.env.step_env(key, state, env_action, params)

    def action_space(self, params):
        inner = self.env.action_space(params)
        return spaces.Box(self.low, self.high, inner.shape, inner.dtype)


# --------------------------------------------------------------------------- domain randomisation
@struct.dataclass
class DomainRandomizationState:
    env_state: Any
    params: Any  # the params of the current episode


class DomainRandomization(Wrapper):
    """Sample the env params of each episode from ``sample_fn(key, params)``.

    ``params`` passed to ``reset``/``step`` are the nominal params given to
    ``sample_fn``; the sampled ones live in the state (``state.params``) and
    drive the dynamics until the episode ends.
    """

    def __init__(self, env: Environment, sample_fn: Callable[[jax.Array, Any], Any]):
        super().__init__(env)
        self.sample_fn = sample_fn

    def reset_env(self, key, params):
        k_params, k_reset = jax.random.split(key)
        episode_params = self.sample_fn(k_params, params)
        obs, s = self.env.reset_env(k_reset, episode_params)
        return obs, DomainRandomizationState(s, episode_params)

    def reset_episode(self, key, state, params):
        # Same key use as reset_env, but through the inner reset_episode so that
        # cross-episode state of inner wrappers (episode statistics) survives.
        k_params, k_reset = jax.random.split(key)
        episode_params = self.sample_fn(k_params, params)
        obs, s = self.env.reset_episode(k_reset, state.env_state, episode_params)
        return obs, DomainRandomizationState(s, episode_params)

    def step_env(self, key, state, action, params) -> Step:
        out = self.env.step_env(key, state.env_state, action, state.params)
        return out._replace(state=DomainRandomizationState(out.state, state.params))

    def render(self, state, params):
        return self.env.render(state.env_state, state.params)  # drawn with the episode's sampled params


def uniform_params(**ranges: tuple[float, float]) -> Callable[[jax.Array, Any], Any]:
    """A ``sample_fn`` drawing each named param uniformly from ``(low, high)``.

    >>> DomainRandomization(env, uniform_params(length=(0.4, 0.6)))
    """

    def sample(key: jax.Array, params: Any) -> Any:
        keys = jax.random.split(key, len(ranges))
        new = {}
        for k, (name, (lo, hi)) in zip(keys, ranges.items(), strict=True):
            old = getattr(params, name)
            new[name] = jax.random.uniform(k, jnp.shape(old), minval=lo, maxval=hi).astype(jnp.result_type(old))
        return params.replace(**new)

    return sample
