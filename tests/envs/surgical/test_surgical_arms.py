"""Surgical Gym tasks: observation layout, action integration, joint lag, rewards, goals, horizon."""

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
    env, p = jaxrl.make(f"{robot}Reach-v0")
    n_obs, n_act, n_q = DIMS[robot]
    assert env.observation_space(p).shape == (n_obs,)
    assert env.action_space(p).shape == (n_act,)
    assert jaxrl.spec(f"{robot}Track-v0").max_episode_steps == 400
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


def test_psm_tip_matches_dh_chain(psm):
    """The env's closed-form tip equals the modified-DH chain (pitch-chain joints summed)."""
    env, p, _, _ = psm
    q = jnp.array([0.3, 0.2, -0.1, 0.05, 0.15, 0.7, 0.4, -0.3, 0.9, 0.0, 0.0])
    T = kin.psm_fk(jnp.array([q[0], q[1] + q[2] + q[3], q[4], q[5], q[6], q[7]]))
    expected = p.base_pos + T[3, :3, 3] + 0.025 * T[2, :3, 2]
    np.testing.assert_allclose(env.tip(_state(env, p, q), p), expected, atol=1e-6)


def test_action_integration_clip_and_lag(psm):
    env, p, step, _ = psm
    s = _state(env, p, target=jnp.full(9, 0.995).at[1].set(0.0))
    a = jnp.array([1.0, -3.0, 0.5, 0, 0, 0, 0, 0, 0])  # out-of-range action is clipped to [-1, 1]
    out = step(jax.random.PRNGKey(0), s, a, p)
    tgt = np.asarray(out.state.target)
    np.testing.assert_allclose(tgt[:3], [1.0, -0.01, 1.0], atol=1e-6)  # 0.995+0.01 clipped to 1
    # joint lag from q = 0 towards the scaled target: q = q* (1 - exp(-dt/tau))
    alpha = 1 - np.exp(-0.0025 / 0.1)
    q_star = tgt * np.asarray(p.joint_scale) + np.asarray(p.joint_offset)
    np.testing.assert_allclose(out.state.q[:9], q_star * alpha, rtol=1e-5)
    np.testing.assert_allclose(out.state.q[9:], 0.0)  # grippers held at zero
    np.testing.assert_allclose(out.state.qdot[:9], q_star * alpha / 0.0025, rtol=1e-4)
    assert q_star[4] == pytest.approx(0.995 * 0.127 + 0.127)  # insertion: scale = offset = 0.127 m


def test_psm_reward_on_hand_made_state(psm):
    env, p, step, _ = psm
    p = p.replace(tau=jnp.full(11, 1e-6))  # joints reach their targets within the step
    q = jnp.zeros(11).at[4].set(0.127)  # already at the target of tgt = 0: qdot = 0
    out = step(jax.random.PRNGKey(0), _state(env, p, q=q), jnp.zeros(9), p)
    # tip = RCM (1, -0.5, 0.75) + (0.127 - 0.4318 + 0.4162 + 0.025) * (0, 0, -1) = (1, -0.5, 0.6136)
    # goal = centre (1, -0.5, 0.6): |tip - goal|_1 = 0.0136; 0.01 |q|_1 = 0.00127
    assert float(out.reward) == pytest.approx(-0.0136 - 0.00127, abs=1e-6)
    assert float(out.info["distance"]) == pytest.approx(0.0136, abs=1e-6)
    assert not bool(out.info["success"])
    # velocity term: start from q = 0, the step moves insertion by 0.127 in dt
    out = step(jax.random.PRNGKey(0), _state(env, p), jnp.zeros(9), p)
    assert float(out.reward) == pytest.approx(-0.0136 - 0.00127 - 1e-4 * 0.127 / 0.0025, abs=1e-5)


def test_success_threshold_5mm(psm):
    env, p, step, _ = psm
    p = p.replace(tau=jnp.full(11, 1e-6))
    q = jnp.zeros(11).at[4].set(0.127)
    for dz, ok in ((0.0136 - 0.0049, True), (0.0136 - 0.0051, False)):
        out = step(jax.random.PRNGKey(0), _state(env, p, q=q, offset=(0.0, 0.0, dz)), jnp.zeros(9), p)
        assert bool(out.info["success"]) is ok


def test_truncation_at_400_not_termination(psm):
    env, p, step, _ = psm
    out = step(jax.random.PRNGKey(0), _state(env, p, time=398), jnp.zeros(9), p)
    assert not bool(out.truncated)
    out = env.step(jax.random.PRNGKey(0), _state(env, p, time=399), jnp.zeros(9), p)
    assert bool(out.truncated) and not bool(out.terminated)
    assert int(out.state.time) == 0  # auto-reset
    np.testing.assert_allclose(out.state.q, 0.0)


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
    np.testing.assert_allclose(s.q[:7], [0, 1, 0, -1, 0, 1, 0], atol=1e-6)  # default pose * scale 2
    assert float(s.q[7]) == pytest.approx(0.05)  # endoscope at mid-travel
    R, flange = kin.iiwa_flange(s.q[:7])
    np.testing.assert_allclose(env.tip(s, p), p.base_pos + flange + 0.15 * R[:, 2], atol=1e-6)
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
