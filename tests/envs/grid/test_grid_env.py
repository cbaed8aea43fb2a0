"""The gridworld on the jaxrl contract: registry, spaces, rewards, truncation,
auto-reset, params as vmappable pytrees, validation and no re-tracing."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.envs import grid
from jaxrl.envs.grid import constants as C

# MiniGrid's default max_steps for each id (its formulas: 4 s^2, 10 s^2, 20 rooms, 30 rs^2, ...).
MAX_STEPS = {
    "MiniGrid-Empty-5x5-v0": 100,
    "MiniGrid-Empty-6x6-v0": 144,
    "MiniGrid-Empty-8x8-v0": 256,
    "MiniGrid-Empty-16x16-v0": 1024,
    "MiniGrid-Empty-Random-5x5-v0": 100,
    "MiniGrid-Empty-Random-6x6-v0": 144,
    "MiniGrid-FourRooms-v0": 100,
    "MiniGrid-DoorKey-5x5-v0": 250,
    "MiniGrid-DoorKey-6x6-v0": 360,
    "MiniGrid-DoorKey-8x8-v0": 640,
    "MiniGrid-DoorKey-16x16-v0": 2560,
    "MiniGrid-MultiRoom-N2-S4-v0": 40,
    "MiniGrid-MultiRoom-N4-S5-v1": 80,
    "MiniGrid-MultiRoom-N6-v0": 120,
    "MiniGrid-KeyCorridorS3R1-v0": 270,
    "MiniGrid-KeyCorridorS3R2-v0": 270,
    "MiniGrid-KeyCorridorS3R3-v0": 270,
    "MiniGrid-LavaGapS5-v0": 100,
    "MiniGrid-LavaGapS6-v0": 144,
    "MiniGrid-LavaGapS7-v0": 196,
    "MiniGrid-LavaCrossingS9N1-v0": 324,
    "MiniGrid-LavaCrossingS9N2-v0": 324,
    "MiniGrid-LavaCrossingS9N3-v0": 324,
    "MiniGrid-Unlock-v0": 288,
    "MiniGrid-UnlockPickup-v0": 288,
    "MiniGrid-MemoryS7-v0": 245,
    "MiniGrid-MemoryS9-v0": 405,
}


def test_registry_ids_and_max_steps():
    assert set(jaxrl.list_envs("grid")) == set(MAX_STEPS)
    for env_id, steps in MAX_STEPS.items():
        spec = jaxrl.spec(env_id)
        assert spec.family == "grid" and spec.max_episode_steps == steps, env_id
        env = spec.factory()
        assert int(env.default_params.max_steps) == steps and env.name == env_id


def test_max_steps_and_grid_sizes_match_minigrid():
    gym = pytest.importorskip("gymnasium")
    pytest.importorskip("minigrid")
    for env_id in MAX_STEPS:
        mg = gym.make(env_id).unwrapped
        env = jaxrl.spec(env_id).factory()
        assert mg.max_steps == MAX_STEPS[env_id], env_id
        assert (mg.height, mg.width) == (env.task.height, env.task.width), env_id
        assert mg.see_through_walls == env.see_through_walls, env_id


def test_spaces_and_observation_modes(make_grid, resetter):
    env, params = make_grid("MiniGrid-DoorKey-5x5-v0")
    obs, states = resetter(env)(jax.random.split(jax.random.PRNGKey(0), 4))
    obs, state = obs[0], jax.tree.map(lambda x: x[0], states)
    assert obs.shape == (7, 7, 3) and obs.dtype == jnp.uint8
    assert bool(env.observation_space(params).contains(obs))
    assert env.action_space(params).n == 7
    assert obs[3, 6, 0] == C.EMPTY  # the agent's own cell shows what it carries: nothing
    full, _ = make_grid("MiniGrid-DoorKey-5x5-v0", "full")
    f = jax.jit(full.observe)(state)
    assert f.shape == (5, 5, 3) and tuple(f[state.agent_pos[0], state.agent_pos[1]]) == (C.AGENT, 0, state.agent_dir)
    assert bool(full.observation_space(params).contains(f))
    rgb, _ = make_grid("MiniGrid-DoorKey-5x5-v0", "rgb")
    assert jax.jit(rgb.observe)(state).shape == (56, 56, 3) and rgb.observation_space(params).shape == (56, 56, 3)


def test_reward_formula_and_termination(make_grid, stepper):
    """Empty 5x5 from (1, 1) facing right: forward, forward, right, forward, forward reaches the goal."""
    env, params = make_grid("MiniGrid-Empty-5x5-v0")
    _, state = env.reset(jax.random.PRNGKey(0), params)
    F, R = C.FORWARD, C.RIGHT
    acts = jnp.zeros((1, 100), jnp.int32).at[0, :5].set(jnp.array([F, F, R, F, F]))
    obs, _, reward, term, trunc, states = jax.tree.map(
        lambda x: np.asarray(x[0]), stepper(env)(jax.tree.map(lambda x: x[None], state), acts)
    )
    assert reward[4] == pytest.approx(1 - 0.9 * 5 / 100) and term[4] and not trunc[4]
    assert np.all(reward[:4] == 0) and not term[:4].any()
    assert tuple(states.agent_pos[4]) == (3, 3)


def test_truncation_is_not_termination_and_auto_reset(make_grid, stepper):
    env, params = make_grid("MiniGrid-Empty-5x5-v0")
    _, state = env.reset(jax.random.PRNGKey(0), params)
    acts = jnp.full((1, 100), C.LEFT, jnp.int32)
    _, _, reward, term, trunc, states = jax.tree.map(
        lambda x: np.asarray(x[0]), stepper(env)(jax.tree.map(lambda x: x[None], state), acts)
    )
    assert not term.any() and np.all(reward == 0)
    assert trunc[99] and not trunc[:99].any() and states.step_count[99] == 100
    # through the public step: the episode restarts and final_obs keeps the last observation
    last = jax.tree.map(lambda x: jnp.asarray(x[98]), states)
    out = env.step(jax.random.PRNGKey(1), last, jnp.int32(C.RIGHT), params)
    assert bool(out.truncated) and not bool(out.terminated)
    assert int(out.state.step_count) == 0
    assert np.array_equal(
        out.info[jaxrl.FINAL_OBS],
        env.observe(last.replace(agent_dir=(last.agent_dir + 1) % 4, step_count=last.step_count + 1)),
    )


def test_layouts_depend_on_the_key_only(resetter, make_grid):
    env, _ = make_grid("MiniGrid-DoorKey-5x5-v0")
    reset = resetter(env)
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    a, b = reset(keys)[1], reset(keys)[1]
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))
    grids = np.asarray(reset(jax.random.split(jax.random.PRNGKey(1), 4))[1].grid)
    assert len({g.tobytes() for g in np.concatenate([np.asarray(a.grid), grids])}) > 4


def test_vmap_over_params_samples_a_distribution_of_tasks():
    """One static 16x16 DoorKey grid hosts sizes 5..16, drawn per environment inside one program."""
    env, params = jaxrl.make("MiniGrid-DoorKey-16x16-v0")
    sizes = jnp.array([5, 7, 11, 16])
    batch = jax.vmap(lambda s: params.replace(size=s, max_steps=10 * s * s))(sizes)
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    obs, states = jax.jit(jax.vmap(env.reset_env))(keys, batch)
    for n, s in enumerate(np.asarray(sizes)):
        codes = np.asarray(states.grid[n])
        assert np.all(codes[s:, :] == C.C_WALL) and np.all(codes[:, s:] == C.C_WALL)
        assert codes[s - 2, s - 2] == C.C_GOAL
        door = np.argwhere((codes & 15) == C.DOOR_LOCKED)  # (y, x)
        assert len(door) == 1 and 2 <= door[0][1] <= s - 3 and 1 <= door[0][0] <= s - 3
        key = np.argwhere(codes == C.code(C.KEY, C.YELLOW))
        assert states.agent_pos[n][0] < door[0][1] and key[0][1] < door[0][1]
    out = jax.jit(jax.vmap(env.step_env))(keys, states, jnp.full(4, C.LEFT), batch)
    assert out.obs.shape == (4, 7, 7, 3) and not bool(out.truncated.any())


def test_params_are_traced_without_retracing():
    env, params = jaxrl.make("MiniGrid-LavaGapS7-v0")

    @jax.jit
    @chex.assert_max_traces(n=1)
    def episode_start(key, params):
        obs, state = env.reset_env(key, params)
        return env.step_env(key, state, jnp.int32(C.FORWARD), params)

    for size, steps in ((7, 196), (5, 100), (6, 10)):
        out = episode_start(jax.random.PRNGKey(size), params.replace(size=size, max_steps=steps))
        assert out.obs.shape == (7, 7, 3)


def test_bad_params_and_options_fail_at_the_python_boundary():
    with pytest.raises(ValueError, match="size must be in"):
        jaxrl.make("MiniGrid-DoorKey-5x5-v0", size=6)  # beyond the static 5x5 grid
    with pytest.raises(ValueError, match="size must be in"):
        jaxrl.make("MiniGrid-DoorKey-8x8-v0", size=4)
    with pytest.raises(ValueError, match="num_rows must be in"):
        jaxrl.make("MiniGrid-KeyCorridorS3R2-v0", num_rows=3)
    with pytest.raises(ValueError, match="min_rooms <= max_rooms"):
        jaxrl.make("MiniGrid-MultiRoom-N6-v0", min_rooms=5, max_rooms=4)
    with pytest.raises(ValueError, match="max_steps must be in"):
        jaxrl.make("MiniGrid-Empty-8x8-v0", max_steps=0)
    with pytest.raises(ValueError, match="unknown parameter"):
        jaxrl.make("MiniGrid-Empty-8x8-v0", room_size=3)
    with pytest.raises(ValueError, match="obs_mode"):
        grid.make("MiniGrid-Empty-8x8-v0", obs_mode="pixels")
    with pytest.raises(ValueError, match="not a grid environment"):
        grid.make("CartPole-v1")
    with pytest.raises(ValueError, match="odd size"):
        grid.Crossing(size=8)
    with pytest.raises(ValueError, match="view_size"):
        grid.GridEnv(grid.Empty(5), view_size=4)
    env, params = jaxrl.make("MiniGrid-Empty-5x5-v0")
    _, state = env.reset(jax.random.PRNGKey(0), params)
    with pytest.raises(TypeError, match="integer"):
        env.step(jax.random.PRNGKey(0), state, jnp.float32(1.0), params)
    with pytest.raises(ValueError, match="shape"):
        env.step(jax.random.PRNGKey(0), state, jnp.zeros(3, jnp.int32), params)


def test_vecenv_lazy_resets_match_always_mode():
    """Procedural resets under VecEnv's lazy ("optimistic") mode give the same stream as "always"."""
    env, params = jaxrl.make("MiniGrid-Empty-Random-5x5-v0", max_steps=7)
    outs = []
    for mode in ("optimistic", "always"):
        venv = jaxrl.VecEnv(env, 8, reset_mode=mode, reset_batch=2)

        @jax.jit
        def run(key, venv=venv):
            obs, state = venv.reset(key, params)

            def body(state, k):
                out = venv.step(k, state, jax.random.randint(k, (8,), 0, 7), params)
                return out.state, (out.obs, out.reward, out.truncated, out.state.agent_pos)

            return jax.lax.scan(body, state, jax.random.split(key, 20))[1]

        outs.append(run(jax.random.PRNGKey(0)))
    assert bool(outs[0][2].any())  # episodes ended and were reset
    for a, b in zip(outs[0], outs[1], strict=True):
        assert np.array_equal(a, b)
