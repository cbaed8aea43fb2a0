"""Gridworld throughput: random-action steps per second with 4096 parallel
environments and auto-reset (``jaxrl.VecEnv``), per task, next to the
XLand-MiniGrid figures measured on the same 2-core machine kind.

    python -m benchmarks.grid                         # every grid id, 4096 envs
    python -m benchmarks.grid --envs MiniGrid-DoorKey-8x8-v0 --num-envs 1024 --steps 200
    python -m benchmarks.grid --learning              # also PPO on Empty-8x8 and DoorKey-5x5
    python -m benchmarks.grid --xland                 # also time XLand-MiniGrid here (needs `xminigrid`)

Each row jits ``lax.scan`` over ``--steps`` batched steps whose carry holds
the env state *and the observation* (so the observation is computed, as in a
rollout) and reports ``num_envs * steps / best_seconds`` and the CPU time per
environment step (all threads; unlike wall time, barely affected by other load). ``vs_xland`` is the
ratio to XLand-MiniGrid (same task, 4096 envs, random actions, auto-reset):
measured in the same run with ``--xland`` when ``xminigrid`` is importable
(its ``GymAutoResetWrapper``, the same scan and carry), else the reference
figures in ``XLAND``. ``--reset-batch auto`` (default) sizes VecEnv's lazy
reset batch from the expected number of episode ends per step.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl
from benchmarks.common import print_table, time_jitted, write_result

# XLand-MiniGrid steps/s on this 2-core machine kind (4096 envs, random actions, auto-reset).
XLAND = {
    "MiniGrid-Empty-8x8-v0": 2.0e6,
    "MiniGrid-DoorKey-8x8-v0": 1.27e6,
    "MiniGrid-FourRooms-v0": 0.25e6,
}
# PPO runs: (timesteps, mean-return bar over the last tenth of training), as tests/envs/grid/test_grid_learning.py.
LEARNING = {"MiniGrid-Empty-8x8-v0": (200_000, 0.9), "MiniGrid-DoorKey-5x5-v0": (300_000, 0.8)}
PPO_SETTINGS = dict(num_envs=16, num_steps=128, lr=7e-4, update_epochs=4, num_minibatches=4)


XLAND_IDS = {"MiniGrid-Empty-8x8-v0": "MiniGrid-Empty-8x8", "MiniGrid-DoorKey-8x8-v0": "MiniGrid-DoorKey-8x8"}
XLAND_IDS["MiniGrid-FourRooms-v0"] = "MiniGrid-FourRooms"


def auto_reset_batch(num_envs: int, max_steps: int) -> int:
    """Lazy-reset batch: a power of two near twice the mean number of truncations per step."""
    want = max(32, 2 * num_envs // max(int(max_steps), 1))
    return min(num_envs, 1 << (want - 1).bit_length())


def xland_runner(env_id: str, num_envs: int, steps: int):
    """The same benchmark for XLand-MiniGrid (``xminigrid``): vmapped auto-reset step, timestep carried."""
    import xminigrid
    from xminigrid.wrappers import GymAutoResetWrapper

    env, params = xminigrid.make(XLAND_IDS[env_id])
    env = GymAutoResetWrapper(env)
    n_actions = env.num_actions(params)
    step = jax.vmap(env.step, in_axes=(None, 0, 0))

    def body(carry, key):
        timestep, total = carry
        action = jax.random.randint(key, (num_envs,), 0, n_actions)
        timestep = step(params, timestep, action)
        return (timestep, total + jnp.sum(timestep.reward)), None

    @jax.jit
    def run(key, carry):
        return jax.lax.scan(body, carry, jax.random.split(key, steps))[0]

    reset = jax.jit(jax.vmap(env.reset, in_axes=(None, 0)))
    timestep = reset(params, jax.random.split(jax.random.PRNGKey(0), num_envs))
    return run, (timestep, jnp.float32(0.0))


def runner(env_id: str, num_envs: int, steps: int, reset_batch: int | None):
    """``(run, carry0, venv)``: ``run(key, carry)`` scans ``steps`` random-action VecEnv steps."""
    env, params = jaxrl.make(env_id)
    if reset_batch is None:
        reset_batch = auto_reset_batch(num_envs, jaxrl.spec(env_id).max_episode_steps)
    venv = jaxrl.VecEnv(env, num_envs, reset_batch=reset_batch)
    n_actions = venv.action_space(params).n

    def body(carry, key):
        state, obs, total = carry
        k_act, k_env = jax.random.split(key)
        action = jax.random.randint(k_act, (num_envs,), 0, n_actions)
        out = venv.step(k_env, state, action, params)
        return (out.state, out.obs, total + jnp.sum(out.reward)), None

    @jax.jit
    def run(key, carry):
        return jax.lax.scan(body, carry, jax.random.split(key, steps))[0]

    obs, state = jax.jit(venv.reset)(jax.random.PRNGKey(0), params)
    return run, (state, obs, jnp.float32(0.0)), venv


def throughput(env_ids, num_envs, steps, repeats, reset_batch, xland_here=False) -> list[dict[str, Any]]:
    rows = []
    for env_id in env_ids:
        run, carry, venv = runner(env_id, num_envs, steps, reset_batch)
        t = time_jitted(run, jax.random.PRNGKey(1), carry, repeats=repeats)
        sps = num_envs * steps / t.run_s
        c0 = time.process_time()  # CPU seconds over all threads: robust to other load on the machine
        jax.block_until_ready(run(jax.random.PRNGKey(2), carry))
        cpu_ns = (time.process_time() - c0) / (num_envs * steps) * 1e9
        xland = XLAND.get(env_id)
        if xland_here and env_id in XLAND_IDS:
            x_run, x_carry = xland_runner(env_id, num_envs, steps)
            xland = num_envs * steps / time_jitted(x_run, jax.random.PRNGKey(1), x_carry, repeats=repeats).run_s
        rows.append(
            {
                "env": env_id,
                "num_envs": num_envs,
                "reset_batch": venv.reset_batch,
                "steps_per_s": sps,
                "median_steps_per_s": num_envs * steps / t.median_s,
                "cpu_ns_per_step": round(cpu_ns, 1),
                "compile_s": round(t.compile_s, 2),
                "xland_steps_per_s": xland,
                "vs_xland": round(sps / xland, 2) if xland else None,
            }
        )
        print(f"  {env_id}: {sps:.3g} steps/s (compile {t.compile_s:.1f}s)", file=sys.stderr, flush=True)
    return rows


def learning(seed: int = 0, scale: float = 1.0) -> list[dict[str, Any]]:
    """PPO (``jaxrl.agents.ppo``, MLP on flattened views) on the learning tasks: final mean return vs bar."""
    from jaxrl.agents import ppo

    rows = []
    for env_id, (timesteps, bar) in LEARNING.items():
        cfg = ppo.Config(env_id=env_id, total_timesteps=int(timesteps * scale), **PPO_SETTINGS)
        t0 = time.perf_counter()
        _, metrics = jax.block_until_ready(jax.jit(ppo.make_train(cfg))(jax.random.PRNGKey(seed)))
        ret = np.asarray(metrics["episode_return"])
        final = float(np.nanmean(ret[-max(1, len(ret) // 10) :]))
        rows.append(
            {
                "env": env_id,
                "timesteps": cfg.total_timesteps,
                "final_return": round(final, 3),
                "bar": bar,
                "solved": final > bar,
                "wall_s": round(time.perf_counter() - t0, 1),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.grid", description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", nargs="+", help="grid ids (default: every grid id)")
    p.add_argument("--num-envs", type=int, default=4096)
    p.add_argument("--steps", type=int, default=500, help="scan length per timed call")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--reset-batch", type=int, help="VecEnv reset_batch (default: auto_reset_batch)")
    p.add_argument("--xland", action="store_true", help="time XLand-MiniGrid in this run (needs xminigrid)")
    p.add_argument("--learning", action="store_true", help="also train PPO on Empty-8x8 and DoorKey-5x5")
    p.add_argument("--ppo-scale", type=float, default=1.0, help="multiply the PPO timestep budgets")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    env_ids = args.envs or jaxrl.list_envs("grid")
    rows = throughput(env_ids, args.num_envs, args.steps, args.repeats, args.reset_batch, args.xland)
    print_table(rows, title=f"grid: random actions, {args.num_envs} envs, auto-reset")
    record: dict[str, Any] = {"rows": rows, "args": vars(args)}
    if args.learning:
        lrows = learning(seed=0, scale=args.ppo_scale)
        print_table(lrows, title="grid: PPO")
        record["learning"] = lrows
    if not args.no_write:
        write_result("grid", record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
