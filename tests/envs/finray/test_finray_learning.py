"""PPO beats the best sinusoidal actuation (slow: run with ``-m slow``)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxrl
from jaxrl.envs.finray import FIN_IDS, evaluate_sinusoid, sinusoid_search

GRID = {
    "amplitude": np.linspace(0.0, 1.0, 11),
    "phase": np.linspace(0.0, 2 * np.pi, 24, endpoint=False),
    "frequency": [0.5, 1.0, 1.5, 2.0],
}


@pytest.mark.slow
@pytest.mark.parametrize("env_id", FIN_IDS)
def test_ppo_beats_the_best_sinusoid(env_id):
    from jaxrl.agents import ppo

    tier, objective = env_id.split("-")[0], env_id.split("-")[1].lower()
    best = sinusoid_search(f"{tier}-Thrust-v1", GRID, num_episodes=2).best(objective)
    sinusoid = evaluate_sinusoid(env_id, best["amplitude"], best["phase"], best["frequency"], num_episodes=8)
    cfg = ppo.Config(
        env_id=env_id,
        total_timesteps=500_000,
        num_envs=64,
        num_steps=100,
        ent_coef=0.0,
        lr=1e-3,
        gamma=0.95,
        normalize_obs=True,
        normalize_reward=True,
        init_log_std=-0.5,
    )
    agent = ppo.PPO(cfg)
    states, _ = jax.jit(jax.vmap(agent.make_train()))(jax.random.split(jax.random.PRNGKey(0), 2))
    returns = jax.jit(jax.vmap(lambda k, s: agent.evaluate(k, s, 8)))(
        jax.random.split(jax.random.PRNGKey(1), 2), states
    )
    learned = np.asarray(returns).mean(1) / jaxrl.spec(env_id).max_episode_steps
    assert np.all(learned > sinusoid[objective].max()), (learned, best, sinusoid[objective])
