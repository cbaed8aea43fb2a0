"""Vector rewards of the fin environments, scalarised by weights that live in the (traced) env params.

Every fin step reports ``info["reward_vector"] [3]`` = (thrust, efficiency, ``-<C_Y^2>``)
(:data:`.common.VECTOR_OBJECTIVES`). :class:`Scalarized` turns it into the reward
``w . r`` with ``w`` a field of its params, so members with different weights are one
program: ``jax.vmap`` over params (or build one agent per traced weight vector inside a
vmapped function, as :mod:`jaxrl.meta.multiobjective` does).

>>> env, params = scalarized("FinRay-Thrust-v1", [0.5, 0.5, 0.0])
>>> params.weights   # [3]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.env import Environment, Step
from jaxrl.envs.finray.common import VECTOR_OBJECTIVES
from jaxrl.errors import UserError
from jaxrl.wrappers import Wrapper

NUM_OBJECTIVES = len(VECTOR_OBJECTIVES)


def check_weights(weights: Any, num_objectives: int = NUM_OBJECTIVES, where: str = "weights") -> np.ndarray:
    """Concrete scalarisation weights as float32 ``[..., num_objectives]``; :class:`UserError` when bad.

    Bad: a last axis that is not ``num_objectives`` long, negative or non-finite entries,
    a weight vector that is all zeros. Tracers pass unchecked (checked where they were made).
    """
    if isinstance(weights, jax.core.Tracer):
        return weights
    w = np.asarray(weights, np.float64)
    if w.ndim == 0 or w.shape[-1] != num_objectives:
        raise UserError(
            f"{where} must have {num_objectives} entries (one per objective {VECTOR_OBJECTIVES[:num_objectives]}), "
            f"got shape {w.shape}; pass e.g. [1.0] + [0.0] * {num_objectives - 1}"
        )
    if not np.all(np.isfinite(w)):
        raise UserError(f"{where} must be finite, got {w.tolist()}")
    if np.any(w < 0):
        raise UserError(f"{where} must be non-negative (a negative weight rewards the opposite goal), got {w.tolist()}")
    if np.any(np.sum(w, axis=-1) <= 0):
        raise UserError(f"{where} must not be all zero, got {w.tolist()}")
    return w.astype(np.float32)


@struct.dataclass
class ScalarizedParams:
    inner: Any  # the fin env's params
    weights: jax.Array  # [num_objectives] non-negative weights of reward_vector


class Scalarized(Wrapper):
    """Reward ``params.weights . info["reward_vector"]``; observations, dynamics and state unchanged.

    ``info["reward_objective"]`` keeps the inner env's own scalar reward.
    """

    def __init__(self, env: Environment, weights: Sequence[float] | None = None):
        super().__init__(env)
        probe = getattr(env, "unwrapped", env)
        if not hasattr(probe, "objective") or not hasattr(probe, "num_substeps"):
            raise UserError(f"Scalarized needs a FinPlate or FinRay environment, got {env!r}")
        w = [1.0] + [0.0] * (NUM_OBJECTIVES - 1) if weights is None else weights
        self.default_weights = check_weights(w)

    @property
    def default_params(self) -> ScalarizedParams:
        return ScalarizedParams(self.env.default_params, jnp.asarray(self.default_weights))

    @property
    def name(self) -> str:
        return f"{self.env.name}-Scalarized"

    def reset_env(self, key, params: ScalarizedParams):
        return self.env.reset_env(key, params.inner)

    def reset_episode(self, key, state, params: ScalarizedParams):
        return self.env.reset_episode(key, state, params.inner)

    def step_env(self, key, state, action, params: ScalarizedParams) -> Step:
        out = self.env.step_env(key, state, action, params.inner)
        vec = out.info["reward_vector"]
        reward = jnp.dot(jnp.asarray(params.weights, jnp.float32), vec)
        return out._replace(reward=reward.astype(jnp.float32), info={**out.info, "reward_objective": out.reward})

    def observation_space(self, params: ScalarizedParams):
        return self.env.observation_space(params.inner)

    def action_space(self, params: ScalarizedParams):
        return self.env.action_space(params.inner)

    def render(self, state, params: ScalarizedParams):
        return self.env.render(state, params.inner)


def scalarized(env_id: str, weights: Sequence[float] | None = None, **overrides: Any):
    """``(Scalarized(env), ScalarizedParams)`` for a registered fin id, its param ``overrides`` and ``weights``."""
    from jaxrl.registry import make

    env, params = make(env_id, **overrides)
    wrapped = Scalarized(env, weights)
    return wrapped, ScalarizedParams(params, jnp.asarray(wrapped.default_weights))
