"""Meta-training of LPG / TA-LPG by evolution over a distribution of gridworlds and lifetimes.

Every generation, each antithetic pair ``(j, j + P/2)`` of rules trains fresh agents on the
*same* task: the same environment, the same level (grid size, layout keys) and the same
training key, differing only in the sign of the ES noise (:class:`jaxrl.meta.es.EvolutionStrategy`
gives both members identical keys). Pairs are dealt round-robin over the training
environments (pair ``j`` trains on ``tasks[j % E]``), so one generation costs one agent lifetime
per member whatever the number of environments. Lifetimes ``N`` (in updates) are drawn
log-uniformly from ``[lifetime_min, lifetime_max]``: one per generation (``lifetime_sharing =
"generation"``: the ``while_loop`` runs exactly ``N`` updates) or one per pair (``"pair"``: under
``vmap`` the loop runs to the largest ``N``, each member stopping at its own). Fitness is the
agent's lifetime score (mean return of the episodes ending in the last quarter of its
lifetime); pairwise shaping makes the better member of each pair score 1, the other 0, so
scores never need to be comparable across environments or lifetimes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.config import Check, ConfigBase, in_range, one_of, positive, static
from jaxrl.meta.es import ESConfig, ESState, EvolutionStrategy
from jaxrl.meta.lpg.agent import AgentConfig, LPGAgent
from jaxrl.meta.lpg.network import LPGNetwork

LIFETIME_SHARING = ("generation", "pair")


@dataclass(frozen=True)
class TaskSpec:
    """One environment of the training distribution.

    ``sizes = (lo, hi)``: grid side drawn uniformly per level (the env's static grid must allow
    ``hi``), with ``max_steps`` scaled as ``default_max_steps * size**2 / default_size**2``
    (MiniGrid's rule for every sized task). ``None`` keeps the env's params.
    """

    env_id: str
    env_params: Mapping[str, Any] = field(default_factory=dict)
    sizes: tuple[int, int] | None = None
    obs_scale: float = 0.1

    def __post_init__(self):
        object.__setattr__(self, "env_params", dict(self.env_params))
        if self.sizes is not None:
            lo, hi = (int(s) for s in self.sizes)
            if not 0 < lo <= hi:
                raise ValueError(f"TaskSpec.sizes must be (lo, hi) with 0 < lo <= hi, got {self.sizes}")
            object.__setattr__(self, "sizes", (lo, hi))

    def agent_config(self, agent: AgentConfig) -> AgentConfig:
        return agent.replace(env_id=self.env_id, env_params=self.env_params, obs_scale=self.obs_scale)

    def sample_level(self, key: jax.Array, params: Any) -> Any:
        """Level params drawn from ``key`` (``params`` unchanged without ``sizes``)."""
        if self.sizes is None:
            return params
        lo, hi = self.sizes
        size = jax.random.randint(key, (), lo, hi + 1)
        d_size = int(np.asarray(params.size))
        steps = jnp.round(int(np.asarray(params.max_steps)) * size**2 / d_size**2).astype(jnp.int32)
        return params.replace(size=size.astype(jnp.asarray(params.size).dtype), max_steps=steps)


DEFAULT_TASKS = (
    TaskSpec("MiniGrid-Empty-8x8-v0", {"random_start": True}, sizes=(5, 8)),
    TaskSpec("MiniGrid-LavaGapS7-v0", sizes=(5, 7)),
)


@dataclass(frozen=True)
class LPGMetaConfig(ConfigBase):
    """LPG / TA-LPG meta-training. Defaults: the scaled-down CPU run (see :data:`FULL`)."""

    _name = "LPGMetaConfig"

    time_aware: bool = True
    hidden: int = static(32, positive)  # GRU units (the study's full configuration: 256)
    tasks: tuple[TaskSpec, ...] = static(DEFAULT_TASKS, Check(len, "one or more TaskSpec"))
    agent: AgentConfig = AgentConfig(num_envs=16, num_steps=20, lr=3e-3)
    lifetime_min: int = static(10, positive)
    lifetime_max: int = static(250, positive)
    lifetime_sharing: str = static("generation", one_of(*LIFETIME_SHARING))
    window: float = static(0.25, in_range(0, 1, lo_open=True))
    es: ESConfig = ESConfig(popsize=32, lr=1e-2, sigma=0.1, shaping="pairwise", antithetic=True)
    generations: int = static(200, positive)

    def validate(self) -> None:
        if self.lifetime_min > self.lifetime_max:
            raise ValueError(f"LPGMetaConfig: lifetime_min={self.lifetime_min} > lifetime_max={self.lifetime_max}")
        if not self.es.use_antithetic:
            raise ValueError("LPG meta-training needs antithetic sampling (pairs share their task)")
        if self.es.popsize // 2 < len(self.tasks):
            raise ValueError(f"popsize {self.es.popsize} gives {self.es.popsize // 2} pairs, fewer than the "
                             f"{len(self.tasks)} training tasks")  # fmt: skip

    @property
    def rule(self) -> LPGNetwork:
        return LPGNetwork(hidden=self.hidden, y_dim=self.agent.y_dim, time_aware=self.time_aware)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FULL = dict(
    hidden=256,
    es=ESConfig(popsize=1024, lr=1e-2, sigma=0.1, shaping="pairwise", antithetic=True),
    generations=2500,
    lifetime_sharing="pair",
    agent=AgentConfig(num_envs=64, num_steps=20, lr=3e-3),
)
"""The study's configuration (``LPGMetaConfig(**FULL)``): for accelerators, not this CPU."""


def sample_lifetime(key: jax.Array, lo: int, hi: int) -> jax.Array:
    """An int32 lifetime drawn log-uniformly from ``[lo, hi]`` (rounded, clipped)."""
    u = jax.random.uniform(key, (), minval=np.log(lo), maxval=np.log(hi))
    return jnp.clip(jnp.round(jnp.exp(u)), lo, hi).astype(jnp.int32)


def pair_tasks(popsize: int, num_tasks: int) -> list[np.ndarray]:
    """Member indices training on each task: pair ``j`` (members ``j`` and ``j + P/2``) -> task ``j % E``."""
    half = popsize // 2
    return [np.array([m for m in range(popsize) if (m % half) % num_tasks == e]) for e in range(num_tasks)]


class LPGMetaTrainer:
    """Evolves a rule (:class:`LPGNetwork` parameters) with :class:`EvolutionStrategy`."""

    def __init__(self, cfg: LPGMetaConfig, on_generation: Any = None):
        self.cfg = cfg
        self.rule = cfg.rule
        self.agents = tuple(LPGAgent(t.agent_config(cfg.agent), self.rule) for t in cfg.tasks)
        self.groups = pair_tasks(cfg.es.popsize, len(cfg.tasks))
        self.es = EvolutionStrategy(cfg.es, self.rule.init_params(jax.random.key(0)), self.fitness, on_generation)

    def init(self, key: jax.Array) -> ESState:
        k_rule, k_es = jax.random.split(key)
        return self.es.init(k_es, self.rule.init_params(k_rule))

    def run_score(self, task: int, key: jax.Array, params: Any, lifetime: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(score, lifetime)`` of one agent lifetime on ``tasks[task]``; ``lifetime < 0``: drawn from ``key``."""
        agent, spec = self.agents[task], self.cfg.tasks[task]
        k_level, k_train, k_life = jax.random.split(key, 3)
        own = sample_lifetime(k_life, self.cfg.lifetime_min, self.cfg.lifetime_max)
        n = jnp.where(lifetime < 0, own, lifetime)
        env_params = spec.sample_level(k_level, agent.env_params)
        _, score = agent.lifetime(k_train, params, n, env_params, self.cfg.window)
        return score, n

    def fitness(self, pop: Any, keys: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Fitness ``[P]``: lifetime score averaged over the member's ``S`` seeds."""
        p, s = keys.shape
        if self.cfg.lifetime_sharing == "generation":
            shared = sample_lifetime(jax.random.fold_in(keys[0, 0], 1), self.cfg.lifetime_min, self.cfg.lifetime_max)
        else:
            shared = jnp.int32(-1)
        fitness = jnp.zeros(p, jnp.float32)
        lifetimes = jnp.zeros(p, jnp.float32)
        aux = {}
        for e, idx in enumerate(self.groups):
            sub = jax.tree.map(lambda x, idx=idx: jnp.repeat(x[idx], s, axis=0), pop)
            fn = jax.vmap(lambda k, prm, e=e: self.run_score(e, k, prm, shared))
            score, n = fn(keys[idx].reshape(-1), sub)
            fitness = fitness.at[idx].set(score.reshape(len(idx), s).mean(axis=1))
            lifetimes = lifetimes.at[idx].set(n.reshape(len(idx), s).astype(jnp.float32).mean(axis=1))
            aux[f"score/{self.cfg.tasks[e].env_id}"] = jnp.full(p, jnp.mean(score))
        aux["lifetime"] = lifetimes
        return fitness, aux

    def run(self, state: ESState, num_generations: int) -> tuple[ESState, dict[str, jax.Array]]:
        return self.es.run(state, num_generations)


__all__ = [
    "DEFAULT_TASKS",
    "FULL",
    "LIFETIME_SHARING",
    "LPGMetaConfig",
    "LPGMetaTrainer",
    "TaskSpec",
    "pair_tasks",
    "sample_lifetime",
]
