"""Frames of the fin-ray family: the fin and its wake over a cycle, and KS as a space-time image.

Host-side (NumPy + PIL), not jittable. The states carry no past, so each environment
keeps a short host-side :class:`jaxrl.render.StepHistory` of what it drew (keyed by
the state's step counter: a new episode starts a fresh one). Rendering an episode in
order (:func:`jaxrl.render.rollout_frames`) shows its real recent past.

* ``FinPlate`` / ``FinRay`` (side view, flow from left to right, lateral up): the plate
  (chord ``2b`` through its pivot at heave ``-h``, pitch ``alpha + delta``) or the ray
  (``w(x) = h0 + x theta0 + sum q_n phi_n(x / l)``, base marked); the wake is the path of
  the trailing edge over the last beat cycle, each point convected downstream at ``U``
  since it was shed, coloured by the lateral velocity of the edge when shed (red
  up, blue down: the alternating street of a flapping fin) and thinning with age. Points
  from before the first rendered step are the unactuated periodic orbit, which is
  exact for a fresh episode (episodes start on it, at rest in ``delta``). A bar under
  the fin shows the actuation ``delta / delta_max``.
* ``KS``: rows are time (oldest at the top, newest at the bottom; ``history`` steps),
  columns the 64 grid points, colour ``u`` on a diverging map over ``[-u_max, u_max]``;
  rows not yet seen are grey. Under it, the current field ``u(x)`` as a curve with the
  actuator centres marked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxrl.render import Canvas, StepHistory, colormap, upscale

FIN_WIDTH, FIN_HEIGHT = 360, 200
KS_HISTORY = 100  # rows of the space-time image (steps)
KS_U_MAX = 3.0  # colour range of u (the uncontrolled flow stays within |u| < 4)
_BG = (245, 245, 245)


def _history(env: Any, maxlen: int) -> StepHistory:
    hist = env.__dict__.get("_render_history")
    if hist is None or hist.maxlen != maxlen:
        hist = env.__dict__["_render_history"] = StepHistory(maxlen)
    return hist


def _f(x: Any) -> float:
    return float(np.asarray(x))


def _timing(params: Any) -> tuple[float, float, int]:
    """``omega``, control interval, steps per cycle."""
    omega = 2.0 * np.pi * _f(params.frequency)
    spc = max(int(round(_f(params.steps_per_cycle))), 1)
    return omega, 2.0 * np.pi / (omega * _f(params.steps_per_cycle)), spc


def _base_motion(theta: np.ndarray, params: Any) -> tuple[np.ndarray, np.ndarray]:
    """Prescribed heave ``h`` and pitch ``alpha`` at phases ``theta`` (NumPy, as :func:`.common.kinematics`)."""
    return _f(params.heave_amp) * np.sin(theta), _f(params.pitch_amp) * np.sin(theta + _f(params.pitch_phase))


# --------------------------------------------------------------------------- fins
def _plate_points(theta: float, delta: float, params: Any, n: int = 2) -> np.ndarray:
    """``[n, 2]`` points from leading to trailing edge (pivot at the origin when not heaving)."""
    b, a = _f(params.half_chord), _f(params.pivot)
    h, alpha = _base_motion(np.asarray(theta), params)
    xi = np.linspace(-(1.0 + a) * b, (1.0 - a) * b, n)  # chord coordinate from the pivot, downstream
    ang = float(alpha) + delta
    return np.stack([xi * np.cos(ang), -float(h) - xi * np.sin(ang)], 1)


def _ray_points(env: Any, theta: float, q: np.ndarray, params: Any, n: int = 24) -> np.ndarray:
    """``[n, 2]`` points ``(x, w(x))`` along the ray, base to tip."""
    from jaxrl.envs.finray.ray import cantilever_modes

    ell = _f(params.length)
    xi = np.linspace(0.0, 1.0, n)
    phi = cantilever_modes(xi, env.n_modes)[0]  # [n, N]
    h, alpha = _base_motion(np.asarray(theta), params)
    return np.stack([xi * ell, float(h) + xi * ell * float(alpha) + phi @ q], 1)


def _wake(tips: list[np.ndarray], dt: float, speed: float) -> np.ndarray:
    """Trailing-edge positions ``[K, 2]`` (oldest first, one per control step) convected downstream."""
    pts = np.array(tips, np.float64)
    age = np.arange(len(pts))[::-1] * dt
    return np.stack([pts[:, 0] + speed * age, pts[:, 1]], 1)


def _fin_frame(shape: np.ndarray, wake: np.ndarray, extent: tuple[float, float, float], actuation: float,
               caption: str, base: np.ndarray | None = None) -> np.ndarray:
    from PIL import ImageDraw

    x0, x1, half = extent
    cv = Canvas(FIN_WIDTH, FIN_HEIGHT, (x0, x1), (-half, half), background=_BG)
    cv.line([(x0, 0.0), (x1, 0.0)], (200, 200, 200), 1)
    vy = np.diff(wake[:, 1], prepend=wake[0, 1])
    colours = colormap(vy, -np.abs(vy).max() - 1e-9, np.abs(vy).max() + 1e-9, "coolwarm")
    K = len(wake)
    for k in range(1, K):
        w = 1 + 5 * k / K  # thicker near the fin
        cv.line(wake[k - 1 : k + 1], tuple(int(c) for c in colours[k]), w)
    cv.line(shape, (30, 30, 30), max(3.0, 0.04 * cv.scale))
    if base is not None:
        cv.circle(base, 4, (230, 150, 40), pixels=True)
    y = -0.9 * half
    cv.line([(x0 + 0.05 * (x1 - x0), y), (x0 + 0.05 * (x1 - x0) + 0.15 * (x1 - x0) * actuation, y)],
            (60, 160, 80), 0.04 * half * cv.scale)
    ImageDraw.Draw(cv.image).text((4, 2), caption, fill=(60, 60, 60))
    return cv.to_array()


def render_plate(env: Any, state: Any, params: Any) -> np.ndarray:
    """Frame of a :class:`~jaxrl.envs.finray.FinPlate` state (see the module docstring)."""
    omega, dt, spc = _timing(params)
    theta, delta, step = _f(state.theta), _f(state.delta), int(np.asarray(state.step))
    tips = _history(env, spc + 1).push(step, (theta, _plate_points(theta, delta, params)[-1]))
    first_theta = tips[0][0]
    before = [_plate_points(first_theta - k * omega * dt, 0.0, params)[-1] for k in range(spc + 1 - len(tips), 0, -1)]
    wake = _wake(before + [t for _, t in tips], dt, _f(params.speed))
    b, a = _f(params.half_chord), _f(params.pivot)
    half = 1.4 * (_f(params.heave_amp) + (1.0 - a) * b * (_f(params.pitch_amp) + _f(params.delta_max))) + 0.1
    extent = (-(1.0 + a) * b - 0.3 * b, (1.0 - a) * b + _f(params.speed) * spc * dt + 0.2 * b, half)
    caption = f"t/T {theta / (2 * np.pi) % 1:.2f}  C_T {_f(state.last[0]):+.3f}  step {step}"
    return _fin_frame(_plate_points(theta, delta, params), wake, extent, delta / _f(params.delta_max), caption,
                      base=_pivot(theta, params))


def _pivot(theta: float, params: Any) -> np.ndarray:
    h, _ = _base_motion(np.asarray(theta), params)
    return np.array([0.0, -float(h)])


def render_ray(env: Any, state: Any, params: Any) -> np.ndarray:
    """Frame of a :class:`~jaxrl.envs.finray.FinRay` state (see the module docstring)."""
    import jax.numpy as jnp

    omega, dt, spc = _timing(params)
    theta, step = _f(state.theta), int(np.asarray(state.step))
    q = np.asarray(state.q, np.float64)
    shape = _ray_points(env, theta, q, params)
    tips = _history(env, spc + 1).push(step, (theta, shape[-1]))
    n_before = spc + 1 - len(tips)
    before = []
    if n_before:
        qc = np.asarray(env._steady_modes(jnp.float32(0.0), params)[0], np.float64)  # q(theta) = qc cos + qs sin
        qs = np.asarray(env._steady_modes(jnp.float32(np.pi / 2), params)[0], np.float64)
        for k in range(n_before, 0, -1):
            th = tips[0][0] - k * omega * dt
            before.append(_ray_points(env, th, qc * np.cos(th) + qs * np.sin(th), params, 2)[-1])
    wake = _wake(before + [t for _, t in tips], dt, _f(params.speed))
    ell = _f(params.length)
    half = 1.5 * (_f(params.heave_amp) + ell * (_f(params.pitch_amp) + _f(params.delta_max))) + 0.05
    extent = (-0.15 * ell, ell + _f(params.speed) * spc * dt + 0.1 * ell, half)
    caption = f"t/T {theta / (2 * np.pi) % 1:.2f}  C_T {_f(state.last[0]):+.3f}  step {step}"
    return _fin_frame(shape, wake, extent, _f(state.delta) / _f(params.delta_max), caption, base=shape[0])


# --------------------------------------------------------------------------- Kuramoto-Sivashinsky
def render_ks(env: Any, state: Any, params: Any, history: int = KS_HISTORY) -> np.ndarray:
    """Frame of a :class:`~jaxrl.envs.finray.KuramotoSivashinsky` state: ``[2 * history + 80, 4 * n, 3]``."""
    u = np.asarray(state.u, np.float64)
    n = u.shape[0]
    rows = _history(env, history).push(int(np.asarray(state.step)), u)
    img = np.full((history, n, 3), 128, np.uint8)
    img[history - len(rows) :] = colormap(np.stack(rows), -KS_U_MAX, KS_U_MAX, "RdBu_r")
    space_time = upscale(img, 4)[::2]  # [2 * history, 4 * n, 3]
    width = 4 * n
    cv = Canvas(width, 80, (0.0, float(n)), (-KS_U_MAX - 0.5, KS_U_MAX + 0.5), background=_BG, equal=False)
    cv.line([(0.0, 0.0), (float(n), 0.0)], (200, 200, 200), 1)
    for i in range(env.num_actuators):
        c = i * n / env.num_actuators + 0.5  # centres at 0, L/4, ... (grid points at cell centres)
        cv.line([(c, -KS_U_MAX - 0.5), (c, -KS_U_MAX + 0.3)], (60, 160, 80), 3)
    cv.line(np.stack([np.arange(n) + 0.5, np.clip(u, -KS_U_MAX - 0.5, KS_U_MAX + 0.5)], 1), (30, 30, 30), 2)
    return np.concatenate([space_time, cv.to_array()], 0)
