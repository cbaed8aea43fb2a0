"""Object, colour and direction tables of the gridworld family (MiniGrid's numbering).

A grid cell is one ``uint8`` *code*: ``oid | colour << 4``. ``oid`` is
MiniGrid's object index, except that a door stores its state in the object
id (open 4, closed 11, locked 12), so that one byte holds everything MiniGrid
encodes as ``(object, colour, state)``. :func:`decode` maps codes back to
MiniGrid's triple.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# MiniGrid object indices (minigrid.core.constants.OBJECT_TO_IDX)
UNSEEN, EMPTY, WALL, FLOOR, DOOR, KEY, BALL, BOX, GOAL, LAVA, AGENT = range(11)
# Door states live in the object id inside a cell code.
DOOR_OPEN = DOOR
DOOR_CLOSED = 11
DOOR_LOCKED = 12

# MiniGrid colour indices (COLOR_TO_IDX)
RED, GREEN, BLUE, PURPLE, YELLOW, GREY = range(6)
NUM_COLORS = 6
COLOR_NAMES = ("red", "green", "blue", "purple", "yellow", "grey")
COLOR_RGB = np.array(
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [112, 39, 195], [255, 255, 0], [100, 100, 100]], dtype=np.uint8
)
OBJECT_NAMES = ("unseen", "empty", "wall", "floor", "door", "key", "ball", "box", "goal", "lava", "agent")

# Actions (minigrid.core.actions.Actions)
LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE, DONE = range(7)
NUM_ACTIONS = 7
ACTION_NAMES = ("left", "right", "forward", "pickup", "drop", "toggle", "done")

# Direction 0 right (+x), 1 down (+y), 2 left, 3 up.
DIR_TO_VEC = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.int32)


def code(oid: int, color: int = 0) -> int:
    """Cell code of an object id and colour (Python ints, for tables and tests)."""
    return int(oid) | int(color) << 4


def make_code(oid: jax.Array, color: jax.Array) -> jax.Array:
    """Traced version of :func:`code`; returns ``uint8``."""
    return (jnp.asarray(oid, jnp.int32) | jnp.asarray(color, jnp.int32) << 4).astype(jnp.uint8)


C_EMPTY = code(EMPTY)
C_WALL = code(WALL, GREY)
C_GOAL = code(GOAL, GREEN)
C_LAVA = code(LAVA, RED)

# Bit sets over object ids (bit ``oid`` set when the property holds).
_OVERLAP = (1 << EMPTY) | (1 << FLOOR) | (1 << DOOR_OPEN) | (1 << GOAL) | (1 << LAVA)
_PICKUP = (1 << KEY) | (1 << BALL) | (1 << BOX)
_OPAQUE = (1 << WALL) | (1 << DOOR_CLOSED) | (1 << DOOR_LOCKED)


def oid_of(c: jax.Array) -> jax.Array:
    return jnp.asarray(c, jnp.int32) & 15


def color_of(c: jax.Array) -> jax.Array:
    return jnp.asarray(c, jnp.int32) >> 4


def _has(mask: int, c: jax.Array) -> jax.Array:
    return ((mask >> oid_of(c)) & 1).astype(jnp.bool_)


def can_overlap(c: jax.Array) -> jax.Array:
    """The agent may stand on the cell (empty, floor, open door, goal, lava)."""
    return _has(_OVERLAP, c)


def can_pickup(c: jax.Array) -> jax.Array:
    return _has(_PICKUP, c)


def see_behind(c: jax.Array) -> jax.Array:
    """Light passes (everything but walls and closed or locked doors)."""
    return ~_has(_OPAQUE, c)


def decode(c: jax.Array) -> jax.Array:
    """MiniGrid's ``(object, colour, state)`` encoding of cell codes: ``[...] -> [..., 3]`` uint8."""
    oid = oid_of(c)
    obj = jnp.where(oid >= DOOR_CLOSED, DOOR, oid)
    state = jnp.where(oid == DOOR_CLOSED, 1, jnp.where(oid == DOOR_LOCKED, 2, 0))
    return jnp.stack([obj, color_of(c), state], axis=-1).astype(jnp.uint8)


def encode_np(obj: int, color: int, state: int) -> int:
    """Cell code of a MiniGrid ``(object, colour, state)`` triple (NumPy side, e.g. for tests)."""
    if obj == DOOR:
        obj = (DOOR_OPEN, DOOR_CLOSED, DOOR_LOCKED)[state]
    if obj == EMPTY:
        color = 0
    return code(obj, color)
