"""Evolution strategies: shaping, antithetic pairing, convergence on a quadratic inside jit + lax.scan."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.meta.es import ESConfig, EvolutionStrategy, chunk_sizes, default_chunk, shape_fitness

TARGET = {"a": jnp.array([0.5, -0.25, 1.0]), "b": jnp.array([[-0.5, 0.75], [0.25, 0.0]])}
TEMPLATE = jax.tree.map(jnp.zeros_like, TARGET)


def quadratic(pop, keys):
    """Fitness (maximised): -||x - target||^2 per member ``[P]``; keys unused."""
    sq = jax.tree.map(lambda x, t: jnp.sum((x - t) ** 2, axis=tuple(range(1, x.ndim))), pop, TARGET)
    return -(sq["a"] + sq["b"]), {"dist2": sq["a"] + sq["b"]}


def mean_dist2(es, state):
    m = es.mean(state)
    return float(sum(jnp.sum((m[k] - TARGET[k]) ** 2) for k in TARGET))


# --------------------------------------------------------------------------- shaping
def test_shaping_centered_rank_z_score_pairwise_raw():
    f = jnp.array([3.0, -1.0, 10.0, 2.0])
    np.testing.assert_allclose(np.asarray(shape_fitness(f, "centered_rank")), [1 / 6, -0.5, 0.5, -1 / 6], rtol=1e-6)
    z = np.asarray(shape_fitness(f, "z_score"))
    assert abs(z.mean()) < 1e-6 and z.std() == pytest.approx(1.0, rel=1e-4) and np.argmax(z) == 2
    # pairs (0, 2) and (1, 3): 10 beats 3, 2 beats -1
    np.testing.assert_array_equal(np.asarray(shape_fitness(f, "pairwise")), [0.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(np.asarray(shape_fitness(jnp.array([1.0, 2.0]), "pairwise")), [0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(shape_fitness(jnp.array([2.0, 2.0]), "pairwise")), [0.5, 0.5])
    np.testing.assert_array_equal(np.asarray(shape_fitness(f, "raw")), np.asarray(f))
    # NaN (a failed run) ranks below everything
    g = np.asarray(shape_fitness(jnp.array([1.0, jnp.nan, 0.0, 2.0]), "centered_rank"))
    assert np.argmin(g) == 1 and np.all(np.isfinite(g))
    assert np.asarray(shape_fitness(jnp.array([jnp.nan, 1.0]), "pairwise")).tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="unknown fitness shaping"):
        shape_fitness(f, "softmax")


def test_config_validation():
    with pytest.raises(ValueError, match="unknown ES strategy"):
        ESConfig(strategy="pso")
    with pytest.raises(ValueError, match="even popsize"):
        ESConfig(popsize=5)
    with pytest.raises(ValueError, match="weight_decay"):
        ESConfig(weight_decay=-1.0)
    with pytest.raises(ValueError, match="pairwise"):
        ESConfig(strategy="cma_es", shaping="pairwise")
    assert ESConfig(strategy="cma_es").use_antithetic is False and ESConfig().use_antithetic is True
    assert chunk_sizes(10, 4) == [4, 4, 2] and chunk_sizes(6, 3) == [3, 3]
    assert default_chunk(100) == 10 and default_chunk(7) in (1, 7)


@pytest.mark.parametrize("strategy", ["snes", "cma_es"])
@pytest.mark.parametrize("antithetic", [None, True])
def test_rank_based_strategies_reject_pairwise_shaping(strategy, antithetic):
    """SNES and CMA-ES apply their own rank weights: pairwise's tied 0 / 0.5 / 1 utilities would be re-ranked
    in an arbitrary order, so the combination is refused when the config is built (before any tracing)."""
    with pytest.raises(ValueError, match="pairwise.*open_es"):
        ESConfig(strategy=strategy, shaping="pairwise", antithetic=antithetic)
    ESConfig(strategy=strategy, shaping="centered_rank", antithetic=antithetic)  # the rank-based shapings are fine
    ESConfig(strategy="open_es", shaping="pairwise")


@pytest.mark.parametrize("strategy", ["open_es", "snes", "cma_es"])
def test_odd_antithetic_population_and_bad_sigma_raise_before_tracing(strategy):
    with pytest.raises(ValueError, match="even popsize"):
        ESConfig(strategy=strategy, popsize=7, antithetic=True)
    for sigma in (0.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"sigma must be (> 0|a finite)"):
            ESConfig(strategy=strategy, sigma=sigma)
    assert ESConfig(strategy=strategy, popsize=7, antithetic=False).popsize == 7  # odd is fine without pairs


# --------------------------------------------------------------------------- antithetic pairing
@pytest.mark.parametrize("strategy", ["open_es", "snes", "cma_es"])
def test_antithetic_pairs_get_identical_keys_and_opposite_noise(strategy):
    es = EvolutionStrategy(ESConfig(strategy=strategy, popsize=8, num_seeds=3, antithetic=True), TEMPLATE, quadratic)
    state = es.init(jax.random.key(0), mean=jax.tree.map(lambda t: t + 0.3, TARGET))
    pop, keys, _, _ = jax.jit(es.ask)(state)
    mean = es.mean(state)
    assert keys.shape == (8, 3)
    kd = np.asarray(jax.random.key_data(keys))  # [8, 3, 2]
    np.testing.assert_array_equal(kd[:4], kd[4:])  # pair (j, j + 4): same keys for every seed
    flat = kd.reshape(8 * 3, -1)[: 4 * 3]
    assert len({tuple(r) for r in flat}) == 12  # different pairs / seeds: different keys
    for k in TARGET:
        noise = np.asarray(pop[k] - mean[k])
        np.testing.assert_allclose(noise[:4], -noise[4:], atol=1e-6)
        assert np.abs(noise).max() > 1e-3


def test_without_antithetic_every_member_has_its_own_keys():
    es = EvolutionStrategy(ESConfig(popsize=6, num_seeds=2, antithetic=False), TEMPLATE, quadratic)
    _, keys, _, _ = es.ask(es.init(jax.random.key(0)))
    kd = np.asarray(jax.random.key_data(keys)).reshape(12, -1)
    assert len({tuple(r) for r in kd}) == 12


# --------------------------------------------------------------------------- convergence
@pytest.mark.parametrize(
    "strategy, kwargs",
    [
        ("open_es", dict(lr=0.05, sigma=0.1)),
        ("open_es", dict(lr=0.05, sigma=0.1, shaping="z_score")),
        ("open_es", dict(lr=0.05, sigma=0.1, shaping="pairwise")),
        ("open_es", dict(lr=0.05, sigma=0.1, weight_decay=1e-3, antithetic=False)),
        ("snes", dict(sigma=0.3)),
        ("cma_es", dict(sigma=0.3)),
    ],
)
def test_es_converges_on_a_quadratic_inside_jit_and_scan(strategy, kwargs):
    es = EvolutionStrategy(ESConfig(strategy=strategy, popsize=16, **kwargs), TEMPLATE, quadratic)
    run = jax.jit(lambda k: es.run(es.init(k), 120))
    state, metrics = run(jax.random.key(1))
    start = float(sum(jnp.sum(t**2) for t in jax.tree.leaves(TARGET)))
    assert metrics["fitness_mean"].shape == (120,) and int(state.generation) == 120
    assert mean_dist2(es, state) < 0.01 * start, f"{strategy}: |mean - target|^2 = {mean_dist2(es, state)}"
    assert float(metrics["fitness_mean"][-1]) > float(metrics["fitness_mean"][0])  # maximised, not minimised
    assert float(state.best_fitness) == pytest.approx(float(jnp.max(metrics["fitness_best"])))
    best = es.best(state)
    assert -float(quadratic(jax.tree.map(lambda x: x[None], best), None)[0][0]) == pytest.approx(
        -float(state.best_fitness), rel=1e-4, abs=1e-6
    )


def test_generation_callback_and_chunks_compose():
    seen = []
    es = EvolutionStrategy(ESConfig(popsize=8, lr=0.05, sigma=0.1), TEMPLATE, quadratic, on_generation=seen.append)
    s0 = es.init(jax.random.key(2))
    chunk = jax.jit(lambda s: es.run(s, 3))
    s1, m1 = chunk(s0)
    s2, m2 = chunk(s1)  # same types in and out: no retrace, and chunks compose
    assert chunk._cache_size() == 1
    whole, mw = jax.jit(lambda s: es.run(s, 6))(s0)
    np.testing.assert_allclose(np.asarray(whole.es_state.mean), np.asarray(s2.es_state.mean), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        np.concatenate([m1["fitness_mean"], m2["fitness_mean"]]), np.asarray(mw["fitness_mean"]), rtol=1e-5
    )
    jax.effects_barrier()
    assert [int(m["generation"]) for m in seen[:6]] == [1, 2, 3, 4, 5, 6]
    assert {"fitness_best", "fitness_mean", "sigma", "dist2"} <= set(seen[0])


def test_paired_open_es_matches_evosax_and_ignores_tied_pairs():
    """Same update as evosax's Open_ES for distinct fitness; exactly none for pairs with tied fitness
    (evosax turns the rounding noise of tied pairs into full Adam steps)."""
    import optax
    from evosax.algorithms import Open_ES
    from evosax.core.fitness_shaping import identity_fitness_shaping_fn

    from jaxrl.meta.es import PairedOpen_ES

    kw = dict(optimizer=optax.adam(0.01), std_schedule=optax.constant_schedule(0.1))
    kw["fitness_shaping_fn"] = identity_fitness_shaping_fn
    ours, theirs = PairedOpen_ES(8, TEMPLATE, **kw), Open_ES(8, TEMPLATE, **kw)
    mean = jax.tree.map(lambda t: t + 0.2, TARGET)
    s_ours = ours.init(jax.random.key(0), mean, ours.default_params)
    s_theirs = theirs.init(jax.random.key(0), mean, theirs.default_params)
    pop, _ = ours.ask(jax.random.key(1), s_ours, ours.default_params)
    utility = jnp.array([0.3, -0.1, 0.5, -0.5, 0.2, 0.1, -0.3, 0.4])
    a, _ = ours.tell(jax.random.key(2), pop, utility, s_ours, ours.default_params)
    b, _ = theirs.tell(jax.random.key(2), pop, utility, s_theirs, theirs.default_params)
    np.testing.assert_allclose(np.asarray(a.mean), np.asarray(b.mean), rtol=1e-5, atol=1e-6)
    assert np.abs(np.asarray(a.mean - s_ours.mean)).max() > 1e-3
    tied = jnp.concatenate([utility[:4], utility[:4]])  # every pair tied
    c, _ = ours.tell(jax.random.key(2), pop, tied, s_ours, ours.default_params)
    np.testing.assert_array_equal(np.asarray(c.mean), np.asarray(s_ours.mean))
