"""The jaxrl command line: help texts, `jaxrl envs`, argument parsing and the train loop
(with a tiny fake agent honouring the agent API, so no real training is compiled here)."""

import csv
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import agent as agent_registry
from jaxrl import cli, envtable, runs
from jaxrl.agent import AgentSpec
from jaxrl.driver import pick_chunk_size
from jaxrl.errors import UserError
from jaxrl.experiment import cumulative_steps
from jaxrl.settings import build_config, parse_steps

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- help and entry point
def test_console_script_declared_and_runs():
    eps = {ep.name: ep.value for ep in metadata.entry_points(group="console_scripts")}
    assert eps.get("jaxrl") == "jaxrl.cli:main"
    exe = shutil.which("jaxrl")
    cmd = [exe, "--help"] if exe else [sys.executable, "-m", "jaxrl.cli", "--help"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "envs" in out.stdout and "train" in out.stdout


@pytest.mark.parametrize(
    "command, expected",
    [("envs", ["--family", "--markdown", "--check"]), ("train", ["--env", "--seeds", "--total-steps", "--resume"])],
)
def test_every_subcommand_has_help(command, expected, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in expected:
        assert flag in text


def test_no_command_is_an_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([])
    assert exc.value.code == 2


# --------------------------------------------------------------------------- envs
def test_envs_lists_cartpole_with_spaces(capsys):
    assert cli.main(["envs", "--family", "control"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("CartPole-v1 "))
    assert "control" in line and "Box (4,) float32" in line and "Discrete(2)" in line and " 500 " in line
    assert "Breakout-MinAtar" not in out  # family filter
    assert cli.main(["envs", "--family", "nope"]) == 2
    assert "unknown family" in capsys.readouterr().err


def test_markdown_table_and_block_replacement():
    rows = [{"id": "A-v0", "family": "f", "description": "x | y"}]
    md = envtable.markdown_table(rows)
    assert md.splitlines() == ["| id | family | description |", "|---|---|---|", "| `A-v0` | f | x \\| y |"]
    begin, end = envtable.ENV_TABLE_BEGIN, envtable.ENV_TABLE_END
    text = f"head\n{begin}\nold\n{end}\ntail\n"
    assert envtable.replace_block(text, md) == f"head\n{begin}\n{md}\n{end}\ntail\n"


def _readme_rows() -> dict[str, list[str]]:
    text = (ROOT / "README.md").read_text()
    table = text.split(envtable.ENV_TABLE_BEGIN, 1)[1].split(envtable.ENV_TABLE_END, 1)[0].strip().splitlines()[2:]
    rows = {}
    for line in table:
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0].strip("`")] = cells
    return rows


def test_readme_environment_table_lists_the_registry():
    """Cheap check (no env is built): ids, families, episode lengths and descriptions match the registry.

    Regenerate the table with `jaxrl envs --markdown --update README.md`.
    """
    import jaxrl

    rows = _readme_rows()
    specs = jaxrl.specs()
    fix = "README environment table is out of date: run `jaxrl envs --markdown --update README.md`"
    assert list(rows) == [s.id for s in specs], fix
    for s in specs:
        _, family, _, _, length, description = rows[s.id]
        assert (family, length, description) == (s.family, str(s.max_episode_steps), s.description), f"{s.id}: {fix}"


@pytest.mark.slow
def test_readme_environment_table_is_up_to_date(capsys):
    """Full check (builds every environment for its spaces): `jaxrl envs --check README.md`."""
    assert cli.main(["envs", "--check", str(ROOT / "README.md")]) == 0, capsys.readouterr().out


def test_describe_space():
    from jaxrl import spaces

    assert envtable.describe_space(spaces.Box(-2.0, 2.0, (1,))) == "Box[-2, 2] (1,) float32"
    assert envtable.describe_space(spaces.Box(jnp.array([0.0, -1.0]), 1.0)) == "Box (2,) float32"
    assert envtable.describe_space(spaces.Discrete(3)) == "Discrete(3)"


# --------------------------------------------------------------------------- parsing helpers
def test_parse_steps():
    assert parse_steps("3e6") == 3_000_000 and parse_steps("1_000") == 1000
    for bad in ("1.5", "0", "-3", "abc"):
        with pytest.raises(Exception, match="steps"):
            parse_steps(bad)


def test_pick_chunk_size():
    assert pick_chunk_size(976, chunks=20) == 61  # 16 equal chunks: one compile
    assert pick_chunk_size(97, chunks=20) == 5  # prime: 19 chunks of 5 and one of 2
    assert pick_chunk_size(10, log_every=4) == 4 and pick_chunk_size(3, log_every=10) == 3
    assert pick_chunk_size(5, chunks=100) == 1


def test_cumulative_steps_accepts_both_conventions():
    cumulative = np.array([[8, 16, 24]])
    per_update = np.array([[8, 8, 8]])
    np.testing.assert_array_equal(cumulative_steps(cumulative, np.array([0])), [[8, 16, 24]])
    np.testing.assert_array_equal(cumulative_steps(per_update, np.array([0])), [[8, 16, 24]])
    np.testing.assert_array_equal(cumulative_steps(np.array([[32]]), np.array([24])), [[32]])
    np.testing.assert_array_equal(cumulative_steps(np.array([[8]]), np.array([24])), [[32]])


# --------------------------------------------------------------------------- a fake agent
@dataclasses.dataclass(frozen=True)
class FakeConfig:
    env_id: str = "CartPole-v1"
    total_timesteps: int = 48  # 6 updates of 8 steps
    hidden: tuple = (4,)
    lr: float = 0.5
    flag: bool = False

    def __post_init__(self):
        if self.total_timesteps < 8:
            raise ValueError("total_timesteps must be >= 8")


class FakeAgent:
    """Return ``w * 10`` every other update; ``w`` grows by ``lr`` per update from a seed-dependent start."""

    metric_names = ("episode_return", "episode_length", "env_steps", "loss")

    def __init__(self, cfg):
        self.cfg = cfg
        self.num_updates = cfg.total_timesteps // 8

    def init(self, key, hparams=None):
        return {"w": jax.random.uniform(key), "t": jnp.int32(0)}

    def train_chunk(self, state, n):
        def one(s, _):
            t, w = s["t"] + 1, s["w"] + self.cfg.lr
            metrics = {
                "episode_return": jnp.where(t % 2 == 0, 10 * w, jnp.nan),
                "episode_length": t,
                "env_steps": t * 8,
                "loss": {"actor": -w, "per_epoch": jnp.stack([w, 3 * w])},  # nested, extra axis averaged
            }
            return {"w": w, "t": t}, metrics

        return jax.lax.scan(one, state, None, length=n)

    def evaluate(self, key, state, num_episodes):
        return 10 * state["w"] + jax.random.uniform(key, (num_episodes,), minval=-1e-3, maxval=1e-3)

    def greedy_action(self, state, obs):
        return jnp.zeros(obs.shape[0], jnp.int32)


class FakeSpec(AgentSpec):
    def config_class(self):
        return FakeConfig

    def agent_class(self):
        return FakeAgent


FAKE = FakeSpec("fake", "tests.core.test_cli")


@pytest.fixture
def fake_algo(monkeypatch):
    monkeypatch.setitem(agent_registry._AGENTS, "fake", FAKE)


def test_build_config_coerces_and_rejects():
    cfg = build_config(FAKE, {"total_timesteps": "1e3", "hidden": "[8, 8]", "lr": "1", "flag": "true"}, True)
    assert cfg == FakeConfig(total_timesteps=1000, hidden=(8, 8), lr=1.0, flag=True)
    assert isinstance(cfg.lr, float) and isinstance(cfg.total_timesteps, int)
    with pytest.raises(UserError, match="unknown .* field.*'nope'"):
        build_config(FAKE, {"nope": 1})
    with pytest.raises(UserError, match="integer"):
        build_config(FAKE, {"total_timesteps": 2.5})


def _train(tmp_path, name, *extra):
    args = ["train", "fake", "--seeds", "3", "--seed", "4", "--log-every", "2", "--eval-episodes", "2"]
    return cli.main([*args, "--no-progress", "--out", str(tmp_path / name), *extra])


def test_train_writes_a_complete_run_directory(tmp_path, fake_algo, capsys):
    assert _train(tmp_path, "a", "--set", "lr=0.25") == 0
    out = capsys.readouterr().out
    run = runs.RunDir(tmp_path / "a")
    rec = run.config
    assert rec["algo"] == "fake" and rec["config"]["lr"] == 0.25 and rec["run"]["chunk_size"] == 2
    assert run.seeds == [4, 5, 6]
    with open(run.metrics_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "update", "seed", "env_steps", "episode_return", "episode_length", "loss/actor", "loss/per_epoch",
    ]  # fmt: skip
    assert len(rows) == 6 * 3
    last = [r for r in rows if r["update"] == "5"]
    assert [int(r["env_steps"]) for r in last] == [48, 48, 48]
    w = [float(r["loss/per_epoch"]) / 2 for r in last]  # mean of (w, 3w) = 2w
    np.testing.assert_allclose([-float(r["loss/actor"]) for r in last], w, rtol=1e-5)
    np.testing.assert_allclose([float(r["episode_return"]) for r in last], np.multiply(w, 10), rtol=1e-5)
    assert rows[0]["episode_return"] == ""  # no episode finished on update 0
    scores = json.loads((run.path / "scores.json").read_text())
    np.testing.assert_allclose(list(scores["per_seed"].values()), np.multiply(w, 10), atol=2e-3)
    assert scores["ci95"][0] <= scores["mean"] <= scores["ci95"][1]
    assert (run.path / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert (run.path / "checkpoint").exists()
    assert "95% CI" in out and "mean" in out


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path, fake_algo, monkeypatch, capsys):
    assert _train(tmp_path, "full") == 0
    saves = []
    real_save = runs.RunDir.save_checkpoint

    def crash_after_two(self, tree, meta):
        real_save(self, tree, meta)
        saves.append(meta["updates_done"])
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(runs.RunDir, "save_checkpoint", crash_after_two)
    assert _train(tmp_path, "cut") == 130  # Ctrl-C: one line with the resume command, exit 130
    err = capsys.readouterr().err
    assert "last checkpoint is at update 4 of 6" in err and f"jaxrl train --resume {tmp_path / 'cut'}" in err
    monkeypatch.setattr(runs.RunDir, "save_checkpoint", real_save)
    assert saves == [2, 4]
    assert cli.main(["train", "--resume", str(tmp_path / "cut"), "--no-progress"]) == 0
    assert f"resuming {tmp_path / 'cut'} from update 4 of 6" in capsys.readouterr().out
    full, cut = (tmp_path / "full" / "metrics.csv").read_text(), (tmp_path / "cut" / "metrics.csv").read_text()
    assert cut == full
    sf, sc = (json.loads((tmp_path / d / "scores.json").read_text()) for d in ("full", "cut"))
    assert sc["per_seed"] == sf["per_seed"]
    assert cli.main(["train", "--resume", str(tmp_path / "cut"), "--seeds", "2"]) == 2
    assert "drop --seeds" in capsys.readouterr().err


def test_train_rejects_bad_input(tmp_path, fake_algo, capsys):
    def err(name, *extra):
        assert _train(tmp_path, name, *extra) == 2
        text = capsys.readouterr().err
        assert len(text.strip().splitlines()) == 1 and "Traceback" not in text, text  # one line, no traceback
        assert not (tmp_path / name).exists() or name in ("ok", "file")  # checked before anything is written
        return text

    assert re.search("invalid fake configuration.*total_timesteps", err("bad", "--set", "total_timesteps=4"))
    assert "unknown fake config field" in err("bad2", "--set", "learning_rate=1")
    assert "--seed must be >= 0" in err("bad3", "--seed", "-1")
    assert "--devices must be 'all' or a positive integer" in err("bad4", "--devices", "abc")
    assert "asked for 3 devices" in err("bad5", "--seeds", "6", "--devices", "3")
    assert _train(tmp_path, "ok") == 0
    capsys.readouterr()
    assert "not empty" in err("ok")
    (tmp_path / "file").write_text("x")
    assert "is a file" in err("file")
    assert (tmp_path / "file").read_text() == "x"


def test_gif_renders_a_trained_grid_policy(tmp_path, capsys):
    from jaxrl.cli import main

    out = tmp_path / "run"
    argv = ["train", "ppo", "--env", "MiniGrid-Empty-5x5-v0", "--seeds", "2", "--total-steps", "2048", "--devices", "1",
            "--set", "num_envs=8", "--set", "num_steps=32", "--set", "num_minibatches=2", "--set", "update_epochs=1",
            "--out", str(out), "--no-progress", "--eval-episodes", "1"]
    assert main(argv) == 0
    assert main(["gif", str(out), "--seed-index", "1", "--out", str(tmp_path / "ep.gif")]) == 0
    gif = (tmp_path / "ep.gif").read_bytes()
    assert gif[:6] in (b"GIF87a", b"GIF89a")
    printed = capsys.readouterr().out
    assert "wrote" in printed
    assert main(["gif", str(out), "--seed-index", "5"]) == 2
    assert "--seed-index must be in [0, 2)" in capsys.readouterr().err
    assert main(["gif", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_split_host_cpus_sets_a_device_count_once(monkeypatch):
    from jaxrl.cli import split_host_cpus

    monkeypatch.delenv("JAXRL_NO_CPU_SPLIT", raising=False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
    n = split_host_cpus()
    if n is None:  # a 1-core machine: nothing to split
        assert "device_count" not in os.environ["XLA_FLAGS"]
    else:
        assert os.environ["XLA_FLAGS"].endswith(f"--xla_force_host_platform_device_count={n}")
        assert os.environ["XLA_FLAGS"].startswith("--xla_cpu_enable_fast_math=false")
        assert split_host_cpus() is None  # a count is already set: left alone
    monkeypatch.setenv("XLA_FLAGS", "")
    monkeypatch.setenv("JAXRL_NO_CPU_SPLIT", "1")
    assert split_host_cpus() is None and os.environ["XLA_FLAGS"] == ""


@pytest.mark.parametrize("name", ["ppo", "sac", "lpg"])
def test_train_algo_help_lists_every_field_with_default_and_doc(name, capsys):
    import dataclasses

    import jaxrl
    from jaxrl.settings import field_docs

    with pytest.raises(SystemExit) as exc:
        cli.main(["train", name, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    cls = jaxrl.agent_spec(name).config_class()
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        assert docs[f.name], f"{name}.{f.name} has no one-line doc"
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(f.name + " "))
        assert docs[f.name][:20] in line
    assert "traced:" in text and "static:" in text
