"""jaxrl.config: fields declared once (kind + check), types from annotations, derived HParams, resolve_hparams."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.config import (
    ConfigBase,
    ParamDict,
    gt,
    hparams_class,
    in_range,
    layer_sizes,
    one_of,
    positive,
    resolve_hparams,
    static,
    traced,
    traced_names,
)
from jaxrl.errors import UserError


@dataclass(frozen=True)
class Toy(ConfigBase):
    _name = "toy.Config"

    num_envs: int = static(4, positive)
    lr: float = traced(0.1, gt(0))
    mode: str = static("a", one_of("a", "b"))
    hidden: tuple[int, ...] = static((8,), layer_sizes)
    gamma: float = traced(0.9, in_range(0, 1))
    flag: bool = False
    maybe: float | None = None
    pair: tuple[float, float] = (1.0, 2.0)
    params: Mapping[str, Any] = static(factory=dict)
    anything: Any = None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lr="0.1"), r"toy.Config.lr must be a finite real number, got '0.1' \(str\)"),
        (dict(lr=True), r"toy.Config.lr must be a finite real number, got True \(bool\)"),
        (dict(lr=float("inf")), "toy.Config.lr must be a finite real number"),
        (dict(lr=0.0), r"toy.Config.lr must be > 0, got 0.0"),
        (dict(num_envs=4.0), r"toy.Config.num_envs must be an integer, got 4.0 \(float\)"),
        (dict(num_envs=0), "toy.Config.num_envs must be a positive integer, got 0"),
        (dict(flag=1), r"toy.Config.flag must be a bool, got 1 \(int\)"),
        (dict(mode=3), "toy.Config.mode must be a string"),
        (dict(mode="c"), r"toy.Config.mode must be one of \['a', 'b'\], got 'c'"),
        (dict(hidden=(8, True)), r"toy.Config.hidden must be a list or tuple of int"),
        (dict(hidden=()), "toy.Config.hidden must be a non-empty tuple of positive layer sizes"),
        (dict(maybe="x"), "toy.Config.maybe must be float or None"),
        (dict(pair=(1.0,)), r"toy.Config.pair must be a tuple of 2"),
        (dict(params=[("a", 1)]), "toy.Config.params must be a mapping"),
    ],
)
def test_field_types_and_checks(kwargs, match):
    with pytest.raises(UserError, match=match):
        Toy(**kwargs)


def test_values_are_normalised_and_hashable():
    cfg = Toy(lr=1, num_envs=np.int64(3), hidden=[16, 8], flag=np.bool_(True), maybe=2, pair=[3, 4],
              params={"x": 1}, anything=object)
    assert (cfg.lr, cfg.num_envs, cfg.hidden, cfg.flag, cfg.maybe, cfg.pair) == (1.0, 3, (16, 8), True, 2.0, (3.0, 4.0))
    assert type(cfg.lr) is float and type(cfg.num_envs) is int and isinstance(cfg.params, ParamDict)
    assert hash(cfg) == hash(Toy(lr=1.0, num_envs=3, hidden=(16, 8), flag=True, maybe=2.0, pair=(3.0, 4.0),
                                 params={"x": 1}, anything=object))
    with pytest.raises(TypeError, match="read-only"):
        cfg.params["y"] = 2


def test_hparams_class_is_derived_once_in_declaration_order():
    assert traced_names(Toy) == ("lr", "gamma")
    hp_cls = hparams_class(Toy)
    assert hparams_class(Toy) is hp_cls and hp_cls.__name__ == "HParams" and hp_cls.__module__ == __name__
    assert [f.name for f in dataclasses.fields(hp_cls)] == ["lr", "gamma"]
    hp = resolve_hparams(Toy(), {"gamma": 0.5})
    assert isinstance(hp, hp_cls) and (float(hp.lr), float(hp.gamma)) == (pytest.approx(0.1), 0.5)
    assert hp.lr.dtype == jnp.float32
    assert jax.tree_util.tree_structure(hp) == jax.tree_util.tree_structure(hp_cls(lr=0, gamma=0))


def test_resolve_hparams_concrete_errors():
    with pytest.raises(UserError, match=r"unknown toy hyperparameter\(s\) \['num_envs'\]; valid: lr, gamma"):
        resolve_hparams(Toy(), {"num_envs": 2})
    with pytest.raises(UserError, match=r"toy hyperparameter gamma must be in \[0, 1\] \(a finite real number\)"):
        resolve_hparams(Toy(), {"gamma": np.array([0.5, 1.5])})
    with pytest.raises(UserError, match="toy hyperparameter lr must be > 0"):
        resolve_hparams(Toy(), {"lr": "0.1"})
    with pytest.raises(UserError, match="toy hyperparameter lr"):
        resolve_hparams(Toy(), {"lr": np.nan})
    with pytest.raises(TypeError, match="hparams must be toy.HParams"):
        resolve_hparams(Toy(), [0.1, 0.9])


def test_resolve_hparams_traced_invalid_becomes_nan_and_voids_lr():
    """Under jit/vmap a value failing its check is NaN, and so is that run's lr (the run goes non-finite)."""

    def resolved(lr, gamma):
        hp = resolve_hparams(Toy(), {"lr": lr, "gamma": gamma})
        return hp.lr, hp.gamma

    lr, gamma = jax.jit(jax.vmap(resolved))(jnp.array([0.1, -0.1, 0.2, 0.3]), jnp.array([0.5, 0.5, 2.0, 1.0]))
    np.testing.assert_array_equal(np.isnan(np.asarray(lr)), [False, True, True, False])
    np.testing.assert_array_equal(np.isnan(np.asarray(gamma)), [False, False, True, False])
    np.testing.assert_array_equal(np.asarray(lr)[[0, 3]], np.float32([0.1, 0.3]))  # valid values pass unchanged
    np.testing.assert_array_equal(np.asarray(gamma)[[0, 1, 3]], np.float32([0.5, 0.5, 1.0]))
