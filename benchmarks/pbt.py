"""PBT vs random search vs default hyperparameters at equal environment steps.

``python -m benchmarks.pbt`` follows the tuning protocol of the meta spec:
seeds are split with :func:`jaxrl.stats.split_seeds`; every method spends the
same budget (``population x total_timesteps`` env steps) on the *tuning*
seeds, and is then scored on disjoint *test* seeds:

* PBT (truncation selection, 25%, perturb x0.8/x1.2 or resample p=0.25):
  the incumbent's hyperparameter *schedule* is replayed on each test seed;
* random search (the same prior sampling, no exploit/explore): the best
  member's fixed setting is retrained on each test seed;
* default hyperparameters: the agent's config, trained on each test seed.

Score: greedy evaluation return (mean of 10 episodes) per test seed;
aggregate: IQM and mean with 95% stratified-bootstrap intervals
(:mod:`jaxrl.stats`). It also plots each PBT run's hyperparameter schedules
and lineage to ``benchmarks/results/pbt/``. Tasks: PPO on CartPole-v1, Brax
``inverted_pendulum`` and ``FinPlate-Thrust-v1`` (``--tasks`` to choose,
``--quick`` for a smoke run). Budgets are deliberately tight (defaults do
not saturate), since with generous budgets every method reaches the maximum.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import RESULTS_DIR, print_table, write_result
from jaxrl import stats
from jaxrl.agents import ppo
from jaxrl.meta import pbt as P
from jaxrl.meta.pbt_cli import plot

TASKS: dict[str, dict[str, Any]] = {
    "CartPole-v1": {
        "config": dict(env_id="CartPole-v1", total_timesteps=96_000),
        "search": {"lr": P.Prior(1e-4, 1e-2, log=True), "ent_coef": P.Prior(0.0, 0.05),
                   "clip_eps": P.Prior(0.1, 0.4)},
    },
    "inverted_pendulum": {
        "config": dict(env_id="inverted_pendulum", total_timesteps=64_000, num_envs=32, num_steps=64, lr=1e-3,
                       ent_coef=0.0, normalize_obs=True, normalize_reward=True),
        "search": {"lr": P.Prior(1e-4, 1e-2, log=True), "clip_eps": P.Prior(0.1, 0.4),
                   "gae_lambda": P.Prior(0.8, 0.99)},
    },
    "FinPlate-Thrust-v1": {
        "config": dict(env_id="FinPlate-Thrust-v1", total_timesteps=320_000, num_envs=64, num_steps=100, lr=1e-3,
                       gamma=0.95, ent_coef=0.0, normalize_obs=True, normalize_reward=True, init_log_std=-0.5),
        "search": {"lr": P.Prior(1e-4, 1e-2, log=True), "clip_eps": P.Prior(0.1, 0.4),
                   "gae_lambda": P.Prior(0.8, 0.99)},
    },
}


def test_scores(agent, schedule: dict[str, np.ndarray], keys: jax.Array, upr: int) -> np.ndarray:
    """Greedy return per test seed of runs replaying ``schedule`` (``{name: [R]}``)."""

    def one(k):
        k_train, k_eval = jax.random.split(k)
        state, _ = P.replay_schedule(agent, schedule, k_train, upr)
        return jnp.nanmean(agent.evaluate(k_eval, state, 10))

    return np.asarray(jax.jit(jax.vmap(one))(keys))


def run_task(name: str, population: int, rounds: int, test_seeds: int, quick: bool) -> dict[str, Any]:
    task = TASKS[name]
    cfg = ppo.Config(**task["config"])
    if quick:
        cfg = cfg.replace(total_timesteps=cfg.total_timesteps // 8)
    agent = ppo.PPO(cfg)
    upr = max(agent.num_updates // rounds, 1)
    tune, test = stats.split_seeds(population + test_seeds, population)
    base = jax.random.key(2026)
    test_keys = jnp.stack([jax.random.fold_in(base, int(s)) for s in test])
    tune_key = jax.random.fold_in(base, int(tune[0]) + 10_000)
    pcfg = P.PBTConfig(search=task["search"], population=population, rounds=rounds, updates_per_round=upr,
                       fitness="eval", eval_episodes=8)
    out: dict[str, Any] = {"task": name, "population": population, "rounds": rounds, "updates_per_round": upr,
                           "steps_per_member": upr * rounds * cfg.batch_size,
                           "search": {k: vars(v) for k, v in task["search"].items()}}
    rows = []
    for method, exploit in (("pbt", True), ("random_search", False)):
        t0 = time.perf_counter()
        state, hist = jax.jit(P.make_pbt(agent, P.PBTConfig(**{**pcfg.__dict__, "exploit": exploit})))(tune_key)
        hist = jax.device_get(hist)
        tune_s = time.perf_counter() - t0
        best, sched = P.incumbent_schedule(hist)
        if not exploit:  # random search: the best member's fixed setting
            sched = {n: np.full(rounds, v[0]) for n, v in sched.items()}
        t0 = time.perf_counter()
        scores = test_scores(agent, sched, test_keys, upr)
        out[method] = {"incumbent": best, "schedule": {n: np.asarray(v).tolist() for n, v in sched.items()},
                       "tuning_fitness_last": np.asarray(hist["fitness"][-1]).tolist(),
                       "test_scores": scores.tolist(), "tune_s": round(tune_s, 1),
                       "test_s": round(time.perf_counter() - t0, 1),
                       "copies": int(np.sum(hist["copied"]))}
        if exploit:
            d = RESULTS_DIR / "pbt"
            d.mkdir(parents=True, exist_ok=True)
            plot(hist, task["search"], d / f"{name}-schedules.png", d / f"{name}-lineage.png")
    default = {n: np.full(rounds, float(getattr(cfg, n))) for n in task["search"]}
    t0 = time.perf_counter()
    out["default"] = {"test_scores": test_scores(agent, default, test_keys, upr).tolist(),
                      "test_s": round(time.perf_counter() - t0, 1)}
    for method in ("pbt", "random_search", "default"):
        s = np.asarray(out[method]["test_scores"])[:, None]
        iqm, lo, hi = stats.stratified_bootstrap_ci(s, stats.iqm)
        mean, mlo, mhi = stats.stratified_bootstrap_ci(s, stats.mean)
        out[method]["iqm"] = [iqm, lo, hi]
        out[method]["mean"] = [mean, mlo, mhi]
        rows.append({"task": name, "method": method, "IQM": round(iqm, 2), "IQM 95% CI": f"[{lo:.2f}, {hi:.2f}]",
                     "mean": round(mean, 2), "mean 95% CI": f"[{mlo:.2f}, {mhi:.2f}]",
                     "tune_s": out[method].get("tune_s", "-")})
    poi = stats.poi_ci(np.asarray(out["pbt"]["test_scores"])[:, None],
                       np.asarray(out["random_search"]["test_scores"])[:, None])
    out["P(pbt > random_search)"] = list(poi)
    print_table(rows)
    print(f"{name}: P(PBT > random search) = {poi[0]:.2f} [{poi[1]:.2f}, {poi[2]:.2f}]")
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--test-seeds", type=int, default=8)
    p.add_argument("--quick", action="store_true", help="8x smaller budgets (smoke run)")
    args = p.parse_args(argv)
    record = {"args": vars(args), "tasks": {}}
    for name in args.tasks:
        record["tasks"][name] = run_task(name, args.population, args.rounds, args.test_seeds, args.quick)
    write_result("pbt", record)
    return record


if __name__ == "__main__":
    main()
