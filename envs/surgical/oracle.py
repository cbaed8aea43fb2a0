"""Scripted oracles of the SurRoL tasks (SurRoL's ``get_oracle_action``, reimplemented as jittable policies).

``oracle(env_id) -> Oracle`` with two pure functions::

    carry = oracle.init(state, params)                          # once per episode, after reset
    action, carry = oracle.act(carry, state, params)            # every step

``state`` is the environment state (the quantities SurRoL's oracles read from the observation, the
eef position and yaw, the goals and the centroid, are read from it, so the ``Flat`` ids work too);
``carry`` holds what SurRoL's oracle keeps between steps (its waypoint list: ``[K, 5]`` waypoints
``(x, y, z, yaw, jaw)`` and the index of the current one). All functions ``vmap``.

* NeedleReach: ``d = (goal - tip) / 0.01`` (sim units, no S), zero inside ``|d| < 1.5``, scaled to
  ``max |d| <= 1``, times 0.3.
* GauzeRetrieve / NeedlePick / PegTransfer: the waypoints SurRoL places at reset (approach above
  the grasp point, descend, close, lift, [PegTransfer: move above the goal peg, open]); each step
  moves towards the current one, ``d = (w - eef) / 0.01 / S`` scaled to ``max |d| <= 1`` times 0.6 /
  0.4 / 0.7, yaw ``clip(w_yaw - yaw, +-0.4)``, jaw ``w_jaw``, and drops it once within 1e-4 S
  (PegTransfer 2e-3 S) and 0.01 rad (2 deg). The grasp yaw is the waypoint's or its opposite,
  whichever is nearer the tool's.
* CameraReach: ``0.2 * d`` with ``d = R_rcm^T (goal - eef) / 0.01`` scaled to ``max |d| <= 1``.
* MisOrient: ``0.3 * clip(misorientation / 3 deg, -1, 1)``.
* StaticTrack / ActiveTrack: image-based visual servoing: pixel error ``e = 256 c``, interaction
  matrix ``L = [[-f, 0, u], [0, -f, v]]`` (``f = 128 / tan 30 deg``, depth 1), ``a = 0.5 pinv(L) e /
  0.01`` scaled to ``max |a| <= 1`` (StaticTrack then times 0.8); zero when ``|e| < 1`` (ActiveTrack
  8) and ``|wz| < 0.1``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs.surgical import kinematics as kin
from jaxrl.envs.surgical.surrol_ecm import ECMTask
from jaxrl.envs.surgical.surrol_psm import PSMTask


class Oracle(NamedTuple):
    """``init(state, params) -> carry``; ``act(carry, state, params) -> (action, carry)``."""

    init: Callable[[Any, Any], Any]
    act: Callable[[Any, Any, Any], tuple[jax.Array, Any]]


def _normalise(d: jax.Array) -> jax.Array:
    m = jnp.max(jnp.abs(d))
    return jnp.where(m > 1.0, d / jnp.maximum(m, 1e-12), d)


# --------------------------------------------------------------------------- PSM tasks
_WAYPOINT_RULES = {  # scale factor, position tolerance (sim units / S), yaw tolerance, final jaw
    "GauzeRetrieve": (0.6, 1e-4, np.inf, -0.5),
    "NeedlePick": (0.4, 1e-4, 1e-2, -0.5),
    "PegTransfer": (0.7, 2e-3, np.deg2rad(2.0), 0.0),
}


def _psm_waypoints(env: PSMTask, s: Any, p: Any) -> jax.Array:
    """SurRoL's ``_sample_goal_callback`` waypoints ``[K, 5]`` from the state at reset."""
    S = p.scale
    wp = env.waypoint(s, p)
    name = env.task_name
    if name == "GauzeRetrieve":
        yaw = jnp.float32(0.0)
    else:  # the grasp link's yaw or its opposite, whichever is nearer the tool's
        orn = kin.wrap_angle(s.obj_yaw + p.waypoint_yaw)
        near = jnp.abs(kin.wrap_angle(orn - s.yaw)) < jnp.abs(kin.wrap_angle(orn + jnp.pi - s.yaw))
        yaw = jnp.where(near, orn, kin.wrap_angle(orn + jnp.pi))
    row = lambda xy, z, jaw: jnp.stack([xy[0], xy[1], z, yaw, jnp.float32(jaw)])  # noqa: E731
    g = s.goal
    if name == "PegTransfer":
        above = wp[2] + 0.045 * S
        grasp = wp[2] + (0.003 + 0.0102) * S
        place = g[:2] + wp[:2] - s.obj_pos[:2]  # goal peg + the grasp point's offset from the start peg
        rows = [row(wp, above, 0.5), row(wp, grasp, 0.5), row(wp, grasp, -0.5), row(wp, above, -0.5)]
        rows += [row(place, above, -0.5), row(place, above, 0.5)]
    else:
        grasp = wp[2] + (-0.0007 + 0.0102) * S
        rows = [row(wp, grasp + 0.005 * S, 0.5), row(wp, grasp, 0.5), row(wp, grasp, -0.5)]
        if name == "GauzeRetrieve":
            rows.append(row(wp, grasp + 0.005 * S, -0.5))
        rows.append(row(g, g[2] + 0.0102 * S, -0.5))
    return jnp.stack(rows)


def _psm_waypoint_oracle(env: PSMTask) -> Oracle:
    scale, pos_tol, yaw_tol, idle_jaw = _WAYPOINT_RULES[env.task_name]

    def init(s, p):
        return (_psm_waypoints(env, s, p), jnp.int32(0))

    def act(carry, s, p):
        wps, i = carry
        k = wps.shape[0]
        w = wps[jnp.minimum(i, k - 1)]
        d = _normalise((w[:3] - s.eef) / 0.01 / p.scale) * scale
        dyaw = jnp.clip(w[3] - s.yaw, -0.4, 0.4)
        if env.task_name == "GauzeRetrieve":
            dyaw = jnp.float32(0.0)
        done = (jnp.linalg.norm(d) * 0.01 / scale < pos_tol) & (jnp.abs(dyaw) < yaw_tol)
        active = i < k
        action = jnp.where(active, jnp.concatenate([d, dyaw[None], w[4:5]]), jnp.array([0, 0, 0, 0, idle_jaw]))
        return action.astype(jnp.float32), (wps, jnp.where(active & done, i + 1, i))

    return Oracle(init, act)


def _needle_reach_oracle(env: PSMTask) -> Oracle:
    def act(carry, s, p):
        d = (s.goal - env.tip(s, p)) / 0.01
        d = jnp.where(jnp.linalg.norm(d) < 1.5, 0.0, d)
        d = _normalise(d) * 0.3
        return jnp.concatenate([d, jnp.zeros(2)]), carry

    return Oracle(lambda s, p: jnp.int32(0), act)


# --------------------------------------------------------------------------- ECM tasks
def _ecm_oracle(env: ECMTask) -> Oracle:
    name = env.task_name
    f = 128.0 / np.tan(np.deg2rad(30.0))

    def act(carry, s, p):
        if name == "CameraReach":
            d = _normalise(p.rcm_rot.T @ (s.target - env.eef_world(s.q, p)) / 0.01) * 0.2
            return d, carry
        if name == "MisOrient":
            return (jnp.clip(env.misorientation(s.q, p) / np.deg2rad(3.0), -1.0, 1.0) * 0.3)[None], carry
        c, _ = env.centroid(s, p)
        e = c * 256.0
        L = jnp.array([[-f, 0.0, 0.0], [0.0, -f, 0.0]]).at[0, 2].set(e[0]).at[1, 2].set(e[1])
        a = _normalise(0.5 * jnp.linalg.pinv(L) @ e / 0.01)
        if name == "StaticTrack":
            a = a * 0.8
        still = (jnp.linalg.norm(e) < (1.0 if name == "StaticTrack" else 8.0)) & (jnp.abs(s.wz) < 0.1)
        return jnp.where(still, 0.0, a), carry

    return Oracle(lambda s, p: jnp.int32(0), act)


def oracle(env_id: str) -> Oracle:
    """Scripted oracle of a SurRoL task id (``NeedleReach-v1``, ``PegTransferFlat-v1``, ``ActiveTrack-v1`` ...)."""
    base = env_id.split("-")[0].removesuffix("Flat")
    if base == "NeedleReach":
        return _needle_reach_oracle(PSMTask(base))
    if base in _WAYPOINT_RULES:
        return _psm_waypoint_oracle(PSMTask(base))
    if base in ("CameraReach", "MisOrient", "StaticTrack", "ActiveTrack"):
        return _ecm_oracle(ECMTask(base))
    raise ValueError(f"no scripted oracle for {env_id!r} (SurRoL tasks only)")


def rollout(env_id: str, key: jax.Array, n_episodes: int) -> dict[str, jax.Array]:
    """Run the oracle for ``n_episodes`` full episodes (vmapped, no auto-reset).

    Returns ``success`` ``[n]`` (SurRoL's demonstration rule: ``is_success`` at any step; ActiveTrack:
    the target never left the view), ``final_success`` ``[n]`` and ``return`` ``[n]``.
    """
    import jaxrl

    env, params = jaxrl.make(env_id)
    inner = env
    while not isinstance(inner, PSMTask | ECMTask):
        inner = inner.env
    orc = oracle(env_id)
    horizon = int(params.max_steps) if hasattr(params, "max_steps") else 50

    def episode(k):
        k0, k1 = jax.random.split(k)
        _, s = inner.reset_env(k0, params)
        carry = orc.init(s, params)

        def body(c, kk):
            s, carry, alive, hit, ret = c
            a, carry = orc.act(carry, s, params)
            out = inner.step_env(kk, s, a, params)
            ok = out.info["success"] if "success" in out.info else jnp.bool_(True)
            ret = ret + jnp.where(alive, out.reward, 0.0)
            alive = alive & ~out.terminated
            return (out.state, carry, alive, hit | (ok & alive), ret), ok & alive

        init = (s, carry, jnp.bool_(True), jnp.bool_(False), jnp.float32(0.0))
        (s, carry, alive, hit, ret), oks = jax.lax.scan(body, init, jax.random.split(k1, horizon))
        success = alive if inner.task_name == "ActiveTrack" else hit
        return {"success": success, "final_success": oks[-1], "return": ret}

    return jax.jit(jax.vmap(episode))(jax.random.split(key, n_episodes))
