"""The environment contract.

An :class:`Environment` is a stateless object holding only static structure;
everything that changes lives in two pytrees passed explicitly:

* ``params`` -- physical constants and episode settings (traced, vmappable:
  domain randomisation and meta-RL over environments are a ``jax.vmap``);
* ``state``  -- the dynamic state of one environment instance.

Subclasses implement the raw dynamics ``reset_env`` / ``step_env`` (no
auto-reset). The public ``step`` adds auto-reset:

* ``terminated`` -- the MDP reached a terminal state (no bootstrapping);
* ``truncated``  -- the episode was cut (time limit); bootstrap from the
  terminal observation.

When either is true, ``step`` returns the first observation of the next
episode and keeps the last observation of the finished one in
``info[FINAL_OBS]`` (present on every step: equal to ``obs`` when the episode
continues). ``step`` resets under ``lax.cond``, so under ``jit`` a reset is
computed only on steps that end an episode. Under ``jax.vmap`` JAX turns the
``cond`` into a ``select`` and both branches run; use :class:`jaxrl.VecEnv`
for batched environments, which computes resets for done environments only.

Action validity
---------------
An action of the wrong shape or dtype is an error at trace time
(:func:`check_action`). An action of the right shape and dtype but outside
the action space has a defined meaning, applied by ``step`` (and
:class:`jaxrl.VecEnv`) before ``step_env`` sees it, the same for every
environment (:func:`jaxrl.checks.guard_action`):

* ``Discrete(n)`` / ``MultiDiscrete(nvec)``: clipped into ``[0, n-1]`` per
  entry (CartPole's action 5 is action 1: no extrapolated force);
* floating ``Box``: non-finite components (NaN, +-inf) become 0 clipped into
  the bounds; finite values are passed on unchanged, even out of bounds (the
  dynamics decide; most clip; :class:`jaxrl.wrappers.ClipAction` clips).

Valid actions are unchanged bit for bit. ``step_env`` may therefore assume
in-range integers and finite floats. In checked mode
(``jaxrl.checks.enable(True)``, ``with jaxrl.checks.scope():`` or
``JAXRL_CHECKS=1``) every action that this policy would change raises
:class:`jaxrl.checks.InvalidActionError` naming the environment, the batch
index, the episode step and the value, also inside ``jit``; it costs a host
callback per step, so it is off by default.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Generic, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import checks, spaces

FINAL_OBS = "final_obs"
"""``info`` key holding the observation that ended the step, before auto-reset."""

TState = TypeVar("TState")
TParams = TypeVar("TParams")


class Step(NamedTuple):
    """Output of ``step``; unpacks like gymnax 1.0's 6-tuple."""

    obs: Any
    state: Any
    reward: jax.Array  # [] float32
    terminated: jax.Array  # [] bool
    truncated: jax.Array  # [] bool
    info: dict[str, Any]


class Environment(Generic[TState, TParams]):
    """Base class. Override ``default_params``, ``reset_env``, ``step_env``,
    ``observation_space`` and ``action_space``."""

    @property
    def default_params(self) -> TParams:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__

    def reset_env(self, key: jax.Array, params: TParams) -> tuple[Any, TState]:
        """Start an episode: ``(obs, state)``."""
        raise NotImplementedError

    def step_env(self, key: jax.Array, state: TState, action: Any, params: TParams) -> Step:
        """One transition without auto-reset."""
        raise NotImplementedError

    def reset_episode(self, key: jax.Array, state: TState, params: TParams) -> tuple[Any, TState]:
        """Start the next episode after ``state`` ended (used by auto-reset).

        Defaults to ``reset_env``. Wrappers that keep state across episodes
        (episode statistics, running counters) override it to carry that
        state over.
        """
        del state
        return self.reset_env(key, params)

    def observation_space(self, params: TParams) -> spaces.Space:
        raise NotImplementedError

    def action_space(self, params: TParams) -> spaces.Space:
        raise NotImplementedError

    def render(self, state: TState, params: TParams) -> np.ndarray:
        """A picture of one unbatched ``state``: ``[H, W, 3]`` uint8 RGB.

        Host-side, not jittable: call it outside ``jit`` on concrete arrays
        (implementations draw with NumPy, PIL or matplotlib). Every frame of
        one environment has the same ``[H, W]``, so frames stack into a video
        (:func:`jaxrl.render.rollout_frames`, :func:`jaxrl.render.save_gif`).
        Wrappers forward it to the inner environment with the inner state.
        """
        raise NotImplementedError(
            f"{self.name} ({type(self).__name__}) has no renderer: "
            "override Environment.render(state, params) -> [H, W, 3] uint8 array"
        )

    # ------------------------------------------------------------------ public API
    @partial(jax.jit, static_argnums=0)
    def reset(self, key: jax.Array, params: TParams | None = None) -> tuple[Any, TState]:
        params = self.default_params if params is None else params
        return self.reset_env(key, params)

    def step(self, key: jax.Array, state: TState, action: Any, params: TParams | None = None) -> Step:
        """Transition with auto-reset; out-of-space actions as the module docstring says.

        The key is split as gymnax does (``key_step, key_reset``), so a gymnax
        environment wrapped by jaxrl reproduces gymnax's transitions. Compiled
        per checked mode (:mod:`jaxrl.checks`), which is read here.
        """
        with checks.translate():
            return self._step(key, state, action, params, checks.is_enabled())

    @partial(jax.jit, static_argnums=(0, 5))
    def _step(self, key: jax.Array, state: TState, action: Any, params: TParams | None, checked: bool) -> Step:
        del checked  # part of the jit cache key only; guard_action reads the flag while tracing
        params = self.default_params if params is None else params
        check_action(self, action, params)
        action = checks.guard_action(self.name, self.action_space(params), action, state)
        key_step, key_reset = jax.random.split(key)
        out = self.step_env(key_step, state, action, params)
        done = jnp.logical_or(out.terminated, out.truncated)
        obs, new_state = jax.lax.cond(
            done,
            lambda: self.reset_episode(key_reset, out.state, params),
            lambda: (out.obs, out.state),
        )
        return Step(obs, new_state, out.reward, out.terminated, out.truncated, {**out.info, FINAL_OBS: out.obs})


def check_action(env: Environment, action: Any, params: Any, batch_shape: tuple[int, ...] = ()) -> None:
    """Raise a clear error at trace time when ``action`` has the wrong shape or dtype.

    ``ValueError`` for a shape other than ``batch_shape + space.shape``;
    ``TypeError`` for an integer action in a floating space or the reverse
    (``Discrete`` / ``MultiDiscrete`` need integers; a ``Box`` needs the kind
    of its own dtype).
    """
    space = env.action_space(params)
    if isinstance(space, spaces.Dict):
        return
    shape = tuple(jnp.shape(action))
    dtype = jnp.result_type(action)
    want = tuple(batch_shape) + tuple(space.shape)
    if shape != want:
        batched = len(shape) > len(want) and not batch_shape
        hint = " (batched? use jax.vmap or jaxrl.VecEnv)" if batched else ""
        raise ValueError(f"{env.name}: action has shape {shape}, expected {want} for {space!r}{hint}")
    if space.is_discrete:
        if not jnp.issubdtype(dtype, jnp.integer):
            raise TypeError(f"{env.name}: action dtype {dtype} is not an integer type, as {space!r} requires")
    elif isinstance(space, spaces.Box):
        floating = jnp.issubdtype(space.dtype, jnp.floating)
        if floating != bool(jnp.issubdtype(dtype, jnp.floating)):
            kind = "a floating" if floating else "an integer or bool"
            raise TypeError(f"{env.name}: action dtype {dtype} is not {kind} type, as {space!r} requires")
