"""Every registered environment keeps the contract (jaxrl.testing.check_env), and the registry's
errors and truncation horizons hold for the built-in ids.

New environments are covered by registering them; nothing needs to be added here.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.testing import check_env

CHEAP_BRAX = {"invertedpendulum"}  # Brax ids whose compile is cheap enough for the default suite


def _norm(env_id: str) -> str:
    return re.sub(r"[^a-z]", "", env_id.lower())


def _params():
    """Every id; the default suite checks the first id of each group.

    A group is (family, innermost env class, action space class): ids that differ from an
    earlier one only by params (MiniGrid layouts, gymnax games, FinRay tasks) or by a
    wrapper share its code but cost a compile each, so they run with ``-m slow``. gymnax
    ids are also compared step by step with gymnax in test_gymnax_parity.py. Brax ids are
    all slow except ``CHEAP_BRAX`` (decided by id, since their factories are heavy).
    """
    seen, out = set(), []
    for env_id in jaxrl.list_envs():
        spec = jaxrl.spec(env_id)
        if spec.family == "brax":
            slow = _norm(env_id) not in CHEAP_BRAX
        else:
            env = spec.factory()
            inner = getattr(env, "unwrapped", env)
            group = (spec.family, type(inner), type(env.action_space(env.default_params)))
            slow = group in seen
            seen.add(group)
        out.append(pytest.param(env_id, marks=pytest.mark.slow) if slow else env_id)
    return out


@pytest.mark.parametrize("env_id", _params())
def test_contract(env_id):
    env, params = jaxrl.make(env_id)
    report = check_env(env, params, num_steps=32, num_envs=2, key=jax.random.PRNGKey(1))
    assert report.num_steps == 32


# --------------------------------------------------------------------------- registry on built-in ids
def test_unknown_id_names_close_match():
    with pytest.raises(ValueError, match=r"unknown environment id 'CartPole-v2'.*Did you mean: CartPole-v1"):
        jaxrl.make("CartPole-v2")
    with pytest.raises(ValueError, match=r"Did you mean: CartPole-v1"):
        jaxrl.make("cartpole-v1")


def test_unknown_override_names_valid_fields():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['gravityy'\].*valid fields:.*\bgravity\b"):
        jaxrl.make("CartPole-v1", gravityy=1.0)


def test_override_applies():
    _, params = jaxrl.make("CartPole-v1", max_steps_in_episode=17, gravity=3.0)
    assert params.max_steps_in_episode == 17 and params.gravity == 3.0


def test_register_duplicate_builtin_id():
    with pytest.raises(ValueError, match="'CartPole-v1' is already registered"):
        jaxrl.register("CartPole-v1", "control", jaxrl.spec("CartPole-v1").factory, 500)
    assert jaxrl.spec("CartPole-v1").max_episode_steps == 500


def test_list_envs_by_family():
    control, minatar = jaxrl.list_envs("control"), jaxrl.list_envs("minatar")
    assert {"CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0"} <= set(control)
    assert set(minatar) == {f"{g}-MinAtar" for g in ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")}
    assert not set(control) & set(minatar)
    assert set(control) | set(minatar) <= set(jaxrl.list_envs())
    assert all(jaxrl.spec(i).family == "control" for i in control)
    with pytest.raises(ValueError, match=r"unknown family 'nope'; families:.*control.*minatar"):
        jaxrl.list_envs("nope")


def test_gymnax_default_horizon_matches_spec():
    from jaxrl.envs.control import GymnaxEnv

    ids = [i for i in jaxrl.list_envs() if jaxrl.spec(i).family in ("control", "minatar")]
    checked = 0
    for env_id in ids:
        env, params = jaxrl.make(env_id)
        if isinstance(env, GymnaxEnv):
            assert params.max_steps_in_episode == jaxrl.spec(env_id).max_episode_steps, env_id
            checked += 1
    assert checked == 10


def test_mountain_car_truncates_at_spec_horizon():
    # MountainCar never reaches the goal without pushing: only the time limit ends the episode.
    env, params = jaxrl.make("MountainCar-v0")
    horizon = jaxrl.spec("MountainCar-v0").max_episode_steps
    steps = 2 * horizon + 5

    @jax.jit
    def run(key):
        k0, k1 = jax.random.split(key)
        _, state = env.reset(k0, params)

        def body(state, k):
            out = env.step(k, state, jnp.int32(1), params)  # action 1: no push
            return out.state, (out.terminated, out.truncated, out.obs, out.info[jaxrl.FINAL_OBS])

        return jax.lax.scan(body, state, jax.random.split(k1, steps))[1]

    term, trunc, obs, final = jax.device_get(run(jax.random.PRNGKey(0)))
    assert not term.any()
    np.testing.assert_array_equal(np.flatnonzero(trunc), [horizon - 1, 2 * horizon - 1])
    assert not np.array_equal(obs[horizon - 1], final[horizon - 1])  # the truncation step auto-reset
