"""Parity with the originals' own asset files (``../shared/reference/surgical``; skipped when absent).

* :mod:`reference` recomputed from Surgical Gym's USD joint tables and SurRoL's URDFs.
* Surgical Gym PSM/ECM tips (JAX joint-tree kinematics) vs NumPy forward kinematics read from the
  USD joint JSON at 200 random joint configurations, within 1e-5 m; reset distances within 1 mm.
* SurRoL: DH frames of the PSM/ECM vs the URDF link frames at random joints; the ECM remote centre
  and camera link; object waypoints and peg positions.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs.surgical import arms
from jaxrl.envs.surgical import kinematics as kin
from jaxrl.envs.surgical import reference as ref
from jaxrl.envs.surgical import reference_io as io

REF = Path(__file__).resolve().parents[3] / ".." / "shared" / "reference" / "surgical"
pytestmark = pytest.mark.skipif(not REF.is_dir(), reason="../shared/reference/surgical is not present")
SG, SR = REF / "surgicalgym", REF / "surrol"


@pytest.mark.parametrize("robot", ["psm", "ecm"])
def test_joint_tables_recomputed_from_usd_json(robot):
    table = getattr(ref, f"{robot.upper()}_JOINTS")
    joints = io.usd_joints(SG / f"{robot}_joints.json")
    assert [j.name for j in table] == [j["name"] for j in joints]
    for t, j in zip(table, joints, strict=True):
        short = lambda b: None if b is None else b.split("/")[-1]  # noqa: E731
        assert (t.type, t.parent, t.child) == (j["type"], short(j["body0"]), short(j["body1"]))
        np.testing.assert_allclose(t.pos0 + t.rot0 + t.pos1 + t.rot1, j["local_pos0"] + j["local_rot0_wxyz"]
                                   + j["local_pos1"] + j["local_rot1_wxyz"], atol=0)  # fmt: skip
        assert t.axis == "XYZ".index(j.get("axis", "X"))
        assert (t.lower, t.upper) == pytest.approx((j["lower"], j["upper"]))


def test_dof_order_puts_0127_on_the_psm_pitch_end():
    assert ref.PSM_DOF_NAMES[0] == "psm_rev_joint" and len(ref.PSM_DOF_NAMES) == 11
    assert ref.PSM_DOF_NAMES[4] == "psm_pitch_end_joint" and ref.PSM_SCALE[4] == 0.127
    assert ref.PSM_DOF_NAMES[9:] == ("psm_tool_gripper1_joint", "psm_tool_gripper2_joint")
    assert ref.ECM_DOF_NAMES[4] == "ecm_main_insertion_joint" and ref.ECM_SCALE[4] == 0.127


def _numpy_tip(robot: str, q: np.ndarray) -> np.ndarray:
    joints = io.usd_joints(SG / f"{robot}_joints.json")
    names = [j["name"] for j in joints if j["type"] != "fixed"]
    root_pos = ref.PSM_ROOT_POS if robot == "psm" else ref.ECM_ROOT_POS
    root = io.pose(io.quat_wxyz_to_rot(ref.ROOT_ROT_WXYZ), root_pos)
    body, rot_body, offset = ref.PSM_TIP if robot == "psm" else ref.ECM_TIP
    P = io.usd_fk(joints, dict(zip(names, map(float, q), strict=True)), root)
    return P[f"/{robot}/{body}"][:3, 3] + P[f"/{robot}/{rot_body}"][:3, :3] @ np.asarray(offset)


@pytest.mark.parametrize("robot", ["psm", "ecm"])
def test_tip_parity_with_usd_forward_kinematics(robot):
    tree = arms.PSM_TREE if robot == "psm" else arms.ECM_TREE
    tip_fn = arms.psm_tip if robot == "psm" else arms.ecm_tip
    q = np.random.default_rng(0).uniform(tree.lower, tree.upper, (200, tree.n_dof)).astype(np.float32)
    ours = np.asarray(jax.jit(tip_fn)(jnp.asarray(q)))
    theirs = np.stack([_numpy_tip(robot, qi.astype(np.float64)) for qi in q])
    assert np.abs(ours - theirs).max() < 1e-5


@pytest.mark.parametrize("robot", ["PSM", "ECM"])
def test_reset_distance_equals_the_originals(robot):
    """At reset (q = 0) and at the pose the drives then hold (q* = offset) the tip-goal-centre distance
    equals the one of the USD kinematics with the task file's root pose and goal centre, within 1 mm."""
    env = arms.ArmTask(robot, "reach")
    p = env.default_params
    _, s = env.reset(jax.random.PRNGKey(0), p)
    held = np.asarray(env.joint_targets(p.default_target, p))
    for q in (np.zeros(env.robot.n_joints), held):
        ours = np.linalg.norm(np.asarray(env.tip(s.replace(q=jnp.asarray(q, jnp.float32)), p)) - p.goal_center)
        theirs = np.linalg.norm(_numpy_tip(robot.lower(), q) - np.asarray(getattr(ref, f"{robot}_GOAL_CENTER")))
        assert abs(ours - theirs) < 1e-3


# --------------------------------------------------------------------------- SurRoL
def _ecm_world_T_base() -> np.ndarray:
    return io.pose(io.rpy_to_rot(ref.ECM_BASE_RPY), ref.ECM_BASE_POS)


def test_ecm_mount_and_camera_link_from_urdf():
    links = io.urdf_fk(io.urdf_joints(SR / "ecm.urdf"), {}, _ecm_world_T_base())
    T = links["ecm_remote_center_link"]
    np.testing.assert_allclose(T[:3, 3], ref.ECM_RCM_POS, atol=1e-8)
    np.testing.assert_allclose(T[:3, :3], ref.ECM_RCM_ROT, atol=1e-8)
    np.testing.assert_allclose(-T[:3, 2], [-0.5, 0, -np.sqrt(3) / 2], atol=1e-8)  # shaft at zero joints
    np.testing.assert_allclose(T[:3, 0], [0, -1, 0], atol=1e-8)  # x along world -y
    tip = np.linalg.inv(links["ecm_end_link"]) @ links["ecm_tip_link"]
    np.testing.assert_allclose(tip[:3, :3], ref.ECM_EEF_R_TIP, atol=1e-8)
    assert np.linalg.norm(tip[:3, 3]) == pytest.approx(ref.ECM_TIP_OFFSET)


def _urdf_dh_error(robot: str, n: int = 50) -> float:
    """Max |rcm_T_eef(URDF) - DH frame| over random joints (parallel links follow the pitch as in SurRoL)."""
    joints = io.urdf_joints(SR / f"{robot}.urdf")
    rng = np.random.default_rng(1)
    err = 0.0
    for _ in range(n):
        if robot == "ecm":
            q = rng.uniform(kin.ECM_LIMITS[0], np.minimum(kin.ECM_LIMITS[1], 3.0))
            names = ["ecm_yaw_joint", "ecm_pitch_end_joint", "ecm_main_insertion_joint", "ecm_tool_joint"]
            qd = dict(zip(names, q, strict=True))
            qd.update(ecm_pitch_front_joint=q[1], ecm_pitch_bottom_joint=-q[1], ecm_pitch_top_joint=-q[1])
            qd.update(ecm_pitch_back_joint=q[1])
            links, dh, eef = (
                io.urdf_fk(joints, qd),
                np.asarray(kin.ecm_fk(jnp.asarray(q, jnp.float32)))[-1],
                "ecm_end_link",
            )
        else:
            q = rng.uniform(kin.PSM_LIMITS[0], kin.PSM_LIMITS[1])
            names = ["psm_yaw_joint", "psm_pitch_end_joint", "psm_main_insertion_joint", "psm_tool_roll_joint",
                     "psm_tool_pitch_joint", "psm_tool_yaw_joint"]  # fmt: skip
            qd = dict(zip(names, q, strict=True))
            qd.update(psm_pitch_back_joint=q[1], psm_pitch_bottom_joint=-q[1], psm_pitch_top_joint=-q[1])
            qd.update(psm_pitch_front_joint=q[1])
            links, dh, eef = (
                io.urdf_fk(joints, qd),
                np.asarray(kin.psm_fk(jnp.asarray(q, jnp.float32)))[-1],
                "psm_tool_yaw_link",
            )
        rcm = links[f"{robot}_remote_center_link"]
        err = max(err, np.abs(np.linalg.inv(rcm) @ links[eef] - dh).max())
    return err


@pytest.mark.parametrize("robot", ["psm", "ecm"])
def test_dh_frames_match_urdf(robot):
    assert _urdf_dh_error(robot) < 1e-5


def test_psm_jaw_tip_length_from_urdf():
    tip = next(j for j in io.urdf_joints(SR / "psm.urdf") if j["name"] == "psm_tool_tip_joint")
    assert np.linalg.norm(tip["xyz"]) == pytest.approx(ref.PSM_TIP_LENGTH)


def test_object_waypoints_pegs_and_rest_surfaces_from_urdfs():
    needle = {j["name"]: j for j in io.urdf_joints(SR / "needle_40mm.urdf")}
    np.testing.assert_allclose(needle["waypoint_joint_1"]["xyz"], ref.NEEDLE_WAYPOINT)  # SurRoL's obj_link1
    np.testing.assert_allclose(needle["waypoint_joint_1"]["rpy"], 0.0)
    block = {j["name"]: j for j in io.urdf_joints(SR / "block.urdf")}
    np.testing.assert_allclose(block["waypoint_joint_1"]["xyz"], ref.BLOCK_WAYPOINT)
    assert block["waypoint_joint_1"]["rpy"][2] == pytest.approx(ref.BLOCK_WAYPOINT_YAW)
    pegs = [j for j in io.urdf_joints(SR / "peg_board.urdf") if j["name"].startswith("peg_joint")]
    assert [j["name"] for j in pegs] == [f"peg_joint_{i}" for i in range(1, 13)]  # PyBullet link order
    np.testing.assert_allclose([j["xyz"] for j in pegs], ref.PEGS)
    assert io.urdf_box_size(SR / "tray_pad.urdf")[2] == pytest.approx(ref.TRAY_PAD_THICKNESS)
    np.testing.assert_allclose(io.urdf_box_size(SR / "gauze.urdf"), ref.GAUZE_SIZE)
