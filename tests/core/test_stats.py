"""jaxrl.stats against the spec's reference values, hand-computed cases and brute force."""

import numpy as np
import pytest

from jaxrl import stats


def test_reference_values_from_spec():
    assert stats.iqm(np.arange(100)) == pytest.approx(49.5)
    assert stats.optimality_gap(np.ones((5, 3))) == 0.0
    x = np.random.default_rng(0).normal(size=(10, 4))
    assert stats.probability_of_improvement(x, x) == pytest.approx(0.5)


def test_iqm_pools_runs_and_tasks():
    # 8 values pooled: trimming 25% drops the two lowest and two highest.
    s = np.array([[0.0, 100.0], [1.0, 2.0], [3.0, 4.0], [-50.0, 5.0]])
    assert stats.iqm(s) == pytest.approx(np.mean([1.0, 2.0, 3.0, 4.0]))


def test_nested_lists_are_runs_by_tasks_like_arrays():
    """``[[run0 task0, run0 task1], [run1 ...], ...]`` is [runs, tasks], exactly as ``np.asarray`` reads it."""
    rows = [[0.2, 1.5, 0.0], [0.4, 0.5, 1.0]]  # 2 runs x 3 tasks; per-task means 0.3, 1.0, 0.5
    np.testing.assert_array_equal(stats.as_scores(rows), np.array(rows))
    np.testing.assert_array_equal(stats.as_scores([np.array(r) for r in rows]), np.array(rows))
    np.testing.assert_array_equal(stats.as_scores(tuple(rows)), np.array(rows))
    assert stats.median(rows) == pytest.approx(0.5) and stats.mean(rows) == pytest.approx(0.6)
    np.testing.assert_allclose(stats.average_score_profile(rows, [0.4]), [2 / 3])  # task means 1.0, 0.5 above
    # on every task one of the two runs beats y's single run (read as [tasks, runs], x had 2 tasks and y 1)
    assert stats.probability_of_improvement(rows, [[0.3, 1.0, 0.5]]) == pytest.approx((0.5 + 0.5 + 0.5) / 3)
    assert stats.stratified_bootstrap(rows, reps=7).shape == (7, 2, 3)
    assert stats.as_scores([1.0, 2.0, 3.0]).shape == (3, 1)  # a flat list: runs of one task


def test_mean_median_optimality_gap_by_hand():
    s = np.array([[0.2, 1.5, 0.0], [0.4, 0.5, 1.0]])  # per-task means 0.3, 1.0, 0.5
    assert stats.mean(s) == pytest.approx(0.6)
    assert stats.median(s) == pytest.approx(0.5)
    # min(s, 1) = [[.2, 1, 0], [.4, .5, 1]] -> mean 3.1/6
    assert stats.optimality_gap(s) == pytest.approx(1 - 3.1 / 6)


def test_probability_of_improvement_counts_ties_half():
    x = np.array([[1.0], [2.0]])
    y = np.array([[1.0], [0.0], [3.0]])
    # pairs x>y: (1>0), (2>1), (2>0) = 3; ties: (1=1) = 1 -> (3 + .5) / 6
    assert stats.probability_of_improvement(x, y) == pytest.approx(3.5 / 6)
    assert stats.probability_of_improvement(y, x) == pytest.approx(1 - 3.5 / 6)


def test_profiles():
    s = np.array([[0.0, 1.0], [0.5, 2.0]])
    np.testing.assert_allclose(stats.run_score_profile(s, [-1, 0.25, 1.5, 5]), [1.0, 0.75, 0.25, 0.0])
    # task means 0.25, 1.5
    np.testing.assert_allclose(stats.average_score_profile(s, [0.0, 1.0, 2.0]), [1.0, 0.5, 0.0])


def test_stratified_bootstrap_keeps_tasks_apart_and_is_seeded():
    s = np.stack([np.arange(10.0), 100 + np.arange(10.0)], axis=1)
    b = stats.stratified_bootstrap(s, reps=50, seed=3)
    assert b.shape == (50, 10, 2)
    assert b[..., 0].max() < 10 and b[..., 1].min() >= 100  # never mixes tasks
    np.testing.assert_array_equal(b, stats.stratified_bootstrap(s, reps=50, seed=3))
    assert not np.array_equal(b, stats.stratified_bootstrap(s, reps=50, seed=4))


def test_bootstrap_ci_brackets_point_and_shrinks_with_runs():
    rng = np.random.default_rng(1)
    small = rng.normal(size=(10, 3))
    big = rng.normal(size=(400, 3))
    p, lo, hi = stats.stratified_bootstrap_ci(small, stats.mean, reps=500, seed=0)
    assert lo <= p <= hi
    _, lo2, hi2 = stats.stratified_bootstrap_ci(big, stats.mean, reps=500, seed=0)
    assert hi2 - lo2 < (hi - lo) / 3
    # the 95% interval of the mean of N(0,1) with 400x3 runs covers 0
    assert lo2 < 0 < hi2


def test_aggregate_and_poi_ci():
    rng = np.random.default_rng(2)
    good, bad = rng.normal(1.0, 0.1, (20, 2)), rng.normal(0.0, 0.1, (20, 2))
    agg = stats.aggregate({"good": good, "bad": bad}, reps=200)
    assert set(agg["good"]) == set(stats.METRICS)
    assert agg["good"]["IQM"][1] > agg["bad"]["IQM"][2]
    p, lo, hi = stats.poi_ci(good, bad, reps=200)
    assert p == 1.0 and lo == 1.0


def test_normalize_and_split_seeds():
    s = np.array([[0.0, 10.0], [5.0, 20.0]])
    np.testing.assert_allclose(stats.normalize(s, [0.0, 10.0], [10.0, 20.0]), [[0.0, 0.0], [0.5, 1.0]])
    tune, test = stats.split_seeds(10, 3, seed=0)
    assert len(tune) == 3 and len(test) == 7 and not set(tune) & set(test)
    assert sorted(np.concatenate([tune, test]).tolist()) == list(range(10))


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.array([]), "empty"),
        (np.array([[1.0, np.nan]]), "non-finite"),
        (np.zeros((2, 2, 2)), "expected"),
        ([np.ones(3), np.ones(4)], "different numbers of tasks"),
        ([[1.0, 2.0], [3.0]], "different numbers of tasks"),
    ],
)
def test_bad_input_raises(bad, match):
    with pytest.raises(ValueError, match=match):
        stats.iqm(bad)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="tasks"):
        stats.probability_of_improvement(np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="different numbers of tasks"):
        stats.aggregate({"a": np.ones((3, 2)), "b": np.ones((3, 1))})
    with pytest.raises(ValueError, match="high equals low"):
        stats.normalize(np.ones((2, 2)), [0, 1], [1, 1])
    with pytest.raises(ValueError, match="confidence"):
        stats.stratified_bootstrap_ci(np.ones((3, 1)), confidence=1.5)
    with pytest.raises(ValueError, match="num_tune"):
        stats.split_seeds(5, 5)


def test_matches_rliable_when_installed():
    rly = pytest.importorskip("rliable.metrics")
    s = np.random.default_rng(5).uniform(size=(12, 4))
    assert stats.iqm(s) == pytest.approx(rly.aggregate_iqm(s))
    assert stats.mean(s) == pytest.approx(rly.aggregate_mean(s))
    assert stats.median(s) == pytest.approx(rly.aggregate_median(s))
    assert stats.optimality_gap(s) == pytest.approx(rly.aggregate_optimality_gap(s))
