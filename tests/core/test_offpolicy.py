"""Pieces of the replay-based training loop: batches from replay samples, target updates, actor lag."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import offpolicy
from jaxrl.replay import Sample


def sample(rewards, terminated, truncated, seq: bool) -> Sample:
    r = jnp.asarray(rewards, jnp.float32)
    shape = r.shape
    obs = jnp.arange(np.prod(shape), dtype=jnp.float32).reshape(shape + (1,))  # unique per (item, step)
    data = offpolicy.Stored(
        obs=obs,
        action=jnp.zeros(shape, jnp.int32),
        reward=r,
        terminated=jnp.asarray(terminated),
        truncated=jnp.asarray(truncated),
        next_obs=obs + 1000.0,
    )
    n = shape[0]
    return Sample(data, jnp.zeros(n, jnp.int32), jnp.zeros(n, jnp.int32), jnp.ones(n, jnp.float32))


def test_one_step_batch_discount_cuts_on_termination_not_truncation():
    s = sample([1.0, 2.0, 3.0], [False, True, False], [False, False, True], seq=False)
    b = offpolicy.to_batch(s, jnp.float32(0.9), 1)
    np.testing.assert_allclose(np.asarray(b.discount), [0.9, 0.0, 0.9])
    np.testing.assert_allclose(np.asarray(b.reward), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(np.asarray(b.next_obs)[:, 0], [1000.0, 1001.0, 1002.0])


def test_nstep_batch_bootstraps_from_the_step_where_the_sum_stopped():
    # item 0: full 3 steps; item 1: terminated at step 1; item 2: truncated at step 0
    s = sample(
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]],
        [[False, False, False], [False, True, False], [False, False, False]],
        [[False, False, False], [False, False, False], [True, False, False]],
        seq=True,
    )
    b = offpolicy.to_batch(s, jnp.float32(0.5), 3)
    np.testing.assert_allclose(np.asarray(b.reward), [1.75, 1.5, 1.0])
    np.testing.assert_allclose(np.asarray(b.discount), [0.125, 0.0, 0.5])
    # next_obs of the last summed step: item i step k has obs 3 i + k (+1000 for next_obs)
    np.testing.assert_array_equal(np.asarray(b.next_obs)[:, 0], [1002.0, 1004.0, 1006.0])
    np.testing.assert_array_equal(np.asarray(b.obs)[:, 0], [0.0, 3.0, 6.0])


def test_polyak_and_periodic_target_updates():
    target, online = {"w": jnp.zeros(3)}, {"w": jnp.ones(3) * 2.0}
    np.testing.assert_allclose(np.asarray(offpolicy.polyak(target, online, 0.25)["w"]), 0.5)
    np.testing.assert_allclose(np.asarray(offpolicy.polyak(target, online, 1.0)["w"]), 2.0)
    copied = [float(offpolicy.periodic(target, online, jnp.int32(s), 3)["w"][0]) for s in range(1, 8)]
    assert copied == [0.0, 0.0, 2.0, 0.0, 0.0, 2.0, 0.0]


@pytest.mark.parametrize("k", [1, 3])
def test_actor_lag_ring_returns_params_k_pushes_old(k):
    lag = offpolicy.lag_init({"p": jnp.float32(0.0)}, k)
    seen = []
    for u in range(1, 8):
        lag = offpolicy.lag_push(lag, {"p": jnp.float32(u)})
        seen.append(float(offpolicy.lag_oldest(lag)["p"]))
    # after pushing u, the oldest snapshot is u - k (the initial params until then)
    assert seen == [float(max(u - k, 0)) for u in range(1, 8)]


def test_adam_step_clips_by_global_norm():
    import optax

    opt = optax.sgd(1.0)  # update = -grad: isolates the clipping
    params = {"a": jnp.zeros(2), "b": jnp.zeros(1)}
    grads = {"a": jnp.array([3.0, 0.0]), "b": jnp.array([4.0])}  # norm 5
    new, _, norm = offpolicy.adam_step(opt, params, grads, opt.init(params), 1.0, 1.0)
    assert float(norm) == pytest.approx(5.0)
    np.testing.assert_allclose(np.asarray(new["a"]), [0.6, 0.0], rtol=1e-6)  # sgd update is -g: p - lr*u = +g/5
