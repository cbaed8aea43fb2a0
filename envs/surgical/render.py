"""RGB frames and episode GIFs for the surgical family (host-side numpy + PIL, not jitted).

Each task describes its scene as 3-D line segments and spheres (robot links, tool, objects,
goal, workspace); a virtual pinhole camera projects them and PIL paints them far-to-near.
ECM camera tasks add an inset with the endoscope's own view (target, table grid, image centre).

>>> frame = render_frame(env, state, params)              # [H, W, 3] uint8; also env.render(state, params)

Episodes and GIFs go through the shared :func:`jaxrl.render.rollout_frames` and
:func:`jaxrl.render.save_gif` (``render_fn=lambda s, p: render_frame(env, s, p, width=.., height=..)``
for another size).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageDraw

from jaxrl.envs.surgical import kinematics as kin

RED, GREEN, BLUE, GREY, WHITE = (230, 60, 50), (60, 190, 90), (70, 120, 230), (150, 150, 150), (235, 235, 235)
ORANGE, YELLOW, DARK = (240, 150, 40), (240, 220, 60), (90, 90, 90)
BACKGROUND = (25, 28, 35)


class Scene:
    """Lines ``(p0 [3], p1 [3], rgb, width)`` and spheres ``(centre [3], radius, rgb)`` in world units."""

    def __init__(self) -> None:
        self.lines: list[tuple[np.ndarray, np.ndarray, tuple, int]] = []
        self.spheres: list[tuple[np.ndarray, float, tuple]] = []

    def polyline(self, pts: Any, rgb: tuple, width: int = 3) -> None:
        pts = np.asarray(pts, np.float64)
        for a, b in zip(pts[:-1], pts[1:], strict=True):
            self.lines.append((a, b, rgb, width))

    def sphere(self, c: Any, r: float, rgb: tuple) -> None:
        self.spheres.append((np.asarray(c, np.float64), float(r), rgb))

    def box(self, lo: Any, hi: Any, rgb: tuple = DARK) -> None:
        lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
        c = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        for i in range(8):
            for j in range(i + 1, 8):
                if np.sum(np.abs(c[i] - c[j]) > 1e-12) == 1:
                    self.lines.append((c[i], c[j], rgb, 1))

    def grid(self, centre: Any, half: float, z: float, n: int = 8, rgb: tuple = DARK) -> None:
        cx, cy = float(centre[0]), float(centre[1])
        for t in np.linspace(-half, half, n + 1):
            self.lines.append((np.array([cx + t, cy - half, z]), np.array([cx + t, cy + half, z]), rgb, 1))
            self.lines.append((np.array([cx - half, cy + t, z]), np.array([cx + half, cy + t, z]), rgb, 1))


def _np(x: Any) -> np.ndarray:
    return np.asarray(jax.device_get(x), np.float64)


def _look_at(eye: Any, target: Any) -> np.ndarray:
    return _np(kin.look_at(jnp.asarray(eye, jnp.float32), jnp.asarray(target, jnp.float32)))


def _project(pts: np.ndarray, world_T_cam: np.ndarray, fov_deg: float, aspect: float):
    R, t = world_T_cam[:3, :3], world_T_cam[:3, 3]
    pc = (pts - t) @ R
    f = 1.0 / np.tan(np.deg2rad(fov_deg) / 2)
    z = np.where(np.abs(pc[..., 2]) < 1e-9, 1e-9, pc[..., 2])
    return np.stack([pc[..., 0] * f / (z * aspect), pc[..., 1] * f / z], -1), pc[..., 2]


def draw(scene: Scene, world_T_cam: np.ndarray, width: int, height: int, fov_deg: float = 45.0) -> np.ndarray:
    """Paint ``scene`` seen from ``world_T_cam`` into an ``[height, width, 3]`` uint8 image."""
    img = Image.new("RGB", (width, height), BACKGROUND)
    dr = ImageDraw.Draw(img)
    aspect = width / height
    to_px = lambda uv: ((uv[0] + 1) * width / 2, (uv[1] + 1) * height / 2)  # noqa: E731
    items = []
    for a, b, rgb, w in scene.lines:
        uv, z = _project(np.stack([a, b]), world_T_cam, fov_deg, aspect)
        if np.all(z > 1e-3):
            items.append((float(z.mean()), "l", (to_px(uv[0]), to_px(uv[1])), rgb, w))
    f = 1.0 / np.tan(np.deg2rad(fov_deg) / 2)
    for c, r, rgb in scene.spheres:
        uv, z = _project(c[None], world_T_cam, fov_deg, aspect)
        if z[0] > 1e-3:
            pr = max(2.0, r * f / z[0] * height / 2)
            items.append((float(z[0]), "s", (to_px(uv[0]), pr), rgb, 0))
    for _, kind, geo, rgb, w in sorted(items, key=lambda it: -it[0]):
        if kind == "l":
            dr.line([geo[0], geo[1]], fill=rgb, width=w)
        else:
            (x, y), pr = geo
            dr.ellipse([x - pr, y - pr, x + pr, y + pr], fill=rgb, outline=WHITE)
    return np.asarray(img)


# --------------------------------------------------------------------------- scenes
def _arm_scene(env: Any, s: Any, p: Any) -> Scene:
    from jaxrl.envs.surgical import arms, joint_fk

    sc = Scene()
    q = jnp.asarray(s.q, jnp.float32)
    goal, tip = _np(env.goal(s, p)), _np(env.tip(s, p))
    if env.robot.name == "STAR":
        T = _np(kin.iiwa_fk(q[:7]))
        R, t = arms.STAR_ROOT[:3, :3], arms.STAR_ROOT[:3, 3]
        pts = np.concatenate([[t], T[:, :3, 3] @ R.T + t, [tip]])
        sc.polyline(pts[:-1], GREY, 6)
        sc.polyline(pts[-2:], ORANGE, 3)  # endoscope
        sc.grid(t, 0.6, t[2], rgb=DARK)
    else:
        tree, root = (arms.PSM_TREE, arms.PSM_ROOT) if env.robot.name == "PSM" else (arms.ECM_TREE, arms.ECM_ROOT)
        links = _np(joint_fk.pose_matrices(tree, q, root))[:, :3, 3]  # body origins, parents first
        for k, parent in enumerate(tree.parent):
            if parent >= 0:
                sc.polyline([links[parent], links[k]], GREY, 5)
        tool = links[
            tree.body_index(env.robot.name.lower() + ("_tool_roll_link" if env.robot.name == "PSM" else "_tool_link"))
        ]
        sc.polyline([tool, tip], ORANGE if env.robot.name == "PSM" else BLUE, 3)
    sc.sphere(goal, 0.015, RED)
    sc.sphere(tip, 0.008, WHITE)
    return sc


def _psm_task_scene(env: Any, s: Any, p: Any) -> Scene:
    sc = Scene()
    lo, hi = _np(p.ws_low), _np(p.ws_high)
    sc.box(lo, hi)
    sc.grid((lo + hi) / 2, (hi[0] - lo[0]) * 0.8, float(p.rest_z) - 0.02 * float(p.scale))
    eef, tip = _np(s.eef), _np(env.tip(s, p))
    sc.polyline([eef + np.array([0.0, 0.0, 0.5]), eef], GREY, 5)
    jaw = float(s.jaw)
    yaw = float(s.yaw)
    side = np.array([np.cos(yaw), np.sin(yaw), 0.0]) * (0.01 + 0.03 * np.sin(jaw))
    sc.polyline([eef, tip + side], ORANGE, 3)
    sc.polyline([eef, tip - side], ORANGE, 3)
    if env.task.has_object:
        if env.task.peg:
            for peg in _np(p.pegs):
                sc.polyline([peg, peg + np.array([0.0, 0.0, 0.07])], DARK, 3)
        obj, wp = _np(s.obj_pos), _np(env.waypoint(s, p))
        sc.sphere(obj, 0.02, GREEN if bool(s.grasped) else BLUE)
        sc.polyline([obj, wp], BLUE, 2)
    sc.sphere(_np(s.goal), 0.0125, RED)
    return sc


def _ecm_task_scene(env: Any, s: Any, p: Any) -> Scene:
    sc = Scene()
    cam = _np(env.camera_world(s.q, p))
    rcm, pos, axis = _np(p.rcm_pos), cam[:3, 3], cam[:3, 2]
    sc.polyline([rcm - 0.3 * axis, pos], GREY, 5)
    sc.sphere(rcm, 0.01, YELLOW)
    centre = (_np(p.ws_low) + _np(p.ws_high)) / 2
    if env.task_name == "CameraReach":
        sc.box(_np(p.ws_low), _np(p.ws_high))
        sc.sphere(_np(s.target), 0.008, RED)
    else:
        sc.grid(centre, 0.7, 0.0, n=10)
        sc.sphere(_np(s.target), 0.04, RED)
        t = np.tan(np.deg2rad(float(p.fov_deg)) / 2)
        for sx, sy in ((1, 1), (1, -1), (-1, -1), (-1, 1)):  # view frustum
            ray = cam[:3, :3] @ np.array([sx * t, sy * t, 1.0])
            hit = pos + ray * (-pos[2] / ray[2] if ray[2] < -1e-6 else 1.5)
            sc.polyline([pos, hit], BLUE, 1)
    return sc


def _inset(env: Any, s: Any, p: Any, size: int) -> np.ndarray:
    """What the endoscope sees: table grid and target; a cross marks the image centre."""
    sc = Scene()
    sc.grid((_np(p.ws_low) + _np(p.ws_high)) / 2, 1.0, 0.0, n=12, rgb=GREY)
    if env.task_name != "CameraReach":
        sc.sphere(_np(s.target), 0.04, RED)
    img = draw(sc, _np(env.camera_world(s.q, p)), size, size, float(p.fov_deg))
    img = img.copy()
    m = size // 2
    img[m, m - 6 : m + 7] = WHITE
    img[m - 6 : m + 7, m] = WHITE
    return img


_FOV = 45.0
_VIEW_DIR = np.array([1.0, -1.2, 0.8]) / np.linalg.norm([1.0, -1.2, 0.8])


def _frame(sc: Scene) -> tuple[np.ndarray, np.ndarray]:
    """Look-at target and eye that fit every point of the scene (bounding sphere in the view cone)."""
    pts = [a for a, _, _, _ in sc.lines] + [b for _, b, _, _ in sc.lines] + [c for c, _, _ in sc.spheres]
    pts = np.stack(pts)
    lo, hi = pts.min(0), pts.max(0)
    centre = (lo + hi) / 2
    radius = max(float(np.linalg.norm(hi - lo)) / 2, 1e-3)
    return centre, centre + _VIEW_DIR * radius / np.sin(np.deg2rad(_FOV) / 2) * 1.05


def render_frame(env: Any, state: Any, params: Any, width: int = 320, height: int = 240) -> np.ndarray:
    """An RGB frame ``[height, width, 3]`` uint8 of one (unbatched) state."""
    from jaxrl.envs.surgical.arms import ArmTask
    from jaxrl.envs.surgical.surrol_ecm import ECMTask
    from jaxrl.envs.surgical.surrol_psm import PSMTask

    env = getattr(env, "unwrapped", env)
    if isinstance(env, ArmTask):
        sc = _arm_scene(env, state, params)
    elif isinstance(env, PSMTask):
        sc = _psm_task_scene(env, state, params)
    elif isinstance(env, ECMTask):
        sc = _ecm_task_scene(env, state, params)
    else:
        raise TypeError(f"render_frame supports the surgical family's environments, got {env!r}")
    centre, eye = _frame(sc)
    img = draw(sc, _look_at(eye, centre), width, height, _FOV)
    if isinstance(env, ECMTask):
        size = height // 3
        img = img.copy()
        img[4 : 4 + size, width - size - 4 : width - 4] = _inset(env, state, params, size)
    return img
