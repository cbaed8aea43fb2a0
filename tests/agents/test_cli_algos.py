"""Every algorithm `jaxrl train` offers builds from its defaults and exposes the agent API the loop needs."""

from __future__ import annotations

import jax
import pytest

from jaxrl.cli import ALGOS, build_config


@pytest.mark.parametrize("name", sorted(ALGOS))
def test_algo_builds_with_the_agent_api(name):
    algo = ALGOS[name]
    cfg = build_config(algo, {algo.env_field: algo.default_env, algo.steps_field: "20000"}, strings=True)
    agent = algo.make_agent(cfg)
    assert int(agent.num_updates) >= 1
    state = jax.eval_shape(agent.init, jax.random.key(0))  # traces init without compiling or running it
    assert hasattr(state, "hparams")  # traced hyperparameters travel in the state (sweeps, PBT)
    for method in ("train_chunk", "evaluate"):
        assert callable(getattr(agent, method))
    out_state, metrics = jax.eval_shape(lambda s: agent.train_chunk(s, 2), state)
    assert jax.tree.structure(out_state) == jax.tree.structure(state)
    for key in ("episode_return", "episode_length", "env_steps"):
        assert metrics[key].shape == (2,)
    with pytest.raises(ValueError):
        build_config(algo, {algo.env_field: "NoSuchEnv-v9"})
