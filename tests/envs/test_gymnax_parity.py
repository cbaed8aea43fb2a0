"""GymnaxEnv reproduces gymnax's own ``env.step`` (auto-reset included) for the same keys and actions.

Short horizons (``max_steps_in_episode``) make every env cross several episode ends, so
terminations, truncations, auto-resets and final observations are all compared.
"""

import gymnax
import jax
import numpy as np
import pytest

import jaxrl

GYMNAX_IDS = [
    "CartPole-v1",
    "Pendulum-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
    "Asterix-MinAtar",
    "Breakout-MinAtar",
    "Freeway-MinAtar",
    "Seaquest-MinAtar",
    "SpaceInvaders-MinAtar",
]
STEPS, HORIZON = 160, 30


@pytest.mark.parametrize("env_id", GYMNAX_IDS)
def test_gymnax_parity(env_id):
    ours, params = jaxrl.make(env_id, max_steps_in_episode=HORIZON)
    ref, _ = gymnax.make(env_id)
    space = ours.action_space(params)

    @jax.jit
    def run(key):
        k0, k1 = jax.random.split(key)
        obs_a, s_a = ours.reset(k0, params)
        obs_b, s_b = ref.reset(k0, params)

        def body(carry, k):
            s_a, s_b = carry
            k_act, k_env = jax.random.split(k)
            action = space.sample(k_act)
            a = ours.step(k_env, s_a, action, params)
            obs, s_b, reward, terminated, truncated, info = ref.step(k_env, s_b, action, params)
            b = (obs, reward, terminated, truncated, info["final_observation"])
            return (a.state, s_b), ((a.obs, a.reward, a.terminated, a.truncated, a.info[jaxrl.FINAL_OBS]), b)

        (s_a, s_b), (a, b) = jax.lax.scan(body, (s_a, s_b), jax.random.split(k1, STEPS))
        return (obs_a, obs_b), (s_a, s_b), a, b

    (obs_a, obs_b), (s_a, s_b), a, b = jax.device_get(run(jax.random.PRNGKey(0)))
    np.testing.assert_array_equal(obs_a, obs_b, err_msg="reset obs")
    for name, x, y in zip(("obs", "reward", "terminated", "truncated", "final obs"), a, b, strict=True):
        assert x.shape == np.shape(y), name
        np.testing.assert_allclose(x, np.asarray(y, x.dtype), rtol=1e-6, atol=1e-6, err_msg=f"{env_id}: {name}")
    for x, y in zip(jax.tree.leaves(s_a), jax.tree.leaves(s_b), strict=True):
        np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64), rtol=1e-6, atol=1e-6)
    ends = int((a[2] | a[3]).sum())
    assert ends >= 3, f"{env_id}: only {ends} episode ends in {STEPS} steps"
    assert a[2].dtype == np.bool_ and a[1].dtype == np.float32
