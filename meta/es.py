"""Evolution strategies over pytrees, and meta-training of learned PPO objectives, as one XLA program.

Generic part: :class:`EvolutionStrategy` wraps an evosax strategy (OpenAI-ES by
default, SNES or CMA-ES selectable) around a fitness function
``fitness_fn(population, keys) -> (fitness [P], aux)`` where ``population`` is the
parameter pytree with a leading ``[P]`` axis and ``keys`` is ``[P, S]`` (``S`` seeds per
member). Fitness is *maximised*: the driver shapes it (centered rank, z-score,
pairwise or raw) and hands ``-shaped`` to evosax, which minimises. One generation
(ask -> evaluate -> shape -> tell) is a pure function, ``run`` scans it with
``lax.scan``.

Antithetic sampling: member ``j`` and ``j + P/2`` carry noise ``+z`` and ``-z``
(evosax's layout, reproduced for SNES/CMA-ES by the mirrored subclasses below) and
receive *identical* evaluation keys ``keys[j] == keys[j + P/2]``, so each pair trains on
the same seeds (the same task) and only the noise sign differs. With antithetic OpenAI-ES
the gradient is formed from the pair differences (:class:`PairedOpen_ES`), so tied pairs
contribute exactly zero.

Meta part: :func:`make_meta_train` builds ``meta_train(key)`` that evolves the
parameters of a learned objective (:class:`jaxrl.meta.objectives.LPO` /
``TALPO``): every generation trains PPO for every member x seed x training
environment -- ``vmap`` over members and seeds (in chunks of ``member_batch`` runs
with ``lax.map`` when they do not fit in memory), a Python loop over environments
(different shapes) inside the same program -- and scores each run by its final
return, normalised per environment when reference ranges are given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from evosax.algorithms import CMA_ES, SNES, Open_ES
from evosax.algorithms.distribution_based.cma_es import eigen_decomposition
from evosax.core.fitness_shaping import identity_fitness_shaping_fn
from flax import struct
from jax.flatten_util import ravel_pytree

from jaxrl.agents import ppo
from jaxrl.config import Check, ConfigBase, ge, gt, in_range, positive, static
from jaxrl.errors import UserError
from jaxrl.meta.objectives import MirrorObjective, make_objective

STRATEGIES = ("open_es", "snes", "cma_es")
SHAPINGS = ("centered_rank", "z_score", "pairwise", "raw")
FITNESS_METRICS = ("train", "eval")

FitnessFn = Callable[[Any, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]


# --------------------------------------------------------------------------- fitness shaping
def _nan_to_worst(fitness: jax.Array) -> jax.Array:
    """NaN (failed run) -> below the worst finite value (0 if none is finite)."""
    finite = jnp.isfinite(fitness)
    worst = jnp.where(jnp.any(finite), jnp.min(jnp.where(finite, fitness, jnp.inf)), 0.0)
    return jnp.where(finite, fitness, worst - 1.0)


def shape_fitness(fitness: jax.Array, method: str = "centered_rank") -> jax.Array:
    """Shape raw fitness ``[P]`` (higher is better) into utilities ``[P]`` (higher is better).

    * ``centered_rank``: ranks scaled to ``[-0.5, 0.5]`` (ties share the average rank);
    * ``z_score``: ``(f - mean) / (std + 1e-8)``;
    * ``pairwise``: antithetic pairs ``(j, j + P/2)``: the better member of each pair
      scores 1, the other 0 (0.5 each on a tie);
    * ``raw``: unchanged.

    NaN counts as worse than every finite value.
    """
    if method not in SHAPINGS:
        raise ValueError(f"unknown fitness shaping {method!r}; valid: {', '.join(SHAPINGS)}")
    f = _nan_to_worst(jnp.asarray(fitness, jnp.float32))
    p = f.shape[0]
    if method == "raw":
        return f
    if method == "centered_rank":
        ranks = jax.scipy.stats.rankdata(f) - 1.0
        return ranks / max(p - 1, 1) - 0.5
    if method == "z_score":
        return (f - f.mean()) / (f.std() + 1e-8)
    if p % 2:
        raise ValueError(f"pairwise shaping needs an even population (antithetic pairs), got {p}")
    plus, minus = f[: p // 2], f[p // 2 :]
    win = jnp.where(plus > minus, 1.0, jnp.where(plus < minus, 0.0, 0.5))
    return jnp.concatenate([win, 1.0 - win])


# --------------------------------------------------------------------------- strategies
class PairedOpen_ES(Open_ES):
    """OpenAI-ES with antithetic pairs whose gradient is computed from the pair differences.

    Mathematically the same update as :class:`evosax.algorithms.Open_ES` (``z_- = -z_+``):
    ``grad = sum_j (u_j - u_{j+P/2}) z_j / (P sigma)`` with ``z_j`` recovered from the ``+`` half only.
    evosax recovers every ``z`` as ``(x - mean) / sigma``, so a pair with tied fitness contributes
    rounding noise instead of exactly zero, and Adam (which normalises the gradient) turns that
    noise into full ``lr``-sized steps; here ties contribute exactly 0.
    """

    def _tell(self, key, population, fitness, state, params):
        h = self.population_size // 2
        z = (population[:h] - state.mean) / state.std
        grad = jnp.dot(fitness[:h] - fitness[h:], z) / (self.population_size * state.std)
        updates, opt_state = self.optimizer.update(grad, state.opt_state, state.mean)
        return state.replace(
            mean=optax.apply_updates(state.mean, updates),
            std=self.std_schedule(state.generation_counter),
            opt_state=opt_state,
        )


class MirroredSNES(SNES):
    """SNES with antithetic (mirrored) sampling: noise ``[z, -z]`` (same layout as Open_ES)."""

    def _ask(self, key, state, params):
        z = jax.random.normal(key, (self.population_size // 2, self.num_dims))
        z = jnp.concatenate([z, -z])
        return state.mean + state.std * z, state


class MirroredCMA_ES(CMA_ES):
    """CMA-ES with antithetic (mirrored) sampling of the standard-normal draws ``[z, -z]``."""

    def _ask(self, key, state, params):
        C, B, D = eigen_decomposition(state.C)
        z = jax.random.normal(key, (self.population_size // 2, self.num_dims))
        z = jnp.concatenate([z, -z])
        z = (z @ jnp.diag(D).T) @ B.T
        return state.mean + state.std * z, state.replace(C=C, B=B, D=D)


@dataclass(frozen=True)
class ESConfig(ConfigBase):
    """Evolution-strategy settings.

    ``lr`` and the ``sigma`` schedule (``sigma * sigma_decay**g``, floored at
    ``sigma_min``) drive OpenAI-ES (Adam with ``adam_b1`` on the mean; its learning rate
    follows ``lr * lr_decay**g`` floored at ``lr_floor``). SNES and CMA-ES start from
    ``std = sigma`` and adapt it themselves (their mean step is the natural-gradient
    one: SNES with SGD(``snes_lr``), CMA-ES with ``c_mean = 1``); with them only the
    order of the shaped fitness matters (they apply their own rank weights).
    ``antithetic=None`` means on for open_es/snes and off for cma_es.
    ``common_random_numbers``: every member of a generation is evaluated with the same
    ``num_seeds`` keys (so fitness differences come from the parameters, not the seeds);
    otherwise each member (antithetic pair) gets its own keys. ``None`` is off for a plain
    :class:`EvolutionStrategy` and on in :class:`MetaConfig`.
    """

    _name = "ESConfig"

    strategy: str = "open_es"
    popsize: int = static(16, Check(lambda v: v >= 2, "an integer >= 2"))
    num_seeds: int = static(1, positive)  # evaluation seeds per member
    lr: float = static(0.01, gt(0))
    lr_decay: float = static(1.0, in_range(0, 1, lo_open=True))  # per generation (Open_ES Adam)
    lr_floor: float = static(0.0, ge(0))
    adam_b1: float = static(0.9, in_range(0, 1, hi_open=True))  # Open_ES Adam beta1 (LPO's authors: 0.99)
    sigma: float = static(0.04, gt(0))
    sigma_decay: float = static(1.0, in_range(0, 1, lo_open=True))  # per generation (Open_ES)
    sigma_min: float = static(0.0, ge(0))  # the floor of the sigma schedule
    snes_lr: float = static(1.0, gt(0))
    weight_decay: float = static(0.0, ge(0))  # Open_ES: AdamW decay of the mean towards 0 (counters Adam's drift)
    antithetic: bool | None = None
    common_random_numbers: bool | None = None  # None: off here, on in MetaConfig (objective discovery)
    shaping: str = "centered_rank"

    def validate(self) -> None:
        if self.strategy not in STRATEGIES:
            raise UserError(f"unknown ES strategy {self.strategy!r}; valid: {', '.join(STRATEGIES)}")
        if self.shaping not in SHAPINGS:
            raise UserError(f"unknown fitness shaping {self.shaping!r}; valid: {', '.join(SHAPINGS)}")
        if self.use_antithetic and self.popsize % 2:
            raise UserError(f"antithetic sampling needs an even popsize, got {self.popsize}")
        if self.shaping == "pairwise" and self.strategy != "open_es":
            raise UserError(
                f"ESConfig: shaping='pairwise' works only with strategy='open_es'; {self.strategy} ranks the "
                "fitness itself (its own rank weights), which would order pairwise's tied 0 / 0.5 / 1 utilities "
                "arbitrarily. Use shaping='centered_rank' (or 'z_score' / 'raw') with snes and cma_es"
            )
        if self.shaping == "pairwise" and not self.use_antithetic:
            raise UserError("pairwise fitness shaping needs antithetic sampling (pairs j, j + P/2)")
        for name, start, floor in (("sigma", self.sigma, self.sigma_min), ("lr", self.lr, self.lr_floor)):
            if floor > start:
                floor_name = "sigma_min" if name == "sigma" else "lr_floor"
                raise UserError(
                    f"ESConfig.{floor_name} = {floor} is above the start of its schedule ({name} = {start}): "
                    f"the schedule decays from {name} towards its floor; set {floor_name} <= {name}"
                )

    @property
    def use_antithetic(self) -> bool:
        return self.strategy != "cma_es" if self.antithetic is None else bool(self.antithetic)


def decay_schedule(start: float, decay: float, floor: float) -> optax.Schedule:
    """``g -> max(start * decay**g, floor)`` (``g``: generations done); constant ``start`` when ``decay == 1``."""
    if decay < 1.0:
        return optax.exponential_decay(start, 1, decay, end_value=floor)
    return optax.constant_schedule(start)


def sigma_schedule(cfg: ESConfig) -> optax.Schedule:
    """Open_ES noise std per generation: ``max(sigma * sigma_decay**g, sigma_min)``."""
    return decay_schedule(cfg.sigma, cfg.sigma_decay, cfg.sigma_min)


def lr_schedule(cfg: ESConfig) -> optax.Schedule:
    """Open_ES Adam learning rate per generation: ``max(lr * lr_decay**g, lr_floor)``."""
    return decay_schedule(cfg.lr, cfg.lr_decay, cfg.lr_floor)


def make_strategy(cfg: ESConfig, template: Any) -> tuple[Any, Any]:
    """``(evosax strategy, its params)`` for ``cfg`` over solutions shaped like ``template``."""
    if cfg.strategy == "open_es":
        lr = lr_schedule(cfg)
        if cfg.weight_decay:
            opt = optax.adamw(lr, b1=cfg.adam_b1, weight_decay=cfg.weight_decay)
        else:
            opt = optax.adam(lr, b1=cfg.adam_b1)
        cls = PairedOpen_ES if cfg.use_antithetic else Open_ES
        es = cls(
            cfg.popsize,
            template,
            use_antithetic_sampling=cfg.use_antithetic,
            optimizer=opt,
            std_schedule=sigma_schedule(cfg),
            fitness_shaping_fn=identity_fitness_shaping_fn,  # shaped by the driver
        )
        return es, es.default_params
    if cfg.strategy == "snes":
        cls = MirroredSNES if cfg.use_antithetic else SNES
        es = cls(cfg.popsize, template, optimizer=optax.sgd(cfg.snes_lr))
    else:
        cls = MirroredCMA_ES if cfg.use_antithetic else CMA_ES
        es = cls(cfg.popsize, template)
    return es, es.default_params.replace(std_init=jnp.asarray(cfg.sigma, jnp.float32))


# --------------------------------------------------------------------------- generic driver
def layer_segments(template: Any) -> tuple[tuple[str, ...], np.ndarray]:
    """``(layer names, [D] layer index of every coordinate of ravel_pytree(template))``; a layer is a leaf."""
    leaves = jax.tree_util.tree_flatten_with_path(template)[0]
    names = tuple(jax.tree_util.keystr(path, simple=True, separator="/") or "params" for path, _ in leaves)
    sizes = [int(np.size(x)) for _, x in leaves]
    return names, np.repeat(np.arange(len(names)), sizes).astype(np.int32)


def _cosine(a: jax.Array, b: jax.Array) -> jax.Array:
    """Cosine of two vectors; 0 when either is zero (the first generation has no predecessor)."""
    na, nb = jnp.linalg.norm(a), jnp.linalg.norm(b)
    ok = (na > 0) & (nb > 0)
    return jnp.where(ok, jnp.dot(a, b) / jnp.where(ok, na * nb, 1.0), 0.0)


def _strong_types(tree: Any) -> Any:
    """Drop weak types (evosax initialises some leaves from Python scalars) so the state a generation
    returns has exactly the input's types: a chunked loop then compiles once, not twice."""
    return jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.asarray(x).dtype), tree)


@struct.dataclass
class ESState:
    """Everything the ES carries between generations (a checkpoint saves exactly this)."""

    es_state: Any  # evosax state (mean [D], std, optimiser state, ...)
    key: jax.Array  # PRNG key of the next generation
    generation: jax.Array  # [] int32, generations done
    best_fitness: jax.Array  # [] best raw fitness seen (maximisation), -inf at start
    best_params: jax.Array  # [D] flat parameters of that member
    start_mean: jax.Array  # [D] flat mean at init (displacement diagnostics)
    prev_grad: jax.Array  # [D] last generation's ES gradient estimate (0 before the first)


class EvolutionStrategy:
    """ES loop around ``fitness_fn(population [P, ...], keys [P, S]) -> (fitness [P], aux {name: [P]})``.

    Methods are pure; ``jax.jit(lambda s: es.run(s, n))`` compiles ``n`` generations.
    """

    def __init__(
        self,
        cfg: ESConfig,
        template: Any,
        fitness_fn: FitnessFn,
        on_generation: Callable[[dict[str, np.ndarray]], None] | None = None,
    ):
        self.cfg = cfg
        self.template = template
        self.fitness_fn = fitness_fn
        self.on_generation = on_generation
        self.strategy, self.params = make_strategy(cfg, template)
        flat, self._unravel = ravel_pytree(template)
        self.num_dims = int(flat.size)
        self.layer_names, segments = layer_segments(template)
        self._segments = jnp.asarray(segments)  # [D] layer index of every flat coordinate
        self._layer_sizes = jnp.asarray(np.bincount(segments, minlength=len(self.layer_names)), jnp.float32)

    # ------------------------------------------------------------------ state
    def init(self, key: jax.Array, mean: Any = None) -> ESState:
        """Initial state with the search distribution centred on ``mean`` (default: ``template``)."""
        mean = self.template if mean is None else mean
        k_init, k_run = jax.random.split(key)
        es_state = _strong_types(self.strategy.init(k_init, mean, self.params))
        return ESState(
            es_state=es_state,
            key=k_run,
            generation=jnp.int32(0),
            best_fitness=jnp.float32(-jnp.inf),
            best_params=ravel_pytree(mean)[0].astype(jnp.float32),
            start_mean=jnp.asarray(es_state.mean, jnp.float32),
            prev_grad=jnp.zeros(self.num_dims, jnp.float32),
        )

    def mean(self, state: ESState) -> Any:
        """The search distribution's mean as a parameter pytree."""
        return self._unravel(state.es_state.mean)

    def best(self, state: ESState) -> Any:
        """The best member evaluated so far as a parameter pytree."""
        return self._unravel(state.best_params)

    def sigma(self, state: ESState) -> jax.Array:
        """Mean standard deviation of the search distribution (scalar)."""
        return jnp.mean(jnp.asarray(state.es_state.std, jnp.float32))

    # ------------------------------------------------------------------ one generation
    def member_keys(self, key: jax.Array) -> jax.Array:
        """Evaluation keys ``[P, S]``: with common random numbers every member gets the same ``S`` keys;
        otherwise with antithetic sampling member ``j`` and ``j + P/2`` get the same keys."""
        p, s = self.cfg.popsize, self.cfg.num_seeds
        if self.cfg.common_random_numbers:  # None counts as off
            return jnp.broadcast_to(jax.random.split(key, s)[None], (p, s))
        if self.cfg.use_antithetic:
            half = jax.random.split(key, (p // 2) * s).reshape(p // 2, s)
            return jnp.concatenate([half, half])
        return jax.random.split(key, p * s).reshape(p, s)

    def ask(self, state: ESState) -> tuple[Any, jax.Array, ESState, jax.Array]:
        """``(population [P, ...], keys [P, S], state after ask, key for tell)``."""
        k_ask, k_eval, k_tell, k_next = jax.random.split(state.key, 4)
        pop, es_state = self.strategy.ask(k_ask, state.es_state, self.params)
        return pop, self.member_keys(k_eval), state.replace(es_state=es_state, key=k_next), k_tell

    def step(self, state: ESState) -> tuple[ESState, dict[str, jax.Array]]:
        """One generation: ask, evaluate (maximise), shape, tell. Metrics are scalars."""
        pop, keys, state, k_tell = self.ask(state)
        fitness, aux = self.fitness_fn(pop, keys)
        fitness = jnp.asarray(fitness, jnp.float32)
        utility = shape_fitness(fitness, self.cfg.shaping)
        flat_pop = jax.vmap(lambda x: ravel_pytree(x)[0])(pop).astype(jnp.float32)  # [P, D]
        grad = self.gradient_estimate(flat_pop, utility, state)
        step_scale = self.step_scale(state)
        es_state, _ = self.strategy.tell(k_tell, pop, -utility, state.es_state, self.params)
        es_state = jax.tree.map(lambda new, old: jnp.asarray(new, dtype=old.dtype), es_state, state.es_state)

        clean = jnp.where(jnp.isfinite(fitness), fitness, -jnp.inf)
        i = jnp.argmax(clean)
        better = clean[i] > state.best_fitness
        cosine = _cosine(grad, state.prev_grad)
        state = state.replace(
            es_state=es_state,
            generation=state.generation + 1,
            best_fitness=jnp.where(better, clean[i], state.best_fitness),
            best_params=jnp.where(better, flat_pop[i], state.best_params),
            prev_grad=grad,
        )
        metrics = {
            "generation": state.generation,
            "fitness_best": jnp.max(clean),
            "fitness_mean": jnp.nanmean(fitness),
            "fitness_min": jnp.min(jnp.where(jnp.isfinite(fitness), fitness, jnp.inf)),
            "fitness_nan": jnp.sum(~jnp.isfinite(fitness)).astype(jnp.int32),
            "best_so_far": state.best_fitness,
            "sigma": self.sigma(state),
            "mean_norm": jnp.linalg.norm(state.es_state.mean),
            "step_scale": step_scale,
            "grad_cosine": cosine,
            **self.displacement(state),
            **{k: jnp.nanmean(v) for k, v in aux.items()},
        }
        if self.on_generation is not None:
            jax.debug.callback(self.on_generation, metrics)
        return state, metrics

    # ------------------------------------------------------------------ diagnostics (jaxrl.meta.es_diagnostics)
    def gradient_estimate(self, flat_pop: jax.Array, utility: jax.Array, state: ESState) -> jax.Array:
        """The generation's ES gradient estimate ``[D]``: ``sum_j (u_j - mean u) eps_j / P`` with
        ``eps_j = (x_j - mean) / std`` (up to a positive scale, the search gradient every strategy follows)."""
        eps = (flat_pop - state.es_state.mean) / jnp.asarray(state.es_state.std, jnp.float32)
        u = jnp.asarray(utility, jnp.float32)
        return (u - u.mean()) @ eps / self.cfg.popsize

    def step_scale(self, state: ESState) -> jax.Array:
        """Per-coordinate size of one mean step: Adam's learning rate of this generation (Open_ES), sigma otherwise."""
        if self.cfg.strategy == "open_es":
            return jnp.asarray(lr_schedule(self.cfg)(state.generation), jnp.float32)
        return self.sigma(state)

    def displacement(self, state: ESState) -> dict[str, jax.Array]:
        """``{"displacement/<layer>": rms over the layer's coordinates of (mean - start mean)}``."""
        d2 = (jnp.asarray(state.es_state.mean, jnp.float32) - state.start_mean) ** 2
        rms = jnp.sqrt(jax.ops.segment_sum(d2, self._segments, len(self.layer_names)) / self._layer_sizes)
        return {f"displacement/{n}": rms[k] for k, n in enumerate(self.layer_names)}

    def run(self, state: ESState, num_generations: int) -> tuple[ESState, dict[str, jax.Array]]:
        """``num_generations`` (static) generations with ``lax.scan``; metrics are ``[num_generations]``."""
        if isinstance(num_generations, bool) or not isinstance(num_generations, int) or num_generations < 1:
            raise ValueError(f"num_generations must be a positive int (static), got {num_generations!r}")
        return jax.lax.scan(lambda s, _: self.step(s), state, None, length=num_generations)


# --------------------------------------------------------------------------- meta-training of objectives
def inner_configs(env_ids: tuple[str, ...] | list[str], **overrides: Any) -> tuple[ppo.Config, ...]:
    """One ``ppo.Config`` per training environment with the same ``overrides``."""
    return tuple(ppo.Config(env_id=e, **overrides) for e in env_ids)


@dataclass(frozen=True)
class MetaConfig:
    """Meta-training of a learned PPO objective by evolution.

    ``inner``: one PPO config per training environment (all trained by every member,
    with ``es.num_seeds`` seeds each). Fitness of a run: the mean return of
    ``eval_episodes`` fresh deterministic episodes of the final agent (``"eval"``, the
    default, as the LPO authors do) or the mean training episode return over its last
    ``fitness_window`` updates (``"train"``, default window: last 10% of updates);
    normalised as ``(R - low) / (high - low)`` where
    ``normalise[env_id] = (low, high)`` is given; averaged over seeds and environments.
    ``member_batch``: how many inner runs (members x seeds) train at once (``None``:
    all ``P * S``); smaller values bound memory (``lax.map`` over chunks).
    The ES evaluates every member of a generation on the same seeds unless
    ``es.common_random_numbers`` is ``False`` (``None`` becomes ``True`` here, as both LPO
    code bases do).

    ``init_scale``: the search starts at ``init_scale`` x LeCun-normal drift-net weights
    (default 0.1: the net adds ~1% of its features to PPO's drift, i.e. essentially PPO).
    Exactly zero would be a trap: the bias-free tanh net satisfies ``net(-theta) = net(theta)``
    and has zero parameter gradient at ``theta = 0``, so every antithetic pair around 0 is one
    and the same objective, all pairs tie and the ES gradient is exactly 0 (evosax's own
    Open_ES only leaves 0 through rounding noise that Adam amplifies).
    """

    objective: str = "lpo"
    inner: tuple[ppo.Config, ...] = (ppo.Config(env_id="CartPole-v1", total_timesteps=65_536),)
    es: ESConfig = ESConfig()  # common_random_numbers=None becomes True here
    generations: int = 100
    hidden: int = 128
    init_scale: float = 0.1  # mean starts at init_scale * LeCun-normal draws (0: exactly PPO; see above)
    fitness: str = "eval"
    fitness_window: int | None = None
    eval_episodes: int = 8
    normalise: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    member_batch: int | None = None

    def __post_init__(self):
        if isinstance(self.inner, ppo.Config):
            object.__setattr__(self, "inner", (self.inner,))
        object.__setattr__(self, "inner", tuple(self.inner))
        if isinstance(self.es, ESConfig) and self.es.common_random_numbers is None:
            object.__setattr__(self, "es", self.es.replace(common_random_numbers=True))
        object.__setattr__(self, "normalise", {k: (float(a), float(b)) for k, (a, b) in dict(self.normalise).items()})
        if self.objective not in ("lpo", "ta_lpo"):
            raise ValueError(f"MetaConfig.objective must be 'lpo' or 'ta_lpo', got {self.objective!r}")
        if not self.inner or not all(isinstance(c, ppo.Config) for c in self.inner):
            raise ValueError("MetaConfig.inner must be one or more ppo.Config")
        if self.fitness not in FITNESS_METRICS:
            raise ValueError(f"MetaConfig.fitness must be one of {FITNESS_METRICS}, got {self.fitness!r}")
        if isinstance(self.generations, bool) or not isinstance(self.generations, int) or self.generations < 1:
            raise ValueError(f"MetaConfig.generations must be a positive int, got {self.generations!r}")
        if not (isinstance(self.init_scale, (int, float)) and np.isfinite(self.init_scale) and self.init_scale >= 0):
            raise ValueError(f"MetaConfig.init_scale must be a finite number >= 0, got {self.init_scale!r}")
        if self.eval_episodes < 1:
            raise ValueError(f"MetaConfig.eval_episodes must be >= 1, got {self.eval_episodes}")
        if self.member_batch is not None and self.member_batch < 1:
            raise ValueError(f"MetaConfig.member_batch must be >= 1 or None, got {self.member_batch}")
        if self.fitness_window is not None and self.fitness_window < 1:
            raise ValueError(f"MetaConfig.fitness_window must be >= 1 or None, got {self.fitness_window}")
        for env_id, (lo, hi) in self.normalise.items():
            if not hi > lo:
                raise ValueError(f"MetaConfig.normalise[{env_id!r}] = ({lo}, {hi}) needs high > low")

    @property
    def env_ids(self) -> tuple[str, ...]:
        return tuple(c.env_id for c in self.inner)

    @property
    def inner_steps(self) -> int:
        """Environment steps of one generation: members x seeds x sum over environments of steps per run."""
        runs = self.es.popsize * self.es.num_seeds
        return runs * sum(c.num_updates * c.batch_size for c in self.inner)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["inner"] = [dataclasses.asdict(c) for c in self.inner]
        d["normalise"] = {k: list(v) for k, v in self.normalise.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MetaConfig:
        d = dict(d)
        d["inner"] = tuple(ppo.Config(**c) for c in d["inner"])
        d["es"] = ESConfig(**d["es"])
        d["normalise"] = {k: tuple(v) for k, v in d.get("normalise", {}).items()}
        return cls(**d)


class MetaTrainer:
    """Evolves the parameters of ``cfg.objective`` (LPO or TA-LPO) against PPO training runs.

    ``trainer.es`` is the :class:`EvolutionStrategy`; ``trainer.objectives[e]`` the
    objective used on training environment ``e`` (TA-LPO instances differ by ``N``).
    """

    def __init__(self, cfg: MetaConfig, on_generation: Callable[[dict], None] | None = None):
        self.cfg = cfg
        self.objectives: tuple[MirrorObjective, ...] = tuple(
            make_objective(cfg.objective, c.num_updates, hidden=cfg.hidden) for c in cfg.inner
        )
        self.agents = tuple(ppo.PPO(c, o) for c, o in zip(cfg.inner, self.objectives, strict=True))
        self.trains = tuple(a.make_train() for a in self.agents)
        template = self.objectives[0].init_params()
        self.es = EvolutionStrategy(cfg.es, template, self.fitness, on_generation)

    @property
    def objective(self) -> MirrorObjective:
        return self.objectives[0]

    def initial_mean(self, key: jax.Array) -> Any:
        """Zero parameters (PPO) or ``init_scale`` random ones."""
        return self.objective.init_params(key, self.cfg.init_scale)

    def init(self, key: jax.Array) -> ESState:
        k_mean, k_es = jax.random.split(key)
        return self.es.init(k_es, self.initial_mean(k_mean))

    def window(self, cfg: ppo.Config) -> int:
        return self.cfg.fitness_window or max(1, cfg.num_updates // 10)

    def run_return(self, env_index: int, key: jax.Array, params: Any) -> jax.Array:
        """Final return (scalar) of one PPO run on environment ``env_index`` with objective ``params``."""
        cfg, train = self.cfg.inner[env_index], self.trains[env_index]
        k_train, k_eval = jax.random.split(key)
        state, metrics = train(k_train, None, params)
        if self.cfg.fitness == "eval":
            return jnp.nanmean(self.agents[env_index].evaluate(k_eval, state, self.cfg.eval_episodes))
        return jnp.nanmean(metrics["episode_return"][-self.window(cfg) :])

    def returns(self, pop: Any, keys: jax.Array) -> jax.Array:
        """Final returns ``[E, P, S]`` of every environment x member x seed.

        Members and seeds are flattened into ``P * S`` runs trained under ``vmap``, in
        chunks of ``member_batch`` runs (``lax.map``) when set.
        """
        p, s = keys.shape
        flat_keys = keys.reshape(p * s)
        flat_pop = jax.tree.map(lambda x: jnp.repeat(x, s, axis=0), pop)  # member j -> runs j*S .. j*S+S-1
        out = []
        for e in range(len(self.cfg.inner)):
            fn = lambda args, e=e: self.run_return(e, *args)
            if self.cfg.member_batch is None or self.cfg.member_batch >= p * s:
                r = jax.vmap(fn)((flat_keys, flat_pop))
            else:
                r = jax.lax.map(fn, (flat_keys, flat_pop), batch_size=self.cfg.member_batch)
            out.append(r.reshape(p, s))
        return jnp.stack(out)

    def normalised(self, returns: jax.Array) -> jax.Array:
        """``[E, ...]`` returns -> normalised scores (unchanged where no range is given)."""
        lo = jnp.array([self.cfg.normalise.get(e, (0.0, 1.0))[0] for e in self.cfg.env_ids], jnp.float32)
        hi = jnp.array([self.cfg.normalise.get(e, (0.0, 1.0))[1] for e in self.cfg.env_ids], jnp.float32)
        shape = (-1,) + (1,) * (returns.ndim - 1)
        return (returns - lo.reshape(shape)) / (hi - lo).reshape(shape)

    def fitness(self, pop: Any, keys: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Fitness ``[P]`` = normalised final return averaged over seeds and environments."""
        r = self.returns(pop, keys)  # [E, P, S]
        fitness = jnp.nanmean(self.normalised(r), axis=(0, 2))
        aux = {f"return/{env}": jnp.nanmean(r[e], axis=1) for e, env in enumerate(self.cfg.env_ids)}
        return fitness, aux

    def run(self, state: ESState, num_generations: int) -> tuple[ESState, dict[str, jax.Array]]:
        return self.es.run(state, num_generations)

    def save_objective(self, path: str, params: Any, metadata: dict[str, Any] | None = None) -> str:
        from jaxrl.meta.objectives import save_objective

        meta = {"meta_config": self.cfg.to_dict(), **dict(metadata or {})}
        return save_objective(path, self.objective, params, meta)


def make_meta_train(
    cfg: MetaConfig, trainer: MetaTrainer | None = None
) -> Callable[[jax.Array], tuple[ESState, dict[str, jax.Array]]]:
    """``meta_train(key) -> (ESState, metrics)``: all ``cfg.generations`` generations in one program.

    ``metrics`` are ``[generations]`` arrays (``fitness_best``, ``fitness_mean``,
    ``sigma``, ``best_so_far``, ``return/<env>``, ...). A plain function: pass your own
    ``trainer = MetaTrainer(cfg)`` when you need it afterwards (``trainer.es.mean(state)``
    are the discovered parameters).
    """
    trainer = MetaTrainer(cfg) if trainer is None else trainer

    def meta_train(key: jax.Array) -> tuple[ESState, dict[str, jax.Array]]:
        return trainer.run(trainer.init(key), cfg.generations)

    return meta_train


def chunk_sizes(total: int, chunk: int) -> list[int]:
    """Split ``total`` generations into chunks of ``chunk`` (the last may be shorter)."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    return [chunk] * (total // chunk) + ([total % chunk] if total % chunk else [])


def default_chunk(total: int, target: int = 10) -> int:
    """About ``target`` chunks of equal size (one compile) when a divisor allows it."""
    divisors = [d for d in range(1, total + 1) if total % d == 0]
    return min(divisors, key=lambda d: (abs(total // d - target), d)) if total > 1 else 1


__all__ = [
    "FITNESS_METRICS",
    "SHAPINGS",
    "STRATEGIES",
    "ESConfig",
    "ESState",
    "EvolutionStrategy",
    "MetaConfig",
    "MetaTrainer",
    "MirroredCMA_ES",
    "MirroredSNES",
    "PairedOpen_ES",
    "chunk_sizes",
    "decay_schedule",
    "default_chunk",
    "inner_configs",
    "layer_segments",
    "lr_schedule",
    "make_meta_train",
    "make_strategy",
    "shape_fitness",
    "sigma_schedule",
]
