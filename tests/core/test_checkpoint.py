"""jaxrl.checkpoint: round trips of arbitrary pytrees and clear errors for bad checkpoints."""

import glob
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxrl import checkpoint


@struct.dataclass
class Inner:
    w: jax.Array
    count: jax.Array


def _tree():
    return {
        "params": Inner(jnp.arange(600.0).reshape(20, 30), jnp.int32(7)),
        "keys": jax.random.split(jax.random.key(1), 3),  # typed keys
        "raw_key": jax.random.PRNGKey(2),  # uint32 key data
        "rbg": jax.random.key(3, impl="rbg"),
        "none": None,
        "mixed": (np.float64(2.5), 7, np.arange(3, dtype=np.int64)),
        "empty": jnp.zeros((0, 4)),
        "mask": jnp.array([True, False]),
    }


def _same(a, b):
    if jnp.issubdtype(getattr(a, "dtype", np.float32), jax.dtypes.prng_key):
        assert jax.random.key_impl(a) == jax.random.key_impl(b)
        a, b = jax.random.key_data(a), jax.random.key_data(b)
    assert type(a) is type(b) or (isinstance(a, jax.Array) and isinstance(b, jax.Array))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.asarray(a).dtype == np.asarray(b).dtype


def test_round_trip_any_pytree(tmp_path):
    tree = _tree()
    path = checkpoint.save(tmp_path / "ck", tree, {"step": 3, "config": {"lr": 1e-3}})
    out, meta = checkpoint.restore(path, like=tree)
    assert meta == {"step": 3, "config": {"lr": 1e-3}}
    assert jax.tree.structure(out) == jax.tree.structure(tree)
    jax.tree.map(_same, out, tree)
    assert checkpoint.read_metadata(path) == meta
    # the restored key is usable and equal to the original
    np.testing.assert_array_equal(jax.random.uniform(out["keys"][0]), jax.random.uniform(tree["keys"][0]))


def test_restore_into_abstract_template(tmp_path):
    tree = {"w": jnp.ones((3, 2)), "key": jax.random.key(0), "n": jnp.int32(4)}
    path = checkpoint.save(tmp_path / "ck", tree)
    out, meta = checkpoint.restore(path, like=jax.eval_shape(lambda: tree))
    assert meta == {}
    jax.tree.map(_same, out, tree)


def test_overwrite_is_atomic_and_optional(tmp_path):
    tree = {"x": jnp.zeros(3)}
    path = checkpoint.save(tmp_path / "ck", tree, {"v": 1})
    checkpoint.save(path, {"x": jnp.ones(3)}, {"v": 2})
    out, meta = checkpoint.restore(path, like=tree)
    assert meta == {"v": 2} and float(out["x"].sum()) == 3.0
    assert sorted(os.listdir(tmp_path)) == ["ck"]  # no temporary directories left behind
    with pytest.raises(FileExistsError, match="already exists"):
        checkpoint.save(path, tree, overwrite=False)


def test_metadata_must_be_json(tmp_path):
    with pytest.raises(TypeError, match="JSON"):
        checkpoint.save(tmp_path / "ck", {"x": jnp.zeros(1)}, {"bad": object()})
    meta = {"loss": float("nan"), "best": {"f": -np.inf}, "n": 2}
    path = checkpoint.save(tmp_path / "ck", {"x": jnp.zeros(1)}, meta)
    stored = {"loss": None, "best": {"f": None}, "n": 2, "nonfinite": ["loss", "best.f"]}
    assert checkpoint.read_metadata(path) == stored

    def strict(c):
        raise AssertionError(f"the manifest holds {c}, which is not JSON")

    for f in glob.glob(os.path.join(path, "manifest", "*")):
        if "metadata" in os.path.basename(f):
            json.loads(open(f).read(), parse_constant=strict)


def test_recover_publishes_the_newest_complete_leftover(tmp_path):
    tree = {"x": jnp.zeros(3)}
    assert checkpoint.recover(tmp_path / "ck") is None
    a = checkpoint.save(tmp_path / "a", tree, {"v": 1})
    b = checkpoint.save(tmp_path / "b", tree, {"v": 2})
    os.rename(a, tmp_path / ".ck.old-00000001")
    os.rename(b, tmp_path / ".ck.tmp-00000001")
    os.makedirs(tmp_path / ".ck.tmp-00000002" / "arrays")  # an interrupted write: no manifest
    os.makedirs(tmp_path / ".ck.v2.tmp-00000003")  # another checkpoint's leftover is not ours
    assert not checkpoint.is_complete(tmp_path / ".ck.tmp-00000002")
    assert checkpoint.recover(tmp_path / "ck") == str(tmp_path / "ck")
    assert checkpoint.read_metadata(tmp_path / "ck") == {"v": 2}
    checkpoint.save(tmp_path / "ck", tree, {"v": 3})
    assert sorted(os.listdir(tmp_path)) == [".ck.v2.tmp-00000003", "ck"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tree = {"a": jnp.arange(600.0).reshape(20, 30), "k": jax.random.key(1)}
    return tree, checkpoint.save(tmp_path_factory.mktemp("ck") / "good", tree, {"x": 1})


@pytest.mark.parametrize(
    "like, match",
    [
        ({"a": jnp.zeros((20, 31)), "k": jax.random.key(0)}, r"leaf \['a'\] has shape \[20, 30\].*\[20, 31\]"),
        ({"a": jnp.zeros((20, 30), jnp.int32), "k": jax.random.key(0)}, r"leaf \['a'\] has dtype float32.*int32"),
        ({"a": jnp.zeros((20, 30)), "b": jax.random.key(0)}, r"structure.*missing from checkpoint: \[\"\['b'\]\"\]"),
        ({"a": jnp.zeros((20, 30))}, r"1 expected"),
        ({"a": jnp.zeros((20, 30)), "k": jax.random.PRNGKey(0)}, r"leaf \['k'\] has dtype key"),
        ({"a": jnp.zeros((20, 30)), "k": jax.random.key(0, impl="rbg")}, r"key_impl threefry2x32.*rbg"),
    ],
)
def test_mismatched_template_raises(saved, like, match):
    _, path = saved
    with pytest.raises(ValueError, match=match) as e:
        checkpoint.restore(path, like=like)
    assert path in str(e.value)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        checkpoint.restore(tmp_path / "nope", like={})
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="manifest"):
        checkpoint.restore(tmp_path / "empty", like={})


def _copy(saved, tmp_path, name):
    dst = tmp_path / name
    shutil.copytree(saved[1], dst)
    return str(dst)


def _data_files(path):
    return [f for f in glob.glob(os.path.join(path, "arrays", "**", "*"), recursive=True) if os.path.isfile(f)]


def test_flipped_bytes_detected(saved, tmp_path):
    path = _copy(saved, tmp_path, "flip")
    big = max(_data_files(path), key=os.path.getsize)
    data = bytearray(open(big, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(big, "wb").write(bytes(data))
    with pytest.raises(ValueError, match="corrupt"):
        checkpoint.restore(path, like=saved[0])


def test_truncated_or_missing_arrays(saved, tmp_path):
    path = _copy(saved, tmp_path, "trunc")
    big = max(_data_files(path), key=os.path.getsize)
    open(big, "wb").write(open(big, "rb").read()[:10])
    with pytest.raises(ValueError, match="corrupt or unreadable.*arrays"):
        checkpoint.restore(path, like=saved[0])
    path = _copy(saved, tmp_path, "noarrays")
    shutil.rmtree(os.path.join(path, "arrays"))
    with pytest.raises(ValueError, match="corrupt or unreadable.*arrays"):
        checkpoint.restore(path, like=saved[0])


def test_garbled_manifest(saved, tmp_path):
    path = _copy(saved, tmp_path, "garbled")
    for f in glob.glob(os.path.join(path, "manifest", "*")):
        if "metadata" in os.path.basename(f):
            open(f, "w").write("{garbage")
    with pytest.raises(ValueError, match="corrupt or unreadable.*manifest"):
        checkpoint.restore(path, like=saved[0])
