"""jaxrl: environments, agents and meta-learners that compile into one XLA program.

Core (this package): the environment contract, spaces, wrappers, registry,
batched auto-reset, rollouts, returns and running statistics. Families live in
``jaxrl.envs``, agents in ``jaxrl.agents``, meta-learners in ``jaxrl.meta``.
"""

from jaxrl import checks, experiment, spaces, wrappers
from jaxrl.agent import Agent, AgentSpec, agent_spec, list_agents, make_agent, register_agent
from jaxrl.env import FINAL_OBS, Environment, Step
from jaxrl.policy import load_policy
from jaxrl.registry import EnvSpec, list_envs, make, register, spec, specs
from jaxrl.vec import NormalizeObservation, VecEnv

__version__ = "0.1.0"

__all__ = [
    "FINAL_OBS",
    "Agent",
    "AgentSpec",
    "EnvSpec",
    "Environment",
    "NormalizeObservation",
    "Step",
    "VecEnv",
    "agent_spec",
    "checks",
    "experiment",
    "list_agents",
    "list_envs",
    "load_policy",
    "make_agent",
    "make",
    "register",
    "register_agent",
    "spaces",
    "spec",
    "specs",
    "wrappers",
]
