"""Population based training on device: members, hyperparameters, exploit and explore in one ``lax.scan``.

Works with any agent exposing ``init(key, hparams)``, ``train_chunk(state, n)``,
``evaluate(key, state, episodes)`` and a traced ``state.hparams`` (PPO, PQN,
DQN, SAC, TD3). One *round*:

1. every member trains ``updates_per_round`` updates (``vmap`` over members);
2. fitness: mean greedy evaluation return (``fitness="eval"``) or mean
   training return of the round (``"train"``); NaN counts as worst;
3. exploit: members that are *ready* (``ready_rounds`` rounds since their last
   copy) and lose the selection copy a donor's whole train state --
   parameters, optimiser state, normalisation statistics, replay buffer,
   environment state, hyperparameters -- bit for bit, except its PRNG key:
   the agent state's field ``key`` (every agent has one: PPO and PQN
   ``RunnerState``, DQN/SAC/TD3 ``OffPolicyState``, LPG ``AgentState``)
   becomes ``fold_in(fold_in(loser's own key, round), member index)``, so a
   copy and its donor never draw the same resets, action noise, minibatch
   shuffles or replay samples. ``"truncation"``: the bottom
   ``fraction`` copies a uniformly drawn member of the top ``fraction``;
   ``"tournament"``: each member meets a random other one and copies it if
   it is better;
4. explore: each searched hyperparameter of a copied member is resampled
   from its prior with probability ``resample_prob``, else multiplied by 0.8
   or 1.2 (``perturb``) and clipped to the prior's bounds.

The last round (``round == cfg.rounds``) only trains and scores: no exploit or
explore, so the population returned is the one trained in that round.

``exploit=False`` gives random search with the same sampling and budget. The
history records, per round, each member's fitness, the hyperparameters it
trained with, whom it copied (``parent``) and whether it did, so lineages
and hyperparameter schedules can be traced (:func:`incumbent_schedule`) and
replayed on fresh test seeds (:func:`replay_schedule`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.agent import check_protocol
from jaxrl.config import Check, ConfigBase, in_range, one_of, positive, static
from jaxrl.errors import UserError


@dataclass(frozen=True)
class Prior:
    """Search range of one hyperparameter: uniform in ``[low, high]``, or log-uniform when ``log``."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self):
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"Prior needs finite low < high, got {self.low}, {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale Prior needs low > 0, got {self.low}")

    def sample(self, key: jax.Array, shape: tuple[int, ...] = ()) -> jax.Array:
        u = jax.random.uniform(key, shape)
        if self.log:
            return jnp.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def clip(self, x: jax.Array) -> jax.Array:
        return jnp.clip(x, self.low, self.high)


@dataclass(frozen=True)
class PBTConfig(ConfigBase):
    _name = "PBTConfig"

    search: Mapping[str, Prior] = static(factory=dict)  # hyperparameter name -> prior
    population: int = static(8, Check(lambda v: v >= 2, "an integer >= 2"))
    rounds: int = static(10, positive)
    updates_per_round: int = static(10, positive)
    selection: str = static("truncation", one_of("truncation", "tournament"))
    fraction: float = static(0.25, in_range(0, 0.5, lo_open=True))  # truncation: bottom/top fraction
    perturb: tuple[float, float] = static((0.8, 1.2), Check(lambda v: min(v) > 0, "two positive factors"))
    resample_prob: float = static(0.25, in_range(0, 1))
    ready_rounds: int = static(1, positive)  # rounds a member trains after a copy before it may copy again
    fitness: str = static("eval", one_of("eval", "train"))  # "eval": greedy evaluation; "train": round's return
    eval_episodes: int = static(8, positive)
    exploit: bool = True  # False: random search (no exploit / explore)

    def validate(self) -> None:
        if not self.search:
            raise UserError("PBTConfig.search is empty: name at least one hyperparameter and its Prior")
        for k, p in self.search.items():
            if not isinstance(p, Prior):
                raise TypeError(f"PBTConfig.search[{k!r}] must be a Prior, got {type(p).__name__}")

    @property
    def num_exploit(self) -> int:
        """Members in the bottom (and top) group of truncation selection."""
        return max(1, int(self.fraction * self.population))


@struct.dataclass
class PBTState:
    members: Any  # agent train states, leaves [P, ...] (hyperparameters in members.hparams)
    key: jax.Array
    round: jax.Array  # [] int32 rounds done
    last_copy: jax.Array  # [P] int32 round of each member's last copy (0 at the start)


def _hparams(members: Any) -> Any:
    return members.hparams


def _set_hparams(members: Any, values: Mapping[str, jax.Array]) -> Any:
    return members.replace(hparams=members.hparams.replace(**values))


def fresh_keys(keys: jax.Array, rnd: jax.Array, copied: jax.Array, copied_keys: jax.Array) -> jax.Array:
    """The members' PRNG keys after an exploit: ``copied_keys`` (``[P]`` typed or ``[P, 2]`` raw, the donors'),
    but a copied member (``copied [P]``) gets ``fold_in(fold_in(keys[i], rnd), i)`` from its own pre-copy key."""
    new = jax.vmap(lambda k, i: jax.random.fold_in(jax.random.fold_in(k, rnd), i))(keys, jnp.arange(copied.shape[0]))
    pick = copied.reshape(copied.shape + (1,) * (new.ndim - 1))
    return jax.vmap(lambda c, a, b: jax.lax.select(c, a, b))(jnp.broadcast_to(pick, new.shape), new, copied_keys)


def select(key: jax.Array, fitness: jax.Array, cfg: PBTConfig) -> tuple[jax.Array, jax.Array]:
    """``(parent [P] int32, loses [P] bool)``: whom each member would copy, and whether it lost selection.

    ``fitness [P]`` (NaN counts as worst). Winners have ``parent[i] == i``.
    """
    p = fitness.shape[0]
    fit = jnp.where(jnp.isnan(fitness), -jnp.inf, fitness)
    me = jnp.arange(p)
    if cfg.selection == "truncation":
        n = cfg.num_exploit
        order = jnp.argsort(fit, stable=True)  # ascending: order[0] is the worst
        rank = jnp.argsort(order, stable=True)  # rank[i]: position of member i
        loses = rank < n
        donor = order[p - n + jax.random.randint(key, (p,), 0, n)]
    else:  # binary tournament against a uniformly drawn other member
        other = (me + jax.random.randint(key, (p,), 1, p)) % p
        loses = fit[other] > fit
        donor = other
    return jnp.where(loses, donor, me).astype(jnp.int32), loses


def explore(key: jax.Array, values: Mapping[str, jax.Array], mask: jax.Array, cfg: PBTConfig) -> dict[str, jax.Array]:
    """Perturb (x0.8 / x1.2, clipped) or resample (probability ``resample_prob``) values where ``mask [P]``."""
    out = {}
    for i, (name, prior) in enumerate(sorted(cfg.search.items())):
        k_coin, k_factor, k_prior = jax.random.split(jax.random.fold_in(key, i), 3)
        v = values[name]
        factor = jnp.asarray(cfg.perturb, jnp.float32)[jax.random.randint(k_factor, v.shape, 0, 2)]
        resample = jax.random.uniform(k_coin, v.shape) < cfg.resample_prob
        new = jnp.where(resample, prior.sample(k_prior, v.shape), prior.clip(v * factor))
        out[name] = jnp.where(mask, new, v).astype(v.dtype)
    return out


class PBT:
    """PBT of ``agent`` (an agent object, e.g. ``ppo.PPO(cfg)``) under ``cfg``. Methods are pure and jittable."""

    def __init__(self, agent: Any, cfg: PBTConfig):
        if not isinstance(cfg, PBTConfig):
            raise TypeError(f"PBT needs a PBTConfig, got {type(cfg).__name__}")
        check_protocol(agent)  # a jaxrl.Agent (TypeError naming what is missing)
        template = jax.eval_shape(agent.init, jax.random.key(0))
        if not hasattr(template, "key"):
            raise TypeError(f"PBT needs agent states with a PRNG field named 'key' (a copied member gets a fresh "
                            f"one); {type(agent).__name__}'s {type(template).__name__} has none")
        if cfg.search and not hasattr(template, "hparams"):
            raise ValueError(f"{type(agent).__name__} has no traced hyperparameters for PBT to search")
        names = {f for f in dir(getattr(template, "hparams", None)) if not f.startswith("_")}
        unknown = sorted(set(cfg.search) - names)
        if unknown:
            raise ValueError(f"PBT search names unknown hyperparameter(s) {unknown} of {type(agent).__name__}")
        self.agent, self.cfg = agent, cfg

    def init(self, key: jax.Array) -> PBTState:
        """Members with searched hyperparameters drawn from their priors, the rest at the agent's defaults."""
        cfg = self.cfg
        k_h, k_m, k_run = jax.random.split(key, 3)
        hp = {n: p.sample(jax.random.fold_in(k_h, i), (cfg.population,))
              for i, (n, p) in enumerate(sorted(cfg.search.items()))}
        members = jax.vmap(self.agent.init)(jax.random.split(k_m, cfg.population), hp)
        return PBTState(members, k_run, jnp.int32(0), jnp.zeros(cfg.population, jnp.int32))

    def fitness(self, key: jax.Array, members: Any, metrics: Mapping[str, jax.Array]) -> jax.Array:
        """``[P]`` fitness of the members after a round."""
        if self.cfg.fitness == "train":
            r = metrics["episode_return"]  # [P, updates]
            return jnp.nanmean(r, axis=1)
        keys = jax.random.split(key, self.cfg.population)
        ev = jax.vmap(lambda k, s: self.agent.evaluate(k, s, self.cfg.eval_episodes))(keys, members)
        return jnp.nanmean(ev, axis=1)

    def exploit_explore(self, key: jax.Array, state: PBTState, fitness: jax.Array):
        """Copy losers' states from donors and explore their hyperparameters; returns ``(state, record)``.

        A copy takes everything of its donor's state but the key (fresh, see :func:`fresh_keys`). Nothing is
        copied once ``state.round`` reaches ``cfg.rounds``: the final population is the trained one.
        """
        cfg = self.cfg
        k_sel, k_exp = jax.random.split(key)
        rnd = state.round
        used = {n: getattr(_hparams(state.members), n) for n in sorted(cfg.search)}
        if cfg.exploit:
            parent, loses = select(k_sel, fitness, cfg)
            ready = rnd - state.last_copy >= cfg.ready_rounds
            copied = loses & ready & (rnd < cfg.rounds)  # the last round returns the trained population
            parent = jnp.where(copied, parent, jnp.arange(cfg.population)).astype(jnp.int32)
            members = jax.tree.map(lambda x: x[parent], state.members)
            members = members.replace(key=fresh_keys(state.members.key, rnd, copied, members.key))
            donor_values = {n: v[parent] for n, v in used.items()}
            members = _set_hparams(members, explore(k_exp, donor_values, copied, cfg))
            last_copy = jnp.where(copied, rnd, state.last_copy)
        else:
            parent, copied, members, last_copy = jnp.arange(cfg.population), jnp.zeros(cfg.population, bool), \
                state.members, state.last_copy
        record = {"fitness": fitness, "hparams": used, "parent": parent.astype(jnp.int32), "copied": copied}
        return state.replace(members=members, last_copy=last_copy), record

    def round_step(self, state: PBTState) -> tuple[PBTState, dict[str, Any]]:
        """Train every member for a round, then exploit and explore (except after round ``cfg.rounds``)."""
        k_eval, k_ex, k_next = jax.random.split(state.key, 3)
        n = self.cfg.updates_per_round
        members, metrics = jax.vmap(lambda s: self.agent.train_chunk(s, n))(state.members)
        fitness = self.fitness(k_eval, members, metrics)
        state = state.replace(members=members, round=state.round + 1)
        state, record = self.exploit_explore(k_ex, state, fitness)
        record["train_return"] = jnp.nanmean(metrics["episode_return"], axis=1)
        return state.replace(key=k_next), record

    def run(self, state: PBTState, n_rounds: int) -> tuple[PBTState, dict[str, Any]]:
        """``n_rounds`` (static) rounds under ``lax.scan``; history leaves ``[n_rounds, P]``."""
        if isinstance(n_rounds, bool) or not isinstance(n_rounds, int) or n_rounds < 1:
            raise ValueError(f"n_rounds must be a positive int, got {n_rounds!r}")
        return jax.lax.scan(lambda s, _: self.round_step(s), state, None, length=n_rounds)


def make_pbt(agent: Any, cfg: PBTConfig):
    """``pbt(key) -> (PBTState, history)`` running all ``cfg.rounds`` rounds in one program."""
    p = PBT(agent, cfg)

    def pbt(key: jax.Array):
        return p.run(p.init(key), cfg.rounds)

    return pbt


# =========================================================================== lineage and replay
def lineage(history: Mapping[str, Any], member: int) -> np.ndarray:
    """The line ``[R]`` behind ``member``'s final state: entry ``r`` is the member whose training in round
    ``r`` it continues (its own index in the last round; ``parent`` pointers before that)."""
    parent = np.asarray(history["parent"])  # [R, P]: after round r, member i continues parent[r, i]'s state
    rounds = parent.shape[0]
    line = np.zeros(rounds, np.int64)
    line[-1] = member
    for r in range(rounds - 2, -1, -1):
        line[r] = parent[r, line[r + 1]]
    return line


def incumbent_schedule(history: Mapping[str, Any]) -> tuple[int, dict[str, np.ndarray]]:
    """``(member, {name: [R]})``: the best member of the last round and the hyperparameters its line used."""
    fitness = np.asarray(history["fitness"])[-1]
    best = int(np.nanargmax(np.where(np.isnan(fitness), -np.inf, fitness)))
    line = lineage(history, best)
    sched = {n: np.asarray(v)[np.arange(len(line)), line] for n, v in history["hparams"].items()}
    return best, sched


def replay_schedule(agent: Any, schedule: Mapping[str, jax.Array], key: jax.Array, updates_per_round: int):
    """Train one fresh run with per-round hyperparameters ``schedule`` (``{name: [R]}``); ``vmap`` over keys.

    Returns ``(state, metrics)`` with metrics ``[R * updates_per_round]``. A constant schedule replays a
    fixed setting (random search, defaults) under the same chunking.
    """
    sched = {n: jnp.asarray(v, jnp.float32) for n, v in schedule.items()}
    state = agent.init(key, {n: v[0] for n, v in sched.items()})

    def one(s, hp):
        s = _set_hparams(s, hp)
        return agent.train_chunk(s, updates_per_round)

    state, metrics = jax.lax.scan(one, state, sched)
    return state, jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), metrics)
