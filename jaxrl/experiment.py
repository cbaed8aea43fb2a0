"""Training an agent over many seeds: the job behind ``jaxrl train``, usable from a notebook.

>>> agent = jaxrl.make_agent("ppo", env_id="CartPole-v1", total_timesteps=200_000)
>>> scores = jaxrl.experiment.train(agent, seeds=range(8), progress_fn=lambda step, m: print(step))
>>> scores["mean"], scores["ci95"]

All seeds train in one program (``jax.vmap`` over agent states; sharded over a device mesh with
``devices``), chunk by chunk through :func:`jaxrl.driver.drive`; with a :class:`jaxrl.runs.RunDir`
every chunk is logged and checkpointed and the run can be resumed. At the end every seed is
evaluated (``agent.evaluate``) and the scores (per seed, mean, 95% bootstrap interval) returned
and written to ``scores.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from jaxrl.agent import check_protocol
from jaxrl.driver import CallbackSink, MetricSink, Program, RunDirSink, drive
from jaxrl.errors import DivergedError, UserError


def seed_keys(seeds: Sequence[int]) -> tuple[Any, Any]:
    """``(init_keys, eval_keys)``, each ``[S, 2]``: two independent keys per seed."""
    import jax

    both = jax.vmap(jax.random.split)(jax.vmap(jax.random.PRNGKey)(np.asarray(seeds, np.uint32)))
    return both[:, 0], both[:, 1]


def check_seeds(seeds: Sequence[int]) -> list[int]:
    """Seeds as a list of distinct non-negative ints below 2**32, else :class:`UserError`."""
    out = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int | np.integer) or not 0 <= int(s) < 2**32:
            raise UserError(f"seeds must be integers in [0, 2**32), got {s!r}")
        out.append(int(s))
    if not out:
        raise UserError("at least one seed is needed")
    if len(set(out)) != len(out):
        raise UserError(f"seeds must be distinct, got {out}")
    return out


def cumulative_steps(values: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """Cumulative env steps ``[S, n]`` from an agent's ``env_steps`` metric ``[S, n]``.

    Accepts either convention: a value above the running total is a cumulative count;
    otherwise it is the count of that update and is added.
    """
    out = np.empty(values.shape, np.int64)
    total = np.asarray(prev).astype(np.int64)
    for t in range(values.shape[1]):
        v = np.asarray(values[:, t]).astype(np.int64)
        total = np.where(v > total, v, total + v)
        out[:, t] = total
    return out


def batched(devices: Any = None) -> Callable[[Callable], Callable]:
    """``f -> jit(vmap(f))`` over seeds, or sharded over a device mesh (:mod:`jaxrl.sharding`)."""
    import jax

    from jaxrl import sharding

    mesh = sharding.batch_mesh(devices) if devices else None
    return (lambda f: sharding.sharded_vmap(f, mesh)) if mesh is not None else (lambda f: jax.jit(jax.vmap(f)))


class _Steps:
    """Turns each chunk's ``env_steps`` into cumulative counts per seed (a sink run before the others)."""

    def __init__(self, num_seeds: int):
        self.steps = np.zeros(num_seeds, np.int64)

    def write(self, first: int, metrics: dict[str, np.ndarray], labels: Sequence[Any]) -> None:
        if "env_steps" in metrics:
            metrics["env_steps"] = cumulative_steps(metrics["env_steps"], self.steps)
            self.steps = metrics["env_steps"][:, -1]

    def close(self) -> None:
        pass


def agent_program(agent: Any, seeds: Sequence[int], devices: Any = None) -> Program:
    """The :class:`jaxrl.driver.Program` of training ``agent`` on every seed (``[S]`` states)."""
    check_protocol(agent)
    vm = batched(devices)
    init_keys, _ = seed_keys(seeds)
    return Program(
        total=int(agent.num_updates),
        init=lambda: vm(agent.init)(init_keys),
        make_chunk=lambda n: vm(lambda s: agent.train_chunk(s, n)),
        labels=list(seeds),
    )


def train(
    agent: Any,
    seeds: Sequence[int] = tuple(range(16)),
    run: Any = None,
    chunk_size: int | None = None,
    *,
    eval_episodes: int = 10,
    resume: bool = False,
    devices: Any = None,
    progress_fn: Callable[[int, dict[str, np.ndarray]], Any] | None = None,
    sinks: Sequence[MetricSink] = (),
    progress_bar: bool = False,
    title: str = "",
    resume_hint: str = "",
) -> dict[str, Any]:
    """Train ``agent`` on every seed, evaluate, and return the scores (see the module docstring).

    ``progress_fn(step, metrics)`` gets the update count and each chunk's metrics ``{name: [S, n]}``
    (cumulative ``env_steps``). A diverged run raises :class:`jaxrl.errors.DivergedError` after
    writing its status to ``scores.json`` (with ``run``).
    """
    seeds = check_seeds(seeds)
    if isinstance(eval_episodes, bool) or not isinstance(eval_episodes, int) or eval_episodes < 1:
        raise UserError(f"eval_episodes must be a positive integer, got {eval_episodes!r}")
    program = agent_program(agent, seeds, devices)
    counter = _Steps(len(seeds))
    all_sinks: list[Any] = [counter]
    if run is not None:
        all_sinks.append(RunDirSink(run))
    all_sinks += list(sinks)
    if progress_fn is not None:
        all_sinks.append(CallbackSink(progress_fn))
    bar = _Bar(title, len(seeds)) if progress_bar else None
    program.meta = lambda done, state: {"env_steps": counter.steps.tolist()}

    def on_restore(meta: dict[str, Any]) -> None:  # env steps done before this session
        counter.steps = np.asarray(meta.get("env_steps", counter.steps), np.int64)
        if bar is not None:
            bar.steps = int(counter.steps.sum())

    program.on_restore = on_restore
    try:
        result = drive(program, run, chunk_size, resume=resume, sinks=all_sinks, resume_hint=resume_hint,
                       progress=bar.update if bar else None)
    except DivergedError as e:
        if run is not None:
            write_status(run, seeds, e.diverged, e.last_checkpoint)
        raise
    finally:
        if bar is not None:
            bar.close()
    return evaluate_and_score(agent, result.state, seeds, run, eval_episodes, devices, counter.steps, result.done,
                              result.seconds)


def evaluate_and_score(
    agent: Any, state: Any, seeds: Sequence[int], run: Any, eval_episodes: int, devices: Any, steps: np.ndarray,
    updates: int, seconds: float,
) -> dict[str, Any]:
    """Evaluate every seed's final state; the scores dict (written to ``run``'s scores.json when given)."""
    import jax

    from jaxrl.runs import bootstrap_ci, forward_fill

    _, eval_keys = seed_keys(seeds)
    eval_fn = batched(devices)(lambda k, s: agent.evaluate(k, s, eval_episodes))
    returns = np.asarray(jax.device_get(eval_fn(eval_keys, state)), np.float64).reshape(len(seeds), -1)
    final = returns.mean(axis=1)
    extra: dict[str, Any] = {
        "metric": f"mean return over {eval_episodes} evaluation episodes",
        "eval_returns": returns.tolist(),
        "env_steps_per_seed": np.asarray(steps).tolist(),
        "updates": int(updates),
        "train_seconds_this_session": round(seconds, 2),
        "status": {str(s): "ok" for s in seeds},
    }
    if run is not None and run.metrics_path.exists():
        m = run.read_metrics()
        if m.get("episode_return") is not None and m["episode_return"].size:
            extra["last_train_return"] = dict(zip(map(str, seeds), forward_fill(m["episode_return"])[:, -1].tolist(),
                                                  strict=True))
    if run is None:
        mean, low, high = bootstrap_ci(final)
        return {"per_seed": dict(zip(map(str, seeds), final.tolist(), strict=True)), "mean": float(mean),
                "ci95": [float(low), float(high)], **extra}
    scores = run.write_scores(final, extra=extra)
    m = run.read_metrics() if run.metrics_path.exists() else {}
    if m.get("env_steps") is not None and m.get("episode_return") is not None and m["env_steps"].size:
        run.plot_learning_curve(title=run.config.get("algo", "") if (run.path / "config.json").exists() else "")
    return scores


def write_status(run: Any, seeds: Sequence[int], diverged: Mapping[str, Any], last_checkpoint: int | None) -> None:
    """scores.json of a diverged run: per-seed status, where and what diverged, no scores."""
    from jaxrl.runs import write_json

    write_json(run.path / "scores.json", {
        "per_seed": {str(s): None for s in seeds},
        "mean": None,
        "ci95": None,
        "status": {str(s): ("diverged" if str(s) in diverged else "stopped") for s in seeds},
        "diverged": dict(diverged),
        "last_checkpoint_update": last_checkpoint,
        "note": "training stopped: non-finite values; seeds marked 'stopped' were halted with the diverged ones",
    })


class _Bar:
    """A tqdm bar over env steps (summed over seeds) with steps/s and the mean of the last returns."""

    def __init__(self, title: str, num_seeds: int):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=None, unit="step", unit_scale=True, desc=title or "train", dynamic_ncols=True,
                        smoothing=0.3)
        self.last = np.full(num_seeds, np.nan)
        self.steps = 0

    def update(self, done: int, total: int, metrics: Mapping[str, np.ndarray], seconds: float) -> None:
        steps = int(np.sum(metrics["env_steps"][:, -1])) if "env_steps" in metrics else self.steps
        if self.bar.total is None and steps > 0:
            self.bar.total = int(round(steps / done * total))
        r = metrics.get("episode_return")
        if r is not None:
            fin = np.isfinite(r)
            idx = np.where(fin.any(1), r.shape[1] - 1 - np.argmax(fin[:, ::-1], axis=1), 0)
            last = np.where(fin.any(1), r[np.arange(len(r)), idx], np.nan)
            self.last = np.where(np.isfinite(last), last, self.last)
        post = f"update {done}/{total}  {(steps - self.steps) / max(seconds, 1e-9):,.0f} steps/s"
        if np.isfinite(self.last).any():
            post += f"  return {np.nanmean(self.last):.4g}"
        self.bar.set_postfix_str(post, refresh=False)
        self.bar.update(steps - self.steps)
        self.steps = steps

    def close(self) -> None:
        self.bar.close()


def format_scores(scores: Mapping[str, Any]) -> str:
    """The final table: return per seed, then mean and 95% CI."""
    per_seed = scores["per_seed"]
    last = scores.get("last_train_return", {})
    lines = [f"{'seed':>6}  {'final return':>14}  {'last train return':>18}", f"{'-' * 6}  {'-' * 14}  {'-' * 18}"]
    for s, v in per_seed.items():
        lt = last.get(s)
        lines.append(f"{s:>6}  {v:>14.2f}  {'-' if lt is None else format(lt, '.2f'):>18}")
    lo, hi = scores["ci95"]
    lines.append(f"{'mean':>6}  {scores['mean']:>14.2f}  95% CI [{lo:.2f}, {hi:.2f}] over {len(per_seed)} seeds")
    return "\n".join(lines)


__all__ = ["agent_program", "check_seeds", "cumulative_steps", "format_scores", "seed_keys", "train"]
