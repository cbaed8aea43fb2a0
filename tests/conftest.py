"""Shared fixtures. Keep this file light: every test module in the suite loads it."""

from __future__ import annotations

import jax
import numpy as np
import pytest


@pytest.fixture
def key() -> jax.Array:
    return jax.random.PRNGKey(0)


@pytest.fixture
def np_rng() -> np.random.Generator:
    return np.random.default_rng(0)


def assert_trees_equal(a, b, what: str = "") -> None:
    """Bit-for-bit equality of two pytrees (same structure, shapes, dtypes, values; NaN == NaN)."""
    assert jax.tree.structure(a) == jax.tree.structure(b), f"{what}: structures differ"
    for i, (x, y) in enumerate(zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape and x.dtype == y.dtype, f"{what} leaf {i}: {x.shape}/{x.dtype} vs {y.shape}/{y.dtype}"
        np.testing.assert_array_equal(x, y, err_msg=f"{what} leaf {i}")


@pytest.fixture
def trees_equal():
    """The :func:`assert_trees_equal` helper as a fixture (test modules should not import conftest)."""
    return assert_trees_equal
