"""MiniGrid ``MultiRoomEnv``: a chain of rooms joined by closed doors; the goal is in the last room.

MiniGrid builds the chain recursively: each room tries up to 8 times to attach
the next one through a random wall; a chain that cannot grow ends, and whole
chains are redrawn until one is long enough (the longest is kept). Here the
same process is a ``while_loop`` whose every iteration is one attempt to place
one room, so layouts follow MiniGrid's distribution.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.envs.grid import constants as C
from jaxrl.envs.grid import layout as L
from jaxrl.envs.grid.core import GridState, Task, TaskParams, make_state


class MultiRoomParams(TaskParams):
    """Rooms per layout drawn in ``[min_rooms, max_rooms]`` (at most the task's static room count)."""

    min_rooms: jax.Array
    max_rooms: jax.Array
    max_room_size: jax.Array
    max_steps: jax.Array

    LIMITS = {**TaskParams.LIMITS, "max_room_size": (4, 25)}

    def __post_init__(self):
        super().__post_init__()
        lo, hi = self.min_rooms, self.max_rooms
        if all(isinstance(v, int) for v in (lo, hi)) and lo > hi:
            raise ValueError(f"MultiRoomParams needs min_rooms <= max_rooms, got {lo} > {hi}")


class _Chain(NamedTuple):
    rooms: jax.Array  # [N, 4] int32 (x, y, w, h)
    doors: jax.Array  # [N, 2] int32 entry door of each room (room 0: its top-left corner)
    n: jax.Array  # [] rooms placed
    wall: jax.Array  # [] entry wall of the last room (0 right, 1 down, 2 left, 3 up)
    tries: jax.Array  # [] attempts left to attach the next room


class _Search(NamedTuple):
    cur: _Chain
    best: _Chain
    want: jax.Array  # [] rooms wanted
    key: jax.Array
    iters: jax.Array


class MultiRoom(Task):
    """``MultiRoom(min_rooms, max_rooms, max_room_size)`` on a static 25 x 25 grid."""

    def __init__(self, min_rooms: int = 6, max_rooms: int = 6, max_room_size: int = 10, size: int = 25):
        if not 1 <= min_rooms <= max_rooms or max_room_size < 4:
            raise ValueError(f"bad MultiRoom config: rooms {min_rooms}..{max_rooms}, max_room_size {max_room_size}")
        self.min_rooms, self.max_rooms, self.max_room_size = int(min_rooms), int(max_rooms), int(max_room_size)
        self.size = self.height = self.width = int(size)

    def default_params(self) -> MultiRoomParams:
        rooms = (1, self.max_rooms)
        return MultiRoomParams.with_limits(min_rooms=rooms, max_rooms=rooms)(
            min_rooms=self.min_rooms,
            max_rooms=self.max_rooms,
            max_room_size=self.max_room_size,
            max_steps=20 * self.max_rooms,
        )

    # ---------------------------------------------------------------- chain search
    def _try_room(self, key, chain: _Chain, max_sz) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        """One ``_placeRoom`` call: ``(ok, room [4], door [2], entry_wall)``."""
        S = self.size
        rng = L.Rng(key, 9)
        first = chain.n == 0
        last = chain.rooms[jnp.maximum(chain.n - 1, 0)]
        lx, ly, lw, lh = last[0], last[1], last[2], last[3]
        # Exit wall of the last room (not its entry wall) and the door on it.
        exit_wall = (chain.wall + 1 + rng.randint(0, 3)) % 4
        along_y, along_x = ly + rng.randint(1, lh - 1), lx + rng.randint(1, lw - 1)
        ex = jnp.select([exit_wall == 0, exit_wall == 2], [lx + lw - 1, lx], along_x)
        ey = jnp.select([exit_wall == 1, exit_wall == 3], [ly + lh - 1, ly], along_y)
        start = jnp.stack([rng.randint(0, S - 2), rng.randint(0, S - 2)])
        door = jnp.where(first, start, jnp.stack([ex, ey]))
        entry = jnp.where(first, 2, (exit_wall + 2) % 4)
        w, h = rng.randint(4, max_sz + 1), rng.randint(4, max_sz + 1)
        dx, dy = door[0], door[1]
        ty_side = rng.randint(dy - h + 2, dy)  # the door lies strictly inside the entry wall
        tx_side = rng.randint(dx - w + 2, dx)
        tx = jnp.select([first, entry == 0, entry == 2], [dx, dx - w + 1, dx], tx_side)
        ty = jnp.select([first, entry == 1, entry == 3], [dy, dy - h + 1, dy], ty_side)
        inside = (tx >= 0) & (ty >= 0) & (tx + w <= S) & (ty + h < S)
        r = chain.rooms
        disjoint = (tx + w < r[:, 0]) | (r[:, 0] + r[:, 2] <= tx) | (ty + h < r[:, 1]) | (r[:, 1] + r[:, 3] <= ty)
        older = jnp.arange(r.shape[0]) < chain.n - 1  # every room but the last
        ok = inside & jnp.all(disjoint | ~older)
        return ok, jnp.stack([tx, ty, w, h]), door, entry

    def _search(self, key: jax.Array, params: MultiRoomParams) -> _Chain:
        N = self.max_rooms
        k_want, key = jax.random.split(key)
        want = L.Rng(k_want, 1).randint(params.min_rooms, jnp.asarray(params.max_rooms) + 1)
        max_sz = jnp.asarray(params.max_room_size, jnp.int32)
        empty = _Chain(
            jnp.zeros((N, 4), jnp.int32), jnp.zeros((N, 2), jnp.int32), jnp.int32(0), jnp.int32(2), jnp.int32(8)
        )

        def body(s: _Search) -> _Search:
            k = jax.random.fold_in(s.key, s.iters)
            c = s.cur
            ok, room, door, entry = self._try_room(k, c, max_sz)
            idx = jnp.minimum(c.n, N - 1)
            grown = _Chain(c.rooms.at[idx].set(room), c.doors.at[idx].set(door), c.n + 1, entry, jnp.int32(8))
            failed = c._replace(tries=jnp.where(c.n == 0, 0, c.tries - 1))
            c = jax.tree.map(lambda a, b: jnp.where(ok, a, b), grown, failed)
            ended = (c.n >= s.want) | (c.tries <= 0)
            better = ended & (c.n > s.best.n)
            best = jax.tree.map(lambda a, b: jnp.where(better, a, b), c, s.best)
            cur = jax.tree.map(lambda a, b: jnp.where(ended, a, b), empty, c)
            return _Search(cur, best, s.want, s.key, s.iters + 1)

        def cond(s: _Search) -> jax.Array:
            return (s.best.n < s.want) & (s.iters < 100_000)

        return jax.lax.while_loop(cond, body, _Search(empty, empty, want, key, jnp.int32(0))).best

    def generate(self, key: jax.Array, params: MultiRoomParams) -> GridState:
        k_search, k_draw = jax.random.split(key)
        chain = self._search(k_search, params)
        N, n = self.max_rooms, chain.n
        rng = L.Rng(k_draw, N + 3)
        x, y = L.coords(self.height, self.width)
        r = chain.rooms
        used = jnp.arange(N) < n
        border = jnp.stack([L.rect_border(x, y, *r[k]) for k in range(N)])  # [N, H, W]
        grid = jnp.where(jnp.any(border & used[:, None, None], axis=0), jnp.uint8(C.C_WALL), jnp.uint8(C.C_EMPTY))
        # Door k (entry of room k >= 1) never repeats the previous door's colour.
        shift = 1 + (rng.words(N) % (C.NUM_COLORS - 1)).astype(jnp.int32)  # to one of the 5 other colours
        colors = (rng.randint(0, C.NUM_COLORS) + jnp.cumsum(jnp.where(jnp.arange(N) >= 2, shift, 0))) % C.NUM_COLORS
        for k in range(1, N):
            door = L.put(grid, chain.doors[k], C.make_code(C.DOOR_CLOSED, colors[k]))
            grid = jnp.where(k < n, door, grid)
        first, last = r[0], r[jnp.maximum(n - 1, 0)]
        pos, d = L.sample_pose(rng, L.place_agent_mask(grid, L.rect(x, y, *first)))
        goal = L.sample_cell(rng, L.free(grid) & L.rect(x, y, *last) & L.not_at(x, y, pos))
        return make_state(L.put(grid, goal, C.C_GOAL), pos, d)
