"""Episode frames and GIFs through :meth:`jaxrl.Environment.render`, plus small drawing helpers.

Every family draws one unbatched state as ``[H, W, 3]`` uint8 with
``env.render(state, params)`` (host-side, not jittable); this module runs an
episode and collects those frames, writes them as a GIF, and holds the pieces
the renderers share (a PIL canvas in world coordinates, colour maps, a
host-side history of recent states).

>>> frames = rollout_frames(env, params, policy, key, max_steps=200)  # policy(key, obs) -> action
>>> save_gif(frames, "episode.gif", fps=20)

A renderer that is not (yet) ``env.render`` plugs in through ``render_fn``:
``rollout_frames(env, params, policy, key, 50, render_fn=lambda s, p: my_frame(env, s, p))``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import jax
import numpy as np

Frame = np.ndarray  # [H, W, 3] uint8
Policy = Callable[[jax.Array, Any], Any]


def check_frame(frame: Any, who: str = "render") -> np.ndarray:
    """``frame`` as a ``[H, W, 3]`` uint8 array, or a ``ValueError`` naming ``who``."""
    arr = np.asarray(frame)
    if arr.ndim != 3 or arr.shape[-1] != 3 or arr.dtype != np.uint8 or min(arr.shape[:2]) < 1:
        raise ValueError(f"{who}: expected an [H, W, 3] uint8 frame, got shape {arr.shape} dtype {arr.dtype}")
    return arr


def random_policy(env: Any, params: Any) -> Policy:
    """``policy(key, obs)`` sampling uniformly from ``env.action_space(params)``."""
    space = env.action_space(params)
    return lambda key, obs: space.sample(key)


@partial(jax.jit, static_argnums=0)
def _reset(env: Any, key: jax.Array, params: Any) -> tuple[Any, Any]:
    return env.reset_env(key, params)


@partial(jax.jit, static_argnums=0)
def _step(env: Any, key: jax.Array, state: Any, action: Any, params: Any) -> Any:
    return env.step_env(key, state, action, params)


def rollout_frames(
    env: Any,
    params: Any,
    policy: Policy | None,
    key: jax.Array,
    max_steps: int,
    *,
    render_fn: Callable[[Any, Any], Any] | None = None,
    stop_at_end: bool = True,
) -> list[Frame]:
    """Render one episode: ``[reset frame, frame after step 1, ...]``, at most ``max_steps + 1`` frames.

    ``policy(key, obs) -> action`` on one unbatched observation (``None``: uniform
    random actions). Steps run through ``env.step_env`` (no auto-reset), so the
    last frame shows the state that ended the episode; the rollout stops there
    when ``stop_at_end`` (else it steps on from it for ``max_steps``).
    ``render_fn(state, params)`` defaults to ``env.render``.
    """
    if int(max_steps) < 0:
        raise ValueError(f"rollout_frames needs max_steps >= 0, got {max_steps}")
    params = env.default_params if params is None else params
    policy = random_policy(env, params) if policy is None else policy
    draw = env.render if render_fn is None else render_fn
    who = f"{getattr(env, 'name', type(env).__name__)}.render"
    key, k0 = jax.random.split(key)
    obs, state = _reset(env, k0, params)
    frames = [check_frame(draw(state, params), who)]
    for _ in range(int(max_steps)):
        key, k_act, k_env = jax.random.split(key, 3)
        out = _step(env, k_env, state, policy(k_act, obs), params)
        obs, state = out.obs, out.state
        frames.append(check_frame(draw(state, params), who))
        if stop_at_end and bool(out.terminated | out.truncated):
            break
    if any(f.shape != frames[0].shape for f in frames):
        raise ValueError(f"{who}: frames of one episode differ in size: {sorted({f.shape for f in frames})}")
    return frames


def save_gif(frames: Sequence[Any], path: str | Path, fps: float = 20.0) -> str:
    """Write ``[H, W, 3]`` uint8 frames (all one size) as a looping GIF; returns the path.

    Parent folders are created. The GIF palette has 256 colours per frame.
    """
    from PIL import Image  # Pillow comes with matplotlib

    if len(frames) == 0:
        raise ValueError("save_gif needs at least one frame")
    if fps <= 0:
        raise ValueError(f"save_gif needs fps > 0, got {fps}")
    arrays = [check_frame(f, "save_gif") for f in frames]
    if any(a.shape != arrays[0].shape for a in arrays):
        raise ValueError(f"save_gif: frames differ in size: {sorted({a.shape for a in arrays})}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(a) for a in arrays]
    images[0].save(path, save_all=True, append_images=images[1:], duration=max(1, int(1000 / fps)), loop=0)
    return str(path)


# --------------------------------------------------------------------------- drawing helpers
def colormap(values: Any, lo: float, hi: float, name: str = "RdBu_r") -> np.ndarray:
    """Map ``values [...]`` linearly from ``[lo, hi]`` (clipped) through a matplotlib colour map: ``[..., 3]`` uint8."""
    from matplotlib import colormaps

    v = np.asarray(values, np.float64)
    t = np.clip((v - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    table = (colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)  # [256, 3]
    return table[np.round(t * 255).astype(np.int64)]


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of ``[H, W, C]`` by an integer ``factor``."""
    return np.repeat(np.repeat(np.asarray(image), int(factor), axis=0), int(factor), axis=1)


class Canvas:
    """A PIL image addressed in world coordinates: ``x`` right in ``xlim``, ``y`` up in ``ylim``.

    With ``equal`` the scale is the same on both axes (the larger world span
    fits the image), else each axis spans its limits. ``to_array()`` gives the
    ``[height, width, 3]`` uint8 frame.
    """

    def __init__(self, width: int, height: int, xlim: tuple[float, float], ylim: tuple[float, float],
                 background: tuple[int, int, int] = (255, 255, 255), equal: bool = True):
        from PIL import Image, ImageDraw

        self.width, self.height = int(width), int(height)
        self.image = Image.new("RGB", (self.width, self.height), background)
        self.draw = ImageDraw.Draw(self.image)
        sx = self.width / (xlim[1] - xlim[0])
        sy = self.height / (ylim[1] - ylim[0])
        self.scale = min(sx, sy)  # pixels per world unit (sizes: widths, radii)
        self.sx, self.sy = (self.scale, self.scale) if equal else (sx, sy)
        self.cx, self.cy = (xlim[0] + xlim[1]) / 2, (ylim[0] + ylim[1]) / 2

    def px(self, x: Any, y: Any) -> tuple[float, float]:
        return (self.width / 2 + (float(x) - self.cx) * self.sx, self.height / 2 - (float(y) - self.cy) * self.sy)

    def line(self, points: Any, color: tuple, width: float = 2) -> None:
        """A polyline through world points ``[N, 2]``."""
        pts = [self.px(x, y) for x, y in np.asarray(points, np.float64)]
        self.draw.line(pts, fill=color, width=max(1, round(width)), joint="curve")

    def polygon(self, points: Any, fill: tuple, outline: tuple | None = None) -> None:
        self.draw.polygon([self.px(x, y) for x, y in np.asarray(points, np.float64)], fill=fill, outline=outline)

    def circle(
        self, centre: Any, radius: float, fill: tuple, outline: tuple | None = None, pixels: bool = False
    ) -> None:
        """A disc of ``radius`` world units (``pixels=True``: in pixels)."""
        x, y = self.px(*centre)
        r = float(radius) if pixels else float(radius) * self.scale
        self.draw.ellipse([x - r, y - r, x + r, y + r], fill=fill, outline=outline)

    def to_array(self) -> np.ndarray:
        return np.asarray(self.image, np.uint8).copy()


class StepHistory:
    """Host-side memory of the last ``maxlen`` items a renderer saw, one per environment step.

    Renderers of states that do not carry their own past (KS's space-time image,
    a fin's wake) call ``push(step, item)`` with the state's step counter: a step
    that is not after the last one (a new episode, or a re-render of the same
    state) starts a fresh history, except that re-rendering the last step
    replaces its item. Rendering an episode in order, as :func:`rollout_frames`
    does, therefore shows its recent past.
    """

    def __init__(self, maxlen: int):
        if int(maxlen) < 1:
            raise ValueError(f"StepHistory needs maxlen >= 1, got {maxlen}")
        self.maxlen = int(maxlen)
        self.steps: list[int] = []
        self.items: list[Any] = []

    def push(self, step: int, item: Any) -> list[Any]:
        """Record ``item`` at ``step``; returns the remembered items, oldest first."""
        step = int(step)
        if self.steps and step == self.steps[-1]:
            self.items[-1] = item
        else:
            if self.steps and step < self.steps[-1]:
                self.steps, self.items = [], []
            self.steps.append(step)
            self.items.append(item)
            del self.steps[: -self.maxlen], self.items[: -self.maxlen]
        return list(self.items)
