"""Tile renderer (MiniGrid's look), RGB observations, the ``Environment.render`` frame and episode GIFs.

Tiles are drawn once per tile size with NumPy into an *atlas*
``[96, 5, 2, tile, tile, 3]`` indexed by cell code (colour < 6), agent
(none, or facing 0..3) and highlight; a frame is then one gather inside
``jit``. Each tile is drawn at 3x resolution (pixel centres tested against
the shapes), highlighted and averaged down, as MiniGrid does, so frames match
``MiniGridEnv.get_frame`` pixel for pixel.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs.grid import constants as C
from jaxrl.envs.grid.core import GridEnv, GridState, partial_view, view_cells, visibility
from jaxrl.render import save_gif

NUM_CODES = 16 * C.NUM_COLORS  # codes with a real colour: oid | colour << 4 < 96
SUBDIVS = 3


# --------------------------------------------------------------------------- shapes on pixel centres
def _rect(x0, x1, y0, y1):
    return lambda x, y: (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)


def _circle(cx, cy, r):
    return lambda x, y: (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r


def _segment(x0, y0, x1, y1, r):
    """Points within ``r`` of a segment (endpoints in float32, as MiniGrid stores them)."""
    p0, p1 = np.array([x0, y0], np.float32), np.array([x1, y1], np.float32)
    d = p1 - p0
    length = np.linalg.norm(d)
    d = d / length
    lo_x, hi_x, lo_y, hi_y = min(x0, x1) - r, max(x0, x1) + r, min(y0, y1) - r, max(y0, y1) + r

    def fn(x, y):
        a = np.clip((x - p0[0]) * float(d[0]) + (y - p0[1]) * float(d[1]), 0, length)
        px, py = p0[0] + a * d[0], p0[1] + a * d[1]
        near = np.sqrt((x - px) ** 2 + (y - py) ** 2) <= r
        return near & (x >= lo_x) & (x <= hi_x) & (y >= lo_y) & (y <= hi_y)

    return fn


def _triangle(a, b, c, theta=0.0, cx=0.5, cy=0.5):
    """Points inside a triangle rotated by ``theta`` about ``(cx, cy)`` (barycentric test)."""
    a, b, c = (np.array(p, np.float32) for p in (a, b, c))
    v0, v1 = c - a, b - a  # float32 arithmetic, as MiniGrid
    d00, d01, d11 = np.dot(v0, v0), np.dot(v0, v1), np.dot(v1, v1)
    inv = 1 / (d00 * d11 - d01 * d01)

    def fn(x, y):
        if theta:
            x, y = x - cx, y - cy
            x, y = cx + x * math.cos(-theta) - y * math.sin(-theta), cy + y * math.cos(-theta) + x * math.sin(-theta)
        v2x, v2y = x - a[0], y - a[1]
        d02, d12 = v0[0] * v2x + v0[1] * v2y, v1[0] * v2x + v1[1] * v2y
        u, v = (d11 * d02 - d01 * d12) * inv, (d00 * d12 - d01 * d02) * inv
        return (u >= 0) & (v >= 0) & (u + v < 1)

    return fn


def _object_layers(oid: int, color: int) -> list[tuple[Callable, Any]]:
    """``(shape, rgb)`` layers drawing one object, back to front."""
    c = C.COLOR_RGB[color].astype(np.float64)
    black = (0, 0, 0)
    if oid in (C.WALL, C.GOAL):
        return [(_rect(0, 1, 0, 1), c)]
    if oid == C.FLOOR:
        return [(_rect(0.031, 1, 0.031, 1), c / 2)]
    if oid == C.LAVA:
        layers = [(_rect(0, 1, 0, 1), (255, 128, 0))]
        for i in range(3):
            lo, hi = 0.3 + 0.2 * i, 0.4 + 0.2 * i
            for x0, y0, x1, y1 in ((0.1, lo, 0.3, hi), (0.3, hi, 0.5, lo), (0.5, lo, 0.7, hi), (0.7, hi, 0.9, lo)):
                layers.append((_segment(x0, y0, x1, y1, 0.03), black))
        return layers
    if oid == C.DOOR_OPEN:
        return [(_rect(0.88, 1.00, 0.00, 1.00), c), (_rect(0.92, 0.96, 0.04, 0.96), black)]
    if oid == C.DOOR_LOCKED:
        return [(_rect(0, 1, 0, 1), c), (_rect(0.06, 0.94, 0.06, 0.94), 0.45 * c), (_rect(0.52, 0.75, 0.50, 0.56), c)]
    if oid == C.DOOR_CLOSED:
        return [
            (_rect(0, 1, 0, 1), c),
            (_rect(0.04, 0.96, 0.04, 0.96), black),
            (_rect(0.08, 0.92, 0.08, 0.92), c),
            (_rect(0.12, 0.88, 0.12, 0.88), black),
            (_circle(0.75, 0.50, 0.08), c),
        ]
    if oid == C.KEY:
        return [
            (_rect(0.50, 0.63, 0.31, 0.88), c),
            (_rect(0.38, 0.50, 0.59, 0.66), c),
            (_rect(0.38, 0.50, 0.81, 0.88), c),
            (_circle(0.56, 0.28, 0.190), c),
            (_circle(0.56, 0.28, 0.064), black),
        ]
    if oid == C.BALL:
        return [(_circle(0.5, 0.5, 0.31), c)]
    if oid == C.BOX:
        return [
            (_rect(0.12, 0.88, 0.12, 0.88), c),
            (_rect(0.18, 0.82, 0.18, 0.82), black),
            (_rect(0.16, 0.84, 0.47, 0.53), c),
        ]
    return []  # unseen, empty, agent, unused ids


@functools.lru_cache(maxsize=8)
def atlas(tile_size: int) -> np.ndarray:
    """Every tile: ``[NUM_CODES, 5, 2, tile, tile, 3]`` uint8 (code, agent slot 0 none / 1+dir, highlight)."""
    if tile_size < 1:
        raise ValueError(f"tile_size must be positive, got {tile_size}")
    S = tile_size * SUBDIVS
    centres = (np.arange(S) + 0.5) / S
    x, y = centres[None, :], centres[:, None]  # [1, S], [S, 1] -> broadcast [S, S] (rows are y)
    base = np.zeros((S, S, 3), np.uint8)
    base[_rect(0, 0.031, 0, 1)(x, y)] = 100  # grid lines, top and left edges
    base[_rect(0, 1, 0, 0.031)(x, y)] = 100
    agents = [None] + [
        _triangle((0.12, 0.19), (0.87, 0.50), (0.12, 0.81), theta=0.5 * math.pi * d)(x, y) for d in range(4)
    ]
    out = np.zeros((NUM_CODES, 5, 2, tile_size, tile_size, 3), np.uint8)
    for code in range(NUM_CODES):
        img = base.copy()
        for shape, rgb in _object_layers(code & 15, code >> 4):
            img[shape(x, y)] = np.asarray(rgb, np.float64)  # float colours truncate, as in MiniGrid
        for slot, tri in enumerate(agents):
            tile = img.copy()
            if tri is not None:
                tile[tri] = (255, 0, 0)
            for hl in (0, 1):
                t = tile
                if hl:
                    t = np.clip(tile + 0.30 * (np.uint8(255) - tile), 0, 255).astype(np.uint8)
                small = t.reshape(tile_size, SUBDIVS, tile_size, SUBDIVS, 3).mean(axis=3).mean(axis=1)
                out[code, slot, hl] = small.astype(np.uint8)
    return out


def _compose(tiles: jax.Array) -> jax.Array:
    """``[rows, cols, t, t, 3] -> [rows * t, cols * t, 3]``."""
    r, c, t, _, _ = tiles.shape
    return tiles.transpose(0, 2, 1, 3, 4).reshape(r * t, c * t, 3)


def highlight_mask(state: GridState, view_size: int = 7, see_through_walls: bool = False) -> jax.Array:
    """``[H, W]`` bool: the cells the agent sees (MiniGrid's highlighted area)."""
    H, W = state.grid.shape
    codes, x, y = view_cells(state, view_size)
    vis = jnp.ones_like(codes, jnp.bool_) if see_through_walls else visibility(codes)
    inside = (x >= 0) & (x < W) & (y >= 0) & (y < H)
    return jnp.zeros((H, W), jnp.bool_).at[jnp.where(inside, y, H), x].max(vis, mode="drop")


def render_frame(
    state: GridState,
    tile_size: int = 32,
    highlight: bool = True,
    view_size: int = 7,
    see_through_walls: bool = False,
    tiles: jax.Array | None = None,
) -> jax.Array:
    """The whole grid as MiniGrid's ``get_frame()``: ``[H * tile, W * tile, 3]`` uint8 (jittable).

    ``tiles`` is :func:`atlas` ``(tile_size)``; pass it as an argument under
    ``jit`` to keep the (large) atlas out of the compiled program.
    """
    H, W = state.grid.shape
    tiles = jnp.asarray(atlas(tile_size)) if tiles is None else tiles
    slot = jnp.zeros((H, W), jnp.int32).at[state.agent_pos[1], state.agent_pos[0]].set(state.agent_dir + 1)
    hl = highlight_mask(state, view_size, see_through_walls) if highlight else jnp.zeros((H, W), jnp.bool_)
    return _compose(tiles[state.grid.astype(jnp.int32), slot, hl.astype(jnp.int32)])


def render_view(
    state: GridState, view_size: int = 7, tile_size: int = 8, see_through_walls: bool = False, tiles=None
) -> jax.Array:
    """The agent's view as pixels, MiniGrid's ``RGBImgPartialObsWrapper``: ``[V * tile, V * tile, 3]``.

    Unseen cells are blank, seen ones highlighted; the agent sits at the bottom
    middle facing up, drawn over what it carries.
    """
    V = view_size
    tiles = jnp.asarray(atlas(tile_size)) if tiles is None else tiles
    codes, vis = partial_view(state, V, see_through_walls)
    codes = jnp.where(vis, codes, jnp.uint8(C.C_EMPTY)).astype(jnp.int32)
    slot = jnp.zeros((V, V), jnp.int32).at[V // 2, V - 1].set(4)  # facing up
    return _compose(tiles[codes.T, slot.T, vis.T.astype(jnp.int32)])  # view [i, j] -> image rows j


# --------------------------------------------------------------------------- the Environment.render hook
@functools.lru_cache(maxsize=16)
def _frame_fn(tile_size: int, highlight: bool, view_size: int, see_through_walls: bool) -> Callable:
    return jax.jit(lambda s, t: render_frame(s, tile_size, highlight, view_size, see_through_walls, t))


def render_state(env: GridEnv, state: GridState, params: Any = None, tile_size: int = 32,
                 highlight: bool = True) -> np.ndarray:
    """``env.render``: the whole grid of one unbatched state, ``[H * tile, W * tile, 3]`` uint8 (host array).

    :func:`render_frame` under a cached ``jit`` (one compile per grid size and
    options), as MiniGrid's ``get_frame()``: the agent's view highlighted.
    """
    del params  # the picture depends on the state only
    env = getattr(env, "unwrapped", env)
    if not isinstance(env, GridEnv):
        raise TypeError(f"render_state needs a grid environment (GridEnv), got {type(env).__name__}")
    draw = _frame_fn(int(tile_size), bool(highlight), env.view_size, env.see_through_walls)
    return np.asarray(draw(state, jnp.asarray(atlas(tile_size))))


# --------------------------------------------------------------------------- episodes
def rollout_episode(env: GridEnv, params: Any, policy_fn: Callable, key: jax.Array, max_steps: int | None = None):
    """Run one episode (no auto-reset) of ``policy_fn(key, obs) -> action``.

    Returns ``(states, rewards, done)`` stacked over ``max_steps + 1`` states
    (the first is the reset state); entries after the episode ended repeat the
    final state. ``max_steps`` defaults to ``params.max_steps`` (must be concrete).
    """
    T = int(params.max_steps) if max_steps is None else int(max_steps)
    k_reset, k_run = jax.random.split(key)

    @jax.jit
    def run(k_reset, k_run):
        obs, state = env.reset_env(k_reset, params)

        def body(carry, k):
            obs, state, done = carry
            k_act, k_env = jax.random.split(k)
            out = env.step_env(k_env, state, policy_fn(k_act, obs), params)
            keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(done, b, a), new, old)  # noqa: E731
            new_state, new_obs = keep(out.state, state), keep(out.obs, obs)
            reward = jnp.where(done, 0.0, out.reward)
            ended = done | out.terminated | out.truncated
            return (new_obs, new_state, ended), (new_state, reward, ended)

        init = (obs, state, jnp.bool_(False))
        _, (states, rewards, dones) = jax.lax.scan(body, init, jax.random.split(k_run, T))
        states = jax.tree.map(lambda s0, s: jnp.concatenate([s0[None], s]), state, states)
        return states, rewards, dones

    return run(k_reset, k_run)


def write_episode_gif(
    env: GridEnv,
    params: Any,
    policy_fn: Callable[[jax.Array, jax.Array], jax.Array],
    key: jax.Array,
    path: str | Path,
    tile_size: int = 32,
    fps: float = 8.0,
    max_steps: int | None = None,
    highlight: bool = True,
) -> dict[str, Any]:
    """Render one episode of ``policy_fn(key, obs) -> action`` (one env, unbatched) to a GIF.

    Returns ``{"path", "return", "length", "frames"}``. The episode runs to
    termination or ``max_steps`` (default ``params.max_steps``).
    """
    if not isinstance(env, GridEnv):
        raise TypeError(f"write_episode_gif needs a grid environment (GridEnv), got {type(env).__name__}")
    states, rewards, dones = rollout_episode(env, params, policy_fn, key, max_steps)
    dones = np.asarray(dones)
    length = int(np.argmax(dones)) + 1 if dones.any() else len(dones)
    states = jax.tree.map(lambda s: s[: length + 1], states)
    tiles = jnp.asarray(atlas(tile_size))
    draw = jax.jit(
        jax.vmap(
            lambda s, t: render_frame(s, tile_size, highlight, env.view_size, env.see_through_walls, t),
            in_axes=(0, None),
        )
    )
    frames = np.asarray(draw(states, tiles))
    return {
        "path": save_gif(list(frames), path, fps),
        "return": float(np.sum(np.asarray(rewards)[:length])),
        "length": length,
        "frames": len(frames),
    }
