"""Fault injection on run records: a kill or Ctrl-C at every file operation of a checkpoint save,
stale PBT history, malformed and truncated metrics.csv, and ``jaxrl report d d``.

A *kill* is simulated by raising at the k-th file operation (``os.rename``/``os.replace``/``os.remove``/
``os.unlink``/``os.rmdir``/``shutil.rmtree``, orbax's own included) and failing every later one, so
nothing after that instant reaches the disk; an *interrupt* raises ``KeyboardInterrupt`` once and lets
the clean-up handlers run. Afterwards a complete checkpoint, old or new, must be restorable.
"""

from __future__ import annotations

import contextlib
import os
import shutil

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import checkpoint
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
    return {"w": jnp.full((4, 3), v), "n": jnp.int32(int(v))}


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
