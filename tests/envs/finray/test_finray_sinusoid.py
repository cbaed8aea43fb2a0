"""Sinusoidal-actuation grid search (the study's baseline)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs.finray import OBJECTIVES, evaluate_sinusoid, sinusoid_search
from jaxrl.envs.finray.common import open_loop
from jaxrl.envs.finray.sinusoid import SinusoidResult, _as_grid

ENV = "FinPlate-Thrust-v1"
GRID = {"amplitude": [0.0, 0.5, 1.0], "phase": np.linspace(0, 2 * np.pi, 4, endpoint=False), "frequency": [1.0, 2.0]}


@pytest.fixture(scope="module")
def result() -> SinusoidResult:
    return sinusoid_search(ENV, GRID, num_episodes=2, key=jax.random.PRNGKey(7))


def test_grid_scores_every_objective(result):
    assert set(result.scores) == set(OBJECTIVES)
    for o in OBJECTIVES:
        s = result.scores[o]
        assert s.shape == (2, 3, 4) and np.isfinite(s).all()
        np.testing.assert_array_equal(s[:, 0, :], s[0, 0, 0])  # zero amplitude: no phase or frequency dependence
        assert np.ptp(s[:, 1:, :]) > 1e-3  # actuation matters
        b = result.best(o)
        assert b["score"] == s.max()
        i, j, k = np.unravel_index(np.argmax(s), s.shape)
        assert (b["frequency"], b["amplitude"], b["phase"]) == (
            GRID["frequency"][i],
            GRID["amplitude"][j],
            GRID["phase"][k],
        )
    # the prescribed motion alone produces thrust; the best sinusoid adds to it
    assert result.best("thrust")["score"] > result.scores["thrust"][0, 0, 0] > 0


def test_scores_equal_a_direct_open_loop_rollout(result):
    """The grid's number for one point = mean reward of that sinusoid applied step by step."""
    import jaxrl

    env, params = jaxrl.make(ENV)
    amp, ph, fr = 0.5, GRID["phase"][1], 2.0
    keys = jax.random.split(jax.random.PRNGKey(7), 2)
    rewards = []
    for key in keys:
        _, state = env.reset_env(key, params)
        theta0 = float(state.theta)
        k = np.arange(int(params.max_steps))
        theta = theta0 + (k + 0.5) * 2 * np.pi / float(params.steps_per_cycle)
        actions = jnp.asarray(amp * np.sin(fr * theta + ph), jnp.float32)[:, None]
        _, infos, _ = jax.jit(open_loop, static_argnums=0)(env, params, state, actions)
        rewards.append({o: float(np.mean(infos[f"reward_{o}"])) for o in OBJECTIVES})
    for o in OBJECTIVES:
        expect = np.mean([r[o] for r in rewards])
        np.testing.assert_allclose(result.scores[o][1, 1, 1], expect, rtol=2e-3, atol=1e-4)


def test_evaluate_best_sinusoid_on_fresh_starts(result):
    b = result.best("thrust")
    per_episode = evaluate_sinusoid(ENV, b["amplitude"], b["phase"], b["frequency"], num_episodes=3)
    assert per_episode["thrust"].shape == (3,)
    # phase-locked actuation from the periodic orbit: the start phase barely matters
    np.testing.assert_allclose(per_episode["thrust"], b["score"], rtol=0.03)


def test_heat_map(result, tmp_path):
    path = tmp_path / "landscape.png"
    fig = result.plot(path)
    assert path.stat().st_size > 10_000 and len(fig.axes) == 2 * len(OBJECTIVES)  # panels + colour bars


def test_bad_input():
    with pytest.raises(ValueError, match="FinPlate"):
        sinusoid_search("KS-v0")
    with pytest.raises(ValueError, match="amplitude"):
        _as_grid({"amplitude": [2.0], "phase": [0.0]})
    with pytest.raises(ValueError, match="unknown grid"):
        _as_grid({"amp": [1.0]})
    with pytest.raises(ValueError, match="frequency"):
        _as_grid(([0.5], [0.0], [0.0]))
    with pytest.raises(ValueError, match="num_episodes"):
        sinusoid_search(ENV, num_episodes=0)
