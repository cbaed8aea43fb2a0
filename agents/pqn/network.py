"""PQN's Q-network: the core MLP with LayerNorm after every hidden layer."""

from __future__ import annotations

from collections.abc import Sequence

from jaxrl.networks import MLP


def QNetwork(hidden: Sequence[int], num_actions: int, activation: str = "relu", layer_norm: bool = True) -> MLP:  # noqa: N802
    """``Q(obs [..., obs_dim]) -> [..., num_actions]``: ``Dense -> LayerNorm -> activation`` per hidden layer.

    Orthogonal init of :class:`jaxrl.networks.MLP` (``sqrt(2)`` hidden gain, 1 on the output); without
    ``layer_norm`` it is that plain MLP.
    """
    return MLP(tuple(hidden), num_actions, activation, out_scale=1.0, layer_norm=layer_norm)
