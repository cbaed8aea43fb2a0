"""Two tiny reference environments for tests (re-exported by :mod:`jaxrl.testing`).

:class:`ChainEnv` (discrete actions, short episodes) and :class:`EchoEnv` (continuous actions)
have dynamics simple enough to check wrappers, batching and agents against hand-computed numbers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl import spaces
from jaxrl.env import Environment, Step


@struct.dataclass
class ChainParams:
    length: int = 3  # position at which the episode terminates
    move_reward: float = 1.0
    stay_reward: float = -0.5


@struct.dataclass
class ChainState:
    pos: jax.Array  # [] int32
    noise: jax.Array  # [] float32, drawn at reset


class ChainEnv(Environment):
    """Walk right along a chain; terminates on reaching ``params.length``.

    * action ``Discrete(2)``: 0 stays, 1 moves one cell right;
    * reward ``move_reward`` for moving, ``stay_reward`` for staying;
    * obs ``[2]`` float32: ``(position, noise)`` with ``noise ~ U[0, 1)`` drawn
      at reset (so resets depend on the key) and constant within an episode;
    * never truncates (wrap in :class:`jaxrl.wrappers.TimeLimit`).
    """

    @property
    def default_params(self) -> ChainParams:
        return ChainParams()

    def reset_env(self, key, params):
        state = ChainState(jnp.int32(0), jax.random.uniform(key, ()))
        return self._obs(state), state

    def step_env(self, key, state, action, params) -> Step:
        move = jnp.asarray(action) == 1
        state = state.replace(pos=state.pos + move.astype(jnp.int32))
        reward = jnp.where(move, params.move_reward, params.stay_reward).astype(jnp.float32)
        terminated = state.pos >= params.length
        return Step(self._obs(state), state, reward, terminated, jnp.bool_(False), {})

    @staticmethod
    def _obs(state: ChainState) -> jax.Array:
        return jnp.stack([state.pos.astype(jnp.float32), state.noise])

    def observation_space(self, params):
        high = jnp.stack([jnp.asarray(params.length, jnp.float32), jnp.float32(1.0)])
        return spaces.Box(jnp.zeros(2, jnp.float32), high, (2,), jnp.float32)

    def action_space(self, params):
        return spaces.Discrete(2)


@struct.dataclass
class EchoParams:
    low: jax.Array  # [2] float32 action lower bounds
    high: jax.Array  # [2] float32 action upper bounds


class EchoEnv(Environment):
    """Continuous actions echoed back: ``obs`` is the action applied (``[2]`` float32).

    Action space ``Box(params.low, params.high)`` (default ``[-2, 0]..[2, 10]``);
    reward ``-sum(action**2)``; the reset obs is uniform in the bounds; never ends.
    """

    @property
    def default_params(self) -> EchoParams:
        return EchoParams(jnp.array([-2.0, 0.0], jnp.float32), jnp.array([2.0, 10.0], jnp.float32))

    def reset_env(self, key, params):
        obs = jax.random.uniform(key, (2,), minval=params.low, maxval=params.high)
        return obs, obs

    def step_env(self, key, state, action, params) -> Step:
        a = jnp.asarray(action, jnp.float32)
        return Step(a, a, -jnp.sum(a**2), jnp.bool_(False), jnp.bool_(False), {})

    def observation_space(self, params):
        return spaces.Box(params.low, params.high, (2,), jnp.float32)

    def action_space(self, params):
        return spaces.Box(params.low, params.high, (2,), jnp.float32)
