"""Out-of-space actions (unchecked policy and jaxrl.checks), make() override validation, VecEnv num_envs.

The registry-wide sweep of the unchecked policy is in tests/envs/test_contract.py; checked
mode on every id is part of jaxrl.testing.check_env.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import jaxrl
from jaxrl import VecEnv, checks, spaces
from jaxrl.env import Environment, Step, check_action
from jaxrl.errors import UserError
from jaxrl.testing import ChainEnv, EchoEnv, assert_trees_equal, check_env
from jaxrl.wrappers import ClipAction, RescaleAction, TimeLimit

K = jax.random.PRNGKey(0)


@pytest.fixture(autouse=True)
def _unchecked():
    """Every test starts (and leaves) in unchecked mode, whatever the environment variable says."""
    prev = checks.enable(False)
    yield
    checks.enable(prev)


def _step_each(env, params, state, actions):
    """``env.step`` from ``state`` with the same key for each action, sequentially (``lax.map``: no SIMD lanes)."""
    return jax.jit(lambda a: jax.lax.map(lambda x: env.step(K, state, x, params), a))(actions)


def _pick(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


# --------------------------------------------------------------------------- unchecked policy
def test_cartpole_out_of_range_equals_clipped_bit_for_bit():
    env, params = jaxrl.make("CartPole-v1")
    _, state = env.reset(K, params)
    out = _step_each(env, params, state, jnp.array([1, 5, 1000, 0, -3], jnp.int32))
    for i, j in ((1, 0), (2, 0), (4, 3)):
        assert_trees_equal(_pick(out, i), _pick(out, j), f"action index {i}")
    # gymnax's force is force_mag * (2a - 1): before the fix action 5 pushed 9x harder than action 1
    assert not np.array_equal(np.asarray(out.obs[0]), np.asarray(out.obs[3]))


def test_vecenv_clips_discrete_and_replaces_nan():
    venv = VecEnv(ChainEnv(), 4)
    _, state = venv.reset(K)
    out = venv.step(K, state, jnp.array([1, 7, 0, -5], jnp.int32))
    # ChainEnv: action 1 moves (+1.0), anything else stays (-0.5); 7 -> 1 moves, -5 -> 0 stays
    np.testing.assert_array_equal(np.asarray(out.reward), [1.0, 1.0, -0.5, -0.5])

    echo = VecEnv(EchoEnv(), 3)  # obs is the action applied; bounds [-2, 0] .. [2, 10]
    _, s = echo.reset(K)
    a = jnp.array([[jnp.nan, jnp.inf], [-jnp.inf, 3.0], [5.0, 20.0]], jnp.float32)
    out = echo.step(K, s, a)
    # non-finite -> 0 clipped into the bounds; finite out-of-bounds values pass unchanged
    np.testing.assert_array_equal(np.asarray(out.obs), [[0.0, 0.0], [0.0, 3.0], [5.0, 20.0]])


def test_pendulum_nan_action_keeps_the_episode_finite():
    env, params = jaxrl.make("Pendulum-v1")
    _, s0 = env.reset(K, params)

    @jax.jit
    def run(first):  # the first action, then 5 zero actions
        def body(s, a):
            out = env.step(K, s, a, params)
            return out.state, (out.obs, out.reward)

        actions = jnp.concatenate([first[None], jnp.zeros((5, 1), jnp.float32)])
        return jax.lax.scan(body, s0, actions)[1]

    nan = run(jnp.array([jnp.nan], jnp.float32))
    assert np.isfinite(np.asarray(nan[0])).all() and np.isfinite(np.asarray(nan[1])).all()
    assert_trees_equal(nan, run(jnp.zeros(1, jnp.float32)), "NaN vs zero torque")


@struct.dataclass
class _NoParams:
    pass


class _MultiEcho(Environment):
    """Observation is the ``MultiDiscrete([3, 5])`` action applied, as float32."""

    @property
    def default_params(self):
        return _NoParams()

    def reset_env(self, key, params):
        return jnp.zeros(2, jnp.float32), jnp.int32(0)

    def step_env(self, key, state, action, params):
        obs = jnp.asarray(action, jnp.float32)
        return Step(obs, state + 1, jnp.float32(0), jnp.bool_(False), jnp.bool_(False), {})

    def observation_space(self, params):
        return spaces.Box(0.0, 4.0, (2,), jnp.float32)

    def action_space(self, params):
        return spaces.MultiDiscrete([3, 5])


def test_multidiscrete_clipped_per_entry():
    env = _MultiEcho()
    _, s = env.reset(K)
    out = env.step(K, s, jnp.array([7, -2], jnp.int32))
    np.testing.assert_array_equal(np.asarray(out.obs), [2.0, 0.0])
    with checks.scope():
        with pytest.raises(checks.InvalidActionError, match=r"_MultiEcho: invalid action \[1 5\]"):
            env.step(K, s, jnp.array([1, 5], jnp.int32))


def test_integer_box_clipped_into_the_integers_inside_its_bounds():
    cases = [
        (spaces.Box(-1.5, 2.5, (3,), jnp.int8), [-128, 1, 127], [-1, 1, 2]),
        (spaces.Box(-1000, 1000, (3,), jnp.int8), [-128, 1, 127], [-128, 1, 127]),  # bounds beyond int8 saturate
        (spaces.Box(-jnp.inf, jnp.inf, (2,), jnp.int32), [-(2**31), 2**31 - 1], [-(2**31), 2**31 - 1]),
    ]
    for space, action, want in cases:
        got = checks.guard_action("x", space, jnp.asarray(action, space.dtype))
        np.testing.assert_array_equal(np.asarray(got), want, err_msg=repr(space))
        assert got.dtype == space.dtype


def test_wrappers_keep_their_meaning():
    env = EchoEnv()  # bounds [-2, 0] .. [2, 10]
    _, s = env.reset(K)
    clip = ClipAction(env)
    np.testing.assert_array_equal(np.asarray(clip.step(K, s, jnp.array([5.0, -1.0])).obs), [2.0, 0.0])
    np.testing.assert_array_equal(np.asarray(clip.step(K, s, jnp.array([jnp.nan, 20.0])).obs), [0.0, 10.0])
    resc = RescaleAction(env)  # NaN -> 0 in [-1, 1] -> the centre of the inner bounds
    np.testing.assert_allclose(np.asarray(resc.step(K, s, jnp.array([jnp.nan, 1.0])).obs), [0.0, 10.0])


# --------------------------------------------------------------------------- checked mode
def test_checked_eager_step_names_env_value_and_step():
    env, params = jaxrl.make("CartPole-v1")
    _, s = env.reset(K, params)
    s = env.step(K, s, jnp.int32(1), params).state  # episode step 1
    with checks.scope():
        env.step(K, s, jnp.int32(0), params)  # valid actions pass
        with pytest.raises(checks.InvalidActionError, match=r"CartPole-v1: invalid action 5 \(episode step 1\)"):
            env.step(K, s, jnp.int32(5), params)
    env.step(K, s, jnp.int32(5), params)  # unchecked again after the block


def test_checked_under_jit_vecenv_names_batch_index():
    venv = VecEnv(TimeLimit(ChainEnv(), 100), 3)
    _, s = venv.reset(K)

    def run(state, actions):  # [T, B] actions under scan
        return jax.lax.scan(lambda st, a: (venv.step(K, st, a).state, None), state, actions)[0]

    actions = jnp.ones((4, 3), jnp.int32).at[2, 1].set(9)
    compiled = jax.jit(run)
    compiled(s, actions)  # traced unchecked: fine
    match = r"ChainEnv: invalid action 9 \(batch index 1, episode step 2\).*0 \.\. 1"
    with pytest.raises(checks.InvalidActionError, match=match):
        with checks.scope():  # clears caches: the same jitted function is traced again with checks
            compiled(s, actions)
    # Without translate() the error still names the environment and value, inside JAX's runtime error.
    checks.enable(True)
    with pytest.raises(Exception, match=r"ChainEnv: invalid action 9"):
        jax.block_until_ready(jax.jit(run)(s, actions))


def test_checked_nan_continuous():
    env, params = jaxrl.make("MountainCarContinuous-v0")
    _, s = env.reset(K, params)
    with checks.scope():
        with pytest.raises(
            checks.InvalidActionError, match=r"MountainCarContinuous-v0: invalid action \[nan\].*non-finite"
        ):
            env.step(K, s, jnp.array([jnp.nan], jnp.float32), params)
        env.step(K, s, jnp.array([3.0], jnp.float32), params)  # finite out of bounds: valid input, not an error


def test_enable_rejects_non_bool():
    with pytest.raises(UserError, match="bool"):
        checks.enable("yes")


def test_check_env_rejects_a_step_without_the_guard():
    class Unguarded(ChainEnv):  # its own step: shape/dtype checks and auto-reset, but no action policy
        @property
        def name(self):
            return "Unguarded"

        def step(self, key, state, action, params=None):
            params = self.default_params if params is None else params
            check_action(self, action, params)
            k_step, k_reset = jax.random.split(key)
            out = self.step_env(k_step, state, action, params)
            obs, new = jax.lax.cond(
                out.terminated | out.truncated, lambda: self.reset_env(k_reset, params), lambda: (out.obs, out.state)
            )
            return Step(obs, new, out.reward, out.terminated, out.truncated, {**out.info, jaxrl.FINAL_OBS: out.obs})

    with pytest.raises(AssertionError, match=r"Unguarded: invalid action 2 at step 8 was accepted in checked mode"):
        check_env(Unguarded(), num_steps=16, num_envs=2)


# --------------------------------------------------------------------------- make() overrides, VecEnv num_envs
@pytest.mark.parametrize(
    "override, message",
    [
        ({"gravity": "abc"}, r"'CartPole-v1': parameter 'gravity' expects float .*got 'abc'"),
        ({"gravity": None}, r"parameter 'gravity' expects float"),
        ({"gravity": float("nan")}, r"parameter 'gravity' must be finite"),
        ({"gravity": np.float32("inf")}, r"parameter 'gravity' must be finite"),
        ({"max_steps_in_episode": -5}, r"'max_steps_in_episode' must be a positive integer, got -5"),
        ({"max_steps_in_episode": 0}, r"'max_steps_in_episode' must be a positive integer"),
        ({"max_steps_in_episode": 2.5}, r"'max_steps_in_episode' expects int .*got 2.5"),
        ({"max_steps_in_episode": True}, r"'max_steps_in_episode' expects int"),
    ],
)
def test_make_rejects_bad_overrides(override, message):
    with pytest.raises(UserError, match=message):
        jaxrl.make("CartPole-v1", **override)


def test_make_override_kinds_that_are_accepted():
    _, p = jaxrl.make("CartPole-v1", gravity=10, max_steps_in_episode=np.int64(7))
    assert p.gravity == 10.0 and isinstance(p.gravity, float) and p.max_steps_in_episode == 7
    with pytest.raises(UserError, match=r"'MiniGrid-Empty-5x5-v0': parameter 'random_start' expects bool"):
        jaxrl.make("MiniGrid-Empty-5x5-v0", random_start=1)
    # Arrays and tracers pass unchecked (domain randomisation under vmap).
    grav = jax.vmap(lambda g: jaxrl.make("CartPole-v1", gravity=g)[1].gravity)(jnp.array([1.0, 2.0]))
    np.testing.assert_array_equal(np.asarray(grav), [1.0, 2.0])


@pytest.mark.parametrize("n", [2.7, 2.0, True, "4", 0, -1, None])
def test_vecenv_num_envs_must_be_a_positive_int(n):
    with pytest.raises(UserError, match=r"num_envs must be a positive int"):
        VecEnv(ChainEnv(), n)


def test_vecenv_num_envs_numpy_int():
    assert VecEnv(ChainEnv(), np.int64(3)).num_envs == 3
