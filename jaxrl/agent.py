"""The agent contract and the agent registry.

Every agent -- PPO, PQN, DQN, SAC, TD3, the LPG agent, or one of your own -- is an object that
satisfies :class:`Agent`: pure, jittable methods over an explicit state pytree, so the run driver
(:mod:`jaxrl.driver`), population based training and the meta-learners can ``jax.vmap`` them over
seeds and hyperparameters and chunk them for checkpoints without knowing which agent they hold.

>>> agent = jaxrl.make_agent("ppo", env_id="CartPole-v1", total_timesteps=100_000)
>>> state = jax.jit(agent.init)(key)                         # one seed
>>> state, metrics = jax.jit(agent.train_chunk, static_argnums=1)(state, 10)   # metrics[name]: [10]
>>> returns = agent.evaluate(key, state, 8)                 # [8]

Agents are registered by name beside the environments (:func:`register_agent`); other packages
register theirs through the ``jaxrl.agents`` entry-point group, whose values are
``"module:function"`` callables that call :func:`register_agent`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import jax

from jaxrl.errors import UserError

ENTRY_POINT_GROUP = "jaxrl.agents"


@runtime_checkable
class Agent(Protocol):
    """What every agent provides. ``State`` is any pytree; all methods are pure and jittable.

    * ``cfg``: the frozen config the agent was built from (static fields shape the program).
    * ``num_updates``: updates of a full run (``train_chunk`` calls summing to it make one run).
    * ``metric_names``: the keys of the metrics dict ``train_chunk`` returns.
    * ``init(key, hparams=None) -> State``: a fresh state; ``hparams`` overrides the traced
      hyperparameters (a dict or the agent's ``HParams``; ``vmap`` it for sweeps).
    * ``train_chunk(state, n) -> (state, metrics)``: ``n`` (static) updates; each metric ``[n]``.
      Chunks compose exactly: ``train_chunk(train_chunk(s, a)[0], b) == train_chunk(s, a + b)``.
    * ``evaluate(key, state, num_episodes) -> [num_episodes]`` returns of the deterministic policy.
    * ``greedy_action(state, obs[B, ...]) -> action[B, ...]``: the deterministic policy.
    """

    cfg: Any

    @property
    def num_updates(self) -> int: ...

    @property
    def metric_names(self) -> tuple[str, ...]: ...

    def init(self, key: jax.Array, hparams: Any = None) -> Any: ...

    def train_chunk(self, state: Any, n_updates: int) -> tuple[Any, dict[str, jax.Array]]: ...

    def evaluate(self, key: jax.Array, state: Any, num_episodes: int) -> jax.Array: ...

    def greedy_action(self, state: Any, obs: Any) -> Any: ...


def check_protocol(agent: Any) -> None:
    """Raise ``TypeError`` naming every member of :class:`Agent` that ``agent`` lacks."""
    missing = [
        n
        for n in ("cfg", "num_updates", "metric_names", "init", "train_chunk", "evaluate", "greedy_action")
        if not hasattr(agent, n)
    ]
    if missing:
        raise TypeError(f"{type(agent).__name__} is not a jaxrl.Agent: missing {', '.join(missing)}")


# =========================================================================== registry
@dataclass(frozen=True)
class AgentSpec:
    """How to build a registered agent: ``module.<config>(**fields)`` then ``module.<agent>(config)``."""

    name: str
    module: str
    config: Any = "Config"  # a name in ``module``, or the class itself
    agent: Any = "Agent"
    default_env: str = "CartPole-v1"
    description: str = ""
    env_field: str = "env_id"
    steps_field: str = "total_timesteps"

    def config_class(self) -> type:
        if not isinstance(self.config, str):  # registered with the class itself (a notebook's agent)
            return self.config
        return getattr(importlib.import_module(self.module), self.config)

    def agent_class(self) -> Callable[[Any], Any]:
        if not isinstance(self.agent, str):
            return self.agent
        return getattr(importlib.import_module(self.module), self.agent)

    def make_config(self, **fields: Any) -> Any:
        """The config from field values; unknown names raise a :class:`UserError` listing the valid ones."""
        cls = self.config_class()
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(fields) - set(valid))
        if unknown:
            raise UserError(f"unknown {self.name} config field(s) {unknown}; valid: {', '.join(valid)}")
        return cls(**fields)

    def make(self, cfg: Any = None, *, env: Any = None, env_params: Any = None, **fields: Any) -> Any:
        """The agent, from a config or from config fields; ``env`` (an id or an Environment object) and
        ``env_params`` replace the config's environment (agents that take them: PPO, PQN, DQN, SAC, TD3)."""
        if cfg is None:
            cfg = self.make_config(**fields)
        elif fields:
            raise TypeError("pass either a config or config fields, not both")
        if env is None and env_params is None:
            return self.agent_class()(cfg)
        return self.agent_class()(cfg, env=env, env_params=env_params)


_AGENTS: dict[str, AgentSpec] = {}
_loaded_entry_points = False


def register_agent(
    name: str,
    module: str,
    config: Any = "Config",
    agent: Any = "Agent",
    default_env: str = "CartPole-v1",
    description: str = "",
    *,
    overwrite: bool = False,
) -> AgentSpec:
    """Register an agent under ``name`` (``jaxrl train NAME``, :func:`make_agent` and PBT find it).

    ``config`` and ``agent`` name a config class and an agent class (a callable ``agent(cfg)``) in
    ``module``, which is imported only when the agent is built, so registering is cheap; they may
    also be the classes themselves (an agent defined in a notebook or a script).
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"agent name must be an identifier-like string, got {name!r}")
    if name in _AGENTS and not overwrite:
        raise ValueError(f"agent {name!r} is already registered (pass overwrite=True to replace it)")
    spec = AgentSpec(name, module, config, agent, default_env, description)
    _AGENTS[name] = spec
    return spec


def _load_entry_points() -> None:
    global _loaded_entry_points
    if _loaded_entry_points:
        return
    _loaded_entry_points = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()()
        except Exception as e:  # a broken plug-in must not break the built-in agents
            import warnings

            warnings.warn(f"jaxrl: agent entry point {ep.name!r} ({ep.value}) failed: {e}", stacklevel=2)


def agent_spec(name: str) -> AgentSpec:
    """The :class:`AgentSpec` of ``name``; unknown names raise a :class:`UserError` listing the registered ones."""
    _load_entry_points()
    if name not in _AGENTS:
        raise UserError(f"unknown agent {name!r}; registered: {', '.join(sorted(_AGENTS))}")
    return _AGENTS[name]


def list_agents() -> list[str]:
    """Names of every registered agent, sorted."""
    _load_entry_points()
    return sorted(_AGENTS)


def make_agent(name: str, cfg: Any = None, *, env: Any = None, env_params: Any = None, **fields: Any) -> Any:
    """Build the registered agent ``name`` from a config, or from config fields (``env``: an id or an
    :class:`jaxrl.Environment` object to train on instead of the config's, registered or not)."""
    return agent_spec(name).make(cfg, env=env, env_params=env_params, **fields)


# The built-in agents (lazy: nothing is imported until one is built).
register_agent("ppo", "jaxrl.agents.ppo", "Config", "PPO", description="PPO-clip with GAE (discrete, continuous)")
register_agent("dqn", "jaxrl.agents.dqn", "Config", "DQN", description="DQN: double, dueling, n-step, prioritised")
register_agent("pqn", "jaxrl.agents.pqn", "Config", "PQN", description="parallel Q-learning with Q(lambda)")
register_agent("sac", "jaxrl.agents.sac", "Config", "SAC", "Pendulum-v1", "SAC (continuous and discrete)")
register_agent("td3", "jaxrl.agents.td3", "Config", "TD3", "Pendulum-v1", "TD3 (continuous)")

__all__ = ["Agent", "AgentSpec", "agent_spec", "check_protocol", "list_agents", "make_agent", "register_agent"]
