"""Wrappers on the reference envs of jaxrl.testing, against hand-computed values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import FINAL_OBS, VecEnv, spaces
from jaxrl.env import Environment
from jaxrl.testing import ChainEnv, EchoEnv, check_env
from jaxrl.wrappers import (
    ClipAction,
    DomainRandomization,
    EpisodeStatistics,
    FlattenObservation,
    RescaleAction,
    TimeLimit,
    uniform_params,
)


def play(env, actions, params=None, key=None):
    """Jitted scan of ``env.step`` (with auto-reset) over a fixed action sequence ``[T, ...]``."""
    params = env.default_params if params is None else params
    key = jax.random.PRNGKey(0) if key is None else key

    @jax.jit
    def run(key, actions, params):
        k0, k1 = jax.random.split(key)
        obs, state = env.reset(k0, params)

        def body(state, x):
            k, a = x
            out = env.step(k, state, a, params)
            return out.state, (out, out.state)

        _, (outs, states) = jax.lax.scan(body, state, (jax.random.split(k1, actions.shape[0]), actions))
        return obs, outs, states

    return jax.device_get(run(key, jnp.asarray(actions), params))


# --------------------------------------------------------------------------- TimeLimit
def test_time_limit_truncates_and_resets_counter():
    env = TimeLimit(ChainEnv(), 3)
    _, out, states = play(env, np.zeros(10, np.int32))  # always stay: never terminates
    assert not out.terminated.any()
    np.testing.assert_array_equal(np.flatnonzero(out.truncated), [2, 5, 8])
    np.testing.assert_array_equal(states.step, [1, 2, 0, 1, 2, 0, 1, 2, 0, 1])


def test_time_limit_keeps_termination_separate():
    env = TimeLimit(ChainEnv(), 3)  # length 3: moving every step terminates on the 3rd step too
    _, out, _ = play(env, np.ones(6, np.int32))
    np.testing.assert_array_equal(out.terminated, [0, 0, 1, 0, 0, 1])
    np.testing.assert_array_equal(out.truncated, [0, 0, 1, 0, 0, 1])  # both, as in gymnasium


def test_time_limit_rejects_non_positive():
    with pytest.raises(ValueError, match="max_steps > 0"):
        TimeLimit(ChainEnv(), 0)


# --------------------------------------------------------------------------- EpisodeStatistics
# ChainEnv (length 3): move -> +1, stay -> -0.5. Episode 1: [1, 1, 1] -> return 3, length 3.
# Episode 2: [1, 0, 0, 1, 1] -> 1 - .5 - .5 + 1 + 1 = 2, length 5. Then [0, 1] (running).
ACTIONS = np.array([1, 1, 1, 1, 0, 0, 1, 1, 0, 1], np.int32)
EP_RETURN = [1, 2, 3, 1, 0.5, 0, 1, 2, -0.5, 0.5]
EP_LENGTH = [1, 2, 3, 1, 2, 3, 4, 5, 1, 2]
RETURNED = [0, 0, 1, 0, 0, 0, 0, 1, 0, 0]
LAST_RETURN = [0, 0, 3, 3, 3, 3, 3, 2, 2, 2]
LAST_LENGTH = [0, 0, 3, 3, 3, 3, 3, 5, 5, 5]


def _check_stats(info):
    np.testing.assert_allclose(info["episode_return"], EP_RETURN)
    np.testing.assert_array_equal(info["episode_length"], EP_LENGTH)
    np.testing.assert_array_equal(info["returned_episode"], RETURNED)
    np.testing.assert_allclose(info["returned_episode_return"], LAST_RETURN)
    np.testing.assert_array_equal(info["returned_episode_length"], LAST_LENGTH)
    np.testing.assert_array_equal(info["any_finished"], np.cumsum(RETURNED) > 0)


def test_episode_statistics_hand_checked_under_auto_reset():
    _, out, states = play(EpisodeStatistics(ChainEnv()), ACTIONS)
    _check_stats(out.info)
    # The running totals restart after the auto-reset; the returned_* survive it.
    assert states.episode_return[2] == 0 and states.episode_length[2] == 0
    assert states.returned_episode_return[2] == 3 and states.returned_episode_length[7] == 5


@pytest.mark.parametrize("mode", ["always", "optimistic"])
def test_episode_statistics_under_vecenv(mode):
    # Two envs, the same action sequence: each must show the single-env statistics.
    venv = VecEnv(EpisodeStatistics(ChainEnv()), 2, reset_mode=mode, reset_batch=1)
    params = venv.default_params

    @jax.jit
    def run(key):
        _, state = venv.reset(key, params)

        def body(state, x):
            k, a = x
            out = venv.step(k, state, jnp.full((2,), a), params)
            return out.state, out.info

        return jax.lax.scan(body, state, (jax.random.split(key, len(ACTIONS)), jnp.asarray(ACTIONS)))[1]

    info = jax.device_get(run(jax.random.PRNGKey(1)))
    for i in range(2):
        _check_stats(jax.tree.map(lambda x, i=i: x[:, i], info))


def test_episode_statistics_outside_time_limit_sees_truncation():
    env = EpisodeStatistics(TimeLimit(ChainEnv(), 2))
    _, out, _ = play(env, np.zeros(4, np.int32))
    np.testing.assert_array_equal(out.info["returned_episode"], [0, 1, 0, 1])
    np.testing.assert_allclose(out.info["returned_episode_return"], [0, -1, -1, -1])


# --------------------------------------------------------------------------- FlattenObservation
class DictObsEnv(ChainEnv):
    """ChainEnv whose obs is a dict: ``{"grid": [2, 2] float32, "pos": [] int32}``."""

    def _dict(self, state):
        grid = jnp.full((2, 2), state.noise).at[0, 0].set(-1.0)
        return {"grid": grid, "pos": state.pos}

    def reset_env(self, key, params):
        _, s = super().reset_env(key, params)
        return self._dict(s), s

    def step_env(self, key, state, action, params):
        out = super().step_env(key, state, action, params)
        return out._replace(obs=self._dict(out.state))

    def observation_space(self, params):
        return spaces.Dict({"grid": spaces.Box(-1.0, 1.0, (2, 2)), "pos": spaces.Discrete(4)})


def test_flatten_observation_dict():
    env = FlattenObservation(DictObsEnv())
    sp = env.observation_space(env.default_params)
    assert isinstance(sp, spaces.Box) and sp.shape == (5,)
    obs0, out, _ = play(env, np.array([1, 1], np.int32))
    noise = obs0[1]
    np.testing.assert_allclose(obs0, [-1, noise, noise, noise, 0])  # leaves in key order: grid, pos
    np.testing.assert_allclose(out.obs[1], [-1, noise, noise, noise, 2])
    np.testing.assert_allclose(out.info[FINAL_OBS][1], out.obs[1])
    assert out.obs.dtype == np.float32
    check_env(DictObsEnv(), num_steps=8, num_envs=2)  # the harness handles dict observations


def test_flatten_observation_box_keeps_bounds():
    class GridEnv(DictObsEnv):
        def _dict(self, state):
            return super()._dict(state)["grid"]

        def observation_space(self, params):
            return spaces.Box(jnp.array([[-1.0, 0.0], [0.0, 0.0]]), 1.0, (2, 2))

    env = FlattenObservation(GridEnv())
    sp = env.observation_space(env.default_params)
    np.testing.assert_allclose(sp.low, [-1, 0, 0, 0])
    np.testing.assert_allclose(sp.high, [1, 1, 1, 1])
    check_env(env, num_steps=8, num_envs=2)


# --------------------------------------------------------------------------- actions
def test_clip_action():
    env = ClipAction(EchoEnv())  # bounds [-2, 0] .. [2, 10]; obs echoes the applied action
    _, out, _ = play(env, np.array([[5.0, -3.0], [-9.0, 20.0], [1.0, 1.0]], np.float32))
    np.testing.assert_allclose(out.obs, [[2, 0], [-2, 10], [1, 1]])
    with pytest.raises(TypeError, match="Box action space"):
        ClipAction(ChainEnv())


def test_rescale_action_maps_endpoints():
    env = RescaleAction(EchoEnv())
    sp = env.action_space(env.default_params)
    assert float(sp.low) == -1.0 and float(sp.high) == 1.0 and sp.shape == (2,)
    acts = np.array([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0], [-0.5, 0.5], [3.0, -3.0]], np.float32)
    _, out, _ = play(env, acts)
    np.testing.assert_allclose(out.obs, [[-2, 0], [2, 10], [0, 5], [-1, 7.5], [2, 0]], atol=1e-6)


def test_rescale_action_custom_range_and_errors():
    env = RescaleAction(EchoEnv(), low=0.0, high=4.0)
    _, out, _ = play(env, np.array([[0.0, 0.0], [4.0, 4.0], [1.0, 2.0]], np.float32))
    np.testing.assert_allclose(out.obs, [[-2, 0], [2, 10], [-1, 5]], atol=1e-6)
    with pytest.raises(ValueError, match="low < high"):
        RescaleAction(EchoEnv(), low=1.0, high=1.0)
    with pytest.raises(TypeError, match="Box action space"):
        RescaleAction(ChainEnv())


# --------------------------------------------------------------------------- DomainRandomization
def test_domain_randomization_per_episode():
    env = DomainRandomization(EpisodeStatistics(ChainEnv()), uniform_params(move_reward=(1.0, 2.0)))
    acts = np.ones(30, np.int32)  # always move: every reward is the episode's move_reward
    _, out, states = play(env, acts)
    rewards = out.reward.reshape(10, 3)  # ten episodes of three steps
    np.testing.assert_array_equal(np.flatnonzero(out.terminated), np.arange(2, 30, 3))
    assert np.all(rewards == rewards[:, :1]), "params must be fixed within an episode"
    assert len(np.unique(rewards[:, 0])) == 10, "params must be resampled every episode"
    assert (rewards >= 1).all() and (rewards <= 2).all()
    np.testing.assert_allclose(states.params.move_reward.reshape(10, 3)[:-1, -1], rewards[1:, 0])
    # Inner cross-episode state survives the resets done through DomainRandomization.
    done_returns = np.concatenate([[0.0], rewards.sum(1)])  # return of the last finished episode
    last = [done_returns[t // 3 + (t % 3 == 2)] for t in range(30)]
    np.testing.assert_allclose(out.info["returned_episode_return"], last, rtol=1e-6)


def test_domain_randomization_vmaps():
    env = DomainRandomization(ChainEnv(), uniform_params(move_reward=(1.0, 2.0), length=(2, 5)))
    params = env.default_params
    keys = jax.random.split(jax.random.PRNGKey(0), 64)
    _, states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    length = np.asarray(states.params.length)
    assert length.dtype == np.int32 and set(length.tolist()) <= {2, 3, 4} and len(set(length.tolist())) == 3
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    out = step(keys, states, jnp.ones(64, jnp.int32), params)
    np.testing.assert_allclose(out.reward, states.params.move_reward)


def test_wrapper_delegates_attributes():
    env = TimeLimit(EpisodeStatistics(ChainEnv()), 5)
    assert env.unwrapped.__class__ is ChainEnv
    assert env.name == "ChainEnv"
    assert isinstance(env, Environment)
    assert env.max_steps == 5 and env.env.env.default_params.length == 3
