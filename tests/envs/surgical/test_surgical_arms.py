"""Surgical Gym tasks (-v1): observation layout, the original's action mapping, joint lag, rewards, goals, horizon."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.envs.surgical import kinematics as kin
from jaxrl.envs.surgical.arms import ArmState, ArmTask

DIMS = {"PSM": (37, 9, 11), "ECM": (24, 6, 6), "STAR": (27, 8, 8)}


@pytest.fixture(scope="module")
def psm():
    env = ArmTask("PSM", "reach")
    return env, env.default_params, jax.jit(env.step_env), jax.jit(env.reset_env)


def _state(env, p, q=None, target=None, offset=(0.0, 0.0, 0.0), time=0):
    r = env.robot
    q = jnp.zeros(r.n_joints) if q is None else jnp.asarray(q, jnp.float32)
    target = jnp.zeros(r.n_act) if target is None else jnp.asarray(target, jnp.float32)
    return ArmState(q, jnp.zeros_like(q), target, jnp.asarray(offset, jnp.float32), jnp.zeros(3), jnp.int32(time))


@pytest.mark.parametrize("robot", ["PSM", "ECM", "STAR"])
def test_registered_dims_and_obs_layout(robot):
    env, p = jaxrl.make(f"{robot}Reach-v1")
    n_obs, n_act, n_q = DIMS[robot]
    assert env.observation_space(p).shape == (n_obs,)
    assert env.action_space(p).shape == (n_act,)
    assert jaxrl.spec(f"{robot}Track-v1").max_episode_steps == 399  # reset at progress >= 400 - 1
    obs, s = env.reset(jax.random.PRNGKey(0), p)
    tip, goal = env.tip(s, p), env.goal(s, p)
    np.testing.assert_allclose(obs[:n_q], s.q)
    np.testing.assert_allclose(obs[n_q : 2 * n_q], s.qdot)
    i = 2 * n_q
    if robot != "STAR":
        np.testing.assert_allclose(obs[i : i + 3], tip)
        i += 3
    np.testing.assert_allclose(obs[i : i + n_act], s.target)
    np.testing.assert_allclose(obs[i + n_act :], tip - goal, atol=1e-6)


def test_stale_v0_ids_are_gone():
    surrol = ("NeedleReach", "GauzeRetrieve", "NeedlePick", "PegTransfer", "CameraReach", "MisOrient", "StaticTrack")
    surrol += tuple(f"{t}Flat" for t in surrol) + ("ActiveTrack",)
    for name in ("PSMReach", "PSMTrack", "ECMReach", "ECMTrack", "STARReach", "STARTrack") + surrol:
        with pytest.raises(Exception, match=name):
            jaxrl.make(f"{name}-v0")


def test_psm_zero_pose_tip_from_the_usd_link_poses(psm):
    """q = 0: tool roll link at (1, -0.4864, 0.668) (root (1, 0, 0.5) turned 180 deg; link poses of psm.usd),
    pitch-end link rotating (0, 0.025, 0) to (0, 0, -0.025): tip (1, -0.4864, 0.643)."""
    env, p, _, _ = psm
    np.testing.assert_allclose(env.tip(_state(env, p), p), [1.0, -0.48640, 0.64301], atol=2e-5)


def test_psm_pitch_target_moves_tip_like_the_original(psm):
    """Three independent pitch joints (no parallelogram): 0.1 rad of pitch back moves the tip 51.6 mm,
    pitch bottom 57.9 mm (USD forward kinematics); the old RCM proxy moved it 13.6 mm."""
    env, p, _, _ = psm
    tip0 = np.asarray(env.tip(_state(env, p), p))
    for idx, mm in ((2, 51.59), (3, 57.93), (4, 15.90), (0, 48.62)):
        tip = np.asarray(env.tip(_state(env, p, q=jnp.zeros(11).at[idx].set(0.1)), p))
        assert np.linalg.norm(tip - tip0) * 1e3 == pytest.approx(mm, abs=0.05), idx


def test_action_mapping_dof_order_scale_clip_and_lag(psm):
    env, p, step, _ = psm
    s = _state(env, p, target=jnp.full(9, 0.995).at[1].set(0.0))
    a = jnp.array([1.0, -3.0, 0.5, 0, 0, 0, 0, 0, 0])  # out-of-range action is clipped to [-1, 1]
    out = step(jax.random.PRNGKey(0), s, a, p)
    tgt = np.asarray(out.state.target)
    np.testing.assert_allclose(tgt[:3], [1.0, -0.01, 1.0], atol=1e-6)  # 0.995 + 0.01 clipped to 1
    q_star = np.asarray(env.joint_targets(out.state.target, p))
    # index 4 = psm_pitch_end_joint gets scale = offset = 0.254 / 2; index 5 (insertion) scale 1
    assert q_star[4] == pytest.approx(0.995 * 0.127 + 0.127)
    assert q_star[5] == pytest.approx(0.995)
    np.testing.assert_allclose(q_star[9:], 0.0)  # jaws held at zero
    alpha = 1 - np.exp(-0.0025 / 0.1)  # lag from q = 0: q = q* (1 - exp(-dt / tau))
    np.testing.assert_allclose(out.state.q[:9], q_star[:9] * alpha, rtol=1e-5)
    np.testing.assert_allclose(out.state.qdot[:9], q_star[:9] * alpha / 0.0025, rtol=1e-4)
    # scaled PSM targets are clipped to [-1, 1]; the insertion joint stops at its 0.24 m limit
    big = env.joint_targets(jnp.ones(9), p.replace(joint_scale=jnp.full(9, 3.0)))
    np.testing.assert_allclose(big[:9], 1.0)
    fast = p.replace(tau=jnp.full(11, 1e-6))
    out = step(jax.random.PRNGKey(0), _state(env, fast, target=jnp.ones(9)), jnp.zeros(9), fast)
    assert float(out.state.q[5]) == pytest.approx(0.24, abs=1e-6)
    # ECM: index 4 is its insertion (0..0.254 m), no clip of scaled targets
    ecm = ArmTask("ECM", "reach")
    np.testing.assert_allclose(ecm.joint_targets(jnp.ones(6), ecm.default_params)[4], 0.254, atol=1e-6)


def test_psm_reward_on_hand_made_state(psm):
    env, p, step, _ = psm
    frozen = p.replace(tau=jnp.full(11, 1e9))  # joints stay where they are: qdot ~ 0
    out = step(jax.random.PRNGKey(0), _state(env, frozen), jnp.zeros(9), frozen)
    # tip (1, -0.48640, 0.64301), goal (1, -0.5, 0.6): |tip - goal|_1 = 0.01360 + 0.04301
    assert float(out.reward) == pytest.approx(-0.05661, abs=3e-5)
    assert float(out.info["distance"]) == pytest.approx(np.hypot(0.01360, 0.04301), abs=3e-5)
    assert not bool(out.info["success"])
    # position and velocity terms: a joint already at 0.127 (pitch end) and one step of motion
    q = jnp.zeros(11).at[4].set(0.127)
    out_q = step(jax.random.PRNGKey(0), _state(env, frozen, q=q), jnp.zeros(9), frozen)
    tip = env.tip(out_q.state, p)
    expected = -np.abs(tip - p.goal_center).sum() - 0.01 * 0.127
    assert float(out_q.reward) == pytest.approx(float(expected), abs=1e-5)
    fast = p.replace(tau=jnp.full(11, 1e-6))
    out_v = step(jax.random.PRNGKey(0), _state(env, fast), jnp.zeros(9), fast)
    assert float(out_v.reward) == pytest.approx(float(expected) - 1e-4 * 0.127 / 0.0025, abs=1e-5)


def test_success_threshold_5mm(psm):
    env, p, step, _ = psm
    frozen = p.replace(tau=jnp.full(11, 1e9))
    tip = np.asarray(env.tip(_state(env, p), p))
    for dz, ok in ((0.0049, True), (0.0051, False)):
        offset = tip - np.asarray(p.goal_center) + np.array([0.0, 0.0, dz])
        out = step(jax.random.PRNGKey(0), _state(env, frozen, offset=offset), jnp.zeros(9), frozen)
        assert bool(out.info["success"]) is ok


def test_truncation_at_399_not_termination(psm):
    env, p, step, _ = psm
    out = step(jax.random.PRNGKey(0), _state(env, p, time=397), jnp.zeros(9), p)
    assert not bool(out.truncated)
    out = env.step(jax.random.PRNGKey(0), _state(env, p, time=398), jnp.zeros(9), p)
    assert bool(out.truncated) and not bool(out.terminated)
    assert int(out.state.time) == 0  # auto-reset
    np.testing.assert_allclose(out.state.q, 0.0)


def test_reset_distance_matches_original(psm):
    """Joints reset to 0 (tip 45.1 mm from the PSM goal centre); the drives then hold q* = offset,
    51.1 mm (PSM) and 0.560 m (ECM) away, the original's figures."""
    env, p, step, _ = psm
    _, s = env.reset(jax.random.PRNGKey(0), p)
    assert float(np.linalg.norm(env.tip(s, p) - p.goal_center)) == pytest.approx(0.04511, abs=1e-4)
    for robot, dist in (("PSM", 0.05115), ("ECM", 0.55976)):
        e = ArmTask(robot, "reach")
        pe = e.default_params
        s = _state(e, pe, q=e.joint_targets(pe.default_target, pe))
        assert float(np.linalg.norm(e.tip(s, pe) - pe.goal_center)) == pytest.approx(dist, abs=1e-4)


def test_goal_distribution(psm):
    env, p, _, reset = psm
    _, s = jax.vmap(reset, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(1), 4000), p)
    g = np.asarray(jax.vmap(env.goal, in_axes=(0, None))(s, p))
    np.testing.assert_allclose(g.mean(0), [1.0, -0.5, 0.6], atol=0.005)
    np.testing.assert_allclose(g.std(0), 0.05, rtol=0.06)


def test_track_goal_random_walk_and_clip():
    env = ArmTask("ECM", "track")
    p = env.default_params.replace(track_noise=jnp.float32(0.05))
    s = _state(env, p, offset=(0.19, 0.0, 0.0))
    step = jax.jit(env.step_env)
    offsets = []
    for k in jax.random.split(jax.random.PRNGKey(0), 20):
        s = step(k, s, jnp.zeros(6), p).state
        offsets.append(np.asarray(s.goal_offset))
    offsets = np.stack(offsets)
    assert np.all(np.abs(offsets) <= 0.2 + 1e-7)
    assert np.any(np.isclose(np.abs(offsets), 0.2))  # noise this large hits the clip
    assert np.all(np.abs(offsets[1] - offsets[0]) > 0)  # every axis moves
    # reach mode: the goal never moves
    env_r = ArmTask("ECM", "reach")
    s2 = env_r.step_env(jax.random.PRNGKey(0), _state(env_r, p, offset=(0.1, 0, 0)), jnp.ones(6), p).state
    np.testing.assert_allclose(s2.goal_offset, [0.1, 0, 0])


def test_star_default_pose_and_reward():
    env = ArmTask("STAR", "reach")
    p = env.default_params
    obs, s = env.reset(jax.random.PRNGKey(0), p)
    np.testing.assert_allclose(s.q, [0, 0.6, 0, -0.6, 0, 1.0, 0, 0], atol=1e-6)  # default pose * scale 2
    R, flange = kin.iiwa_flange(s.q[:7])
    local = np.asarray(flange + 0.1 * R[:, 2])
    expected = np.array([1.0 - local[0], -local[1], 0.5 + local[2]])  # root (1, 0, 0.5), 180 deg about z
    np.testing.assert_allclose(env.tip(s, p), expected, atol=1e-5)
    moved = env.tip(s.replace(q=s.q.at[7].set(1.0)), p)  # endoscope spin: tip on its axis (inferred)
    np.testing.assert_allclose(moved, expected, atol=1e-5)
    out = env.step_env(jax.random.PRNGKey(0), s, jnp.ones(8), p)
    tip, goal = env.tip(out.state, p), env.goal(out.state, p)
    expected = -np.abs(tip - goal).sum() - 1e-3 * np.abs(out.state.qdot).sum()
    assert float(out.reward) == pytest.approx(float(expected), rel=1e-5)


def test_params_vmap_domain_randomisation_single_trace(psm):
    env, p, _, _ = psm
    taus = jnp.array([0.05, 0.1, 0.2])
    ps = jax.vmap(lambda t: p.replace(tau=jnp.full(11, t)))(taus)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def one(params):
        s = _state(env, p)
        return env.step_env(jax.random.PRNGKey(0), s, jnp.ones(9), params).state.q[4]

    q4 = jax.vmap(one)(ps)
    assert q4[0] > q4[1] > q4[2] > 0  # faster joints move further in one step
    jax.vmap(one)(ps)  # second call: no retrace


def test_bad_robot_or_mode():
    with pytest.raises(ValueError, match="robot"):
        ArmTask("XYZ")
    with pytest.raises(ValueError, match="mode"):
        ArmTask("PSM", "dance")
