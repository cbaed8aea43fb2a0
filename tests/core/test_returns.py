"""GAE and discounted returns against an independent O(T^2) oracle and a hand-computed case."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.returns import discounted_returns, gae


def gae_oracle(r, v, nv, term, trunc, gamma, lam):
    """A_t = sum_k (gamma*lam)^k delta_{t+k}, summed until the episode of step t ends (explicit loops)."""
    T, B = r.shape
    adv = np.zeros((T, B))
    for b in range(B):
        for t in range(T):
            total, coef = 0.0, 1.0
            for u in range(t, T):
                delta = r[u, b] + (0.0 if term[u, b] else gamma * nv[u, b]) - v[u, b]
                total += coef * delta
                if term[u, b] or trunc[u, b]:
                    break
                coef *= gamma * lam
            adv[t, b] = total
    return adv


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    T, B = 40, 5
    term = rng.random((T, B)) < 0.08
    trunc = (rng.random((T, B)) < 0.08) & ~term
    trunc[7, 0] = term[7, 0] = True  # both at once: termination wins (no bootstrap)
    return (rng.normal(size=(T, B)), rng.normal(size=(T, B)), rng.normal(size=(T, B)), term, trunc)


gae_jit = jax.jit(gae)


@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 0.0), (0.5, 1.0), (1.0, 0.8)])
def test_gae_matches_oracle(data, gamma, lam):
    r, v, nv, term, trunc = data
    assert term.sum() >= 5 and trunc.sum() >= 5
    adv, targets = gae_jit(
        *(jnp.asarray(x, jnp.float32) for x in (r, v, nv)), jnp.asarray(term), jnp.asarray(trunc), gamma, lam
    )
    ref = gae_oracle(r, v, nv, term, trunc, gamma, lam)
    np.testing.assert_allclose(adv, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(targets, ref + v, rtol=1e-4, atol=1e-4)


def test_gae_hand_computed():
    # step 0 continues, step 1 is truncated (bootstrap from V(final_obs) = 2), step 2 terminates.
    r = jnp.ones((3, 1))
    v = jnp.full((3, 1), 0.5)
    nv = jnp.array([[0.5], [2.0], [0.5]])
    term = jnp.array([[False], [False], [True]])
    trunc = jnp.array([[False], [True], [False]])
    adv, targets = gae(r, v, nv, term, trunc, 0.9, 0.5)
    # deltas: 1 + .9*.5 - .5 = .95;  1 + .9*2 - .5 = 2.3;  1 - .5 = .5
    # A2 = .5; A1 = 2.3 (the trace stops at the truncation); A0 = .95 + .45 * 2.3 = 1.985
    np.testing.assert_allclose(adv[:, 0], [1.985, 2.3, 0.5], rtol=1e-6)
    np.testing.assert_allclose(targets[:, 0], [2.485, 2.8, 1.0], rtol=1e-6)


def test_gae_traced_hyperparameters_vmap(data):
    r, v, nv, term, trunc = (jnp.asarray(x) for x in data)
    gammas, lams = jnp.array([0.9, 0.99]), jnp.array([0.5, 0.95])
    adv, _ = jax.jit(jax.vmap(gae, in_axes=(None,) * 5 + (0, 0)))(r, v, nv, term, trunc, gammas, lams)
    for i in range(2):
        ref = gae_oracle(*data, float(gammas[i]), float(lams[i]))
        np.testing.assert_allclose(adv[i], ref, rtol=1e-4, atol=1e-4)


def test_discounted_returns():
    # One env: rewards 1,2,3 | 4,5 with a termination at t=2 and the rollout cut at t=4 (bootstrap 10).
    r = jnp.array([[1.0], [2.0], [3.0], [4.0], [5.0]])
    term = jnp.array([[0], [0], [1], [0], [0]], bool)
    trunc = jnp.zeros_like(term)
    boot = jnp.array([[99.0], [99.0], [99.0], [99.0], [10.0]])  # only the last matters here
    ret = discounted_returns(r, term, trunc, boot, 0.5)
    np.testing.assert_allclose(
        ret[:, 0], [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3, 4 + 0.5 * 5 + 0.25 * 10, 5 + 0.5 * 10]
    )


# --------------------------------------------------------------------------- one-step and n-step targets
def nstep_oracle(rewards, terminated, truncated, gamma):
    """Plain-loop n-step return: stop at the first end of episode; no bootstrap after a termination."""
    ret, k = 0.0, len(rewards) - 1
    for i in range(len(rewards)):
        ret += gamma**i * rewards[i]
        if terminated[i] or truncated[i]:
            k = i
            break
    discount = 0.0 if terminated[k] else gamma ** (k + 1)
    return ret, discount, k


def test_td_target_cuts_on_termination_only():
    from jaxrl.returns import td_target

    r = jnp.array([1.0, 1.0, 1.0])
    term = jnp.array([False, True, False])
    v = jnp.array([10.0, 10.0, 10.0])
    # the third step is a truncation: it bootstraps like any step (its next value is V(final obs))
    np.testing.assert_allclose(np.asarray(td_target(r, term, v, 0.9)), [10.0, 1.0, 10.0], rtol=1e-6)


def test_nstep_return_matches_python_oracle(np_rng):
    from jaxrl.returns import nstep_return

    n, gamma = 4, 0.9
    rewards = np_rng.normal(size=(500, n)).astype(np.float32)
    terminated = np_rng.random((500, n)) < 0.15
    truncated = (np_rng.random((500, n)) < 0.15) & ~terminated
    ret, disc, last = jax.jit(nstep_return, static_argnums=())(
        jnp.asarray(rewards), jnp.asarray(terminated), jnp.asarray(truncated), gamma
    )
    for i in range(500):
        r_o, d_o, k_o = nstep_oracle(rewards[i], terminated[i], truncated[i], gamma)
        assert int(last[i]) == k_o, i
        np.testing.assert_allclose(float(ret[i]), r_o, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(float(disc[i]), d_o, rtol=1e-6)
    # both kinds of ending occur in the sample, plus full-length sequences
    assert terminated.any(1).sum() > 50 and truncated.any(1).sum() > 50
    assert (~(terminated | truncated).any(1)).sum() > 50


def test_nstep_return_hand_values():
    from jaxrl.returns import nstep_return

    r = jnp.array([[1.0, 2.0, 4.0]] * 3)
    term = jnp.array([[False, False, False], [False, True, False], [False, False, False]])
    trunc = jnp.array([[False, False, False], [False, False, False], [True, False, False]])
    ret, disc, last = nstep_return(r, term, trunc, 0.5)
    np.testing.assert_allclose(np.asarray(ret), [1 + 1 + 1, 1 + 1, 1])
    np.testing.assert_allclose(np.asarray(disc), [0.125, 0.0, 0.5])
    np.testing.assert_array_equal(np.asarray(last), [2, 1, 0])
