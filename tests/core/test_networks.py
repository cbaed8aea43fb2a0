"""jaxrl.networks: distributions against closed forms, LAPACK-free orthogonal init, heads per action space."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxrl import spaces
from jaxrl.networks import (
    ActorCritic,
    Categorical,
    DiagGaussian,
    MultiCategorical,
    distribution_for,
    orthogonal,
)


def test_categorical_matches_closed_form():
    p = np.array([[0.2, 0.3, 0.5], [0.9, 0.05, 0.05]])
    d = Categorical(jnp.log(jnp.asarray(p)) + 1.7)  # logits up to a constant
    np.testing.assert_allclose(d.log_prob(jnp.array([2, 0])), np.log([0.5, 0.9]), rtol=1e-6)
    np.testing.assert_allclose(d.entropy(), stats.entropy(p, axis=1), rtol=1e-6)
    np.testing.assert_array_equal(d.mode(), [2, 0])
    samples = jax.vmap(d.sample)(jax.random.split(jax.random.key(0), 20_000))  # [N, 2]
    freq = np.stack([np.bincount(np.asarray(samples[:, i]), minlength=3) / 20_000 for i in range(2)])
    np.testing.assert_allclose(freq, p, atol=0.015)


def test_diag_gaussian_matches_scipy():
    mean, log_std = jnp.array([[0.5, -1.0]]), jnp.array([0.3, -0.7])
    d = DiagGaussian(mean, log_std)
    a = jnp.array([[0.1, -0.2]])
    want = stats.norm(np.asarray(mean), np.exp(np.asarray(log_std))).logpdf(np.asarray(a)).sum(-1)
    np.testing.assert_allclose(d.log_prob(a), want, rtol=1e-5)
    want_ent = stats.norm(0, np.exp(np.asarray(log_std))).entropy().sum()
    np.testing.assert_allclose(d.entropy(), [want_ent], rtol=1e-5)
    x = jax.vmap(lambda k: d.sample(k))(jax.random.split(jax.random.key(1), 20_000))[:, 0]
    np.testing.assert_allclose(x.mean(0), mean[0], atol=0.03)
    np.testing.assert_allclose(x.std(0), np.exp(log_std), rtol=0.03)
    np.testing.assert_array_equal(d.mode(), mean)


def test_multi_categorical_factorises():
    logits = jnp.log(jnp.array([0.2, 0.8, 0.1, 0.6, 0.3]))
    d = MultiCategorical(logits, (2, 3))
    np.testing.assert_allclose(d.log_prob(jnp.array([1, 2])), np.log(0.8 * 0.3), rtol=1e-5)
    np.testing.assert_allclose(d.entropy(), stats.entropy([0.2, 0.8]) + stats.entropy([0.1, 0.6, 0.3]), rtol=1e-5)
    np.testing.assert_array_equal(d.mode(), [1, 1])
    assert d.sample(jax.random.key(0)).shape == (2,)


def test_orthogonal_init_matches_flax_without_lapack():
    key = jax.random.key(3)
    shapes = [(4, 64), (64, 64), (64, 2), (7, 100), (1, 1)]
    ours = jax.jit(lambda k: [orthogonal(1.5)(k, s) for s in shapes])(key)
    ref = jax.jit(lambda k: [nn.initializers.orthogonal(1.5)(k, s) for s in shapes])(key)
    for shape, w, r in zip(shapes, ours, ref, strict=True):
        np.testing.assert_allclose(w, r, atol=2e-6, err_msg=str(shape))
        gram = w.T @ w if shape[0] >= shape[1] else w @ w.T
        np.testing.assert_allclose(gram, 2.25 * np.eye(min(shape)), atol=1e-5, err_msg=str(shape))
    hlo = jax.jit(jax.vmap(lambda k: orthogonal()(k, (64, 64)))).lower(jax.random.split(key, 4)).as_text()
    assert "custom_call" not in hlo  # batched LAPACK QR can deadlock XLA's CPU thread pool


def test_heads_follow_action_space():
    assert distribution_for(spaces.Discrete(3)) == ("categorical", 3)
    assert distribution_for(spaces.MultiDiscrete([2, 3])) == ("multi_categorical", 5)
    assert distribution_for(spaces.Box(-1.0, 1.0, (2, 3))) == ("gaussian", 6)
    with pytest.raises(TypeError, match="no policy distribution"):
        distribution_for(spaces.Dict({"a": spaces.Discrete(2)}))
    net = ActorCritic("gaussian", 2, (8,), (8,), init_log_std=-0.5)
    params = jax.jit(net.init)(jax.random.key(0), jnp.zeros((1, 3)))
    pi, v = net.apply(params, jnp.ones((5, 3)))
    assert isinstance(pi, DiagGaussian) and pi.mean.shape == (5, 2) and v.shape == (5,)
    np.testing.assert_allclose(pi.log_std, [-0.5, -0.5])
