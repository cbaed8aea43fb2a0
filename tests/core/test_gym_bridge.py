"""jaxrl.gym_bridge: gymnasium vector API over VecEnv, numbers identical to VecEnv's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl import FINAL_OBS, VecEnv, gym_bridge, spaces
from jaxrl.testing import ChainEnv, EchoEnv
from jaxrl.wrappers import TimeLimit

gym = pytest.importorskip("gymnasium")
from jaxrl.gym_bridge import GymnasiumVectorEnv, to_gymnasium_space  # noqa: E402

N, SEED, STEPS = 4, 3, 40


@pytest.fixture(scope="module")
def cartpole():
    return GymnasiumVectorEnv("CartPole-v1", N, params={"max_steps_in_episode": 12}, seed=SEED)


def test_spaces_and_metadata(cartpole):
    assert isinstance(cartpole, gym.vector.VectorEnv)
    assert cartpole.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    assert cartpole.num_envs == N
    assert cartpole.single_action_space == gym.spaces.Discrete(2)
    assert cartpole.action_space == gym.spaces.MultiDiscrete([2] * N)
    obs_space = cartpole.single_observation_space
    assert isinstance(obs_space, gym.spaces.Box) and obs_space.shape == (4,) and obs_space.dtype == np.float32
    assert cartpole.observation_space.shape == (N, 4)
    assert "CartPole-v1" in repr(cartpole)


def test_gymnasium_loop_matches_vecenv(cartpole):
    env, params = jaxrl.make("CartPole-v1", max_steps_in_episode=12)
    venv = VecEnv(env, N)
    vstep = jax.jit(venv.step)

    obs, infos = cartpole.reset(seed=SEED)
    assert infos == {} and isinstance(obs, np.ndarray) and obs.shape == (N, 4)
    key = jax.random.PRNGKey(SEED)  # the documented key schedule
    key, sub = jax.random.split(key)
    ref_obs, state = venv.reset(sub, params)
    np.testing.assert_array_equal(obs, ref_obs)

    cartpole.action_space.seed(0)
    ends = 0
    for _ in range(STEPS):
        actions = cartpole.action_space.sample()  # int64, as gymnasium makes them
        obs, rewards, terms, truncs, infos = cartpole.step(actions)
        key, sub = jax.random.split(key)
        ref = vstep(sub, state, jnp.asarray(actions, jnp.int32), params)
        state = ref.state
        assert isinstance(obs, np.ndarray) and obs.dtype == np.float32 and obs.shape == (N, 4)
        assert rewards.dtype == np.float32 and terms.dtype == np.bool_ and truncs.shape == (N,)
        assert cartpole.observation_space.contains(obs)
        np.testing.assert_allclose(obs, ref.obs, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(rewards, ref.reward)
        np.testing.assert_array_equal(terms, ref.terminated)
        np.testing.assert_array_equal(truncs, ref.truncated)
        done = terms | truncs
        if done.any():
            ends += done.sum()
            np.testing.assert_array_equal(infos["_final_obs"], done)
            for i in range(N):
                if done[i]:
                    np.testing.assert_allclose(infos["final_obs"][i], ref.info[FINAL_OBS][i], rtol=1e-6, atol=1e-7)
                    assert not np.array_equal(infos["final_obs"][i], obs[i])
                else:
                    assert infos["final_obs"][i] is None
        else:
            assert "final_obs" not in infos
    assert ends >= N and truncs.dtype == np.bool_


def test_seed_and_reset_stream(cartpole):
    a, _ = cartpole.reset(seed=11)
    b, _ = cartpole.reset()  # continues the stream: different
    c, _ = cartpole.reset(seed=11)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)
    with pytest.raises(TypeError, match="seed must be an int"):
        cartpole.reset(seed=[1, 2, 3, 4])


def test_reset_mask(cartpole):
    obs, _ = cartpole.reset(seed=0)
    mask = np.array([True, False, True, False])
    new, _ = cartpole.reset(options={"reset_mask": mask})
    np.testing.assert_array_equal(new[~mask], obs[~mask])
    assert not np.array_equal(new[mask], obs[mask])
    with pytest.raises(ValueError, match="unsupported reset options"):
        cartpole.reset(options={"foo": 1})
    with pytest.raises(ValueError, match="reset_mask"):
        cartpole.reset(options={"reset_mask": np.ones(3, bool)})


def test_action_errors(cartpole):
    cartpole.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(3,\), expected \(4,\)"):
        cartpole.step(np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="integers are required"):
        cartpole.step(np.zeros(N, np.float32))
    fresh = GymnasiumVectorEnv(ChainEnv(), 2)
    with pytest.raises(RuntimeError, match="reset"):
        fresh.step(np.zeros(2, np.int64))


def test_continuous_env_under_gymnasium_wrappers():
    # gymnasium's own vector wrappers run on top. EchoEnv echoes the applied action, so the obs
    # shows RescaleAction's mapping of [-1, 1] onto the bounds [-2, 0]..[2, 10];
    # DictInfoToList parses the info masks.
    base = GymnasiumVectorEnv(TimeLimit(EchoEnv(), 3), 2)
    assert base.single_action_space == gym.spaces.Box(np.array([-2, 0], np.float32), np.array([2, 10], np.float32))
    envs = gym.wrappers.vector.DictInfoToList(gym.wrappers.vector.RescaleAction(base, np.float32(-1), np.float32(1)))
    envs.reset(seed=1)
    acts = np.array([[[-1, -1], [1, 1]], [[0, 0.5], [1, -1]], [[0.5, 0], [-1, 1]]], np.float32)
    seen = [envs.step(a)[0] for a in acts[:2]]
    np.testing.assert_allclose(seen, [[[-2, 0], [2, 10]], [[0, 7.5], [2, 0]]])
    obs, rew, term, trunc, infos = envs.step(acts[2])  # the time limit ends both episodes
    assert trunc.all() and not term.any()
    assert base.single_observation_space.contains(obs[0]) and not np.allclose(obs, [[1, 5], [-2, 10]])
    assert isinstance(infos, list) and len(infos) == 2
    np.testing.assert_allclose(infos[0]["final_obs"], [1, 5])
    np.testing.assert_allclose(infos[1]["final_obs"], [-2, 10])
    with pytest.raises(TypeError, match="dtype int64"):
        base.step(np.zeros((2, 2), np.int64))


def test_episode_info_passes_through():
    envs = GymnasiumVectorEnv(jaxrl.wrappers.EpisodeStatistics(ChainEnv()), 2, seed=0)
    envs.reset(seed=0)
    for _ in range(3):
        _, _, term, _, infos = envs.step(np.ones(2, np.int64))  # three moves: episode ends
    assert term.all()
    np.testing.assert_array_equal(infos["returned_episode_return"], [3.0, 3.0])
    np.testing.assert_array_equal(infos["final_info"]["episode_length"], [3, 3])
    np.testing.assert_array_equal(infos["_final_info"], [True, True])


def test_space_conversion():
    sp = spaces.Dict({"a": spaces.MultiDiscrete([2, 5]), "b": spaces.Box(-np.inf, 1.0, (2,))})
    g = to_gymnasium_space(sp)
    assert g["a"] == gym.spaces.MultiDiscrete([2, 5], dtype=np.int32)
    assert g["b"].low[0] == -np.inf and g["b"].high.tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match="cannot convert"):
        to_gymnasium_space(spaces.Space())


def test_missing_gymnasium_raises_clear_error(monkeypatch):
    monkeypatch.setattr(gym_bridge, "_gym", None)
    with pytest.raises(ImportError, match=r"pip install 'jaxrl\[gymnasium\]'"):
        GymnasiumVectorEnv(ChainEnv(), 2)
