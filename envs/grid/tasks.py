"""Single-room and hand-structured MiniGrid tasks: Empty, FourRooms, DoorKey,
LavaGap, Crossing (LavaCrossing / SimpleCrossing) and Memory.

Each task has a static maximum grid (its shape); the actual ``size`` is a
traced param no larger than that, with the cells beyond it filled with wall,
so ``jax.vmap`` over params samples a distribution of task sizes. Every
layout is drawn from the distribution MiniGrid's ``_gen_grid`` draws from.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs.grid import constants as C
from jaxrl.envs.grid import layout as L
from jaxrl.envs.grid.core import GridState, Task, TaskParams, make_state


def _walled(x, y, size) -> jax.Array:
    """A ``size x size`` room with outer walls; the rest of the static grid is wall."""
    wall = L.outside(x, y, size, size) | L.rect_border(x, y, 0, 0, size, size)
    return jnp.where(wall, jnp.uint8(C.C_WALL), jnp.uint8(C.C_EMPTY))


class SizeParams(TaskParams):
    """``size``: side of the square grid, up to the task's static grid (``LIMITS``)."""

    size: jax.Array
    max_steps: jax.Array


def _size_params(cls, size: int, min_size: int, max_steps: int, **more) -> SizeParams:
    return cls.with_limits(size=(min_size, size))(size=size, max_steps=max_steps, **more)


# --------------------------------------------------------------------------- Empty
class EmptyParams(SizeParams):
    random_start: jax.Array = False  # MiniGrid's agent_start_pos=None variants


class Empty(Task):
    """MiniGrid ``EmptyEnv``: reach the goal in the far corner (``see_through_walls=True``)."""

    see_through_walls = True

    def __init__(self, size: int = 8, random_start: bool = False):
        self.size = self.height = self.width = int(size)
        self.random_start = bool(random_start)

    def default_params(self) -> EmptyParams:
        return _size_params(EmptyParams, self.size, 4, 4 * self.size**2, random_start=self.random_start)

    def generate(self, key: jax.Array, params: EmptyParams) -> GridState:
        x, y = L.coords(self.height, self.width)
        s = jnp.asarray(params.size, jnp.int32)
        grid = L.put(_walled(x, y, s), jnp.stack([s - 2, s - 2]), C.C_GOAL)
        pos, d = L.sample_pose(L.Rng(key, 1), L.place_agent_mask(grid, jnp.bool_(True)))
        rnd = jnp.asarray(params.random_start, jnp.bool_)
        return make_state(grid, jnp.where(rnd, pos, jnp.array([1, 1], jnp.int32)), jnp.where(rnd, d, 0))


# --------------------------------------------------------------------------- FourRooms
class FourRooms(Task):
    """MiniGrid ``FourRoomsEnv``: four rooms joined by four gaps; random agent and goal."""

    def __init__(self, size: int = 19):
        self.size = self.height = self.width = int(size)

    def default_params(self) -> SizeParams:
        return _size_params(SizeParams, self.size, 7, 100)

    def generate(self, key: jax.Array, params: SizeParams) -> GridState:
        rng = L.Rng(key, 6)
        x, y = L.coords(self.height, self.width)
        s = jnp.asarray(params.size, jnp.int32)
        rw = s // 2  # room_w == room_h
        wall = L.outside(x, y, s, s) | (x == 0) | (y == 0) | (x == s - 1) | (y == s - 1)
        wall = wall | ((x == rw) & (y < 2 * rw)) | ((y == rw) & (x < 2 * rw))
        gaps = [
            (rw, rng.randint(1, rw)),  # room (0, 0), right wall
            (rng.randint(1, rw), rw),  # room (0, 0), bottom wall
            (rng.randint(rw + 1, 2 * rw), rw),  # room (1, 0), bottom wall
            (rw, rng.randint(rw + 1, 2 * rw)),  # room (0, 1), right wall
        ]
        for gx, gy in gaps:
            wall = wall & ~((x == gx) & (y == gy))
        grid = jnp.where(wall, jnp.uint8(C.C_WALL), jnp.uint8(C.C_EMPTY))
        pos, d = L.sample_pose(rng, L.place_agent_mask(grid, jnp.bool_(True)))
        goal = L.sample_cell(rng, L.free(grid) & L.not_at(x, y, pos))
        return make_state(L.put(grid, goal, C.C_GOAL), pos, d)


# --------------------------------------------------------------------------- DoorKey
class DoorKey(Task):
    """MiniGrid ``DoorKeyEnv``: pick up the key, unlock the door in the splitting wall, reach the goal."""

    def __init__(self, size: int = 8):
        self.size = self.height = self.width = int(size)

    def default_params(self) -> SizeParams:
        return _size_params(SizeParams, self.size, 5, 10 * self.size**2)

    def generate(self, key: jax.Array, params: SizeParams) -> GridState:
        rng = L.Rng(key, 4)
        x, y = L.coords(self.height, self.width)
        s = jnp.asarray(params.size, jnp.int32)
        split = rng.randint(2, s - 2)
        grid = _walled(x, y, s)
        grid = jnp.where(x == split, jnp.uint8(C.C_WALL), grid)
        grid = L.put(grid, jnp.stack([s - 2, s - 2]), C.C_GOAL)
        left = x < split
        pos, d = L.sample_pose(rng, L.place_agent_mask(grid, left))
        grid = L.put(grid, jnp.stack([split, rng.randint(1, s - 2)]), C.code(C.DOOR_LOCKED, C.YELLOW))
        key_pos = L.sample_cell(rng, L.free(grid) & left & L.not_at(x, y, pos))
        return make_state(L.put(grid, key_pos, C.code(C.KEY, C.YELLOW)), pos, d)


# --------------------------------------------------------------------------- LavaGap
class LavaGap(Task):
    """MiniGrid ``LavaGapEnv``: cross a vertical strip of lava through its one gap."""

    def __init__(self, size: int = 7):
        self.size = self.height = self.width = int(size)

    def default_params(self) -> SizeParams:
        return _size_params(SizeParams, self.size, 5, 4 * self.size**2)

    def generate(self, key: jax.Array, params: SizeParams) -> GridState:
        rng = L.Rng(key, 2)
        x, y = L.coords(self.height, self.width)
        s = jnp.asarray(params.size, jnp.int32)
        gx, gy = rng.randint(2, s - 2), rng.randint(1, s - 1)
        grid = _walled(x, y, s)
        lava = (x == gx) & (y >= 1) & (y <= s - 2) & (y != gy)
        grid = jnp.where(lava, jnp.uint8(C.C_LAVA), grid)
        grid = L.put(grid, jnp.stack([s - 2, s - 2]), C.C_GOAL)
        return make_state(grid, jnp.array([1, 1], jnp.int32), 0)


# --------------------------------------------------------------------------- Crossing
class CrossingParams(SizeParams):
    num_crossings: jax.Array = 1


class Crossing(Task):
    """MiniGrid ``CrossingEnv``: rivers of lava (or walls) with one opening each on a path to the goal.

    ``size`` must be odd (MiniGrid asserts it); ``num_crossings`` is the number of rivers.
    """

    def __init__(self, size: int = 9, num_crossings: int = 1, obstacle: str = "lava"):
        if size % 2 == 0 or size < 5:
            raise ValueError(f"Crossing needs an odd size >= 5, got {size}")
        if obstacle not in ("lava", "wall"):
            raise ValueError(f"obstacle must be 'lava' or 'wall', got {obstacle!r}")
        self.size = self.height = self.width = int(size)
        self.obstacle = obstacle
        self.positions = np.arange(2, self.size - 2, 2, dtype=np.int32)  # river coordinates, [K]
        self.num_crossings = int(num_crossings)
        if not 1 <= self.num_crossings <= 2 * len(self.positions):
            raise ValueError(f"num_crossings must be in [1, {2 * len(self.positions)}] for size {size}")

    def default_params(self) -> CrossingParams:
        cls = CrossingParams.with_limits(size=(5, self.size), num_crossings=(1, 2 * len(self.positions)))
        return cls(size=self.size, max_steps=4 * self.size**2, num_crossings=self.num_crossings)

    def generate(self, key: jax.Array, params: CrossingParams) -> GridState:
        k_riv, k_path = jax.random.split(key)
        x, y = L.coords(self.height, self.width)
        s = jnp.asarray(params.size, jnp.int32)
        n = jnp.asarray(params.num_crossings, jnp.int32)
        K = len(self.positions)
        cand = jnp.concatenate([self.positions, self.positions])  # first K vertical (x), then K horizontal (y)
        valid = cand <= s - 3
        u = jnp.where(valid, jax.random.bits(k_riv, (2 * K,), jnp.uint32) >> 1, jnp.uint32(2**31))
        chosen = valid & (jnp.argsort(jnp.argsort(u)) < n)  # a uniformly random subset of n rivers
        riv_x, riv_y = chosen[:K], chosen[K:]
        obst = C.C_LAVA if self.obstacle == "lava" else C.C_WALL
        on_v = jnp.any((x[..., None] == self.positions) & riv_x, axis=-1)
        on_h = jnp.any((y[..., None] == self.positions) & riv_y, axis=-1)
        inner = (x >= 1) & (x <= s - 2) & (y >= 1) & (y <= s - 2)
        grid = jnp.where(inner & (on_v | on_h), jnp.uint8(obst), _walled(x, y, s))
        grid = L.put(grid, jnp.stack([s - 2, s - 2]), C.C_GOAL)

        def next_river(sel, lo):  # first chosen river beyond lo, else the far wall
            return jnp.min(jnp.where(sel & (self.positions > lo), self.positions, s - 1))

        # The path crosses every river once, in a uniformly random order of
        # horizontal moves (through vertical rivers) and vertical moves; each
        # move opens one cell (scalar loop, then one grid update).
        def move(t, c):
            x_lo, y_lo, rem_h, rem_v, holes = c
            rng = L.Rng(jax.random.fold_in(k_path, t), 3)
            total = rem_h + rem_v
            active = total > 0
            go_h = rng.randint(0, total) < rem_h  # P(horizontal) = remaining horizontal / remaining
            nx, ny = next_river(riv_x, x_lo), next_river(riv_y, y_lo)
            ox = jnp.where(go_h, nx, rng.randint(x_lo + 1, nx))
            oy = jnp.where(go_h, rng.randint(y_lo + 1, ny), ny)
            holes = holes.at[t].set(jnp.where(active, jnp.stack([ox, oy]), -1))
            x_lo = jnp.where(active & go_h, nx, x_lo)
            y_lo = jnp.where(active & ~go_h, ny, y_lo)
            return x_lo, y_lo, rem_h - (active & go_h), rem_v - (active & ~go_h), holes

        zero = jnp.int32(0)
        init = (
            zero,
            zero,
            jnp.sum(riv_x, dtype=jnp.int32),
            jnp.sum(riv_y, dtype=jnp.int32),
            jnp.zeros((2 * K, 2), jnp.int32),
        )
        holes = jax.lax.fori_loop(0, 2 * K, move, init)[-1]
        opened = jnp.any((x[..., None] == holes[:, 0]) & (y[..., None] == holes[:, 1]), axis=-1)
        grid = jnp.where(opened, jnp.uint8(C.C_EMPTY), grid)
        return make_state(grid, jnp.array([1, 1], jnp.int32), 0)


# --------------------------------------------------------------------------- Memory
class MemoryParams(SizeParams):
    random_length: jax.Array = False


class Memory(Task):
    """MiniGrid ``MemoryEnv``: remember the object in the start room, walk to its twin at the
    end of the hallway (the other one fails). Pickup acts as toggle. ``size`` must be odd."""

    rule = "memory"

    def __init__(self, size: int = 7, random_length: bool = False):
        if size % 2 == 0 or size < 7:
            raise ValueError(f"Memory needs an odd size >= 7, got {size}")
        self.size = self.height = self.width = int(size)
        self.random_length = bool(random_length)

    def default_params(self) -> MemoryParams:
        return _size_params(MemoryParams, self.size, 7, 5 * self.size**2, random_length=self.random_length)

    def generate(self, key: jax.Array, params: MemoryParams) -> GridState:
        rng = L.Rng(key, 4)
        x, y = L.coords(self.height, self.width)
        s = jnp.asarray(params.size, jnp.int32)
        mid = s // 2
        up, low = mid - 2, mid + 2
        end = jnp.where(jnp.asarray(params.random_length, jnp.bool_), rng.randint(4, s - 2), s - 3)
        wall = L.outside(x, y, s, s) | (x == 0) | (y == 0) | (x == s - 1) | (y == s - 1)
        wall = wall | ((x >= 1) & (x <= 4) & ((y == up) | (y == low)))  # start room
        wall = wall | ((x == 4) & ((y == up + 1) | (y == low - 1)))
        wall = wall | ((x >= 5) & (x < end) & ((y == up + 1) | (y == low - 1)))  # horizontal hallway
        wall = wall | ((x == end) & (y != mid)) | (x == end + 2)  # vertical hallway
        grid = jnp.where(wall, jnp.uint8(C.C_WALL), jnp.uint8(C.C_EMPTY))
        pos = jnp.stack([rng.randint(1, end + 1), mid])
        key_first = rng.bernoulli()  # the start room holds a key (else a ball)
        top_is_key = rng.bernoulli()  # the top object of the split is a key
        green = lambda is_key: jnp.where(is_key, C.code(C.KEY, C.GREEN), C.code(C.BALL, C.GREEN))  # noqa: E731
        grid = L.put(grid, jnp.stack([1, mid - 1]), green(key_first))
        grid = L.put(grid, jnp.stack([end + 1, mid - 2]), green(top_is_key))
        grid = L.put(grid, jnp.stack([end + 1, mid + 2]), green(~top_is_key))
        top, bottom = jnp.stack([end + 1, mid - 1]), jnp.stack([end + 1, mid + 1])
        match_top = key_first == top_is_key
        return make_state(
            grid, pos, 0, target_pos=jnp.where(match_top, top, bottom), failure_pos=jnp.where(match_top, bottom, top)
        )
