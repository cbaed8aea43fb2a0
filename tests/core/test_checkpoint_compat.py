"""A checkpoint written before the agent redesign (commit f7acc3c: HParams carried objective_params) still loads."""

from pathlib import Path

import jax
import numpy as np

from jaxrl import checkpoint
from jaxrl.agents import ppo

OLD = Path(__file__).resolve().parents[1] / "data" / "ppo-state-f7acc3c"


def test_pre_redesign_ppo_checkpoint_restores_and_trains_on():
    cfg = ppo.Config(num_envs=2, num_steps=8, num_minibatches=2, update_epochs=1, total_timesteps=64,
                     actor_hidden=(4,), critic_hidden=(4,))  # the config it was written with
    agent = ppo.PPO(cfg)
    like = jax.eval_shape(agent.init, jax.random.key(0))
    state, meta = checkpoint.restore(OLD, like)
    assert meta == {"updates_done": 2, "written_by": "jaxrl f7acc3c"}
    assert int(state.update) == 2 and state.objective_params is None
    np.testing.assert_allclose(float(state.hparams.lr), 2.5e-4)
    state, m = jax.jit(agent.train_chunk, static_argnums=1)(state, 1)
    assert int(state.update) == 3 and not np.any(np.asarray(m["nonfinite"]))
