"""Procedural layouts: structural invariants (every layout solvable, agent on a
free cell, keys match their doors) and the distribution of layout features
against MiniGrid's own generators (chi-square two-sample tests)."""

from __future__ import annotations

from collections import deque

import jax
import numpy as np
import pytest
from scipy import stats

from jaxrl.envs.grid import constants as C
from jaxrl.envs.grid import interop

IDS = [
    "MiniGrid-Empty-Random-6x6-v0",
    "MiniGrid-FourRooms-v0",
    "MiniGrid-DoorKey-5x5-v0",
    "MiniGrid-MultiRoom-N2-S4-v0",
    "MiniGrid-KeyCorridorS3R2-v0",
    "MiniGrid-LavaGapS5-v0",
    "MiniGrid-LavaCrossingS9N2-v0",
    "MiniGrid-Unlock-v0",
    "MiniGrid-UnlockPickup-v0",
    "MiniGrid-MemoryS7-v0",
]
BATCH = 4  # the parity tests' reset shape: the compiled resets are shared


def sample(resetter, env, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` layouts as NumPy arrays (grid codes, agent pose, task fields)."""
    reset = resetter(env)
    keys = jax.random.split(jax.random.PRNGKey(seed), n)
    parts = [reset(keys[i : i + BATCH])[1] for i in range(0, n, BATCH)]
    states = jax.tree.map(lambda *xs: np.concatenate([np.asarray(x) for x in xs]), *parts)
    return {k: getattr(states, k) for k in ("grid", "agent_pos", "agent_dir", "target", "target_pos", "failure_pos")}


def reachable(codes: np.ndarray, start) -> np.ndarray:
    """Cells reachable from ``start`` through free cells, goals, doors of any state (their keys are
    checked separately) and objects (they can be picked up and carried away), never lava: ``[H, W]``."""
    oid = codes & 15
    passable = [C.FLOOR, C.GOAL, C.DOOR_OPEN, C.DOOR_CLOSED, C.DOOR_LOCKED, C.KEY, C.BALL, C.BOX]
    walk = (codes == C.C_EMPTY) | np.isin(oid, passable)
    seen = np.zeros(codes.shape, bool)
    queue = deque([(int(start[1]), int(start[0]))])
    seen[queue[0]] = True
    while queue:
        y, x = queue.popleft()
        for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            ny, nx = y + dy, x + dx
            if 0 <= ny < codes.shape[0] and 0 <= nx < codes.shape[1] and walk[ny, nx] and not seen[ny, nx]:
                seen[ny, nx] = True
                queue.append((ny, nx))
    return seen


def adjacent(mask: np.ndarray, x: int, y: int) -> bool:
    return any(
        0 <= y + dy < mask.shape[0] and 0 <= x + dx < mask.shape[1] and mask[y + dy, x + dx] for dx, dy in C.DIR_TO_VEC
    )


@pytest.mark.parametrize("env_id", IDS)
def test_every_layout_is_well_formed_and_solvable(env_id, make_grid, resetter):
    env, params = make_grid(env_id)
    rule = env.task.rule
    s = sample(resetter, env, 32)
    for n in range(32):
        codes, (ax, ay) = s["grid"][n], s["agent_pos"][n]
        oid = codes & 15
        assert codes[ay, ax] == C.C_EMPTY, f"layout {n}: agent not on a free cell"
        assert np.all(oid <= C.DOOR_LOCKED) and np.all((codes >> 4) < C.NUM_COLORS)
        assert 0 <= s["agent_dir"][n] < 4
        reach = reachable(codes, (ax, ay))
        if rule == "goal":
            goals = np.argwhere(oid == C.GOAL)
            assert len(goals) == 1 and reach[tuple(goals[0])], f"layout {n}: goal unreachable"
        elif rule == "pickup":
            where = np.argwhere(codes == s["target"][n])
            assert len(where) == 1, f"layout {n}: the target must be unique"
            assert adjacent(reach, where[0][1], where[0][0]), f"layout {n}: target unreachable"
        elif rule == "open_door":
            tx, ty = s["target_pos"][n]
            assert oid[ty, tx] == C.DOOR_LOCKED and adjacent(reach, tx, ty)
        else:  # memory
            assert reach[s["target_pos"][n][1], s["target_pos"][n][0]]
            assert reach[s["failure_pos"][n][1], s["failure_pos"][n][0]]
        locked = np.argwhere(oid == C.DOOR_LOCKED)
        for y, x in locked:  # every locked door has exactly one key of its colour, on the agent's side
            keys = np.argwhere(codes == C.code(C.KEY, codes[y, x] >> 4))
            assert len(keys) == 1, f"layout {n}: locked door without its key"
            walk_free = codes.copy()
            walk_free[oid == C.DOOR_LOCKED] = C.C_WALL
            assert adjacent(reachable(walk_free, (ax, ay)), keys[0][1], keys[0][0]), f"layout {n}: key behind its door"


# --------------------------------------------------------------------------- distribution vs MiniGrid
def features(codes: np.ndarray, pos, d) -> dict[str, int]:
    """Scalar features of one layout (NumPy codes ``[H, W]``)."""
    oid = codes & 15
    f = {"dir": int(d), "agent_x": int(pos[0]), "agent_y": int(pos[1])}
    for name, o in (("walls", C.WALL), ("lava", C.LAVA), ("keys", C.KEY), ("balls", C.BALL), ("boxes", C.BOX)):
        f[name] = int(np.sum(oid == o))
    f["doors"] = int(np.sum(np.isin(oid, [C.DOOR_OPEN, C.DOOR_CLOSED, C.DOOR_LOCKED])))
    doors = np.argwhere(np.isin(oid, [C.DOOR_CLOSED, C.DOOR_LOCKED]))
    f["door_color"] = int(codes[tuple(doors[0])] >> 4) if len(doors) else -1
    f["door_y"] = int(doors[0][0]) if len(doors) else -1
    goal = np.argwhere(oid == C.GOAL)
    f["goal_x"], f["goal_y"] = (int(goal[0][1]), int(goal[0][0])) if len(goal) else (-1, -1)
    free = codes == C.C_EMPTY
    f["free"] = int(free.sum())
    return f


def same_distribution(a: list[int], b: list[int]) -> float:
    """p-value of a chi-square two-sample test (rare values pooled)."""
    values, counts_a = np.unique(a, return_counts=True)
    table = {v: [c, 0] for v, c in zip(values.tolist(), counts_a.tolist(), strict=True)}
    for v in b:
        table.setdefault(v, [0, 0])[1] += 1
    rows, other = [], [0, 0]
    for v in sorted(table):
        ca, cb = table[v]
        if ca + cb >= 10:
            rows.append([ca, cb])
        else:
            other[0] += ca
            other[1] += cb
    if sum(other):
        rows.append(other)
    if len(rows) < 2:
        return 1.0
    return float(stats.chi2_contingency(np.array(rows).T)[1])


@pytest.mark.parametrize("env_id", IDS)
def test_layout_distribution_matches_minigrid(env_id, make_grid, resetter):
    gym = pytest.importorskip("gymnasium")
    pytest.importorskip("minigrid")
    env, _ = make_grid(env_id)
    n = 400
    s = sample(resetter, env, n, seed=1)
    H, W = env.task.height, env.task.width
    ours = [features(s["grid"][i], s["agent_pos"][i], s["agent_dir"][i]) for i in range(n)]
    mg = gym.make(env_id).unwrapped
    theirs = []
    for i in range(n):
        mg.reset(seed=10_000 + i)
        codes = np.full((H, W), C.C_WALL, np.uint8)
        enc = interop.codes_from_encoding(mg.grid.encode())
        codes[: enc.shape[0], : enc.shape[1]] = enc
        theirs.append(features(codes, mg.agent_pos, mg.agent_dir))
    bad = {}
    for name in ours[0]:
        p = same_distribution([f[name] for f in ours], [f[name] for f in theirs])
        if p < 1e-4:
            bad[name] = p
    assert not bad, f"{env_id}: features distributed differently from MiniGrid's (p-values): {bad}"
