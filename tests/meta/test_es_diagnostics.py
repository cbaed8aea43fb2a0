"""ES run diagnostics (displacement vs noise / signal scales, fitness trend, gradient cosine) and ES regime options
(common random numbers, sigma / lr schedules with floors, Adam beta1), on synthetic ES runs of a 7-parameter pytree."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.meta.es import ESConfig, EvolutionStrategy, lr_schedule, sigma_schedule
from jaxrl.meta.es_diagnostics import diagnose, fitness_trend, scales, write_diagnostics

TEMPLATE = {"a": jnp.zeros(3), "b": jnp.zeros((2, 2))}
DIRECTION = {"a": jnp.array([1.0, -2.0, 0.5]), "b": jnp.array([[1.5, -1.0], [0.7, -0.3]])}
GENS = 80


def pure_noise(pop, keys):
    """Fitness independent of the parameters: a fresh random number per member (needs distinct keys)."""
    return jax.vmap(lambda k: jax.random.normal(k[0]))(keys), {}


def linear(pop, keys):
    """A consistent gradient: fitness = <x, DIRECTION> (the same ascent direction everywhere)."""
    f = jax.tree.map(lambda x, d: jnp.sum(x * d, axis=tuple(range(1, x.ndim))), pop, DIRECTION)
    return f["a"] + f["b"], {}


def run(fitness_fn, **kw):
    cfg = ESConfig(**{"popsize": 32, "lr": 0.01, "sigma": 0.05, **kw})
    es = EvolutionStrategy(cfg, TEMPLATE, fitness_fn)
    state, m = jax.jit(lambda k: es.run(es.init(k), GENS))(jax.random.key(3))
    return es, state, jax.device_get(m)


@pytest.fixture(scope="module")
def noise_run():
    return run(pure_noise, antithetic=False)


@pytest.fixture(scope="module")
def signal_run():
    return run(linear, popsize=128)  # many members per dimension: gradient estimates close to the true one


def test_pure_noise_run_is_flagged_noise_dominated(noise_run):
    _, _, m = noise_run
    d = diagnose(m)
    assert set(d["layers"]) == {"a", "b"}
    assert d["noise_scale"] == pytest.approx(0.01 * np.sqrt(GENS), rel=1e-5)
    assert d["signal_scale"] == pytest.approx(0.01 * GENS, rel=1e-5)
    for v in d["layers"].values():  # Adam on noise: a random walk of lr-sized steps, ~ lr sqrt(G)
        assert 0.2 < v["displacement_over_noise"] < 2.0, v
    assert d["fitness_trend"]["low"] < 0 < d["fitness_trend"]["high"]
    assert abs(d["grad_cosine"]["mean"]) < 0.1 and d["grad_cosine"]["n"] == GENS - 1
    assert d["noise_dominated"] and "noise-dominated" in d["warning"]


def test_consistent_gradient_run_is_not_noise_dominated(signal_run):
    es, state, m = signal_run
    d = diagnose(m)
    for v in d["layers"].values():  # every Adam step in one direction: displacement ~ lr G per coordinate
        assert v["displacement_over_noise"] > 0.5 * np.sqrt(GENS) and 0.5 < v["displacement_over_signal"] <= 1.0001
    assert d["fitness_trend"]["low"] > 0
    assert d["grad_cosine"]["mean"] > 0.85
    assert not d["noise_dominated"] and d["warning"] is None
    # displacement metric = rms of (mean - start) per layer, computed by hand
    moved = np.asarray(es.mean(state)["b"])  # started at 0
    assert m["displacement/b"][-1] == pytest.approx(np.sqrt(np.mean(moved**2)), rel=1e-5)
    assert m["grad_cosine"][0] == 0.0  # no predecessor in generation 1


def test_fitness_trend_interval():
    rng = np.random.default_rng(0)
    x = np.arange(100)
    up = fitness_trend(0.05 * x + rng.normal(size=100))
    assert up["low"] > 0 and up["low"] < 0.05 < up["high"]
    flat = fitness_trend(rng.normal(size=100))
    assert flat["low"] < 0 < flat["high"]
    walk = fitness_trend(np.cumsum(rng.normal(size=100)))  # autocorrelated: wider interval than iid residuals
    assert walk["rho"] > 0.5 and walk["n_eff"] < 30
    bend = fitness_trend(np.sqrt(x) + 0.1 * rng.normal(size=100))  # a trend that flattens is still a trend
    assert bend["low"] > 0
    assert np.isnan(fitness_trend(np.array([1.0, 2.0, 3.0]))["slope"])
    noise, signal = scales(np.array([0.1, 0.1, 0.1, 0.1]))
    np.testing.assert_allclose(noise, 0.1 * np.sqrt([1, 2, 3, 4]))
    np.testing.assert_allclose(signal, [0.1, 0.2, 0.3, 0.4])


def test_write_diagnostics(noise_run, tmp_path):
    _, _, m = noise_run
    d = write_diagnostics(tmp_path, m)
    saved = json.loads((tmp_path / "diagnostics.json").read_text())
    assert saved["noise_dominated"] is True and saved["layers"].keys() == d["layers"].keys()
    assert (tmp_path / "diagnostics.png").stat().st_size > 10_000
    short = diagnose({k: v[:4] for k, v in m.items()})  # lr*4 = 2 lr*sqrt(4): no run this short can pass the bar
    assert short["noise_dominated"] is None and "too short to judge" in short["warning"]
    assert diagnose({k: v[:5] for k, v in m.items()})["noise_dominated"] is not None
    with pytest.raises(ValueError, match="grad_cosine"):
        diagnose({"fitness_mean": np.zeros(3), "step_scale": np.ones(3), "displacement/a": np.zeros(3)})


# --------------------------------------------------------------------------- regime options
@pytest.mark.parametrize("antithetic", [True, False])
def test_common_random_numbers_give_every_member_the_same_keys(antithetic):
    cfg = ESConfig(popsize=6, num_seeds=3, antithetic=antithetic, common_random_numbers=True)
    es = EvolutionStrategy(cfg, TEMPLATE, linear)
    keys = es.member_keys(jax.random.key(0))
    kd = np.asarray(jax.random.key_data(keys))  # [6, 3, 2]
    assert keys.shape == (6, 3)
    for j in range(6):
        np.testing.assert_array_equal(kd[j], kd[0])  # every member (so every antithetic pair too)
    assert len({tuple(r) for r in kd[0]}) == 3  # the seeds still differ
    off = EvolutionStrategy(cfg.replace(common_random_numbers=False), TEMPLATE, linear)
    kd_off = np.asarray(jax.random.key_data(off.member_keys(jax.random.key(0))))
    assert len({tuple(r) for r in kd_off.reshape(18, -1)}) == (9 if antithetic else 18)
    if antithetic:
        np.testing.assert_array_equal(kd_off[:3], kd_off[3:])


def test_objective_discovery_defaults_to_common_random_numbers_and_evaluation_fitness():
    from jaxrl.meta.es import MetaConfig

    assert MetaConfig().es.common_random_numbers is True and MetaConfig().fitness == "eval"
    assert MetaConfig(es=ESConfig(popsize=4)).es.common_random_numbers is True  # None -> on for discovery
    assert MetaConfig(es=ESConfig(common_random_numbers=False)).es.common_random_numbers is False
    assert not ESConfig().common_random_numbers  # a plain ES (the LPG study) keeps per-member keys
    with pytest.raises(ValueError, match="init_scale"):
        MetaConfig(init_scale=-1.0)


def test_schedules_reach_and_hold_their_floors():
    cfg = ESConfig(lr=0.03, lr_decay=0.9, lr_floor=0.01, sigma=0.04, sigma_decay=0.8, sigma_min=0.02)
    lr = np.array([float(lr_schedule(cfg)(g)) for g in range(40)])
    sig = np.array([float(sigma_schedule(cfg)(g)) for g in range(40)])
    assert lr[0] == pytest.approx(0.03) and lr[1] == pytest.approx(0.027) and sig[1] == pytest.approx(0.032)
    assert lr[11] == pytest.approx(0.01) and np.all(lr[11:] == lr[11])  # 0.03 * 0.9^11 < 0.01: held
    assert sig[4] == pytest.approx(0.02) and np.all(sig[4:] == sig[4])
    assert np.all(np.diff(lr) <= 0) and np.all(np.diff(sig) <= 0)
    # inside a run: the step scale (Adam's lr) and the sampling sigma follow the same schedules
    es = EvolutionStrategy(cfg.replace(popsize=8), TEMPLATE, linear)
    _, m = jax.jit(lambda k: es.run(es.init(k), 20))(jax.random.key(0))
    np.testing.assert_allclose(np.asarray(m["step_scale"]), lr[:20], rtol=1e-5)
    assert float(m["sigma"][-1]) == pytest.approx(0.02, rel=1e-5)
    const = ESConfig()
    assert float(lr_schedule(const)(500)) == pytest.approx(0.01) and float(sigma_schedule(const)(500)) == 0.04


def test_adam_beta1_reaches_the_optimiser():
    from jaxrl.meta.es import make_strategy

    def last_update(b1):  # gradients +1, +1, +1 then -1: the last step's sign depends on the momentum
        opt = make_strategy(ESConfig(adam_b1=b1), TEMPLATE)[0].optimizer
        s = opt.init(jnp.zeros(2))
        for _ in range(3):
            _, s = opt.update(jnp.ones(2), s, jnp.zeros(2))
        return np.asarray(opt.update(-jnp.ones(2), s, jnp.zeros(2))[0])

    assert np.all(last_update(0.0) > 0) and np.all(last_update(0.99) < 0)  # descent: -lr * m / sqrt(v)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(popsize=7), "even popsize"),
        (dict(strategy="snes", shaping="pairwise"), "pairwise.*open_es"),
        (dict(strategy="cma_es", shaping="pairwise", antithetic=True), "pairwise.*open_es"),
        (dict(sigma=0.0), "sigma must be > 0"),
        (dict(sigma=-1.0), "sigma must be > 0"),
        (dict(lr=0.0), "lr must be > 0"),
        (dict(sigma=0.04, sigma_min=0.05), "sigma_min = 0.05 is above"),
        (dict(lr=0.01, lr_floor=0.02), "lr_floor = 0.02 is above"),
        (dict(lr_decay=0.0), "lr_decay"),
        (dict(adam_b1=1.0), "adam_b1"),
    ],
)
def test_bad_es_configs_raise_before_tracing(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ESConfig(**kwargs)
