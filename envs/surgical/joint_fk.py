"""General joint-frame forward kinematics in JAX, driven by a Surgical Gym joint table.

A :class:`JointTree` is built once (NumPy, static) from a tuple of :class:`reference.UsdJoint`
(parents first). For joint values ``q [n_dof]`` (articulation DOF order) the pose of every body is::

    child = parent @ T(pos0, rot0) @ motion(q) @ inv(T(pos1, rot1))

with ``motion`` a rotation about (revolute) or a translation along (prismatic) the joint's local axis;
fixed joints have no DOF. The composition is unrolled over the joints and written with scalar
arithmetic on 3x3 blocks (constants folded in, exact zeros skipped): under ``vmap`` it stays
elementwise work instead of thousands of tiny batched matmuls. Any leading batch axes of ``q``
broadcast.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs.surgical.reference import UsdJoint

Mat = list  # 3x3 nested list of scalars / arrays
Vec = list  # length-3 list


def quat_to_rot(q_wxyz) -> np.ndarray:
    """Unit quaternion ``(w, x, y, z)`` -> ``[3, 3]`` (float64, normalised)."""
    w, x, y, z = np.asarray(q_wxyz, np.float64) / np.linalg.norm(q_wxyz)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


@dataclass(frozen=True)
class JointTree:
    """Static kinematic tree: per joint the constant frames and its DOF index (-1: fixed)."""

    names: tuple[str, ...]
    bodies: tuple[str, ...]  # child body of each joint (same order)
    parent: tuple[int, ...]  # index of the parent body's joint in this table, -1: the root
    kind: tuple[str, ...]
    axis: tuple[int, ...]
    dof: tuple[int, ...]
    pre_R: tuple  # per joint [3, 3] floats: rot0
    pre_p: tuple  # [3]: pos0
    post_R: tuple  # [3, 3]: inv(rot1)
    post_p: tuple  # [3]: -inv(rot1) pos1
    lower: np.ndarray  # [n_dof] rad / m
    upper: np.ndarray  # [n_dof]

    @property
    def n_dof(self) -> int:
        return int(max(self.dof)) + 1

    def body_index(self, body: str) -> int:
        return self.bodies.index(body)


def build_tree(joints: tuple[UsdJoint, ...]) -> JointTree:
    """Static :class:`JointTree` from a parents-first joint table."""
    bodies = tuple(j.child for j in joints)
    parent, dof, lo, hi = [], [], [], []
    pre_R, pre_p, post_R, post_p = [], [], [], []
    n = 0
    for j in joints:
        if j.parent is not None and j.parent not in bodies[: len(parent)]:
            raise ValueError(f"joint {j.name}: parent body {j.parent} must come earlier in the table")
        parent.append(-1 if j.parent is None else bodies.index(j.parent))
        if j.type == "fixed":
            dof.append(-1)
        else:
            dof.append(n)
            n += 1
            lo.append(j.lower)
            hi.append(j.upper)
        R0, R1 = quat_to_rot(j.rot0), quat_to_rot(j.rot1)
        pre_R.append(tuple(map(tuple, R0)))
        pre_p.append(tuple(j.pos0))
        post_R.append(tuple(map(tuple, R1.T)))
        post_p.append(tuple(-R1.T @ np.asarray(j.pos1)))
    return JointTree(
        tuple(j.name for j in joints),
        bodies,
        tuple(parent),
        tuple(j.type for j in joints),
        tuple(j.axis for j in joints),
        tuple(dof),
        tuple(pre_R),
        tuple(pre_p),
        tuple(post_R),
        tuple(post_p),
        np.asarray(lo, np.float32),
        np.asarray(hi, np.float32),
    )


# --------------------------------------------------------------------------- scalar 3x3 algebra
def _mul(a, b):
    if isinstance(a, float) and a == 0.0 or isinstance(b, float) and b == 0.0:
        return 0.0
    if isinstance(a, float) and a == 1.0:
        return b
    if isinstance(b, float) and b == 1.0:
        return a
    return a * b


def _sum(terms):
    out = 0.0
    for t in terms:
        if not (isinstance(t, float) and t == 0.0):
            out = t if isinstance(out, float) and out == 0.0 else out + t
    return out


def _mm(A: Mat, B: Mat) -> Mat:
    return [[_sum(_mul(A[r][k], B[k][c]) for k in range(3)) for c in range(3)] for r in range(3)]


def _mv(A: Mat, v: Vec) -> Vec:
    return [_sum(_mul(A[r][k], v[k]) for k in range(3)) for r in range(3)]


def _add(a: Vec, b: Vec) -> Vec:
    return [_sum([a[i], b[i]]) for i in range(3)]


def _rot_axis(axis: int, q: jax.Array) -> Mat:
    c, s = jnp.cos(q), jnp.sin(q)
    i, j = [k for k in range(3) if k != axis]  # rotation acts in the (i, j) plane, axis fixed
    R: Mat = [[0.0] * 3 for _ in range(3)]
    R[axis][axis] = 1.0
    R[i][i], R[i][j], R[j][i], R[j][j] = c, -s, s, c
    return R


def _const(x) -> list:
    x = np.asarray(x, np.float64)
    return [[float(v) for v in r] for r in x] if x.ndim == 2 else [float(v) for v in x]


def body_poses(tree: JointTree, q: jax.Array, root_R: Mat, root_p: Vec) -> list[tuple[Mat, Vec]]:
    """World ``(R, p)`` (nested scalar lists) of every body in table order for ``q [..., n_dof]``."""
    if q.shape[-1] != tree.n_dof:
        raise ValueError(f"tree has {tree.n_dof} DOF, got q of shape {q.shape}")
    out: list[tuple[Mat, Vec]] = []
    for k in range(len(tree.names)):
        R_par, p_par = (root_R, root_p) if tree.parent[k] < 0 else out[tree.parent[k]]
        post_R, post_p = _const(tree.post_R[k]), _const(tree.post_p[k])
        if tree.kind[k] == "revolute":
            M = _rot_axis(tree.axis[k], q[..., tree.dof[k]])
            K_R, K_p = _mm(M, post_R), _mv(M, post_p)
        elif tree.kind[k] == "prismatic":
            K_R, K_p = post_R, list(post_p)
            K_p[tree.axis[k]] = _sum([K_p[tree.axis[k]], q[..., tree.dof[k]]])
        else:
            K_R, K_p = post_R, post_p
        pre_R = _const(tree.pre_R[k])
        L_R, L_p = _mm(pre_R, K_R), _add(_mv(pre_R, K_p), _const(tree.pre_p[k]))
        out.append((_mm(R_par, L_R), _add(_mv(R_par, L_p), p_par)))
    return out


def _stack(x: list, batch: tuple) -> jax.Array:
    full = lambda v: jnp.broadcast_to(jnp.asarray(v, jnp.float32), batch)  # noqa: E731
    if isinstance(x[0], list):
        return jnp.stack([jnp.stack([full(v) for v in row], -1) for row in x], -2)
    return jnp.stack([full(v) for v in x], -1)


def pose_matrices(tree: JointTree, q: jax.Array, root: np.ndarray | None = None) -> jax.Array:
    """World poses of every body as ``[..., n_bodies, 4, 4]`` (table order)."""
    root = np.eye(4) if root is None else np.asarray(root, np.float64)
    poses = body_poses(tree, q, _const(root[:3, :3]), _const(root[:3, 3]))
    batch = q.shape[:-1]
    mats = []
    for R, p in poses:
        top = jnp.concatenate([_stack(R, batch), _stack(p, batch)[..., None]], -1)
        bottom = jnp.broadcast_to(jnp.array([0.0, 0.0, 0.0, 1.0], jnp.float32), batch + (1, 4))
        mats.append(jnp.concatenate([top, bottom], -2))
    return jnp.stack(mats, -3)


def point_on_body(
    tree: JointTree,
    q: jax.Array,
    root: np.ndarray,
    origin_body: str,
    rot_body: str,
    offset: tuple[float, float, float],
) -> jax.Array:
    """``p(origin_body) + R(rot_body) @ offset`` in the world ``[..., 3]`` (Surgical Gym's tip rule)."""
    root = np.asarray(root, np.float64)
    poses = body_poses(tree, q, _const(root[:3, :3]), _const(root[:3, 3]))
    _, p = poses[tree.body_index(origin_body)]
    R, _ = poses[tree.body_index(rot_body)]
    return _stack(_add(p, _mv(R, _const(offset))), q.shape[:-1])
