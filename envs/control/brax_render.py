"""Frames of Brax states: MuJoCo's OpenGL renderer when a headless context opens, else a projection.

Host-side, not jittable. Two renderers:

* ``"mujoco"`` -- the system's ``mj_model`` posed at ``pipeline_state.q`` (``mj_forward``)
  and drawn by MuJoCo's offscreen OpenGL renderer, the camera following the root body.
  The GL context comes from ``MUJOCO_GL`` when it names a headless backend (``egl`` /
  ``osmesa``), else from EGL directly (``mujoco.egl``; Mesa's software EGL works on a
  CPU-only machine). It needs an OpenGL library; where none opens, ``"auto"`` falls
  back to the projection (with one ``RuntimeWarning``).
* ``"projection"`` -- the geoms posed by MuJoCo's CPU ``mj_forward`` at ``pipeline_state.q``
  (capsules, cylinders, boxes as thick segments, spheres as discs) projected on the
  x-z plane (side view following the root body, ground line with ticks), drawn with
  PIL; no OpenGL needed.
"""

from __future__ import annotations

import os
import warnings
import weakref
from typing import Any

import numpy as np

from jaxrl.render import Canvas

WIDTH, HEIGHT = 320, 240
RENDERERS = ("auto", "mujoco", "projection")

_gl_failed: str | None = None  # why the GL context could not be made (once per process)
_renderers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # env -> MujocoRenderer (GL state stays off env)


def _gl_context(width: int, height: int) -> Any:
    """A current offscreen OpenGL context for MuJoCo, or an exception."""
    backend = os.environ.get("MUJOCO_GL", "").lower()
    if backend == "osmesa":
        from mujoco.osmesa import GLContext
    else:  # egl, or unset / glfw without a display: EGL is the one that works headless
        from mujoco.egl import GLContext
    ctx = GLContext(width, height)
    ctx.make_current()
    return ctx


class MujocoRenderer:
    """Offscreen MuJoCo rendering of one ``mj_model`` at ``[height, width]``."""

    def __init__(self, model: Any, width: int = WIDTH, height: int = HEIGHT):
        import mujoco

        self.mujoco, self.model, self.width, self.height = mujoco, model, int(width), int(height)
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
        self.ctx = _gl_context(self.width, self.height)
        self.data = mujoco.MjData(model)
        self.scene = mujoco.MjvScene(model, maxgeom=10_000)
        self.option, self.perturb = mujoco.MjvOption(), mujoco.MjvPerturb()
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.camera.distance = 0.0  # set from the first pose's size
        self.camera.elevation, self.camera.azimuth = -20.0, 90.0
        self.context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_100)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self.context)
        self.viewport = mujoco.MjrRect(0, 0, self.width, self.height)

    def __call__(self, qpos: np.ndarray) -> np.ndarray:
        mj = self.mujoco
        self.ctx.make_current()
        self.data.qpos[:] = qpos
        mj.mj_forward(self.model, self.data)
        root = 1 if self.model.nbody > 1 else 0
        keep = self.model.geom_type != int(mj.mjtGeom.mjGEOM_PLANE)
        if self.camera.distance == 0.0:  # fit the first pose: bounding spheres of the non-plane geoms
            xpos, rb = self.data.geom_xpos[keep], self.model.geom_rbound[keep][:, None]
            size = float(np.linalg.norm((xpos + rb).max(0) - (xpos - rb).min(0))) if keep.any() else 1.0
            self.camera.distance = 0.5 + 1.1 * min(size, 4.0)
        z = self.data.geom_xpos[keep, 2] if keep.any() else self.data.xpos[root, 2:]
        self.camera.lookat[:] = (*self.data.xpos[root, :2], (z.min() + z.max()) / 2)  # follow the root, frame the body
        mj.mjv_updateScene(self.model, self.data, self.option, self.perturb, self.camera,
                           mj.mjtCatBit.mjCAT_ALL, self.scene)
        mj.mjr_render(self.viewport, self.scene, self.context)
        rgb = np.empty((self.height, self.width, 3), np.uint8)
        mj.mjr_readPixels(rgb, None, self.viewport, self.context)
        return np.flipud(rgb).copy()


def _segments(model: Any, qpos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geoms posed at ``qpos`` (CPU ``mj_forward``) as 3-D segments: ``(p0 [G, 3], p1 [G, 3], radius [G])``.

    Capsules and cylinders span their axis, boxes their longest axis, spheres and
    ellipsoids are points; planes and meshes are left out.
    """
    import mujoco

    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    mujoco.mj_forward(model, data)
    G = mujoco.mjtGeom
    p0, p1, radius = [], [], []
    for g in range(model.ngeom):
        kind, size = int(model.geom_type[g]), model.geom_size[g]
        centre, axes = data.geom_xpos[g], data.geom_xmat[g].reshape(3, 3)
        if kind in (int(G.mjGEOM_CAPSULE), int(G.mjGEOM_CYLINDER)):
            half, r = axes[:, 2] * size[1], size[0]
        elif kind == int(G.mjGEOM_BOX):
            i = int(np.argmax(size))
            half, r = axes[:, i] * size[i], float(np.sort(size)[1])
        elif kind in (int(G.mjGEOM_SPHERE), int(G.mjGEOM_ELLIPSOID)):
            half, r = np.zeros(3), float(size[0])
        else:
            continue
        p0.append(centre - half), p1.append(centre + half), radius.append(r)
    return np.array(p0).reshape(-1, 3), np.array(p1).reshape(-1, 3), np.array(radius)


def projection(p0: np.ndarray, p1: np.ndarray, radius: np.ndarray, centre_x: float, width: int = WIDTH,
               height: int = HEIGHT, span: float = 3.0) -> np.ndarray:
    """Side view (x right, z up) of segments ``p0, p1 [G, 3]`` of ``radius [G]`` (drawn back to front in y).

    The view is ``span`` world units wide, centred on ``centre_x``; the ground
    (``z = 0``) is a line with ticks every half unit, so motion shows against it.
    """
    half = span / 2
    zlo = min(-0.2, float(np.minimum(p0[:, 2], p1[:, 2]).min(initial=0.0)) - 0.2)
    cv = Canvas(width, height, (centre_x - half, centre_x + half), (zlo, zlo + span * height / width),
                background=(235, 240, 245))
    cv.line([(centre_x - half, 0.0), (centre_x + half, 0.0)], (90, 90, 90), 2)
    for t in np.arange(np.floor(2 * (centre_x - half)), np.ceil(2 * (centre_x + half)) + 1) / 2:
        cv.line([(t, 0.0), (t, -0.06)], (90, 90, 90), 1)
    depth = (p0[:, 1] + p1[:, 1]) / 2
    for g in np.argsort(-depth):  # far (large y: the camera looks along +y) first
        shade = int(np.clip(120 + 60 * depth[g] / max(np.abs(depth).max(), 1e-9), 60, 180))
        colour = (shade // 2, shade // 2 + 20, shade + 60)
        a, b, r = p0[g, [0, 2]], p1[g, [0, 2]], max(float(radius[g]), 0.01)
        cv.line([a, b], colour, 2 * r * cv.scale)
        cv.circle(a, r, colour)
        cv.circle(b, r, colour)
    return cv.to_array()


def render_brax(env: Any, state: Any, params: Any, renderer: str = "auto") -> np.ndarray:
    """Frame of a :class:`~jaxrl.envs.control.BraxEnv` state; ``renderer`` in :data:`RENDERERS`."""
    global _gl_failed
    if renderer not in RENDERERS:
        raise ValueError(f"unknown brax renderer {renderer!r}; choose one of {RENDERERS}")
    ps = state.brax_state.pipeline_state
    sys = env.brax_env.sys
    if renderer in ("auto", "mujoco") and getattr(sys, "mj_model", None) is not None:
        if renderer == "mujoco" or _gl_failed is None:
            try:
                cached = _renderers.get(env)
                if cached is None:
                    cached = _renderers[env] = MujocoRenderer(sys.mj_model)
                return cached(np.asarray(ps.q, np.float64))
            except Exception as e:  # no OpenGL library or display: fall back to the projection
                if renderer == "mujoco":
                    raise RuntimeError(f"{env.name}: MuJoCo's offscreen renderer is unavailable: {e}") from e
                _gl_failed = f"{type(e).__name__}: {e}"
                warnings.warn(f"brax render: no headless OpenGL ({_gl_failed}); drawing a projection of body "
                              "positions instead", RuntimeWarning, stacklevel=2)
    if getattr(sys, "mj_model", None) is None:
        raise NotImplementedError(f"{env.name}: rendering needs the brax system's MuJoCo model (sys.mj_model)")
    p0, p1, radius = _segments(sys.mj_model, np.asarray(ps.q, np.float64))
    return projection(p0, p1, radius, float(np.asarray(ps.x.pos)[0, 0]))
