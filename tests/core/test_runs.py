"""jaxrl.runs: run-directory files, CSV layout, bootstrap CI on known data, the learning-curve PNG."""

import csv
import json

import numpy as np
import pytest

from jaxrl import runs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_bootstrap_ci_two_values_by_hand():
    # Resampled means of {0, 1} are 0, .5, 1 with probabilities 1/4, 1/2, 1/4.
    mean, lo, hi = runs.bootstrap_ci([0.0, 1.0], reps=20_000, seed=3)
    assert mean == 0.5 and lo == 0.0 and hi == 1.0


def test_bootstrap_ci_matches_brute_force_and_is_seeded():
    x = np.array([3.0, 7.0, 1.0, 9.0, 4.0, 4.5])
    mean, lo, hi = runs.bootstrap_ci(x, confidence=0.9, reps=500, seed=11)
    idx = np.random.default_rng(11).integers(0, len(x), size=(500, len(x)))
    boot = np.array([x[i].mean() for i in idx])
    assert mean == pytest.approx(x.mean())
    assert (lo, hi) == pytest.approx(tuple(np.quantile(boot, [0.05, 0.95])))
    assert runs.bootstrap_ci(x, reps=500, seed=11) == runs.bootstrap_ci(x, reps=500, seed=11)
    assert runs.bootstrap_ci(x, reps=500, seed=11) != runs.bootstrap_ci(x, reps=500, seed=12)


def test_bootstrap_ci_per_column_ignores_nan():
    y = np.array([[1.0, np.nan, np.nan], [3.0, 5.0, np.nan]])  # [seeds, T]
    mean, lo, hi = runs.bootstrap_ci(y, reps=200)
    np.testing.assert_allclose(mean[:2], [2.0, 5.0])
    assert lo[0] >= 1.0 and hi[0] <= 3.0 and lo[1] == hi[1] == 5.0
    assert np.isnan(mean[2]) and np.isnan(lo[2])
    with pytest.raises(ValueError, match="confidence"):
        runs.bootstrap_ci([1.0], confidence=1.5)


def test_forward_fill():
    x = np.array([[np.nan, 1.0, np.nan, 3.0, np.nan], [2.0, np.nan, np.nan, np.nan, 0.0]])
    np.testing.assert_array_equal(runs.forward_fill(x), [[np.nan, 1, 1, 3, 3], [2, 2, 2, 2, 0]])


def test_to_jsonable_handles_arrays_tuples_nan():
    out = runs.to_jsonable({"a": np.float32(1.5), "b": (1, 2), "c": np.arange(3), "d": float("nan")})
    assert out == {"a": 1.5, "b": [1, 2], "c": [0, 1, 2], "d": None}


@pytest.fixture
def run(tmp_path):
    return runs.RunDir.create(tmp_path / "r", {"algo": "x", "config": {"lr": 0.1, "hidden": (4, 4)}}, seeds=[5, 6])


def test_create_writes_records(run):
    for name in ("config.json", "versions.json", "machine.json", "seeds.json"):
        assert (run.path / name).exists(), name
    assert run.config["config"] == {"lr": 0.1, "hidden": [4, 4]}
    assert run.seeds == [5, 6]
    v = run.read_json("versions.json")
    import jax
    import numpy

    assert v["jax"] == jax.__version__ and v["numpy"] == numpy.__version__
    for dep in ("jaxlib", "flax", "optax", "gymnax", "brax", "orbax-checkpoint", "evosax", "python"):
        assert v[dep], dep
    m = run.read_json("machine.json")
    assert m["cpu_count"] >= 1 and m["jax_backend"] == jax.default_backend() and m["device_kind"]
    with pytest.raises(FileExistsError):
        runs.RunDir.create(run.path, {}, seeds=[0])


def test_metrics_csv_columns_rows_and_round_trip(run):
    m1 = {
        "loss": np.array([[0.5, 0.25], [1.0, 2.0]]),
        "episode_return": np.array([[np.nan, 10.0], [3.0, np.nan]]),
        "env_steps": np.array([[8, 16], [8, 16]]),
    }
    run.append_metrics(m1, first_update=0)
    m2 = {k: v[:, :1] for k, v in m1.items()}
    run.append_metrics(m2, first_update=2)
    with open(run.metrics_path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["update", "seed", "env_steps", "episode_return", "loss"]
    assert len(rows) == 1 + 3 * 2
    assert rows[1] == ["0", "5", "8", "", "0.5"] and rows[4] == ["1", "6", "16", "", "2.0"]
    back = run.read_metrics()
    np.testing.assert_array_equal(back["loss"], [[0.5, 0.25, 0.5], [1.0, 2.0, 1.0]])
    np.testing.assert_array_equal(back["episode_return"], [[np.nan, 10, np.nan], [3, np.nan, 3]])
    with pytest.raises(ValueError, match="names changed"):
        run.append_metrics({"loss": np.zeros((2, 1))}, first_update=3)
    with pytest.raises(ValueError, match="seeds"):
        run.append_metrics({k: np.zeros((3, 1)) for k in m1}, first_update=3)
    run.truncate_metrics(1)
    assert run.read_metrics()["loss"].shape == (2, 1)


def test_scores_and_learning_curve_png(run):
    s = run.write_scores([1.0, 3.0])
    on_disk = json.loads((run.path / "scores.json").read_text())
    assert on_disk == s
    assert s["per_seed"] == {"5": 1.0, "6": 3.0} and s["mean"] == 2.0
    assert s["ci95"] == [1.0, 3.0]  # two seeds: resampled means are 1, 2, 3
    t = np.arange(1, 41)
    run.append_metrics({"env_steps": np.stack([t * 100, t * 100]), "episode_return": np.stack([t, t * 2.0])}, 0)
    png = run.plot_learning_curve(title="test")
    data = png.read_bytes()
    assert png.name == "learning_curve.png" and data[:8] == PNG_MAGIC and len(data) > 10_000


def test_default_run_dir_is_sortable_and_safe():
    p = runs.default_run_dir("ppo", "Weird/Env v1", root="runs")
    assert p.parent.name == "runs" and p.name.startswith("ppo-Weird_Env_v1-") and p.name.endswith("Z")
