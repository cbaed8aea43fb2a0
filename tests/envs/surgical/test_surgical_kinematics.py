"""Forward kinematics against hand-derived poses, rotation/RCM properties, camera projection."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs.surgical import kinematics as kin

TAN30 = np.tan(np.deg2rad(30.0))


def _random_q(key, low, high, n=16):
    return jax.random.uniform(key, (n, len(low)), minval=np.maximum(low, -3.0), maxval=np.minimum(high, 3.0))


def test_psm_zero_pose_by_hand():
    # At zero joints the shaft points along -z of the RCM frame. The insertion frame sits
    # 0.4318 m up the shaft, the roll frame 0.4162 m further down (0.0156 above the RCM),
    # the wrist-yaw frame a6 = 0.0091 lower, the jaw tip 0.0102 lower still.
    T = np.asarray(kin.psm_fk(jnp.zeros(6)))
    np.testing.assert_allclose(T[2][:3, 2], [0, 0, -1], atol=1e-6)
    np.testing.assert_allclose(T[2][:3, 3], [0, 0, 0.4318], atol=1e-6)
    np.testing.assert_allclose(T[3][:3, 3], [0, 0, 0.0156], atol=1e-6)
    np.testing.assert_allclose(T[5][:3, 3], [0, 0, 0.0065], atol=1e-6)
    tip = np.asarray(kin.psm_tip_pose(jnp.zeros(6)))
    np.testing.assert_allclose(tip[:3, 3], [0, 0, 0.0065 - 0.0102], atol=1e-6)
    np.testing.assert_allclose(tip[:3, 2], [0, 0, -1], atol=1e-6)  # tip z along the shaft


@pytest.mark.parametrize(
    "q, shaft",
    [
        ([np.pi / 2, 0.0, 0.1, 0, 0, 0], [1, 0, 0]),  # yaw +90 deg swings the shaft to +x
        ([0.0, np.pi / 2, 0.1, 0, 0, 0], [0, -1, 0]),  # pitch +90 deg swings it to -y
        ([0.3, 0.0, 0.1, 0, 0, 0], [np.sin(0.3), 0, -np.cos(0.3)]),
    ],
)
def test_psm_chosen_configurations_by_hand(q, shaft):
    T = np.asarray(kin.psm_fk(jnp.asarray(q, jnp.float32)))
    np.testing.assert_allclose(T[2][:3, 2], shaft, atol=1e-6)
    # roll frame at (insertion - 0.4318 + 0.4162) along the shaft
    np.testing.assert_allclose(T[3][:3, 3], (q[2] - 0.0156) * np.asarray(shaft), atol=1e-6)


def test_psm_roll_spins_wrist_about_shaft():
    q0 = jnp.array([0.2, -0.1, 0.12, 0.0, 0.4, 0.0])
    q1 = q0.at[3].set(np.pi / 2)
    T0, T1 = np.asarray(kin.psm_fk(q0)), np.asarray(kin.psm_fk(q1))
    np.testing.assert_allclose(T0[3][:3, 3], T1[3][:3, 3], atol=1e-6)  # roll frame does not move
    np.testing.assert_allclose(T0[3][:3, 2], T1[3][:3, 2], atol=1e-6)  # shaft unchanged
    assert np.linalg.norm(T0[5][:3, 3] - T1[5][:3, 3]) > 1e-3  # wrist (pitched 0.4) swings round
    np.testing.assert_allclose(np.dot(T1[3][:3, 0], T0[3][:3, 0]), 0.0, atol=1e-6)  # 90 deg about z


def test_ecm_zero_pose_by_hand():
    T = np.asarray(kin.ecm_fk(jnp.zeros(4)))
    np.testing.assert_allclose(T[3][:3, 3], [0, 0, 0.3822 - 0.3829], atol=1e-6)
    np.testing.assert_allclose(T[3][:3, 2], [0, 0, -1], atol=1e-6)


def test_iiwa_by_hand():
    # zero: arm straight up, flange at 0.34 + 0.40 + 0.40 + 0.126
    R, p = kin.iiwa_flange(jnp.zeros(7))
    np.testing.assert_allclose(p, [0, 0, 1.266], atol=1e-6)
    np.testing.assert_allclose(R, np.eye(3), atol=1e-6)
    # joint 2 at +90 deg: rotation about +y by 90 deg tips the upper arm to +x at shoulder height
    R, p = kin.iiwa_flange(jnp.array([0, np.pi / 2, 0, 0, 0, 0, 0], jnp.float32))
    np.testing.assert_allclose(p, [0.926, 0, 0.34], atol=1e-6)
    # elbow (joint 4) at +90 deg with joint 2 at 0: forearm horizontal at elbow height 0.74
    R, p = kin.iiwa_flange(jnp.array([0, 0, 0, np.pi / 2, 0, 0, 0], jnp.float32))
    np.testing.assert_allclose(abs(p[0]) + abs(p[1]), 0.526, atol=1e-6)
    np.testing.assert_allclose(p[2], 0.74, atol=1e-6)


@pytest.mark.parametrize(
    "fk, limits, n",
    [
        (kin.psm_fk, kin.PSM_LIMITS, 6),
        (kin.ecm_fk, kin.ECM_LIMITS, 4),
        (kin.iiwa_fk, kin.IIWA_LIMITS, 7),
    ],
)
def test_rotations_orthonormal_and_chain_end_agrees(fk, limits, n):
    q = _random_q(jax.random.PRNGKey(n), *limits)
    T = jax.jit(jax.vmap(fk))(q)  # [16, n, 4, 4]
    R = np.asarray(T[..., :3, :3])
    eye = np.broadcast_to(np.eye(3), R.shape)
    np.testing.assert_allclose(np.swapaxes(R, -1, -2) @ R, eye, atol=2e-6)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=2e-6)
    prism = {6: kin.PSM_PRISMATIC, 4: kin.ECM_PRISMATIC, 7: (False,) * 7}[n]
    dh = {6: kin.PSM_DH, 4: kin.ECM_DH, 7: kin.IIWA_DH}[n]
    Re, pe = kin.chain_end(q, dh, prism, modified=n != 7)  # batched elementwise version
    np.testing.assert_allclose(Re, R[:, -1], atol=2e-6)
    np.testing.assert_allclose(pe, T[:, -1, :3, 3], atol=2e-6)
    pa, za = kin.chain_point_axis(q, dh, prism, modified=n != 7)  # backward point/axis version
    np.testing.assert_allclose(pa, T[:, -1, :3, 3], atol=2e-6)
    np.testing.assert_allclose(za, R[:, -1, :, 2], atol=2e-6)


@pytest.mark.parametrize("fk, limits", [(kin.psm_fk, kin.PSM_LIMITS), (kin.ecm_fk, kin.ECM_LIMITS)])
def test_remote_centre_of_motion(fk, limits):
    """The tool shaft (insertion and roll frames) passes through the RCM for any joints."""
    q = _random_q(jax.random.PRNGKey(7), *limits, n=64)
    T = np.asarray(jax.jit(jax.vmap(fk))(q))
    shaft = T[:, 2, :3, 2]
    for i in (2, 3):
        p = T[:, i, :3, 3]
        np.testing.assert_allclose(np.cross(p, shaft), 0.0, atol=2e-6)
    # closed form used by the environments
    np.testing.assert_allclose(kin.rcm_shaft(q[:, 0], q[:, 1]), shaft, atol=2e-6)
    depth = q[:, 2] + kin.PSM_DH.d[2] + kin.PSM_DH.d[3] if fk is kin.psm_fk else q[:, 2] - 0.3822 + 0.3829
    np.testing.assert_allclose(kin.rcm_point(q[:, 0], q[:, 1], depth), T[:, 3, :3, 3], atol=2e-6)


def test_rcm_ik_inverts_rcm_point():
    key = jax.random.PRNGKey(3)
    yaw, pitch, depth = jax.random.uniform(
        key, (3, 32), minval=jnp.array([[-1.4], [-1.2], [0.01]]), maxval=jnp.array([[1.4], [1.2], [0.3]])
    )
    y2, p2, d2 = kin.rcm_ik(kin.rcm_point(yaw, pitch, depth))
    np.testing.assert_allclose(np.stack([y2, p2, d2]), np.stack([yaw, pitch, depth]), atol=2e-5)


def test_euler_round_trip_and_pybullet_convention():
    e = jnp.array([-np.pi / 2, 0.2, 1.0])
    np.testing.assert_allclose(kin.rot_to_euler(kin.euler_to_rot(e)), e, atol=1e-6)
    # SurRoL's PSM orientation quaternion (0.5, 0.5, -0.5, -0.5) is roll -90 deg, yaw +90 deg
    R = np.array([[0, 0, -1], [1, 0, 0], [0, -1, 0]], np.float32)
    np.testing.assert_allclose(kin.rot_to_euler(jnp.asarray(R)), [-np.pi / 2, 0, np.pi / 2], atol=1e-6)


def test_projection_of_known_points():
    cam = kin.look_at(jnp.zeros(3), jnp.array([1.0, 0.0, 0.0]))  # looking along +x, up +z
    pts = jnp.array([[2.0, 0, 0], [1.0, 0, TAN30], [1.0, -TAN30, 0], [1.0, 0.5 * TAN30, -0.5 * TAN30], [-1.0, 0, 0]])
    uv, depth = kin.project(pts, cam, 60.0)
    np.testing.assert_allclose(depth, [2, 1, 1, 1, -1], atol=1e-6)
    # image x right (= world -y here), image y down (= world -z)
    np.testing.assert_allclose(uv[:4], [[0, 0], [0, -1], [1, 0], [-0.5, 0.5]], atol=1e-5)
    # identity camera: optical axis = world z
    uv, depth = kin.project(jnp.array([0.1, 0.2, 1.0]), jnp.eye(4), 60.0)
    np.testing.assert_allclose(uv, [0.1 / TAN30, 0.2 / TAN30], atol=1e-5)
    # wider aspect squeezes u
    uv, _ = kin.project(jnp.array([0.1, 0.2, 1.0]), jnp.eye(4), 60.0, aspect=2.0)
    np.testing.assert_allclose(uv[0], 0.05 / TAN30, atol=1e-5)


def test_chain_rejects_wrong_joint_count():
    with pytest.raises(ValueError, match="6 joints"):
        kin.psm_fk(jnp.zeros(4))
