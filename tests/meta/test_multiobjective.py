"""Multi-objective search: Pareto ranks, exact hypervolume, grouped selection, and the search on a toy agent."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxrl.errors import UserError
from jaxrl.meta.multiobjective import (
    MOConfig,
    check_initial_weights,
    explore_weights,
    front_report,
    group_truncation,
    hv_contributions,
    hypervolume,
    make_mo_search,
    pareto_ranks,
    single_objective_weights,
)
from jaxrl.meta.pbt import Prior


def brute_hv(points: np.ndarray, ref: np.ndarray) -> float:
    """Inclusion-exclusion over all subsets: volume of the union of boxes [ref, p]."""
    total = 0.0
    n = len(points)
    for k in range(1, n + 1):
        for sub in itertools.combinations(range(n), k):
            corner = np.min(points[list(sub)], axis=0)
            total += (-1) ** (k + 1) * np.prod(np.maximum(corner - ref, 0.0))
    return total


def test_hypervolume_matches_inclusion_exclusion():
    rng = np.random.default_rng(0)
    hv = jax.jit(hypervolume)
    for m in (2, 3):
        for _ in range(5):
            pts = rng.uniform(-0.2, 1.0, (6, m)).astype(np.float32)
            ref = np.zeros(m, np.float32)
            assert float(hv(jnp.asarray(pts), jnp.asarray(ref))) == pytest.approx(
                brute_hv(pts.astype(np.float64), ref), rel=1e-5, abs=1e-7)


def test_hypervolume_hand_values_and_contributions():
    pts = jnp.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [1.0, 1.0]])
    hv, ref = jax.jit(hypervolume), jnp.zeros(2)
    assert float(hv(pts, ref)) == pytest.approx(6.0)  # 3 + 4 + 3 - 2 - 2
    np.testing.assert_allclose(np.asarray(jax.jit(hv_contributions)(pts, ref)), [1.0, 1.0, 1.0, 0.0], atol=1e-6)
    mask = jnp.array([True, False, True, True])
    assert float(hv(pts, ref, mask)) == pytest.approx(5.0)
    assert float(hv(pts.at[0].set(jnp.nan), ref, jnp.ones(4, bool))) == pytest.approx(5.0)


def test_pareto_ranks():
    pts = jnp.array([[1.0, 3.0], [2.0, 2.0], [1.0, 1.0], [0.5, 0.5], [3.0, 0.0], [jnp.nan, 9.0]])
    ranks = jax.jit(pareto_ranks)
    np.testing.assert_array_equal(np.asarray(ranks(pts, jnp.ones(6, bool))), [0, 0, 1, 2, 0, 6])
    mask = jnp.array([False, False, True, True, False, False])
    np.testing.assert_array_equal(np.asarray(ranks(pts, mask)), [6, 6, 0, 1, 6, 6])


def test_group_truncation_stays_inside_groups():
    score = jnp.array([0.0, 1.0, 2.0, 3.0, 10.0, 20.0, 30.0, 40.0])
    group = jnp.array([0, 0, 0, 0, 1, 1, 1, 1])
    trunc = jax.jit(lambda k: group_truncation(k, score, group, 0.25))
    for seed in range(5):
        parent, loses = trunc(jax.random.PRNGKey(seed))
        np.testing.assert_array_equal(np.asarray(loses), [1, 0, 0, 0, 1, 0, 0, 0])
        assert int(parent[0]) == 3 and int(parent[4]) == 7
        np.testing.assert_array_equal(np.asarray(parent)[[1, 2, 3, 5, 6, 7]], [1, 2, 3, 5, 6, 7])


def test_explored_weights_stay_on_the_simplex():
    cfg = MOConfig(num_objectives=3, population=6, resample_prob=0.5)
    w = jnp.full((6, 3), 1.0 / 3.0)
    mask = jnp.array([True, True, True, False, False, False])
    new = np.asarray(jax.jit(lambda k: explore_weights(k, w, mask, cfg))(jax.random.PRNGKey(0)))
    np.testing.assert_allclose(new.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(new >= 0) and np.allclose(new[3:], 1.0 / 3.0) and not np.allclose(new[:3], 1.0 / 3.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_objectives=0), "num_objectives"),
        (dict(num_objectives=2, population=1), "population"),
        (dict(num_objectives=2, selection="crowding"), "selection"),
        (dict(num_objectives=3, reference=(0.0, 0.0)), "reference"),
        (dict(num_objectives=2, search={"lr": (1e-4, 1e-2)}), "Prior"),
        (dict(num_objectives=3, population=512), "too large"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(UserError, match=match):
        MOConfig(**kwargs)


def test_initial_weight_errors():
    cfg = MOConfig(num_objectives=3, population=2)
    with pytest.raises(UserError, match=r"\[2, 3\]"):
        check_initial_weights([[1.0, 0.0], [0.0, 1.0]], cfg)
    with pytest.raises(UserError, match="non-negative"):
        check_initial_weights([[1.0, -1.0, 0.0], [0.0, 1.0, 0.0]], cfg)
    with pytest.raises(UserError, match="all zero"):
        check_initial_weights([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]], cfg)
    np.testing.assert_allclose(check_initial_weights([[2.0, 2.0, 0.0], [0.0, 1.0, 0.0]], cfg)[0], [0.5, 0.5, 0.0])


# ----------------------------------------------------------------------------- search on a toy agent
@struct.dataclass
class ToyHParams:
    lr: jax.Array


@struct.dataclass
class ToyState:
    angle: jax.Array  # [] position on the quarter circle
    hparams: ToyHParams
    key: jax.Array = None


class ToyAgent:
    """Objectives (cos a, sin a): a concave front; training moves ``a`` toward the weights' optimum."""

    def __init__(self, weights):
        self.target = jnp.arctan2(weights[1], weights[0])

    def init(self, key, hparams=None):
        lr = jnp.float32(0.5) if not hparams else hparams["lr"]
        return ToyState(jnp.float32(0.0) + 0.0 * jax.random.uniform(key), ToyHParams(jnp.asarray(lr, jnp.float32)),
                        key)

    def train_chunk(self, s, n):
        a = s.angle
        for _ in range(n):
            a = a + s.hparams.lr * (self.target - a)
        return s.replace(angle=a), {"episode_return": jnp.zeros((n,))}

    def evaluate(self, key, s, episodes):
        w = jnp.stack([jnp.cos(self.target), jnp.sin(self.target)])
        w = w / jnp.sum(w)
        return jnp.full((episodes,), jnp.dot(w, jnp.stack([jnp.cos(s.angle), jnp.sin(s.angle)])))


def test_hypervolume_and_pareto_scores_rank_front_members_first():
    from jaxrl.meta.multiobjective import MOSearch

    fit = jnp.array([[1.0, 3.0], [2.0, 2.5], [3.0, 1.0], [1.0, 1.0]])
    w, group = jnp.full((4, 2), 0.5), jnp.zeros(4, jnp.int32)
    hv = MOSearch(ToyAgent, MOConfig(num_objectives=2, population=4, selection="hypervolume"))
    s = np.asarray(jax.jit(hv.scores)(fit, w, group))
    # HV = 3 + 2.5 + 1 = 6.5 (unit strips in x); exclusive contributions 0.5, 1.5, 1; the dominated
    # member gets -rank = -1
    np.testing.assert_allclose(s, [0.5 / 6.5, 1.5 / 6.5, 1.0 / 6.5, -1.0], rtol=1e-5)
    par = MOSearch(ToyAgent, MOConfig(num_objectives=2, population=4, selection="pareto"))
    np.testing.assert_allclose(np.asarray(jax.jit(par.scores)(fit, w, group)), [0, 0, 0, -1])
    sc = MOSearch(ToyAgent, MOConfig(num_objectives=2, population=4, selection="scalar"))
    np.testing.assert_allclose(np.asarray(sc.scores(fit, w, group)), [2.0, 2.25, 2.0, 1.0])


def test_copies_get_fresh_keys_and_the_last_round_copies_nothing():
    """Bugs of PBT that MOSearch shared: copies drew their donors' randomness; the last round returned clones."""
    cfg = MOConfig(num_objectives=2, search={"lr": Prior(0.2, 0.9)}, population=4, rounds=2, updates_per_round=1,
                   selection="scalar", eval_episodes=1, fraction=0.5)
    state, hist = jax.jit(make_mo_search(ToyAgent, cfg))(jax.random.key(0))
    copied, parent = np.asarray(hist["copied"]), np.asarray(hist["parent"])
    assert copied[0].any() and not copied[-1].any()  # a copy after round 1, none after the last round
    np.testing.assert_array_equal(parent[-1], np.arange(4))
    keys = np.asarray(jax.random.key_data(state.members.key))
    assert len({k.tobytes() for k in keys}) == 4  # no member shares its donor's key


@pytest.mark.slow
def test_search_covers_the_front_and_beats_single_objective_groups():
    cfg = MOConfig(num_objectives=2, search={"lr": Prior(0.2, 0.9)}, population=4, rounds=2, updates_per_round=4,
                   selection="pareto", eval_episodes=1)
    mo = jax.jit(make_mo_search(ToyAgent, cfg))
    _, hist = jax.vmap(mo)(jax.random.split(jax.random.PRNGKey(0), 3))
    final = np.asarray(hist["fitness"][:, -1])  # [seeds, P, 2]
    assert final.shape == (3, 4, 2)
    np.testing.assert_allclose(np.linalg.norm(final, axis=-1), 1.0, atol=0.05)  # on the unit-circle front
    w, g = single_objective_weights(cfg)
    so = jax.jit(make_mo_search(ToyAgent, MOConfig(**{**cfg.__dict__, "selection": "scalar", "search_weights": False}),
                                weights=w, group=g))
    _, hist_so = jax.vmap(so)(jax.random.split(jax.random.PRNGKey(1), 3))
    rep_mo = front_report(final, np.zeros(2), reps=200)
    rep_so = front_report(np.asarray(hist_so["fitness"][:, -1]), np.zeros(2), reps=200)
    assert rep_so["hypervolume"] < 0.1  # near the two corners (1, 0) and (0, 1), which enclose no area
    assert rep_mo["hv_low"] > 0.3 and rep_mo["hv_low"] <= rep_mo["hypervolume"] <= rep_mo["hv_high"]
    np.testing.assert_array_equal(np.asarray(hist_so["weights"][:, -1]), np.broadcast_to(w, (3, 4, 2)))
    with pytest.raises(UserError, match="seeds, members, objectives"):
        front_report(final[0], np.zeros(2))
