"""Figures are written, carry the data they are given, and reject bad input."""

import numpy as np
import pytest

from jaxrl import plots, stats


def test_mean_band_ignores_nan_and_brackets_mean():
    y = np.array([[np.nan, 1.0, 2.0], [np.nan, 3.0, 4.0], [np.nan, 5.0, 6.0]])
    mean, lo, hi = plots.mean_band(y, reps=200)
    assert np.isnan(mean[0]) and np.isnan(lo[0])
    np.testing.assert_allclose(mean[1:], [3.0, 4.0])
    assert np.all(lo[1:] <= mean[1:]) and np.all(mean[1:] <= hi[1:])
    assert np.all(lo[1:] >= 1.0) and np.all(hi[1:] <= 6.0)


def test_figures_are_written(tmp_path):
    rng = np.random.default_rng(0)
    x = np.arange(20)
    fig = plots.learning_curves({"a": (x, rng.normal(size=(4, 20)))}, tmp_path / "lc.png", title="t")
    assert (tmp_path / "lc.png").stat().st_size > 5000
    assert fig.axes[0].get_xlabel() == "Environment steps" and fig.axes[0].get_title() == "t"
    sd = {"a": rng.uniform(size=(8, 2)), "b": rng.uniform(size=(8, 2))}
    plots.interval_estimates(stats.aggregate(sd, reps=50), tmp_path / "ie.png")
    plots.performance_profiles(sd, tmp_path / "pp.png", reps=50)
    fig = plots.improvement_matrix(sd, tmp_path / "poi.png")
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    p = stats.probability_of_improvement(sd["a"], sd["b"])
    assert texts == sorted([f"{p:.2f}", f"{1 - p:.2f}"])
    for name in ("ie", "pp", "poi"):
        assert (tmp_path / f"{name}.png").stat().st_size > 5000


def test_bad_profile_kind():
    with pytest.raises(ValueError, match="kind"):
        plots.performance_profiles({"a": np.ones((2, 1))}, kind="typo")
