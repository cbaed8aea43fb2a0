"""Control family: gymnax classic control and MinAtar, Brax/MJX physics."""

from jaxrl.envs.control import brax_adapter, gymnax_adapter  # noqa: F401
from jaxrl.envs.control.brax_adapter import BraxEnv
from jaxrl.envs.control.gymnax_adapter import GymnaxEnv

__all__ = ["BraxEnv", "GymnaxEnv"]
