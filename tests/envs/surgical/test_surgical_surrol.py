"""SurRoL tasks (-v1): observations, workspace clipping, contact-proxy grasp, camera mapping, rewards, horizons."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.envs.surgical import reference as ref
from jaxrl.envs.surgical import trajectory as traj
from jaxrl.envs.surgical.surrol_ecm import ECMTask
from jaxrl.envs.surgical.surrol_psm import PSMTask

S = 5.0


@pytest.fixture(scope="module")
def psm_envs():
    out = {}
    for name in ("NeedleReach", "NeedlePick", "PegTransfer", "GauzeRetrieve"):
        env = PSMTask(name)
        out[name] = (env, env.default_params, jax.jit(env.step_env), jax.jit(env.reset_env))
    return out


def _act(*a):
    return jnp.asarray(a, jnp.float32)


def test_psm_observation_contents(psm_envs):
    env, p, _, reset = psm_envs["NeedlePick"]
    obs, s = reset(jax.random.PRNGKey(0), p)
    o = np.asarray(obs["observation"])
    assert o.shape == (19,)
    np.testing.assert_allclose(o[:3], [0.50 * S, 0.05 * S, (0.71 + 0.0102) * S], atol=1e-5)  # x_lo, y_hi, z_mid
    np.testing.assert_allclose(o[3:6], [-np.pi / 2, 0.0, np.pi / 2], atol=1e-6)
    assert o[6] == pytest.approx(np.deg2rad(40.0))  # jaw open
    np.testing.assert_allclose(o[7:10], s.obj_pos)
    np.testing.assert_allclose(o[10:13], s.obj_pos - s.eef, atol=1e-6)
    np.testing.assert_allclose(o[13:16], env.waypoint(s, p))
    np.testing.assert_allclose(o[16:19], [0.0, 0.0, s.obj_yaw])
    np.testing.assert_allclose(obs["achieved_goal"], env.waypoint(s, p))
    np.testing.assert_allclose(obs["desired_goal"][2], (0.745 + 0.0102 - 0.04) * S, atol=1e-5)
    env7, p7, _, reset7 = psm_envs["NeedleReach"]
    obs, s = reset7(jax.random.PRNGKey(0), p7)
    assert obs["observation"].shape == (7,)
    np.testing.assert_allclose(obs["achieved_goal"], s.eef - jnp.array([0, 0, 0.0102 * S]), atol=1e-6)  # jaw tip
    np.testing.assert_allclose(obs["desired_goal"], env7.waypoint(s, p7) + jnp.array([0, 0, 0.005 * S]), atol=1e-6)


def test_workspace_clipping_and_action_scale(psm_envs):
    env, p, step, reset = psm_envs["NeedleReach"]
    _, s = reset(jax.random.PRNGKey(0), p)  # starts at the corner (x_lo, y_hi, z_hi)
    out = step(jax.random.PRNGKey(0), s, _act(-1, 1, 1, 0, 0), p)
    # SurRoL's clip: workspace - (0.02, 0.02, 0) .. workspace + (0.02, 0.02, 0.08), unscaled margins
    np.testing.assert_allclose(out.state.eef - s.eef, [-0.02, 0.02, 0.05], atol=1e-6)
    out = step(jax.random.PRNGKey(0), s, _act(1, -2, -0.5, 0, 0), p)
    np.testing.assert_allclose(out.state.eef - s.eef, [0.05, -0.05, -0.025], atol=1e-6)  # 0.01 S a, a clipped
    assert float(out.state.jaw) == 0.0 and float(out.state.yaw) == pytest.approx(np.pi / 2)  # blocked / no yaw
    s_far = s.replace(eef=jnp.array([10.0, -10.0, 0.0]))
    out = step(jax.random.PRNGKey(0), s_far, _act(0, 0, 0, 0, 0), p)
    np.testing.assert_allclose(out.state.eef, [p.ws_high[0] + 0.02, p.ws_low[1] - 0.02, p.ws_low[2]], atol=1e-6)


def test_sparse_reward_and_5mm_success(psm_envs):
    env, p, step, reset = psm_envs["NeedleReach"]
    _, s = reset(jax.random.PRNGKey(1), p)
    tip_to_eef = jnp.array([0.0, 0.0, 0.0102 * S])
    for dx, ok in ((0.0049 * S, True), (0.0051 * S, False)):
        s2 = s.replace(eef=s.goal + tip_to_eef + jnp.array([dx, 0.0, 0.0]))
        out = step(jax.random.PRNGKey(0), s2, jnp.zeros(5), p)
        assert bool(out.info["success"]) is ok
        assert float(out.reward) == (0.0 if ok else -1.0)
        assert float(out.info["distance"]) == pytest.approx(dx / S, abs=1e-5)  # real metres
    # relabelled goals for HER: batched compute_reward
    ach = jnp.zeros((4, 3))
    des = jnp.array([[0.0, 0, 0], [0.02, 0, 0], [0.03, 0, 0], [0, 0, -0.01]])
    np.testing.assert_array_equal(env.compute_reward(ach, des, p), [0, 0, -1, 0])


def test_grasp_lift_release_and_fall(psm_envs):
    env, p, step, reset = psm_envs["NeedlePick"]
    _, s = reset(jax.random.PRNGKey(2), p)
    wp = env.waypoint(s, p)
    tip_to_eef = jnp.array([0.0, 0.0, 0.0102 * S])
    s = s.replace(eef=wp + tip_to_eef + jnp.array([0.0, 0.009, 0.0]))  # 1.8 mm from the grasp point
    # an open jaw does not grasp
    out = step(jax.random.PRNGKey(0), s, _act(0, 0, 0, 0, 1), p)
    assert not bool(out.state.grasped)
    # closing in (proxy) contact activates the grasp; the constraint forms once lifted 5 mm (x S)
    out = step(jax.random.PRNGKey(0), s, _act(0, 0, 0, 0, -1), p)
    assert bool(out.state.grasped) and float(out.state.jaw) == 0.0
    assert not bool(out.state.constrained) and not bool(out.info["grasped"])
    obj0 = out.state.obj_pos
    out = step(jax.random.PRNGKey(0), out.state, _act(0, 0, 0.4, 0, -1), p)  # 4 mm: below the threshold
    np.testing.assert_allclose(out.state.obj_pos - obj0, [0, 0, 0.02], atol=1e-5)
    assert not bool(out.state.constrained)
    out = step(jax.random.PRNGKey(0), out.state, _act(0, 0, 0.6, 0, -1), p)  # 10 mm: constrained
    np.testing.assert_allclose(out.state.obj_pos - obj0, [0, 0, 0.05], atol=1e-5)
    assert bool(out.state.constrained) and bool(out.info["grasped"])
    # a yaw turn swings the held needle about the jaw tip: grasp point stays at the same distance
    d0 = np.linalg.norm(env.waypoint(out.state, p) - env.tip(out.state, p))
    out2 = step(jax.random.PRNGKey(0), out.state, _act(0, 0, 0, 1, -1), p)
    assert float(out2.state.obj_yaw - out.state.obj_yaw) == pytest.approx(np.deg2rad(30.0), abs=1e-5)
    d1 = np.linalg.norm(env.waypoint(out2.state, p) - env.tip(out2.state, p))
    assert d1 == pytest.approx(d0, abs=1e-5)
    # opening releases: the needle falls back to the table
    out3 = step(jax.random.PRNGKey(0), out2.state, _act(0, 0, 0, 0, 1), p)
    assert not bool(out3.state.grasped) and not bool(out3.state.constrained)
    assert float(out3.state.obj_pos[2]) == pytest.approx(float(p.rest_z))
    np.testing.assert_allclose(out3.state.obj_pos[:2], out2.state.obj_pos[:2])
    # too far (2.2 mm) -> no grasp
    s_far = s.replace(eef=wp + tip_to_eef + jnp.array([0.0, 0.011, 0.0]))
    assert not bool(step(jax.random.PRNGKey(0), s_far, _act(0, 0, 0, 0, -1), p).state.grasped)


def test_free_fall_is_gravity_integration(psm_envs):
    env, p, step, reset = psm_envs["GauzeRetrieve"]
    _, s = reset(jax.random.PRNGKey(0), p)
    p = p.replace(gravity=jnp.float32(0.5))  # slow gravity to see a ballistic step
    s = s.replace(obj_pos=s.obj_pos + jnp.array([0.0, 0.0, 1.0]))
    out = step(jax.random.PRNGKey(0), s, _act(0, 0, 0, 0, 1), p)
    assert float(out.state.obj_vz) == pytest.approx(-0.5 * 0.2)
    assert float(out.state.obj_pos[2] - s.obj_pos[2]) == pytest.approx(-0.5 * 0.2 * 0.2, abs=1e-6)


def test_peg_transfer_success_and_truncation(psm_envs):
    env, p, step, reset = psm_envs["PegTransfer"]
    obs, s = reset(jax.random.PRNGKey(3), p)
    pegs = np.asarray(p.pegs)
    assert any(np.allclose(s.goal, g) for g in pegs[:6]) and any(np.allclose(s.obj_pos[:2], g[:2]) for g in pegs[6:])
    # the goal is the peg frame; a block resting on the board sits 3.7 mm (x S) lower: within the 4 mm band
    assert float(obs["desired_goal"][2]) == pytest.approx((0.6861 + 0.022) * S)
    assert float(p.rest_z) == pytest.approx((0.6861 + 0.011 + 0.007303) * S)
    rest_on_goal = s.replace(obj_pos=s.goal.at[2].set(p.rest_z))
    assert bool(step(jax.random.PRNGKey(0), rest_on_goal, jnp.zeros(5), p).info["success"])
    assert abs(float(s.obj_yaw)) <= np.pi / 6 + 1e-6
    on_goal = s.replace(obj_pos=s.goal + jnp.array([0.004 * S, 0.0, 0.0]))
    out = step(jax.random.PRNGKey(0), on_goal, jnp.zeros(5), p)
    assert bool(out.info["success"]) and float(out.reward) == 0.0
    assert not bool(env.is_success(s.goal + jnp.array([0, 0, 0.005 * S]), s.goal, p))  # |dz| >= 4 mm
    assert bool(env.is_success(s.goal + jnp.array([0, 0, 0.0035 * S]), s.goal, p))
    out = env.step(jax.random.PRNGKey(0), s.replace(time=jnp.int32(49)), jnp.zeros(5), p)
    assert bool(out.truncated) and not bool(out.terminated) and int(out.state.time) == 0


def test_gauze_goal_distribution(psm_envs):
    env, p, _, reset = psm_envs["GauzeRetrieve"]
    obs, _ = jax.vmap(reset, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(0), 2000), p)
    g = np.asarray(obs["desired_goal"])
    np.testing.assert_allclose(g[:, 2], (0.745 + 0.0102 - 0.03) * S, atol=1e-5)
    np.testing.assert_allclose(g[:, :2].std(0), 0.02 * S, rtol=0.08)
    np.testing.assert_allclose(g[:, :2].mean(0), [0.55 * S, 0.0], atol=0.01)


def test_flat_variant_order():
    env, p = jaxrl.make("NeedleReachFlat-v1")
    obs, s = env.reset(jax.random.PRNGKey(0), p)
    inner, _ = jaxrl.make("NeedleReach-v1")
    d, _ = inner.reset(jax.random.PRNGKey(0), p)
    np.testing.assert_allclose(obs, np.concatenate([d["achieved_goal"], d["desired_goal"], d["observation"]]))
    assert env.observation_space(p).shape == (13,)


# --------------------------------------------------------------------------- ECM tasks
_ECM_CACHE = {}


def _ecm(name):
    """Env, params and jitted step / reset / misorientation (one compile per task per session)."""
    if name not in _ECM_CACHE:
        env = ECMTask(name)
        _ECM_CACHE[name] = (env, env.default_params, jax.jit(env.step_env), jax.jit(env.reset_env))
    return _ECM_CACHE[name]


def test_camera_reach_dmove_and_success():
    env, p, step, reset = _ecm("CameraReach")
    obs, s = reset(jax.random.PRNGKey(0), p)
    assert obs["observation"].shape == (6,)
    np.testing.assert_allclose(obs["achieved_goal"], [0.5, 0.0, 0.70], atol=1e-5)  # top centre of workspace
    a = jnp.array([0.5, -1.0, 0.3])
    exact = p.replace(tracking=jnp.float32(1.0))
    out = step(jax.random.PRNGKey(0), s, a, exact)  # the eef moves 0.01 a in the RCM frame
    M = np.asarray(p.rcm_rot)
    np.testing.assert_allclose(out.obs["achieved_goal"] - obs["achieved_goal"], M @ (0.01 * np.asarray(a)), atol=2e-5)
    lagged = step(jax.random.PRNGKey(0), s, a, p)  # the arm completes 1 - 0.9^24 of the joint step
    np.testing.assert_allclose(lagged.state.q - s.q, (1 - 0.9**24) * (out.state.q - s.q), atol=1e-6)
    for d, ok in ((0.0049, True), (0.0051, False)):
        s2 = s.replace(target=obs["achieved_goal"] + jnp.array([0.0, d, 0.0]))
        assert bool(step(jax.random.PRNGKey(0), s2, jnp.zeros(3), p).info["success"]) is ok


def test_misorient_roll_rotates_image():
    env, p, step, reset = _ecm("MisOrient")
    mis_fn = jax.jit(env.misorientation)
    assert float(mis_fn(jnp.zeros(4), p)) == pytest.approx(0.0, abs=1e-6)
    obs, s = reset(jax.random.PRNGKey(0), p)
    assert obs["observation"].shape == (9,) and obs["achieved_goal"].shape == (1,)
    out = step(jax.random.PRNGKey(0), s, jnp.array([1.0]), p)
    change = float(kin_wrap(out.obs["achieved_goal"][0] - obs["achieved_goal"][0]))
    assert abs(change) == pytest.approx(np.deg2rad(3.0) * float(p.tracking), abs=1e-4)  # image turns with the roll
    # rolling by -mis cancels it: success
    q = s.q.at[3].add(-float(np.sign(change)) * float(obs["achieved_goal"][0]) * 1.0)
    mis = float(mis_fn(q, p))
    assert abs(mis) < 1e-3
    out = step(jax.random.PRNGKey(0), s.replace(q=q), jnp.zeros(1), p)
    assert bool(out.info["success"]) and float(out.reward) == 0.0


def kin_wrap(x):
    return (x + np.pi) % (2 * np.pi) - np.pi


def test_static_track_projection_and_success():
    env, p, step, reset = _ecm("StaticTrack")
    obs, s = reset(jax.random.PRNGKey(0), p)
    cam = env.camera_world(s.q, p)
    x, z, pos = cam[:3, 0], cam[:3, 2], cam[:3, 3]
    tan30 = np.tan(np.deg2rad(30.0))
    for target, c, inview in (
        (pos + 1.0 * z, (0.0, 0.0), True),
        (pos + 1.0 * z + 0.5 * tan30 * x, (0.5, 0.0), True),
        (pos + 1.0 * z + 1.5 * tan30 * x, (1.5, 0.0), False),
        (pos - 1.0 * z, (10.0, 10.0), False),  # behind the camera
    ):
        out = step(jax.random.PRNGKey(0), s.replace(target=target), jnp.zeros(3), p)
        o = out.obs["observation"]
        np.testing.assert_allclose(o[7:9], c, atol=1e-4)
        assert bool(o[6]) is inview
        assert bool(out.info["success"]) is (c == (0.0, 0.0))


def test_cvc_to_dq_is_surrols_mapping():
    """With wz = 0 the resolved joint velocity moves the camera link along the camera-frame velocity:
    axially by exactly -v_z, laterally by v (x, y) times one common lever ratio, no cross-talk."""
    env, p, step, reset = _ecm("StaticTrack")
    q = jnp.array([0.1, 0.2, 0.05, 0.3])

    def cam_link(x):
        R, pos = env.eef_rcm(x, p)
        return pos + R @ jnp.array([0.0, 0.0, 0.02]), R @ jnp.asarray(ref.ECM_EEF_R_TIP)

    @jax.jit
    def vel_fn(v):
        J, Rc = jax.jacfwd(lambda x: cam_link(x)[0])(q), cam_link(q)[1]
        return Rc.T @ (J @ env.cvc_to_dq(q, v, jnp.float32(0.0), p))

    vel = np.asarray(jax.vmap(vel_fn)(0.01 * jnp.eye(3))) / 0.01
    ratio = vel[0, 0]
    assert ratio > 2.0  # the camera swings about the RCM: faster than the commanded velocity
    np.testing.assert_allclose(vel, np.diag([ratio, ratio, -1.0]), atol=1e-4 * ratio)
    _, s = reset(jax.random.PRNGKey(0), p)
    out = step(jax.random.PRNGKey(0), s, jnp.zeros(3), p)
    np.testing.assert_allclose(out.state.q, s.q, atol=1e-6)  # zero velocity, zero image rotation: still
    # the roll servo: a camera rolled away from the zero-joint orientation rolls back (wz = 25 dz)
    rolled = s.replace(q=s.q.at[3].set(0.3))
    out = step(jax.random.PRNGKey(0), rolled, jnp.zeros(3), p)
    assert float(out.state.wz) == pytest.approx(25.0 * float(env._dz(rolled.q, p)), rel=1e-5)
    assert abs(float(env._dz(out.state.q, p))) < abs(float(env._dz(rolled.q, p)))
    # a joint step leaving the limits is refused as a whole (move_joint)
    edge = s.replace(q=jnp.array([np.deg2rad(89.99), 0.0, 0.04, 0.0]))
    moved = [
        float(step(jax.random.PRNGKey(0), edge, jnp.asarray(a), p).state.q[0]) for a in ([1.0, 0, 0], [-1.0, 0, 0])
    ]
    assert min(moved) < np.deg2rad(89.99) - 1e-4 and max(moved) == pytest.approx(np.deg2rad(89.99), abs=1e-6)


def test_ecm_mount_as_surrol():
    """Remote centre (0.531, 0, 0.784), zero-joint shaft along (-0.5, 0, -0.866), RCM x along world -y."""
    env, p, _, _ = _ecm("StaticTrack")
    cam = np.asarray(env.camera_world(jnp.array([0.0, 0.0, 0.0, 0.0]), p))
    np.testing.assert_allclose(p.rcm_pos, [0.5313, 0.0, 0.7841], atol=1e-4)
    np.testing.assert_allclose(cam[:3, 2], [-0.5, 0.0, -np.sqrt(3) / 2], atol=1e-6)  # optical axis
    np.testing.assert_allclose(np.asarray(p.rcm_rot)[:, 0], [0.0, -1.0, 0.0], atol=1e-6)


def test_active_track_reward_termination_horizon():
    env, p, step, reset = _ecm("ActiveTrack")
    assert jaxrl.spec("ActiveTrack-v1").max_episode_steps == 500 and p.max_steps == 500
    obs, s = reset(jax.random.PRNGKey(0), p)
    assert obs.shape == (10,) and bool(obs[6])  # starts in view
    out = step(jax.random.PRNGKey(0), s, jnp.zeros(3), p)
    c = np.asarray(out.obs[7:9])
    assert float(out.reward) == pytest.approx(1 - (np.linalg.norm(c) / 2 + 0.1 * abs(float(out.state.wz))), abs=1e-5)
    assert not bool(out.terminated)
    # a path far outside the view: the target leaves it -> terminated (not truncated)
    out = step(jax.random.PRNGKey(0), s.replace(path=s.path + 5.0), jnp.zeros(3), p)
    assert bool(out.terminated) and not bool(out.truncated)
    out = step(jax.random.PRNGKey(0), s.replace(time=jnp.int32(499)), jnp.zeros(3), p)
    assert bool(out.truncated)


def test_bad_task_names():
    with pytest.raises(ValueError, match="task"):
        PSMTask("Suture")
    with pytest.raises(ValueError, match="task"):
        ECMTask("Zoom")


def test_optional_potential_shaping(psm_envs):
    env, p, step, reset = psm_envs["NeedleReach"]
    _, s = reset(jax.random.PRNGKey(1), p)
    a = _act(1, -1, -1, 0, 0)
    sparse = step(jax.random.PRNGKey(0), s, a, p)
    assert float(sparse.reward) == -1.0  # default: SurRoL's sparse reward only
    shaped_p = p.replace(shaping=jnp.float32(10.0), shaping_gamma=jnp.float32(0.9))
    out = step(jax.random.PRNGKey(0), s, a, shaped_p)
    d0 = float(jnp.linalg.norm(env.achieved_goal(s, p) - s.goal)) / S
    d1 = float(out.info["distance"])
    assert float(out.reward) == pytest.approx(-1.0 + 10.0 * (d0 - 0.9 * d1), abs=1e-5)


def test_active_track_bspline_speed_period_and_scipy_parity():
    """SurRoL's closed B-spline: 10 of 2000 samples per step (a loop per 200 steps); the path is the
    periodic cubic interpolant through the control points (scipy's splprep(s=0, per=True))."""
    lo, hi = jnp.array([-0.3, -0.4]), jnp.array([0.6, 0.4])

    @jax.jit
    def paths(keys):
        pts = jax.vmap(traj.control_points, in_axes=(0, None, None))(keys, lo, hi)
        u, M = jax.vmap(traj.fit)(pts)
        grid = jnp.arange(0, 2000, traj.SAMPLES_PER_STEP)
        one = lambda p_, u_, m_: jax.vmap(lambda i: traj.position(p_, u_, m_, i))(grid)  # noqa: E731
        wrap = jax.vmap(traj.position, (0, 0, 0, None))(pts, u, M, 2000)  # index 2000 = index 0
        dense = jax.vmap(lambda i: traj.position(pts[0], u[0], M[0], i))(jnp.arange(2000))
        return pts, jax.vmap(one)(pts, u, M), wrap, dense

    pts, path, wrap, dense = (np.asarray(x) for x in paths(jax.random.split(jax.random.PRNGKey(0), 64)))
    np.testing.assert_allclose(path[:, 0], wrap, atol=1e-6)
    steps = np.linalg.norm(np.diff(np.concatenate([path, path[:, :1]], 1), axis=1), axis=-1)
    assert 0.013 < steps.mean() < 0.020  # about 17 mm per step (the old Lissajous proxy: 5x slower)
    np.testing.assert_allclose(path[:, :, :], np.clip(path, -0.6, 0.8))  # stays near the workspace
    interpolate = pytest.importorskip("scipy.interpolate")
    P = np.asarray(pts[0], np.float64)
    tck, _ = interpolate.splprep([P[:, 0], P[:, 1]], s=0, per=True)
    xs, ys = interpolate.splev(np.linspace(0, 1, 2000), tck)
    np.testing.assert_allclose(dense, np.stack([xs, ys], 1), atol=1e-5)


def test_psm_geometry_from_the_urdfs(psm_envs):
    """Needle grasp waypoint 2 cm along the needle; block waypoint turned -120 deg; rest heights."""
    env, p, _, reset = psm_envs["NeedlePick"]
    _, s = reset(jax.random.PRNGKey(4), p)
    wp = np.asarray(env.waypoint(s, p))
    yaw = float(s.obj_yaw)
    np.testing.assert_allclose(
        wp - np.asarray(s.obj_pos), [-0.02 * S * np.cos(yaw), -0.02 * S * np.sin(yaw), 0], atol=1e-5
    )
    assert float(p.rest_z) == pytest.approx((0.6751 + 0.000362 + 0.000621) * S)
    envb, pb, _, resetb = psm_envs["PegTransfer"]
    obs, sb = resetb(jax.random.PRNGKey(4), pb)
    assert float(obs["observation"][18]) == pytest.approx(float(kin_wrap(float(sb.obj_yaw) - 2.094395)), abs=1e-5)
    envg, pg, _, _ = psm_envs["GauzeRetrieve"]
    assert float(pg.rest_z) == pytest.approx((0.6781 + 0.000362 + 0.0015) * S)
