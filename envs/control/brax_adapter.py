"""One adapter over ``brax.envs`` (rigid-body physics: locomotion and manipulation).

Brax computes the dynamics, observations and rewards (returned unchanged:
float32 obs ``[observation_size]``, float32 reward ``[]``); jaxrl owns
auto-reset and truncation. A raw brax env (no ``EpisodeWrapper``) reports in
``done`` only termination (falling over, pole angle out of range), so
``terminated = done``; truncation is ``state.time >= params.max_steps_in_episode``
(1000, brax's standard episode length), reported as ``truncated`` and never as
``terminated``. The reset key goes straight to brax's ``reset``, so a
trajectory reproduces ``brax.envs.get_environment(name)`` exactly.
``info`` carries brax's per-step ``metrics`` (reward terms, positions).

Reset: brax's ``reset(rng)`` splits ``rng`` in three, adds small uniform or
normal noise (per env) to the initial joint positions and velocities,
and runs the pipeline's forward kinematics (reacher and pusher also sample
a target / object position). ``step`` ignores its key: brax is deterministic.

Dtypes: brax's ``step`` returns weakly typed scalars (``reward = 1.0``,
``done = jnp.where(..., 1.0, 0.0)``) where ``reset`` returns strongly typed
ones. jax 0.10's ``cond`` / ``scan`` / ``while_loop`` promote such mismatches
(checked: ``step``'s auto-reset and VecEnv's optimistic resets work without
help), but a jitted ``step`` driven from a host loop would see a strong state
after ``reset`` and a weak one after ``step`` and compile twice. So every
brax state leaving this adapter is cast to the dtypes of ``reset``'s output
(no weak types): one compile, identical avals in every branch.

Backend: brax's default, ``"generalized"``, for every env (swimmer supports
nothing else). Measured on 2 CPU cores at low load (jax 0.10.2, brax 0.14.2,
mujoco-mjx 3.17): compile = wall time of ``jit(reset)`` + ``jit(step)``;
throughput = 200-step ``lax.scan`` of ``jax.vmap`` over B raw brax envs with
random actions (the adapter adds no measurable cost to a step):

=================  ===========  =========  =====  ===========
env                backend      compile s  B      steps/s
=================  ===========  =========  =====  ===========
inverted_pendulum  generalized  2.7-3.7    1, 64  89k, 85k
inverted_pendulum  mjx          4.5-7.2    1, 64  25k, 49k
hopper             generalized  7.1        1, 64  5.0k, 11.8k
hopper             mjx          9.9-11.4   1, 64  6.2k, 10.7k
ant                generalized  5.9        64     6.9k
ant                mjx          8.5        64     16.1k
=================  ===========  =========  =====  ===========

``"generalized"`` compiles 30-60% faster (compiles dominate tests and short
runs on CPU) and is as fast or faster on the small systems; ``"mjx"`` steps
ant ~2.3x faster (1.8x at B=256), partly because brax configures it with a
single Newton solver iteration. Pass ``backend="mjx"`` (or ``"positional"``
/ ``"spring"``) to choose; physics, and so returns, differ between backends.

Brax and MuJoCo are imported in the constructor only, so ``import jaxrl``
stays light. Noise silenced there: importing ``mujoco.mjx`` prints "Failed to
import warp" to stdout (an optional GPU backend); brax's MJCF loader warns
that brax pipelines are unmaintained; MuJoCo warns (to stdout and a
``MUJOCO_LOG.TXT`` in the cwd) that half_cheetah.xml's ``settotalmass`` is
deprecated. Other MuJoCo warnings become Python ``RuntimeWarning``s.

Compatibility patch: brax 0.14's fluid model (swimmer) calls
``jnp.clip(x, a_min=...)``, a keyword jax has removed; when ``jnp.clip``
lacks it, ``brax.fluid`` gets a ``jax.numpy`` proxy whose ``clip`` accepts it.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import warnings
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl import spaces
from jaxrl.env import Environment, Step
from jaxrl.registry import register

BACKENDS = ("generalized", "mjx", "positional", "spring")


@struct.dataclass
class BraxParams:
    max_steps_in_episode: int = 1000  # truncation horizon (steps)


@struct.dataclass
class BraxState:
    brax_state: Any  # brax.envs.State (pipeline_state, obs, reward, done, metrics, info)
    time: jax.Array  # [] int32, steps taken in the current episode


class _ClipCompatNumpy:
    """``jax.numpy`` whose ``clip`` still takes the ``a_min``/``a_max`` keywords that jax removed."""

    def __getattr__(self, name: str) -> Any:
        return getattr(jnp, name)

    @staticmethod
    def clip(x, min=None, max=None, *, a_min=None, a_max=None):
        return jnp.clip(x, a_min if min is None else min, a_max if max is None else max)


def _import_brax_envs():
    with contextlib.redirect_stdout(io.StringIO()):  # mujoco.mjx prints about its optional warp backend
        import brax.envs
        import brax.fluid
    # brax 0.14 calls jnp.clip(x, a_min=...) in its fluid model (swimmer); jax 0.10 rejects that keyword.
    if "a_min" not in inspect.signature(jnp.clip).parameters and brax.fluid.jp is jnp:
        brax.fluid.jp = _ClipCompatNumpy()
    return brax.envs


@contextlib.contextmanager
def _mujoco_warnings():
    """Collect MuJoCo's warnings instead of letting it print them and write ``MUJOCO_LOG.TXT`` into the cwd."""
    import mujoco

    previous = mujoco.get_mju_user_warning()
    messages: list[str] = []
    mujoco.set_mju_user_warning(messages.append)
    try:
        yield messages
    finally:
        mujoco.set_mju_user_warning(previous)


class BraxEnv(Environment):
    """``brax.envs.get_environment(name, backend=..., **kwargs)`` on the jaxrl contract.

    Instances with equal ``(name, backend, kwargs)`` compare equal, so jitted
    methods compiled for one are reused by the next.
    """

    def __init__(self, name: str, backend: str | None = None, **kwargs: Any):
        benvs = _import_brax_envs()
        known = sorted(benvs._envs) if hasattr(benvs, "_envs") else sorted(_ENVS)
        if name not in known:
            raise ValueError(f"unknown brax environment {name!r}; brax provides: {', '.join(known)}")
        if backend is not None and backend not in BACKENDS:
            raise ValueError(f"unknown brax backend {backend!r}; choose one of {BACKENDS}")
        if backend is not None:
            kwargs["backend"] = backend
        with warnings.catch_warnings(), _mujoco_warnings() as mj_warnings:
            warnings.filterwarnings("ignore", message=".*not actively being maintained.*")
            self.brax_env = benvs.get_environment(name, **kwargs)
        for msg in mj_warnings:
            if "settotalmass" not in msg:  # deprecated attribute in brax's half_cheetah.xml
                warnings.warn(f"mujoco ({name}): {msg}", RuntimeWarning, stacklevel=2)
        self.brax_name = name
        self.backend = self.brax_env.backend
        key = (name, self.backend, tuple(sorted((k, v) for k, v in kwargs.items() if k != "backend")))
        try:
            hash(key)
        except TypeError:  # unhashable brax kwargs (arrays): identity semantics
            key = ("instance", id(self))
        self._key = key
        self._avals = None

    def __repr__(self) -> str:
        return f"BraxEnv({self.brax_name!r}, backend={self.backend!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._key == self._key

    def __hash__(self) -> int:
        return hash(self._key)

    @property
    def name(self) -> str:
        return self.brax_name

    @property
    def default_params(self) -> BraxParams:
        return BraxParams()

    @property
    def _state_avals(self) -> Any:
        """Shapes and dtypes of brax's ``reset`` output (traced once, on first use)."""
        if self._avals is None:
            avals = jax.eval_shape(self.brax_env.reset, jax.random.PRNGKey(0))
            if not isinstance(avals.obs, jax.ShapeDtypeStruct) or avals.obs.ndim != 1:
                raise TypeError(f"brax env {self.name!r}: expected a vector observation, got {avals.obs}")
            self._avals = avals
        return self._avals

    def _cast(self, brax_state: Any) -> Any:
        """Cast to ``reset``'s dtypes (strips weak types so cond/scan/while_loop branches match)."""

        def cast(x, ref):
            x = jnp.asarray(x, ref.dtype)
            if x.shape != ref.shape:
                raise ValueError(f"{self.name}: brax state leaf changed shape {ref.shape} -> {x.shape}")
            return x

        return jax.tree.map(cast, brax_state, self._state_avals)

    def reset_env(self, key: jax.Array, params: BraxParams) -> tuple[jax.Array, BraxState]:
        bs = self._cast(self.brax_env.reset(key))
        return bs.obs, BraxState(bs, jnp.zeros((), jnp.int32))

    def step_env(self, key: jax.Array, state: BraxState, action: jax.Array, params: BraxParams) -> Step:
        del key  # brax dynamics are deterministic
        bs = self._cast(self.brax_env.step(state.brax_state, jnp.asarray(action, jnp.float32)))
        time = state.time + 1
        terminated = bs.done != 0
        truncated = time >= params.max_steps_in_episode
        return Step(bs.obs, BraxState(bs, time), bs.reward, terminated, truncated, dict(bs.metrics))

    def observation_space(self, params: BraxParams) -> spaces.Space:
        return spaces.Box(-jnp.inf, jnp.inf, self._state_avals.obs.shape, jnp.float32)

    def action_space(self, params: BraxParams) -> spaces.Space:
        return spaces.Box(-1.0, 1.0, (int(self.brax_env.action_size),), jnp.float32)

    renderer = "auto"  # "mujoco" (OpenGL, headless EGL/OSMesa) | "projection" (no GL) | "auto": see brax_render

    def render(self, state: BraxState, params: BraxParams) -> Any:
        """``[240, 320, 3]`` uint8 frame (host-side): see :mod:`jaxrl.envs.control.brax_render`."""
        from jaxrl.envs.control import brax_render

        return brax_render.render_brax(self, state, params, self.renderer)


_ENVS = {
    "ant": "Quadruped (8 actuators): run forward; terminates when the torso leaves z in [0.2, 1].",
    "halfcheetah": "Planar cheetah (6 actuators): run forward; never terminates.",
    "hopper": "Planar one-legged hopper (3 actuators): hop forward; terminates when it falls.",
    "walker2d": "Planar biped (6 actuators): walk forward; terminates when it falls.",
    "humanoid": "3-D humanoid (17 actuators): run forward; terminates when the torso leaves z in [1, 2].",
    "inverted_pendulum": "Cart-pole with continuous force; terminates when |angle| > 0.2 rad.",
    "inverted_double_pendulum": "Double pendulum on a cart; terminates when the tip drops below y = 1.",
    "reacher": "Two-link arm (2 actuators): reach a random target; never terminates.",
    "pusher": "7-DoF arm: push an object to a goal; never terminates.",
    "swimmer": "Three-link swimmer in viscous fluid (2 actuators): swim forward; never terminates.",
}


def _factory(name: str):
    return lambda: BraxEnv(name)


for _id, _desc in _ENVS.items():
    register(_id, "brax", _factory(_id), BraxParams().max_steps_in_episode, _desc)
