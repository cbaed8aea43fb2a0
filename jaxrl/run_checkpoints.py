"""The checkpoints of a run directory: versioned folders published by one rename (see :mod:`jaxrl.runs`).

:class:`CheckpointStore` is the checkpoint half of :class:`jaxrl.runs.RunDir` (a mixin over its
``path``): ``checkpoints/ckpt-<updates_done>/`` folders, each written under a hidden name and
published with one atomic rename, a ``checkpoint`` link to the newest, recovery of a save that was
killed before its rename, adoption of checkpoints from before versioned folders, and pruning to the
newest two once a new one is published.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jaxrl.errors import RunDirError
from jaxrl.records import flag_nonfinite

CHECKPOINT = "checkpoint"  # link to the newest checkpoint (before versioned folders: the checkpoint itself)
CHECKPOINTS = "checkpoints"
_CKPT = re.compile(r"^(\.)?ckpt-(\d+)(?:\.(?:tmp|old)-[0-9a-f]+)?$")  # published, or a hidden leftover


def _ckpt_name(n: int) -> str:
    return f"ckpt-{n:09d}"


class CheckpointStore:
    """Checkpoint methods of a run directory at ``self.path``."""

    path: Path

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def checkpoint_path(self) -> Path:
        """The newest complete checkpoint (:meth:`latest_checkpoint`), or the absent ``<run>/checkpoint``."""
        latest = self.latest_checkpoint()
        return latest if latest is not None else self.path / CHECKPOINT

    def save_checkpoint(self, tree: Any, metadata: Mapping[str, Any]) -> Path:
        """Save ``tree`` as ``checkpoints/ckpt-<updates_done>``, published by one rename; returns its path.

        ``metadata`` needs an int ``updates_done`` (NaN/inf values are stored as null and listed
        under ``"nonfinite"``). Afterwards ``<run>/checkpoint`` points at it and only it and the
        previous checkpoint are kept; older ones (and any of a later update, from an abandoned
        branch) are deleted only once it is published.
        """
        from jaxrl import checkpoint

        meta = flag_nonfinite(dict(metadata))
        n = meta.get("updates_done")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"checkpoint metadata needs a non-negative int 'updates_done', got {n!r}")
        self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        target = self.checkpoints_dir / _ckpt_name(n)
        checkpoint.save(target, tree, meta)
        self._point_to(target)
        self._prune(n)
        return target

    def latest_checkpoint(self) -> Path | None:
        """The newest complete checkpoint, None when there is none.

        A save that finished writing but was killed before its publishing rename is verified
        through its manifest and published; a checkpoint from before versioned folders
        (``<run>/checkpoint/`` itself, or the hidden copies an interrupted save of it left) is
        moved to ``checkpoints/ckpt-<updates_done>``.
        """
        from jaxrl import checkpoint

        self._adopt_legacy()
        published, hidden = self._versions()
        newest = max(published, default=-1)
        for n in sorted({n for n in hidden if n > newest}, reverse=True):
            found = checkpoint.recover(self.checkpoints_dir / _ckpt_name(n))
            if found is not None:
                found = Path(found)
                if found.name == _ckpt_name(n):
                    self._point_to(found)
                return found
        if newest < 0:
            return None
        self._point_to(published[newest])
        return published[newest]

    def restore_checkpoint(self, like: Any) -> tuple[Any, dict[str, Any]]:
        """``(tree, metadata)`` from :meth:`latest_checkpoint`, shaped like ``like``.

        Raises :class:`RunDirError` (path, what is wrong, what to do) when there is no
        checkpoint, or it is corrupt or does not match ``like``.
        """
        from jaxrl import checkpoint

        path = self.latest_checkpoint()
        if path is None:
            raise RunDirError(f"{self.path} has no complete checkpoint to resume from; start the run without --resume")
        try:
            tree, meta = checkpoint.restore(path, like=like)
        except (OSError, ValueError) as e:
            published, _ = self._versions()
            older = [n for n in published if published[n] != path]
            fix = (
                f"if its files are damaged, delete {path} to resume from {published[max(older)]}"
                if older
                else "if its files are damaged, start a new run"
            )
            raise RunDirError(
                f"cannot restore the checkpoint of {self.path}: {e}. If the agent or its config changed since it "
                f"was written, resume with the original ones; {fix}"
            ) from e
        n = meta.get("updates_done")
        if not isinstance(n, int) or (path.name.startswith("ckpt-") and path.name != _ckpt_name(n)):
            raise RunDirError(
                f"checkpoint {path} has updates_done={n!r} in its metadata, which does not match its name; "
                "it was not written by RunDir.save_checkpoint: start a new run"
            )
        return tree, meta

    def _versions(self) -> tuple[dict[int, Path], set[int]]:
        """``({n: published checkpoint}, {n of hidden leftovers})`` in checkpoints/."""
        published: dict[int, Path] = {}
        hidden: set[int] = set()
        try:
            entries = os.listdir(self.checkpoints_dir)
        except OSError:
            return published, hidden
        for e in entries:
            m = _CKPT.match(e)
            if m and m.group(1):
                hidden.add(int(m.group(2)))
            elif m and (self.checkpoints_dir / e).is_dir():
                published[int(m.group(2))] = self.checkpoints_dir / e
        return published, hidden

    def _point_to(self, target: Path) -> None:
        """Atomically make ``<run>/checkpoint`` a symbolic link to ``target`` (skipped where links are unsupported)."""
        link, rel = self.path / CHECKPOINT, os.path.join(CHECKPOINTS, target.name)
        try:
            if os.readlink(link) == rel:
                return
        except OSError:
            pass
        self._adopt_legacy()
        tmp = self.path / f".{CHECKPOINT}.link-{uuid.uuid4().hex[:8]}"
        try:
            os.symlink(rel, tmp, target_is_directory=True)
            os.replace(tmp, link)
        except (OSError, NotImplementedError):
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _prune(self, n: int) -> None:
        """Keep checkpoint ``n`` and the newest one before it; delete the rest and every leftover."""
        from jaxrl import checkpoint

        published, _ = self._versions()
        older = [m for m in published if m < n]
        keep = {n, max(older)} if older else {n}
        for e in os.listdir(self.checkpoints_dir):
            m = _CKPT.match(e)
            if m and (m.group(1) or int(m.group(2)) not in keep) or ".orbax-checkpoint-tmp" in e:
                shutil.rmtree(self.checkpoints_dir / e, ignore_errors=True)
        for e in os.listdir(self.path):
            if e.startswith(f".{CHECKPOINT}.link-"):
                with contextlib.suppress(OSError):
                    (self.path / e).unlink()
        if (self.path / CHECKPOINT).is_symlink():  # copies a pre-versioning save left, adopted or duplicates
            for f in checkpoint.leftovers(self.path / CHECKPOINT):
                shutil.rmtree(f, ignore_errors=True)

    def _adopt_legacy(self) -> None:
        """Move a pre-versioning checkpoint (``<run>/checkpoint/``, or its leftovers) into checkpoints/."""
        from jaxrl import checkpoint

        link = self.path / CHECKPOINT
        if link.is_symlink():
            return
        found = [link] if link.is_dir() else [Path(f) for f in checkpoint.leftovers(link) if checkpoint.is_complete(f)]
        for f in found:
            try:
                n = checkpoint.read_metadata(f).get("updates_done")
            except (OSError, ValueError):
                continue
            if isinstance(n, int) and not (self.checkpoints_dir / _ckpt_name(n)).exists():
                self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
                os.rename(f, self.checkpoints_dir / _ckpt_name(n))
