"""Fault injection on run records: a kill or Ctrl-C at every file operation of a checkpoint save,
stale PBT history, malformed and truncated metrics.csv, and ``jaxrl report d d``.

A *kill* is simulated by raising at the k-th file operation (``os.rename``/``os.replace``/``os.remove``/
``os.unlink``/``os.rmdir``/``shutil.rmtree``, orbax's own included) and failing every later one, so
nothing after that instant reaches the disk; an *interrupt* raises ``KeyboardInterrupt`` once and lets
the clean-up handlers run. Afterwards a complete checkpoint, old or new, must be restorable.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import checkpoint, report
from jaxrl.errors import RunDirError, UserError
from jaxrl.runs import RunDir

OPS = [(os, "rename"), (os, "replace"), (os, "remove"), (os, "unlink"), (os, "rmdir"), (shutil, "rmtree")]


class Killed(BaseException):
    """The process died here: this and every later file operation never happen."""


@contextlib.contextmanager
def fault_at(monkeypatch, k: int | None, mode: str = "kill", nested: bool = False):
    """Count file operations; make the ``k``-th one fail (``mode``: kill or interrupt). Yields the count.

    Operations inside another one (the unlinks of an ``rmtree``) count only with ``nested``.
    """
    count, dead, depth = [0], [False], [0]

    def wrap(f):
        def g(*args, **kwargs):
            if dead[0]:
                raise Killed
            if depth[0] and not nested:
                return f(*args, **kwargs)
            if count[0] == k:
                count[0] += 1
                if mode == "kill":
                    dead[0] = True
                    raise Killed
                raise KeyboardInterrupt
            count[0] += 1
            depth[0] += 1
            try:
                return f(*args, **kwargs)
            finally:
                depth[0] -= 1

        return g

    with monkeypatch.context() as m:
        for mod, name in OPS:
            m.setattr(mod, name, wrap(getattr(mod, name)))
        yield count


def _tree(v: float):
    return {"w": jnp.full((4, 3), float(v)), "n": jnp.int32(int(v))}


def _count_ops(monkeypatch, fn, nested: bool = False) -> int:
    with fault_at(monkeypatch, None, nested=nested) as count:
        fn()
    return count[0]


def _check(tree, meta, allowed: set[int]):
    assert meta["v"] in allowed
    np.testing.assert_array_equal(tree["w"], np.full((4, 3), float(meta["v"])))


def _modes(default: str):
    """The default suite runs one mode at every top-level step; every mode at every nested step is slow."""
    other = "interrupt" if default == "kill" else "kill"
    return [(default, False), pytest.param(other, False, marks=pytest.mark.slow),
            pytest.param("kill", True, marks=pytest.mark.slow), pytest.param("interrupt", True, marks=pytest.mark.slow)]


@pytest.mark.parametrize("mode, nested", _modes("kill"))
def test_checkpoint_save_survives_a_fault_at_every_step(tmp_path, monkeypatch, mode, nested):
    path, pristine = str(tmp_path / "ck"), tmp_path / "pristine"
    checkpoint.save(pristine / "ck", _tree(1), {"v": 1})
    shutil.copytree(pristine / "ck", path)
    n = _count_ops(monkeypatch, lambda: checkpoint.save(path, _tree(2), {"v": 2}), nested)
    assert n >= 4  # orbax's renames, ours, and the deletion of the old copy
    for k in range(n):
        shutil.rmtree(path, ignore_errors=True)
        shutil.copytree(pristine / "ck", path)  # the old checkpoint
        with pytest.raises((Killed, KeyboardInterrupt)), fault_at(monkeypatch, k, mode, nested):
            checkpoint.save(path, _tree(2), {"v": 2})
        if mode == "interrupt":  # the handlers ran: the checkpoint is at its own path
            assert os.path.isdir(path), f"interrupt at operation {k} left no checkpoint at {path}"
        tree, meta = checkpoint.restore(path, like=_tree(0))  # a kill may need recovery first
        _check(tree, meta, {1, 2})
    checkpoint.save(path, _tree(3), {"v": 3})
    assert sorted(os.listdir(tmp_path)) == ["ck", "pristine"]  # the crashes' leftovers cleaned by the next save


def test_keyboard_interrupt_between_the_renames_keeps_a_checkpoint(tmp_path, monkeypatch):
    """The user-reported case: Ctrl-C right after the old checkpoint was renamed away."""
    path = str(tmp_path / "ck")
    checkpoint.save(path, _tree(1), {"v": 1})
    real = os.rename

    def rename(src, dst):
        real(src, dst)
        if os.path.basename(str(src)) == "ck":
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, _tree(2), {"v": 2})
    monkeypatch.undo()
    _check(*checkpoint.restore(path, like=_tree(0)), {1, 2})


@pytest.mark.parametrize("mode, nested", _modes("interrupt"))
def test_run_dir_always_has_a_complete_checkpoint(tmp_path, monkeypatch, mode, nested):
    run = RunDir.create(tmp_path / "run", {"algo": "x"}, seeds=[0])
    run.save_checkpoint(_tree(1), {"updates_done": 1, "v": 1})
    run.save_checkpoint(_tree(2), {"updates_done": 2, "v": 2})
    pristine = tmp_path / "pristine"
    shutil.copytree(run.checkpoints_dir, pristine)
    n = _count_ops(monkeypatch, lambda: run.save_checkpoint(_tree(3), {"updates_done": 3, "v": 3}), nested)
    for k in range(n):
        shutil.rmtree(run.checkpoints_dir)
        shutil.copytree(pristine, run.checkpoints_dir)
        (run.path / "checkpoint").unlink(missing_ok=True)
        os.symlink(os.path.join("checkpoints", "ckpt-000000002"), run.path / "checkpoint")
        with pytest.raises((Killed, KeyboardInterrupt)), fault_at(monkeypatch, k, mode, nested):
            run.save_checkpoint(_tree(3), {"updates_done": 3, "v": 3})
        latest = run.latest_checkpoint()
        tree, meta = run.restore_checkpoint(like=_tree(0))
        _check(tree, meta, {2, 3})
        assert latest.name == f"ckpt-{meta['updates_done']:09d}"
        _check(*checkpoint.restore(run.checkpoint_path, like=_tree(0)), {meta["v"]})
        _check(*checkpoint.restore(run.path / "checkpoint", like=_tree(0)), {meta["v"]})  # the pointer
    run.save_checkpoint(_tree(4), {"updates_done": 4, "v": 4})
    assert sorted(os.listdir(run.checkpoints_dir)) == ["ckpt-000000003", "ckpt-000000004"]
    _check(*checkpoint.restore(run.path / "checkpoint", like=_tree(0)), {4})


def test_run_dir_recovers_a_finished_but_unpublished_save(tmp_path):
    run = RunDir.create(tmp_path / "run", {"algo": "x"}, seeds=[0])
    run.save_checkpoint(_tree(1), {"updates_done": 1, "v": 1})
    # a save of update 2 that was killed after its data was complete, before the publishing rename
    checkpoint.save(run.path / "checkpoints" / "scratch", _tree(2), {"updates_done": 2, "v": 2})
    os.rename(run.path / "checkpoints" / "scratch", run.path / "checkpoints" / ".ckpt-000000002.tmp-0badf00d")
    # and one of update 3 killed half-way: no manifest yet
    (run.path / "checkpoints" / ".ckpt-000000003.tmp-0badcafe" / "arrays").mkdir(parents=True)
    assert run.latest_checkpoint().name == "ckpt-000000002"
    _check(*run.restore_checkpoint(_tree(0)), {2})
    _check(*checkpoint.restore(run.checkpoint_path, like=_tree(0)), {2})


def test_run_dir_recovers_the_hidden_copies_a_pre_versioning_save_left(tmp_path):
    """The reported loss: killed between the two renames of the old save, `checkpoint/` was gone."""
    run = RunDir.create(tmp_path / "run", {"algo": "x"}, seeds=[0])
    checkpoint.save(run.path / "a", _tree(2), {"updates_done": 2, "v": 2})
    checkpoint.save(run.path / "b", _tree(4), {"updates_done": 4, "v": 4})
    os.rename(run.path / "a", run.path / ".checkpoint.tmp-1234abcd.old")  # the old copy, renamed away
    os.rename(run.path / "b", run.path / ".checkpoint.tmp-1234abcd")  # the new one, never renamed in
    assert run.latest_checkpoint() == run.checkpoints_dir / "ckpt-000000004"
    _check(*run.restore_checkpoint(_tree(0)), {4})
    run.save_checkpoint(_tree(6), {"updates_done": 6, "v": 6})
    assert sorted(os.listdir(run.checkpoints_dir)) == ["ckpt-000000004", "ckpt-000000006"]
    assert not [f for f in os.listdir(run.path) if f.startswith(".")]


def test_run_dir_adopts_a_pre_versioning_checkpoint(tmp_path):
    run = RunDir.create(tmp_path / "run", {"algo": "x"}, seeds=[0])
    checkpoint.save(run.path / "checkpoint", _tree(4), {"updates_done": 4, "v": 4})  # the old layout
    assert run.checkpoint_path == run.checkpoints_dir / "ckpt-000000004"
    _check(*run.restore_checkpoint(_tree(0)), {4})
    run.save_checkpoint(_tree(6), {"updates_done": 6, "v": 6})
    assert os.readlink(run.path / "checkpoint") == os.path.join("checkpoints", "ckpt-000000006")
    assert sorted(os.listdir(run.checkpoints_dir)) == ["ckpt-000000004", "ckpt-000000006"]


def test_restore_errors_are_run_dir_errors(tmp_path):
    run = RunDir.create(tmp_path / "run", {"algo": "x"}, seeds=[0])
    with pytest.raises(RunDirError, match="no complete checkpoint"):
        run.restore_checkpoint(_tree(0))
    run.save_checkpoint(_tree(1), {"updates_done": 1, "v": 1})
    run.save_checkpoint(_tree(2), {"updates_done": 2, "v": float("nan")})
    assert checkpoint.read_metadata(run.checkpoint_path)["nonfinite"] == ["v"]  # strict JSON: null + a flag
    with pytest.raises(RunDirError, match=r"ckpt-000000002.*shape.*delete .*ckpt-000000002 to resume from .*ckpt-0+1"):
        run.restore_checkpoint({"w": jnp.zeros((5, 3)), "n": jnp.int32(0)})
    with pytest.raises(ValueError, match="updates_done"):
        run.save_checkpoint(_tree(1), {"v": 1})


# --------------------------------------------------------------------------- metrics.csv
def _metrics_run(tmp_path, updates: int = 4):
    run = RunDir.create(tmp_path / "m", {"algo": "x"}, seeds=[7, 8])
    u = np.arange(updates, dtype=float)
    run.append_metrics({"env_steps": np.stack([u * 10, u * 10]), "episode_return": np.stack([u, -u])}, 0)
    return run


def _lines(run) -> list[str]:
    return run.metrics_path.read_text().splitlines()


def _write(run, lines: list[str], end: str = "\r\n") -> None:
    run.metrics_path.write_text("\r\n".join(lines) + end)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda ls: ls.__setitem__(3, ls[3] + ",5"), r"metrics.csv:4: 5 cells but the header has 4 columns"),
        (lambda ls: ls.__setitem__(3, ls[3].rsplit(",", 1)[0]), r"metrics.csv:4: 3 cells"),
        (lambda ls: ls.__setitem__(2, "0,8,zero,1.0"), r"metrics.csv:3: column 'env_steps' holds 'zero'"),
        (lambda ls: ls.__setitem__(2, "0,8.5,0,1.0"), r"metrics.csv:3: seed '8.5' is not an integer"),
        (lambda ls: ls.insert(5, ls[1]), r"metrics.csv:6: update 0, seed 7 repeats line 2"),
    ],
)
def test_malformed_metrics_row_is_named_with_its_line(tmp_path, edit, match):
    run = _metrics_run(tmp_path)
    lines = _lines(run)
    edit(lines)
    _write(run, lines)
    with pytest.raises(RunDirError, match=match) as e:
        run.read_metrics()
    assert str(run.metrics_path) in str(e.value)
    with pytest.raises(RunDirError, match=match.split(":", 1)[1]):  # found before a resumed run trains
        run.reconcile_metrics(4)


def test_truncated_metrics_csv(tmp_path):
    run = _metrics_run(tmp_path)  # 4 updates x 2 seeds
    text = run.metrics_path.read_text()
    run.metrics_path.write_text(text[: text.index("3,7,") + 5])  # killed while writing update 3
    with pytest.raises(RunDirError, match=r"metrics.csv:8: the file ends in the middle of a row"):
        run.read_metrics()
    assert run.reconcile_metrics(3) == 1  # the checkpoint is at update 3: the torn row goes
    assert run.read_metrics()["episode_return"].shape == (2, 3)
    _write(run, _lines(run)[:-1])  # a row short: update 2 lacks seed 8
    with pytest.raises(RunDirError, match=r"update 2 has rows for seeds \[7\] but not \[8\]"):
        run.read_metrics()
    with pytest.raises(RunDirError, match=r"behind its checkpoint: the checkpoint is at update 3 but update 2"):
        run.reconcile_metrics(3)  # never silently resume with a gap
    assert run.reconcile_metrics(2) == 1
    np.testing.assert_array_equal(run.read_metrics()["episode_return"], [[0, 1], [0, -1]])


def test_reconcile_metrics_drops_rows_after_the_checkpoint_and_refuses_a_missing_file(tmp_path):
    run = _metrics_run(tmp_path)
    assert run.reconcile_metrics(4) == 0 and run.reconcile_metrics(3) == 2
    assert [ln.split(",")[0] for ln in _lines(run)[1:]] == ["0", "0", "1", "1", "2", "2"]
    run.metrics_path.unlink()
    with pytest.raises(RunDirError, match="missing but the checkpoint is at update 3"):
        run.reconcile_metrics(3)
    assert run.reconcile_metrics(0) == 0 and run.reconcile_metrics(3, missing_ok=True) == 0


# --------------------------------------------------------------------------- PBT history
def _strict_json(path):
    def no_constants(c):
        raise AssertionError(f"{path} holds {c}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=no_constants)


def _cut_rounds(hist: dict, n: int) -> dict:
    return {k: (v[:n] if isinstance(v, list) else {m: x[:n] for m, x in v.items()}) for k, v in hist.items()
            if k not in ("round", "nonfinite")}


def test_pbt_resume_cuts_a_history_ahead_and_refuses_one_behind(tmp_path):
    """meta.pbt_cli's resume step on a stand-in population state (no compile)."""
    from flax import struct

    from jaxrl.meta import pbt_cli

    @struct.dataclass
    class Pop:
        round: jnp.ndarray
        w: jnp.ndarray

    ck, hist = tmp_path / "checkpoint", tmp_path / "history.json"
    checkpoint.save(ck, Pop(jnp.int32(2), jnp.ones(3)), {"round": 2})
    three = {"round": 3, "fitness": [[1.0, None], [2.0, 3.0], [4.0, 5.0]], "nonfinite": ["fitness"],
             "parent": [[0, 1], [0, 0], [1, 1]], "hparams": {"lr": [[0.1, 0.2], [0.1, 0.1], [0.3, 0.3]]}}
    hist.write_text(json.dumps(three))  # killed after writing round 3's history, before its checkpoint
    like = Pop(jnp.int32(0), jnp.zeros(3))

    def restore(ck, hist, like):  # what the run driver does on resume: checkpoint, then its records
        state, _ = checkpoint.restore(ck, like)
        sink = pbt_cli.HistorySink(hist, ["lr"])
        sink.reconcile(int(state.round))
        return state, sink.history

    state, h = restore(ck, hist, like)
    assert int(state.round) == 2 and h["parent"] == [[0, 1], [0, 0]] and np.isnan(h["fitness"][0][1])
    on_disk = _strict_json(hist)
    assert on_disk["round"] == 2 and on_disk["fitness"] == [[1.0, None], [2.0, 3.0]]  # rewritten, strict JSON
    hist.write_text(json.dumps(dict(_cut_rounds(three, 1), round=1)))  # a stale history: one round behind
    with pytest.raises(RunDirError, match=r"history.json is stale: it holds 1 rounds but the checkpoint is at round 2"):
        restore(ck, hist, like)
    hist.write_text(json.dumps(_cut_rounds(three, 1)))  # the format before the round counter: its length counts
    with pytest.raises(RunDirError, match="stale"):
        restore(ck, hist, like)


@pytest.mark.slow
def test_pbt_history_must_agree_with_its_checkpoint(tmp_path):
    from jaxrl.meta import pbt_cli

    out = tmp_path / "pbt"
    argv = ["ppo", "--population", "2", "--rounds", "2", "--updates-per-round", "1", "--fitness", "train",
            "--search", "lr=1e-4:1e-2:log", "--out", str(out), "--no-progress"]
    for k, v in dict(total_timesteps=2 * 4 * 8, num_envs=4, num_steps=8, num_minibatches=1, update_epochs=1,
                     actor_hidden=(8,), critic_hidden=(8,)).items():
        argv += ["--set", f"{k}={v}"]
    assert pbt_cli.main(argv) == 0
    full = _strict_json(out / "history.json")
    assert full["round"] == 2 and np.asarray(full["fitness"]).shape == (2, 2)
    (out / "history.json").write_text(json.dumps(_cut_rounds(full, 1)))  # one round behind the checkpoint
    with pytest.raises(RunDirError, match=r"history.json is stale: it holds 1 rounds but the checkpoint is at round 2"):
        pbt_cli.main(["--resume", str(out), "--no-progress"])
    ahead = dict(_cut_rounds(full, 2), round=3, fitness=full["fitness"] + [[0.0, 0.0]],
                 train_return=full["train_return"] + [[0, 0]], parent=full["parent"] + [[0, 1]],
                 copied=full["copied"] + [[0, 0]], hparams={n: x + [x[-1]] for n, x in full["hparams"].items()},
                 nonfinite=full.get("nonfinite", []))
    (out / "history.json").write_text(json.dumps(ahead))  # killed after the history, before the checkpoint
    assert pbt_cli.main(["--resume", str(out), "--no-progress"]) == 0
    assert _strict_json(out / "history.json") == full


def test_history_nonfinite_round_trip_and_damage(tmp_path):
    from jaxrl.runs import flag_nonfinite, reconcile_history, write_json

    path = tmp_path / "history.json"
    hist = {"round": 2, "fitness": [[1.0, float("nan")], [2.0, 3.0]], "hparams": {"lr": [[0.1, 0.2], [0.1, 0.1]]}}
    write_json(path, flag_nonfinite(hist))
    on_disk = _strict_json(path)
    assert on_disk["fitness"] == [[1.0, None], [2.0, 3.0]] and on_disk["nonfinite"] == ["fitness"]
    back = reconcile_history(path, 1)
    assert back["round"] == 1 and back["hparams"] == {"lr": [[0.1, 0.2]]} and np.isnan(back["fitness"][0][1])
    path.write_text('{"round": 2, "fitness": [[1.0]]}')
    with pytest.raises(RunDirError, match="other lengths"):
        reconcile_history(path, 2)
    path.write_text('{"round": 2, "fitness": [[1.0], [')
    with pytest.raises(RunDirError, match=r"history.json:1: not valid JSON"):
        reconcile_history(path, 2)


# --------------------------------------------------------------------------- jaxrl report
def _report_run(root, name, scores, env="Custom-v0", config=None, seeds=None):
    seeds = list(range(len(scores))) if seeds is None else seeds
    rd = RunDir.create(root / name, {"algo": "a", "env_id": env, "config": config or {"lr": 0.1}}, seeds)
    steps = np.tile(np.arange(1, 4) * 100.0, (len(seeds), 1))
    rd.append_metrics({"env_steps": steps, "episode_return": np.tile(np.asarray(scores, float)[:, None], 3)}, 0)
    rd.write_scores(scores)
    return rd.path


def test_report_counts_a_directory_listed_twice_once(tmp_path, capsys):
    d = _report_run(tmp_path, "d", [1.0, 2.0, 3.0, 4.0])
    once = report.build_report([d], tmp_path / "r1", reps=200)
    (tmp_path / "link").symlink_to(d)  # the same directory under another name
    twice = report.build_report([d, d, tmp_path / "link"], tmp_path / "r2", reps=200)
    assert "listed more than once" in capsys.readouterr().err
    assert twice == once and "| a | 4 |" in twice  # not 8 runs, not narrower intervals
    assert json.loads((tmp_path / "r2" / "aggregate.json").read_text())["runs"] == [str(d)]


def test_report_counts_a_repeated_config_and_seed_once(tmp_path, capsys):
    d1 = _report_run(tmp_path, "d1", [1.0, 2.0], seeds=[0, 1])
    d2 = _report_run(tmp_path, "d2", [1.5, 5.0], seeds=[1, 2])  # seed 1 again, same config: not independent
    d3 = _report_run(tmp_path, "d3", [7.0, 8.0], seeds=[0, 1], config={"lr": 0.2})  # another config: counted
    report.build_report([d1, d2, d3], tmp_path / "r", reps=200)
    assert f"seed 1 of {d2} repeats {d1}" in capsys.readouterr().err
    agg = json.loads((tmp_path / "r" / "aggregate.json").read_text())
    assert sorted(v[0] for v in agg["raw_scores"]["a"]) == [1.0, 2.0, 5.0, 7.0, 8.0]
    assert agg["seeds"] == {str(d1): [0, 1], str(d2): [2], str(d3): [0, 1]}


def test_report_names_a_truncated_or_malformed_file(tmp_path):
    d = _report_run(tmp_path, "d", [1.0, 2.0])
    text = (d / "metrics.csv").read_text()
    (d / "metrics.csv").write_text(text[:-9])  # cut off inside the last row
    with pytest.raises(RunDirError, match=rf"{d / 'metrics.csv'}:7: the file ends in the middle of a row"):
        report.build_report([d], tmp_path / "r")
    (d / "metrics.csv").write_text(text)
    (d / "scores.json").write_text('{"per_seed": {"0": 1.0,\n "1": }')
    with pytest.raises(RunDirError, match=rf"{d / 'scores.json'}:2: not valid JSON"):
        report.build_report([d], tmp_path / "r")


def test_report_lists_diverged_seeds_apart_from_seeds_without_episodes(tmp_path):
    d = _report_run(tmp_path, "d", [1.0, 2.0, 3.0])
    s = json.loads((d / "scores.json").read_text())
    s["per_seed"]["2"] = None
    s["status"] = {"0": "ok", "1": "ok", "2": "diverged"}
    s["diverged"] = {"2": {"update": 17, "quantity": "params"}}
    (d / "scores.json").write_text(json.dumps(s))
    md = report.build_report([d], tmp_path / "r", reps=200)
    agg = json.loads((tmp_path / "r" / "aggregate.json").read_text())
    assert agg["raw_scores"]["a"] == [[1.0], [2.0]]  # the diverged seed is left out of the numbers
    assert agg["diverged"] == [{"algo": "a", "env_id": "Custom-v0", "run": str(d), "seed": 2, "update": 17,
                                "quantity": "params"}]
    assert "| a | 2 |" in md and f"| a | Custom-v0 | {d} | 2 | 17 | params |" in md
    del s["status"], s["diverged"]  # a NaN score without the mark: no episode finished, an error
    (d / "scores.json").write_text(json.dumps(s))
    with pytest.raises(UserError, match=r"finished no episode.*seed 2"):
        report.build_report([d], tmp_path / "r")
