"""Rendering: frames and RGB observations pixel-identical to MiniGrid's, and episode GIFs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs import grid
from jaxrl.envs.grid import constants as C
from jaxrl.envs.grid import interop, render


def test_atlas_shape_and_basic_tiles():
    tiles = render.atlas(8)
    assert tiles.shape == (96, 5, 2, 8, 8, 3) and tiles.dtype == np.uint8
    empty, goal = tiles[C.C_EMPTY, 0, 0], tiles[C.C_GOAL, 0, 0]
    assert empty[1:, 1:].max() == 0 and empty[0, 4].tolist() == [33, 33, 33]  # black, grey top edge (averaged)
    assert goal[4, 4].tolist() == [0, 255, 0]
    assert (tiles[C.C_EMPTY, 1, 0][..., 0] > 0).any()  # the agent (red) is drawn
    assert (tiles[C.C_GOAL, 0, 1][..., 0] > goal[..., 0]).all()  # highlighting lightens the goal's red channel


@pytest.mark.parametrize("env_id", ["MiniGrid-KeyCorridorS3R2-v0", "MiniGrid-LavaCrossingS9N2-v0"])
def test_frames_and_rgb_observations_match_minigrid(env_id, make_grid, resetter):
    gym = pytest.importorskip("gymnasium")
    pytest.importorskip("minigrid")
    env, params = make_grid(env_id)
    rgb_env, _ = make_grid(env_id, "rgb")
    tiles32 = jnp.asarray(render.atlas(32))
    frame = jax.jit(lambda s, t: render.render_frame(s, 32, True, 7, env.see_through_walls, t))
    pov = jax.jit(rgb_env.observe)
    step = jax.jit(lambda s, a: env.step_env(jax.random.PRNGKey(0), s, a, params).state)
    _, states = resetter(env)(jax.random.split(jax.random.PRNGKey(0), 4))
    rng = np.random.default_rng(0)
    mg = gym.make(env_id).unwrapped
    for i in range(2):
        s = jax.tree.map(lambda x, i=i: x[i], states)
        mg.reset(seed=0)
        interop.load_into_minigrid(s, mg)
        for t in range(12):
            ref = mg.get_frame(highlight=True, tile_size=32)
            assert np.array_equal(np.asarray(frame(s, tiles32)), ref), f"frame {i}/{t}"
            assert np.array_equal(np.asarray(pov(s)), mg.get_frame(tile_size=8, agent_pov=True)), f"pov {i}/{t}"
            a = int(rng.choice(7, p=[0.25, 0.25, 0.3, 0.05, 0.05, 0.05, 0.05]))
            _, _, term, trunc, _ = mg.step(a)
            s = step(s, jnp.int32(a))
            if term or trunc:
                break


def test_write_episode_gif(tmp_path, make_grid):
    from PIL import Image

    env, params = make_grid("MiniGrid-Empty-5x5-v0")

    def policy(key, obs):  # forward unless a wall is ahead, then turn right
        return jnp.where(obs[3, 5, 0] == C.WALL, C.RIGHT, C.FORWARD).astype(jnp.int32)

    out = grid.write_episode_gif(env, params, policy, jax.random.PRNGKey(0), tmp_path / "ep.gif", tile_size=8)
    assert out["length"] == 5 and out["return"] == pytest.approx(1 - 0.9 * 5 / 100)
    with Image.open(out["path"]) as im:
        assert im.size == (5 * 8, 5 * 8) and im.n_frames >= 2
    with pytest.raises(TypeError, match="GridEnv"):
        grid.write_episode_gif(object(), params, policy, jax.random.PRNGKey(0), tmp_path / "x.gif")
