"""PPO (``jaxrl.agents.ppo``, flattened observations, MLP) solves the easy grid tasks
within small budgets: mean return over the last tenth of training above MiniGrid's usual bars."""

from __future__ import annotations

import jax
import numpy as np
import pytest

# (id, timesteps, bar): Empty-8x8 > 0.9 and DoorKey-5x5 > 0.8 (optimal returns are about 0.96).
CASES = [("MiniGrid-Empty-8x8-v0", 200_000, 0.9), ("MiniGrid-DoorKey-5x5-v0", 300_000, 0.8)]
PPO_SETTINGS = dict(num_envs=16, num_steps=128, lr=7e-4, update_epochs=4, num_minibatches=4)


@pytest.mark.slow
@pytest.mark.parametrize("env_id,timesteps,bar", CASES)
def test_ppo_solves(env_id, timesteps, bar):
    ppo = pytest.importorskip("jaxrl.agents.ppo")
    cfg = ppo.Config(env_id=env_id, total_timesteps=timesteps, **PPO_SETTINGS)
    _, metrics = jax.jit(ppo.make_train(cfg))(jax.random.PRNGKey(0))
    returns = np.asarray(metrics["episode_return"])
    first, last = np.nanmean(returns[: len(returns) // 10]), np.nanmean(returns[-(len(returns) // 10) :])
    assert last > bar, f"{env_id}: final mean return {last:.3f} <= {bar}"
    assert first < last  # it learned (random play scores far lower)
