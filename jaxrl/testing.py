"""Check that an environment keeps the jaxrl contract, plus two tiny reference envs.

>>> from jaxrl.testing import check_env
>>> check_env(my_env, my_params)          # raises AssertionError naming what is wrong

:func:`check_env` compiles one program (``jit(vmap(rollout))``) and traces
``reset``/``step`` a few more times abstractly (``jax.eval_shape``), so it
costs about one compile of the environment's step.

:class:`ChainEnv` (discrete actions, short episodes) and :class:`EchoEnv` (in :mod:`jaxrl.toy_envs`)
(continuous actions) have dynamics simple enough to check wrappers, batching
and agents against hand-computed numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import checks, spaces
from jaxrl.env import FINAL_OBS, Environment, Step
from jaxrl.toy_envs import ChainEnv, ChainParams, ChainState, EchoEnv, EchoParams  # noqa: F401  (re-exported)


class CheckReport(NamedTuple):
    """What :func:`check_env` saw in its rollout of ``num_envs`` environments for ``num_steps`` steps."""

    num_steps: int
    num_envs: int
    episode_ends: int  # environment steps with terminated or truncated, over all num_envs
    terminations: int
    truncations: int


def assert_trees_equal(a: Any, b: Any, what: str = "") -> None:
    """Bit-for-bit equality of two pytrees: structure, shapes, dtypes, values (NaN == NaN, PRNG keys by data)."""
    assert jax.tree.structure(a) == jax.tree.structure(b), f"{what}: structures differ"
    for (path, x), (_, y) in zip(jax.tree.leaves_with_path(a), jax.tree.leaves_with_path(b), strict=True):
        where = f"{what}{jax.tree_util.keystr(path)}"
        if jnp.issubdtype(jnp.asarray(x).dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape and x.dtype == y.dtype, f"{where}: {x.shape}/{x.dtype} vs {y.shape}/{y.dtype}"
        np.testing.assert_array_equal(x, y, err_msg=where)


def check_env(
    env: Environment,
    params: Any = None,
    *,
    num_steps: int = 64,
    num_envs: int = 4,
    key: jax.Array | None = None,
) -> CheckReport:
    """Assert that ``env`` keeps the environment contract; return what the rollout saw.

    Checks: ``reset``/``step`` trace un-batched and run under ``jit(vmap)``
    (``num_envs`` environments, ``num_steps`` steps); observations
    (after reset, after step and ``info[FINAL_OBS]``) lie in
    ``observation_space`` with its shape and dtype; ``step``'s state has the
    structure of ``reset``'s; reward is a float32 scalar (and finite),
    terminated/truncated bool scalars; two batch members given the same key
    follow the same trajectory; changing param
    values does not re-trace; ``info[FINAL_OBS]`` equals ``obs`` when the
    episode continues and differs from the reset ``obs`` at some episode end;
    a wrongly shaped action raises ``ValueError`` and a wrong dtype
    ``TypeError`` at trace time. Actions are sampled from ``action_space``.

    Everything runs in checked mode (:mod:`jaxrl.checks`): sampled actions
    must pass the checks, and one invalid action (``n`` for ``Discrete(n)``,
    ``nvec`` for ``MultiDiscrete``, NaN for a floating ``Box``; other spaces
    are not probed) fed mid-rollout must raise
    :class:`jaxrl.checks.InvalidActionError` naming the environment (same
    compiled program, run once more).
    """
    if int(num_envs) < 2 or int(num_steps) < 1:
        raise ValueError(f"check_env needs num_envs >= 2 and num_steps >= 1, got {num_envs}, {num_steps}")
    params = env.default_params if params is None else params
    key = jax.random.PRNGKey(0) if key is None else key
    name = getattr(env, "name", type(env).__name__)
    k_run, k_others, k_abstract = jax.random.split(key, 3)
    with checks.scope(True, clear_caches=False):  # env.step compiles per mode; our programs are new
        return _check_env(env, params, name, int(num_steps), int(num_envs), (k_run, k_others, k_abstract))


def _check_env(env: Environment, params: Any, name: str, num_steps: int, num_envs: int, keys3) -> CheckReport:
    k_run, k_others, k_abstract = keys3
    _check_abstract(env, params, k_abstract, name)  # traces un-batched reset/step, no compile

    # One compiled program: jit(vmap(rollout)). Members 0 and 1 share a key.
    rollout = _make_rollout(env, num_steps)
    traces = [0]

    def batched(keys, p, invalid_at):
        traces[0] += 1
        return jax.vmap(rollout, in_axes=(0, None, None))(keys, p, invalid_at)

    run_fn = jax.jit(batched)
    keys = jnp.concatenate([jnp.stack([k_run, k_run]), jax.random.split(k_others, num_envs - 2)])
    never = jnp.int32(-1)
    run = _call(run_fn, name, "jit(vmap(rollout))", keys, params, never)
    _check_trajectory(run, name)
    _check_same_key(run, name)

    perturbed, static = _perturb(params)
    _call(run_fn, name, "rollout with perturbed param values", keys, perturbed, never)
    _check_invalid_action(env, params, name, run_fn, keys, num_steps // 2)
    _assert(
        traces[0] == 1,
        f"{name}: changing param values re-traced the jitted rollout ({traces[0]} traces)"
        + (f"; static (pytree_node=False) fields: {static}" if static else "")
        + ". Keep values that may vary as pytree leaves; put shapes and counts on the environment itself",
    )
    term, trunc = np.asarray(run["terminated"]), np.asarray(run["truncated"])
    return CheckReport(num_steps, num_envs, int((term | trunc).sum()), int(term.sum()), int(trunc.sum()))


# --------------------------------------------------------------------------- internals
def _assert(cond: Any, msg: str | Callable[[], str]) -> None:
    """``msg`` may be a callable, to build costly or only-valid-on-failure messages lazily."""
    if not bool(cond):
        raise AssertionError(msg() if callable(msg) else msg)


def _call(fn, name: str, what: str, *args):
    try:
        return jax.device_get(fn(*args))
    except (AssertionError, KeyboardInterrupt):
        raise
    except Exception as e:
        raise AssertionError(f"{name}: {what} failed: {type(e).__name__}: {e}") from e


def _sig(tree: Any) -> Any:
    return jax.tree.structure(tree), [(tuple(x.shape), jnp.dtype(x.dtype)) for x in jax.tree.leaves(tree)]


def _check_same_key(run: dict, name: str) -> None:
    """Batch members 0 and 1 got the same key: same flags, same floats up to rounding.

    Members of a vectorised computation may differ in the last bit (SIMD lanes
    and scalar tails round differently), so floats are compared with a tolerance.
    """
    for k in ("terminated", "truncated"):
        a, b = np.asarray(run[k][0]), np.asarray(run[k][1])
        _assert(
            np.array_equal(a, b),
            lambda k=k, a=a, b=b: (
                f"{name}: same key, different {k} at step "
                f"{_first(a != b)[0]}: the environment is not a function of its key"
            ),
        )
    for k in ("reset_obs", "obs", "reward", "final_obs"):
        for leaf in jax.tree.leaves(run[k]):
            x, y = np.asarray(leaf[0], np.float64), np.asarray(leaf[1], np.float64)
            _assert(
                np.allclose(x, y, rtol=1e-4, atol=1e-5, equal_nan=True),
                lambda k=k, x=x, y=y: (
                    f"{name}: same key, different {k} (max abs diff "
                    f"{np.nanmax(np.abs(x - y)):.3g}): the environment is not a function of its key"
                ),
            )


def _check_obs_matches_space(space: spaces.Space, obs: Any, where: str) -> None:
    """Abstract check: structure, shape and dtype of ``obs`` against ``space``."""
    if isinstance(space, spaces.Dict):
        _assert(
            isinstance(obs, dict) and set(obs) == set(space.spaces),
            f"{where}: expected a dict with keys {sorted(space.spaces)} for {space!r}, got {type(obs).__name__}"
            + (f" with keys {sorted(obs)}" if isinstance(obs, dict) else ""),
        )
        for k, sub in space.spaces.items():
            _check_obs_matches_space(sub, obs[k], f"{where}[{k!r}]")
        return
    _assert(hasattr(obs, "shape"), f"{where}: expected an array for {space!r}, got {type(obs).__name__}")
    _assert(tuple(obs.shape) == tuple(space.shape), f"{where}: shape {tuple(obs.shape)} != space shape {space.shape}")
    _assert(jnp.dtype(obs.dtype) == space.dtype, f"{where}: dtype {jnp.dtype(obs.dtype)} != space dtype {space.dtype}")


def _check_scalar(x: Any, dtype: Any, what: str) -> None:
    _assert(
        tuple(getattr(x, "shape", (None,))) == () and jnp.dtype(x.dtype) == jnp.dtype(dtype),
        f"{what} must be a {jnp.dtype(dtype).name} scalar, got {getattr(x, 'dtype', type(x))}"
        f"{list(getattr(x, 'shape', []))}",
    )


def _check_abstract(env: Environment, params: Any, key: jax.Array, name: str) -> None:
    """Shape/dtype checks by abstract evaluation: no compilation."""
    k_reset, k_act, k_step = jax.random.split(key, 3)
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    try:
        obs0, state0 = jax.eval_shape(env.reset, k_reset, params)
        action = jax.eval_shape(act_space.sample, k_act)
        raw = jax.eval_shape(env.step_env, k_step, state0, action, params)
    except Exception as e:
        raise AssertionError(f"{name}: reset/step_env failed to trace: {type(e).__name__}: {e}") from e
    _check_obs_matches_space(obs_space, obs0, f"{name}: reset obs")
    _assert(isinstance(raw, tuple) and len(raw) == 6, f"{name}: step_env must return a jaxrl.Step, got {type(raw)}")
    raw = Step(*raw)
    _assert(
        _sig(raw.state) == _sig(state0),
        lambda: (
            f"{name}: the state from step_env differs from reset's in structure, shape or dtype:\n"
            f"  reset: {_sig(state0)}\n  step:  {_sig(raw.state)}"
        ),
    )
    try:
        out = jax.eval_shape(env.step, k_step, state0, action, params)
    except Exception as e:
        raise AssertionError(f"{name}: step failed to trace under jit: {type(e).__name__}: {e}") from e
    _assert(isinstance(out, tuple) and len(out) == 6, f"{name}: step must return a jaxrl.Step, got {type(out)}")
    out = Step(*out)
    _check_obs_matches_space(obs_space, out.obs, f"{name}: step obs")
    _check_scalar(out.reward, jnp.float32, f"{name}: reward")
    _check_scalar(out.terminated, jnp.bool_, f"{name}: terminated")
    _check_scalar(out.truncated, jnp.bool_, f"{name}: truncated")
    _assert(
        isinstance(out.info, dict) and FINAL_OBS in out.info, f"{name}: step info must be a dict with {FINAL_OBS!r}"
    )
    _assert(_sig(out.info[FINAL_OBS]) == _sig(out.obs), f"{name}: info[{FINAL_OBS!r}] must have the structure of obs")

    if isinstance(act_space, spaces.Dict):
        return
    bad_shape = jax.ShapeDtypeStruct((*act_space.shape, 2), act_space.dtype)
    floating = jnp.issubdtype(act_space.dtype, jnp.floating)
    bad_dtype = jax.ShapeDtypeStruct(act_space.shape, jnp.int32 if floating else jnp.float32)
    for bad, err, what in ((bad_shape, ValueError, "shape"), (bad_dtype, TypeError, "dtype")):
        try:
            jax.eval_shape(env.step, k_step, state0, bad, params)
        except err:
            continue
        except Exception as e:
            raise AssertionError(
                f"{name}: action with wrong {what} {bad} raised {type(e).__name__}, expected {err.__name__} "
                "(call jaxrl.env.check_action in step)"
            ) from e
        raise AssertionError(f"{name}: action with wrong {what} {bad} was accepted; expected {err.__name__}")


def _check_invalid_action(env: Environment, params: Any, name: str, run_fn, keys: jax.Array, at: int) -> None:
    """The rollout with ``checks.invalid_action`` at step ``at`` must raise ``InvalidActionError`` (checked mode)."""
    bad = checks.invalid_action(env.action_space(params))
    if bad is None:
        return
    try:
        with checks.translate():
            jax.block_until_ready(run_fn(keys, params, jnp.int32(at)))
    except checks.InvalidActionError as e:
        _assert(name in str(e), f"{name}: the invalid-action error does not name the environment: {e}")
        return
    except Exception as e:
        raise AssertionError(
            f"{name}: invalid action {bad} at step {at} raised {type(e).__name__}: {e}; expected "
            "jaxrl.checks.InvalidActionError (keep Environment.step, or call jaxrl.checks.guard_action)"
        ) from e
    raise AssertionError(
        f"{name}: invalid action {np.asarray(bad)} at step {at} was accepted in checked mode; step must apply "
        "jaxrl.checks.guard_action (inherit Environment.step instead of overriding it)"
    )


def _make_rollout(env: Environment, num_steps: int):
    """``rollout(key, params, invalid_at)``: random actions, ``checks.invalid_action`` at step ``invalid_at``."""

    def rollout(key, params, invalid_at):
        k_reset, k_steps = jax.random.split(key)
        obs, state = env.reset(k_reset, params)
        obs_space = env.observation_space(params)
        bad = checks.invalid_action(env.action_space(params))

        def body(state, xs):
            k, t = xs
            k_act, k_step = jax.random.split(k)
            action = env.action_space(params).sample(k_act)
            if bad is not None:
                action = jnp.where(t == invalid_at, bad, action)
            out = env.step(k_step, state, action, params)
            final = out.info[FINAL_OBS]
            rec = {
                "obs": out.obs,
                "final_obs": final,
                "reward": out.reward,
                "terminated": out.terminated,
                "truncated": out.truncated,
                "obs_ok": jnp.asarray(obs_space.contains(out.obs)),
                "final_ok": jnp.asarray(obs_space.contains(final)),
            }
            return out.state, rec

        _, traj = jax.lax.scan(body, state, (jax.random.split(k_steps, num_steps), jnp.arange(num_steps)))
        return {"reset_obs": obs, "reset_ok": jnp.asarray(obs_space.contains(obs)), **traj}

    return rollout


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _check_trajectory(r: dict, name: str) -> None:
    """Value checks on a rollout (leading axes ``[..., T]``) from ``_make_rollout``."""
    for k, what in (("reset_ok", "reset obs"), ("obs_ok", "step obs"), ("final_ok", f"info[{FINAL_OBS!r}]")):
        bad = ~np.asarray(r[k], bool)
        if bad.any():
            idx = _first(bad)
            src = r["reset_obs"] if k == "reset_ok" else r["obs" if k == "obs_ok" else "final_obs"]
            val = jax.tree.map(lambda x, i=idx: np.asarray(x)[i], src)
            raise AssertionError(f"{name}: {what} at index {idx} is outside observation_space: {val}")
    reward = np.asarray(r["reward"])
    _assert(np.isfinite(reward).all(), lambda: f"{name}: non-finite reward at index {_first(~np.isfinite(reward))}")
    done = np.asarray(r["terminated"]) | np.asarray(r["truncated"])
    same = np.ones(done.shape, bool)
    for o, f in zip(jax.tree.leaves(r["obs"]), jax.tree.leaves(r["final_obs"]), strict=True):
        o, f = np.asarray(o), np.asarray(f)
        same &= (o == f).reshape(done.shape + (-1,)).all(-1)
    if (~done & ~same).any():
        raise AssertionError(
            f"{name}: info[{FINAL_OBS!r}] != obs at index {_first(~done & ~same)} although the episode continued"
        )
    if done.any() and same[done].all():
        raise AssertionError(
            f"{name}: at every episode end ({int(done.sum())}) info[{FINAL_OBS!r}] equals the returned obs; "
            "step must return the reset observation and keep the terminal one in info"
        )


def _bump(x: Any, sign: int = 1) -> Any:
    """A different value of the same type, shape and dtype (``x`` itself if it has none)."""
    if isinstance(x, bool | np.bool_):
        return not x
    if isinstance(x, int | np.integer):
        return x + sign
    if isinstance(x, float | np.floating):
        return x * (1 + sign * 1e-2) + sign * 1e-3
    dtype = getattr(x, "dtype", None)
    try:
        if dtype is None or not (jnp.issubdtype(dtype, jnp.number) or dtype == jnp.bool_):
            return x  # PRNG keys, strings, ...
        if dtype == jnp.bool_:
            return ~x
        if jnp.issubdtype(dtype, jnp.integer):
            return x + sign
        return x * (1 + sign * 1e-2) + sign * 1e-3
    except Exception:
        return x


def _perturb(params: Any) -> tuple[Any, list[str]]:
    """``params`` with every numeric value changed, and the names of fields that are static.

    Dataclass params are changed field by field through ``replace`` (so a field
    declared ``pytree_node=False`` changes too and shows up as a re-trace); a
    change that the params' own validation rejects is tried in the other
    direction, then skipped. Other pytrees have their leaves changed.
    """
    if not dataclasses.is_dataclass(params) or not hasattr(params, "replace"):
        return jax.tree.map(_bump, params), []
    treedef = jax.tree.structure(params)
    static = []
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        for sign in (1, -1):
            new = jax.tree.map(lambda x, sign=sign: _bump(x, sign), value)
            try:
                candidate = params.replace(**{f.name: new})
            except Exception:  # the params' own validation rejects this value
                continue
            if jax.tree.structure(candidate) != treedef:
                static.append(f.name)
            params = candidate
            break
    return params, static


def check_agent(agent: Any, **kwargs: Any) -> dict[str, Any]:
    """Assert that ``agent`` keeps the :class:`jaxrl.Agent` contract (see :mod:`jaxrl.agent_check`)."""
    from jaxrl.agent_check import check_agent as _check_agent

    return _check_agent(agent, **kwargs)
