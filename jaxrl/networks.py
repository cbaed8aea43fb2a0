"""Shared network pieces: MLPs, actor-critic heads and action distributions.

Distributions are small pytrees (``flax.struct`` dataclasses) with
``sample(key)``, ``log_prob(action)``, ``entropy()`` and ``mode()`` (the
deterministic action), so they pass through ``jit``/``vmap``/``scan``.
:func:`distribution_for` picks one from an action space:

* ``Discrete(n)``        -> :class:`Categorical` over ``n`` logits;
* ``MultiDiscrete(nvec)``-> :class:`MultiCategorical` (independent factors);
* ``Box(shape)``         -> :class:`DiagGaussian` with a state-independent log-std.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl import spaces

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": jnp.tanh,
    "relu": nn.relu,
    "elu": nn.elu,
    "gelu": nn.gelu,
    "silu": nn.silu,
}

_LOG_2PI = float(np.log(2.0 * np.pi))


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


# --------------------------------------------------------------------------- distributions
@struct.dataclass
class Categorical:
    logits: jax.Array  # [..., n]

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.categorical(key, self.logits).astype(jnp.int32)

    def log_prob(self, action: jax.Array) -> jax.Array:
        logp = jax.nn.log_softmax(self.logits)
        return jnp.take_along_axis(logp, action[..., None].astype(jnp.int32), axis=-1)[..., 0]

    def entropy(self) -> jax.Array:
        logp = jax.nn.log_softmax(self.logits)
        return -jnp.sum(jnp.exp(logp) * logp, axis=-1)

    def mode(self) -> jax.Array:
        return jnp.argmax(self.logits, axis=-1).astype(jnp.int32)


@struct.dataclass
class MultiCategorical:
    """Independent categoricals; ``logits`` concatenated along the last axis."""

    logits: jax.Array  # [..., sum(nvec)]
    nvec: tuple[int, ...] = struct.field(pytree_node=False)

    def _parts(self) -> list[Categorical]:
        cuts = np.cumsum(self.nvec)[:-1].tolist()
        return [Categorical(x) for x in jnp.split(self.logits, cuts, axis=-1)]

    def sample(self, key: jax.Array) -> jax.Array:
        keys = jax.random.split(key, len(self.nvec))
        return jnp.stack([c.sample(k) for c, k in zip(self._parts(), keys, strict=True)], axis=-1)

    def log_prob(self, action: jax.Array) -> jax.Array:
        return sum(c.log_prob(action[..., i]) for i, c in enumerate(self._parts()))

    def entropy(self) -> jax.Array:
        return sum(c.entropy() for c in self._parts())

    def mode(self) -> jax.Array:
        return jnp.stack([c.mode() for c in self._parts()], axis=-1)


@struct.dataclass
class DiagGaussian:
    mean: jax.Array  # [..., d]
    log_std: jax.Array  # [..., d] (broadcastable)

    def sample(self, key: jax.Array) -> jax.Array:
        return self.mean + jnp.exp(self.log_std) * jax.random.normal(key, self.mean.shape, self.mean.dtype)

    def log_prob(self, action: jax.Array) -> jax.Array:
        z = (action - self.mean) * jnp.exp(-self.log_std)
        return jnp.sum(-0.5 * z * z - self.log_std - 0.5 * _LOG_2PI, axis=-1)

    def entropy(self) -> jax.Array:
        log_std = jnp.broadcast_to(self.log_std, self.mean.shape)
        return jnp.sum(log_std + 0.5 * (1.0 + _LOG_2PI), axis=-1)

    def mode(self) -> jax.Array:
        return self.mean


def distribution_for(space: spaces.Space) -> tuple[str, int]:
    """``(kind, head_size)`` of the policy head for an action space."""
    if isinstance(space, spaces.Discrete):
        return "categorical", space.n
    if isinstance(space, spaces.MultiDiscrete):
        return "multi_categorical", int(np.sum(space.nvec))
    if isinstance(space, spaces.Box) and jnp.issubdtype(space.dtype, jnp.floating):
        return "gaussian", spaces.flat_dim(space)
    raise TypeError(f"no policy distribution for {space!r} (supported: Discrete, MultiDiscrete, float Box)")


# --------------------------------------------------------------------------- initialisers
def orthogonal(scale: float = 1.0) -> Callable[..., jax.Array]:
    """Orthogonal initialiser for 2-D kernels ``[in, out]``, without LAPACK.

    Same matrix as ``flax.linen.initializers.orthogonal`` (the Q of a
    Gaussian matrix's QR decomposition, signs fixed so R has a positive
    diagonal; up to float rounding), computed by Gram-Schmidt with
    re-orthogonalisation. LAPACK's batched QR, which ``jax.vmap`` over seeds
    produces, can deadlock XLA's CPU thread pool (seen with jaxlib 0.10 on 2
    cores: two QR kernels each wait for pool threads the other holds);
    this one is plain matrix-vector products.
    """

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        if len(shape) != 2:
            raise ValueError(f"orthogonal init needs a 2-D shape, got {tuple(shape)}")
        n_in, n_out = shape
        tall = (n_out, n_in) if n_in < n_out else (n_in, n_out)
        q = _orthonormal_columns(jax.random.normal(key, tall, jnp.float32))
        q = q.T if n_in < n_out else q
        return (scale * q).astype(dtype)

    return init


def _orthonormal_columns(a: jax.Array) -> jax.Array:
    """``Q`` of ``a = QR`` (``a``: ``[m, n]``, ``m >= n``), R with positive diagonal."""

    def body(j, q):
        v = jax.lax.dynamic_index_in_dim(a, j, axis=1, keepdims=False)
        for _ in range(2):  # twice is enough (Kahan-Parlett "twice is enough")
            v = v - q @ (q.T @ v)
        return jax.lax.dynamic_update_index_in_dim(q, v / jnp.sqrt(jnp.sum(v * v)), j, axis=1)

    return jax.lax.fori_loop(0, a.shape[1], body, jnp.zeros_like(a))


# --------------------------------------------------------------------------- modules
class MLP(nn.Module):
    """Dense layers with orthogonal init (``sqrt(2)`` hidden gain); linear output of ``out_dim``.

    ``layer_norm``: ``Dense -> LayerNorm -> activation`` in every hidden layer (PQN's stabiliser).
    """

    hidden_sizes: Sequence[int]
    out_dim: int
    activation: str = "tanh"
    out_scale: float = 1.0
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation(self.activation)
        for i, h in enumerate(self.hidden_sizes):
            x = nn.Dense(h, kernel_init=orthogonal(np.sqrt(2.0)), name=f"hidden_{i}")(x)
            if self.layer_norm:
                x = nn.LayerNorm(name=f"norm_{i}")(x)
            x = act(x)
        return nn.Dense(self.out_dim, kernel_init=orthogonal(self.out_scale), name="out")(x)


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs on a flat observation ``[..., obs_dim]``.

    Returns ``(distribution, value[...])``. ``kind``/``head_size`` come from
    :func:`distribution_for`; ``nvec`` is needed for ``multi_categorical``.
    """

    kind: str
    head_size: int
    actor_hidden: Sequence[int] = (64, 64)
    critic_hidden: Sequence[int] = (64, 64)
    activation: str = "tanh"
    nvec: tuple[int, ...] = ()
    init_log_std: float = 0.0

    def setup(self):
        self.actor = MLP(self.actor_hidden, self.head_size, self.activation, out_scale=0.01)
        self.critic = MLP(self.critic_hidden, 1, self.activation, out_scale=1.0)
        if self.kind == "gaussian":
            self.log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (self.head_size,))

    def __call__(self, obs: jax.Array) -> tuple[Any, jax.Array]:
        return self.policy(obs), self.value(obs)

    def policy(self, obs: jax.Array) -> Any:
        out = self.actor(obs)
        if self.kind == "categorical":
            return Categorical(out)
        if self.kind == "multi_categorical":
            return MultiCategorical(out, tuple(self.nvec))
        if self.kind == "gaussian":
            return DiagGaussian(out, self.log_std)
        raise ValueError(f"unknown distribution kind {self.kind!r}")

    def value(self, obs: jax.Array) -> jax.Array:
        return self.critic(obs)[..., 0]
