"""Every agent `jaxrl train` offers builds from its defaults (with `--set` text) and traces the agent API."""

from __future__ import annotations

import jax
import pytest

import jaxrl
from jaxrl.errors import UserError
from jaxrl.settings import build_config


@pytest.mark.parametrize("name", jaxrl.list_agents())
def test_algo_builds_from_text_values_and_traces(name):
    spec = jaxrl.agent_spec(name)
    cfg = build_config(spec, {spec.env_field: spec.default_env, spec.steps_field: "20000"}, strings=True)
    agent = spec.make(cfg)
    assert int(agent.num_updates) >= 1
    state = jax.eval_shape(agent.init, jax.random.key(0))  # traces init without compiling or running it
    out_state, metrics = jax.eval_shape(lambda s: agent.train_chunk(s, 2), state)
    assert jax.tree.structure(out_state) == jax.tree.structure(state)
    assert set(metrics) == set(agent.metric_names)
    for key in ("episode_return", "env_steps", "nonfinite"):
        assert metrics[key].shape == (2,)
    with pytest.raises(UserError, match="NoSuchEnv-v9"):
        build_config(spec, {spec.env_field: "NoSuchEnv-v9"})
