"""Jittable layout building blocks: masks over the static grid and uniform sampling.

MiniGrid places objects by rejection sampling (``place_obj``); sampling
uniformly among the admissible cells draws from the same distribution with a
fixed cost, which is what these helpers do.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrl.envs.grid import constants as C


def coords(height: int, width: int) -> tuple[jax.Array, jax.Array]:
    """``(x, y)`` int32 index grids of shape ``[H, W]``."""
    y, x = jnp.meshgrid(jnp.arange(height, dtype=jnp.int32), jnp.arange(width, dtype=jnp.int32), indexing="ij")
    return x, y


def rect(x, y, x0, y0, w, h) -> jax.Array:
    """Cells inside the rectangle with top-left ``(x0, y0)`` and size ``(w, h)``."""
    return (x >= x0) & (x < x0 + w) & (y >= y0) & (y < y0 + h)


def rect_border(x, y, x0, y0, w, h) -> jax.Array:
    """MiniGrid's ``wall_rect``: the outline of a rectangle."""
    return rect(x, y, x0, y0, w, h) & ((x == x0) | (x == x0 + w - 1) | (y == y0) | (y == y0 + h - 1))


def outside(x, y, w, h) -> jax.Array:
    """Cells beyond an actual size ``(w, h)`` inside the static (padded) grid."""
    return (x >= w) | (y >= h)


class Rng:
    """``n`` random 32-bit words from one threefry call, handed out in order.

    Generators draw every random number they need from one ``Rng``: each
    ``jax.random`` call site compiles its own threefry, which made layout
    compilation slow. ``randint`` reduces a word modulo the range (bias below
    ``range / 2**32``, i.e. none in practice for grid-sized ranges).
    """

    def __init__(self, key: jax.Array, n: int):
        self.bits = jax.random.bits(key, (n,), jnp.uint32)
        self.n, self.used = n, 0

    def word(self) -> jax.Array:
        if self.used >= self.n:
            raise RuntimeError(f"Rng: all {self.n} words used; allocate more")
        self.used += 1
        return self.bits[self.used - 1]

    def words(self, m: int) -> jax.Array:
        """The next ``m`` words, ``[m]`` uint32."""
        if self.used + m > self.n:
            raise RuntimeError(f"Rng: all {self.n} words used; allocate more")
        self.used += m
        return self.bits[self.used - m : self.used]

    def randint(self, low, high) -> jax.Array:
        """Uniform int32 in ``[low, high)`` (bounds may be traced; ``low`` when empty)."""
        low = jnp.asarray(low, jnp.int32)
        span = jnp.maximum(jnp.asarray(high, jnp.int32) - low, 1).astype(jnp.uint32)
        return low + (self.word() % span).astype(jnp.int32)

    def uniform(self) -> jax.Array:
        """Uniform float32 in ``[0, 1)`` (24 bits)."""
        return (self.word() >> 8).astype(jnp.float32) * (1.0 / (1 << 24))

    def bernoulli(self) -> jax.Array:
        return (self.word() >> 31).astype(jnp.bool_)


def sample_index(rng: Rng, mask: jax.Array) -> jax.Array:
    """A uniformly random flat index among the true entries of ``mask`` (any shape).

    Draws one integer ``k`` below the count and finds the ``k``-th true entry
    with two small prefix sums (rows, then one row): far cheaper on CPU than a
    random number per cell. With no true entry it returns 0.
    """
    m = mask.reshape(-1, mask.shape[-1]).astype(jnp.int32)  # [rows, cols]
    counts = jnp.sum(m, axis=1)
    cum = jnp.cumsum(counts)
    k = rng.randint(0, cum[-1])
    r = jnp.minimum(jnp.sum(cum <= k), m.shape[0] - 1)
    c = jnp.minimum(jnp.sum(jnp.cumsum(m[r]) <= k - (cum[r] - counts[r])), m.shape[1] - 1)
    return (r * m.shape[1] + c).astype(jnp.int32)


def sample_cell(rng: Rng, mask: jax.Array) -> jax.Array:
    """A uniformly random ``(x, y)`` among the true cells of ``mask`` ``[H, W]``: ``[2]`` int32.

    The caller guarantees at least one true cell.
    """
    W = mask.shape[1]
    idx = sample_index(rng, mask)
    return jnp.stack([idx % W, idx // W])


def sample_pose(rng: Rng, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """A uniformly random ``((x, y), dir)`` among the true entries of ``mask`` ``[4, H, W]``."""
    _, H, W = mask.shape
    idx = sample_index(rng, mask)
    cell = idx % (H * W)
    return jnp.stack([cell % W, cell // W]), idx // (H * W)


def place_agent_mask(grid: jax.Array, region: jax.Array) -> jax.Array:
    """MiniGrid's ``place_agent`` with a random direction: every free cell of ``region``, any direction."""
    return jnp.broadcast_to(free(grid) & region, (4, *grid.shape))


def front_ok_mask(grid: jax.Array, region: jax.Array) -> jax.Array:
    """RoomGrid's ``place_agent``: free cells of ``region`` and directions whose
    front cell is empty or a wall: ``[4, H, W]``."""
    H, W = grid.shape
    ok = []
    for d in range(4):
        dx, dy = int(C.DIR_TO_VEC[d, 0]), int(C.DIR_TO_VEC[d, 1])
        front = jnp.roll(grid, shift=(-dy, -dx), axis=(0, 1))  # front[y, x] = grid[y + dy, x + dx]
        fo = C.oid_of(front)
        ok.append((fo == C.EMPTY) | (fo == C.WALL))
    return free(grid) & region & jnp.stack(ok)


def free(grid: jax.Array) -> jax.Array:
    """Cells holding nothing (MiniGrid's ``None``)."""
    return grid == C.C_EMPTY


def put(grid: jax.Array, pos: jax.Array, code) -> jax.Array:
    """Set the cell at ``pos = (x, y)``."""
    return grid.at[pos[1], pos[0]].set(jnp.asarray(code, jnp.uint8))


def not_at(x, y, pos) -> jax.Array:
    return (x != pos[0]) | (y != pos[1])


def far_from(x, y, pos) -> jax.Array:
    """RoomGrid's ``reject_next_to``: keep cells at Manhattan distance >= 2 from ``pos``."""
    return jnp.abs(x - pos[0]) + jnp.abs(y - pos[1]) >= 2
