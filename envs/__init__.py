"""Built-in environment families; importing this registers them all (cheaply: heavy
imports happen inside each factory)."""

from jaxrl.envs import control  # noqa: F401
