"""Shared fixtures. Keep this file light: every test module in the suite loads it."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxrl.testing import assert_trees_equal


@pytest.fixture
def key() -> jax.Array:
    return jax.random.PRNGKey(0)


@pytest.fixture
def np_rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def trees_equal():
    """The :func:`assert_trees_equal` helper as a fixture (test modules should not import conftest)."""
    return assert_trees_equal
