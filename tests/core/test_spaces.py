import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import spaces

F32_MAX = float(np.finfo(np.float32).max)


def _samples(space, n=256, seed=0):
    return jax.vmap(space.sample)(jax.random.split(jax.random.PRNGKey(seed), n))


# --------------------------------------------------------------------------- Discrete
def test_discrete_sample_in_range_and_covers_all_values():
    sp = spaces.Discrete(5)
    x = np.asarray(_samples(sp))
    assert x.dtype == np.int32 and x.shape == (256,)
    assert set(x.tolist()) == {0, 1, 2, 3, 4}
    assert bool(jax.vmap(sp.contains)(jnp.asarray(x)).all())


def test_discrete_contains_rejects():
    sp = spaces.Discrete(3)
    assert bool(sp.contains(jnp.int32(2)))
    assert not bool(sp.contains(jnp.int32(3)))
    assert not bool(sp.contains(jnp.int32(-1)))
    assert not bool(sp.contains(jnp.float32(1.0)))  # wrong dtype
    out = sp.contains(jnp.zeros(2, jnp.int32))  # wrong shape: a scalar False, not an array
    assert out.shape == () and not bool(out)


def test_discrete_needs_positive_n():
    with pytest.raises(ValueError, match="n > 0"):
        spaces.Discrete(0)


# --------------------------------------------------------------------------- MultiDiscrete
def test_multidiscrete_sample_and_contains():
    sp = spaces.MultiDiscrete([2, 3, 7])
    x = np.asarray(_samples(sp, 512))
    assert x.shape == (512, 3) and x.dtype == np.int32
    for i, n in enumerate([2, 3, 7]):
        assert set(x[:, i].tolist()) == set(range(n))
    assert bool(jax.vmap(sp.contains)(jnp.asarray(x)).all())
    assert not bool(sp.contains(jnp.array([1, 3, 0], jnp.int32)))  # 3 >= nvec[1]
    assert not bool(sp.contains(jnp.array([0, -1, 0], jnp.int32)))
    assert not bool(sp.contains(jnp.array([0, 0], jnp.int32)))  # wrong shape
    assert not bool(sp.contains(jnp.array([0.0, 0.0, 0.0])))  # wrong dtype


@pytest.mark.parametrize("nvec", [[], [[2, 3]], [2, 0]])
def test_multidiscrete_rejects_bad_nvec(nvec):
    with pytest.raises(ValueError, match="MultiDiscrete"):
        spaces.MultiDiscrete(nvec)


# --------------------------------------------------------------------------- Box
def test_box_sample_within_bounds():
    low, high = np.array([-1.0, 0.0, 5.0]), np.array([1.0, 0.5, 6.0])
    sp = spaces.Box(low, high)
    assert sp.shape == (3,)
    x = np.asarray(_samples(sp))
    assert x.dtype == np.float32
    assert (x >= low.astype(np.float32)).all() and (x <= high.astype(np.float32)).all()
    assert x.std(0).min() > 0.05  # actually random, not a constant
    assert bool(jax.vmap(sp.contains)(jnp.asarray(x)).all())


def test_box_contains_rejects_out_of_range_and_wrong_shape():
    sp = spaces.Box(-1.0, 1.0, (2,))
    assert bool(sp.contains(jnp.array([1.0, -1.0])))  # bounds are inclusive
    assert not bool(sp.contains(jnp.array([1.01, 0.0])))
    assert not bool(sp.contains(jnp.array([0.0, jnp.nan])))
    assert not bool(sp.contains(jnp.zeros(3)))
    assert not bool(sp.contains(jnp.zeros((2, 1))))


def test_box_infinite_and_huge_bounds_sample_finite_values():
    sp = spaces.Box(np.array([-np.inf, 0.0, -np.inf, -F32_MAX]), np.array([np.inf, np.inf, 3.0, F32_MAX]))
    x = np.asarray(_samples(sp, 1024))
    assert np.isfinite(x).all()
    assert (x[:, 1] >= 0).all() and (x[:, 2] <= 3).all()
    assert (x[:, 0] < 0).any() and (x[:, 0] > 0).any()  # unbounded both ways: both signs
    assert bool(jax.vmap(sp.contains)(jnp.asarray(x)).all())
    assert bool(sp.contains(jnp.array([-1e30, 1e30, -1e30, 1e30])))
    assert not bool(sp.contains(jnp.array([0.0, -1e-3, 0.0, 0.0])))


def test_box_integer_dtype():
    sp = spaces.Box(0, 3, (4,), jnp.int32)
    x = np.asarray(_samples(sp))
    assert x.dtype == np.int32 and x.min() == 0 and x.max() == 3
    assert not bool(sp.contains(jnp.array([0, 1, 2, 4], jnp.int32)))


def test_box_traced_bounds_and_jit():
    @jax.jit
    def f(key, high):
        sp = spaces.Box(-high, high, (3,))
        x = sp.sample(key)
        return x, sp.contains(x), sp.contains(x + 2 * high)

    x, inside, outside = f(jax.random.PRNGKey(1), jnp.float32(0.5))
    assert np.abs(np.asarray(x)).max() <= 0.5
    assert bool(inside) and not bool(outside)


def test_box_repr_does_not_fail():
    assert repr(spaces.Box(-1.0, 1.0, (2,))) == "Box(-1, 1, (2,), float32)"
    assert "[" in repr(spaces.Box(np.array([0.0, 1.0]), np.array([2.0, 3.0])))
    assert repr(spaces.Box(jnp.zeros(2), jnp.ones(2))).startswith("Box(0, 1")


# --------------------------------------------------------------------------- Dict
def test_dict_sample_contains_and_jit():
    sp = spaces.Dict({"pos": spaces.Box(-1.0, 1.0, (2,)), "mode": spaces.Discrete(3)})
    x = jax.jit(sp.sample)(jax.random.PRNGKey(0))
    assert set(x) == {"pos", "mode"} and x["pos"].shape == (2,) and x["mode"].shape == ()
    assert bool(jax.jit(sp.contains)(x))
    assert not bool(sp.contains({"pos": x["pos"], "mode": jnp.int32(3)}))
    assert not bool(sp.contains({"pos": x["pos"]}))  # missing key
    assert not bool(sp.contains(x["pos"]))  # not a mapping
    assert sp["mode"].n == 3
    assert spaces.flat_dim(sp) == 3


def test_jit_sample_contains_for_every_space_type():
    for sp in (spaces.Discrete(4), spaces.MultiDiscrete([3, 4]), spaces.Box(-2.0, 2.0, (2, 2))):
        x = jax.jit(sp.sample)(jax.random.PRNGKey(3))
        assert x.shape == sp.shape and x.dtype == sp.dtype
        assert bool(jax.jit(sp.contains)(x))


def test_from_gymnax():
    gymnax_spaces = pytest.importorskip("gymnax.environments.spaces")
    d = spaces.from_gymnax(gymnax_spaces.Discrete(4))
    assert isinstance(d, spaces.Discrete) and d.n == 4
    b = spaces.from_gymnax(gymnax_spaces.Box(-1.0, 2.0, (3,), jnp.float32))
    assert isinstance(b, spaces.Box) and b.shape == (3,) and float(b.high) == 2.0
    with pytest.raises(TypeError, match="cannot convert"):
        spaces.from_gymnax(object())
