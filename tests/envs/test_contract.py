"""Every registered environment keeps the contract (jaxrl.testing.check_env), and the registry's
errors and truncation horizons hold for the built-in ids.

New environments are covered by registering them; nothing needs to be added here.
"""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl import spaces
from jaxrl.testing import assert_trees_equal, check_env

CHEAP_BRAX = {"invertedpendulum"}  # Brax ids whose compile is cheap enough for the default suite


def _norm(env_id: str) -> str:
    return re.sub(r"[^a-z]", "", env_id.lower())


@functools.cache
def _groups() -> tuple[list, list]:
    """Every id twice: for the contract test and for the action-policy test.

    Contract: the default suite checks the first id of each group (family, innermost env
    class, action space class): ids that differ from an earlier one only by params
    (MiniGrid layouts, gymnax games, FinRay tasks) or by a wrapper share its code but cost a
    compile each, so they run with ``-m slow``. gymnax ids are also compared step by step
    with gymnax in test_gymnax_parity.py. Brax ids are all slow except ``CHEAP_BRAX``
    (decided by id, since their factories are heavy).

    Action policy: applied by ``Environment.step`` for every environment alike, so the
    default suite checks one id per (package of the env class, action space class): gymnax
    control and MinAtar share one adapter; Brax ids are all slow.
    """
    seen, seen_policy, contract, policy = set(), set(), [], []
    for env_id in jaxrl.list_envs():
        spec = jaxrl.spec(env_id)
        if spec.family == "brax":
            slow, slow_policy = _norm(env_id) not in CHEAP_BRAX, True
        else:
            env = spec.factory()
            inner = getattr(env, "unwrapped", env)
            space = type(env.action_space(env.default_params))
            group = (spec.family, type(inner), space)
            package = (type(inner).__module__.rsplit(".", 1)[0], space)
            slow, slow_policy = group in seen, package in seen_policy
            seen.add(group)
            seen_policy.add(package)
        contract.append(pytest.param(env_id, marks=pytest.mark.slow) if slow else env_id)
        policy.append(pytest.param(env_id, marks=pytest.mark.slow) if slow_policy else env_id)
    return contract, policy


@pytest.mark.parametrize("env_id", _groups()[0])
def test_contract(env_id):
    """check_env, which also runs checked mode and feeds one invalid action (jaxrl.checks)."""
    env, params = jaxrl.make(env_id)
    report = check_env(env, params, num_steps=32, num_envs=2, key=jax.random.PRNGKey(1))
    assert report.num_steps == 32


def _equivalent_actions(space) -> tuple[jax.Array, list[tuple[int, int]]]:
    """Actions ``[N, ...]`` and the pairs ``(invalid, valid)`` that the unchecked policy makes equal."""
    if isinstance(space, spaces.Discrete | spaces.MultiDiscrete):
        top = np.asarray(space.n if isinstance(space, spaces.Discrete) else space.nvec) - 1
        acts = np.stack([top, top + 5, np.zeros_like(top), np.full_like(top, -3)])
        return jnp.asarray(acts, space.dtype), [(1, 0), (3, 2)]
    assert isinstance(space, spaces.Box) and jnp.issubdtype(space.dtype, jnp.floating), space
    null = jnp.clip(jnp.zeros(space.shape, space.dtype), space.low, space.high).astype(space.dtype)
    first = lambda v: null.reshape(-1).at[0].set(v).reshape(space.shape)  # noqa: E731
    acts = jnp.stack([null, jnp.full(space.shape, jnp.nan, space.dtype), first(jnp.inf), first(-jnp.inf)])
    return acts, [(1, 0), (2, 0), (3, 0)]


@pytest.mark.parametrize("env_id", _groups()[1])
def test_unchecked_action_policy(env_id):
    """Out-of-range integers step like the clipped action, non-finite floats like 0 clipped into the bounds,
    bit for bit (the actions run one after another under lax.map: one compile, no SIMD lanes)."""
    env, params = jaxrl.make(env_id)
    key = jax.random.PRNGKey(3)
    _, state = env.reset(key, params)
    actions, pairs = _equivalent_actions(env.action_space(params))
    out = jax.jit(lambda a: jax.lax.map(lambda x: env.step(key, state, x, params), a))(actions)
    for bad, good in pairs:
        pick = lambda i: jax.tree.map(lambda x, i=i: x[i], out)  # noqa: E731
        assert_trees_equal(pick(bad), pick(good), f"{env_id}: action {np.asarray(actions[bad])}")
    for leaf in jax.tree.leaves((out.obs, out.reward)):
        assert np.isfinite(np.asarray(leaf, np.float64)).all(), env_id


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
