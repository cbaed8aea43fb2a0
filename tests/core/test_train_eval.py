"""End to end through the CLI with a tiny PPO: config.toml reproduces a run, eval/load_policy/video, divergence."""

import json

import jax
import numpy as np
import pytest

from jaxrl import cli
from jaxrl.errors import RunDirError

TINY = ["--set", "num_envs=2", "--set", "num_steps=16", "--set", "num_minibatches=2", "--set", "update_epochs=1",
        "--set", "actor_hidden=(16,)", "--set", "critic_hidden=(16,)"]  # fmt: skip


def scores(path):
    return json.loads((path / "scores.json").read_text())


def test_config_toml_reproduces_the_run_and_the_run_loads_back(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    argv = ["train", "ppo", "--seeds", "2", "--total-steps", "256", "--devices", "1", "--eval-episodes", "2",
            "--no-progress", *TINY]
    assert cli.main([*argv, "--out", str(a)]) == 0
    assert cli.main(["train", "--config", str(a / "config.toml"), "--out", str(b), "--no-progress"]) == 0
    assert scores(a)["per_seed"] == scores(b)["per_seed"]  # the same run, from its config file
    capsys.readouterr()

    assert cli.main(["eval", str(a), "--episodes", "3", "--video", str(tmp_path / "ep.gif")]) == 0
    out = capsys.readouterr().out
    assert "ppo on CartPole-v1" in out and "95% CI" in out and (tmp_path / "ep.gif").read_bytes()[:3] == b"GIF"
    rows = [ln.split() for ln in out.splitlines() if ln.split() and ln.split()[0] in ("0", "1")]
    assert [r[0] for r in rows] == ["0", "1"] and all(float(r[1]) > 0 for r in rows)

    from jaxrl import load_policy, make

    policy = jax.jit(load_policy(a, seed=1))
    env, params = make("CartPole-v1")
    obs, _ = env.reset(jax.random.key(0), params)
    action = policy(obs, jax.random.key(1))
    assert action.shape == () and int(action) in (0, 1)

    with pytest.raises(Exception, match="seed 5 is not one of them"):
        load_policy(a, seed=5)
    rec = json.loads((a / "config.json").read_text())
    (a / "config.json").write_text(json.dumps({**rec, "format": 99}))
    with pytest.raises(RunDirError, match="newer jaxrl"):
        load_policy(a)
    (a / "config.json").write_text(json.dumps(rec))
    for f in (a / "checkpoints").glob("ckpt-*/**/*"):  # corrupt every stored array
        if f.is_file() and f.stat().st_size > 64 and "manifest" not in str(f):
            f.write_bytes(b"\0" * f.stat().st_size)
    assert cli.main(["eval", str(a)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "checkpoint" in err


def test_a_diverged_run_stops_names_the_seed_and_exits_3(tmp_path, capsys):
    out = tmp_path / "d"
    argv = ["train", "ppo", "--env", "Pendulum-v1", "--seeds", "2", "--total-steps", "256", "--devices", "1",
            "--set", "lr=1e6", "--log-every", "2", "--no-progress", "--out", str(out), *TINY]
    assert cli.main(argv) == 3
    err = capsys.readouterr().err
    assert "diverged at update" in err and "non-finite parameters" in err and "Traceback" not in err
    s = scores(out)
    assert set(s["status"].values()) <= {"diverged", "stopped"} and "diverged" in s["status"].values()
    assert s["mean"] is None and all(v["update"] >= 1 for v in s["diverged"].values())
    bad = [int(k) for k in s["diverged"]]
    from jaxrl.runs import RunDir

    m = RunDir(out).read_metrics()
    assert np.any(m["nonfinite"][[0 if b == 0 else 1 for b in bad]] > 0)  # the flag is in metrics.csv too
