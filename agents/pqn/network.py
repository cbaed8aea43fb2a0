"""PQN's Q-network (LayerNorm after every hidden layer)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import numpy as np

from jaxrl.networks import activation, orthogonal


class QNetwork(nn.Module):
    """``Q(obs [..., obs_dim]) -> [..., num_actions]``: ``Dense -> LayerNorm -> activation`` per hidden layer.

    Orthogonal init as :class:`jaxrl.networks.MLP` (``sqrt(2)`` hidden gain, 1 on the output). Without
    ``layer_norm`` the network equals that MLP.
    """

    hidden: Sequence[int]
    num_actions: int
    activation: str = "relu"
    layer_norm: bool = True

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        act = activation(self.activation)
        x = obs
        for i, h in enumerate(self.hidden):
            x = nn.Dense(h, kernel_init=orthogonal(np.sqrt(2.0)), name=f"hidden_{i}")(x)
            if self.layer_norm:
                x = nn.LayerNorm(name=f"norm_{i}")(x)
            x = act(x)
        return nn.Dense(self.num_actions, kernel_init=orthogonal(1.0), name="out")(x)
