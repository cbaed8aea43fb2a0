"""Every registered agent keeps the agent contract (``jaxrl.testing.check_agent``), as every env keeps check_env."""

import pytest

import jaxrl
from jaxrl.testing import check_agent

# the smallest runs that still learn on their second update (off-policy: learning starts after 4 steps)
TINY = {
    "ppo": dict(num_envs=2, num_steps=8, num_minibatches=2, update_epochs=1, total_timesteps=64),
    "pqn": dict(num_envs=2, num_steps=8, num_minibatches=2, update_epochs=1, total_timesteps=64),
    "dqn": dict(num_envs=2, total_timesteps=64, batch_size=8, buffer_size=64, learning_starts=4),
    "sac": dict(env_id="Pendulum-v1", num_envs=2, total_timesteps=64, batch_size=8, buffer_size=64,
                learning_starts=4),
    "td3": dict(env_id="Pendulum-v1", num_envs=2, total_timesteps=64, batch_size=8, buffer_size=64,
                learning_starts=4),
    "lpg": dict(num_envs=4, num_steps=8, total_timesteps=96, hidden=(16,)),
}


def test_every_registered_agent_is_covered():
    assert sorted(TINY) == jaxrl.list_agents()


# check_agent compiles each agent several times (30-50 s apiece on 2 cores): PPO runs by default, every
# registered agent with -m slow (test_cli_algos traces every agent's API in the default suite)
@pytest.mark.parametrize("name", [n if n == "ppo" else pytest.param(n, marks=pytest.mark.slow) for n in sorted(TINY)])
def test_agent_keeps_the_contract(name):
    agent = jaxrl.make_agent(name, **TINY[name])
    assert isinstance(agent, jaxrl.Agent)
    assert check_agent(agent)["hparam"] == "lr"  # the traced-hyperparameter sweep ran


@pytest.mark.slow
def test_check_agent_catches_a_broken_agent():
    """An agent whose chunks do not compose (it counts chunks, not updates) fails the check."""
    import jax
    import jax.numpy as jnp

    agent = jaxrl.make_agent("ppo", **TINY["ppo"])

    class Broken:
        cfg, num_updates, metric_names = agent.cfg, agent.num_updates, agent.metric_names
        init, evaluate, greedy_action = agent.init, agent.evaluate, agent.greedy_action
        env, env_params = agent.env, agent.env_params

        def train_chunk(self, state, n):
            state, m = agent.train_chunk(state, n)
            return state.replace(update=state.update + jnp.int32(n == 1)), jax.tree.map(lambda x: x, m)

    with pytest.raises(AssertionError, match="two chunks of 1 update != one chunk of 2"):
        check_agent(Broken())


def test_unknown_agent_names_the_registered_ones():
    from jaxrl.errors import UserError

    with pytest.raises(UserError, match="unknown agent 'ppo2'; registered: dqn, lpg, ppo"):
        jaxrl.make_agent("ppo2")
