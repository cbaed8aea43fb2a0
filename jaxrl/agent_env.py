"""Environment set-up shared by agents, and deterministic-policy evaluation.

:func:`agent_env` turns an env id or an :class:`Environment` object into what an agent trains on: flat float
observations, episode statistics for metrics, a :class:`jaxrl.VecEnv`, and a
description of the action space. :func:`evaluate_policy` plays whole
episodes of a deterministic policy without auto-reset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

import jaxrl
from jaxrl import checks, spaces
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
    env_id: str = ""  # the registry id, or the environment's name when it was passed as an object
    max_episode_steps: int | None = None  # the registry's episode limit (None for unregistered environments)

    @property
    def continuous(self) -> bool:
        return self.kind == "gaussian"

    def to_env_action(self, flat: jax.Array) -> jax.Array:
        """Flat policy actions ``[B, d]`` -> ``[B, *action_shape]``."""
        return flat.reshape((flat.shape[0],) + self.action_shape)

    def random_actions(self, key: jax.Array, n: int) -> Any:
        """``n`` uniformly random actions, ``[n, ...]``."""
        return jax.vmap(self.action_space.sample)(jax.random.split(key, n))

    def eval_steps(self) -> int:
        """Default step limit of an evaluation: twice the episode limit (see :func:`default_eval_steps`)."""
        horizon = getattr(self.env_params, "max_steps_in_episode", None)
        if not isinstance(horizon, int):
            horizon = self.max_episode_steps or FALLBACK_HORIZON
        return 2 * int(horizon)


FALLBACK_HORIZON = 1000
"""Episode limit assumed for evaluation when neither the params nor the registry give one."""


def _check_override(env_name: str, key: str, old: Any, new: Any) -> None:
    """``new`` must have the kind of ``old`` (the default): bool, int, real, str, or an array of its shape."""
    import numbers

    import numpy as np

    from jaxrl.errors import UserError

    if isinstance(new, jax.core.Tracer):
        return
    where = f"env_params[{key!r}] of {env_name}"
    if isinstance(old, bool | np.bool_):
        ok, what = isinstance(new, bool | np.bool_), "a bool"
    elif isinstance(old, numbers.Integral):
        ok, what = isinstance(new, numbers.Integral) and not isinstance(new, bool | np.bool_), "an integer"
    elif isinstance(old, numbers.Real):
        ok, what = isinstance(new, numbers.Real) and not isinstance(new, bool | np.bool_), "a real number"
    elif isinstance(old, str):
        ok, what = isinstance(new, str), "a string"
    elif hasattr(old, "shape") and hasattr(old, "dtype"):
        arr = np.asarray(new) if isinstance(new, numbers.Number | list | tuple | np.ndarray | jax.Array) else None
        ok = arr is not None and arr.dtype.kind in "biuf" and arr.shape == tuple(old.shape)
        what = f"a number array of shape {tuple(old.shape)}" if old.shape else "a number"
    else:
        return
    if not ok:
        raise UserError(f"{where} must be {what} (like its default {old!r}), got {new!r} ({type(new).__name__})")


def resolve_env(
    env: str | Environment, overrides: Mapping[str, Any] | None = None, params: Any = None
) -> tuple[Environment, Any, str, int | None]:
    """``(env, params, name, registry episode limit)`` from an id or an :class:`Environment` object.

    An id is built through the registry; an object is used as it is, with ``params`` (default:
    ``env.default_params``). ``overrides`` then replace fields of the params; unknown names, and
    values of another kind than the field's default (a string for an int, an array of another
    shape), raise a :class:`jaxrl.errors.UserError`.
    """
    from jaxrl.errors import UserError
    from jaxrl.registry import replace_params, spec

    overrides = dict(overrides or {})
    try:
        if isinstance(env, str):
            s = spec(env)
            built, limit, name = (s.make() if params is None else (s.factory(), params)), s.max_episode_steps, env
            env, params = built
        elif isinstance(env, Environment):
            name, limit = getattr(env, "name", type(env).__name__), None
            params = env.default_params if params is None else params
        else:
            raise UserError(f"env must be a registered id (str) or a jaxrl.Environment, got {type(env).__name__}")
        if overrides and dataclasses.is_dataclass(params):
            known = {f.name for f in dataclasses.fields(params)}
            for k, v in overrides.items():
                if k in known:
                    _check_override(name, k, getattr(params, k), v)
        return env, replace_params(params, overrides, name), name, limit
    except UserError:
        raise
    except ValueError as e:
        raise UserError(str(e)) from None


def agent_env(
    env_id: str | Environment,
    env_params: Mapping[str, Any] | None,
    num_envs: int,
    reset_mode: str | None = None,
    continuous: str = "clip",
    kinds: tuple[str, ...] = ("categorical", "multi_categorical", "gaussian"),
    who: str = "agent",
    params: Any = None,
) -> AgentEnv:
    """Build the training environment of an agent.

    ``env_id`` is a registered id or an :class:`Environment` object (no registration needed);
    ``params`` are its parameters (default: the registry's, or ``env.default_params``) and
    ``env_params`` field overrides applied on top (see :func:`resolve_env`).
    ``continuous="clip"`` clips Box actions into the bounds (Gaussian
    policies); ``"rescale"`` exposes them as ``[-1, 1]`` (tanh-squashed
    policies). ``kinds`` lists the action-space kinds the agent supports; others
    raise a ``TypeError`` naming the environment.
    """
    env, params, name, limit = resolve_env(env_id, env_params, params)
    obs_space = env.observation_space(params)
    if not (isinstance(obs_space, spaces.Box) and len(obs_space.shape) == 1):
        env = FlattenObservation(env)
        obs_space = env.observation_space(params)
    space = env.action_space(params)
    kind, head = distribution_for(space)
    if kind not in kinds:
        raise TypeError(f"{who} does not support {name} (action space {space!r}); it handles {', '.join(kinds)}")
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
        env_id=name,
        max_episode_steps=limit,
    )


def default_eval_steps(env_id: str, env_params: Any) -> int:
    """Twice the episode limit (``env_params.max_steps_in_episode``, the registry's, or :data:`FALLBACK_HORIZON`)."""
    horizon = getattr(env_params, "max_steps_in_episode", None)
    if not isinstance(horizon, int):
        try:
            horizon = jaxrl.spec(env_id).max_episode_steps
        except ValueError:  # not a registered id (an environment passed as an object)
            horizon = FALLBACK_HORIZON
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
    space = env.action_space(env_params)

    def cond(c):
        t, _, _, _, done, _ = c
        return jnp.logical_and(t < max_steps, ~jnp.all(done))

    def body(c):
        t, key, state, obs, done, returns = c
        key, k = jax.random.split(key)
        action = checks.guard_action(env.name, space, act(obs), state, (num_episodes,))  # as env.step does
        out = step_fn(jax.random.split(k, num_episodes), state, action, env_params)
        ended = out.info["returned_episode"] & ~done
        returns = jnp.where(ended, out.info["episode_return"], returns)
        return t + 1, key, out.state, out.obs, done | ended, returns

    init = (jnp.int32(0), k_steps, state, obs, jnp.zeros(num_episodes, bool), jnp.zeros(num_episodes, jnp.float32))
    _, _, _, _, done, returns = jax.lax.while_loop(cond, body, init)
    return jnp.where(done, returns, jnp.nan)
