"""PPO configuration: static :class:`Config` and traced :class:`HParams`.

``Config`` fixes everything that shapes the compiled program (counts, sizes,
switches); ``HParams`` holds the numbers that may be traced, so
``jax.vmap(train)(keys, hparams)`` sweeps learning rates, coefficients,
``gamma``, ``lambda`` and the clip range inside one program.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.config import ConfigBase, OnPolicySizes, check_batches


@struct.dataclass
class HParams:
    """Traced hyperparameters (each a scalar array, or ``[S]`` under ``vmap``)."""

    lr: jax.Array
    gamma: jax.Array
    gae_lambda: jax.Array
    clip_eps: jax.Array
    ent_coef: jax.Array
    vf_coef: jax.Array
    max_grad_norm: jax.Array
    objective_params: Any = None  # parameters of a learned policy objective (meta-learning); None for PPO-clip


HPARAM_NAMES = tuple(f.name for f in dataclasses.fields(HParams) if f.name != "objective_params")


@dataclass(frozen=True)
class Config(ConfigBase, OnPolicySizes):
    """PPO settings (PureJaxRL names in lower case; defaults are PureJaxRL's CartPole ones)."""

    _name = "ppo.Config"
    _tuple_fields = ("actor_hidden", "critic_hidden")

    env_id: str = "CartPole-v1"
    env_params: Mapping[str, Any] = field(default_factory=dict)  # overrides of the env's default params
    total_timesteps: int = 500_000
    num_envs: int = 4
    num_steps: int = 128
    update_epochs: int = 4
    num_minibatches: int = 4
    # traced (defaults for HParams)
    lr: float = 2.5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    # static switches and sizes
    anneal_lr: bool = True
    activation: str = "tanh"
    actor_hidden: tuple[int, ...] = (64, 64)
    critic_hidden: tuple[int, ...] = (64, 64)
    normalize_obs: bool = False
    normalize_reward: bool = False
    normalize_advantages: bool = True
    clip_value_loss: bool = True
    obs_clip: float = 10.0
    adam_eps: float = 1e-5
    init_log_std: float = 0.0  # Gaussian policies
    reset_mode: str | None = None  # VecEnv reset mode (None: its default)

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        self.check_ints("total_timesteps", "num_envs", "num_steps", "update_epochs", "num_minibatches")
        check_batches(self)
        if any(h <= 0 for h in (*self.actor_hidden, *self.critic_hidden)):
            raise ValueError(f"ppo.Config: hidden sizes must be positive, got {self.actor_hidden} {self.critic_hidden}")
        check_hparams(self.lr, self.gamma, self.gae_lambda, self.clip_eps, self.ent_coef, self.vf_coef,
                      self.max_grad_norm)
        if not self.obs_clip > 0 or not self.adam_eps > 0:
            raise ValueError(f"ppo.Config: obs_clip and adam_eps must be > 0, got {self.obs_clip}, {self.adam_eps}")
        self.check_common()


def check_hparams(lr, gamma, gae_lambda, clip_eps, ent_coef, vf_coef, max_grad_norm) -> None:
    """Range checks on concrete hyperparameter values (scalars or arrays); tracers are skipped."""
    checks = {
        "lr": (lr, lambda x: x > 0, "> 0"),
        "gamma": (gamma, lambda x: (x >= 0) & (x <= 1), "in [0, 1]"),
        "gae_lambda": (gae_lambda, lambda x: (x >= 0) & (x <= 1), "in [0, 1]"),
        "clip_eps": (clip_eps, lambda x: x > 0, "> 0"),
        "ent_coef": (ent_coef, lambda x: x >= 0, ">= 0"),
        "vf_coef": (vf_coef, lambda x: x >= 0, ">= 0"),
        "max_grad_norm": (max_grad_norm, lambda x: x > 0, "> 0"),
    }
    for name, (value, ok, what) in checks.items():
        if isinstance(value, jax.core.Tracer):
            continue
        arr = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(arr)) or not np.all(ok(arr)):
            raise ValueError(f"ppo hyperparameter {name} must be {what} (and finite), got {value!r}")


def default_hparams(cfg: Config) -> HParams:
    """Scalar ``HParams`` from the config's values."""
    f = lambda x: jnp.asarray(x, jnp.float32)
    return HParams(
        lr=f(cfg.lr),
        gamma=f(cfg.gamma),
        gae_lambda=f(cfg.gae_lambda),
        clip_eps=f(cfg.clip_eps),
        ent_coef=f(cfg.ent_coef),
        vf_coef=f(cfg.vf_coef),
        max_grad_norm=f(cfg.max_grad_norm),
    )


def as_hparams(cfg: Config, hparams: HParams | Mapping[str, Any] | None) -> HParams:
    """Accept ``None`` (config defaults), an ``HParams`` or a dict of overrides; cast to float32 and range-check."""
    base = default_hparams(cfg)
    if hparams is None:
        return base
    if isinstance(hparams, Mapping):
        unknown = set(hparams) - {*HPARAM_NAMES, "objective_params"}
        if unknown:
            raise ValueError(f"unknown ppo hyperparameter(s) {sorted(unknown)}; valid: {', '.join(HPARAM_NAMES)}")
        hparams = base.replace(**hparams)
    if not isinstance(hparams, HParams):
        raise TypeError(f"hparams must be ppo.HParams, a dict or None, got {type(hparams).__name__}")
    vals = {n: jnp.asarray(getattr(hparams, n), jnp.float32) for n in HPARAM_NAMES}
    check_hparams(*(getattr(hparams, n) for n in HPARAM_NAMES))
    return hparams.replace(**vals)
