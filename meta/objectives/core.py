"""Mirror-learning policy objectives: PPO-clip, DPO, LPO and temporally-aware LPO.

Shapes: ``log_ratio``, ``advantage`` and the returned drift share one shape (``[N]``
in PPO, any shape for plots); ``frac`` (``n/N``) and ``clip_eps`` are scalars.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

DRIFT_OFFSET = 1e-4  # LPO: drift = relu(drift_ppo + net(x) - DRIFT_OFFSET)
LPO_HIDDEN = 128
DPO_ALPHA = 2.0
DPO_BETA = 0.6

Params = dict[str, jax.Array]


# --------------------------------------------------------------------------- pieces
def update_fraction(progress: jax.Array, num_updates: int) -> jax.Array:
    """``n/N`` of the update in progress: ``n = update index + 1`` counts this update, so the first
    update has ``1/N`` and the last exactly ``1``.

    PPO passes ``progress = update_index / N`` (0 at the first update, ``(N-1)/N`` at the
    last); the index is recovered exactly with ``round(progress * N)`` (exact for ``N < 2**24``).
    """
    if num_updates < 1:
        raise ValueError(f"num_updates must be >= 1, got {num_updates}")
    n = jnp.round(jnp.asarray(progress, jnp.float32) * num_updates) + 1.0
    # XLA may turn the division into a multiplication by fl(1/N) (976 * fl(1/976) = 0.99999994): pin the end to 1
    return jnp.where(n >= num_updates, jnp.float32(1.0), n / float(num_updates))


def ppo_drift(ratio: jax.Array, advantage: jax.Array, clip_eps: jax.Array | float = 0.2) -> jax.Array:
    """PPO-clip's drift ``relu((r - clip(r, 1 - eps, 1 + eps)) A)`` (elementwise)."""
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    return jax.nn.relu((ratio - clipped) * advantage)


def dpo_drift(
    log_ratio: jax.Array, advantage: jax.Array, alpha: float = DPO_ALPHA, beta: float = DPO_BETA
) -> jax.Array:
    """DPO's closed-form drift (elementwise).

    ``A >= 0``: ``relu((r - 1) A - alpha tanh((r - 1) A / alpha))``;
    ``A < 0``: ``relu(log(r) A - beta tanh(log(r) A / beta))``.
    """
    ratio = jnp.exp(log_ratio)
    pos = (ratio - 1.0) * advantage
    neg = log_ratio * advantage
    d_pos = jax.nn.relu(pos - alpha * jnp.tanh(pos / alpha))
    d_neg = jax.nn.relu(neg - beta * jnp.tanh(neg / beta))
    return jnp.where(advantage >= 0, d_pos, d_neg)


def lpo_features(log_ratio: jax.Array, advantage: jax.Array) -> jax.Array:
    """The 8 LPO inputs ``[x, A x]`` with ``x = [d, d^2, 1 - r, (1 - r)^2]``; ``[...] -> [..., 8]``.

    Every feature is 0 at ``r = 1`` (``d = 0``).
    """
    d = log_ratio
    one_minus_r = -jnp.expm1(d)  # 1 - r, accurate near r = 1
    x = jnp.stack([d, d * d, one_minus_r, one_minus_r * one_minus_r], axis=-1)
    return jnp.concatenate([x, advantage[..., None] * x], axis=-1)


def drift_net(params: Params, inputs: jax.Array) -> jax.Array:
    """Bias-free ``Dense(H) -> tanh -> Dense(1)``: ``[..., F] -> [...]`` (0 where all inputs are 0)."""
    h = jnp.tanh(inputs @ params["w1"])
    return (h @ params["w2"])[..., 0]


# --------------------------------------------------------------------------- objectives
@dataclass(frozen=True)
class MirrorObjective:
    """Base: ``loss = -mean(r A - drift(r, A, n/N))``; subclasses define :meth:`drift`.

    Instances are hashable frozen dataclasses (usable as static jit arguments) and are
    called by PPO as ``objective(log_ratio, advantage, progress, hparams, objective_params)``;
    learned parameters are PPO's ``RunnerState.objective_params`` (``train(key, hparams, params)``).
    """

    name: ClassVar[str] = "mirror"
    learned: ClassVar[bool] = False  # True when the drift has parameters (objective_params)
    temporal: ClassVar[bool] = False  # True when the drift depends on n/N

    def drift(
        self, params: Any, log_ratio: jax.Array, advantage: jax.Array, frac: jax.Array, clip_eps: Any = 0.2
    ) -> jax.Array:
        """Elementwise drift ``>= 0``, same shape as ``log_ratio``."""
        raise NotImplementedError

    def fraction(self, progress: jax.Array) -> jax.Array:
        """``n/N`` for this objective (see :func:`update_fraction`); 1 when it has no horizon."""
        n = getattr(self, "num_updates", None)
        return jnp.float32(1.0) if n is None else update_fraction(progress, n)

    def init_params(self, key: jax.Array | None = None, scale: float = 0.0) -> Any:
        """Parameter pytree (``None`` for closed-form objectives)."""
        return None

    def __call__(
        self,
        log_ratio: jax.Array,
        advantage: jax.Array,
        progress: jax.Array,
        hparams: Any,
        objective_params: Any = None,
    ) -> jax.Array:
        params = objective_params
        if self.learned and params is None:
            raise ValueError(f"{self.name} needs objective_params: train(key, hparams, objective.init_params()) "
                             f"or agent.init(key, hparams, objective_params)")
        clip_eps = getattr(hparams, "clip_eps", 0.2)
        ratio = jnp.exp(log_ratio)
        d = self.drift(params, log_ratio, advantage, self.fraction(progress), clip_eps)
        return -jnp.mean(ratio * advantage - d)


@dataclass(frozen=True)
class PPOClip(MirrorObjective):
    """PPO-clip in mirror form (``clip_eps`` from ``hparams``); equals ``ppo.clipped_objective``."""

    name: ClassVar[str] = "ppo"

    def drift(self, params, log_ratio, advantage, frac, clip_eps=0.2):
        return ppo_drift(jnp.exp(log_ratio), advantage, clip_eps)


@dataclass(frozen=True)
class DPO(MirrorObjective):
    """Discovered Policy Optimisation (closed form)."""

    alpha: float = DPO_ALPHA
    beta: float = DPO_BETA
    name: ClassVar[str] = "dpo"

    def drift(self, params, log_ratio, advantage, frac, clip_eps=0.2):
        return dpo_drift(log_ratio, advantage, self.alpha, self.beta)


@dataclass(frozen=True)
class LPO(MirrorObjective):
    """Learned Policy Optimisation: ``drift = relu(drift_ppo + net(x) - 1e-4)``.

    ``net`` is bias-free ``Dense(hidden) -> tanh -> Dense(1)`` on the 8 features of
    :func:`lpo_features` (``8 * 128 + 128 = 1,152`` parameters). All features vanish at
    ``r = 1`` and the net has no bias, so there ``drift = relu(-1e-4) = 0`` with zero
    gradient, for any parameters; zero parameters give PPO-clip up to the 1e-4 offset.
    """

    hidden: int = LPO_HIDDEN
    name: ClassVar[str] = "lpo"
    learned: ClassVar[bool] = True

    @property
    def num_inputs(self) -> int:
        return 8

    def inputs(self, log_ratio: jax.Array, advantage: jax.Array, frac: jax.Array) -> jax.Array:
        """Network inputs ``[..., num_inputs]``."""
        return lpo_features(log_ratio, advantage)

    def init_params(self, key: jax.Array | None = None, scale: float = 0.0) -> Params:
        """``{"w1": [F, H], "w2": [H, 1]}``: zeros ("PPO init") or, with ``key`` and ``scale``,
        ``scale`` times LeCun-normal draws."""
        shapes = {"w1": (self.num_inputs, self.hidden), "w2": (self.hidden, 1)}
        if key is None or scale == 0.0:
            return {k: jnp.zeros(s, jnp.float32) for k, s in shapes.items()}
        k1, k2 = jax.random.split(key)
        return {
            k: scale * jax.random.normal(kk, s, jnp.float32) / jnp.sqrt(s[0])
            for (k, s), kk in zip(shapes.items(), (k1, k2), strict=True)
        }

    def drift(self, params, log_ratio, advantage, frac, clip_eps=0.2):
        base = ppo_drift(jnp.exp(log_ratio), advantage, clip_eps)
        learned = drift_net(params, self.inputs(log_ratio, advantage, frac))
        return jax.nn.relu(base + learned - DRIFT_OFFSET)


@dataclass(frozen=True)
class TALPO(LPO):
    """Temporally-aware LPO: inputs ``[x, (n/N) x]`` (16), ``n/N`` from :func:`update_fraction`.

    ``num_updates`` is ``N``, the total updates of the inner run (``ppo.Config.num_updates``);
    build one instance per training horizon (the parameters are shared).
    """

    num_updates: int = 1
    name: ClassVar[str] = "ta_lpo"
    temporal: ClassVar[bool] = True

    def __post_init__(self):
        if isinstance(self.num_updates, bool) or not isinstance(self.num_updates, int) or self.num_updates < 1:
            raise ValueError(
                f"TALPO.num_updates must be a positive int (the run's total updates), got {self.num_updates!r}"
            )

    @property
    def num_inputs(self) -> int:
        return 16

    def inputs(self, log_ratio, advantage, frac):
        x = lpo_features(log_ratio, advantage)
        return jnp.concatenate([x, jnp.asarray(frac, x.dtype) * x], axis=-1)


OBJECTIVES: dict[str, type[MirrorObjective]] = {"ppo": PPOClip, "dpo": DPO, "lpo": LPO, "ta_lpo": TALPO}


def make_objective(name: str, num_updates: int | None = None, **kwargs: Any) -> MirrorObjective:
    """Objective by name (``ppo``, ``dpo``, ``lpo``, ``ta_lpo``); ``num_updates`` is needed by ``ta_lpo``."""
    key = name.lower().replace("-", "_")
    if key not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; valid: {', '.join(OBJECTIVES)}")
    cls = OBJECTIVES[key]
    if cls.temporal:
        if num_updates is None:
            raise ValueError(f"objective {key!r} needs num_updates (the inner run's total updates N)")
        kwargs["num_updates"] = int(num_updates)
    return cls(**kwargs)


# --------------------------------------------------------------------------- artefacts
def save_objective(
    path: str | os.PathLike, objective: MirrorObjective, params: Any, metadata: dict[str, Any] | None = None
) -> str:
    """Save learned ``params`` with what is needed to rebuild ``objective`` (a ``jaxrl.checkpoint``)."""
    from jaxrl import checkpoint

    meta = {"objective": objective.name, **dict(metadata or {})}
    if isinstance(objective, LPO):
        meta["hidden"] = objective.hidden
        meta["num_inputs"] = objective.num_inputs
    if isinstance(objective, TALPO):
        meta["train_num_updates"] = objective.num_updates
    return checkpoint.save(path, params, meta)


def load_objective(path: str | os.PathLike, num_updates: int | None = None) -> tuple[MirrorObjective, Any, dict]:
    """``(objective, params, metadata)`` from :func:`save_objective`.

    For TA-LPO ``num_updates`` sets the horizon ``N`` of the run it will train
    (default: the meta-training horizon stored in the metadata).
    """
    from jaxrl import checkpoint

    meta = checkpoint.read_metadata(path)
    name = meta.get("objective")
    if name not in OBJECTIVES:
        raise ValueError(f"{path}: metadata names objective {name!r}, expected one of {', '.join(OBJECTIVES)}")
    kwargs: dict[str, Any] = {}
    if name in ("lpo", "ta_lpo"):
        kwargs["hidden"] = int(meta["hidden"])
    n = num_updates if num_updates is not None else meta.get("train_num_updates")
    objective = make_objective(name, n, **kwargs)
    like = objective.init_params()
    params, meta = checkpoint.restore(path, like)
    return objective, params, meta
