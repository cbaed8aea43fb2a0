"""Multi-objective hyperparameter search: members with different scalarisation weights in one program.

Each member trains an agent on the reward ``w . r`` (``r`` a vector reward, e.g. the fin
environments' ``info["reward_vector"]`` through :class:`jaxrl.envs.finray.Scalarized`); its
searched agent hyperparameters (:class:`jaxrl.meta.pbt.Prior`) and its weights ``w [M]``
are traced, so the whole population is one ``vmap``. ``make_agent(weights)`` builds the
member's agent for traced weights (``init``, ``train_chunk``, ``evaluate``, as PBT uses);
the vector fitness of a member is its greedy evaluation return under each unit weight
``e_j`` (the same policy, scored on objective ``j``): ``F [P, M]``, all maximised.

Rounds (``lax.scan``): train ``updates_per_round`` updates; evaluate ``F``; then, unless
``exploit=False`` (random search over hyperparameters and weights), truncation selection
inside each *group* on a score:

* ``"pareto"``: minus the non-dominated-sorting rank (front 0 best);
* ``"hypervolume"``: the member's exclusive hypervolume contribution within the group
  (normalised), minus its rank, so dominated members rank below every front member;
* ``"scalar"``: the member's own weighted return ``w . F`` (single-objective tuning).

The bottom ``fraction`` of a group copies a random member of its top ``fraction``
(whole train state, hyperparameters, weights); the copy's hyperparameters are perturbed
(x0.8 / x1.2) or resampled, and its weights perturbed multiplicatively on the simplex
(``weight_sigma``) or resampled from a flat Dirichlet, each with ``resample_prob``.

:func:`single_objective_weights` gives the equal-budget baseline: the same population
split into one group per objective with fixed unit weights and ``"scalar"`` selection.
:func:`hypervolume` is exact (grid of the points' coordinates, ``P^M`` cells) in JAX;
:func:`front_report` gives the final Pareto front, its hypervolume and a bootstrap
interval over seeds (:func:`jaxrl.stats.stratified_bootstrap_ci`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.errors import UserError
from jaxrl.meta.pbt import Prior, explore, fresh_keys

SELECTIONS = ("pareto", "hypervolume", "scalar")


# =========================================================================== Pareto machinery (JAX, maximisation)
def dominates(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a [..., M]`` dominates ``b [..., M]``: no worse everywhere, better somewhere."""
    return jnp.all(a >= b, axis=-1) & jnp.any(a > b, axis=-1)


def pareto_ranks(points: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Non-dominated-sorting rank ``[N]`` int32 (0: the front) of ``points [N, M]``; NaN rows rank last.

    ``mask [N]``: only members with ``mask`` take part (others get rank ``N``).
    """
    n = points.shape[0]
    valid = ~jnp.any(jnp.isnan(points), axis=-1)
    valid = valid if mask is None else valid & mask
    pts = jnp.where(valid[:, None], points, -jnp.inf)
    dom = dominates(pts[:, None, :], pts[None, :, :]) & valid[:, None] & valid[None, :]  # [i, j]: i dominates j

    def body(_, carry):
        rank, left, level = carry
        dominated = jnp.any(dom & left[:, None], axis=0)  # by someone still in play
        front = left & ~dominated
        return jnp.where(front, level, rank), left & ~front, level + 1

    rank0 = jnp.full((n,), n, jnp.int32)
    rank, _, _ = jax.lax.fori_loop(0, n, body, (rank0, valid, jnp.int32(0)))
    return rank


def hypervolume(points: jax.Array, reference: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Exact hypervolume (maximisation) dominated by ``points [N, M]`` above ``reference [M]``.

    The union of the boxes ``[reference, p]`` is measured on the grid of the points'
    coordinates (``N^M`` cells): a cell counts when some point dominates its upper corner.
    Points with a coordinate below the reference, NaN rows and rows outside ``mask``
    contribute nothing.
    """
    n, m = points.shape
    ref = jnp.asarray(reference, points.dtype)
    ok = ~jnp.any(jnp.isnan(points), axis=-1)
    ok = ok if mask is None else ok & mask
    p = jnp.where(ok[:, None], jnp.maximum(points, ref), ref)  # [N, M]
    coords = jnp.sort(p, axis=0)  # [N, M]
    lower = jnp.concatenate([ref[None, :], coords[:-1]], axis=0)  # [N, M] cell k spans (lower_k, coords_k]
    width = coords - lower  # [N, M]
    # covered[cell] = any_i all_d p[i, d] >= coords[k_d, d]
    cover = p[:, None, :] >= coords[None, :, :]  # [N points, N cells-per-dim, M]
    grids = jnp.ones((n,) + (n,) * m, bool)
    vol = jnp.ones((n,) * m, points.dtype)
    for d in range(m):
        shape = [1] * m
        shape[d] = n
        grids = grids & cover[:, :, d].reshape((n, *shape))
        vol = vol * width[:, d].reshape(shape)
    covered = jnp.any(grids, axis=0)
    return jnp.sum(jnp.where(covered, vol, 0.0))


def hv_contributions(points: jax.Array, reference: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Exclusive hypervolume contribution ``[N]`` of each point: ``HV(all) - HV(all but i)``."""
    n = points.shape[0]
    base = jnp.ones((n,), bool) if mask is None else mask
    total = hypervolume(points, reference, base)
    without = jax.vmap(lambda i: hypervolume(points, reference, base & (jnp.arange(n) != i)))(jnp.arange(n))
    return jnp.where(base, total - without, 0.0)


def pareto_front(points: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``points [N, M]`` (NumPy; NaN rows excluded)."""
    return np.flatnonzero(np.asarray(pareto_ranks(jnp.asarray(points, jnp.float32))) == 0)


# =========================================================================== configuration
@dataclass(frozen=True)
class MOConfig:
    """Multi-objective search settings (static; counts shape the program)."""

    num_objectives: int
    search: Mapping[str, Prior] = field(default_factory=dict)  # agent hyperparameters (may be empty)
    population: int = 8
    rounds: int = 4
    updates_per_round: int = 5
    selection: str = "hypervolume"  # "pareto" | "hypervolume" | "scalar"
    exploit: bool = True  # False: random search over hyperparameters and weights
    fraction: float = 0.25
    perturb: tuple[float, float] = (0.8, 1.2)
    resample_prob: float = 0.25
    weight_sigma: float = 0.3  # log-normal perturbation of copied weights
    search_weights: bool = True  # False: weights stay as initialised (e.g. single-objective groups)
    eval_episodes: int = 4
    reference: tuple[float, ...] | None = None  # hypervolume reference point [M] (default: zeros)

    def __post_init__(self):
        object.__setattr__(self, "search", dict(self.search))
        object.__setattr__(self, "perturb", tuple(float(f) for f in self.perturb))
        for name in ("num_objectives", "population", "rounds", "updates_per_round", "eval_episodes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise UserError(f"MOConfig.{name} must be a positive integer, got {v!r}")
        if self.population < 2:
            raise UserError(f"MOConfig.population must be at least 2, got {self.population}")
        for k, p in self.search.items():
            if not isinstance(p, Prior):
                raise UserError(f"MOConfig.search[{k!r}] must be a jaxrl.meta.pbt.Prior, got {type(p).__name__}")
        if self.selection not in SELECTIONS:
            raise UserError(f"MOConfig.selection must be one of {SELECTIONS}, got {self.selection!r}")
        if not 0 < self.fraction <= 0.5:
            raise UserError(f"MOConfig.fraction must be in (0, 0.5], got {self.fraction}")
        if not 0 <= self.resample_prob <= 1:
            raise UserError(f"MOConfig.resample_prob must be in [0, 1], got {self.resample_prob}")
        if len(self.perturb) != 2 or min(self.perturb) <= 0:
            raise UserError(f"MOConfig.perturb must be two positive factors, got {self.perturb}")
        if not (math.isfinite(self.weight_sigma) and self.weight_sigma >= 0):
            raise UserError(f"MOConfig.weight_sigma must be >= 0, got {self.weight_sigma}")
        if self.reference is not None:
            ref = tuple(float(r) for r in self.reference)
            if len(ref) != self.num_objectives or not all(math.isfinite(r) for r in ref):
                raise UserError(
                    f"MOConfig.reference needs {self.num_objectives} finite values (one per objective), "
                    f"got {self.reference!r}"
                )
            object.__setattr__(self, "reference", ref)
        if self.population ** (self.num_objectives + 1) > 5e7:
            raise UserError(
                f"population ** (num_objectives + 1) = {self.population ** (self.num_objectives + 1)} is too large "
                "for the exact hypervolume grid; use a smaller population"
            )

    @property
    def ref(self) -> np.ndarray:
        return np.zeros(self.num_objectives, np.float32) if self.reference is None else np.asarray(
            self.reference, np.float32)


def check_initial_weights(weights: Any, cfg: MOConfig) -> np.ndarray:
    """``[P, M]`` float32 weights; :class:`UserError` for a wrong shape, negative or all-zero rows."""
    w = np.asarray(weights, np.float64)
    if w.shape != (cfg.population, cfg.num_objectives):
        raise UserError(
            f"weights must be [population, num_objectives] = [{cfg.population}, {cfg.num_objectives}], got {w.shape}"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise UserError(f"weights must be finite and non-negative, got {w.tolist()}")
    if np.any(w.sum(axis=1) <= 0):
        raise UserError("every member needs a weight vector that is not all zero")
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def single_objective_weights(cfg: MOConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(weights [P, M], group [P])``: unit weights, members dealt round-robin to the objectives."""
    group = np.arange(cfg.population) % cfg.num_objectives
    return np.eye(cfg.num_objectives, dtype=np.float32)[group], group.astype(np.int32)


# =========================================================================== search
@struct.dataclass
class MOState:
    members: Any  # agent train states, leaves [P, ...] (hyperparameters in members.hparams)
    weights: jax.Array  # [P, M] scalarisation weights (rows on the simplex)
    group: jax.Array  # [P] int32 selection group
    key: jax.Array
    round: jax.Array  # [] int32


def group_truncation(key: jax.Array, score: jax.Array, group: jax.Array, fraction: float):
    """``(parent [P], loses [P])``: within each group, the bottom ``fraction`` copies a random top-``fraction`` member.

    NaN scores count as worst; ties are broken by index. Groups of one member never copy.
    """
    p = score.shape[0]
    s = jnp.where(jnp.isnan(score), -jnp.inf, score)
    idx = jnp.arange(p)
    same = group[:, None] == group[None, :]
    below = (s[None, :] < s[:, None]) | ((s[None, :] == s[:, None]) & (idx[None, :] < idx[:, None]))
    rank = jnp.sum(same & below, axis=1)  # [P] position within the group, 0 = worst
    size = jnp.sum(same, axis=1)
    n_top = jnp.maximum(jnp.floor(fraction * size), 1).astype(jnp.int32)
    loses = (rank < n_top) & (size > 1)
    pick = size - 1 - jax.random.randint(key, (p,), 0, 2**30) % n_top  # wanted within-group rank of the donor
    donor = jnp.argmax(same & (rank[None, :] == pick[:, None]), axis=1)
    return jnp.where(loses, donor, idx).astype(jnp.int32), loses


def explore_weights(key: jax.Array, w: jax.Array, mask: jax.Array, cfg: MOConfig) -> jax.Array:
    """Copied members' weights: log-normal perturbation renormalised to the simplex, or a flat Dirichlet draw."""
    k_coin, k_pert, k_new = jax.random.split(key, 3)
    pert = w * jnp.exp(cfg.weight_sigma * jax.random.normal(k_pert, w.shape))
    fresh = jax.random.dirichlet(k_new, jnp.ones(w.shape[-1]), (w.shape[0],))
    resample = jax.random.uniform(k_coin, (w.shape[0], 1)) < cfg.resample_prob
    new = jnp.where(resample, fresh, pert)
    new = new / jnp.sum(new, axis=-1, keepdims=True)
    return jnp.where(mask[:, None], new, w)


class MOSearch:
    """Multi-objective search of agents built by ``make_agent(weights [M]) -> agent`` (pure, jittable methods)."""

    def __init__(self, make_agent: Callable[[jax.Array], Any], cfg: MOConfig):
        if not isinstance(cfg, MOConfig):
            raise UserError(f"MOSearch needs an MOConfig, got {type(cfg).__name__}")
        agent = make_agent(jnp.ones(cfg.num_objectives, jnp.float32) / cfg.num_objectives)
        for name in ("init", "train_chunk", "evaluate"):
            if not callable(getattr(agent, name, None)):
                raise UserError(f"make_agent must build agents with {name}(); {type(agent).__name__} has none")
        template = jax.eval_shape(agent.init, jax.random.key(0))
        names = {f for f in dir(template.hparams) if not f.startswith("_")}
        unknown = sorted(set(cfg.search) - names)
        if unknown:
            raise UserError(f"MOConfig.search names unknown hyperparameter(s) {unknown} of {type(agent).__name__}")
        self.make_agent, self.cfg = make_agent, cfg

    def init(self, key: jax.Array, weights: Any = None, group: Any = None) -> MOState:
        """Members with hyperparameters from their priors and ``weights [P, M]`` (default: flat Dirichlet draws)."""
        cfg = self.cfg
        k_h, k_w, k_m, k_run = jax.random.split(key, 4)
        if weights is None:
            w = jax.random.dirichlet(k_w, jnp.ones(cfg.num_objectives), (cfg.population,))
        else:
            w = jnp.asarray(check_initial_weights(weights, cfg))
        g = jnp.zeros(cfg.population, jnp.int32) if group is None else jnp.asarray(group, jnp.int32)
        if g.shape != (cfg.population,):
            raise UserError(f"group must be [population] = [{cfg.population}], got {g.shape}")
        hp = {n: p.sample(jax.random.fold_in(k_h, i), (cfg.population,))
              for i, (n, p) in enumerate(sorted(cfg.search.items()))}
        keys = jax.random.split(k_m, cfg.population)
        members = jax.vmap(lambda k, wi, h: self.make_agent(wi).init(k, h))(keys, w, hp)
        return MOState(members, w, g, k_run, jnp.int32(0))

    def vector_fitness(self, key: jax.Array, members: Any) -> jax.Array:
        """``F [P, M]``: mean greedy evaluation return of each member under each unit weight."""
        cfg, m = self.cfg, self.cfg.num_objectives
        eye = jnp.eye(m, dtype=jnp.float32)
        keys = jax.random.split(key, cfg.population)

        def one(k, s):
            per = [jnp.nanmean(self.make_agent(eye[j]).evaluate(k, s, cfg.eval_episodes)) for j in range(m)]
            return jnp.stack(per)

        return jax.vmap(one)(keys, members)

    def scores(self, fitness: jax.Array, weights: jax.Array, group: jax.Array) -> jax.Array:
        """Selection score ``[P]`` (higher is better) of :class:`MOConfig` ``selection``, within groups."""
        cfg = self.cfg
        if cfg.selection == "scalar":
            return jnp.sum(weights * fitness, axis=-1)
        same = group[:, None] == group[None, :]
        ranks = jax.vmap(lambda msk: pareto_ranks(fitness, msk))(same)  # [P groups-of-i, P]
        rank = jnp.diagonal(ranks).astype(jnp.float32)
        if cfg.selection == "pareto":
            return -rank
        ref = jnp.asarray(cfg.ref)
        contrib = jax.vmap(lambda msk: hv_contributions(fitness, ref, msk))(same)
        total = jax.vmap(lambda msk: hypervolume(fitness, ref, msk))(same)
        return jnp.diagonal(contrib) / jnp.maximum(total, 1e-12) - rank

    def round_step(self, state: MOState) -> tuple[MOState, dict[str, jax.Array]]:
        cfg = self.cfg
        k_eval, k_sel, k_hp, k_w, k_next = jax.random.split(state.key, 5)
        n = cfg.updates_per_round
        members, metrics = jax.vmap(lambda s, w: self.make_agent(w).train_chunk(s, n))(state.members, state.weights)
        fitness = self.vector_fitness(k_eval, members)
        used = {nm: getattr(members.hparams, nm) for nm in sorted(cfg.search)}
        record = {"fitness": fitness, "weights": state.weights, "hparams": used,
                  "train_return": jnp.nanmean(metrics["episode_return"], axis=1)}
        if cfg.exploit:
            parent, copied = group_truncation(k_sel, self.scores(fitness, state.weights, state.group), state.group,
                                              cfg.fraction)
            copied = copied & (state.round + 1 < cfg.rounds)  # the last round returns the trained members
            parent = jnp.where(copied, parent, jnp.arange(cfg.population)).astype(jnp.int32)
            trained = members
            members = jax.tree.map(lambda x: x[parent], members)
            if hasattr(members, "key"):  # a copy draws its own randomness (jaxrl.meta.pbt.fresh_keys)
                members = members.replace(key=fresh_keys(trained.key, state.round, copied, members.key))
            hp = explore(k_hp, {nm: v[parent] for nm, v in used.items()}, copied, cfg)
            if hp:
                members = members.replace(hparams=members.hparams.replace(**hp))
            weights = state.weights[parent]
            if cfg.search_weights:
                weights = explore_weights(k_w, weights, copied, cfg)
        else:
            parent, copied, weights = jnp.arange(cfg.population, dtype=jnp.int32), jnp.zeros(cfg.population, bool), \
                state.weights
        record.update(parent=parent, copied=copied)
        return MOState(members, weights, state.group, k_next, state.round + 1), record

    def run(self, state: MOState) -> tuple[MOState, dict[str, Any]]:
        """All ``cfg.rounds`` rounds under ``lax.scan``; history leaves ``[rounds, P, ...]``.

        There is no exploit/explore after the last round: the returned members are the trained ones
        that ``history["fitness"][-1]`` scores; a copied member gets a fresh key, not its donor's.
        """
        return jax.lax.scan(lambda s, _: self.round_step(s), state, None, length=self.cfg.rounds)


def make_mo_search(make_agent: Callable[[jax.Array], Any], cfg: MOConfig, weights: Any = None, group: Any = None):
    """``search(key) -> (MOState, history)``, every round of every member in one program (``vmap`` over keys)."""
    s = MOSearch(make_agent, cfg)
    w = None if weights is None else check_initial_weights(weights, cfg)

    def search(key: jax.Array):
        return s.run(s.init(key, w, group))

    search.search = s
    return search


# =========================================================================== reporting
def front_report(final_fitness: Any, reference: Any, confidence: float = 0.95, reps: int = 2000,
                 seed: int = 0) -> dict[str, Any]:
    """Pareto front of the final policies and its hypervolume with a bootstrap interval over seeds.

    ``final_fitness [S, P, M]`` (seeds, members, objectives). Each seed's front is the
    non-dominated set of its members; ``hypervolume`` is the mean over seeds of each seed's
    front hypervolume with a percentile stratified-bootstrap interval over seeds.
    """
    from jaxrl import stats

    f = np.asarray(final_fitness, np.float64)
    if f.ndim != 3:
        raise UserError(f"final_fitness must be [seeds, members, objectives], got shape {f.shape}")
    ref = np.asarray(reference, np.float32)
    if ref.shape != (f.shape[-1],):
        raise UserError(f"reference must have {f.shape[-1]} entries, got {ref.shape}")
    hv = np.array([float(hypervolume(jnp.asarray(fs, jnp.float32), jnp.asarray(ref))) for fs in f])
    fronts = [fs[pareto_front(fs)] for fs in f]
    if len(hv) > 1:
        point, lo, hi = stats.stratified_bootstrap_ci(hv[:, None], stats.mean, reps, confidence, seed)
    else:
        point, lo, hi = float(hv[0]), float("nan"), float("nan")
    pooled = np.concatenate(fronts)
    return {
        "hypervolume": point, "hv_low": lo, "hv_high": hi, "hv_per_seed": hv.tolist(),
        "front": pooled[pareto_front(pooled)].tolist(), "fronts": [x.tolist() for x in fronts],
        "reference": ref.tolist(),
    }


def plot_fronts(reports: Mapping[str, Mapping[str, Any]], names: tuple[str, ...], path: Any = None) -> Any:
    """Scatter of the pooled fronts (objective 0 vs 1; colour: objective 2 if any), one marker per method."""
    import matplotlib.pyplot as plt

    from jaxrl import plots

    with plt.rc_context(plots._STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 4.2))
        for (label, rep), marker in zip(reports.items(), "os^dv", strict=False):
            pts = np.asarray([p for fr in rep["fronts"] for p in fr])
            if pts.size == 0:
                continue
            c = pts[:, 2] if pts.shape[1] > 2 else None
            sc = ax.scatter(pts[:, 0], pts[:, 1], c=c, marker=marker, cmap="viridis", s=28,
                            label=f"{label}: HV {rep['hypervolume']:.3g} [{rep['hv_low']:.3g}, {rep['hv_high']:.3g}]")
        if pts.shape[1] > 2:
            fig.colorbar(sc, ax=ax, label=names[2])
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.legend(fontsize=7)
        ax.set_title("Pareto fronts of final policies (all seeds)")
        return plots._finish(fig, path)
