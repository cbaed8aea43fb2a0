"""Save and restore any pytree with orbax, with clear errors on bad checkpoints.

>>> checkpoint.save("/runs/ppo/step_100", runner_state, {"update": 100, "config": {...}})
>>> state, meta = checkpoint.restore("/runs/ppo/step_100", like=runner_state)

A checkpoint is a directory written by orbax with two items: ``arrays`` (the
leaves, flattened to ``leaf_00000, ...``) and ``manifest`` (JSON: format
version, user metadata, and for each leaf its tree path, shape, dtype, PRNG
key implementation and CRC32). The tree structure comes from ``like`` on
restore; the manifest lets ``restore`` check that structure, every shape and
dtype, and the bytes of every leaf, and say exactly what does not match.
Typed PRNG keys (``jax.random.key``) are stored as their ``key_data`` and
wrapped back with the same implementation.

Crash safety: ``save`` writes into a hidden sibling ``.<name>.tmp-<id>`` and
publishes it with a rename. Replacing an existing checkpoint takes two renames
(``path -> .<name>.old-<id>``, then the new one in); an exception between them
renames the old one back, and a process killed between them leaves two
complete hidden copies, which :func:`recover` (called by ``restore`` and
``read_metadata`` when ``path`` is missing) verifies through their manifests
and publishes the newest of. So at every instant a complete checkpoint exists
under ``path`` or one of those names, and the only good copy is never deleted.
Concurrent saves to one path are not supported. For a series of checkpoints
with one atomic publish per save, see :meth:`jaxrl.runs.RunDir.save_checkpoint`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

FORMAT = "jaxrl-checkpoint/1"
_ARRAYS, _MANIFEST = "arrays", "manifest"


def _is_key(x: Any) -> bool:
    dtype = getattr(x, "dtype", None)
    return dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key)


def _key_impl(x: Any) -> str:
    if isinstance(x, jax.Array):
        return str(jax.random.key_impl(x))
    return x.dtype._impl.name  # jax.ShapeDtypeStruct of a key (no public accessor)


def _flatten(tree: Any) -> tuple[list[tuple[str, Any]], Any]:
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    return [(jax.tree_util.keystr(p), x) for p, x in leaves], treedef


def _leaf_spec(path: str, x: Any) -> dict[str, Any]:
    """Shape, dtype and key type of a leaf (array, ShapeDtypeStruct or Python scalar)."""
    if _is_key(x):
        return {"path": path, "shape": list(x.shape), "dtype": "key", "key_impl": _key_impl(x)}
    if not (hasattr(x, "shape") and hasattr(x, "dtype")):
        x = np.asarray(x)
    return {"path": path, "shape": list(x.shape), "dtype": np.dtype(x.dtype).name, "key_impl": None}


def _data_like(x: Any) -> np.ndarray:
    """A zero array shaped like the stored data of template leaf ``x``."""
    if _is_key(x):
        x = jax.eval_shape(jax.random.key_data, x)
    elif not (hasattr(x, "shape") and hasattr(x, "dtype")):
        x = np.asarray(x)
    return np.zeros(x.shape, np.dtype(x.dtype))


def _to_numpy(x: Any) -> np.ndarray:
    return np.asarray(jax.random.key_data(x) if _is_key(x) else x)


def _crc(a: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(a).tobytes())


def _checkpointer():
    import orbax.checkpoint as ocp  # deferred: orbax is slow to import

    return ocp, ocp.Checkpointer(ocp.CompositeCheckpointHandler())


def save(path: str | os.PathLike, tree: Any, metadata: dict[str, Any] | None = None, overwrite: bool = True) -> str:
    """Write ``tree`` (any pytree of arrays, typed PRNG keys included) and JSON ``metadata`` to directory ``path``.

    The write is atomic (see the module docstring): an existing checkpoint at
    ``path`` is replaced only once the new one is complete, and an interrupt
    (``KeyboardInterrupt``, an error) at any point leaves the old or the new
    complete checkpoint at ``path``. ``overwrite=False`` refuses to replace
    one. ``metadata`` must be JSON-serialisable; NaN/inf are stored as null
    and their keys listed under ``"nonfinite"`` (the manifest is strict JSON).
    Returns the absolute path.
    """
    path = os.path.abspath(os.fspath(path))
    metadata = dict(metadata or {})
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as e:
        raise TypeError(f"checkpoint metadata must be JSON-serialisable: {e}") from None
    try:
        json.dumps(metadata, allow_nan=False)
    except ValueError:  # strict JSON on disk: NaN/inf as null, named under "nonfinite"
        from jaxrl.records import flag_nonfinite

        metadata = flag_nonfinite(metadata)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"checkpoint {path} already exists (pass overwrite=True to replace it)")
    flat, treedef = _flatten(tree)
    arrays, leaves = {}, []
    for i, (p, x) in enumerate(flat):
        spec = _leaf_spec(p, x)
        a = _to_numpy(x)
        spec["crc32"] = _crc(a)
        leaves.append(spec)
        if a.size:  # orbax refuses zero-size arrays; the manifest alone restores them
            arrays[f"leaf_{i:05d}"] = a
    manifest = {
        "format": FORMAT,
        "treedef": str(treedef),
        "leaves": leaves,
        "metadata": metadata,
        "written_ns": time.time_ns(),
    }

    ocp, ckptr = _checkpointer()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    tmp = _sibling(path, "tmp", tag)
    items = {_MANIFEST: ocp.args.JsonSave(manifest)}
    if arrays:
        items[_ARRAYS] = ocp.args.StandardSave(arrays)
    try:
        ckptr.save(tmp, ocp.args.Composite(**items))
        _publish(tmp, path, tag)
    except BaseException:
        _after_failed_save(tmp, path)
        raise
    _remove_leftovers(path)
    return path


def _sibling(path: str, kind: str, tag: str) -> str:
    """``<dir>/.<name>.<kind>-<tag>``: a hidden name next to ``path`` (``kind``: tmp or old)."""
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{kind}-{tag}")


def _hidden(path: str) -> list[tuple[str, str]]:
    """``(file, kind)`` for each hidden sibling of ``path`` an interrupted save left (kind: tmp, old, partial)."""
    parent, name = os.path.split(path)
    # ".<name>.tmp-<id>.old" is the previous checkpoint as saves before versioned names left it
    pat = re.compile(rf"^\.{re.escape(name)}\.(tmp|old)-[0-9a-f]+(?:\.old)?(\.orbax-checkpoint-tmp.*)?$")
    try:
        entries = os.listdir(parent)
    except OSError:
        return []
    out = []
    for e in entries:
        m = pat.match(e)
        if m:
            out.append((os.path.join(parent, e), "partial" if m.group(2) else m.group(1)))
    return out


def leftovers(path: str | os.PathLike) -> list[str]:
    """Hidden copies that interrupted saves of ``path`` left (complete or not; orbax's partial folders excluded)."""
    return [f for f, kind in _hidden(os.path.abspath(os.fspath(path))) if kind != "partial"]


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _publish(tmp: str, path: str, tag: str) -> None:
    """Move the complete checkpoint ``tmp`` to ``path``, replacing what is there; an error leaves one of them."""
    if not os.path.lexists(path):
        try:
            os.rename(tmp, path)
        except FileNotFoundError:
            if not os.path.isdir(path):  # else a reader's recover() published this very copy first
                raise
        _fsync_dir(os.path.dirname(path))
        return
    old = _sibling(path, "old", tag)
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        if not os.path.lexists(path):
            os.rename(old, path)  # roll back: the previous checkpoint stays
        raise
    _fsync_dir(os.path.dirname(path))
    _delete(old)


def _delete(path: str) -> None:
    """Remove a folder, or a symbolic link (``path`` was a link to a checkpoint), ignoring errors."""
    if os.path.islink(path):
        try:
            os.unlink(path)
        except OSError:
            pass
    else:
        shutil.rmtree(path, ignore_errors=True)


def _after_failed_save(tmp: str, path: str) -> None:
    """Clean up after an interrupted save without ever deleting the only complete copy."""
    if not os.path.isdir(path):
        recover(path)
    if os.path.isdir(path):
        _remove_leftovers(path)


def _remove_leftovers(path: str) -> None:
    """Delete hidden copies of earlier interrupted saves (``path`` now holds a newer complete checkpoint)."""
    for f, _ in _hidden(path):
        _delete(f)


def is_complete(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a checkpoint whose manifest reads and whose arrays were written.

    Cheap (the manifest only, no array bytes): it tells a finished write from an
    interrupted one. ``restore`` still checks every leaf's shape and CRC32.
    """
    path = os.fspath(path)
    try:
        manifest = _read_manifest(os.path.abspath(path))
    except (OSError, ValueError):
        return False
    needs_arrays = any(int(np.prod(s["shape"])) > 0 for s in manifest["leaves"])
    return not needs_arrays or os.path.isdir(os.path.join(path, _ARRAYS))


def _written_ns(path: str) -> int:
    try:
        return int(_read_manifest(path).get("written_ns", 0)) or int(os.stat(path).st_mtime_ns)
    except (OSError, ValueError):
        return 0


def recover(path: str | os.PathLike) -> str | None:
    """``path`` if it holds a checkpoint, else publish the newest complete copy an interrupted save left.

    Returns the path of a complete checkpoint (``path`` itself, or a hidden
    copy when it cannot be renamed, e.g. on a read-only file system), or None
    when there is none.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        return path
    found = [f for f in leftovers(path) if is_complete(f)]
    if not found:
        return None
    best = max(found, key=lambda f: (_written_ns(f), not f.endswith(".old") and ".tmp-" in os.path.basename(f)))
    try:
        os.rename(best, path)
    except OSError:
        return best
    _fsync_dir(os.path.dirname(path))
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The user metadata of a checkpoint, without reading its arrays."""
    return _read_manifest(_resolve(path))["metadata"]


def _resolve(path: str | os.PathLike) -> str:
    """``path``, or the complete copy an interrupted save left there; ``FileNotFoundError`` if none."""
    path = os.path.abspath(os.fspath(path))
    found = recover(path)
    if found is None:
        raise FileNotFoundError(f"no checkpoint at {path}")
    return found


def _read_manifest(path: str) -> dict[str, Any]:
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    ocp, ckptr = _checkpointer()
    try:
        manifest = ckptr.restore(path, ocp.args.Composite(**{_MANIFEST: ocp.args.JsonRestore()}))[_MANIFEST]
    except Exception as e:  # orbax raises various types for missing/garbled files
        raise ValueError(f"corrupt or unreadable checkpoint at {path}: cannot read its manifest ({e})") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        fmt = manifest.get("format") if isinstance(manifest, dict) else None
        raise ValueError(f"checkpoint at {path} has format {fmt!r}, expected {FORMAT!r}")
    return manifest


def _check_like(path: str, manifest: dict[str, Any], flat: list[tuple[str, Any]], treedef: Any) -> None:
    stored = manifest["leaves"]
    if len(stored) != len(flat) or [s["path"] for s in stored] != [p for p, _ in flat]:
        have = {s["path"] for s in stored}
        want = {p for p, _ in flat}
        missing, extra = sorted(want - have), sorted(have - want)
        raise ValueError(
            f"checkpoint at {path} does not match the template's structure: {len(stored)} stored leaves vs "
            f"{len(flat)} expected; missing from checkpoint: {missing[:5]}; not in template: {extra[:5]}"
        )
    # The same leaf paths (which name every container and field on the way to a leaf), shapes and
    # dtypes but another tree definition: only empty nodes (None) moved or a node class was renamed,
    # as in a state saved before a refactor; the leaves go into the template's structure.
    for s, (p, x) in zip(stored, flat, strict=True):
        want = _leaf_spec(p, x)
        for field in ("dtype", "key_impl", "shape"):
            if s[field] != want[field]:
                raise ValueError(
                    f"checkpoint at {path}: leaf {p} has {field} {s[field]} but the template has {want[field]}"
                )


def _weak_like(a: jax.Array, x: Any) -> jax.Array:
    """Keep the template's weak type (e.g. gymnax's Python-int counters) so restored states never retrace."""
    if not getattr(x, "weak_type", False):
        return a
    try:
        from jax._src.lax.lax import _convert_element_type  # no public API sets weak_type
    except ImportError:  # pragma: no cover - future jax; a strong type only costs one retrace
        return a
    return _convert_element_type(a, weak_type=True)


def _like_leaf(a: np.ndarray, x: Any, key_impl: str | None) -> Any:
    """``a`` as the same kind of object as the template leaf ``x``."""
    if key_impl is not None:
        return jax.random.wrap_key_data(jnp.asarray(a), impl=key_impl)
    if isinstance(x, jax.Array | jax.ShapeDtypeStruct):
        return _weak_like(jnp.asarray(a), x)
    if isinstance(x, np.ndarray | np.generic):
        return a if isinstance(x, np.ndarray) else a[()]
    if isinstance(x, bool | int | float | complex):
        return type(x)(a.item())
    return jnp.asarray(a)


def restore(path: str | os.PathLike, like: Any) -> tuple[Any, dict[str, Any]]:
    """Read a checkpoint into the structure of ``like``; returns ``(tree, metadata)``.

    ``like`` is a pytree with the saved structure (e.g. a freshly initialised
    state, or ``jax.eval_shape`` of one; leaves need ``shape``/``dtype``).
    Raises ``FileNotFoundError`` when ``path`` holds no checkpoint and
    ``ValueError`` naming the path and leaf when it is corrupt or its
    structure, a shape, dtype or key type differs from ``like``. A checkpoint
    left behind by an interrupted save is recovered first (:func:`recover`).
    """
    path = _resolve(path)
    manifest = _read_manifest(path)
    flat, treedef = _flatten(like)
    _check_like(path, manifest, flat, treedef)
    stored = manifest["leaves"]
    names = [f"leaf_{i:05d}" for i in range(len(stored))]
    arrays = {n: _data_like(x) for n, (_, x) in zip(names, flat, strict=True)}
    target = {n: a for n, a in arrays.items() if a.size}
    if target:
        ocp, ckptr = _checkpointer()
        try:
            args = ocp.args.Composite(**{_ARRAYS: ocp.args.StandardRestore(target)})
            arrays.update(ckptr.restore(path, args)[_ARRAYS])
        except Exception as e:
            raise ValueError(f"corrupt or unreadable checkpoint at {path}: cannot read its arrays ({e})") from e
    leaves = []
    for n, s, (p, x) in zip(names, stored, flat, strict=True):
        a = np.asarray(arrays[n])
        if _crc(a) != s["crc32"]:
            raise ValueError(f"corrupt checkpoint at {path}: leaf {p} fails its CRC32 check")
        leaves.append(_like_leaf(a, x, s["key_impl"]))
    return jax.tree_util.tree_unflatten(treedef, leaves), manifest["metadata"]
