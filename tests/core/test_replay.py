"""Replay buffer: wrap-around, sequences never crossing the write head, sampling distribution, priorities."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.replay import Replay


def step(t: int, num_envs: int = 2) -> dict:
    """One step of ``num_envs`` streams; the value encodes (time, env)."""
    return {"t": jnp.full((num_envs,), t, jnp.int32), "x": jnp.arange(num_envs, dtype=jnp.float32) + 100 * t}


def filled(rb: Replay, n_steps: int):
    state = rb.init(step(0, rb.num_envs))
    steps = jax.tree.map(lambda *x: jnp.stack(x), *[step(t, rb.num_envs) for t in range(n_steps)])
    return jax.jit(rb.add_many)(state, steps)


def test_wraparound_keeps_the_newest_rows():
    rb = Replay(capacity=10, num_envs=2)  # 5 rows
    state = filled(rb, 7)
    assert int(state.pos) == 7 % 5 and int(state.count) == 5 and int(rb.size(state)) == 10
    # rows hold t = 5, 6, 2, 3, 4 (t=0, 1 overwritten)
    np.testing.assert_array_equal(np.asarray(state.data["t"])[:, 0], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(np.asarray(state.data["x"])[1], [600.0, 601.0])


def test_sample_covers_only_stored_items_uniformly():
    rb = Replay(capacity=10, num_envs=2)
    state = filled(rb, 7)
    s = jax.jit(lambda k: rb.sample(k, state, 20_000))(jax.random.key(0))
    t = np.asarray(s.data["t"])
    assert set(np.unique(t)) == {2, 3, 4, 5, 6}
    counts = np.bincount(t, minlength=7)[2:] / t.size
    np.testing.assert_allclose(counts, 0.2, atol=0.015)
    envs = np.bincount(np.asarray(s.env), minlength=2) / t.size
    np.testing.assert_allclose(envs, 0.5, atol=0.015)
    # x is consistent with (t, env): items are not mixed across leaves
    np.testing.assert_array_equal(np.asarray(s.data["x"]), 100 * t + np.asarray(s.env))
    np.testing.assert_array_equal(np.asarray(s.weight), 1.0)


def test_partial_buffer_samples_only_written_rows():
    rb = Replay(capacity=20, num_envs=2)
    state = filled(rb, 3)
    t = np.asarray(rb.sample(jax.random.key(1), state, 5000).data["t"])
    assert set(np.unique(t)) == {0, 1, 2}


@pytest.mark.parametrize("n_steps", [4, 9])  # not full / wrapped around
def test_sequences_are_consecutive_and_never_cross_the_write_head(n_steps):
    rb = Replay(capacity=12, num_envs=2)  # 6 rows
    state = filled(rb, n_steps)
    s = jax.jit(lambda k: rb.sample(k, state, 4000, length=3))(jax.random.key(2))
    t = np.asarray(s.data["t"])  # [S, 3]
    assert t.shape == (4000, 3)
    np.testing.assert_array_equal(np.diff(t, axis=1), 1)  # consecutive in time, oldest first
    oldest = max(0, n_steps - 6)
    assert t.min() == oldest and t.max() == n_steps - 1  # all valid starts reachable, nothing outside
    assert set(np.unique(t[:, 0])) == set(range(oldest, n_steps - 2))


def test_empty_buffer_sample_has_zero_weight():
    rb = Replay(capacity=8, num_envs=2)
    state = rb.init(step(0))
    assert not bool(rb.can_sample(state))
    np.testing.assert_array_equal(np.asarray(rb.sample(jax.random.key(0), state, 4).weight), 0.0)


def test_prioritized_sampling_follows_priorities_and_weights():
    rb = Replay(capacity=8, num_envs=2, prioritized=True, alpha=1.0)  # 4 rows
    state = filled(rb, 4)
    s = rb.sample(jax.random.key(0), state, 8)
    # give row 3 / env 1 priority 7, everything else 1 -> p = 7/14 for it, 1/14 for each other
    prio = jnp.ones((4, 2)).at[3, 1].set(7.0)
    state = state.replace(priority=prio)
    s = jax.jit(lambda k: rb.sample(k, state, 40_000, beta=1.0))(jax.random.key(3))
    hit = (np.asarray(s.row) == 3) & (np.asarray(s.env) == 1)
    np.testing.assert_allclose(hit.mean(), 0.5, atol=0.01)
    w = np.asarray(s.weight)
    # w = (N p)^-beta / max: rare items get weight 1, the frequent one (8 * 7/14)^-1 / (8/14)^-1 = 1/7
    np.testing.assert_allclose(w[hit], 1 / 7, rtol=1e-5)
    np.testing.assert_allclose(w[~hit], 1.0, rtol=1e-5)
    # update_priorities writes at the sampled slots and raises max_priority for new items
    s2 = rb.sample(jax.random.key(4), state, 3)
    st2 = rb.update_priorities(state, s2, jnp.array([9.0, 9.0, 9.0]))
    assert float(st2.max_priority) == 9.0
    np.testing.assert_array_equal(np.asarray(st2.priority)[np.asarray(s2.row), np.asarray(s2.env)], 9.0)
    st3 = rb.add(st2, step(9))
    np.testing.assert_array_equal(np.asarray(st3.priority)[int(st2.pos)], 9.0)


def test_vmap_over_seeds():
    rb = Replay(capacity=8, num_envs=2)
    init = jax.vmap(lambda _: rb.init(step(0)))(jnp.arange(3))
    st = jax.vmap(rb.add)(init, jax.tree.map(lambda x: jnp.stack([x, x + 1, x + 2]), step(5)))
    s = jax.vmap(lambda k, s: rb.sample(k, s, 4))(jax.random.split(jax.random.key(0), 3), st)
    np.testing.assert_array_equal(np.asarray(s.data["t"]), [[5] * 4, [6] * 4, [7] * 4])


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="capacity"):
        Replay(capacity=0, num_envs=2)
    with pytest.raises(ValueError, match="at least num_envs"):
        Replay(capacity=1, num_envs=2)
    rb = Replay(capacity=8, num_envs=2)
    with pytest.raises(ValueError, match="leading num_envs"):
        rb.init({"x": jnp.zeros((3, 4))})
    state = rb.init(step(0))
    with pytest.raises(ValueError, match="shape"):
        rb.add(state, {"t": jnp.zeros((3,), jnp.int32), "x": jnp.zeros((3,))})
    with pytest.raises(ValueError, match="sequence length"):
        rb.sample(jax.random.key(0), state, 4, length=5)
