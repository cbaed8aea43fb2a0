"""Random-action environment throughput: steps per second of every registered
environment, and raw gymnax side by side with jaxrl's adapter.

    python -m benchmarks.env_throughput                  # all envs at 1, 64, 4096 parallel envs
    python -m benchmarks.env_throughput --quick          # sizes 1 and 64, short scans
    python -m benchmarks.env_throughput --envs CartPole-v1 --sizes 4096 --steps 2000
    python -m benchmarks.env_throughput --compare-only --reset-batch-sweep

Each measurement jits ``lax.scan`` over ``L`` batched steps with random actions
drawn from the action space (the same sampler for every contender), where
``L = min(--steps, --max-call-steps // num_envs)`` (at least 10) bounds the work
of one call; it is shortened further when the rate measured at a smaller size
predicts a call longer than ``--max-call-seconds``. It reports compile seconds
(first call minus the first timed call) and ``num_envs * L / best_call_seconds``
over up to ``--repeats`` timed calls (no new call once ``--budget`` seconds were
spent). jaxrl rows step
:class:`jaxrl.VecEnv` with auto-reset; "raw gymnax" rows ``jax.vmap`` gymnax's
own ``env.step`` (which computes a reset on every step and selects it where
done). Contenders compared with each other are timed round-robin, so they see
the same machine load. Brax environments compile slowly (about a minute each on
2 cores), so they run at ``--brax-sizes`` with at most ``--brax-steps`` steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

import jaxrl
from benchmarks.common import Timing, print_table, time_interleaved, write_result

COMPARE = ("CartPole-v1", "Pendulum-v1", "Breakout-MinAtar")
SLOW_FAMILIES = ("brax",)


@dataclass(frozen=True)
class Budget:
    steps: int = 1000  # scan length cap
    max_call_steps: int = 2**20  # num_envs * scan length cap per call
    repeats: int = 5
    budget_s: float = 10.0

    max_call_s: float = 20.0  # predicted seconds per call cap (from a smaller size's rate)

    def scan_len(self, n: int, rate: float | None = None) -> int:
        """Scan length for ``n`` envs; ``rate`` (steps/s measured at a smaller size) shortens slow envs."""
        L = min(self.steps, self.max_call_steps // n)
        if rate:
            L = min(L, int(self.max_call_s * rate / n))
        return max(10, L)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(float(s)) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return sizes


def _sample_actions(space: jaxrl.spaces.Space, key: jax.Array, n: int) -> Any:
    return jax.vmap(space.sample)(jax.random.split(key, n))  # [n, *action]


def _scan_runner(step_batch: Callable, space: jaxrl.spaces.Space, n: int, steps: int) -> Callable:
    """jit(key, state) -> (state, reward sum): ``steps`` batched random-action steps under ``lax.scan``."""

    def body(carry, key):
        state, total = carry
        k_act, k_env = jax.random.split(key)
        state, reward = step_batch(k_env, state, _sample_actions(space, k_act, n))
        return (state, total + jnp.sum(reward)), None

    @jax.jit
    def run(key, state):
        (state, total), _ = jax.lax.scan(body, (state, jnp.float32(0.0)), jax.random.split(key, steps))
        return state, total

    return run


def jaxrl_runner(env, params, n: int, steps: int, reset_mode: str | None = None, reset_batch: int | None = None):
    """``(run, state0, venv)`` for ``VecEnv(env, n, reset_mode, reset_batch)``."""
    venv = jaxrl.VecEnv(env, n, reset_mode=reset_mode, reset_batch=reset_batch)

    def step_batch(key, state, action):
        out = venv.step(key, state, action, params)
        return out.state, out.reward

    _, state0 = jax.jit(venv.reset)(jax.random.PRNGKey(0), params)
    return _scan_runner(step_batch, venv.action_space(params), n, steps), state0, venv


def gymnax_runner(gymnax_id: str, n: int, steps: int):
    """``(run, state0)`` stepping gymnax's own ``env.step`` under ``jax.vmap``."""
    import gymnax

    genv, params = gymnax.make(gymnax_id)
    space = jaxrl.spaces.from_gymnax(genv.action_space(params))  # same sampler as the jaxrl rows
    vstep = jax.vmap(genv.step, in_axes=(0, 0, 0, None))

    def step_batch(key, state, action):
        out = vstep(jax.random.split(key, n), state, action, params)
        return out[1], out[2]

    _, state0 = jax.jit(jax.vmap(genv.reset, in_axes=(0, None)))(jax.random.split(jax.random.PRNGKey(0), n), params)
    return _scan_runner(step_batch, space, n, steps), state0


def _rates(t: Timing, n: int, steps: int) -> dict[str, Any]:
    return {
        "steps": steps,
        "compile_s": round(t.compile_s, 2),
        "calls": t.repeats,
        "steps_per_s": n * steps / t.run_s,
        "median_steps_per_s": n * steps / t.median_s,
    }


def measure(runners: dict[str, tuple[Callable, Any]], n: int, steps: int, b: Budget) -> dict[str, dict[str, Any]]:
    """``{name: rates}`` for runners ``{name: (run, state0)}`` timed round-robin."""
    key = jax.random.PRNGKey(1)
    times = time_interleaved({k: (run, (key, s0)) for k, (run, s0) in runners.items()}, b.repeats, b.budget_s)
    return {k: _rates(t, n, steps) for k, t in times.items()}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_compare(ids, sizes, b: Budget, reset_batch=None) -> list[dict[str, Any]]:
    """Raw gymnax vs jaxrl VecEnv (default mode) vs VecEnv(reset_mode="always"), timed round-robin."""
    rows = []
    for env_id in ids:
        env, params = jaxrl.make(env_id)
        for n in sizes:
            L = b.scan_len(n)
            run, s0, venv = jaxrl_runner(env, params, n, L, reset_batch=reset_batch)
            runners = {
                "gymnax": gymnax_runner(getattr(env, "gymnax_id", env_id), n, L),
                "jaxrl": (run, s0),
                "always": jaxrl_runner(env, params, n, L, reset_mode="always")[:2],
            }
            m = measure(runners, n, L, b)
            raw, ours, always = m["gymnax"], m["jaxrl"], m["always"]
            mode = f"optimistic/{venv.reset_batch}" if venv.reset_mode == "optimistic" else "always"
            rows.append(
                {
                    "env": env_id,
                    "num_envs": n,
                    "steps": L,
                    "gymnax_steps_per_s": raw["steps_per_s"],
                    "jaxrl_steps_per_s": ours["steps_per_s"],
                    "jaxrl_mode": mode,
                    "always_steps_per_s": always["steps_per_s"],
                    "ratio": round(ours["steps_per_s"] / raw["steps_per_s"], 2),
                    "ratio_always": round(always["steps_per_s"] / raw["steps_per_s"], 2),
                    "gymnax_compile_s": raw["compile_s"],
                    "jaxrl_compile_s": ours["compile_s"],
                    "_jaxrl": ours,
                }
            )
            _log(f"  compare {env_id} n={n}: gymnax {raw['steps_per_s']:.3g}/s, jaxrl {ours['steps_per_s']:.3g}/s")
    return rows


def run_all(ids, sizes, b: Budget, args, measured: dict) -> list[dict[str, Any]]:
    """jaxrl VecEnv (default reset mode) for every id and size; reuses rows already measured."""
    rows = []
    for env_id in ids:
        spec = jaxrl.spec(env_id)
        slow = spec.family in SLOW_FAMILIES
        env_sizes = [n for n in sizes if n in args.brax_sizes] if slow else sizes
        eb = dataclasses.replace(b, steps=min(b.steps, args.brax_steps)) if slow else b
        rate = None  # best steps/s so far at a smaller size (sizes ascending)
        note = f"{spec.family}: sizes {','.join(map(str, args.brax_sizes))} only (slow compile)" if slow else ""
        try:
            env, params = spec.make()
        except Exception as e:  # an optional family that cannot be built here
            rows.append({"env": env_id, "family": spec.family, "note": f"build failed: {type(e).__name__}: {e}"})
            continue
        for n in sorted(env_sizes):
            if (env_id, n) in measured:
                r = measured[(env_id, n)]
            else:
                L = eb.scan_len(n, rate)
                run, s0, _ = jaxrl_runner(env, params, n, L, reset_batch=args.reset_batch)
                r = measure({"jaxrl": (run, s0)}, n, L, eb)["jaxrl"]
                _log(f"  {env_id} n={n}: {r['steps_per_s']:.3g} steps/s (compile {r['compile_s']:.1f}s)")
            rate = max(rate or 0.0, r["steps_per_s"])
            rows.append({"env": env_id, "family": spec.family, "num_envs": n, **r, "note": note})
    return rows


def reset_batch_sweep(ids, n, b: Budget, fractions=(64, 32, 16, 8, 4, 2)) -> list[dict[str, Any]]:
    """Optimistic-mode steps/s for ``reset_batch = n // f`` and for "always", at one size, timed round-robin."""
    rows = []
    L = b.scan_len(n)
    for env_id in ids:
        env, params = jaxrl.make(env_id)
        runners = {}
        for f in fractions:
            if n // f >= 1 and f"rb={n // f}" not in runners:
                runners[f"rb={n // f}"] = jaxrl_runner(env, params, n, L, "optimistic", n // f)[:2]
        runners["always"] = jaxrl_runner(env, params, n, L, reset_mode="always")[:2]
        m = measure(runners, n, L, b)
        rows.append({"env": env_id, "num_envs": n, **{k: v["steps_per_s"] for k, v in m.items()}})
        _log(f"  sweep {env_id} n={n}: done")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.env_throughput", description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", nargs="+", help="environment ids (default: every registered id)")
    p.add_argument("--family", help="only environments of this family")
    p.add_argument("--sizes", type=_sizes, default=[1, 64, 4096], help="parallel environments, comma-separated")
    p.add_argument("--steps", type=int, default=1000, help="max scan length (steps per environment per call)")
    p.add_argument("--max-call-steps", type=int, default=2**20, help="max num_envs * scan length per call")
    p.add_argument("--repeats", type=int, default=5, help="max timed calls after the compile call (best reported)")
    p.add_argument("--budget", type=float, default=10.0, help="seconds of timed calls per measurement")
    p.add_argument(
        "--max-call-seconds",
        type=float,
        default=20.0,
        help="shorten scans predicted (from a smaller size) to be longer",
    )
    p.add_argument("--quick", action="store_true", help="sizes <= 64, 200 steps, 2 repeats")
    p.add_argument("--brax-sizes", type=_sizes, default=[64], help="sizes for slow-compiling families (brax)")
    p.add_argument("--brax-steps", type=int, default=100, help="max scan length for slow-compiling families")
    p.add_argument("--compare-only", action="store_true", help="only the raw-gymnax comparison")
    p.add_argument("--no-compare", action="store_true", help="skip the raw-gymnax comparison")
    p.add_argument("--reset-batch", type=int, help="VecEnv reset_batch for optimistic mode (default num_envs // 8)")
    p.add_argument("--reset-batch-sweep", action="store_true", help="sweep reset_batch at every size (compare envs)")
    p.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/*.json")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes = [n for n in args.sizes if n <= 64] or [1, 64]
        args.steps, args.repeats = min(args.steps, 200), 2
    if min(args.steps, args.repeats, args.max_call_steps) < 1 or args.budget <= 0:
        p.error("--steps, --repeats, --max-call-steps and --budget must be positive")
    b = Budget(args.steps, args.max_call_steps, args.repeats, args.budget, args.max_call_seconds)

    ids = args.envs or jaxrl.list_envs(args.family)
    for env_id in ids:
        jaxrl.spec(env_id)  # clear error for unknown ids before any compile
    compare_ids = [i for i in COMPARE if i in ids] if args.envs or args.family else list(COMPARE)
    print(
        f"jax {jax.__version__} on {jax.devices()[0].device_kind}; steps/s = num_envs * steps / best call "
        f"(steps = min({args.steps}, {args.max_call_steps} // num_envs))",
        flush=True,
    )

    record: dict[str, Any] = {"args": vars(args)}
    measured: dict = {}
    if compare_ids and not args.no_compare:
        cmp_rows = run_compare(compare_ids, args.sizes, b, args.reset_batch)
        for r in cmp_rows:
            measured[(r["env"], r["num_envs"])] = r.pop("_jaxrl")
        print_table(cmp_rows, title="\nraw gymnax (vmap env.step) vs jaxrl VecEnv (default mode / reset_mode='always')")
        record["compare"] = cmp_rows
    if not args.compare_only:
        rows = run_all(ids, args.sizes, b, args, measured)
        cols = ["env", "family", "num_envs", "steps", "compile_s", "steps_per_s", "median_steps_per_s", "note"]
        print_table(rows, cols, title="\njaxrl VecEnv (default reset mode), random actions")
        record["rows"] = rows
    if args.reset_batch_sweep:
        sweep = [r for n in args.sizes if n >= 8 for r in reset_batch_sweep(compare_ids or ids[:3], n, b)]
        print_table(sweep, title="\nsteps/s vs VecEnv reset_batch (rb; optimistic mode) and reset_mode='always'")
        record["reset_batch_sweep"] = sweep
    if not args.no_write:
        write_result("env_throughput", record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
