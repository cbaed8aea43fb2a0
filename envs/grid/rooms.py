"""MiniGrid's ``RoomGrid`` tasks: Unlock, UnlockPickup and KeyCorridor.

A room grid is ``num_cols x num_rows`` rooms of ``room_size`` cells sharing
walls. The generator mirrors ``RoomGrid`` step by step: random door slots on
every shared wall, task-specific doors and objects, the agent placed so that it
does not face an object, then ``connect_all`` adding random unlocked doors
until every room is reachable (a ``while_loop``, as MiniGrid's loop).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs.grid import constants as C
from jaxrl.envs.grid import layout as L
from jaxrl.envs.grid.core import GridState, Task, TaskParams, make_state


class RoomParams(TaskParams):
    """``num_rows`` rooms per column, up to the task's static ``max_rows`` (``LIMITS``)."""

    num_rows: jax.Array
    max_steps: jax.Array


class Rooms(NamedTuple):
    """Generation-time room bookkeeping (rooms indexed ``[j, i]``: row, column)."""

    grid: jax.Array  # [H, W] uint8
    right: jax.Array  # [R, Cn, 2] slot (x, y) of the door between (i, j) and (i + 1, j)
    down: jax.Array  # [R, Cn, 2] slot of the door between (i, j) and (i, j + 1)
    conn_right: jax.Array  # [R, Cn] bool, a door or removed wall joins (i, j) and (i + 1, j)
    conn_down: jax.Array  # [R, Cn] bool
    locked: jax.Array  # [R, Cn] bool, RoomGrid's Room.locked


class RoomGridTask(Task):
    """Base: static ``room_size``, ``num_cols`` and ``max_rows``; ``num_rows`` is a param."""

    def __init__(self, room_size: int, num_cols: int, num_rows: int, max_rows: int | None = None):
        self.room_size, self.num_cols = int(room_size), int(num_cols)
        self.num_rows = int(num_rows)
        self.max_rows = int(max_rows or num_rows)
        if self.room_size < 3 or not 1 <= self.num_rows <= self.max_rows:
            raise ValueError(f"bad room grid: room_size={room_size}, num_rows={num_rows}, max_rows={max_rows}")
        self.height = (self.room_size - 1) * self.max_rows + 1
        self.width = (self.room_size - 1) * self.num_cols + 1

    def _params(self, max_steps: int) -> RoomParams:
        return RoomParams.with_limits(num_rows=(1, self.max_rows))(num_rows=self.num_rows, max_steps=max_steps)

    # ---------------------------------------------------------------- RoomGrid steps
    def base(self, rng: L.Rng, rows: jax.Array) -> Rooms:
        """``RoomGrid._gen_grid``: walls of every room and a random door slot on every shared wall."""
        s, R, Cn = self.room_size - 1, self.max_rows, self.num_cols
        x, y = L.coords(self.height, self.width)
        wall = (x % s == 0) | (y % s == 0) | (y > rows * s)
        grid = jnp.where(wall, jnp.uint8(C.C_WALL), jnp.uint8(C.C_EMPTY))
        jj, ii = jnp.meshgrid(jnp.arange(R, dtype=jnp.int32), jnp.arange(Cn, dtype=jnp.int32), indexing="ij")
        offsets = 1 + (rng.words(2 * R * Cn) % (s - 1)).astype(jnp.int32).reshape(2, R, Cn)  # in [1, s)
        right = jnp.stack([ii * s + s, jj * s + offsets[0]], axis=-1)
        down = jnp.stack([ii * s + offsets[1], jj * s + s], axis=-1)
        false = jnp.zeros((R, Cn), jnp.bool_)
        return Rooms(grid, right, down, false, false, false)

    def start_pos(self, rows: jax.Array) -> jax.Array:
        """Where ``RoomGrid`` puts the agent before ``place_agent`` (objects keep away from it)."""
        s, h = self.room_size - 1, self.room_size // 2
        return jnp.stack([(self.num_cols // 2) * s + h, (rows // 2) * s + h]).astype(jnp.int32)

    def room_mask(self, i, j) -> jax.Array:
        x, y = L.coords(self.height, self.width)
        s = self.room_size - 1
        return L.rect(x, y, i * s, j * s, self.room_size, self.room_size)

    def _slot(self, r: Rooms, i, j, k) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        """Door slot of wall ``k`` (0 right, 1 down, 2 left, 3 up) of room (i, j).

        Returns ``(pos [2], row, col, vertical)``: the slot's cell, the room owning
        the slot (its right or bottom wall) and whether the wall is vertical.
        """
        i, j, k = (jnp.asarray(v, jnp.int32) for v in (i, j, k))
        is_v = (k == 0) | (k == 2)  # a slot in a vertical wall: between horizontal neighbours
        ci = jnp.where(k == 2, i - 1, i)
        rj = jnp.where(k == 3, j - 1, j)
        ci, rj = jnp.clip(ci, 0, self.num_cols - 1), jnp.clip(rj, 0, self.max_rows - 1)
        pos = jnp.where(is_v, r.right[rj, ci], r.down[rj, ci])
        return pos, rj, ci, is_v

    def add_door(self, r: Rooms, i, j, k, color, locked) -> tuple[Rooms, jax.Array]:
        """``RoomGrid.add_door``: a (locked or closed) door in slot ``k`` of room (i, j)."""
        pos, rj, ci, is_v = self._slot(r, i, j, k)
        oid = jnp.where(locked, C.DOOR_LOCKED, C.DOOR_CLOSED)
        grid = L.put(r.grid, pos, C.make_code(oid, color))
        return r._replace(
            grid=grid,
            conn_right=r.conn_right.at[rj, ci].set(r.conn_right[rj, ci] | is_v),
            conn_down=r.conn_down.at[rj, ci].set(r.conn_down[rj, ci] | ~is_v),
            locked=r.locked.at[j, i].set(jnp.asarray(locked, jnp.bool_)),
        ), pos

    def remove_wall_up(self, r: Rooms, i: int, j, active) -> Rooms:
        """``RoomGrid.remove_wall(i, j, 3)`` where ``active``."""
        x, y = L.coords(self.height, self.width)
        s = self.room_size - 1
        hole = active & (y == j * s) & (x > i * s) & (x < i * s + s)
        return r._replace(
            grid=jnp.where(hole, jnp.uint8(C.C_EMPTY), r.grid),
            conn_down=r.conn_down.at[j - 1, i].set(r.conn_down[j - 1, i] | active),
        )

    def place_in_room(self, rng: L.Rng, r: Rooms, i, j, code, avoid) -> tuple[Rooms, jax.Array]:
        """``RoomGrid.place_in_room``: a free cell of room (i, j) not next to ``avoid``."""
        x, y = L.coords(self.height, self.width)
        mask = L.free(r.grid) & self.room_mask(i, j) & L.not_at(x, y, avoid) & L.far_from(x, y, avoid)
        pos = L.sample_cell(rng, mask)
        return r._replace(grid=L.put(r.grid, pos, code)), pos

    def place_agent(self, rng: L.Rng, r: Rooms, i, j) -> tuple[jax.Array, jax.Array]:
        """``RoomGrid.place_agent``: a free cell of room (i, j), facing an empty cell or a wall."""
        return L.sample_pose(rng, L.front_ok_mask(r.grid, self.room_mask(i, j)))

    def connected(self, r: Rooms, rows) -> jax.Array:
        """Every room reachable from room (0, 0) through doors and removed walls."""
        R, Cn = self.max_rows, self.num_cols
        n = R * Cn
        idx = np.arange(n).reshape(R, Cn)  # room (i, j) is node j * Cn + i
        adj = jnp.zeros((n, n), jnp.int32)
        adj = adj.at[idx[:, :-1].ravel(), idx[:, 1:].ravel()].set(r.conn_right[:, :-1].ravel())
        adj = adj.at[idx[:-1, :].ravel(), idx[1:, :].ravel()].set(r.conn_down[:-1, :].ravel())
        reach = jnp.minimum(adj + adj.T + jnp.eye(n, dtype=jnp.int32), 1)
        for _ in range(max(1, (n - 1).bit_length())):  # paths of length up to 2^k
            reach = jnp.minimum(reach @ reach, 1)
        exists = (jnp.arange(n) // Cn) < rows
        return jnp.all((reach[0] > 0) | ~exists)

    def connect_all(self, key, r: Rooms, rows, max_iters: int = 5000) -> Rooms:
        """``RoomGrid.connect_all``: random unlocked doors until every room is reachable."""
        R, Cn = self.max_rows, self.num_cols

        def cond(c):
            r, n = c
            return ~self.connected(r, rows) & (n < max_iters)

        def body(c):
            r, n = c
            rng = L.Rng(jax.random.fold_in(key, n), 4)
            i, j, k = rng.randint(0, Cn), rng.randint(0, rows), rng.randint(0, 4)
            ni = jnp.where(k == 0, i + 1, jnp.where(k == 2, i - 1, i))
            nj = jnp.where(k == 1, j + 1, jnp.where(k == 3, j - 1, j))
            has_nb = (ni >= 0) & (ni < Cn) & (nj >= 0) & (nj < rows)
            _, rj, ci, is_v = self._slot(r, i, j, k)
            has_door = jnp.where(is_v, r.conn_right[rj, ci], r.conn_down[rj, ci])
            nb_locked = r.locked[jnp.clip(nj, 0, R - 1), jnp.clip(ni, 0, Cn - 1)]
            ok = has_nb & ~has_door & ~r.locked[j, i] & ~nb_locked
            new, _ = self.add_door(r, i, j, k, rng.randint(0, C.NUM_COLORS), False)
            r = jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, r)
            return r, n + 1

        return jax.lax.while_loop(cond, body, (r, jnp.int32(0)))[0]


class Unlock(RoomGridTask):
    """MiniGrid ``UnlockEnv``: open the locked door between two rooms (its key is in the agent's room)."""

    rule = "open_door"

    def __init__(self):
        super().__init__(room_size=6, num_cols=2, num_rows=1)

    def default_params(self) -> RoomParams:
        return self._params(8 * self.room_size**2)

    def generate(self, key: jax.Array, params: RoomParams) -> GridState:
        rows = jnp.asarray(params.num_rows, jnp.int32)
        rng = L.Rng(key, 2 * self.max_rows * self.num_cols + 3)
        r = self.base(rng, rows)
        color = rng.randint(0, C.NUM_COLORS)
        r, door = self.add_door(r, 0, 0, 0, color, True)
        r, _ = self.place_in_room(rng, r, 0, 0, C.make_code(C.KEY, color), self.start_pos(rows))
        pos, d = self.place_agent(rng, r, 0, 0)
        return make_state(r.grid, pos, d, target_pos=door)


class UnlockPickup(RoomGridTask):
    """MiniGrid ``UnlockPickupEnv``: unlock the door and pick up the box in the other room."""

    rule = "pickup"

    def __init__(self):
        super().__init__(room_size=6, num_cols=2, num_rows=1)

    def default_params(self) -> RoomParams:
        return self._params(8 * self.room_size**2)

    def generate(self, key: jax.Array, params: RoomParams) -> GridState:
        rows = jnp.asarray(params.num_rows, jnp.int32)
        rng = L.Rng(key, 2 * self.max_rows * self.num_cols + 5)
        r = self.base(rng, rows)
        start = self.start_pos(rows)
        box = C.make_code(C.BOX, rng.randint(0, C.NUM_COLORS))
        r, _ = self.place_in_room(rng, r, 1, 0, box, start)
        color = rng.randint(0, C.NUM_COLORS)
        r, _ = self.add_door(r, 0, 0, 0, color, True)
        r, _ = self.place_in_room(rng, r, 0, 0, C.make_code(C.KEY, color), start)
        pos, d = self.place_agent(rng, r, 0, 0)
        return make_state(r.grid, pos, d, target=box)


class KeyCorridor(RoomGridTask):
    """MiniGrid ``KeyCorridorEnv``: find the key in a side room, unlock the door on the right
    and pick up the ball behind it. ``num_rows`` (R) is a param up to ``max_rows``."""

    rule = "pickup"

    def __init__(self, room_size: int = 3, num_rows: int = 3, max_rows: int | None = None):
        super().__init__(room_size=room_size, num_cols=3, num_rows=num_rows, max_rows=max_rows)

    def default_params(self) -> RoomParams:
        return self._params(30 * self.room_size**2)

    def generate(self, key: jax.Array, params: RoomParams) -> GridState:
        rows = jnp.asarray(params.num_rows, jnp.int32)
        key, k_connect = jax.random.split(key)
        rng = L.Rng(key, 2 * self.max_rows * self.num_cols + 7)
        r = self.base(rng, rows)
        for j in range(1, self.max_rows):  # the middle column becomes a hallway
            r = self.remove_wall_up(r, 1, j, j < rows)
        start = self.start_pos(rows)
        room = rng.randint(0, rows)
        color = rng.randint(0, C.NUM_COLORS)
        r, _ = self.add_door(r, 2, room, 2, color, True)
        ball = C.make_code(C.BALL, rng.randint(0, C.NUM_COLORS))
        r, _ = self.place_in_room(rng, r, 2, room, ball, start)
        r, _ = self.place_in_room(rng, r, 0, rng.randint(0, rows), C.make_code(C.KEY, color), start)
        pos, d = self.place_agent(rng, r, 1, rows // 2)
        r = self.connect_all(k_connect, r, rows)
        return make_state(r.grid, pos, d, target=ball)
