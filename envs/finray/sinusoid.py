"""The study's baseline: the best sinusoidal actuation by grid search, in one vmapped program.

A sinusoid commands ``u_k = A sin(r theta_k + phi)`` at control step ``k``, where
``theta_k`` is the phase of the prescribed base motion at the middle of the control
interval, ``A`` is a fraction of the actuation range, ``phi`` the phase lead over the
base heave and ``r`` the frequency as a multiple of the base frequency. For ``r = 1``
it is phase-locked to the pitch/plunge motion whatever the episode's start phase.

The score of an actuation under an objective is its mean reward per control step
over whole episodes (the quantity an RL agent maximises, up to discounting),
averaged over ``num_episodes`` random starts shared by every grid point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs.finray.common import OBJECTIVES
from jaxrl.envs.finray.plate import FinPlate
from jaxrl.envs.finray.ray import FinRay
from jaxrl.registry import make

DEFAULT_GRID = {
    "amplitude": np.linspace(0.0, 1.0, 11),
    "phase": np.linspace(0.0, 2.0 * np.pi, 24, endpoint=False),
    "frequency": np.array([1.0]),
}


@dataclass(frozen=True)
class SinusoidResult:
    """Grid-search outcome. ``scores[obj]`` is ``[F, A, P]`` (frequency, amplitude, phase)."""

    env_id: str
    amplitude: np.ndarray  # [A]
    phase: np.ndarray  # [P]
    frequency: np.ndarray  # [F]
    scores: dict[str, np.ndarray]
    num_episodes: int

    def best(self, objective: str) -> dict[str, float]:
        """``{"amplitude", "phase", "frequency", "score"}`` of the best grid point for ``objective``."""
        s = self.scores[objective]
        i, j, k = np.unravel_index(int(np.argmax(s)), s.shape)
        return {
            "amplitude": float(self.amplitude[j]),
            "phase": float(self.phase[k]),
            "frequency": float(self.frequency[i]),
            "score": float(s[i, j, k]),
        }

    @property
    def best_all(self) -> dict[str, dict[str, float]]:
        return {o: self.best(o) for o in self.scores}

    def plot(self, path: str | Path | None = None) -> Any:
        """Heat maps of the score over (phase, amplitude), one panel per objective, at each one's best frequency."""
        import matplotlib.pyplot as plt

        from jaxrl import plots

        objs = list(self.scores)
        with plt.rc_context({**plots._STYLE, "axes.grid": False}):
            fig, axes = plt.subplots(1, len(objs), figsize=(3.6 * len(objs), 3.4), squeeze=False)
            for ax, o in zip(axes[0], objs, strict=True):
                b = self.best(o)
                i = int(np.argmin(np.abs(self.frequency - b["frequency"])))
                im = ax.pcolormesh(
                    np.degrees(self.phase), self.amplitude, self.scores[o][i], shading="nearest", cmap="viridis"
                )
                ax.plot(np.degrees(b["phase"]), b["amplitude"], "r*", ms=12)
                fig.colorbar(im, ax=ax, shrink=0.85)
                ax.set_title(f"{o} (best {b['score']:.3g}, r={b['frequency']:g})")
                ax.set_xlabel("phase lead over heave [deg]")
                ax.set_ylabel("amplitude (fraction of range)")
            fig.suptitle(f"{self.env_id}: sinusoidal actuation grid search")
            return plots._finish(fig, path)


def _fin_env(env_id: str, env_params: Mapping[str, Any] | None):
    env, params = make(env_id, **dict(env_params or {}))
    if not isinstance(env, FinPlate | FinRay):
        raise ValueError(f"sinusoid_search needs a FinPlate-* or FinRay-* environment, got {env_id!r} ({env!r})")
    return env, params


def _as_grid(grid: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if grid is None:
        grid = DEFAULT_GRID
    if isinstance(grid, Mapping):
        unknown = set(grid) - set(DEFAULT_GRID)
        if unknown:
            raise ValueError(f"unknown grid key(s) {sorted(unknown)}; use amplitude, phase, frequency")
        parts = [grid.get(k, DEFAULT_GRID[k]) for k in ("amplitude", "phase", "frequency")]
    elif isinstance(grid, Sequence) and len(grid) in (2, 3):
        parts = [*grid, DEFAULT_GRID["frequency"]][:3]
    else:
        raise TypeError(
            "grid must be a mapping {amplitude, phase[, frequency]} or a tuple (amplitudes, phases[, freqs])"
        )
    out = []
    for name, p in zip(("amplitude", "phase", "frequency"), parts, strict=True):
        a = np.atleast_1d(np.asarray(p, np.float64))
        if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)):
            raise ValueError(f"grid {name} must be a non-empty 1-D array of finite values, got {p!r}")
        out.append(a)
    if np.any(np.abs(out[0]) > 1.0):
        raise ValueError(f"amplitudes are fractions of the actuation range, |A| <= 1; got {out[0]}")
    if np.any(out[2] <= 0):
        raise ValueError(f"frequency ratios must be > 0, got {out[2]}")
    return out[0], out[1], out[2]


def episode_scores(env, params, amplitude, phase, frequency, keys: jax.Array) -> dict[str, jax.Array]:
    """Mean reward per step of every objective for one sinusoid over episodes ``keys`` (``[E]`` each).

    Jittable and vmappable over ``amplitude, phase, frequency`` (scalars).
    """
    steps = int(make_steps(params))

    def one(key):
        _, state = env.reset_env(key, params)
        half = jnp.pi / params.steps_per_cycle  # half a control interval of phase

        def body(s, _):
            u = amplitude * jnp.sin(frequency * (s.theta + half) + phase)
            out = env.step_env(key, s, jnp.reshape(u, (1,)).astype(jnp.float32), params)
            return out.state, jnp.stack([out.info[f"reward_{o}"] for o in OBJECTIVES])

        _, r = jax.lax.scan(body, state, None, length=steps)
        return jnp.mean(r, axis=0)

    per_ep = jax.vmap(one)(keys)  # [E, O]
    return {o: per_ep[:, i] for i, o in enumerate(OBJECTIVES)}


def make_steps(params: Any) -> int:
    try:
        return int(params.max_steps)
    except Exception as e:  # traced
        raise ValueError("max_steps must be concrete (not traced) to evaluate a sinusoid") from e


def sinusoid_search(
    env_id: str,
    grid: Any = None,
    *,
    num_episodes: int = 4,
    key: jax.Array | None = None,
    env_params: Mapping[str, Any] | None = None,
    plot_path: str | Path | None = None,
) -> SinusoidResult:
    """Score every (amplitude, phase[, frequency]) of ``grid`` on every objective in one vmapped program.

    ``grid``: ``{"amplitude": [A], "phase": [P], "frequency": [F]}`` (frequency ratios
    optional, default ``[1]``) or a tuple of arrays; ``None`` uses ``DEFAULT_GRID``.
    The objective of ``env_id`` selects nothing here: all four are scored, since the
    dynamics do not depend on it. ``result.best(obj)`` gives the best actuation.
    """
    if int(num_episodes) < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes}")
    env, params = _fin_env(env_id, env_params)
    amp, ph, fr = _as_grid(grid)
    key = jax.random.PRNGKey(0) if key is None else key
    keys = jax.random.split(key, int(num_episodes))
    F, A, P = np.meshgrid(fr, amp, ph, indexing="ij")
    flat = [jnp.asarray(x.ravel(), jnp.float32) for x in (A, P, F)]

    @jax.jit
    def run(a, p, f):
        scores = jax.vmap(lambda a_, p_, f_: episode_scores(env, params, a_, p_, f_, keys))(a, p, f)
        return {o: jnp.mean(v, axis=-1) for o, v in scores.items()}

    out = jax.device_get(run(*flat))
    scores = {o: np.asarray(out[o], np.float64).reshape(F.shape) for o in OBJECTIVES}
    result = SinusoidResult(env_id, amp, ph, fr, scores, int(num_episodes))
    if plot_path is not None:
        result.plot(plot_path)
    return result


def evaluate_sinusoid(
    env_id: str,
    amplitude: float,
    phase: float,
    frequency: float = 1.0,
    *,
    num_episodes: int = 16,
    key: jax.Array | None = None,
    env_params: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Per-episode scores ``[num_episodes]`` of one sinusoid on every objective (fresh starts from ``key``)."""
    env, params = _fin_env(env_id, env_params)
    key = jax.random.PRNGKey(1) if key is None else key
    keys = jax.random.split(key, int(num_episodes))
    f = jax.jit(lambda a, p, r: episode_scores(env, params, a, p, r, keys))
    out = jax.device_get(f(jnp.float32(amplitude), jnp.float32(phase), jnp.float32(frequency)))
    return {o: np.asarray(v, np.float64) for o, v in out.items()}


def sinusoid_signal(env_id: str, amplitude: float, phase: float, frequency: float = 1.0, cycles: float = 2.0):
    """``(t / period [T], u [T])`` of a sinusoid sampled at the control steps of ``cycles`` periods from theta = 0."""
    env, params = _fin_env(env_id, None)
    n = int(round(float(params.steps_per_cycle) * cycles))
    theta = (np.arange(n) + 0.5) * 2.0 * np.pi / float(params.steps_per_cycle)
    return theta / (2.0 * np.pi), amplitude * np.sin(frequency * theta + phase)
