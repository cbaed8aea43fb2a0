"""Fin-ray propulsion benchmark: throughput, best sinusoid vs learned (PPO) actuation.

    python -m benchmarks.finray                      # everything (about 15-25 min on 2 CPU cores)
    python -m benchmarks.finray --quick              # small grid, 2 seeds, short training
    python -m benchmarks.finray --skip-learning      # throughput and sinusoid search only
    python -m benchmarks.finray --ids FinPlate-Thrust-v1 FinRay-Mixed-v1 --seeds 4
    python -m benchmarks.finray --calibrated         # sinusoid vs PPO vs lagged SAC, 8 seeds; MO front vs SO
    python -m benchmarks.finray --calibrated --quick # the same, tiny budgets (a smoke run)

1. Throughput: random-action control steps per second of :class:`jaxrl.VecEnv` at
   ``--num-envs`` (default 4096) for each tier (and KS-v0 at ``--ks-envs``).
2. Baseline: :func:`jaxrl.envs.finray.sinusoid_search` over amplitude x phase x
   frequency ratio for each tier (heat maps in ``benchmarks/results/``).
3. Learning: PPO per objective, ``--seeds`` seeds vmapped in one program; each seed's
   score is the mean reward per step of its deterministic policy over
   ``--eval-episodes`` episodes, the same score the grid search maximises. The table
   gives the mean over seeds with a 95% stratified-bootstrap interval
   (:func:`jaxrl.stats.stratified_bootstrap_ci`) next to the best sinusoid
   re-evaluated on fresh episodes, plus the physical efficiency ``<C_T>/<C_P>`` of one
   episode of each (a check that no objective is gamed); a figure shows each learned
   actuation signal against the best sinusoid.
4. ``--calibrated`` (:func:`calibrated`, JSON ``finray-calibrated-*``):
   on the calibrated ``-v1`` tiers, per objective (thrust, efficiency, mixed): the best
   sinusoid, PPO and SAC with actor lag (``--lag``), ``--seeds`` seeds with bootstrap
   intervals; and the multi-objective search (:mod:`jaxrl.meta.multiobjective`, PBT by
   hypervolume contribution and random search over PPO hyperparameters and the weights
   of (thrust, efficiency, lateral)) against single-objective tuning of each objective
   at equal total budget: hypervolume of the final fronts with intervals over seeds,
   and a plot of the fronts.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl
from benchmarks.common import RESULTS_DIR, print_table, time_jitted, write_result
from jaxrl import stats
from jaxrl.envs.finray import FIN_IDS, evaluate_sinusoid, sinusoid_search
from jaxrl.envs.finray.common import open_loop

FREQUENCIES = (0.5, 1.0, 1.5, 2.0, 3.0)


# --------------------------------------------------------------------------- throughput
def throughput(env_id: str, num_envs: int, steps: int, repeats: int = 3) -> dict[str, Any]:
    """Random-action steps/s of ``VecEnv(env, num_envs)`` with auto-reset, under one jitted ``lax.scan``."""
    env, params = jaxrl.make(env_id)
    venv = jaxrl.VecEnv(env, num_envs)
    space = env.action_space(params)
    low, high = jnp.asarray(space.low, jnp.float32), jnp.asarray(space.high, jnp.float32)

    def body(carry, key):
        state, total = carry
        k_act, k_env = jax.random.split(key)
        action = jax.random.uniform(k_act, (num_envs, *space.shape), minval=low, maxval=high)
        out = venv.step(k_env, state, action, params)
        return (out.state, total + jnp.sum(out.reward)), None

    @jax.jit
    def run(key, state):
        return jax.lax.scan(body, (state, jnp.float32(0.0)), jax.random.split(key, steps))[0]

    _, state = jax.jit(venv.reset)(jax.random.PRNGKey(0), params)
    t = time_jitted(run, jax.random.PRNGKey(1), state, repeats=repeats)
    return {
        "env": env_id,
        "num_envs": num_envs,
        "steps": steps,
        "compile_s": t.compile_s,
        "steps_per_s": num_envs * steps / t.run_s,
        "median_steps_per_s": num_envs * steps / t.median_s,
    }


# --------------------------------------------------------------------------- learning
def ppo_config(env_id: str, total_timesteps: int):
    from jaxrl.agents import ppo

    return ppo.Config(
        env_id=env_id,
        total_timesteps=total_timesteps,
        num_envs=64,
        num_steps=100,
        update_epochs=4,
        num_minibatches=4,
        lr=1e-3,
        gamma=0.95,
        gae_lambda=0.95,
        ent_coef=0.0,
        normalize_obs=True,
        normalize_reward=True,
        init_log_std=-0.5,
    )


def physical_means(infos: dict[str, Any]) -> dict[str, float]:
    """Episode means of the force coefficients and the ratio efficiency ``<C_T> / <C_P>``."""
    ct, cp = float(np.mean(infos["thrust_coef"])), float(np.mean(infos["power_coef"]))
    return {"C_T": ct, "C_P": cp, "eta": ct / cp, "C_Y2": float(np.mean(infos["lateral_sq_coef"]))}


def learned_episode(agent, runner_state, env_id: str) -> tuple[np.ndarray, dict[str, float]]:
    """Commanded actuation ``[T]`` of the deterministic policy over one episode from phase 0, and its means."""
    env, params = jaxrl.make(env_id, random_phase=0.0)
    obs, state = env.reset_env(jax.random.PRNGKey(0), params)

    def body(carry, _):
        obs, state = carry
        a = agent.policy(runner_state.params, agent.normalize(runner_state.obs_stats, obs[None])).mode()[0]
        a = jnp.clip(a, -1.0, 1.0)
        out = env.step_env(jax.random.PRNGKey(0), state, a, params)
        return (out.obs, out.state), (a[0], out.info)

    run = jax.jit(lambda: jax.lax.scan(body, (obs, state), None, length=int(params.max_steps))[1])
    signal, infos = jax.device_get(run())
    return np.asarray(signal), physical_means(infos)


def sinusoid_episode(env_id: str, best: dict[str, float]) -> dict[str, float]:
    """Force-coefficient means of the best sinusoid over one episode from phase 0."""
    env, params = jaxrl.make(env_id, random_phase=0.0)
    _, state = env.reset_env(jax.random.PRNGKey(0), params)
    k = np.arange(int(params.max_steps))
    theta = float(state.theta) + (k + 0.5) * 2 * np.pi / float(params.steps_per_cycle)
    u = best["amplitude"] * np.sin(best["frequency"] * theta + best["phase"])
    _, infos, _ = jax.jit(open_loop, static_argnums=0)(env, params, state, jnp.asarray(u, jnp.float32)[:, None])
    return physical_means(jax.device_get(infos))


def learn(env_id: str, seeds: int, timesteps: int, eval_episodes: int) -> dict[str, Any]:
    from jaxrl.agents import ppo

    agent = ppo.PPO(ppo_config(env_id, timesteps))
    train = agent.make_train()
    t0 = time.perf_counter()
    states, metrics = jax.jit(jax.vmap(train))(jax.random.split(jax.random.PRNGKey(0), seeds))
    jax.block_until_ready(metrics)
    train_s = time.perf_counter() - t0
    max_steps = jaxrl.spec(env_id).max_episode_steps
    evaluate = jax.jit(jax.vmap(lambda k, s: agent.evaluate(k, s, eval_episodes)))
    returns = np.asarray(evaluate(jax.random.split(jax.random.PRNGKey(123), seeds), states))  # [S, E]
    per_seed = returns.mean(1) / max_steps
    first = jax.tree.map(lambda x: x[0], states)
    signal, means = learned_episode(agent, first, env_id)
    curve = np.asarray(metrics["episode_return"]) / max_steps  # [S, updates]
    return {
        "scores": per_seed,
        "train_s": train_s,
        "signal": signal,
        "means": means,
        "curve": curve,
        "env_steps": np.asarray(metrics["env_steps"])[0] if "env_steps" in metrics else None,
    }


def plot_signals(signals: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    import matplotlib.pyplot as plt

    from jaxrl import plots

    ids = list(signals)
    cols = 4
    rows = (len(ids) + cols - 1) // cols
    with plt.rc_context(plots._STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
        for ax, env_id in zip(axes.ravel(), ids, strict=False):
            s = signals[env_id]
            ax.step(s["t"], s["learned"], where="mid", lw=2, label="learned (PPO)")
            ax.step(s["t"], s["sinusoid"], where="mid", lw=1.5, ls="--", label="best sinusoid")
            ax.set_title(env_id, fontsize=10)
            ax.set_xlabel("time / beat period")
            ax.set_ylim(-1.1, 1.1)
        for ax in axes.ravel()[len(ids) :]:
            ax.axis("off")
        axes[0, 0].set_ylabel("commanded offset u")
        axes[0, 0].legend(loc="lower left", fontsize=8)
        plots._finish(fig, path)


def _nanmean(curve: np.ndarray) -> np.ndarray:
    """Mean over seeds per update; NaN where no seed finished an episode in that update."""
    finite = np.isfinite(curve)
    total = np.where(finite, curve, 0.0).sum(0)
    return np.where(finite.any(0), total / np.maximum(finite.sum(0), 1), np.nan)


def _fmt_sinusoid(best: dict[str, float]) -> str:
    return f"({best['amplitude']:.2g}, {np.degrees(best['phase']):.0f}deg, {best['frequency']:g})"


# --------------------------------------------------------------------------- main
# --------------------------------------------------------------------------- --calibrated
CAL_OBJECTIVES = ("thrust", "efficiency", "mixed")


def _ci(x: np.ndarray) -> tuple[float, float, float]:
    return stats.stratified_bootstrap_ci(np.asarray(x, np.float64)[:, None], stats.mean) if len(x) > 1 else (
        float(np.mean(x)), float("nan"), float("nan"))


def sac_scores(env_id: str, seeds: int, timesteps: int, lag: int, eval_episodes: int) -> np.ndarray:
    """Per-seed mean reward/step of SAC's greedy policy with actor lag ``lag`` (seeds vmapped)."""
    from jaxrl.agents import sac

    cfg = sac.Config(env_id=env_id, total_timesteps=timesteps, num_envs=8, gradient_steps=4, gamma=0.95,
                     learning_starts=min(2_000, timesteps // 4), actor_lag=lag)
    agent = jaxrl.make_agent("sac", cfg)
    states, _ = jax.jit(jax.vmap(agent.make_train()))(jax.random.split(jax.random.PRNGKey(0), seeds))
    ev = jax.jit(jax.vmap(lambda k, s: agent.evaluate(k, s, eval_episodes)))(
        jax.random.split(jax.random.PRNGKey(123), seeds), states)
    return np.asarray(ev).mean(1) / jaxrl.spec(env_id).max_episode_steps


def mo_runs(tier: str, args: Any) -> dict[str, Any]:
    """MO search (PBT by hypervolume contribution; random search) vs single-objective groups, equal budget."""
    from jaxrl.agents import ppo
    from jaxrl.envs.finray import Scalarized, ScalarizedParams
    from jaxrl.envs.finray.common import VECTOR_OBJECTIVES
    from jaxrl.meta import multiobjective as mo
    from jaxrl.meta.pbt import Prior

    env_id = f"{tier}-Thrust-v1"
    env, params = jaxrl.make(env_id)
    senv = Scalarized(env)
    steps = int(params.max_steps)
    pop, rounds = (6, 2) if args.quick else (12, 5)
    updates = max(1, int(args.timesteps) // (64 * 100 * rounds * (4 if args.quick else 1)))
    cfg = ppo_config(env_id, 64 * 100 * updates * rounds)

    def make_agent(w):
        return ppo.PPO(cfg, env=senv, env_params=ScalarizedParams(params, w))

    # reference point: zero thrust and efficiency, four times the unactuated side-force penalty
    zero = evaluate_sinusoid(env_id, 0.0, 0.0, num_episodes=2)
    c_y2 = float(np.mean(zero["thrust"] - zero["lateral"])) / float(params.lateral_weight)
    ref = (0.0, 0.0, -4.0 * c_y2 * steps)
    base = dict(num_objectives=3, search={"lr": Prior(1e-4, 3e-3, log=True), "ent_coef": Prior(1e-4, 1e-2, log=True)},
                population=pop, rounds=rounds, updates_per_round=updates, eval_episodes=4, reference=ref)
    w_so, g_so = mo.single_objective_weights(mo.MOConfig(**base))
    variants = {
        "mo_pbt_hv": (mo.MOConfig(**base, selection="hypervolume"), None, None),
        "mo_random": (mo.MOConfig(**base, exploit=False), None, None),
        "so_pbt": (mo.MOConfig(**base, selection="scalar", search_weights=False), w_so, g_so),
    }
    reports = {}
    for name, (c, w, g) in variants.items():
        t0 = time.perf_counter()
        search = jax.jit(jax.vmap(mo.make_mo_search(make_agent, c, w, g)))
        _, hist = search(jax.random.split(jax.random.PRNGKey(7), args.seeds))
        final = np.asarray(hist["fitness"][:, -1]) / steps  # [S, P, 3] per-step means
        rep = mo.front_report(final, np.asarray(ref) / steps)
        rep["wall_s"] = time.perf_counter() - t0
        reports[name] = rep
        print(f"{tier} {name}: HV {rep['hypervolume']:.4g} [{rep['hv_low']:.4g}, {rep['hv_high']:.4g}] "
              f"({rep['wall_s']:.0f}s)", flush=True)
    mo.plot_fronts(reports, VECTOR_OBJECTIVES, RESULTS_DIR / f"finray-calibrated-front-{tier}.png")
    return {"population": pop, "rounds": rounds, "updates_per_round": updates, "reports": reports}


def calibrated(args: Any) -> dict[str, Any]:
    """Best sinusoid vs PPO vs lagged SAC per objective on the calibrated tiers; MO front vs SO tuning."""
    if args.quick:
        args.timesteps = min(args.timesteps, 2e4)
    grid = {"amplitude": np.linspace(0.0, 1.0, 6 if args.quick else 11),
            "phase": np.linspace(0.0, 2 * np.pi, 12 if args.quick else 24, endpoint=False)}
    record: dict[str, Any] = {"args": vars(args), "table": [], "multiobjective": {}}
    for tier in args.tiers:
        res = sinusoid_search(f"{tier}-Thrust-v1", grid, num_episodes=args.sinusoid_episodes,
                              plot_path=RESULTS_DIR / f"finray-calibrated-sinusoid-{tier}.png")
        for obj in CAL_OBJECTIVES:
            env_id = f"{tier}-{obj.capitalize()}-v1"
            best = res.best(obj)
            sin = evaluate_sinusoid(env_id, best["amplitude"], best["phase"], num_episodes=args.eval_episodes,
                                    key=jax.random.PRNGKey(123))[obj]
            t0 = time.perf_counter()
            ppo_s = learn(env_id, args.seeds, int(args.timesteps), args.eval_episodes)["scores"]
            t_ppo = time.perf_counter() - t0
            t0 = time.perf_counter()
            sac_s = sac_scores(env_id, args.seeds, int(args.timesteps), args.lag, args.eval_episodes)
            t_sac = time.perf_counter() - t0
            row = {"env": env_id, "sin (A, phase, r)": _fmt_sinusoid(best)}
            for name, x in (("sinusoid", sin), ("ppo", ppo_s), (f"sac_lag{args.lag}", sac_s)):
                pt, lo, hi = _ci(x)
                row[name], row[f"{name}_ci"] = pt, f"[{lo:.3g}, {hi:.3g}]"
            row.update(ppo_s=round(t_ppo), sac_s=round(t_sac))
            record["table"].append(row)
            record.setdefault("scores", {})[env_id] = {"sinusoid": sin, "ppo": ppo_s, "sac": sac_s, "best": best}
            print(row, flush=True)
        record["multiobjective"][tier] = mo_runs(tier, args)
    print_table(record["table"], title=f"Calibrated tiers: mean reward/step, {args.seeds} seeds, 95% bootstrap CI")
    write_result("finray-calibrated", record)
    return record


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ids", nargs="+", default=list(FIN_IDS), help="fin ids to learn (default: all 8)")
    ap.add_argument("--num-envs", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=200, help="scan length of the throughput runs")
    ap.add_argument("--ks-envs", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per throughput row (best and median)")
    ap.add_argument("--seeds", type=int, default=None, help="default 4; --calibrated: 8 (--quick: 2)")
    ap.add_argument("--timesteps", type=float, default=5e5, help="PPO environment steps per seed")
    ap.add_argument("--eval-episodes", type=int, default=16)
    ap.add_argument("--sinusoid-episodes", type=int, default=4)
    ap.add_argument("--skip-learning", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--quick", action="store_true", help="small grid, 2 seeds, 2e5 steps, 2 ids, 1024 envs")
    ap.add_argument("--calibrated", action="store_true", help="sinusoid vs PPO vs lagged SAC; MO front vs SO tuning")
    ap.add_argument("--lag", type=int, default=4, help="SAC actor lag (updates) for --calibrated")
    ap.add_argument("--tiers", nargs="+", default=["FinPlate", "FinRay"], help="tiers for --calibrated")
    args = ap.parse_args(argv)
    if args.calibrated:
        if args.seeds is None:
            args.seeds = 2 if args.quick else 8
        return calibrated(args)
    if args.seeds is None:
        args.seeds = 4
    if args.quick:
        args.seeds, args.timesteps, args.num_envs, args.steps = 2, 2e5, 1024, 50
        args.ids = args.ids if argv and "--ids" in argv else ["FinPlate-Thrust-v1", "FinRay-Efficiency-v1"]
    unknown = sorted(set(args.ids) - set(FIN_IDS))
    if unknown:
        ap.error(f"unknown fin id(s) {unknown}; choose from {', '.join(FIN_IDS)}")
    record: dict[str, Any] = {"args": vars(args)}

    # 1. throughput
    if not args.skip_throughput:
        tiers = ("FinPlate-Thrust-v1", "FinRay-Thrust-v1")
        rows = [throughput(i, args.num_envs, args.steps, args.repeats) for i in tiers]
        rows.append(throughput("KS-v0", args.ks_envs, max(2, args.steps // 20), args.repeats))
        print_table(
            rows,
            ["env", "num_envs", "steps", "compile_s", "steps_per_s", "median_steps_per_s"],
            title="Random-action control steps/s (VecEnv, auto-reset)",
        )
        record["throughput"] = rows

    # 2. sinusoid baseline per tier
    grid = {
        "amplitude": np.linspace(0.0, 1.0, 6 if args.quick else 11),
        "phase": np.linspace(0.0, 2 * np.pi, 12 if args.quick else 24, endpoint=False),
        "frequency": np.array(FREQUENCIES[1:3] if args.quick else FREQUENCIES),
    }
    searches = {}
    for tier in dict.fromkeys(i.split("-")[0] for i in args.ids):
        env_id = f"{tier}-Thrust-v1"
        t0 = time.perf_counter()
        res = sinusoid_search(
            env_id, grid, num_episodes=args.sinusoid_episodes, plot_path=RESULTS_DIR / f"finray-sinusoid-{tier}.png"
        )
        n_points = res.scores["thrust"].size
        print(f"{tier}: {n_points} sinusoids x {args.sinusoid_episodes} episodes in {time.perf_counter() - t0:.1f}s")
        searches[tier] = res
    record["sinusoid_best"] = {t: r.best_all for t, r in searches.items()}

    # 3. learning
    if args.skip_learning:
        write_result("finray", record)
        return record
    rows, signals = [], {}
    for env_id in args.ids:
        tier, obj = env_id.split("-")[0], env_id.split("-")[1].lower()
        best = searches[tier].best(obj)
        sin_scores = evaluate_sinusoid(
            env_id,
            best["amplitude"],
            best["phase"],
            best["frequency"],
            num_episodes=args.eval_episodes,
            key=jax.random.PRNGKey(123),
        )[obj]
        out = learn(env_id, args.seeds, int(args.timesteps), args.eval_episodes)
        sin_means = sinusoid_episode(env_id, best)
        learned = out["scores"]
        l_pt, l_lo, l_hi = stats.stratified_bootstrap_ci(learned[:, None], stats.mean)
        s_pt, s_lo, s_hi = stats.stratified_bootstrap_ci(sin_scores[:, None], stats.mean)
        rows.append(
            {
                "env": env_id,
                "sinusoid": s_pt,
                "sin_ci": f"[{s_lo:.3g}, {s_hi:.3g}]",
                "sin (A, phase, r)": _fmt_sinusoid(best),
                "ppo": l_pt,
                "ppo_ci": f"[{l_lo:.3g}, {l_hi:.3g}]",
                "gain_%": 100.0 * (l_pt - s_pt) / abs(s_pt),
                "seeds_beating": int(np.sum(learned > s_hi)),
                "sin C_T/C_P": sin_means["eta"],
                "ppo C_T/C_P": out["means"]["eta"],
                "train_s": out["train_s"],
            }
        )
        spc = float(jaxrl.make(env_id)[1].steps_per_cycle)
        t_sig = (np.arange(int(2 * spc)) + 0.5) / spc  # the first two beat periods
        sin_sig = best["amplitude"] * np.sin(best["frequency"] * 2 * np.pi * t_sig + best["phase"])
        signals[env_id] = {"t": t_sig, "learned": out["signal"][: t_sig.size], "sinusoid": sin_sig}
        record.setdefault("learning", {})[env_id] = {
            "ppo_scores": learned,
            "sinusoid_scores": sin_scores,
            "ppo_episode_means": out["means"],
            "sinusoid_episode_means": sin_means,
            "sinusoid_best": best,
            "learning_curve_mean": _nanmean(out["curve"]),
        }
        print(
            f"{env_id}: sinusoid {s_pt:.4g}, PPO {l_pt:.4g} [{l_lo:.4g}, {l_hi:.4g}] ({out['train_s']:.0f}s)",
            flush=True,
        )
    print_table(rows, title=f"Best sinusoid vs PPO ({args.seeds} seeds, {args.timesteps:.3g} steps; mean reward/step)")
    plot_signals(signals, RESULTS_DIR / "finray-actuation.png")
    record["table"] = rows
    write_result("finray", record)
    return record


if __name__ == "__main__":
    main()
