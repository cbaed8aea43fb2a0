"""``check_agent``: assert that an agent keeps the :class:`jaxrl.Agent` contract (re-exported by :mod:`jaxrl.testing`).

>>> from jaxrl.testing import check_agent
>>> check_agent(ppo.PPO(ppo.Config(num_envs=2, num_steps=8, num_minibatches=2, total_timesteps=64)))

Give it a small agent (a few updates of a few environments): it compiles ``init``, a chunk of one
and of two updates and ``evaluate`` once each, all ``jax.vmap``-ped over seeds, and checks

* the protocol's members and the shapes: metrics ``{name: [S, n]}`` with exactly
  ``metric_names`` (plus ``nonfinite``), returns ``[S, episodes]``, ``greedy_action`` batched;
* chunks compose: two chunks of one update equal one chunk of two, bit for bit;
* determinism: the same key gives the same state; different keys give different states;
* traced hyperparameters: a ``vmap`` over seeds with a different value per seed runs in the
  same compiled chunk, and a different value changes the result;
* a checkpoint round trip (:mod:`jaxrl.checkpoint`) restores the state exactly, and training on
  from the restored state equals training on from the original.
"""

from __future__ import annotations

import dataclasses
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.agent import check_protocol
from jaxrl.diagnostics import NONFINITE


def _leaves_differ(a: Any, b: Any) -> bool:
    def data(x):
        return np.asarray(jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x)

    return any(not np.array_equal(data(x), data(y), equal_nan=True)
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def traced_fields(cfg: Any) -> list[str]:
    """The config's traced hyperparameters (fields declared with :func:`jaxrl.config.traced`), in order."""
    from jaxrl.config import traced_names

    return list(traced_names(type(cfg))) if dataclasses.is_dataclass(cfg) else []


def check_agent(agent: Any, *, num_seeds: int = 2, episodes: int = 2, key: jax.Array | None = None,
                hparam: str | None = None) -> dict[str, Any]:
    """Assert the agent contract (see the module docstring); returns what it saw (metric shapes, hparam used).

    ``hparam`` names the traced hyperparameter to sweep (default: the config's first traced field,
    ``lr`` when it has one). Raises ``AssertionError`` naming what is wrong.
    """
    from jaxrl import checkpoint
    from jaxrl.testing import assert_trees_equal

    check_protocol(agent)
    assert num_seeds >= 2, "check_agent needs at least 2 seeds"
    name = type(agent).__name__
    assert isinstance(agent.num_updates, int) and agent.num_updates >= 2, (
        f"{name}: give check_agent a config with at least 2 updates (num_updates={agent.num_updates!r})")
    names = tuple(agent.metric_names)
    key = jax.random.key(0) if key is None else key
    keys = jax.random.split(key, num_seeds)

    init = jax.jit(jax.vmap(agent.init))
    chunk1 = jax.jit(jax.vmap(lambda s: agent.train_chunk(s, 1)))
    chunk2 = jax.jit(jax.vmap(lambda s: agent.train_chunk(s, 2)))
    s0 = init(keys)
    assert_trees_equal(s0, init(keys), f"{name}.init is not deterministic")
    assert _leaves_differ(jax.tree.map(lambda x: x[0], s0), jax.tree.map(lambda x: x[1], s0)), (
        f"{name}.init gives the same state for different keys")

    a, m1 = chunk1(s0)
    a, m2 = chunk1(a)
    b, m = chunk2(s0)
    assert_trees_equal(a, b, f"{name}: two chunks of 1 update != one chunk of 2")
    expected = set(names) | {NONFINITE}
    assert set(m) == expected, f"{name}: metrics {sorted(m)} != metric_names {sorted(expected)}"
    for k, v in m.items():
        assert np.shape(v) == (num_seeds, 2), f"{name}: metric {k} has shape {np.shape(v)}, expected ({num_seeds}, 2)"
    for k in m:
        np.testing.assert_array_equal(np.asarray(m[k])[:, :1], np.asarray(m1[k]), err_msg=f"{name}: metric {k}")
    assert not np.any(np.asarray(m[NONFINITE])), f"{name}: non-finite values in a default run"

    returns = jax.jit(jax.vmap(lambda k, s: agent.evaluate(k, s, episodes)))(keys, b)
    assert np.shape(returns) == (num_seeds, episodes), f"{name}.evaluate gave shape {np.shape(returns)}"
    env, params = getattr(agent, "env", None), getattr(agent, "env_params", None)
    if env is not None:
        obs, _ = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, 3), params)
        s_one = jax.tree.map(lambda x: x[0], b)
        act = jax.jit(agent.greedy_action)(s_one, obs)
        space = env.action_space(params)
        assert np.shape(act) == (3, *space.shape), f"{name}.greedy_action gave shape {np.shape(act)} for 3 obs"
        assert bool(jax.vmap(space.contains)(act).all()), f"{name}.greedy_action is outside {space!r}"

    traced = traced_fields(agent.cfg)
    hp = hparam or ("lr" if "lr" in traced else (traced[0] if traced else None))
    if hp is not None:
        base = float(getattr(agent.cfg, hp))
        values = jnp.asarray([base] + [base * 0.5] * (num_seeds - 1), jnp.float32)
        same_keys = jnp.stack([keys[0]] * num_seeds)
        sh = jax.jit(jax.vmap(lambda k, v: agent.init(k, {hp: v})))(same_keys, values)
        out, _ = chunk2(sh)
        assert_trees_equal(jax.tree.map(lambda x: x[0], out), jax.tree.map(lambda x: x[0], b),
                           f"{name}: hparams {{{hp!r}: default}} differs from no hparams")
        assert _leaves_differ(jax.tree.map(lambda x: x[0], out), jax.tree.map(lambda x: x[1], out)), (
            f"{name}: changing the traced hyperparameter {hp} changed nothing")

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint.save(f"{tmp}/ckpt", b, {"updates_done": 2})
        restored, meta = checkpoint.restore(f"{tmp}/ckpt", like=jax.eval_shape(lambda: b))
    assert meta["updates_done"] == 2
    assert_trees_equal(restored, b, f"{name}: checkpoint round trip")
    assert_trees_equal(chunk1(restored), chunk1(b), f"{name}: training on from a restored checkpoint")
    return {"metrics": {k: np.shape(v) for k, v in m.items()}, "hparam": hp}


__all__ = ["check_agent", "traced_fields"]
