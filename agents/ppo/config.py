"""PPO configuration: one :class:`Config` whose fields say static or traced; :class:`HParams` derived from it.

Static fields fix everything that shapes the compiled program (counts, sizes,
switches); traced fields are the defaults of :class:`HParams`, the numbers
``jax.vmap(train)(keys, hparams)`` sweeps inside one program (learning rate,
coefficients, ``gamma``, ``lambda``, the clip range). See :mod:`jaxrl.config`
for the type and range checks, and for what happens to out-of-range traced values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jaxrl.config import (
    GAMMA,
    GRAD_NORM,
    LR,
    ConfigBase,
    OnPolicySizes,
    activations,
    check_batches,
    ge,
    gt,
    hparams_class,
    in_range,
    layer_sizes,
    positive,
    reset_modes,
    resolve_hparams,
    static,
    traced,
)


@dataclass(frozen=True)
class Config(ConfigBase, OnPolicySizes):
    """PPO settings (PureJaxRL names in lower case; defaults are PureJaxRL's CartPole ones)."""

    _name = "ppo.Config"

    env_id: str = "CartPole-v1"
    env_params: Mapping[str, Any] = static(factory=dict)  # overrides of the env's default params
    total_timesteps: int = static(500_000, positive)
    num_envs: int = static(4, positive)
    num_steps: int = static(128, positive)
    update_epochs: int = static(4, positive)
    num_minibatches: int = static(4, positive)
    lr: float = traced(2.5e-4, LR)
    gamma: float = traced(0.99, GAMMA)
    gae_lambda: float = traced(0.95, in_range(0, 1))
    clip_eps: float = traced(0.2, gt(0))
    ent_coef: float = traced(0.01, ge(0))
    vf_coef: float = traced(0.5, ge(0))
    max_grad_norm: float = traced(0.5, GRAD_NORM)
    anneal_lr: bool = True
    activation: str = static("tanh", activations())
    actor_hidden: tuple[int, ...] = static((64, 64), layer_sizes)
    critic_hidden: tuple[int, ...] = static((64, 64), layer_sizes)
    normalize_obs: bool = False
    normalize_reward: bool = False
    normalize_advantages: bool = True
    clip_value_loss: bool = True
    obs_clip: float = static(10.0, gt(0))
    adam_eps: float = static(1e-5, gt(0))
    init_log_std: float = 0.0  # Gaussian policies
    reset_mode: str | None = static(None, reset_modes)  # VecEnv reset mode (None: its default)

    def validate(self) -> None:
        check_batches(self)
        self.check_common()


HParams = hparams_class(Config)
"""Traced PPO hyperparameters: lr, gamma, gae_lambda, clip_eps, ent_coef, vf_coef, max_grad_norm."""


def as_hparams(cfg: Config, hparams: HParams | Mapping[str, Any] | None = None) -> HParams:
    """``HParams`` from the config's values updated by ``hparams`` (None, ``HParams`` or a dict of overrides)."""
    return resolve_hparams(cfg, hparams)


def default_hparams(cfg: Config) -> HParams:
    """Scalar ``HParams`` from the config's values."""
    return resolve_hparams(cfg, None)
