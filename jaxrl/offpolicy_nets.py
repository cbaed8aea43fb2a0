"""Networks of off-policy actor-critic agents (SAC, TD3): tanh-squashed Gaussian, actors, twin critics.

Shapes: ``S`` batch, ``d`` action dimensions, ``A`` discrete actions, ``K`` critics (2).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.networks import MLP

_LOG_2PI = float(np.log(2.0 * np.pi))
_LOG_2 = float(np.log(2.0))


def tanh_log_det(u: jax.Array) -> jax.Array:
    """``log(1 - tanh(u)^2)`` elementwise, stable for large ``|u|``: ``2 (log 2 - u - softplus(-2u))``."""
    return 2.0 * (_LOG_2 - u - jax.nn.softplus(-2.0 * u))


@struct.dataclass
class TanhGaussian:
    """``a = tanh(u)``, ``u ~ N(mean, exp(log_std)^2)`` per dimension; actions in ``(-1, 1)^d``.

    ``log pi(a) = sum_i [log N(u_i; mean_i, std_i) - log(1 - tanh(u_i)^2)]``.
    """

    mean: jax.Array  # [..., d]
    log_std: jax.Array  # [..., d]

    def _gauss_log_prob(self, u: jax.Array) -> jax.Array:
        z = (u - self.mean) * jnp.exp(-self.log_std)
        return -0.5 * z * z - self.log_std - 0.5 * _LOG_2PI  # [..., d]

    def log_prob_pre(self, u: jax.Array) -> jax.Array:
        """Log-density of ``tanh(u)`` from the pre-squash sample ``u [..., d]`` -> ``[...]``."""
        return jnp.sum(self._gauss_log_prob(u) - tanh_log_det(u), axis=-1)

    def log_prob(self, action: jax.Array, eps: float = 1e-6) -> jax.Array:
        """Log-density of actions ``[..., d]`` in ``(-1, 1)`` (clipped by ``eps`` before ``atanh``) -> ``[...]``."""
        return self.log_prob_pre(jnp.arctanh(jnp.clip(action, -1.0 + eps, 1.0 - eps)))

    def sample_and_log_prob(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Reparameterised sample ``[..., d]`` (differentiable in mean/log_std) and its log-prob ``[...]``."""
        u = self.mean + jnp.exp(self.log_std) * jax.random.normal(key, self.mean.shape, self.mean.dtype)
        return jnp.tanh(u), self.log_prob_pre(u)

    def sample(self, key: jax.Array) -> jax.Array:
        return self.sample_and_log_prob(key)[0]

    def mode(self) -> jax.Array:
        """The deterministic action ``tanh(mean)``."""
        return jnp.tanh(self.mean)


class GaussianActor(nn.Module):
    """``obs [..., obs_dim] -> TanhGaussian``; the state-dependent log-std is clipped to ``[log_std_min, log_std_max]``.

    Both heads come from one MLP (output ``2 d``, small initial weights: ``mean ~ 0``, ``log_std ~ 0``).
    """

    hidden: Sequence[int]
    action_dim: int
    activation: str = "relu"
    log_std_min: float = -5.0
    log_std_max: float = 2.0

    @nn.compact
    def __call__(self, obs: jax.Array) -> TanhGaussian:
        out = MLP(self.hidden, 2 * self.action_dim, self.activation, out_scale=0.01, name="mlp")(obs)
        mean, log_std = jnp.split(out, 2, axis=-1)
        return TanhGaussian(mean, jnp.clip(log_std, self.log_std_min, self.log_std_max))


class DeterministicActor(nn.Module):
    """``obs [..., obs_dim] -> tanh(MLP(obs)) [..., action_dim]`` (TD3)."""

    hidden: Sequence[int]
    action_dim: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        return jnp.tanh(MLP(self.hidden, self.action_dim, self.activation, out_scale=0.01, name="mlp")(obs))


class TwinCritic(nn.Module):
    """``num`` independent MLP critics on the same input ``x [..., in_dim]`` -> ``[num, ..., out_dim]``.

    Continuous agents feed ``concat(obs, action)`` with ``out_dim = 1``; discrete SAC feeds
    ``obs`` with ``out_dim = num_actions``. Parameters have a leading ``[num]`` axis.
    """

    hidden: Sequence[int]
    out_dim: int
    activation: str = "relu"
    num: int = 2

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        ensemble = nn.vmap(
            MLP,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.num,
        )
        return ensemble(self.hidden, self.out_dim, self.activation, name="q")(x)


def critic_q(critic: nn.Module, params, obs: jax.Array, action: jax.Array) -> jax.Array:
    """``Q_k(obs, action)`` of a continuous-action :class:`TwinCritic` -> ``[K, S]`` (``action [S, ...]`` flattened)."""
    x = jnp.concatenate([obs, action.reshape(action.shape[0], -1).astype(obs.dtype)], axis=-1)
    return critic.apply(params, x)[..., 0]
