"""The ``Environment.render`` hook and jaxrl.render's helpers; gymnax (classic control, MinAtar) and grid frames.

Each family renders a short episode: frames are ``[H, W, 3]`` uint8, not blank, one
size, and change over time; hand-posed states check what the picture shows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxrl import spaces, wrappers
from jaxrl.env import Environment, Step
from jaxrl.render import StepHistory, check_frame, rollout_frames, save_gif


def assert_animated(frames: list[np.ndarray], min_frames: int = 3) -> None:
    """uint8 ``[H, W, 3]``, one size, no blank frame, and the picture changes during the episode."""
    assert len(frames) >= min_frames
    for f in frames:
        assert f.dtype == np.uint8 and f.ndim == 3 and f.shape[-1] == 3 and f.shape == frames[0].shape
        assert (f != f[:1, :1]).any(), "blank (constant) frame"
    assert not np.array_equal(frames[0], frames[-1]), "the picture does not change over the episode"


def centroid(frame: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    """Mean ``(row, col)`` of the pixels of exactly colour ``rgb``."""
    rows, cols = np.nonzero((frame == np.array(rgb, np.uint8)).all(-1))
    assert len(rows), f"no pixel of colour {rgb}"
    return np.array([rows.mean(), cols.mean()])


# --------------------------------------------------------------------------- hook, wrappers, helpers
@struct.dataclass
class Counter:
    t: jax.Array  # [] int32


class Dot(Environment):
    """A dot moving one pixel right per step on an 8 x 8 image; the episode ends at t = 5."""

    @property
    def default_params(self):
        return jnp.int32(5)

    def reset_env(self, key, params):
        return jnp.float32(0.0), Counter(jnp.int32(0))

    def step_env(self, key, state, action, params):
        t = state.t + 1
        return Step(t.astype(jnp.float32), Counter(t), jnp.float32(0.0), t >= params, jnp.bool_(False), {})

    def observation_space(self, params):
        return spaces.Box(0.0, 10.0, (), jnp.float32)

    def action_space(self, params):
        return spaces.Discrete(2)

    def render(self, state, params):
        img = np.zeros((8, 8, 3), np.uint8)
        img[4, int(state.t)] = 255
        return img


class Blind(Dot):
    render = Environment.render


def test_default_render_names_the_environment():
    env = Blind()
    with pytest.raises(NotImplementedError, match="Blind.*has no renderer.*override Environment.render"):
        env.render(Counter(jnp.int32(0)), env.default_params)


def test_wrappers_forward_render_with_the_inner_state():
    base = Dot()
    env = wrappers.FlattenObservation(wrappers.EpisodeStatistics(wrappers.TimeLimit(base, 3)))
    _, state = env.reset(jax.random.PRNGKey(0))
    state = env.step(jax.random.PRNGKey(1), state, jnp.int32(0)).state
    frame = env.render(state, env.default_params)
    assert np.array_equal(frame, base.render(Counter(jnp.int32(1)), None))

    seen = []

    class Spy(Dot):
        def render(self, state, params):
            seen.append(int(params))
            return super().render(state, params)

    dr = wrappers.DomainRandomization(Spy(), lambda key, p: p + 7)
    _, s = dr.reset(jax.random.PRNGKey(0))
    dr.render(s, dr.default_params)
    assert seen == [12]  # rendered with the episode's sampled params, not the nominal 5


def test_rollout_frames_stops_at_the_end_and_save_gif(tmp_path):
    from PIL import Image

    env = Dot()
    frames = rollout_frames(env, env.default_params, None, jax.random.PRNGKey(0), max_steps=50)
    assert len(frames) == 6  # reset + 5 steps, the last one terminal
    assert [int(np.argmax(f[4, :, 0])) for f in frames] == [0, 1, 2, 3, 4, 5]
    assert len(rollout_frames(env, None, None, jax.random.PRNGKey(0), 3)) == 4
    assert len(rollout_frames(env, None, None, jax.random.PRNGKey(0), 7, stop_at_end=False)) == 8
    path = save_gif(frames, tmp_path / "sub" / "dot.gif", fps=10)
    with Image.open(path) as im:
        assert im.size == (8, 8) and im.n_frames == 6 and im.info["duration"] == 100
    with pytest.raises(ValueError, match="at least one frame"):
        save_gif([], tmp_path / "x.gif")
    with pytest.raises(ValueError, match="differ in size"):
        save_gif([frames[0], np.zeros((4, 4, 3), np.uint8)], tmp_path / "x.gif")
    with pytest.raises(ValueError, match=r"Blind.render: expected an \[H, W, 3\] uint8"):
        rollout_frames(Blind(), None, None, jax.random.PRNGKey(0), 1, render_fn=lambda s, p: np.zeros((8, 8)))
    with pytest.raises(ValueError, match="uint8"):
        check_frame(np.zeros((2, 2, 3), np.float32))


def test_step_history():
    h = StepHistory(3)
    assert h.push(0, "a") == ["a"]
    assert h.push(1, "b") == ["a", "b"]
    assert h.push(1, "B") == ["a", "B"]  # re-rendering a step replaces it
    assert h.push(2, "c") == ["a", "B", "c"]
    assert h.push(3, "d") == ["B", "c", "d"]  # at most maxlen
    assert h.push(0, "e") == ["e"]  # a new episode starts afresh


# --------------------------------------------------------------------------- gymnax
CLASSIC = ["CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0"]


@pytest.mark.parametrize("env_id", CLASSIC + ["Breakout-MinAtar"])
def test_gymnax_episode_frames(env_id, tmp_path):
    from jaxrl.envs.control import GymnaxEnv

    env = wrappers.EpisodeStatistics(GymnaxEnv(env_id))
    frames = rollout_frames(env, env.default_params, None, jax.random.PRNGKey(3), max_steps=10)
    assert_animated(frames)
    save_gif(frames, tmp_path / f"{env_id}.gif")


def _classic(env_id):
    from jaxrl.envs.control import GymnaxEnv

    env = GymnaxEnv(env_id)
    _, state = env.reset_env(jax.random.PRNGKey(0), env.default_params)
    return env, env.default_params, state


def test_cartpole_pole_leans_with_theta_and_cart_moves_with_x():
    env, p, s = _classic("CartPole-v1")
    pole, axle = (202, 152, 101), (129, 132, 203)
    up, right, left = (env.render(s.replace(x=0.0, theta=t), p) for t in (0.0, 0.5, -0.5))
    cart = centroid(up, axle)
    assert abs(centroid(up, pole)[1] - cart[1]) < 1.5 and centroid(up, pole)[0] < cart[0]  # straight up
    assert centroid(right, pole)[1] > cart[1] + 10 and centroid(left, pole)[1] < cart[1] - 10
    moved = env.render(s.replace(x=1.0, theta=0.0), p)
    assert centroid(moved, axle)[1] > cart[1] + 20


def test_pendulum_acrobot_mountain_car_pictures_follow_the_state():
    env, p, s = _classic("Pendulum-v1")
    rod = (204, 77, 77)
    up, down = env.render(s.replace(theta=0.0), p), env.render(s.replace(theta=np.pi), p)
    assert centroid(up, rod)[0] < up.shape[0] / 2 < centroid(down, rod)[0]

    env, p, s = _classic("Acrobot-v1")
    link = (0, 204, 204)
    hanging = env.render(s.replace(joint_angle1=0.0, joint_angle2=0.0), p)
    raised = env.render(s.replace(joint_angle1=np.pi, joint_angle2=0.0), p)
    assert centroid(raised, link)[0] < hanging.shape[0] / 2 < centroid(hanging, link)[0]

    env, p, s = _classic("MountainCar-v0")
    wheel = (128, 128, 128)
    cols = [centroid(env.render(s.replace(position=x), p), wheel)[1] for x in (-1.0, -0.5, 0.3)]
    assert cols[0] < cols[1] < cols[2]


def test_minatar_channels_as_colours():
    from jaxrl.envs.control import render

    obs = np.zeros((10, 10, 4), bool)
    obs[0, 0, 2] = True
    obs[5, 7, 0] = obs[5, 7, 3] = True  # overlapping channels: the highest wins
    img = render.minatar(obs, cell=4)
    pal = render.minatar_palette(4)
    assert img.shape == (40, 40, 3) and len({tuple(c) for c in pal}) == 5
    assert (img[1:4, 1:4] == pal[3]).all()  # channel 2 -> palette entry 3 (0 is empty)
    assert (img[21:24, 29:32] == pal[4]).all()
    assert (img[9:12, 9:12] == 0).all()  # empty cells are black


def test_gymnax_without_a_renderer_names_it():
    from jaxrl.envs.control import GymnaxEnv, render

    class Fake:
        gymnax_id = "DeepSea-bsuite"

    with pytest.raises(NotImplementedError, match="DeepSea-bsuite has no renderer"):
        render.render_gymnax(Fake(), None, None)
    assert set(CLASSIC) == set(render.CLASSIC)
    assert GymnaxEnv.render is not Environment.render


# --------------------------------------------------------------------------- grid
def test_grid_frames_through_render_state(tmp_path):
    from jaxrl.envs import grid
    from jaxrl.envs.grid import constants as C
    from jaxrl.envs.grid import render

    env, params = grid.make("MiniGrid-Empty-5x5-v0")

    def policy(key, obs):  # forward unless a wall is ahead, then turn right
        return jnp.where(obs[3, 5, 0] == C.WALL, C.RIGHT, C.FORWARD).astype(jnp.int32)

    draw = lambda s, p: render.render_state(env, s, p, tile_size=8)  # noqa: E731
    frames = rollout_frames(env, params, policy, jax.random.PRNGKey(0), 20, render_fn=draw)
    assert len(frames) == 6 and frames[0].shape == (40, 40, 3)  # reaches the goal in 5 steps
    assert_animated(frames)
    _, s = env.reset_env(jax.random.PRNGKey(0), params)
    assert np.array_equal(frames[0], np.asarray(render.render_frame(s, 8, True, env.view_size, env.see_through_walls)))
    with pytest.raises(TypeError, match="GridEnv"):
        render.render_state(Dot(), s)


@pytest.mark.skipif(
    not hasattr(__import__("jaxrl.envs.grid", fromlist=["GridEnv"]).GridEnv, "render")
    or __import__("jaxrl.envs.grid", fromlist=["GridEnv"]).GridEnv.render is Environment.render,
    reason="GridEnv.render is not wired to envs/grid/render.render_state yet (requested of envs/grid/core.py)",
)
def test_grid_env_render_hook():
    from jaxrl.envs import grid
    from jaxrl.envs.grid import render

    env, params = grid.make("MiniGrid-Empty-5x5-v0")
    _, s = env.reset_env(jax.random.PRNGKey(0), params)
    assert np.array_equal(env.render(s, params), render.render_state(env, s, params))
