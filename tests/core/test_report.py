"""`jaxrl report`: aggregation of run directories into tables and figures."""

import json

import numpy as np
import pytest

from jaxrl import report, stats
from jaxrl.runs import RunDir


def make_run(root, algo, env, scores, updates=5):
    seeds = list(range(len(scores)))
    rd = RunDir.create(root / f"{algo}-{env}", {"algo": algo, "env_id": env, "config": {}}, seeds)
    n = len(scores)
    steps = np.tile(np.arange(1, updates + 1) * 100.0, (n, 1))
    ret = np.linspace(0, 1, updates)[None, :] * np.asarray(scores, float)[:, None]
    rd.append_metrics({"env_steps": steps, "episode_return": ret}, first_update=0)
    rd.write_scores(scores)
    return rd.path


@pytest.fixture(scope="module")
def two_algos(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    dirs = []
    for env, (lo, hi) in {"CartPole-v1": (22, 500), "Custom-v0": (0, 10)}.items():
        dirs.append(make_run(root, "good", env, rng.uniform(0.8, 1.0, 6) * hi))
        dirs.append(make_run(root, "bad", env, rng.uniform(0.0, 0.3, 6) * hi + lo * 0))
    return root, dirs


def test_report_numbers_match_stats(two_algos, tmp_path):
    _, dirs = two_algos
    md = report.build_report(dirs, tmp_path / "rep", reps=200, seed=1)
    agg = json.loads((tmp_path / "rep" / "aggregate.json").read_text())
    assert agg["tasks"] == ["CartPole-v1", "Custom-v0"]
    assert agg["normalisation"]["CartPole-v1"] == [22.0, 500.0]  # reference table
    assert agg["pooled_normalisation"] == ["Custom-v0"]  # no reference: pooled min-max
    raw = np.array(agg["raw_scores"]["good"])
    lo = np.array([22.0, agg["normalisation"]["Custom-v0"][0]])
    hi = np.array([500.0, agg["normalisation"]["Custom-v0"][1]])
    expected_iqm = stats.iqm((raw - lo) / (hi - lo))
    assert agg["aggregate"]["good"]["IQM"][0] == pytest.approx(expected_iqm)
    assert agg["aggregate"]["good"]["IQM"][1] > agg["aggregate"]["bad"]["IQM"][2]  # intervals separate
    assert agg["probability_of_improvement"]["good > bad"][0] == 1.0
    assert "| good | 6 |" in md and "IQM" in md and "No reference scores for Custom-v0" in md
    for f in ("report.md", "learning_curves.png", "intervals.png", "profiles.png", "improvement.png"):
        assert (tmp_path / "rep" / f).stat().st_size > 0


def test_ref_override_and_parse():
    assert report.parse_ref("Custom-v0=0:10") == ("Custom-v0", (0.0, 10.0))
    with pytest.raises(ValueError, match="ENV=LOW:HIGH"):
        report.parse_ref("Custom-v0")
    with pytest.raises(ValueError, match="exceed"):
        report.parse_ref("X=1:1")


def test_mismatched_inputs_raise(tmp_path):
    a = make_run(tmp_path, "a", "E1", [1.0, 2.0])
    b = make_run(tmp_path, "b", "E2", [1.0, 2.0])
    with pytest.raises(ValueError, match="different environments"):
        report.build_report([a, b], tmp_path / "r1")
    c = make_run(tmp_path, "a", "E2", [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="different numbers of runs"):
        report.build_report([a, c], tmp_path / "r2")
    with pytest.raises(ValueError, match="scores.json is missing"):
        (tmp_path / "empty").mkdir()
        for f in ("config.json", "metrics.csv", "seeds.json"):
            (tmp_path / "empty" / f).write_text("{}")
        report.build_report([tmp_path / "empty"], tmp_path / "r3")
    with pytest.raises(ValueError, match="no runs"):
        report.group([])


def test_nan_score_is_an_error(tmp_path):
    d = make_run(tmp_path, "a", "E1", [1.0, 2.0])
    s = json.loads((d / "scores.json").read_text())
    s["per_seed"]["1"] = None  # a seed that finished no episode
    (d / "scores.json").write_text(json.dumps(s))
    with pytest.raises(ValueError, match="NaN score"):
        report.build_report([d], tmp_path / "r")
