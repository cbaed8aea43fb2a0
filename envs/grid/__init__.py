"""Gridworld family ``grid``: MiniGrid's dynamics, observations and tasks in JAX.

Every id is MiniGrid's own (``MiniGrid-DoorKey-5x5-v0``, ...) with the same
default ``max_steps``; layouts are generated inside ``jit`` from the key and
the params (a pytree: ``jax.vmap`` over params samples a distribution of
tasks). ``make(id, obs_mode="full" | "rgb")`` gives the fully observed and
pixel variants. See :mod:`jaxrl.envs.grid.core` for the dynamics and
observation conventions.

>>> env, params = jaxrl.make("MiniGrid-DoorKey-5x5-v0")
>>> env, params = jaxrl.envs.grid.make("MiniGrid-DoorKey-5x5-v0", obs_mode="full", size=5)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jaxrl.envs.grid import constants
from jaxrl.envs.grid.core import GridEnv, GridState, Task, TaskParams, make_state
from jaxrl.envs.grid.multiroom import MultiRoom
from jaxrl.envs.grid.rooms import KeyCorridor, Unlock, UnlockPickup
from jaxrl.envs.grid.tasks import Crossing, DoorKey, Empty, FourRooms, LavaGap, Memory
from jaxrl.registry import register, replace_params
from jaxrl.registry import spec as _spec

FAMILY = "grid"

TASKS: dict[str, tuple[Callable[[], Task], str]] = {
    **{
        f"MiniGrid-Empty-{n}x{n}-v0": (lambda n=n: Empty(n), f"Empty {n}x{n} room, reach the goal in the far corner.")
        for n in (5, 6, 8, 16)
    },
    **{
        f"MiniGrid-Empty-Random-{n}x{n}-v0": (lambda n=n: Empty(n, True), f"Empty {n}x{n} room, random start pose.")
        for n in (5, 6)
    },
    "MiniGrid-FourRooms-v0": (FourRooms, "Four rooms joined by gaps; random agent and goal (19x19)."),
    **{
        f"MiniGrid-DoorKey-{n}x{n}-v0": (
            lambda n=n: DoorKey(n),
            f"Pick up the key, unlock the door, reach the goal ({n}x{n}).",
        )
        for n in (5, 6, 8, 16)
    },
    "MiniGrid-MultiRoom-N2-S4-v0": (
        lambda: MultiRoom(2, 2, 4),
        "Two rooms (size <= 4) joined by a door; goal in the last.",
    ),
    "MiniGrid-MultiRoom-N4-S5-v1": (lambda: MultiRoom(4, 4, 5), "Four rooms (size <= 5) in a chain of doors."),
    "MiniGrid-MultiRoom-N6-v0": (lambda: MultiRoom(6, 6, 10), "Six rooms (size <= 10) in a chain of doors."),
    **{
        f"MiniGrid-KeyCorridorS3R{r}-v0": (
            lambda r=r: KeyCorridor(3, r),
            f"Find the key in a side room, unlock the door, pick up the ball ({r} rows of 3x3 rooms).",
        )
        for r in (1, 2, 3)
    },
    **{
        f"MiniGrid-LavaGapS{n}-v0": (lambda n=n: LavaGap(n), f"Cross a strip of lava through its gap ({n}x{n}).")
        for n in (5, 6, 7)
    },
    **{
        f"MiniGrid-LavaCrossingS9N{k}-v0": (
            lambda k=k: Crossing(9, k),
            f"Reach the goal across {k} lava river(s), one opening each (9x9).",
        )
        for k in (1, 2, 3)
    },
    "MiniGrid-Unlock-v0": (Unlock, "Open the locked door; its key is in the agent's room."),
    "MiniGrid-UnlockPickup-v0": (UnlockPickup, "Unlock the door and pick up the box behind it."),
    **{
        f"MiniGrid-MemoryS{n}-v0": (lambda n=n: Memory(n), f"Remember the start object, go to its twin ({n}x{n}).")
        for n in (7, 9)
    },
}


def _factory(env_id: str, build: Callable[[], Task]) -> Callable[[], GridEnv]:
    return lambda: GridEnv(build(), env_id=env_id)


for _id, (_build, _desc) in TASKS.items():
    register(_id, FAMILY, _factory(_id, _build), _build().default_params().max_steps, _desc)


def make(env_id: str, obs_mode: str = "partial", **overrides: Any) -> tuple[GridEnv, TaskParams]:
    """``jaxrl.make`` for grid ids with construction options (``obs_mode``, ``view_size``, ``tile_size``,
    ``see_through_walls``) besides param overrides."""
    options = {k: overrides.pop(k) for k in ("view_size", "tile_size", "see_through_walls") if k in overrides}
    spec = _spec(env_id)
    if spec.family != FAMILY:
        raise ValueError(f"{env_id!r} is not a grid environment (family {spec.family!r})")
    env = spec.factory().replace(obs_mode=obs_mode, **options)
    return env, replace_params(env.default_params, {**spec.params, **overrides}, env_id)


def write_episode_gif(env, params, policy_fn, key, path, **kwargs):
    """Render one episode of ``policy_fn`` to a GIF (see :func:`jaxrl.envs.grid.render.write_episode_gif`)."""
    from jaxrl.envs.grid import render

    return render.write_episode_gif(env, params, policy_fn, key, path, **kwargs)


__all__ = [
    "TASKS",
    "Crossing",
    "DoorKey",
    "Empty",
    "FourRooms",
    "GridEnv",
    "GridState",
    "KeyCorridor",
    "LavaGap",
    "Memory",
    "MultiRoom",
    "Task",
    "TaskParams",
    "Unlock",
    "UnlockPickup",
    "constants",
    "make",
    "make_state",
    "write_episode_gif",
]
