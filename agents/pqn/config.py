"""PQN configuration: static :class:`Config` and traced :class:`HParams`.

``Config`` fixes everything that shapes the compiled program (counts, sizes,
switches); ``HParams`` holds the numbers that may be traced, so
``jax.vmap(train)(keys, hparams)`` sweeps learning rates, ``gamma``,
``td_lambda``, gradient clipping and the exploration schedule in one program.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
from flax import struct

from jaxrl.config import COMMON_CHECKS, ConfigBase, OnPolicySizes, check_batches, resolve_hparams
from jaxrl.exploration import EPSILON_CHECKS


@struct.dataclass
class HParams:
    """Traced PQN hyperparameters (each a scalar array, or ``[S]`` under ``vmap``)."""

    lr: jax.Array
    gamma: jax.Array
    td_lambda: jax.Array  # lambda of the Q(lambda) returns
    max_grad_norm: jax.Array
    eps_start: jax.Array
    eps_end: jax.Array
    exploration_fraction: jax.Array  # fraction of the updates over which epsilon decays linearly


HPARAM_NAMES = tuple(f.name for f in dataclasses.fields(HParams))

CHECKS = {
    **COMMON_CHECKS,
    "td_lambda": (lambda x: (x >= 0) & (x <= 1), "in [0, 1]"),
    **EPSILON_CHECKS,
}


@dataclass(frozen=True)
class Config(ConfigBase, OnPolicySizes):
    """PQN settings; defaults are rejax's CartPole ones (2**19 steps, 16 envs x 128 steps)."""

    _name = "pqn.Config"
    _tuple_fields = ("hidden",)

    env_id: str = "CartPole-v1"
    env_params: Mapping[str, Any] = field(default_factory=dict)  # overrides of the env's default params
    total_timesteps: int = 524_288
    num_envs: int = 16
    num_steps: int = 128
    update_epochs: int = 5
    num_minibatches: int = 16
    # traced (defaults for HParams)
    lr: float = 3e-4
    gamma: float = 0.99
    td_lambda: float = 0.9
    max_grad_norm: float = 10.0
    eps_start: float = 1.0
    eps_end: float = 0.05
    exploration_fraction: float = 0.5
    # static switches and sizes
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    layer_norm: bool = True  # LayerNorm after every hidden Dense layer (PQN's stabiliser; off only for ablations)
    anneal_lr: bool = False  # linear decay of lr to 0 over the run
    reset_mode: str | None = None  # VecEnv reset mode (None: its default)

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        self.check_ints("total_timesteps", "num_envs", "num_steps", "update_epochs", "num_minibatches")
        check_batches(self)
        self.check_hidden("hidden")
        self.check_common()
        default_hparams(self)  # range checks of the traced defaults


def as_hparams(cfg: Config, hparams: HParams | Mapping[str, Any] | None = None) -> HParams:
    """``HParams`` from the config's values updated by ``hparams`` (None, ``HParams`` or a dict of overrides).

    Values become float32 arrays; concrete out-of-range values raise ``ValueError`` (traced ones are not checked).
    """
    return resolve_hparams(HParams, cfg, hparams, CHECKS, "pqn")


def default_hparams(cfg: Config) -> HParams:
    """Scalar ``HParams`` from the config's values."""
    return as_hparams(cfg, None)
