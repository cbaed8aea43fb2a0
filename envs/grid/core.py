"""The gridworld engine: state, MiniGrid dynamics and observations.

A :class:`Task` (``envs/grid/tasks*.py``) fixes the static grid shape and
generates layouts from a key inside ``jit``; :class:`GridEnv` puts any task
on the jaxrl environment contract with MiniGrid's dynamics:

* actions ``0 left, 1 right, 2 forward, 3 pickup, 4 drop, 5 toggle, 6 done``
  (``done`` is a no-op, as in ``MiniGridEnv``; a toggled box vanishes: boxes
  are empty in every MiniGrid task here);
* reward ``1 - 0.9 * step_count / max_steps`` on success, else 0;
* ``terminated`` on success, on stepping into lava and on task failures;
  ``truncated`` when ``step_count >= max_steps`` (both can be true).

Observations (``obs_mode``): ``"partial"`` the agent's egocentric
``[V, V, 3]`` uint8 view (``V = 7``; MiniGrid's ``obs["image"]``: axis 0 is
the view's x, the agent sits at ``[V // 2, V - 1]`` facing up, walls and
closed doors occlude); ``"full"`` MiniGrid's ``FullyObsWrapper`` image
``[W, H, 3]`` (agent as ``(10, 0, dir)``); ``"rgb"`` the agent's view rendered
as pixels ``[V * tile, V * tile, 3]`` (MiniGrid's ``RGBImgPartialObsWrapper``).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl import spaces
from jaxrl.env import Environment, Step
from jaxrl.envs.grid import constants as C

OBS_MODES = ("partial", "full", "rgb")


@struct.dataclass
class GridState:
    """Dynamic state of one gridworld.

    ``grid`` is indexed ``[y, x]``; positions are ``(x, y)`` as in MiniGrid.
    ``target`` / ``target_pos`` / ``failure_pos`` are the task's goal
    description (object to pick up, door to open, cell to reach or avoid);
    tasks that do not use them leave them at 0 / -1.
    """

    grid: jax.Array  # [H, W] uint8 cell codes
    agent_pos: jax.Array  # [2] int32 (x, y)
    agent_dir: jax.Array  # [] int32, 0 right 1 down 2 left 3 up
    carrying: jax.Array  # [] uint8 code of the carried object, C_EMPTY when none
    step_count: jax.Array  # [] int32
    target: jax.Array  # [] uint8
    target_pos: jax.Array  # [2] int32
    failure_pos: jax.Array  # [2] int32


def make_state(grid, agent_pos, agent_dir, target=0, target_pos=(-1, -1), failure_pos=(-1, -1)) -> GridState:
    """A fresh-episode state (nothing carried, step 0) from a layout."""
    return GridState(
        grid=jnp.asarray(grid, jnp.uint8),
        agent_pos=jnp.asarray(agent_pos, jnp.int32),
        agent_dir=jnp.asarray(agent_dir, jnp.int32),
        carrying=jnp.uint8(C.C_EMPTY),
        step_count=jnp.int32(0),
        target=jnp.asarray(target, jnp.uint8),
        target_pos=jnp.asarray(target_pos, jnp.int32),
        failure_pos=jnp.asarray(failure_pos, jnp.int32),
    )


class TaskParams(struct.PyTreeNode):
    """Base of every task's params: all fields are traced leaves (vmappable).

    ``LIMITS`` (a class attribute, not a field) holds inclusive ranges of
    fields; tasks bind the ranges their static grid allows with
    :meth:`with_limits`. Concrete values are range-checked on construction
    (``make`` / ``replace``), so a bad override fails at the Python boundary;
    traced values are not checked.
    """

    LIMITS = {"max_steps": (1, 2**30)}

    @classmethod
    def with_limits(cls, **limits: tuple[int, int]) -> type:
        """This params class with extra or tighter ranges (one cached class per set of ranges)."""
        return _limited(cls, tuple(sorted(limits.items())))

    def __post_init__(self):
        for name, (lo, hi) in self.LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, jax.core.Tracer) or not isinstance(
                value, int | float | bool | np.ndarray | np.generic | jax.Array
            ):
                continue
            arr = np.asarray(value)
            if arr.size and (arr.min() < lo or arr.max() > hi):
                raise ValueError(f"{type(self).__name__}.{name} must be in [{lo}, {hi}], got {value}")


@functools.cache
def _limited(cls: type, limits: tuple) -> type:
    attrs = {"LIMITS": {**cls.LIMITS, **dict(limits)}, "__module__": cls.__module__, "__qualname__": cls.__qualname__}
    return type(cls.__name__, (cls,), attrs)


class Task:
    """Static description of a family of layouts.

    Subclasses set ``height``/``width`` (static grid shape), ``see_through_walls``
    and ``rule`` and implement ``default_params`` and ``generate``. ``rule`` is
    the success test: ``"goal"`` (step onto the goal; every task also ends on
    goal and lava), ``"pickup"`` (pick up ``state.target``), ``"open_door"``
    (toggle so that the door at ``state.target_pos`` is open) or ``"memory"``
    (reach ``target_pos``; reaching ``failure_pos`` fails; pickup acts as toggle).
    """

    height: int
    width: int
    see_through_walls: bool = False
    rule: str = "goal"

    def default_params(self) -> TaskParams:
        raise NotImplementedError

    def generate(self, key: jax.Array, params: Any) -> GridState:
        raise NotImplementedError


# --------------------------------------------------------------------------- dynamics
def _dir_vec(d: jax.Array) -> tuple[jax.Array, jax.Array]:
    dx = (d == 0).astype(jnp.int32) - (d == 2).astype(jnp.int32)
    dy = (d == 1).astype(jnp.int32) - (d == 3).astype(jnp.int32)
    return dx, dy


def transition(task: Task, state: GridState, action: jax.Array, max_steps: jax.Array):
    """MiniGrid's ``step``: ``(new_state, reward, terminated, truncated)``."""
    H, W = state.grid.shape
    action = jnp.asarray(action, jnp.int32)
    if task.rule == "memory":  # MemoryEnv: pickup acts as toggle
        action = jnp.where(action == C.PICKUP, C.TOGGLE, action)
    d = state.agent_dir
    dx, dy = _dir_vec(d)
    fx = jnp.clip(state.agent_pos[0] + dx, 0, W - 1)
    fy = jnp.clip(state.agent_pos[1] + dy, 0, H - 1)
    fwd = state.grid[fy, fx]
    foid = C.oid_of(fwd)
    carrying = state.carrying

    forward = action == C.FORWARD
    move = forward & C.can_overlap(fwd)
    pos = jnp.where(move, jnp.stack([fx, fy]), state.agent_pos)
    on_goal = forward & (foid == C.GOAL)
    on_lava = forward & (foid == C.LAVA)

    pick = (action == C.PICKUP) & C.can_pickup(fwd) & (carrying == C.C_EMPTY)
    drop = (action == C.DROP) & (fwd == C.C_EMPTY) & (carrying != C.C_EMPTY)
    toggle = action == C.TOGGLE
    has_key = (C.oid_of(carrying) == C.KEY) & (C.color_of(carrying) == C.color_of(fwd))
    door_oid = jnp.where(
        foid == C.DOOR_LOCKED,
        jnp.where(has_key, C.DOOR_OPEN, C.DOOR_LOCKED),
        jnp.where(foid == C.DOOR_OPEN, C.DOOR_CLOSED, C.DOOR_OPEN),
    )
    is_door = (foid == C.DOOR_OPEN) | (foid == C.DOOR_CLOSED) | (foid == C.DOOR_LOCKED)
    toggled = jnp.where(is_door, C.make_code(door_oid, C.color_of(fwd)), jnp.where(foid == C.BOX, C.C_EMPTY, fwd))

    new_fwd = jnp.where(pick, jnp.uint8(C.C_EMPTY), fwd)
    new_fwd = jnp.where(drop, carrying, new_fwd)
    new_fwd = jnp.where(toggle, toggled, new_fwd).astype(jnp.uint8)
    grid = state.grid.at[fy, fx].set(new_fwd)
    carrying = jnp.where(pick, fwd, jnp.where(drop, jnp.uint8(C.C_EMPTY), carrying)).astype(jnp.uint8)
    new_dir = jnp.where(action == C.LEFT, (d + 3) % 4, jnp.where(action == C.RIGHT, (d + 1) % 4, d))
    step_count = state.step_count + 1

    success, failure = on_goal, on_lava
    if task.rule == "pickup":
        success = success | ((action == C.PICKUP) & (carrying == state.target))
    elif task.rule == "open_door":
        tx, ty = state.target_pos[0], state.target_pos[1]
        success = success | (toggle & (C.oid_of(grid[ty, tx]) == C.DOOR_OPEN))
    elif task.rule == "memory":
        success = success | jnp.all(pos == state.target_pos)
        failure = failure | jnp.all(pos == state.failure_pos)
    elif task.rule != "goal":
        raise ValueError(f"unknown task rule {task.rule!r}")

    new_state = state.replace(grid=grid, agent_pos=pos, agent_dir=new_dir, carrying=carrying, step_count=step_count)
    max_steps = jnp.asarray(max_steps, jnp.int32)
    reward = jnp.where(
        success, 1.0 - 0.9 * (step_count.astype(jnp.float32) / max_steps.astype(jnp.float32)), 0.0
    ).astype(jnp.float32)
    terminated = success | failure
    truncated = step_count >= max_steps
    return new_state, reward, terminated, truncated


# --------------------------------------------------------------------------- observations
def view_cells(state: GridState, view_size: int = 7) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Cells of the agent's view in MiniGrid's view layout ``[i, j]`` (agent at ``[V//2, V-1]``).

    Returns ``(codes [V, V] uint8, world_x [V, V], world_y [V, V])``; cells
    outside the grid read as walls (as MiniGrid's ``Grid.slice``).
    """
    H, W = state.grid.shape
    V = view_size
    i = np.arange(V)[:, None]
    j = np.arange(V)[None, :]
    ahead, right = jnp.asarray(V - 1 - j, jnp.int32), jnp.asarray(i - V // 2, jnp.int32)
    dx, dy = _dir_vec(state.agent_dir)
    x = state.agent_pos[0] + dx * ahead - dy * right  # right vector is (-dy, dx)
    y = state.agent_pos[1] + dy * ahead + dx * right
    inside = (x >= 0) & (x < W) & (y >= 0) & (y < H)
    flat = state.grid.reshape(-1)[jnp.clip(y, 0, H - 1) * W + jnp.clip(x, 0, W - 1)]
    return jnp.where(inside, flat, jnp.uint8(C.C_WALL)), x, y


def visibility_bits(codes: jax.Array) -> jax.Array:
    """MiniGrid's ``Grid.process_vis`` on a ``[V, V]`` view; returns ``[V]`` int32 row masks
    (bit ``i`` of entry ``j`` is cell ``[i, j]``).

    Rows ``j`` are swept from the agent's row up; within a row visibility
    spreads right then left through see-through cells, and every visible
    see-through cell lights its neighbours in the row ahead. Each row is a
    ``V``-bit integer. The sweep is a ``fori_loop`` on purpose: unrolled, XLA
    fuses the whole chain into every consumer element and recomputes it per
    cell (30x slower on CPU); the loop makes it run once per environment.
    """
    V = codes.shape[0]
    full = (1 << V) - 1
    not_last, not_first = full >> 1, full & ~1
    weights = jnp.arange(V, dtype=jnp.int32)

    def row(t, carry):
        seed, out = carry
        j = V - 1 - t
        cells = jax.lax.dynamic_index_in_dim(codes, j, axis=1, keepdims=False)  # [V] along i
        st = jnp.sum(C.see_behind(cells).astype(jnp.int32) << weights)
        m = seed
        for _ in range(V - 1):  # rightward pass: i -> i+1 through clear cell i
            m = m | ((m & st & not_last) << 1)
        fwd = m & st & not_last
        for _ in range(V - 1):  # leftward pass: i -> i-1 through clear cell i
            m = m | ((m & st & not_first) >> 1)
        bwd = m & st & not_first
        return (fwd | (fwd << 1) | bwd | (bwd >> 1)) & full, out.at[j].set(m)

    init = (jnp.int32(1 << (V // 2)), jnp.zeros(V, jnp.int32))
    return jax.lax.fori_loop(0, V, row, init)[1]


def visibility(codes: jax.Array) -> jax.Array:
    """``[V, V]`` bool visibility of a view (see :func:`visibility_bits`)."""
    V = codes.shape[0]
    return ((visibility_bits(codes)[None, :] >> jnp.arange(V, dtype=jnp.int32)[:, None]) & 1).astype(jnp.bool_)


def partial_view(state: GridState, view_size: int = 7, see_through_walls: bool = False):
    """``(codes, visible)`` of the egocentric view, ``[V, V]`` each; the agent's
    own cell shows what it carries (empty when nothing)."""
    V = view_size
    codes, _, _ = view_cells(state, V)
    vis = jnp.ones((V, V), jnp.bool_) if see_through_walls else visibility(codes)
    codes = codes.at[V // 2, V - 1].set(state.carrying)
    return codes, vis


def _decode_table() -> np.ndarray:
    table = np.zeros((256, 3), np.uint8)  # code 0 ("unseen") stays (0, 0, 0)
    for c in range(1, 256):
        oid = c & 15
        obj = C.DOOR if oid >= C.DOOR_CLOSED else oid
        table[c] = (obj, c >> 4, 1 if oid == C.DOOR_CLOSED else 2 if oid == C.DOOR_LOCKED else 0)
    return table


DECODE_TABLE = _decode_table()


def partial_obs(state: GridState, view_size: int = 7, see_through_walls: bool = False) -> jax.Array:
    """MiniGrid's ``obs["image"]``: ``[V, V, 3]`` uint8, unseen cells all zero.

    Decoded with one table lookup per cell (cheaper on CPU than decoding each channel).
    """
    codes, vis = partial_view(state, view_size, see_through_walls)
    return jnp.asarray(DECODE_TABLE)[jnp.where(vis, codes, jnp.uint8(0))]


def full_obs(state: GridState) -> jax.Array:
    """MiniGrid's ``FullyObsWrapper`` image: ``[W, H, 3]`` uint8, agent as ``(10, 0, dir)``."""
    enc = jnp.swapaxes(C.decode(state.grid), 0, 1)  # [W, H, 3]
    agent = jnp.stack([jnp.int32(C.AGENT), jnp.int32(C.RED), state.agent_dir]).astype(jnp.uint8)
    return enc.at[state.agent_pos[0], state.agent_pos[1]].set(agent)


# --------------------------------------------------------------------------- environment
class GridEnv(Environment):
    """A :class:`Task` on the jaxrl contract (see module docstring).

    ``GridEnv(task, obs_mode="partial" | "full" | "rgb", view_size=7, tile_size=8)``;
    ``see_through_walls`` defaults to the task's MiniGrid setting.
    """

    def __init__(
        self,
        task: Task,
        obs_mode: str = "partial",
        view_size: int = 7,
        tile_size: int = 8,
        see_through_walls: bool | None = None,
        env_id: str | None = None,
    ):
        if obs_mode not in OBS_MODES:
            raise ValueError(f"obs_mode must be one of {OBS_MODES}, got {obs_mode!r}")
        if view_size < 3 or view_size % 2 == 0 or view_size > 29:
            raise ValueError(f"view_size must be odd and in [3, 29], got {view_size}")
        if tile_size < 1:
            raise ValueError(f"tile_size must be positive, got {tile_size}")
        self.task = task
        self.obs_mode = obs_mode
        self.view_size = int(view_size)
        self.tile_size = int(tile_size)
        self.see_through_walls = task.see_through_walls if see_through_walls is None else bool(see_through_walls)
        self.env_id = env_id

    def __repr__(self) -> str:
        return f"GridEnv({self.name!r}, obs_mode={self.obs_mode!r})"

    @property
    def name(self) -> str:
        return self.env_id or type(self.task).__name__

    def replace(self, **kwargs: Any) -> GridEnv:
        """The same task with other construction options (``obs_mode``, ``view_size``, ...)."""
        opts = dict(
            obs_mode=self.obs_mode,
            view_size=self.view_size,
            tile_size=self.tile_size,
            see_through_walls=self.see_through_walls,
            env_id=self.env_id,
        )
        return GridEnv(self.task, **{**opts, **kwargs})

    @property
    def default_params(self) -> TaskParams:
        return self.task.default_params()

    def observe(self, state: GridState) -> jax.Array:
        if self.obs_mode == "full":
            return full_obs(state)
        if self.obs_mode == "rgb":
            from jaxrl.envs.grid import render

            return render.render_view(state, self.view_size, self.tile_size, self.see_through_walls)
        return partial_obs(state, self.view_size, self.see_through_walls)

    def reset_env(self, key: jax.Array, params: TaskParams) -> tuple[jax.Array, GridState]:
        state = self.task.generate(key, params)
        return self.observe(state), state

    def step_env(self, key: jax.Array, state: GridState, action: jax.Array, params: TaskParams) -> Step:
        del key  # MiniGrid's dynamics are deterministic
        new, reward, terminated, truncated = transition(self.task, state, action, params.max_steps)
        return Step(self.observe(new), new, reward, terminated, truncated, {})

    def observation_space(self, params: TaskParams) -> spaces.Space:
        V = self.view_size
        if self.obs_mode == "rgb":
            return spaces.Box(0, 255, (V * self.tile_size, V * self.tile_size, 3), jnp.uint8)
        shape = (V, V, 3) if self.obs_mode == "partial" else (self.task.width, self.task.height, 3)
        high = np.broadcast_to(np.array([C.AGENT, C.NUM_COLORS - 1, 3], np.uint8), shape)
        return spaces.Box(np.zeros(shape, np.uint8), high, shape, jnp.uint8)

    def action_space(self, params: TaskParams) -> spaces.Space:
        return spaces.Discrete(C.NUM_ACTIONS)

    def render(self, state: GridState, params: TaskParams) -> Any:
        """The whole grid as ``[H, W, 3]`` uint8 (host-side; :func:`jaxrl.envs.grid.render.render_state`)."""
        from jaxrl.envs.grid.render import render_state

        return render_state(self, state, params)
