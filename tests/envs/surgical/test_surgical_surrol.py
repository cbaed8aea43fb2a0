"""SurRoL tasks: observations, workspace clipping, grasp/release, sparse rewards, success, horizons."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
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
    np.testing.assert_allclose(out.state.eef, s.eef)  # pushing outwards is clipped
    out = step(jax.random.PRNGKey(0), s, _act(1, -2, -0.5, 0, 0), p)
    np.testing.assert_allclose(out.state.eef - s.eef, [0.05, -0.05, -0.025], atol=1e-6)  # 0.01 S a, a clipped
    assert float(out.state.jaw) == 0.0 and float(out.state.yaw) == pytest.approx(np.pi / 2)  # blocked / no yaw
    s_far = s.replace(eef=jnp.array([10.0, -10.0, 0.0]))
    out = step(jax.random.PRNGKey(0), s_far, _act(0, 0, 0, 0, 0), p)
    np.testing.assert_allclose(out.state.eef, [p.ws_high[0], p.ws_low[1], p.ws_low[2]])


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
    # closing within the tolerance grasps; lifting carries the needle along
    out = step(jax.random.PRNGKey(0), s, _act(0, 0, 0, 0, -1), p)
    assert bool(out.state.grasped) and float(out.state.jaw) == 0.0
    obj0 = out.state.obj_pos
    out = step(jax.random.PRNGKey(0), out.state, _act(0, 0, 1, 0, -1), p)
    np.testing.assert_allclose(out.state.obj_pos - obj0, [0, 0, 0.05], atol=1e-5)
    # a yaw turn swings the held needle about the jaw tip: grasp point stays at the same distance
    d0 = np.linalg.norm(env.waypoint(out.state, p) - env.tip(out.state, p))
    out2 = step(jax.random.PRNGKey(0), out.state, _act(0, 0, 0, 1, -1), p)
    assert float(out2.state.obj_yaw - out.state.obj_yaw) == pytest.approx(np.deg2rad(30.0), abs=1e-5)
    d1 = np.linalg.norm(env.waypoint(out2.state, p) - env.tip(out2.state, p))
    assert d1 == pytest.approx(d0, abs=1e-5)
    # opening releases: the needle falls back to the table
    out3 = step(jax.random.PRNGKey(0), out2.state, _act(0, 0, 0, 0, 1), p)
    assert not bool(out3.state.grasped)
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
    assert any(np.allclose(s.goal, g) for g in pegs[:6]) and any(np.allclose(s.obj_pos, g) for g in pegs[6:])
    assert float(obs["desired_goal"][2]) == pytest.approx(float(p.rest_z))
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
    env, p = jaxrl.make("NeedleReachFlat-v0")
    obs, s = env.reset(jax.random.PRNGKey(0), p)
    inner, _ = jaxrl.make("NeedleReach-v0")
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
    out = step(jax.random.PRNGKey(0), s, a, p)
    M = np.asarray(env._mount(p))
    np.testing.assert_allclose(out.obs["achieved_goal"] - obs["achieved_goal"], M @ (0.01 * np.asarray(a)), atol=1e-5)
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
    assert abs(change) == pytest.approx(np.deg2rad(3.0), abs=1e-4)  # roll turns the image by the roll angle
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


def test_cvc_moves_camera_and_servos_roll():
    env, p, step, reset = _ecm("StaticTrack")
    _, s = reset(jax.random.PRNGKey(0), p)
    out = step(jax.random.PRNGKey(0), s, jnp.zeros(3), p)
    np.testing.assert_allclose(out.state.q, s.q, atol=1e-6)  # zero velocity: camera still
    s1 = out.state
    for i in range(30):
        s1 = step(jax.random.PRNGKey(i), s1, jnp.array([1.0, 0.5, 0.0]), p).state
    R0 = env.camera_world(s.q, p)
    R1 = env.camera_world(s1.q, p)
    assert np.linalg.norm(R1[:3, 3] - R0[:3, 3]) > 0.005  # the camera moved around the RCM
    assert abs(float(s1.wz)) / 25 < 0.03  # image rotation stays servoed near zero
    p0 = p.replace(roll_gain=jnp.float32(0.0))
    s2 = s
    for i in range(30):
        s2 = step(jax.random.PRNGKey(i), s2, jnp.array([1.0, 0.5, 0.0]), p0).state
    assert abs(float(s2.wz)) > 5 * abs(float(s1.wz))  # without the servo it drifts


def test_active_track_reward_termination_horizon():
    env, p, step, reset = _ecm("ActiveTrack")
    assert jaxrl.spec("ActiveTrack-v0").max_episode_steps == 500 and p.max_steps == 500
    obs, s = reset(jax.random.PRNGKey(0), p)
    assert obs.shape == (10,) and bool(obs[6])  # starts in view
    out = step(jax.random.PRNGKey(0), s, jnp.zeros(3), p)
    c = np.asarray(out.obs[7:9])
    assert float(out.reward) == pytest.approx(1 - (np.linalg.norm(c) / 2 + 0.1 * abs(float(out.state.wz))), abs=1e-5)
    assert not bool(out.terminated)
    # a path far outside the view: the target leaves it -> terminated (not truncated)
    far = p.replace(traj_amp=jnp.array([3.0, 3.0]))
    out = step(jax.random.PRNGKey(0), s.replace(phase=jnp.array([np.pi / 2, 0.0])), jnp.zeros(3), far)
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
