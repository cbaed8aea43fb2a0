"""Closed-form kinematics of the da Vinci PSM / ECM and the KUKA iiwa (STAR), plus a pinhole camera.

Conventions
-----------
* Modified (Craig) DH, as SurRoL and the dVRK use:
  ``T_i = RotX(alpha_i) TransX(a_i) RotZ(theta_i) TransZ(d_i)``; a revolute joint adds ``q`` to
  ``theta``, a prismatic joint adds ``q`` to ``d``.
* Standard DH for the iiwa: ``T_i = RotZ(theta_i) TransZ(d_i) TransX(a_i) RotX(alpha_i)``.
* Frames are returned as ``[n, 4, 4]`` stacks ``base_T_i`` (base = the RCM frame for PSM/ECM).
* Camera frame: ``z`` forward along the optical axis, ``x`` right, ``y`` down (OpenCV).
  :func:`project` returns normalised image coordinates in ``[-1, 1]`` at the image border
  (``u = x / (z tan(fov/2) aspect)``, ``v = y / (z tan(fov/2))``).

All functions are pure ``jnp`` and work under ``jit``/``vmap``; DH tables are pytrees so link
lengths can be randomised.

The RCM arms (PSM, ECM) share a closed form used by the SurRoL ECM tasks' inverse kinematics
(checked against the DH chain in the tests): with yaw ``q0`` and pitch ``q1`` the tool shaft direction in the RCM
frame is ``(sin q0 cos q1, -sin q1, -cos q0 cos q1)`` and every point of the shaft is
``depth * shaft``: the shaft passes through the RCM for any joints.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class DH(NamedTuple):
    """A DH table; each field is ``[n]``. ``theta``/``d`` hold the joint offsets."""

    a: jax.Array
    alpha: jax.Array
    d: jax.Array
    theta: jax.Array


def _dh(a, alpha, d, theta) -> DH:
    f = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    return DH(f(a), f(alpha), f(d), f(theta))


_PI2 = np.pi / 2
# dVRK PSM (SurRoL robots/psm.py): joints yaw, pitch, insertion (P), roll, wrist pitch, wrist yaw.
PSM_DH = _dh(
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0091],
    [_PI2, -_PI2, _PI2, 0.0, -_PI2, -_PI2],
    [0.0, 0.0, -0.4318, 0.4162, 0.0, 0.0],
    [_PI2, -_PI2, 0.0, 0.0, -_PI2, -_PI2],
)
PSM_PRISMATIC = (False, False, True, False, False, False)
PSM_LIMITS = (
    np.deg2rad([-91.0, -53.0, 0.0, -260.0, -80.0, -80.0]).astype(np.float32),
    np.deg2rad([91.0, 53.0, 0.0, 260.0, 80.0, 80.0]).astype(np.float32),
)
PSM_LIMITS[1][2] = 0.24  # insertion (m)
# Tool tip in the wrist-yaw frame: dVRK large needle driver, 0.0102 m along the jaw (SurRoL's rotation).
PSM_TOOL_T_TIP = np.array(
    [[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0102], [-1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]], np.float32
)

# dVRK ECM (SurRoL robots/ecm.py): yaw, pitch, insertion (P), roll.
ECM_DH = _dh([0.0] * 4, [_PI2, -_PI2, _PI2, 0.0], [0.0, 0.0, -0.3822, 0.3829], [_PI2, -_PI2, 0.0, 0.0])
ECM_PRISMATIC = (False, False, True, False)
ECM_LIMITS = (
    np.array([np.deg2rad(-90.0), np.deg2rad(-45.0), -0.01, -np.pi], np.float32),
    np.array([np.deg2rad(90.0), np.deg2rad(66.4), 0.254, np.pi], np.float32),
)
ECM_FOV_DEG = 60.0

# KUKA LBR iiwa 7 R800, standard DH (published); STAR's arm.
IIWA_DH = _dh(
    [0.0] * 7, [-_PI2, _PI2, _PI2, -_PI2, -_PI2, _PI2, 0.0], [0.34, 0.0, 0.40, 0.0, 0.40, 0.0, 0.126], [0.0] * 7
)
IIWA_LIMITS = (
    -np.deg2rad([170.0, 120.0, 170.0, 120.0, 170.0, 120.0, 175.0]).astype(np.float32),
    np.deg2rad([170.0, 120.0, 170.0, 120.0, 170.0, 120.0, 175.0]).astype(np.float32),
)


# --------------------------------------------------------------------------- elementary transforms
def mdh_transform(a: jax.Array, alpha: jax.Array, d: jax.Array, theta: jax.Array) -> jax.Array:
    """``RotX(alpha) TransX(a) RotZ(theta) TransZ(d)`` -> ``[4, 4]``."""
    ca, sa, ct, st = jnp.cos(alpha), jnp.sin(alpha), jnp.cos(theta), jnp.sin(theta)
    z, o = jnp.zeros_like(ct), jnp.ones_like(ct)
    return jnp.stack(
        [
            jnp.stack([ct, -st, z, a + z]),
            jnp.stack([st * ca, ct * ca, -sa + z, -sa * d]),
            jnp.stack([st * sa, ct * sa, ca + z, ca * d]),
            jnp.stack([z, z, z, o]),
        ]
    )


def sdh_transform(a: jax.Array, alpha: jax.Array, d: jax.Array, theta: jax.Array) -> jax.Array:
    """``RotZ(theta) TransZ(d) TransX(a) RotX(alpha)`` -> ``[4, 4]``."""
    ca, sa, ct, st = jnp.cos(alpha), jnp.sin(alpha), jnp.cos(theta), jnp.sin(theta)
    z, o = jnp.zeros_like(ct), jnp.ones_like(ct)
    return jnp.stack(
        [
            jnp.stack([ct, -st * ca, st * sa, a * ct]),
            jnp.stack([st, ct * ca, -ct * sa, a * st]),
            jnp.stack([z, sa + z, ca + z, d + z]),
            jnp.stack([z, z, z, o]),
        ]
    )


def chain(q: jax.Array, dh: DH, prismatic: tuple[bool, ...], modified: bool = True) -> jax.Array:
    """Forward kinematics of a serial chain: ``q [n]`` -> frames ``base_T_i [n, 4, 4]``."""
    n = len(prismatic)
    if q.shape[-1] != n:
        raise ValueError(f"chain has {n} joints, got q of shape {q.shape}")
    mask = jnp.asarray(prismatic)
    theta = dh.theta + jnp.where(mask, 0.0, q)
    d = dh.d + jnp.where(mask, q, 0.0)
    fn = mdh_transform if modified else sdh_transform
    T = jnp.eye(4, dtype=jnp.float32)
    frames = []
    for i in range(n):
        T = T @ fn(dh.a[i], dh.alpha[i], d[i], theta[i])
        frames.append(T)
    return jnp.stack(frames)


def psm_fk(q: jax.Array, dh: DH = PSM_DH) -> jax.Array:
    """PSM frames ``rcm_T_i [6, 4, 4]`` for DH joints ``q [6]`` (yaw, pitch, insertion, roll, pitch, yaw)."""
    return chain(q, dh, PSM_PRISMATIC)


def psm_tip_pose(q: jax.Array, dh: DH = PSM_DH, tool_T_tip: jax.Array = PSM_TOOL_T_TIP) -> jax.Array:
    """Jaw-tip pose ``rcm_T_tip [4, 4]``."""
    return psm_fk(q, dh)[-1] @ tool_T_tip


def ecm_fk(q: jax.Array, dh: DH = ECM_DH) -> jax.Array:
    """ECM frames ``rcm_T_i [4, 4, 4]`` for ``q [4]`` (yaw, pitch, insertion, roll)."""
    return chain(q, dh, ECM_PRISMATIC)


def iiwa_fk(q: jax.Array, dh: DH = IIWA_DH) -> jax.Array:
    """iiwa frames ``base_T_i [7, 4, 4]`` (standard DH)."""
    return chain(q, dh, (False,) * 7, modified=False)


def chain_end(q: jax.Array, dh: DH, prismatic: tuple[bool, ...], modified: bool = True) -> tuple[jax.Array, jax.Array]:
    """Last frame of :func:`chain` as ``(R [..., 3, 3], p [..., 3])``; ``q`` may have batch axes.

    Written with scalar (elementwise) arithmetic instead of 4x4 products: under ``vmap`` this
    stays one fused elementwise kernel, where a batched ``T @ T`` runs a tiny matmul per env.
    """
    n = len(prismatic)
    if q.shape[-1] != n:
        raise ValueError(f"chain has {n} joints, got q of shape {q.shape}")
    R: list = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    p: list = [0.0, 0.0, 0.0]
    for i in range(n):
        th = dh.theta[i] + (0.0 if prismatic[i] else q[..., i])
        d = dh.d[i] + (q[..., i] if prismatic[i] else 0.0)
        ct, st, ca, sa, a = jnp.cos(th), jnp.sin(th), jnp.cos(dh.alpha[i]), jnp.sin(dh.alpha[i]), dh.a[i]
        if modified:  # RotX(alpha) TransX(a) RotZ(th) TransZ(d)
            L = [[ct, -st, 0.0], [st * ca, ct * ca, -sa], [st * sa, ct * sa, ca]]
            t = [a, -sa * d, ca * d]
        else:  # RotZ(th) TransZ(d) TransX(a) RotX(alpha)
            L = [[ct, -st * ca, st * sa], [st, ct * ca, -ct * sa], [0.0, sa, ca]]
            t = [a * ct, a * st, d]
        p = [p[r] + R[r][0] * t[0] + R[r][1] * t[1] + R[r][2] * t[2] for r in range(3)]
        R = [[R[r][0] * L[0][c] + R[r][1] * L[1][c] + R[r][2] * L[2][c] for c in range(3)] for r in range(3)]
    batch = jnp.shape(q)[:-1]
    full = lambda x: jnp.broadcast_to(jnp.asarray(x, jnp.float32), batch)  # noqa: E731
    return (
        jnp.stack([jnp.stack([full(R[r][c]) for c in range(3)], -1) for r in range(3)], -2),
        jnp.stack([full(x) for x in p], -1),
    )


def _rz(c, s, v: list) -> list:
    return [c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]]


def _rx(c, s, v: list) -> list:
    return [v[0], c * v[1] - s * v[2], s * v[1] + c * v[2]]


def chain_point_axis(
    q: jax.Array, dh: DH, prismatic: tuple[bool, ...], modified: bool = True
) -> tuple[jax.Array, jax.Array]:
    """Origin ``[..., 3]`` and ``z`` axis ``[..., 3]`` of the last frame of :func:`chain`.

    Maps the point ``(0, 0, 0)`` and the direction ``(0, 0, 1)`` back through the joints, last
    first: two vectors per joint instead of a 3x3 product, about 2.5x fewer flops than
    :func:`chain_end` when only the tool position and axis are needed.
    """
    n = len(prismatic)
    if q.shape[-1] != n:
        raise ValueError(f"chain has {n} joints, got q of shape {q.shape}")
    p: list = [0.0, 0.0, 0.0]
    z: list = [0.0, 0.0, 1.0]
    for i in reversed(range(n)):
        th = dh.theta[i] + (0.0 if prismatic[i] else q[..., i])
        d = dh.d[i] + (q[..., i] if prismatic[i] else 0.0)
        ct, st, ca, sa, a = jnp.cos(th), jnp.sin(th), jnp.cos(dh.alpha[i]), jnp.sin(dh.alpha[i]), dh.a[i]
        if modified:  # RotX(alpha) TransX(a) RotZ(th) TransZ(d), applied right to left
            pz = _rz(ct, st, [p[0], p[1], p[2] + d])
            p = _rx(ca, sa, [pz[0] + a, pz[1], pz[2]])
            z = _rx(ca, sa, _rz(ct, st, z))
        else:  # RotZ(th) TransZ(d) TransX(a) RotX(alpha)
            px = _rx(ca, sa, p)
            p = _rz(ct, st, [px[0] + a, px[1], px[2] + d])
            z = _rz(ct, st, _rx(ca, sa, z))
    batch = jnp.shape(q)[:-1]
    full = lambda x: jnp.broadcast_to(jnp.asarray(x, jnp.float32), batch)  # noqa: E731
    return jnp.stack([full(x) for x in p], -1), jnp.stack([full(x) for x in z], -1)


def iiwa_flange(q: jax.Array, dh: DH = IIWA_DH) -> tuple[jax.Array, jax.Array]:
    """iiwa flange ``(R [3, 3], p [3])`` in the base frame."""
    return chain_end(q, dh, (False,) * 7, modified=False)


# --------------------------------------------------------------------------- RCM closed form
def rcm_shaft(yaw: jax.Array, pitch: jax.Array) -> jax.Array:
    """Unit tool-shaft direction ``[..., 3]`` in the RCM frame of a dVRK PSM/ECM."""
    cp = jnp.cos(pitch)
    return jnp.stack([jnp.sin(yaw) * cp, -jnp.sin(pitch), -jnp.cos(yaw) * cp], axis=-1)


def rcm_point(yaw: jax.Array, pitch: jax.Array, depth: jax.Array) -> jax.Array:
    """Point ``depth`` metres along the shaft from the RCM, ``[..., 3]``."""
    return depth[..., None] * rcm_shaft(yaw, pitch)


def rcm_ik(p: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Inverse of :func:`rcm_point` for ``depth > 0``: ``p [..., 3] -> (yaw, pitch, depth)``."""
    depth = jnp.linalg.norm(p, axis=-1)
    u = p / jnp.maximum(depth, 1e-9)[..., None]
    pitch = -jnp.arcsin(jnp.clip(u[..., 1], -1.0, 1.0))
    yaw = jnp.arctan2(u[..., 0], -u[..., 2])
    return yaw, pitch, depth


# --------------------------------------------------------------------------- rotations
def rot_x(t: jax.Array) -> jax.Array:
    c, s = jnp.cos(t), jnp.sin(t)
    o, z = jnp.ones_like(c), jnp.zeros_like(c)
    return jnp.stack([jnp.stack([o, z, z]), jnp.stack([z, c, -s]), jnp.stack([z, s, c])])


def rot_y(t: jax.Array) -> jax.Array:
    c, s = jnp.cos(t), jnp.sin(t)
    o, z = jnp.ones_like(c), jnp.zeros_like(c)
    return jnp.stack([jnp.stack([c, z, s]), jnp.stack([z, o, z]), jnp.stack([-s, z, c])])


def rot_z(t: jax.Array) -> jax.Array:
    c, s = jnp.cos(t), jnp.sin(t)
    o, z = jnp.ones_like(c), jnp.zeros_like(c)
    return jnp.stack([jnp.stack([c, -s, z]), jnp.stack([s, c, z]), jnp.stack([z, z, o])])


def euler_to_rot(e: jax.Array) -> jax.Array:
    """PyBullet's convention: ``e = (roll, pitch, yaw)``, ``R = Rz(yaw) Ry(pitch) Rx(roll)``."""
    return rot_z(e[2]) @ rot_y(e[1]) @ rot_x(e[0])


def rot_to_euler(R: jax.Array) -> jax.Array:
    """Inverse of :func:`euler_to_rot` -> ``(roll, pitch, yaw)`` with pitch in ``[-pi/2, pi/2]``."""
    pitch = -jnp.arcsin(jnp.clip(R[2, 0], -1.0, 1.0))
    roll = jnp.arctan2(R[2, 1], R[2, 2])
    yaw = jnp.arctan2(R[1, 0], R[0, 0])
    return jnp.stack([roll, pitch, yaw])


def wrap_angle(x: jax.Array) -> jax.Array:
    """Map angles to ``[-pi, pi)``."""
    return (x + jnp.pi) % (2 * jnp.pi) - jnp.pi


def make_pose(R: jax.Array, p: jax.Array) -> jax.Array:
    top = jnp.concatenate([R, p[:, None]], axis=1)
    return jnp.concatenate([top, jnp.array([[0.0, 0.0, 0.0, 1.0]], R.dtype)], axis=0)


def invert_pose(T: jax.Array) -> jax.Array:
    R, p = T[:3, :3], T[:3, 3]
    return make_pose(R.T, -R.T @ p)


# --------------------------------------------------------------------------- camera
def look_at(eye: jax.Array, target: jax.Array, up: jax.Array | None = None) -> jax.Array:
    """``world_T_cam [4, 4]`` of a camera at ``eye`` looking at ``target`` (image y down; up defaults to +z)."""
    up = jnp.array([0.0, 0.0, 1.0]) if up is None else up
    eye, target, up = (jnp.asarray(v, jnp.float32) for v in (eye, target, up))
    z = target - eye
    z = z / jnp.linalg.norm(z)
    x = jnp.cross(z, up)
    x = x / jnp.maximum(jnp.linalg.norm(x), 1e-9)
    y = jnp.cross(z, x)
    return make_pose(jnp.stack([x, y, z], axis=1), eye)


def project(
    points: jax.Array, world_T_cam: jax.Array, fov_deg: float | jax.Array = ECM_FOV_DEG, aspect: float = 1.0
) -> tuple[jax.Array, jax.Array]:
    """Pinhole projection of world points ``[..., 3]``.

    Returns ``(uv [..., 2], depth [...])``: normalised image coordinates (``+-1`` at the border of a
    ``fov_deg`` vertical field of view; ``x`` right, ``y`` down) and the depth along the optical axis
    (``<= 0``: behind the camera, ``uv`` then meaningless).
    """
    R, t = world_T_cam[:3, :3], world_T_cam[:3, 3]
    pc = (points - t) @ R  # world -> camera: R^T (p - t), row-vector form
    depth = pc[..., 2]
    f = 1.0 / jnp.tan(jnp.deg2rad(fov_deg) / 2.0)
    safe = jnp.where(jnp.abs(depth) < 1e-9, 1e-9, depth)
    uv = jnp.stack([pc[..., 0] * f / (safe * aspect), pc[..., 1] * f / safe], axis=-1)
    return uv, depth
