"""Rendering: frames show the robot and goal where projected; episode GIFs are written."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import jaxrl
from jaxrl.envs.surgical import render
from jaxrl.render import rollout_frames, save_gif


def _count(img, rgb):
    return int(np.sum(np.all(img == np.asarray(rgb, np.uint8), axis=-1)))


def test_draw_projects_a_sphere_where_expected():
    sc = render.Scene()
    sc.sphere([0.0, 0.0, 2.0], 0.3, render.RED)
    sc.polyline([[-10.0, 0.3, 2.0], [10.0, 0.3, 2.0]], render.BLUE, 1)  # horizontal line below the centre
    img = render.draw(sc, np.eye(4), 64, 48, fov_deg=60.0)  # identity camera looks along +z
    ys, xs = np.nonzero(np.all(img == np.asarray(render.RED, np.uint8), axis=-1))
    assert abs(xs.mean() - 32) < 1.5 and abs(ys.mean() - 24) < 1.5
    # radius in px: r f / z * H / 2 = 0.3 * 1.732 / 2 * 24 = 6.2 (inside a 1 px white outline)
    assert 4.5 < (xs.max() - xs.min()) / 2 < 6.5
    row = 24 + 0.3 * np.sqrt(3) / 2 * 24  # v = y f / z
    ys_b = np.nonzero(np.all(img == np.asarray(render.BLUE, np.uint8), axis=-1))[0]
    assert abs(ys_b.mean() - row) < 1.5


@pytest.mark.parametrize(
    "env_id", ["PSMReach-v1", "ECMReach-v1", "STARTrack-v1", "PegTransfer-v1", "ActiveTrack-v1", "NeedleReachFlat-v1"]
)
def test_frames_of_every_family_member(env_id):
    env, p = jaxrl.make(env_id)
    _, s = env.reset(jax.random.PRNGKey(0), p)
    img = render.render_frame(env, s, p, width=160, height=120)
    assert img.shape == (120, 160, 3) and img.dtype == np.uint8
    assert _count(img, render.RED) > 0  # the goal / target is visible
    assert _count(img, render.BACKGROUND) < img.shape[0] * img.shape[1]


def test_rollout_gif(tmp_path):
    env, p = jaxrl.make("NeedleReach-v1")

    def policy(key, obs):  # scripted: move the jaw tip towards the goal
        d = (obs["desired_goal"] - obs["achieved_goal"]) / 0.05
        return jnp.concatenate([jnp.clip(d, -1, 1), jnp.zeros(2)])

    small = lambda s, q: render.render_frame(env, s, q, width=96, height=72)  # noqa: E731
    frames = rollout_frames(env, p, policy, jax.random.PRNGKey(0), 8, render_fn=small)
    _, state = env.reset(jax.random.PRNGKey(0), p)
    assert env.render(state, p).shape == (240, 320, 3)  # the environment's render hook
    assert len(frames) == 9
    assert any(np.any(a != b) for a, b in zip(frames[:-1], frames[1:], strict=True))  # the tool moves
    path = save_gif(frames, str(tmp_path / "ep.gif"), fps=10)
    with Image.open(path) as im:
        assert im.size == (96, 72) and 2 <= im.n_frames <= 9  # PIL merges identical frames
    with pytest.raises(ValueError):
        save_gif([], str(tmp_path / "x.gif"))


def test_render_rejects_other_envs():
    with pytest.raises(TypeError, match="surgical"):
        render.render_frame(object(), None, None)
