"""Loading trained runs back: the agent, its per-seed states, and a jittable policy.

>>> policy = jaxrl.load_policy("runs/ppo-CartPole-v1-20261205T030000Z", seed=0)
>>> action = jax.jit(policy)(obs, key)          # one observation -> one action (deterministic by default)

A run directory written by ``jaxrl train`` (:mod:`jaxrl.runs`) records the agent's name and full
config; :func:`load_run` rebuilds the agent from them and restores the states of all seeds from the
latest complete checkpoint. A directory from an incompatible version, a missing or corrupt
checkpoint, or an unknown seed raise :class:`jaxrl.errors.RunDirError` saying what and where.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jaxrl.errors import RunDirError, UserError

RUN_FORMAT = 2
"""Version of the ``config.json`` record written by ``jaxrl train`` (1: before ``format`` was recorded)."""


@dataclass
class LoadedRun:
    path: Path
    algo: str
    env_id: str
    agent: Any  # a jaxrl.Agent
    seeds: list[int]
    states: Any  # [S, ...] the agent state of every seed
    updates_done: int
    record: dict[str, Any]

    def state(self, seed: int) -> Any:
        """The state of one seed (by seed value, as in seeds.json)."""
        import jax

        if seed not in self.seeds:
            raise UserError(f"{self.path} has seeds {self.seeds}; seed {seed} is not one of them")
        i = self.seeds.index(seed)
        return jax.tree.map(lambda x: x[i], self.states)


def load_run(path: str | os.PathLike) -> LoadedRun:
    """Rebuild the agent of a ``jaxrl train`` run directory and restore every seed's state."""
    import jax

    from jaxrl.agent import agent_spec
    from jaxrl.experiment import seed_keys
    from jaxrl.runs import RunDir
    from jaxrl.settings import build_config

    run = RunDir(path)
    if not (run.path / "config.json").is_file():
        raise RunDirError(f"{run.path} is not a run directory of `jaxrl train` (no config.json)")
    try:
        rec = run.config
        algo = rec["algo"]
        values = rec["config"]
        seeds = [int(s) for s in run.seeds]
    except (KeyError, ValueError, TypeError) as e:
        raise RunDirError(f"{run.path}/config.json or seeds.json is malformed ({e!r})") from None
    fmt = rec.get("format", 1)
    if fmt > RUN_FORMAT:
        raise RunDirError(f"{run.path} was written by a newer jaxrl (run format {fmt}, this one reads {RUN_FORMAT})")
    try:
        spec = agent_spec(algo)
        agent = spec.make(build_config(spec, values))
    except UserError as e:
        raise RunDirError(f"{run.path}: cannot rebuild its agent from config.json: {e}") from None
    if run.latest_checkpoint() is None:
        raise RunDirError(f"{run.path} has no checkpoint (it was never trained past its first chunk)")
    like = jax.eval_shape(jax.vmap(agent.init), seed_keys(seeds)[0])
    states, meta = run.restore_checkpoint(like=like)
    return LoadedRun(run.path, algo, values.get("env_id", rec.get("env_id", "")), agent, seeds, states,
                     int(meta.get("updates_done", meta.get("num_updates", 0))), rec)


def load_policy(path: str | os.PathLike, seed: int | None = None, deterministic: bool = True) -> Callable:
    """``policy(obs, key) -> action`` of one seed of a trained run (default: its first seed).

    ``obs`` is one observation as the environment returns it (a Dict observation is flattened as
    the agent saw it); the policy is jittable and ``vmap``-able. Only the deterministic policy is
    available through this API (``deterministic=False`` raises).
    """
    import jax

    from jaxrl.wrappers import _flatten

    if not deterministic:
        raise UserError("load_policy: only the deterministic (greedy) policy is available")
    loaded = load_run(path)
    state = loaded.state(loaded.seeds[0] if seed is None else seed)
    agent = loaded.agent

    def policy(obs: Any, key: jax.Array | None = None) -> Any:
        del key
        return jax.tree.map(lambda a: a[0], agent.greedy_action(state, _flatten(obs)[None]))

    return policy


def evaluate_episodes(agent: Any, state: Any, key: Any, num_episodes: int, max_steps: int | None = None):
    """Returns ``[N]`` and successes ``[N]`` (NaN where the env reports no ``success``) of the greedy policy.

    Episodes play in parallel without auto-reset on the agent's own (wrapped) environment; an
    episode unfinished after ``max_steps`` (default: twice the episode limit) gives NaN.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxrl import checks
    from jaxrl.agent_env import default_eval_steps

    env, params = agent.env, agent.env_params
    space = env.action_space(params)
    if max_steps is None:
        max_steps = default_eval_steps(agent.cfg.env_id, params)
    n = int(num_episodes)
    k_reset, k_steps = jax.random.split(key)

    @jax.jit
    def play(k_reset, k_steps):
        obs, s = jax.vmap(env.reset_env, in_axes=(0, None))(jax.random.split(k_reset, n), params)
        step = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))

        def body(c, k):
            s, obs, done, ret, succ = c
            action = checks.guard_action(env.name, space, agent.greedy_action(state, obs), s, (n,))
            out = step(jax.random.split(k, n), s, action, params)
            ended = out.info["returned_episode"] & ~done
            ret = jnp.where(ended, out.info["episode_return"], ret)
            ok = out.info.get("success", jnp.full(n, jnp.nan))
            succ = jnp.where(ended, jnp.asarray(ok, jnp.float32), succ)
            return (out.state, out.obs, done | ended, ret, succ), None

        init = (s, obs, jnp.zeros(n, bool), jnp.zeros(n, jnp.float32), jnp.full(n, jnp.nan, jnp.float32))
        (_, _, done, ret, succ), _ = jax.lax.scan(body, init, jax.random.split(k_steps, max_steps))
        return jnp.where(done, ret, jnp.nan), jnp.where(done, succ, jnp.nan)

    ret, succ = play(k_reset, k_steps)
    return np.asarray(ret, np.float64), np.asarray(succ, np.float64)


def write_policy_gif(loaded: LoadedRun, seed: int, key: Any, out: Path, fps: int = 20) -> Path:
    """One episode of ``seed``'s greedy policy rendered through ``env.render`` into a GIF at ``out``."""
    import jax

    from jaxrl import make
    from jaxrl.agent_env import default_eval_steps
    from jaxrl.render import rollout_frames, save_gif
    from jaxrl.wrappers import _flatten

    cfg = loaded.agent.cfg
    env, params = make(cfg.env_id, **dict(getattr(cfg, "env_params", {}) or {}))
    state = loaded.state(seed)
    agent = loaded.agent
    act = jax.jit(lambda obs: jax.tree.map(lambda a: a[0], agent.greedy_action(state, _flatten(obs)[None])))
    try:
        frames = rollout_frames(env, params, lambda k, obs: act(obs), key, default_eval_steps(cfg.env_id, params) // 2)
    except NotImplementedError as e:
        raise UserError(str(e)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    save_gif(frames, out, fps=fps)
    return out


__all__ = ["LoadedRun", "evaluate_episodes", "load_policy", "load_run", "write_policy_gif"]
