"""Learned and closed-form policy objectives: drift guarantees, PPO equivalence, DPO by hand, n/N."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.agents import ppo
from jaxrl.meta.objectives import (
    DPO,
    LPO,
    TALPO,
    PPOClip,
    dpo_drift,
    load_objective,
    lpo_features,
    make_objective,
    save_objective,
    update_fraction,
)

HP = ppo.default_hparams(ppo.Config())
RATIOS = np.concatenate([np.linspace(0.05, 3.0, 60), [1.0 - 1e-3, 1.0, 1.0 + 1e-3]]).astype(np.float32)
ADVS = np.linspace(-4.0, 4.0, 41).astype(np.float32)
GRID_R, GRID_A = (jnp.asarray(x) for x in np.meshgrid(RATIOS, ADVS))
FRACS = (0.0, 0.3, 1.0)


def learned(name: str, scale: float, seed: int = 0):
    obj = make_objective(name, num_updates=10)
    return obj, obj.init_params(jax.random.key(seed), scale)


CASES = [
    ("ppo", 0.0),
    ("dpo", 0.0),
    ("lpo", 0.0),
    ("lpo", 1.0),
    ("lpo", 30.0),  # scaled-up random parameters
    ("ta_lpo", 1.0),
    ("ta_lpo", 30.0),
]


@pytest.mark.parametrize("name, scale", CASES)
def test_drift_is_nonnegative_everywhere(name, scale):
    obj, params = learned(name, scale)
    for frac in FRACS:
        d = np.asarray(obj.drift(params, jnp.log(GRID_R), GRID_A, jnp.float32(frac), 0.2))
        assert d.shape == GRID_R.shape and np.all(np.isfinite(d))
        assert d.min() >= 0.0, f"{name} x{scale}: negative drift {d.min()} at n/N={frac}"
    if scale:  # the random net really changes the drift away from PPO's somewhere
        ppo_d = np.asarray(PPOClip().drift(None, jnp.log(GRID_R), GRID_A, 1.0, 0.2))
        assert np.abs(d - ppo_d).max() > 1e-2


@pytest.mark.parametrize("name, scale", CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_drift_zero_with_zero_gradient_at_ratio_one(name, scale, seed):
    obj, params = learned(name, scale, seed)

    def drift_of_r(r, a, frac):
        return obj.drift(params, jnp.log(r), a, frac, 0.2)

    ones = jnp.ones_like(jnp.asarray(ADVS))
    for frac in FRACS:
        f = jnp.float32(frac)
        d = jax.vmap(drift_of_r, (0, 0, None))(ones, jnp.asarray(ADVS), f)
        g = jax.vmap(jax.grad(drift_of_r), (0, 0, None))(ones, jnp.asarray(ADVS), f)
        np.testing.assert_array_equal(np.asarray(d), 0.0)
        np.testing.assert_array_equal(np.asarray(g), 0.0)


def test_lpo_features_vanish_at_ratio_one_and_count():
    x = lpo_features(jnp.zeros(5), jnp.linspace(-2, 2, 5))
    assert x.shape == (5, 8)
    np.testing.assert_array_equal(np.asarray(x), 0.0)
    assert sum(v.size for v in jax.tree.leaves(LPO().init_params())) == 1152
    assert sum(v.size for v in jax.tree.leaves(TALPO(num_updates=5).init_params())) == 16 * 128 + 128
    x = lpo_features(jnp.log(jnp.array([2.0])), jnp.array([3.0]))  # r = 2: d, d^2, 1-r, (1-r)^2, then times A
    d = math.log(2.0)
    np.testing.assert_allclose(np.asarray(x[0]), [d, d * d, -1, 1, 3 * d, 3 * d * d, -3, 3], rtol=1e-6)


@pytest.mark.parametrize("scale", [0.1, 0.5])
def test_zero_parameter_lpo_and_ta_lpo_equal_ppo_clip(scale):
    k1, k2 = jax.random.split(jax.random.key(3))
    log_ratio = scale * jax.random.normal(k1, (4096,))
    adv = jax.random.normal(k2, (4096,))
    ref = float(ppo.clipped_objective(log_ratio, adv, jnp.float32(0.0), HP))
    assert float(PPOClip()(log_ratio, adv, jnp.float32(0.5), HP)) == pytest.approx(ref, abs=1e-6)
    for name in ("lpo", "ta_lpo"):
        obj = make_objective(name, num_updates=7)
        for progress in (0.0, 3 / 7, 6 / 7):
            val = float(obj(log_ratio, adv, jnp.float32(progress), HP, obj.init_params()))
            assert abs(val - ref) <= 1e-4, f"{name}: {val} vs PPO-clip {ref}"
    # a non-zero net does change the loss (the comparison above can fail)
    obj = make_objective("lpo")
    params = obj.init_params(jax.random.key(0), 5.0)
    assert abs(float(obj(log_ratio, adv, jnp.float32(0.0), HP, params)) - ref) > 1e-3


def test_learned_objective_needs_parameters():
    with pytest.raises(ValueError, match="objective_params"):
        LPO()(jnp.zeros(3), jnp.ones(3), jnp.float32(0.0), HP)


def test_dpo_branch_values_by_hand():
    alpha, beta = 2.0, 0.6

    def hand(r, a):
        if a >= 0:
            x = (r - 1) * a
            return max(0.0, x - alpha * math.tanh(x / alpha))
        x = math.log(r) * a
        return max(0.0, x - beta * math.tanh(x / beta))

    cases = [(1.5, 1.0), (2.0, 0.5), (0.5, -1.0), (0.3, -2.0), (1.3, -1.0), (0.7, 1.5), (1.0, 3.0), (1.0, -3.0)]
    r = jnp.array([c[0] for c in cases])
    a = jnp.array([c[1] for c in cases])
    got = np.asarray(dpo_drift(jnp.log(r), a))
    want = np.array([hand(*c) for c in cases])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    # worked values: A >= 0 branch at r = 1.5, A = 1: 0.5 - 2 tanh(0.25); A < 0 branch at r = 0.5, A = -1
    assert got[0] == pytest.approx(0.5 - 2 * math.tanh(0.25), rel=1e-5)
    assert got[2] == pytest.approx(math.log(2) - 0.6 * math.tanh(math.log(2) / 0.6), rel=1e-5)
    assert got[0] > 0 and got[2] > 0 and got[4] == 0 and got[5] == 0  # drift only where the step goes "too far"
    # the loss is -mean(r A - drift)
    loss = float(DPO()(jnp.log(r), a, jnp.float32(0.0), HP))
    assert loss == pytest.approx(-float(np.mean(np.asarray(r) * np.asarray(a) - want)), rel=1e-5)


@pytest.mark.parametrize("n", [1, 2, 7, 64, 976, 100_000])
def test_update_fraction_is_one_exactly_at_the_last_update(n):
    updates = np.arange(n, dtype=np.int32)
    progress = jnp.asarray(updates).astype(jnp.float32) / n  # exactly PPO's `state.update / num_updates`
    frac = np.asarray(jax.vmap(lambda p: update_fraction(p, n))(progress))
    assert frac[-1] == 1.0
    np.testing.assert_allclose(frac, (updates + 1) / n, rtol=1e-6)
    assert np.all(np.diff(frac) > 0)


def test_ta_lpo_sees_n_over_n_equal_one_in_the_last_ppo_update():
    """Through PPO itself: a probe objective returns n/N as the policy loss of every update."""
    cfg = ppo.Config(num_envs=2, num_steps=8, num_minibatches=1, update_epochs=1, total_timesteps=48)
    ta = make_objective("ta_lpo", cfg.num_updates)

    def probe(log_ratio, advantage, progress, hparams, objective_params=None):
        return ta.fraction(progress) + 0.0 * jnp.mean(log_ratio)

    _, metrics = jax.jit(ppo.make_train(cfg, probe))(jax.random.key(0))
    frac = np.asarray(metrics["policy_loss"])
    assert cfg.num_updates == 3 and frac[-1] == 1.0
    np.testing.assert_allclose(frac, [1 / 3, 2 / 3, 1.0], rtol=1e-6)


def test_make_objective_errors():
    with pytest.raises(ValueError, match="needs num_updates"):
        make_objective("ta_lpo")
    with pytest.raises(ValueError, match="unknown objective"):
        make_objective("lpg")
    with pytest.raises(ValueError, match="positive int"):
        TALPO(num_updates=0)


def test_save_and_load_objective_roundtrip(tmp_path):
    obj = make_objective("ta_lpo", num_updates=12)
    params = obj.init_params(jax.random.key(1), 1.0)
    save_objective(tmp_path / "ta", obj, params, {"note": "test"})
    loaded, p2, meta = load_objective(tmp_path / "ta")
    assert loaded == obj and meta["note"] == "test" and meta["objective"] == "ta_lpo"
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(p2), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other, _, _ = load_objective(tmp_path / "ta", num_updates=40)  # another horizon, same parameters
    assert other.num_updates == 40


def test_drift_net_is_even_in_its_parameters():
    """net(-theta) = net(theta) (tanh is odd, no biases) and its parameter gradient vanishes at 0: theta = 0
    is a stationary point of any fitness, which is why meta-training starts from small random parameters."""
    from jaxrl.meta.objectives.core import drift_net

    obj = LPO()
    params = obj.init_params(jax.random.key(0), 1.0)
    x = lpo_features(0.3 * jax.random.normal(jax.random.key(1), (64,)), jax.random.normal(jax.random.key(2), (64,)))
    neg = jax.tree.map(jnp.negative, params)
    np.testing.assert_allclose(np.asarray(drift_net(neg, x)), np.asarray(drift_net(params, x)), rtol=1e-5, atol=1e-7)
    g = jax.grad(lambda p: jnp.sum(drift_net(p, x)))(obj.init_params())
    assert all(float(jnp.abs(v).max()) == 0.0 for v in jax.tree.leaves(g))
