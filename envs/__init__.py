"""Built-in environment families; importing this registers them all (cheaply: heavy
imports happen inside each factory)."""

from jaxrl.envs import (
    control,  # noqa: F401
    finray,  # noqa: F401
    grid,  # noqa: F401
    surgical,  # noqa: F401
)
