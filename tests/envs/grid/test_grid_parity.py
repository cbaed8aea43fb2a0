"""Parity with the ``minigrid`` package (the oracle).

Given the same grid and agent pose, both step the same action sequences
(random, biased towards interactions, chosen online from MiniGrid's state)
and must give identical observations, directions, rewards, terminations and
truncations. Layouts come from both sides: MiniGrid's generators loaded into
jaxrl, and jaxrl's generators loaded into MiniGrid.
"""

from __future__ import annotations

from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs import grid
from jaxrl.envs.grid import constants as C
from jaxrl.envs.grid import interop

pytest.importorskip("minigrid")
gym = pytest.importorskip("gymnasium")
from minigrid.core.grid import Grid  # noqa: E402
from minigrid.core.world_object import Ball, Box, Door, Floor, Goal, Key, Lava, Wall  # noqa: E402
from minigrid.envs import EmptyEnv  # noqa: E402

COLORS = list(C.COLOR_NAMES)
# One id per task class by default; every id under -m slow.
DEFAULT_IDS = [
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
SLOW_IDS = [i for i in grid.TASKS if i not in DEFAULT_IDS]


# --------------------------------------------------------------------------- MiniGrid side
def policy(mg, rng: np.random.Generator) -> int:
    """Random actions, biased towards whatever interaction the front cell offers."""
    fwd = mg.grid.get(*mg.front_pos)
    u = rng.random()
    if fwd is not None and u < 0.6:
        if fwd.type in ("key", "ball", "box") and mg.carrying is None:
            return C.PICKUP if fwd.type != "box" or u < 0.3 else C.TOGGLE
        if fwd.type == "door" and not fwd.is_open:
            return C.TOGGLE
    if mg.carrying is not None and fwd is None and u < 0.08:
        return C.DROP
    return int(rng.choice(7, p=[0.2, 0.2, 0.42, 0.05, 0.04, 0.06, 0.03]))


def play(mg, rng, T: int, events: Counter):
    """Step MiniGrid for at most ``T`` steps (until the episode ends); returns padded actions and records."""
    actions, records = np.zeros(T, np.int32), []
    for t in range(T):
        a = policy(mg, rng)
        fwd_pos = tuple(int(v) for v in mg.front_pos)
        before = mg.grid.get(*fwd_pos)
        kind = (
            None
            if before is None
            else (before.type, getattr(before, "is_open", None), getattr(before, "is_locked", None))
        )
        carrying, pos = mg.carrying, tuple(int(v) for v in mg.agent_pos)
        obs, r, term, trunc, _ = mg.step(a)
        after = mg.grid.get(*fwd_pos)
        actions[t] = a
        records.append((obs["image"], obs["direction"], r, term, trunc, a))
        # what happened (to check the random walks cover every interaction)
        if a == C.PICKUP and carrying is None and mg.carrying is not None:
            events["pickup_" + mg.carrying.type] += 1
        if a == C.DROP and carrying is not None and mg.carrying is None:
            events["drop"] += 1
        if a == C.TOGGLE and kind is not None and kind[0] == "door":
            if kind[2]:
                events["unlock" if after.is_open else ("locked_wrong_key" if carrying else "locked_no_key")] += 1
            else:
                events["door_close" if kind[1] else "door_open"] += 1
        if a == C.TOGGLE and kind is not None and kind[0] == "box":
            events["box_open"] += 1
        if a == C.FORWARD and tuple(int(v) for v in mg.agent_pos) == pos:
            events["blocked"] += 1
        if a == C.FORWARD and kind is not None and kind[0] == "lava":
            events["lava"] += 1
        if r > 0:
            events["success"] += 1
        if trunc:
            events["truncated"] += 1
        if term or trunc:
            break
    return actions, records


def compare(records, mine, label: str) -> None:
    obs, dirs, rew, term, trunc = (np.asarray(x) for x in mine[:5])
    for t, (img, d, r, te, tr, a) in enumerate(records):
        where = f"{label}, step {t}, action {C.ACTION_NAMES[a]}"
        if not np.array_equal(img, obs[t]):
            diff = np.argwhere((img != obs[t]).any(-1))
            raise AssertionError(f"{where}: observations differ at view cells {diff.tolist()}")
        assert d == dirs[t], where
        assert r == pytest.approx(float(rew[t]), abs=1e-6), where
        assert (te, tr) == (bool(term[t]), bool(trunc[t])), where


def stack(states):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def take(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


BATCH, HORIZON = 4, 120  # every rollout of an env runs at this shape: one compile per env


def rollouts(stepper, env, states: list, actions: list, horizon: int = HORIZON) -> list:
    """jaxrl's per-step outputs for each (state, actions) pair, run in padded ``[BATCH, T]`` chunks."""
    T = min(int(env.default_params.max_steps), horizon)
    out = []
    for c in range(0, len(states), BATCH):
        chunk = states[c : c + BATCH]
        acts = np.zeros((BATCH, T), np.int32)
        for i, a in enumerate(actions[c : c + BATCH]):
            acts[i, : len(a)] = a
        batch = stack(chunk + [chunk[0]] * (BATCH - len(chunk)))
        res = stepper(env)(batch, jnp.asarray(acts))
        out += [take(res, i) for i in range(len(chunk))]
    return out


def reset_states(resetter, env, seed: int) -> list:
    """``BATCH`` fresh jaxrl layouts."""
    _, states = resetter(env)(jax.random.split(jax.random.PRNGKey(seed), BATCH))
    return [take(states, i) for i in range(BATCH)]


# --------------------------------------------------------------------------- playground: every object
def make_object(kind: str, color: str, state: int):
    if kind == "door":
        return Door(color, is_open=state == 0, is_locked=state == 2)
    if kind in ("wall", "lava", "goal"):
        return {"wall": Wall, "lava": Lava, "goal": Goal}[kind]()
    return {"floor": Floor, "key": Key, "ball": Ball, "box": Box}[kind](color)


def random_playground(mg, rng: np.random.Generator, size: int = 9):
    """A walled room of random objects (every type, door state and colour) and a random agent."""
    g = Grid(size, size)
    g.wall_rect(0, 0, size, size)
    kinds = ["empty", "wall", "floor", "door", "key", "ball", "box", "lava", "goal"]
    probs = [0.5, 0.08, 0.05, 0.15, 0.07, 0.05, 0.05, 0.03, 0.02]
    free = []
    for j in range(1, size - 1):
        for i in range(1, size - 1):
            kind, color = rng.choice(kinds, p=probs), COLORS[rng.integers(6)]
            if kind == "empty":
                free.append((i, j))
                continue
            g.set(i, j, make_object(kind, color, int(rng.integers(3))))
    mg.grid = g
    mg.agent_pos = free[rng.integers(len(free))]
    mg.agent_dir = int(rng.integers(4))
    u = rng.random()
    mg.carrying = Key(COLORS[rng.integers(6)]) if u < 0.4 else (Ball("red") if u < 0.5 else None)
    mg.step_count = 0
    return mg


@pytest.mark.parametrize("see_through", [False, True])
def test_playground_every_interaction(see_through, stepper):
    """Every object, door state and colour, carried keys of every colour; occlusion on and off."""
    env = grid.GridEnv(grid.Empty(9), see_through_walls=see_through)
    n_layouts, T = (30, 120) if not see_through else (10, 60)
    rng = np.random.default_rng(1 + see_through)
    mg = EmptyEnv(size=9)
    mg.reset(seed=0)
    mg.see_through_walls = see_through
    events, states, plays = Counter(), [], []
    for _ in range(n_layouts):
        random_playground(mg, rng)
        states.append(interop.state_from_minigrid(mg))
        assert np.array_equal(mg.gen_obs()["image"], np.asarray(env.observe(states[-1])))
        plays.append(play(mg, rng, T, events))
    mine = rollouts(stepper, env, states, [a for a, _ in plays])
    for i, (_, records) in enumerate(plays):
        compare(records, mine[i], f"layout {i}")
    if not see_through:  # the random walks must exercise every interaction
        wanted = ["pickup_key", "pickup_ball", "pickup_box", "drop", "unlock", "locked_wrong_key", "locked_no_key"]
        wanted += ["door_open", "door_close", "box_open", "blocked", "lava", "success"]
        missing = [e for e in wanted if events[e] == 0]
        assert not missing, f"random walks never did {missing}: {dict(events)}"


def test_scripted_key_door_box_goal(stepper):
    """A hand-written episode with hand-computed outcomes, checked against MiniGrid too.

    Wrong key on a locked door, drop, right key unlocks, walk through, open a
    box, reach the goal: reward ``1 - 0.9 * 28 / 196``.
    """
    env = grid.GridEnv(grid.Empty(7), see_through_walls=False)
    mg = EmptyEnv(size=7)
    mg.reset(seed=0)
    mg.see_through_walls = False
    g = Grid(7, 7)
    g.wall_rect(0, 0, 7, 7)
    g.vert_wall(3, 1, 5)
    g.set(3, 1, Door("red", is_locked=True))
    g.set(1, 2, Key("blue"))
    g.set(1, 3, Key("red"))
    g.set(5, 1, Box("green"))
    g.set(5, 3, Goal())
    mg.grid, mg.agent_pos, mg.agent_dir, mg.carrying, mg.step_count = g, (2, 1), 1, None, 0
    state = interop.state_from_minigrid(mg)
    L, R, F, P, D, T = C.LEFT, C.RIGHT, C.FORWARD, C.PICKUP, C.DROP, C.TOGGLE
    script = [F, R, P, R, F, R, T, R, D, R, F, L, F, P, L, L, F, R, F, T, F, F, T, R, F, F, L, F]
    records = []
    for a in script:
        obs, r, te, tr, _ = mg.step(int(a))
        records.append((obs["image"], obs["direction"], r, te, tr, a))
    mine = jax.tree.map(lambda x: x[: len(script)], rollouts(stepper, env, [state], [script])[0])
    compare(records, mine, "script")
    states, reward, terminated = mine[5], np.asarray(mine[2]), np.asarray(mine[3])
    carrying, cells = np.asarray(states.carrying), np.asarray(states.grid)  # cells [t, y, x]
    assert carrying[2] == C.code(C.KEY, C.BLUE)  # picked up the blue key
    assert cells[6, 1, 3] == C.code(C.DOOR_LOCKED, C.RED)  # the blue key does not open the red door
    assert carrying[8] == C.C_EMPTY and cells[8, 2, 2] == C.code(C.KEY, C.BLUE)  # dropped in front
    assert carrying[13] == C.code(C.KEY, C.RED)
    assert cells[19, 1, 3] == C.code(C.DOOR_OPEN, C.RED)  # unlocked and opened by the red key
    assert cells[22, 1, 5] == C.C_EMPTY  # the box opened (nothing inside)
    assert np.all(reward[:-1] == 0) and reward[-1] == pytest.approx(1 - 0.9 * 28 / 196)
    assert terminated[-1] and not terminated[:-1].any()


# --------------------------------------------------------------------------- every task
def task_parity(env_id: str, make_grid, stepper, resetter, episodes: int = 2, seed: int = 0, T: int = HORIZON):
    env, params = make_grid(env_id)
    rng = np.random.default_rng(seed)
    mg = gym.make(env_id).unwrapped
    events, states, plays = Counter(), [], []
    ours = reset_states(resetter, env, seed) * ((episodes + BATCH - 1) // BATCH)
    for e in range(2 * episodes):
        mg.reset(seed=seed * 100 + e)
        if e < episodes:  # MiniGrid's layout into jaxrl
            state = interop.state_from_minigrid(mg, (env.task.height, env.task.width))
        else:  # jaxrl's layout into MiniGrid
            state = ours[e - episodes]
            interop.load_into_minigrid(state, mg)
        assert np.array_equal(mg.gen_obs()["image"], np.asarray(env.observe(state))), f"{env_id} episode {e} reset"
        states.append(state)
        plays.append(play(mg, rng, min(int(params.max_steps), T), events))
    mine = rollouts(stepper, env, states, [a for a, _ in plays], T)
    for i, (_, records) in enumerate(plays):
        compare(records, mine[i], f"{env_id} episode {i}")
    return events


@pytest.mark.parametrize("env_id", DEFAULT_IDS)
def test_task_parity(env_id, make_grid, stepper, resetter):
    task_parity(env_id, make_grid, stepper, resetter)


@pytest.mark.slow
@pytest.mark.parametrize("env_id", SLOW_IDS + DEFAULT_IDS)
def test_task_parity_all_ids_long(env_id, make_grid, stepper, resetter):
    task_parity(env_id, make_grid, stepper, resetter, episodes=10, seed=7, T=400)


def _face(target, codes) -> list[tuple[np.ndarray, int]]:
    """Poses ``(pos, dir)`` next to ``target`` facing it, on an empty cell or a door (to clear)."""
    poses = []
    for d, (dx, dy) in enumerate(C.DIR_TO_VEC):
        x, y = int(target[0]) - dx, int(target[1]) - dy
        if 0 <= y < codes.shape[0] and 0 <= x < codes.shape[1]:
            oid = codes[y, x] & 15
            if codes[y, x] == C.C_EMPTY or oid in (C.DOOR_OPEN, C.DOOR_CLOSED, C.DOOR_LOCKED):
                poses.append((np.array([x, y], np.int32), d))
    return sorted(poses, key=lambda p: codes[p[0][1], p[0][0]] != C.C_EMPTY)  # empty cells first


# (id, cell to face, carry the key of that door, action, success or failure)
SUCCESS_CASES = [
    ("MiniGrid-DoorKey-5x5-v0", "goal", False, C.FORWARD, "success"),
    ("MiniGrid-LavaGapS5-v0", "lava", False, C.FORWARD, "failure"),
    ("MiniGrid-Unlock-v0", "door", True, C.TOGGLE, "success"),
    ("MiniGrid-UnlockPickup-v0", "target", False, C.PICKUP, "success"),
    ("MiniGrid-KeyCorridorS3R2-v0", "target", False, C.PICKUP, "success"),
    ("MiniGrid-MemoryS7-v0", "target_pos", False, C.FORWARD, "success"),
    ("MiniGrid-MemoryS7-v0", "failure_pos", False, C.FORWARD, "failure"),
]


@pytest.mark.parametrize("case", SUCCESS_CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_task_success_and_failure_rules(case, make_grid, stepper, resetter):
    """Put the agent just before each task's success (or failure) and compare the final step."""
    env_id, what, with_key, action, outcome = case
    env, params = make_grid(env_id)
    mg = gym.make(env_id).unwrapped
    done = 0
    for s in reset_states(resetter, env, 3):
        codes = np.asarray(s.grid)
        if what in ("target_pos", "failure_pos"):
            target = np.asarray(getattr(s, what))
        elif what == "target":
            target = np.argwhere(codes == int(s.target))[0][::-1]
        else:
            oid = {"goal": C.GOAL, "lava": C.LAVA, "door": C.DOOR_LOCKED}[what]
            target = np.argwhere((codes & 15) == oid)[0][::-1]
        poses = _face(target, codes)
        if not poses:
            continue
        pos, d = poses[0]
        carrying = C.code(C.KEY, int(codes[target[1], target[0]]) >> 4) if with_key else C.C_EMPTY
        cleared = s.grid.at[pos[1], pos[0]].set(C.C_EMPTY)  # e.g. KeyCorridor: the locked door before the ball
        s = s.replace(grid=cleared, agent_pos=jnp.asarray(pos), agent_dir=jnp.int32(d), carrying=jnp.uint8(carrying))
        mg.reset(seed=0)
        interop.load_into_minigrid(s, mg)
        obs, r, te, tr, _ = mg.step(int(action))
        mine = rollouts(stepper, env, [s], [[action]])[0]
        compare([(obs["image"], obs["direction"], r, te, tr, action)], mine, f"{env_id} {what}")
        assert te, f"{env_id}: {what} should end the episode"
        assert (r > 0) == (outcome == "success")
        if outcome == "success":
            assert float(np.asarray(mine[2])[0]) == pytest.approx(1 - 0.9 / int(params.max_steps))
        done += 1
    assert done >= 1, f"no layout of {env_id} allowed the scenario"


def test_full_observation_matches_fully_obs_wrapper(make_grid, resetter, stepper):
    from minigrid.wrappers import FullyObsWrapper

    env, params = make_grid("MiniGrid-DoorKey-6x6-v0", "full")
    rng = np.random.default_rng(0)
    for s in reset_states(resetter, env, 0)[:2]:
        wrapped = FullyObsWrapper(gym.make("MiniGrid-DoorKey-6x6-v0"))
        wrapped.reset(seed=0)
        interop.load_into_minigrid(s, wrapped.unwrapped)
        assert np.array_equal(wrapped.observation({})["image"], np.asarray(env.observe(s)))
        actions = rng.integers(0, 7, size=30).astype(np.int32)
        mine = rollouts(stepper, env, [s], [actions])[0]
        for t, a in enumerate(actions):
            obs, *_ = wrapped.step(int(a))
            assert np.array_equal(obs["image"], np.asarray(mine[0])[t]), f"step {t}"
