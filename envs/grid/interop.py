"""Move states between jaxrl's gridworld and the ``minigrid`` package (the parity oracle).

``minigrid`` is optional (a test extra) and imported only inside these functions.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxrl.envs.grid import constants as C
from jaxrl.envs.grid.core import GridState


def codes_from_encoding(enc: np.ndarray) -> np.ndarray:
    """MiniGrid's ``[W, H, 3]`` encoding -> cell codes ``[H, W]`` uint8."""
    obj, col, st = (np.asarray(enc[..., k], np.int64).T for k in range(3))
    oid = np.where(obj == C.DOOR, np.choose(np.clip(st, 0, 2), [C.DOOR_OPEN, C.DOOR_CLOSED, C.DOOR_LOCKED]), obj)
    col = np.where(obj == C.EMPTY, 0, col)
    return (oid | col << 4).astype(np.uint8)


def encoding_from_codes(codes: np.ndarray) -> np.ndarray:
    """Cell codes ``[H, W]`` -> MiniGrid's ``[W, H, 3]`` encoding."""
    codes = np.asarray(codes, np.int64)
    oid, col = codes & 15, codes >> 4
    obj = np.where(oid >= C.DOOR_CLOSED, C.DOOR, oid)
    st = np.where(oid == C.DOOR_CLOSED, 1, np.where(oid == C.DOOR_LOCKED, 2, 0))
    return np.stack([obj, col, st], axis=-1).transpose(1, 0, 2).astype(np.uint8)


def _obj_code(obj: Any) -> int:
    return C.C_EMPTY if obj is None else C.encode_np(*obj.encode())


def state_from_minigrid(env: Any, shape: tuple[int, int] | None = None) -> GridState:
    """The state of a (reset) ``MiniGridEnv``; ``shape=(H, W)`` pads with walls to a larger static grid.

    Task fields come from the env's attributes: ``obj`` (pickup target),
    ``door`` (door to open), ``success_pos`` / ``failure_pos`` (Memory).
    """
    env = env.unwrapped
    codes = codes_from_encoding(env.grid.encode())
    if shape is not None:
        padded = np.full(shape, C.C_WALL, np.uint8)
        padded[: codes.shape[0], : codes.shape[1]] = codes
        codes = padded
    target, target_pos, failure_pos = 0, (-1, -1), (-1, -1)
    if getattr(env, "obj", None) is not None:
        target = _obj_code(env.obj)
    if getattr(env, "door", None) is not None:
        target_pos = tuple(int(v) for v in env.door.cur_pos)
    if getattr(env, "success_pos", None) is not None:
        target_pos = tuple(int(v) for v in env.success_pos)
        failure_pos = tuple(int(v) for v in env.failure_pos)
    return GridState(
        grid=jnp.asarray(codes),
        agent_pos=jnp.asarray([int(env.agent_pos[0]), int(env.agent_pos[1])], jnp.int32),
        agent_dir=jnp.int32(env.agent_dir),
        carrying=jnp.uint8(_obj_code(env.carrying)),
        step_count=jnp.int32(env.step_count),
        target=jnp.uint8(target),
        target_pos=jnp.asarray(target_pos, jnp.int32),
        failure_pos=jnp.asarray(failure_pos, jnp.int32),
    )


def load_into_minigrid(state: GridState, env: Any) -> Any:
    """Overwrite a (reset) ``MiniGridEnv`` with ``state`` (its ``width x height`` corner); returns ``env``.

    Sets the grid, agent pose, carried object and step count, and the task
    attributes ``obj`` (the grid object matching ``state.target``), ``door``
    (the door at ``state.target_pos``) and ``success_pos`` / ``failure_pos``
    on envs that have them.
    """
    from minigrid.core.grid import Grid
    from minigrid.core.world_object import WorldObj

    env = env.unwrapped
    codes = np.asarray(state.grid)[: env.height, : env.width]
    env.grid, _ = Grid.decode(encoding_from_codes(codes))
    # Grid.decode gives every empty cell (1, 0, 0) -> None already; keep the object positions current.
    for j in range(env.height):
        for i in range(env.width):
            obj = env.grid.get(i, j)
            if obj is not None:
                obj.init_pos = obj.cur_pos = (i, j)
    env.agent_pos = (int(state.agent_pos[0]), int(state.agent_pos[1]))
    env.agent_dir = int(state.agent_dir)
    carrying = int(state.carrying)
    env.carrying = None if carrying == C.C_EMPTY else WorldObj.decode(*C.decode(jnp.uint8(carrying)).tolist())
    env.step_count = int(state.step_count)
    if hasattr(env, "obj"):
        target = int(state.target)
        hits = [(i, j) for j in range(env.height) for i in range(env.width) if codes[j, i] == target]
        env.obj = env.grid.get(*hits[0]) if hits else (env.carrying if carrying == target else None)
    if hasattr(env, "door"):
        env.door = env.grid.get(int(state.target_pos[0]), int(state.target_pos[1]))
    if hasattr(env, "success_pos"):
        env.success_pos = (int(state.target_pos[0]), int(state.target_pos[1]))
        env.failure_pos = (int(state.failure_pos[0]), int(state.failure_pos[1]))
    return env
