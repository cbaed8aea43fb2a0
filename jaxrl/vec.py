"""Batched environments with auto-reset that resets only the finished ones.

``VecEnv(env, num_envs)`` steps ``num_envs`` copies of ``env`` (sharing one
``params`` pytree) and auto-resets the ones whose episode ended.

Reset modes
-----------
``"always"``
    Every step computes a reset for every environment and selects it where
    ``done`` (what ``jax.vmap(env.step)`` and gymnax do).
``"cond"`` (default for ``num_envs < 64``)
    ``"always"`` under a ``lax.cond`` on "any environment finished": steps on
    which no episode ends skip the reset. With few environments most steps
    are such steps (PPO on CartPole with 4 environments: 6% faster per
    update). Under ``jax.vmap`` (seeds) the predicate is batched, the
    ``cond`` becomes a ``select`` of both branches and the cost is that of
    ``"always"``.
``"optimistic"`` (default for ``num_envs >= 64``)
    Each step gathers at most ``reset_batch`` finished environments, resets
    just those and scatters them back, in a ``while_loop`` that runs zero
    times when nothing finished and more than once on the rare step on which
    more than ``reset_batch`` environments finish. Each environment
    uses its own reset key.

All three modes give the same results bit for bit (tested): they change cost,
never semantics.

``VecEnv.step(key, ...)`` splits ``key`` into ``num_envs`` keys exactly as
``jax.vmap(env.step)(jax.random.split(key, num_envs), ...)`` would receive
them, and returns the same values.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl import checks, spaces
from jaxrl import running_stats as rs
from jaxrl.env import FINAL_OBS, Environment, Step, check_action
from jaxrl.errors import UserError

RESET_MODES = ("always", "cond", "optimistic")


class VecEnv:
    """``num_envs`` copies of ``env``; every array gains a leading ``[num_envs]`` axis."""

    def __init__(self, env: Environment, num_envs: int, reset_mode: str | None = None, reset_batch: int | None = None):
        if isinstance(num_envs, bool | np.bool_) or not isinstance(num_envs, int | np.integer) or num_envs <= 0:
            raise UserError(
                f"VecEnv({getattr(env, 'name', type(env).__name__)}): num_envs must be a positive int, "
                f"got {num_envs!r} ({type(num_envs).__name__}); pass e.g. num_envs=8"
            )
        self.env = env
        self.num_envs = int(num_envs)
        if reset_mode is None:
            reset_mode = "optimistic" if self.num_envs >= 64 else "cond"
        if reset_mode not in RESET_MODES:
            raise ValueError(f"reset_mode must be one of {RESET_MODES}, got {reset_mode!r}")
        self.reset_mode = reset_mode
        self.reset_batch = int(reset_batch) if reset_batch else max(1, self.num_envs // 8)
        if not 0 < self.reset_batch <= self.num_envs:
            raise ValueError(f"reset_batch must be in 1..num_envs={self.num_envs}, got {reset_batch}")

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    @property
    def name(self) -> str:
        return self.env.name

    def observation_space(self, params: Any = None) -> spaces.Space:
        """Space of one environment's observation (no batch axis)."""
        return self.env.observation_space(self.default_params if params is None else params)

    def action_space(self, params: Any = None) -> spaces.Space:
        """Space of one environment's action (no batch axis)."""
        return self.env.action_space(self.default_params if params is None else params)

    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, Any]:
        params = self.default_params if params is None else params
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.reset_env, in_axes=(0, None))(keys, params)

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None) -> Step:
        """Batched step; ``action`` is ``[num_envs, *action_shape]``.

        Out-of-space actions are handled as :class:`jaxrl.Environment.step`
        handles them (:mod:`jaxrl.checks`).
        """
        return self.step_with_keys(self.step_keys(key), state, action, params)

    def step_keys(self, key: jax.Array) -> jax.Array:
        """The per-environment ``(step, reset)`` keys ``[num_envs, 2]`` that ``step(key, ...)`` uses.

        Rollouts compute them for all their steps at once (one batched hash
        instead of two per step) and call :meth:`step_with_keys`.
        """
        return jax.vmap(jax.random.split)(jax.random.split(key, self.num_envs))

    def step_with_keys(self, keys: jax.Array, state: Any, action: Any, params: Any = None) -> Step:
        """:meth:`step` with its keys ``[num_envs, 2]`` from :meth:`step_keys` given."""
        params = self.default_params if params is None else params
        with checks.translate():
            return self._step_with_keys(keys, state, action, params)

    def _step_with_keys(self, keys: jax.Array, state: Any, action: Any, params: Any) -> Step:
        self._check_action(action, params)
        action = checks.guard_action(self.env.name, self.action_space(params), action, state, (self.num_envs,))
        k_step, k_reset = keys[:, 0], keys[:, 1]
        out = jax.vmap(self.env.step_env, in_axes=(0, 0, 0, None))(k_step, state, action, params)
        done = jnp.logical_or(out.terminated, out.truncated)  # [B]
        if self.reset_mode == "always":
            obs, new_state = self._reset_all(k_reset, out, done, params)
        elif self.reset_mode == "cond":
            obs, new_state = jax.lax.cond(
                jnp.any(done),
                lambda: self._reset_all(k_reset, out, done, params),
                lambda: (out.obs, out.state),
            )
        else:
            obs, new_state = self._reset_finished(k_reset, out, done, params)
        return Step(obs, new_state, out.reward, out.terminated, out.truncated, {**out.info, FINAL_OBS: out.obs})

    # ------------------------------------------------------------------ internals
    def _check_action(self, action: Any, params: Any) -> None:
        check_action(self.env, action, params, batch_shape=(self.num_envs,))

    def _reset_all(self, k_reset, out: Step, done, params):
        r_obs, r_state = jax.vmap(self.env.reset_episode, in_axes=(0, 0, None))(k_reset, out.state, params)

        def pick(r, s):
            d = done.reshape(done.shape + (1,) * (r.ndim - 1))
            return jnp.where(d, r, s)

        return jax.tree.map(pick, r_obs, out.obs), jax.tree.map(pick, r_state, out.state)

    def _reset_finished(self, k_reset, out: Step, done, params):
        B, R = self.num_envs, self.reset_batch
        reset_fn = jax.vmap(self.env.reset_episode, in_axes=(0, 0, None))

        def reset_some(carry):
            obs, state, pending = carry
            idx = jnp.nonzero(pending, size=R, fill_value=B)[0]  # [R]; B marks an empty slot
            safe = jnp.minimum(idx, B - 1)
            r_obs, r_state = reset_fn(k_reset[safe], jax.tree.map(lambda x: x[safe], state), params)
            put = lambda x, y: x.at[idx].set(y, mode="drop")  # noqa: E731
            obs = jax.tree.map(put, obs, r_obs)
            state = jax.tree.map(put, state, r_state)
            return obs, state, pending.at[idx].set(False, mode="drop")

        # No iteration at all on steps where nothing finished.
        obs, state, _ = jax.lax.while_loop(lambda c: jnp.any(c[2]), reset_some, (out.obs, out.state, done))
        return obs, state


# --------------------------------------------------------------------------- observation normalisation
@struct.dataclass
class NormalizeState:
    env_state: Any
    obs_stats: rs.RunningMeanStd


class NormalizeObservation:
    """Normalise the observations of a :class:`VecEnv` with running statistics.

    Statistics are updated from every batch of observations returned by
    ``reset``/``step`` (``update=False`` freezes them, e.g. for evaluation) and
    live in the state, so they are saved with it. ``info[FINAL_OBS]`` is
    normalised with the same statistics as ``obs``.
    """

    def __init__(self, venv: VecEnv, clip: float = 10.0, update: bool = True):
        self.venv = venv
        self.clip = float(clip)
        self.update = bool(update)
        self.num_envs = venv.num_envs

    def __getattr__(self, name: str) -> Any:
        if name == "venv":
            raise AttributeError(name)
        return getattr(self.venv, name)

    def observation_space(self, params: Any = None) -> spaces.Space:
        """Normalised observations lie in ``[-clip, clip]``."""
        inner = self.venv.observation_space(params)
        return spaces.Box(-self.clip, self.clip, inner.shape, jnp.float32)

    def reset(self, key, params=None):
        obs, s = self.venv.reset(key, params)
        space = self.venv.observation_space(params)
        if not isinstance(space, spaces.Box):
            raise TypeError(f"NormalizeObservation needs a Box observation space, {self.venv.name} has {space!r}")
        stats = rs.init(space.shape)
        if self.update:
            stats = rs.update(stats, obs)
        return rs.normalize(stats, obs, self.clip), NormalizeState(s, stats)

    def step(self, key, state: NormalizeState, action, params=None) -> Step:
        out = self.venv.step(key, state.env_state, action, params)
        stats = rs.update(state.obs_stats, out.obs) if self.update else state.obs_stats
        info = {**out.info, FINAL_OBS: rs.normalize(stats, out.info[FINAL_OBS], self.clip)}
        return Step(
            rs.normalize(stats, out.obs, self.clip),
            NormalizeState(out.state, stats),
            out.reward,
            out.terminated,
            out.truncated,
            info,
        )
