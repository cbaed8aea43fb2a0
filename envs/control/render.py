"""Frames of the gymnax families: classic control drawn from the state, MinAtar's channels as colours.

Host-side (NumPy + PIL), not jittable; one unbatched state in, ``[H, W, 3]`` uint8 out.
The classic-control pictures follow gymnasium's (same geometry and colours, world
coordinates from the params); MinAtar shows its ``[10, 10, C]`` observation with one
colour per channel (the highest set channel wins where several are set, as in
MinAtar's own display) on black, each cell upscaled to ``cell x cell`` pixels.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

from jaxrl.render import Canvas, upscale

WIDTH, HEIGHT = 300, 200  # classic control frames
MINATAR_CELL = 16  # pixels per MinAtar cell: frames are [160, 160, 3]

_BLACK, _GREY = (0, 0, 0), (150, 150, 150)


def _f(x: Any) -> float:
    return float(np.asarray(x))


def cartpole(state: Any, params: Any, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Cart on a track (``|x| <= x_threshold`` marked), pole of length ``2 * params.length`` at angle ``theta``."""
    xt = _f(params.x_threshold)
    pole = 2.0 * _f(params.length)
    cv = Canvas(width, height, (-1.2 * xt, 1.2 * xt), (-0.4, pole + 0.3))
    cv.line([(-1.2 * xt, 0.0), (1.2 * xt, 0.0)], _BLACK, 1)
    for edge in (-xt, xt):
        cv.line([(edge, -0.15), (edge, 0.15)], _GREY, 2)
    x, th = _f(state.x), _f(state.theta)
    cw, ch = 0.25 * xt / 2.4 * 2, 0.15
    cv.polygon([(x - cw / 2, -ch / 2), (x + cw / 2, -ch / 2), (x + cw / 2, ch / 2), (x - cw / 2, ch / 2)], _BLACK)
    top = ch / 4
    cv.line([(x, top), (x + pole * np.sin(th), top + pole * np.cos(th))], (202, 152, 101), 0.1 * cv.scale)
    cv.circle((x, top), 0.05, (129, 132, 203))
    return cv.to_array()


def pendulum(state: Any, params: Any, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Rod of length ``params.l`` at ``theta`` (0 up); a bar under it shows the last torque (``last_u``)."""
    length = _f(params.l)
    span = 1.25 * length
    cv = Canvas(width, height, (-span, span), (-span, span))
    th = _f(state.theta)
    tip = (-length * np.sin(th), length * np.cos(th))
    cv.line([(0.0, 0.0), tip], (204, 77, 77), 0.2 * length * cv.scale)
    cv.circle(tip, 0.1 * length, (204, 77, 77))
    cv.circle((0.0, 0.0), 0.05 * length, _BLACK)
    u = _f(state.last_u) / max(_f(params.max_torque), 1e-9)  # in [-1, 1]
    y = -1.15 * length
    cv.line([(0.0, y), (u * length, y)], (70, 120, 230), 0.06 * length * cv.scale)
    cv.line([(0.0, y - 0.06 * length), (0.0, y + 0.06 * length)], _GREY, 1)
    return cv.to_array()


def acrobot(state: Any, params: Any, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Two links hanging from the origin (angles from straight down); the goal line at height ``link_length_1``."""
    l1, l2 = _f(params.link_length_1), _f(params.link_length_2)
    span = 1.1 * (l1 + l2)
    cv = Canvas(width, height, (-span, span), (-span, span))
    cv.line([(-span, l1), (span, l1)], _BLACK, 1)
    t1, t2 = _f(state.joint_angle1), _f(state.joint_angle2)
    p1 = (l1 * np.sin(t1), -l1 * np.cos(t1))
    p2 = (p1[0] + l2 * np.sin(t1 + t2), p1[1] - l2 * np.cos(t1 + t2))
    for a, b in (((0.0, 0.0), p1), (p1, p2)):
        cv.line([a, b], (0, 204, 204), 0.2 * cv.scale)
        cv.circle(a, 0.1, (204, 204, 0))
    return cv.to_array()


def mountain_car(state: Any, params: Any, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """The hill ``0.45 sin(3x) + 0.55`` over ``[min_position, max_position]``, the car on it and the goal flag."""
    lo, hi = _f(params.min_position), _f(params.max_position)
    height_of = lambda x: 0.45 * np.sin(3.0 * x) + 0.55  # noqa: E731
    cv = Canvas(width, height, (lo, hi), (-0.05, 1.15))
    xs = np.linspace(lo, hi, 100)
    cv.line(np.stack([xs, height_of(xs)], 1), _BLACK, 2)
    goal = _f(params.goal_position)
    g = height_of(goal)
    cv.line([(goal, g), (goal, g + 0.15)], _BLACK, 2)
    cv.polygon([(goal, g + 0.15), (goal, g + 0.11), (goal + 0.07, g + 0.13)], (204, 204, 0))
    x = _f(state.position)
    ang = np.arctan(1.35 * np.cos(3.0 * x))  # slope of the hill
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    clear, w, h = 0.02, 0.1, 0.05
    body = np.array([(-w / 2, clear), (w / 2, clear), (w / 2, clear + h), (-w / 2, clear + h)]) @ rot.T
    base = np.array([x, height_of(x)])
    cv.polygon(body + base, _BLACK)
    for off in (-w / 3, w / 3):
        cv.circle(base + rot @ np.array([off, clear]), 0.02, (128, 128, 128))
    return cv.to_array()


CLASSIC = {
    "CartPole-v1": cartpole,
    "Pendulum-v1": pendulum,
    "Acrobot-v1": acrobot,
    "MountainCar-v0": mountain_car,
    "MountainCarContinuous-v0": mountain_car,
}


def minatar_palette(num_channels: int) -> np.ndarray:
    """``[num_channels + 1, 3]`` uint8: black for empty cells, then one colour per channel (tab10 / tab20)."""
    from matplotlib import colormaps

    name = "tab10" if num_channels <= 10 else "tab20"
    colours = colormaps[name](np.arange(num_channels) % colormaps[name].N)[:, :3]
    return np.concatenate([np.zeros((1, 3), np.uint8), (colours * 255).astype(np.uint8)])


def minatar(obs: Any, cell: int = MINATAR_CELL) -> np.ndarray:
    """A MinAtar observation ``[10, 10, C]`` (bool) as ``[10 * cell, 10 * cell, 3]`` uint8.

    Cell colour: the highest set channel's colour from :func:`minatar_palette`, black if none.
    Thin dark lines separate the cells.
    """
    grid = np.asarray(obs).astype(bool)
    C = grid.shape[-1]
    index = np.max(grid * np.arange(1, C + 1), axis=-1)  # [10, 10], 0 = empty
    img = upscale(minatar_palette(C)[index], cell)
    img[::cell, :] = np.maximum(img[::cell, :], 30)
    img[:, ::cell] = np.maximum(img[:, ::cell], 30)
    return img


@functools.cache
def _minatar_obs(gymnax_id: str):
    import gymnax

    return jax.jit(gymnax.make(gymnax_id)[0].get_obs)


def render_gymnax(env: Any, state: Any, params: Any) -> np.ndarray:
    """Frame of a :class:`~jaxrl.envs.control.GymnaxEnv` state (classic control or MinAtar)."""
    gid = env.gymnax_id
    if gid in CLASSIC:
        return CLASSIC[gid](state, params)
    if gid.endswith("-MinAtar"):
        return minatar(_minatar_obs(gid)(state, params))
    raise NotImplementedError(
        f"{gid} has no renderer: jaxrl draws gymnax's classic control ({', '.join(CLASSIC)}) and MinAtar games"
    )
