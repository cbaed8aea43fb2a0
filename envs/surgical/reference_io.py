"""NumPy readers of the originals' asset files (Surgical Gym's USD joint tables, SurRoL's URDFs).

Used to derive the numbers in :mod:`reference` and, in the tests, to recompute them from
``../shared/reference/surgical`` and to run independent forward kinematics for parity checks.
No JAX here: these are plain, slow, readable reference implementations.

USD joint convention (Surgical Gym, ``*_joints.json``): the pose of a child body is
``parent @ T(local_pos0, local_rot0) @ motion(q) @ inv(T(local_pos1, local_rot1))``; ``motion`` is a
rotation of ``q`` rad about, or a translation of ``q`` m along, the joint's local ``axis``;
quaternions are ``(w, x, y, z)``; revolute limits are in degrees in the file.

URDF convention (SurRoL): ``child = parent @ T(origin xyz, rpy) @ motion(q about/along axis)``
with ``rpy`` as fixed-axis roll-pitch-yaw (``R = Rz(y) Ry(p) Rx(r)``); ``globalScaling`` multiplies
every translation (and prismatic ``q`` in SurRoL's convention, see ``Arm.get_current_joint_position``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

_AXIS = {"X": 0, "Y": 1, "Z": 2}


def quat_wxyz_to_rot(q: Any) -> np.ndarray:
    """Unit quaternion ``(w, x, y, z)`` -> rotation matrix ``[3, 3]`` (normalised first)."""
    w, x, y, z = np.asarray(q, np.float64) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def rpy_to_rot(rpy: Any) -> np.ndarray:
    """URDF/PyBullet fixed-axis ``(roll, pitch, yaw)`` -> ``Rz(yaw) Ry(pitch) Rx(roll)`` ``[3, 3]``."""
    r, p, y = rpy
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def pose(R: np.ndarray, p: Any) -> np.ndarray:
    """``[4, 4]`` homogeneous transform from ``R [3, 3]`` and ``p [3]``."""
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, p
    return T


def axis_motion(kind: str, axis: np.ndarray, q: float) -> np.ndarray:
    """``[4, 4]`` joint motion: rotation by ``q`` about unit ``axis`` (Rodrigues) or translation along it."""
    T = np.eye(4)
    if kind == "revolute":
        K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        T[:3, :3] = np.eye(3) + np.sin(q) * K + (1 - np.cos(q)) * K @ K
    elif kind == "prismatic":
        T[:3, 3] = q * axis
    return T


# --------------------------------------------------------------------------- Surgical Gym (USD)
def usd_joints(path: str | Path) -> list[dict]:
    """Joints of a ``*_joints.json`` file ordered parents-first (depth-first from the world root).

    This order is the articulation's DOF order for the moving joints (PhysX numbers the links of
    a fixed-base articulation depth-first from the root; both chains here are serial but for the
    two PSM jaws, which keep the file's order). Each entry gains ``axis_vec`` ([3]) and
    ``lower``/``upper`` in SI units (rad, m).
    """
    raw = json.loads(Path(path).read_text())["joints"]
    by_parent: dict[Any, list[dict]] = {}
    for j in raw:
        by_parent.setdefault(j["body0"], []).append(j)
    out: list[dict] = []

    def visit(body: Any) -> None:
        for j in by_parent.get(body, []):
            j = dict(j)
            e = np.zeros(3)
            e[_AXIS[j.get("axis", "X")]] = 1.0
            j["axis_vec"] = e
            lo, hi = j.get("lower", 0.0), j.get("upper", 0.0)
            if j["type"] == "revolute":
                lo, hi = np.deg2rad(lo), np.deg2rad(hi)
            j["lower"], j["upper"] = float(lo), float(hi)
            out.append(j)
            visit(j["body1"])

    visit(None)
    if len(out) != len(raw):
        raise ValueError(f"{path}: {len(raw) - len(out)} joints are not connected to the world root")
    return out


def usd_fk(joints: list[dict], q: dict[str, float], root: np.ndarray) -> dict[str, np.ndarray]:
    """World poses ``[4, 4]`` of every body for joint values ``q`` (by joint name; missing = 0)."""
    poses: dict[Any, np.ndarray] = {None: root}
    for j in joints:
        A = pose(quat_wxyz_to_rot(j["local_rot0_wxyz"]), j["local_pos0"])
        B = pose(quat_wxyz_to_rot(j["local_rot1_wxyz"]), j["local_pos1"])
        M = axis_motion(j["type"], j["axis_vec"], q.get(j["name"], 0.0))
        poses[j["body1"]] = poses[j["body0"]] @ A @ M @ np.linalg.inv(B)
    poses.pop(None)
    return poses


# --------------------------------------------------------------------------- SurRoL (URDF)
def _floats(s: str | None, n: int = 3) -> np.ndarray:
    return np.zeros(n) if s is None else np.array([float(v) for v in s.split()])


def urdf_joints(path: str | Path) -> list[dict]:
    """Joints of a URDF in file order (PyBullet's link order): name, type, parent, child, origin, axis."""
    root = ET.parse(str(path)).getroot()
    out = []
    for j in root.findall("joint"):
        o, a = j.find("origin"), j.find("axis")
        out.append(
            dict(
                name=j.get("name"),
                type=j.get("type"),
                parent=j.find("parent").get("link"),
                child=j.find("child").get("link"),
                xyz=_floats(None if o is None else o.get("xyz")),
                rpy=_floats(None if o is None else o.get("rpy")),
                axis=_floats(None if a is None else a.get("xyz")) if a is not None else np.array([1.0, 0, 0]),
            )
        )
    return out


def urdf_fk(
    joints: list[dict], q: dict[str, float], base: np.ndarray | None = None, scale: float = 1.0
) -> dict[str, np.ndarray]:
    """World poses ``[4, 4]`` of every link (PyBullet link frames = joint frames) for ``q`` by joint name.

    ``scale`` is PyBullet's ``globalScaling`` (translations and prismatic travel scaled).
    """
    base = np.eye(4) if base is None else base
    poses: dict[str, np.ndarray] = {}
    parents = {j["child"] for j in joints}
    for j in joints:
        if j["parent"] not in parents:
            poses.setdefault(j["parent"], base)
    pending = list(joints)
    while pending:
        rest = []
        for j in pending:
            if j["parent"] not in poses:
                rest.append(j)
                continue
            qi = q.get(j["name"], 0.0) * (scale if j["type"] == "prismatic" else 1.0)
            kind = "revolute" if j["type"] in ("revolute", "continuous") else j["type"]
            poses[j["child"]] = (
                poses[j["parent"]] @ pose(rpy_to_rot(j["rpy"]), scale * j["xyz"]) @ axis_motion(kind, j["axis"], qi)
            )
        if len(rest) == len(pending):
            raise ValueError("URDF joints do not form a tree")
        pending = rest
    return poses


def urdf_box_size(path: str | Path, link: str = "baseLink") -> np.ndarray:
    """Size ``[3]`` of the first collision box of ``link`` (m)."""
    root = ET.parse(str(path)).getroot()
    for ln in root.findall("link"):
        if ln.get("name") == link:
            box = ln.find("collision/geometry/box")
            if box is not None:
                return _floats(box.get("size"))
    raise ValueError(f"{path}: no collision box on link {link!r}")
