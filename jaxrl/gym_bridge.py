"""Any jaxrl environment behind the gymnasium (1.x) vector-environment API.

>>> from jaxrl.gym_bridge import GymnasiumVectorEnv
>>> envs = GymnasiumVectorEnv("CartPole-v1", num_envs=8, seed=0)
>>> obs, infos = envs.reset(seed=0)
>>> obs, rewards, terminations, truncations, infos = envs.step(envs.action_space.sample())

Stepping runs one jitted :class:`jaxrl.VecEnv` step on device and returns
numpy arrays. Episodes auto-reset in the same step
(``metadata["autoreset_mode"] == AutoresetMode.SAME_STEP``): for the
environments that finished, ``infos["final_obs"]`` (an object array, ``None``
elsewhere, mask ``infos["_final_obs"]``) holds their last observation and
``infos["final_info"]`` their last info, as gymnasium's own vector envs do in
that mode. Keys live inside: ``reset(seed=s)`` restarts the stream at
``PRNGKey(s)``, ``reset()`` continues it; every reset and step splits
``key, sub = jax.random.split(key)`` and passes ``sub`` to ``VecEnv``.

gymnasium is an optional dependency (``pip install "jaxrl[gymnasium]"``);
this module imports without it and raises ``ImportError`` on use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import spaces
from jaxrl.env import FINAL_OBS, Environment
from jaxrl.registry import make, replace_params
from jaxrl.vec import VecEnv

try:
    import gymnasium as _gym
    from gymnasium.vector.utils import batch_space as _batch_space
except ImportError:  # optional dependency
    _gym = None

_Base = _gym.vector.VectorEnv if _gym is not None and hasattr(_gym.vector, "AutoresetMode") else object


def _require_gymnasium() -> None:
    if _gym is None or not hasattr(_gym.vector, "AutoresetMode"):
        found = "not installed" if _gym is None else f"version {_gym.__version__}"
        raise ImportError(
            f"jaxrl.gym_bridge needs gymnasium>=1.1 (found: {found}); install it with pip install 'jaxrl[gymnasium]'"
        )


def to_gymnasium_space(space: spaces.Space) -> Any:
    """The gymnasium equivalent of a jaxrl space (bounds must be concrete, not traced)."""
    _require_gymnasium()
    gs = _gym.spaces
    if isinstance(space, spaces.Discrete):
        return gs.Discrete(space.n)
    if isinstance(space, spaces.MultiDiscrete):
        return gs.MultiDiscrete(space.nvec, dtype=np.dtype(space.dtype))
    if isinstance(space, spaces.Box):
        dtype = np.dtype(space.dtype)
        low = np.broadcast_to(np.asarray(space.low, dtype), space.shape)
        high = np.broadcast_to(np.asarray(space.high, dtype), space.shape)
        return gs.Box(low, high, space.shape, dtype)
    if isinstance(space, spaces.Dict):
        return gs.Dict({k: to_gymnasium_space(v) for k, v in space.spaces.items()})
    raise TypeError(f"cannot convert {space!r} to a gymnasium space")


class GymnasiumVectorEnv(_Base):
    """``num_envs`` copies of a jaxrl environment as a ``gymnasium.vector.VectorEnv``.

    ``env_or_id``: an :class:`jaxrl.Environment` or a registry id. ``params``:
    the env params, a mapping of overrides to the defaults, or ``None`` for
    the defaults. ``seed``: the initial key, ``PRNGKey(seed)``. Remaining
    keywords go to :class:`jaxrl.VecEnv` (``reset_mode``, ``reset_batch``).
    """

    def __init__(self, env_or_id: Environment | str, num_envs: int, params: Any = None, seed: int = 0, **vec_kwargs):
        _require_gymnasium()
        if isinstance(env_or_id, str):
            env, default = make(env_or_id)
            label = env_or_id
        else:
            env, default = env_or_id, env_or_id.default_params
            label = env.name
        if params is None:
            params = default
        elif isinstance(params, Mapping):
            params = replace_params(default, params, label)
        self.env, self.params, self.label = env, params, label
        self.venv = VecEnv(env, num_envs, **vec_kwargs)
        self.num_envs = self.venv.num_envs

        self._jax_action_space = env.action_space(params)
        self.single_observation_space = to_gymnasium_space(env.observation_space(params))
        self.single_action_space = to_gymnasium_space(self._jax_action_space)
        self.observation_space = _batch_space(self.single_observation_space, self.num_envs)
        self.action_space = _batch_space(self.single_action_space, self.num_envs)
        self.metadata = {"autoreset_mode": _gym.vector.AutoresetMode.SAME_STEP, "render_modes": []}
        self.render_mode = None

        self._key = jax.random.PRNGKey(seed)
        self._state = None
        self._obs = None
        venv = self.venv

        def reset(key, params):
            key, sub = jax.random.split(key)
            return (key, *venv.reset(sub, params))

        def reset_masked(key, state, obs, mask, params):
            key, new_obs, new_state = reset(key, params)
            pick = lambda new, old: jnp.where(mask.reshape(mask.shape + (1,) * (new.ndim - 1)), new, old)  # noqa: E731
            return key, jax.tree.map(pick, new_obs, obs), jax.tree.map(pick, new_state, state)

        def step(key, state, action, params):
            key, sub = jax.random.split(key)
            out = venv.step(sub, state, action, params)
            return key, out.obs, out.state, out.reward, out.terminated, out.truncated, out.info

        self._reset_fn = jax.jit(reset)
        self._reset_masked_fn = jax.jit(reset_masked)
        self._step_fn = jax.jit(step)

    def __repr__(self) -> str:
        return f"GymnasiumVectorEnv({self.label!r}, num_envs={self.num_envs})"

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset all environments (or those in ``options["reset_mask"]``); returns ``(obs, {})``."""
        if seed is not None:
            if not isinstance(seed, int | np.integer):
                raise TypeError(f"seed must be an int or None (one key drives all envs), got {seed!r}")
            self._key = jax.random.PRNGKey(int(seed))
            self._np_random, self._np_random_seed = _gym.utils.seeding.np_random(int(seed))
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if options:
            raise ValueError(f"unsupported reset options {sorted(options)}; only 'reset_mask' is understood")
        if mask is None:
            self._key, obs, self._state = self._reset_fn(self._key, self.params)
        else:
            mask = np.asarray(mask)
            if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
                raise ValueError(
                    f"reset_mask must be a bool array of shape ({self.num_envs},), got {mask.dtype}{mask.shape}"
                )
            if self._state is None:
                raise RuntimeError("reset() without reset_mask must come first")
            self._key, obs, self._state = self._reset_masked_fn(self._key, self._state, self._obs, mask, self.params)
        self._obs = obs
        return jax.device_get(obs), {}

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every environment; finished ones restart in the same step (see module docstring)."""
        if self._state is None:
            raise RuntimeError(f"{self!r}: call reset() before step()")
        action = self._convert_action(actions)
        self._key, obs, self._state, reward, term, trunc, info = self._step_fn(
            self._key, self._state, action, self.params
        )
        self._obs = obs
        obs, reward, term, trunc, info = jax.device_get((obs, reward, term, trunc, info))
        return obs, reward, term, trunc, self._infos(info, term | trunc)

    # ------------------------------------------------------------------ internals
    def _convert_action(self, actions: Any) -> Any:
        space = self._jax_action_space
        if isinstance(space, spaces.Dict):
            return jax.tree.map(jnp.asarray, actions)
        a = np.asarray(actions)
        want = (self.num_envs, *space.shape)
        if a.shape != want:
            raise ValueError(f"{self!r}: actions have shape {a.shape}, expected {want} for {space!r}")
        floating = np.issubdtype(a.dtype, np.floating)
        if space.is_discrete and not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"{self!r}: actions of dtype {a.dtype} for {space!r}; integers are required")
        if isinstance(space, spaces.Box) and floating != bool(jnp.issubdtype(space.dtype, jnp.floating)):
            raise TypeError(f"{self!r}: actions of dtype {a.dtype} for {space!r} of dtype {space.dtype}")
        return jnp.asarray(a, space.dtype)

    def _infos(self, info: dict[str, Any], done: np.ndarray) -> dict[str, Any]:
        every = np.ones(self.num_envs, bool)
        step_info = {k: np.asarray(v) for k, v in info.items() if k != FINAL_OBS}
        infos: dict[str, Any] = {}
        for k, v in step_info.items():
            infos[k], infos[f"_{k}"] = v, every
        if done.any():
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(done):
                final_obs[i] = jax.tree.map(lambda x, i=i: x[i], info[FINAL_OBS])
            final_info: dict[str, Any] = {}
            for k, v in step_info.items():
                final_info[k], final_info[f"_{k}"] = v, done
            infos.update(final_obs=final_obs, _final_obs=done, final_info=final_info, _final_info=done)
        return infos
