"""Frames of the physics families: Brax (MuJoCo's headless renderer and the projection) and fin-ray (plate,
ray, KS). Cheap configurations: inverted_pendulum, few steps, KS with few substeps per action."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import wrappers
from jaxrl.render import colormap, rollout_frames, save_gif


def assert_animated(frames: list[np.ndarray]) -> None:
    """uint8 ``[H, W, 3]``, one size, no blank frame, and the picture changes (as in test_render.py)."""
    assert len(frames) >= 3
    for f in frames:
        assert f.dtype == np.uint8 and f.ndim == 3 and f.shape[-1] == 3 and f.shape == frames[0].shape
        assert (f != f[:1, :1]).any(), "blank (constant) frame"
    assert not np.array_equal(frames[0], frames[-1]), "the picture does not change over the episode"


# --------------------------------------------------------------------------- brax
@functools.cache
def _pendulum():
    from jaxrl.envs.control.brax_adapter import BraxEnv

    env = BraxEnv("inverted_pendulum")
    _, state = jax.jit(env.reset_env)(jax.random.PRNGKey(0), env.default_params)
    return env, state


def _tilted(state, angle: float):
    """The reset state with the pole hinge at ``angle`` (what the renderers read: ``q`` and ``x.pos``)."""
    ps = state.brax_state.pipeline_state
    ps = ps.replace(q=ps.q.at[1].set(angle))
    return state.replace(brax_state=state.brax_state.replace(pipeline_state=ps))


def _gl_available() -> bool:
    from jaxrl.envs.control import brax_render

    env, state = _pendulum()
    try:
        brax_render.render_brax(env, state, None, "mujoco")
    except RuntimeError:
        return False
    return True


@pytest.mark.parametrize("renderer", ["projection", "mujoco"])
def test_brax_frames_follow_the_pole(renderer, tmp_path):
    from jaxrl.envs.control import brax_render

    if renderer == "mujoco" and not _gl_available():
        pytest.skip("no headless OpenGL (EGL / OSMesa) here")
    env, state = _pendulum()
    frames = [brax_render.render_brax(env, _tilted(state, a), None, renderer) for a in (-0.6, 0.0, 0.3, 0.6)]
    assert_animated(frames)
    assert frames[0].shape == (brax_render.HEIGHT, brax_render.WIDTH, 3)
    assert all(not np.array_equal(a, b) for a, b in zip(frames[:-1], frames[1:], strict=True))
    # the pole tilted one way and the other leans to opposite sides of the upright one (side view)
    if renderer == "projection":
        def pole(f):  # mean column of the body's (blue) pixels well above the rail (the row richest in blue)
            blue = f[..., 2].astype(int) - f[..., 0] > 60
            rail = int(np.argmax(blue.sum(1)))
            return np.nonzero(blue[: rail - 15])[1].mean()

        lean = [pole(f) - pole(frames[1]) for f in (frames[0], frames[3])]
        assert lean[0] * lean[1] < 0 and min(abs(x) for x in lean) > 5
    save_gif(frames, tmp_path / f"brax_{renderer}.gif", fps=4)


def test_brax_env_render_hook():
    from jaxrl.envs.control import brax_render

    env, state = _pendulum()
    assert env.renderer == "auto"
    frame = wrappers.ClipAction(env).render(state, env.default_params)
    expect = brax_render.render_brax(env, state, None, "mujoco" if _gl_available() else "projection")
    assert np.array_equal(frame, expect)
    with pytest.raises(ValueError, match="unknown brax renderer"):
        brax_render.render_brax(env, state, None, "vulkan")


@pytest.mark.slow
def test_brax_episode_through_wrappers():
    env, _ = _pendulum()
    wrapped = wrappers.EpisodeStatistics(env)
    frames = rollout_frames(wrapped, env.default_params, lambda k, o: jnp.ones((1,)), jax.random.PRNGKey(1), 4)
    assert_animated(frames)


# --------------------------------------------------------------------------- fin-ray
def _phase_policy(key, obs):  # actuation in phase with the beat: u = sin(theta)
    return jnp.clip(obs[:1], -1.0, 1.0).astype(jnp.float32)


@pytest.mark.parametrize("tier", ["plate", "ray"])
def test_fin_frames_show_the_fin_and_its_wake(tier, tmp_path):
    from jaxrl.envs.finray import FinPlate, FinRay

    env = FinPlate("thrust") if tier == "plate" else FinRay("thrust")
    params = env.default_params
    frames = rollout_frames(env, params, _phase_policy, jax.random.PRNGKey(0), 12)
    assert_animated(frames)
    assert all(not np.array_equal(a, b) for a, b in zip(frames[:-1], frames[1:], strict=True))
    f = frames[-1].astype(int)
    coloured = (np.abs(f[..., 0] - f[..., 2]) > 60) & (f[..., 1] < 200)  # the red / blue wake
    cols = np.nonzero(coloured)[1]
    assert cols.size > 100 and cols.max() > 0.75 * f.shape[1]  # a cycle of wake trails downstream
    # before anything is recorded, the wake of a fresh episode is the unactuated periodic orbit: the first
    # frame of a new episode matches a re-render of the reset state (the history restarts at step 0)
    _, s0 = env.reset_env(jax.random.split(jax.random.PRNGKey(0))[1], params)  # rollout_frames' reset key
    assert np.array_equal(env.render(s0, params), frames[0])
    save_gif(frames, tmp_path / f"{tier}.gif", fps=5)


def test_ks_space_time_image():
    from jaxrl.envs.finray import KuramotoSivashinsky
    from jaxrl.envs.finray import render as fr

    env = KuramotoSivashinsky(num_substeps=20)
    params = env.default_params
    frames = rollout_frames(env, params, None, jax.random.PRNGKey(0), 5)
    assert_animated(frames)
    H = 2 * fr.KS_HISTORY
    assert frames[0].shape == (H + 80, 4 * env.n, 3)
    # newest field in the bottom rows of the space-time image, one more row per step, grey before
    _, s = env.reset_env(jax.random.split(jax.random.PRNGKey(0))[1], params)  # rollout_frames' reset key
    expect = np.repeat(colormap(np.asarray(s.u), -fr.KS_U_MAX, fr.KS_U_MAX, "RdBu_r"), 4, axis=0)
    assert np.array_equal(frames[0][H - 1], expect)
    grey = lambda f: int(((f[:H] == 128).all(-1)).all(-1).sum())  # noqa: E731
    assert [grey(f) for f in frames] == [H - 2 * k for k in range(1, 7)]
    again = env.render(s, params)  # a new episode (step 0) starts the history afresh
    assert grey(again) == H - 2
