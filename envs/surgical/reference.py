"""Kinematic and task facts of the originals, as data (derived from their own asset files).

Every number here was read from the files in ``../shared/reference/surgical`` (Surgical Gym's
``psm_joints.json`` / ``ecm_joints.json`` extracted from ``psm.usd`` / ``ecm.usd``, its task and
articulation code, and SurRoL's URDFs) by :mod:`reference_io`; ``tests/envs/surgical/test_surgical_reference.py``
recomputes them from those files when the folder exists (and skips otherwise).

Surgical Gym joint tables (:class:`UsdJoint`, parents first = the articulation's DOF order for the
moving joints): ``pos0``/``rot0`` (``w, x, y, z``) locate the joint frame in the parent body,
``pos1``/``rot1`` in the child body; the child pose is
``parent @ T(pos0, rot0) @ motion(q about/along axis) @ inv(T(pos1, rot1))``; limits in rad / m.
SurRoL values are in metres of the unscaled world unless named ``*_SIM`` (scaled by ``S = 5``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class UsdJoint(NamedTuple):
    """One joint of a Surgical Gym articulation (see the module docstring)."""

    name: str
    type: str  # "fixed", "revolute" or "prismatic"
    parent: str | None  # parent body (None: the world)
    child: str
    pos0: tuple[float, float, float]
    rot0: tuple[float, float, float, float]
    pos1: tuple[float, float, float]
    rot1: tuple[float, float, float, float]
    axis: int  # 0, 1, 2 = local x, y, z
    lower: float
    upper: float


PSM_JOINTS: tuple[UsdJoint, ...] = (
    UsdJoint(
        "root_joint",
        "fixed",
        None,
        "world",
        (0.0, 0.0, 0.0),
        (1.0, 0.0, 0.0, 0.0),
        (0.0, 0.0, 0.0),
        (1.0, 0.0, 0.0, 0.0),
        0,
        0.0,
        0.0,
    ),
    UsdJoint(
        "psm_rev_joint",
        "revolute",
        "world",
        "psm_base_link",
        (0.0, 0.0, 0.15240000188350677),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        0,
        -3.1415899904287032,
        3.1415899904287032,
    ),
    UsdJoint(
        "psm_yaw_joint",
        "revolute",
        "psm_base_link",
        "psm_yaw_link",
        (0.0, 0.0, 0.0),
        (-1.2516975402832031e-06, 0.7071080803871155, -0.7071055173873901, 1.3113021850585938e-06),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        0,
        -1.6049999704650568,
        1.5994000084828925,
    ),
    UsdJoint(
        "psm_pitch_back_joint",
        "revolute",
        "psm_yaw_link",
        "psm_pitch_back_link",
        (0.0, 0.0, 0.029600000008940697),
        (0.42229896783828735, -0.5671544075012207, -0.5671523213386536, 0.4223005175590515),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        0,
        -0.9355599688293481,
        0.9424899134598979,
    ),
    UsdJoint(
        "psm_pitch_bottom_joint",
        "revolute",
        "psm_pitch_back_link",
        "psm_pitch_bottom_link",
        (0.15000000596046448, 0.0, 0.0),
        (0.42230719327926636, 0.5671477913856506, -0.42230719327926636, 0.5671477913856506),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        0,
        -0.9424899134598979,
        0.9355599688293481,
    ),
    UsdJoint(
        "psm_pitch_end_joint",
        "revolute",
        "psm_pitch_bottom_link",
        "psm_pitch_end_link",
        (0.515999972820282, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        0,
        -0.9355599688293481,
        0.9424899134598979,
    ),
    UsdJoint(
        "psm_main_insertion_joint",
        "prismatic",
        "psm_pitch_end_link",
        "psm_main_insertion_link",
        (0.0430000014603138, -0.2880899906158447, 0.0),
        (0.7071055173873901, -1.2516975402832031e-06, -1.3113021850585938e-06, 0.7071080207824707),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        0,
        0.0,
        0.23999999463558197,
    ),
    UsdJoint(
        "psm_tool_roll_joint",
        "revolute",
        "psm_main_insertion_link",
        "psm_tool_roll_link",
        (0.0, 0.0, 0.41620001196861267),
        (0.49999910593032837, -0.5000008940696716, -0.49999910593032837, -0.5000008940696716),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        0,
        -3.1415899904287032,
        3.1415899904287032,
    ),
    UsdJoint(
        "psm_tool_pitch_joint",
        "revolute",
        "psm_tool_roll_link",
        "psm_tool_pitch_link",
        (0.0, 0.0, 0.0),
        (1.3113021850585938e-06, 0.7071080207824707, -0.7071055173873901, -1.2516975402832031e-06),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        0,
        -1.5707999220623683,
        1.5707999220623683,
    ),
    UsdJoint(
        "psm_tool_yaw_joint",
        "revolute",
        "psm_tool_pitch_link",
        "psm_tool_yaw_link",
        (0.009100000374019146, 0.0, 0.0),
        (-1.3113021850585938e-06, 0.70710289478302, 0.707110583782196, -1.2814998626708984e-06),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        0,
        -1.5707999220623683,
        1.5707999220623683,
    ),
    UsdJoint(
        "psm_tool_gripper1_joint",
        "revolute",
        "psm_tool_yaw_link",
        "psm_tool_gripper1_link",
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        0,
        0.0,
        0.9999999450937774,
    ),
    UsdJoint(
        "psm_tool_gripper2_joint",
        "revolute",
        "psm_tool_yaw_link",
        "psm_tool_gripper2_link",
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        0,
        0.0,
        0.9999999450937774,
    ),
)
ECM_JOINTS: tuple[UsdJoint, ...] = (
    UsdJoint(
        "root_joint",
        "fixed",
        None,
        "world",
        (0.0, 0.0, 0.0),
        (1.0, 0.0, 0.0, 0.0),
        (0.0, 0.0, 0.0),
        (1.0, 0.0, 0.0, 0.0),
        0,
        0.0,
        0.0,
    ),
    UsdJoint(
        "fixed_joint",
        "fixed",
        "world",
        "ecm_base_link",
        (0.0, 0.0, 1.0),
        (1.0, 0.0, 0.0, 0.0),
        (0.0, 0.0, 0.0),
        (1.0, 0.0, 0.0, 0.0),
        0,
        0.0,
        0.0,
    ),
    UsdJoint(
        "ecm_yaw_joint",
        "revolute",
        "ecm_base_link",
        "ecm_yaw_link",
        (0.07320000231266022, 0.0, 0.10146000236272812),
        (0.7071067094802856, 0.7071067094802856, 0.0, 0.0),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        0,
        -1.5951828928967522,
        1.581732864127416,
    ),
    UsdJoint(
        "ecm_pitch_front_joint",
        "revolute",
        "ecm_yaw_link",
        "ecm_pitch_front_link",
        (0.0, 0.0, 0.19900000095367432),
        (0.0, 0.9999996423721313, -0.0007962742238305509, 0.0),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        0,
        -0.7837099855824471,
        1.1576569510975963,
    ),
    UsdJoint(
        "ecm_pitch_bottom_joint",
        "revolute",
        "ecm_pitch_front_link",
        "ecm_pitch_bottom_link",
        (-0.10300086438655853, -0.28680500388145447, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        0,
        -1.1576569510975963,
        0.7837099855824471,
    ),
    UsdJoint(
        "ecm_pitch_end_joint",
        "revolute",
        "ecm_pitch_bottom_link",
        "ecm_pitch_end_link",
        (0.3404000699520111, -0.00013562054664362222, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        0,
        -0.7837099855824471,
        1.1576569510975963,
    ),
    UsdJoint(
        "ecm_main_insertion_joint",
        "prismatic",
        "ecm_pitch_end_link",
        "ecm_main_insertion_link",
        (0.041999999433755875, -0.08614300191402435, 0.0),
        (0.49999910593032837, -0.5000008940696716, -0.49999910593032837, 0.5000008940696716),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, -0.7071067690849304, 0.0),
        0,
        0.0,
        0.2541930079460144,
    ),
    UsdJoint(
        "ecm_tool_joint",
        "revolute",
        "ecm_main_insertion_link",
        "ecm_tool_link",
        (0.061000000685453415, 0.0, 0.0),
        (0.7071067690849304, 0.0, 0.7071067690849304, 0.0),
        (0.0, 0.0, 0.0),
        (0.7071067690849304, 0.0, 0.7071067690849304, 0.0),
        0,
        -1.5526759124218885,
        1.566740865086924,
    ),
)

# --------------------------------------------------------------------------- Surgical Gym tasks
# Articulation DOF order of the moving joints (depth-first from the fixed root; the PSM's first DOF is
# psm_rev_joint, so the task's 9 targets land on rev, yaw, pitch back/bottom/end, insertion, roll, tool
# pitch, tool yaw and the jaws (DOFs 9, 10) are held at 0).
PSM_DOF_NAMES = tuple(j.name for j in PSM_JOINTS if j.type != "fixed")
ECM_DOF_NAMES = tuple(j.name for j in ECM_JOINTS if j.type != "fixed")
# Task-file vectors (tasks/psm.py, tasks/ecm.py): target scale/offset, indexed in DOF order. Index 4 is
# psm_pitch_end_joint on the PSM (the 0.254/2 meant for the insertion lands on a pitch joint) and the
# main insertion on the ECM.
PSM_SCALE = (1.0, 1.0, 1.0, 1.0, 0.127, 1.0, 1.0, 1.0, 1.0)
PSM_OFFSET = (0.0, 0.0, 0.0, 0.0, 0.127, 0.0, 0.0, 0.0, 0.0)
ECM_SCALE = (1.0, 1.0, 1.0, 1.0, 0.127, 1.0)
ECM_OFFSET = (0.0, 0.0, 0.0, 0.0, 0.127, 0.0)
# Robot root poses (robots/articulations/{psm,ecm}.py): translation and orientation (w, x, y, z).
PSM_ROOT_POS = (1.0, 0.0, 0.5)
ECM_ROOT_POS = (1.0, 0.0, -0.5)
ROOT_ROT_WXYZ = (0.0, 0.0, 0.0, 1.0)  # 180 deg about z (Isaac's quaternion order is w, x, y, z)
# Goal centres (env-local): the ball's spawn position (ECM: + 0.5 m in z in init_data).
PSM_GOAL_CENTER = (1.0, -0.5, 0.6)
ECM_GOAL_CENTER = (0.2, 0.0, 1.0)
# Tip rule (get_observations): position of tip_body + R(rot_body) @ tip_offset.
PSM_TIP = ("psm_tool_roll_link", "psm_pitch_end_link", (0.0, 0.025, 0.0))
ECM_TIP = ("ecm_tool_link", "ecm_pitch_end_link", (0.0, 0.375, 0.0))
# STAR (tasks/star.py, robots/articulations/star.py; star.usd is not public): normalised default pose
# (joint targets = 2 x pose, all 8 joints angular), root pose as PSM.
STAR_SCALE = (2.0,) * 8
STAR_DEFAULT = (0.0, 0.3, 0.0, -0.3, 0.0, 0.5, 0.0, 0.0)
STAR_ROOT_POS = (1.0, 0.0, 0.5)
STAR_GOAL_CENTER = (0.0, 0.0, 0.8)
# Episode rule (is_done): reset when progress_buf >= episodeLength - 1 -> 399 steps.
EPISODE_STEPS = 400 - 1

# --------------------------------------------------------------------------- SurRoL
S = 5.0  # SurRoL's PSM tasks work in a 5x enlarged world
# ECM base pose (tasks/ecm_env.py POSE_ECM) and its remote centre (ecm.urdf ecm_remote_center_joint).
ECM_BASE_POS = (-0.05, 0.0, 1.0024)
ECM_BASE_RPY = (0.0, np.pi / 6, 0.0)
ECM_RCM_POS = (0.531327163, 0.0, 0.784088177)
ECM_RCM_ROT = ((0.0, 0.866025404, 0.5), (-1.0, 0.0, 0.0), (0.0, -0.5, 0.866025404))  # world_R_rcm
# Camera link (ecm_tip_joint): 0.02 m along the tool z, turned -90 deg about z.
ECM_TIP_OFFSET = 0.02
ECM_EEF_R_TIP = ((0.0, 1.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 0.0, 1.0))
# PSM jaw tip (psm_tool_tip_joint): 0.0102 m from the wrist-yaw frame.
PSM_TIP_LENGTH = 0.0102
# Objects (URDF fixed joints). Needle grasp waypoint (SurRoL's obj_link1 = waypoint_1): 2 cm along the
# needle from its base frame. Block waypoint_1 and its yaw; gauze: its base frame.
NEEDLE_WAYPOINT = (-0.02, 0.0, 0.0)
BLOCK_WAYPOINT = (0.0025, 0.00433, 0.0)
BLOCK_WAYPOINT_YAW = -2.094395
# Peg board (peg_board.urdf peg_joint_1..12 in the board frame; pose from tasks/peg_transfer.py).
PEG_BOARD_POS = (0.55, 0.0, 0.6861)
PEGS = (
    (-0.03, 0.043, 0.022), (-0.01, 0.043, 0.022), (0.01, 0.043, 0.022),
    (-0.03, 0.013, 0.022), (-0.01, 0.013, 0.022), (0.01, 0.013, 0.022),
    (-0.033, -0.027, 0.022), (0.013, -0.027, 0.022), (-0.0215, -0.007081, 0.022),
    (0.0015, -0.007081, 0.022), (-0.0215, -0.046919, 0.022), (0.0015, -0.046919, 0.022),
)  # fmt: skip
# Trays: the pad's collision box (tray_pad.urdf) is 0.000362 m thick, its top is the rest surface.
TRAY_PAD_Z = 0.6751  # NeedleReach, NeedlePick (POSE_TRAY)
TRAY_Z = 0.6781  # GauzeRetrieve (tray.urdf, not in the reference snapshot: same pad thickness assumed)
TRAY_PAD_THICKNESS = 0.000362
GAUZE_SIZE = (0.004, 0.002, 0.003)  # gauze.urdf collision box
# Workspace: PsmEnv.WORKSPACE_LIMITS1, the one every single-arm task uses (the tasks' own
# WORKSPACE_LIMITS attributes, e.g. NeedlePick's z >= 0.685, are never read: a quirk kept here).
PSM_WORKSPACE = ((0.50, 0.60), (-0.05, 0.05), (0.675, 0.745))
# Object half-heights from SurRoL's collision meshes (surrol/assets/*/meshes/*_vhacd.obj at the same
# commit; the meshes are not in ../shared/reference): needle 0.000621 m, block 0.007303 m (frame at
# its centre). The peg board's collision box is 0.022 m high, centred on its frame.
NEEDLE_HALF_THICKNESS = 0.000621
BLOCK_HALF_HEIGHT = 0.007303
PEG_BOARD_HEIGHT = 0.022
