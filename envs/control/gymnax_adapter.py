"""One adapter over gymnax's ``reset_env`` / ``step_env``.

gymnax computes the dynamics; jaxrl owns auto-reset (reset only when an
episode ends) and truncation (``state.time >= params.max_steps_in_episode``,
reported as ``truncated``, never as ``terminated``; both are true when the
last allowed step also terminates, as in gymnasium).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxrl import spaces
from jaxrl.env import Environment, Step
from jaxrl.registry import register


class GymnaxEnv(Environment):
    """A gymnax environment on the jaxrl contract; params are gymnax's params."""

    def __init__(self, gymnax_id: str):
        import gymnax  # deferred: keeps `import jaxrl` light

        self.gymnax_id = gymnax_id
        self.gymnax_env, _ = gymnax.make(gymnax_id)

    def __repr__(self) -> str:
        return f"GymnaxEnv({self.gymnax_id!r})"

    @property
    def name(self) -> str:
        return self.gymnax_id

    @property
    def default_params(self) -> Any:
        return self.gymnax_env.default_params

    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        return self.gymnax_env.reset_env(key, params)

    def step_env(self, key: jax.Array, state: Any, action: Any, params: Any) -> Step:
        obs, state, reward, terminated, info = self.gymnax_env.step_env(key, state, action, params)
        truncated = self.gymnax_env.is_truncated(state, params)
        return Step(
            obs,
            state,
            jnp.asarray(reward, jnp.float32),
            jnp.asarray(terminated, jnp.bool_),
            jnp.asarray(truncated, jnp.bool_),
            info,
        )

    def observation_space(self, params: Any) -> spaces.Space:
        return spaces.from_gymnax(self.gymnax_env.observation_space(params))

    def action_space(self, params: Any) -> spaces.Space:
        return spaces.from_gymnax(self.gymnax_env.action_space(params))

    def render(self, state: Any, params: Any) -> Any:
        """``[H, W, 3]`` uint8 frame (host-side): see :mod:`jaxrl.envs.control.render`."""
        from jaxrl.envs.control import render

        return render.render_gymnax(self, state, params)


_CONTROL = {
    "CartPole-v1": (500, "Balance a pole on a cart; +1 per step upright."),
    "Pendulum-v1": (200, "Swing up and hold an underactuated pendulum; continuous torque."),
    "Acrobot-v1": (500, "Swing a two-link chain above a line; -1 per step."),
    "MountainCar-v0": (200, "Drive an underpowered car up a hill; discrete push."),
    "MountainCarContinuous-v0": (999, "Mountain car with continuous force and an energy penalty."),
}
_MINATAR = {
    "Asterix-MinAtar": (1000, "MinAtar Asterix: collect treasure, dodge enemies (10x10x4)."),
    "Breakout-MinAtar": (1000, "MinAtar Breakout: bounce the ball into bricks (10x10x4)."),
    "Freeway-MinAtar": (2500, "MinAtar Freeway: cross lanes of traffic (10x10x7)."),
    "Seaquest-MinAtar": (1000, "MinAtar Seaquest: shoot enemies, rescue divers, surface for air (10x10x10)."),
    "SpaceInvaders-MinAtar": (1000, "MinAtar Space Invaders: shoot the descending aliens (10x10x6)."),
}


def _factory(gymnax_id: str):
    return lambda: GymnaxEnv(gymnax_id)


for _family, _table in (("control", _CONTROL), ("minatar", _MINATAR)):
    for _id, (_steps, _desc) in _table.items():
        register(_id, _family, _factory(_id), _steps, _desc)
