"""PQN configuration: one :class:`Config` whose fields say static or traced; :class:`HParams` derived from it.

Static fields fix everything that shapes the compiled program (counts, sizes,
switches); traced fields are the defaults of :class:`HParams`, which
``jax.vmap(train)(keys, hparams)`` sweeps in one program (learning rate,
``gamma``, ``td_lambda``, gradient clipping, the exploration schedule).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jaxrl.config import (
    GAMMA,
    GRAD_NORM,
    LR,
    RATE,
    UNIT,
    ConfigBase,
    OnPolicySizes,
    activations,
    check_batches,
    hparams_class,
    layer_sizes,
    positive,
    reset_modes,
    resolve_hparams,
    static,
    traced,
)


@dataclass(frozen=True)
class Config(ConfigBase, OnPolicySizes):
    """PQN settings; defaults are rejax's CartPole ones (2**19 steps, 16 envs x 128 steps)."""

    _name = "pqn.Config"

    env_id: str = "CartPole-v1"
    env_params: Mapping[str, Any] = static(factory=dict)  # overrides of the env's default params
    total_timesteps: int = static(524_288, positive)
    num_envs: int = static(16, positive)
    num_steps: int = static(128, positive)
    update_epochs: int = static(5, positive)
    num_minibatches: int = static(16, positive)
    lr: float = traced(3e-4, LR)
    gamma: float = traced(0.99, GAMMA)
    td_lambda: float = traced(0.9, UNIT)  # lambda of the Q(lambda) returns
    max_grad_norm: float = traced(10.0, GRAD_NORM)
    eps_start: float = traced(1.0, UNIT)
    eps_end: float = traced(0.05, UNIT)
    exploration_fraction: float = traced(0.5, RATE)  # fraction of the updates over which epsilon decays linearly
    hidden: tuple[int, ...] = static((64, 64), layer_sizes)
    activation: str = static("relu", activations())
    layer_norm: bool = True  # LayerNorm after every hidden Dense layer (PQN's stabiliser; off only for ablations)
    anneal_lr: bool = False  # linear decay of lr to 0 over the run
    reset_mode: str | None = static(None, reset_modes)  # VecEnv reset mode (None: its default)

    def validate(self) -> None:
        check_batches(self)
        self.check_common()


HParams = hparams_class(Config)
"""Traced PQN hyperparameters: lr, gamma, td_lambda, max_grad_norm, eps_start, eps_end, exploration_fraction."""


def as_hparams(cfg: Config, hparams: HParams | Mapping[str, Any] | None = None) -> HParams:
    """``HParams`` from the config's values updated by ``hparams`` (None, ``HParams`` or a dict of overrides)."""
    return resolve_hparams(cfg, hparams)


def default_hparams(cfg: Config) -> HParams:
    """Scalar ``HParams`` from the config's values."""
    return resolve_hparams(cfg, None)
