"""Surgical Gym tasks: PSM / ECM / STAR joint-space reach and track (ids ``*-v1``).

JAX proxies of Surgical Gym's Isaac tasks on the original articulations: the PSM and ECM are the
joint trees of ``psm.usd`` / ``ecm.usd`` (:mod:`reference`, :mod:`joint_fk`: 11 and 6 DOF, every
joint independent, as in the USD files), mounted at the task files' root poses, with the tip,
goal centre, action mapping, reward and episode rule of ``tasks/psm.py`` / ``tasks/ecm.py``.
Only the PhysX drive dynamics are replaced, by a first-order lag.

Per step (``a`` clipped to ``[-1, 1]``; DOF order of the articulation)::

    goal moves (track mode):  m <- m + 1e-4 N(0, I);  offset <- clip(offset + m, +-0.2)
    normalised target:        tgt <- clip(tgt + target_rate * a, -1, 1)            [n_act]
    joint target:             q* = tgt * scale + offset  (+ zeros for the PSM jaws; PSM: clip to [-1, 1])
    joint lag:                q <- clip(q* + (q - q*) exp(-dt / tau), q_low, q_high); qdot = dq / dt
    reward:                   -|tip - g|_1 - w_qdot |qdot|_1 - w_q |q|_1

``target_rate`` is Surgical Gym's ``decimation * dt * actionScale`` (the target loop runs
``decimation`` times per step without physics in between): PSM ``4 * 0.0025 * 1 = 0.01``, ECM
``2 * 0.005 * 2 = 0.02``, STAR ``0.01``. Episodes are truncated, never terminated, after 399 steps
(the original resets when ``progress_buf >= 400 - 1``). ``info``: ``distance`` (L2 tip-goal, m) and
``success`` (``distance < 5 mm``; evaluation only, the original has none). Positions are env-local
(the original's observations carry each cloned env's grid offset; not copied).

Quirks of the original reproduced on purpose:

* PSM DOF 0 is ``psm_rev_joint`` (the base turning about the vertical), so the 9 targets drive
  rev, yaw, pitch back, pitch bottom, pitch end, insertion, roll, tool pitch, tool yaw, and the
  scale/offset ``0.254 / 2`` at index 4 (meant for the insertion) lands on ``psm_pitch_end_joint``:
  its target spans ``[0, 0.254]`` rad; the insertion (index 5) gets scale 1, offset 0, so its
  target spans ``[-1, 1]`` m and the joint limit ``[0, 0.24]`` m bounds it. The tool roll link
  is the tip body; the tool wrist and jaws do not move the tip. All 11 scaled PSM targets are
  clipped to ``[-1, 1]`` as in ``pre_physics_step``; the ECM's are not.
* The tip is ``p(tool link) + R(pitch end link) @ (0, 0.025, 0)`` (PSM; ECM ``(0, 0.375, 0)``): the
  offset is rotated by the pitch-end link, not by the link it is added to.
* Reset puts every joint at 0 (not at the scaled zero target), so the PSM's pitch end and the ECM's
  insertion first travel to ``0.127`` through the drives.

Simplified / inferred (the USD drive settings, PhysX solver and contacts are not reproduced):

* Drives: first-order lag, tau = damping / stiffness = 0.1 s (PSM, ECM) and 0.06 s (STAR);
  joint limits act as a hard clip of ``q``. The ``psm_rev_joint`` is driven like the others.
* STAR (``star.usd`` is not public): the task file's facts are kept (8 angular joints, targets
  ``2 * tgt``, default pose ``2 * (0, .3, 0, -.3, 0, .5, 0, 0)`` rad, root ``(1, 0, 0.5)`` turned 180
  deg about z, goal centre ``(0, 0, 0.8)``); the arm is *inferred* to be a KUKA iiwa 7 (published DH)
  whose 8th joint spins an endoscope about the flange axis with the tip ``0.1`` m out along it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl import spaces
from jaxrl.env import Environment, Step
from jaxrl.envs.surgical import joint_fk as jf
from jaxrl.envs.surgical import kinematics as kin
from jaxrl.envs.surgical import reference as ref


@struct.dataclass
class ArmParams:
    """Physical constants and task settings (all traced: vmap over them for domain randomisation)."""

    dt: jax.Array  # [] s, one physics step per env step
    tau: jax.Array  # [n_joints] s, joint lag time constants
    target_rate: jax.Array  # [] normalised target change per step at |a| = 1
    joint_scale: jax.Array  # [n_act]
    joint_offset: jax.Array  # [n_act]
    target_low: jax.Array  # [n_joints] clip of the scaled joint targets (PSM: -1; others: -inf)
    target_high: jax.Array  # [n_joints]
    q_low: jax.Array  # [n_joints] joint limits (rad / m)
    q_high: jax.Array  # [n_joints]
    default_target: jax.Array  # [n_act] normalised target at reset
    goal_center: jax.Array  # [3]
    goal_sigma: jax.Array  # [] per-axis std of the goal at reset
    track_noise: jax.Array  # [] std of the goal's momentum increments (track mode)
    track_clip: jax.Array  # [] bound of the goal offset (track mode)
    w_dist: jax.Array  # [] reward weight of |tip - goal|_1
    w_qdot: jax.Array  # [] reward weight of |qdot|_1
    w_q: jax.Array  # [] reward weight of |q|_1
    success_threshold: jax.Array  # [] m
    max_steps: jax.Array  # [] int32, truncation horizon (399)


@struct.dataclass
class ArmState:
    q: jax.Array  # [n_joints]
    qdot: jax.Array  # [n_joints]
    target: jax.Array  # [n_act] normalised joint targets
    goal_offset: jax.Array  # [3] goal = goal_center + goal_offset
    momentum: jax.Array  # [3] goal velocity (track mode)
    time: jax.Array  # [] int32


def _f32(x) -> jax.Array:
    return jnp.asarray(np.asarray(x, np.float32))


def _root(pos) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = jf.quat_to_rot(ref.ROOT_ROT_WXYZ), pos
    return T


# --------------------------------------------------------------------------- robots
PSM_TREE = jf.build_tree(ref.PSM_JOINTS)
ECM_TREE = jf.build_tree(ref.ECM_JOINTS)
PSM_ROOT = _root(ref.PSM_ROOT_POS)
ECM_ROOT = _root(ref.ECM_ROOT_POS)
STAR_ROOT = _root(ref.STAR_ROOT_POS)
STAR_TIP_OFFSET = 0.1  # m along the flange z (inferred)


def psm_tip(q: jax.Array) -> jax.Array:
    """PSM tip ``[..., 3]`` (env-local) for DOF values ``q [..., 11]``."""
    return jf.point_on_body(PSM_TREE, q, PSM_ROOT, *ref.PSM_TIP)


def ecm_tip(q: jax.Array) -> jax.Array:
    """ECM camera tip ``[..., 3]`` (env-local) for DOF values ``q [..., 6]``."""
    return jf.point_on_body(ECM_TREE, q, ECM_ROOT, *ref.ECM_TIP)


def star_tip(q: jax.Array) -> jax.Array:
    """STAR endoscope tip ``[..., 3]`` (inferred iiwa + endoscope, see the module docstring)."""
    flange, axis = kin.chain_point_axis(q[..., :7], kin.IIWA_DH, (False,) * 7, modified=False)
    local = flange + STAR_TIP_OFFSET * axis
    return local @ jnp.asarray(STAR_ROOT[:3, :3].T, jnp.float32) + jnp.asarray(STAR_ROOT[:3, 3], jnp.float32)


@dataclass(frozen=True)
class Robot:
    """Static description of one robot: joint counts, tip function, default constants."""

    name: str
    n_joints: int
    n_act: int
    tip: Callable[[jax.Array], jax.Array]
    obs_has_tip: bool
    defaults: dict


_INF = float("inf")
_PSM = Robot(
    "PSM",
    11,
    9,
    psm_tip,
    True,
    dict(
        dt=0.0025,
        tau=[0.1] * 11,
        target_rate=0.01,
        joint_scale=ref.PSM_SCALE,
        joint_offset=ref.PSM_OFFSET,
        target_low=[-1.0] * 11,
        target_high=[1.0] * 11,
        q_low=PSM_TREE.lower,
        q_high=PSM_TREE.upper,
        default_target=[0.0] * 9,
        goal_center=ref.PSM_GOAL_CENTER,
        goal_sigma=0.05,
        w_qdot=1e-4,
        w_q=0.01,
    ),
)
_ECM = Robot(
    "ECM",
    6,
    6,
    ecm_tip,
    True,
    dict(
        dt=0.005,
        tau=[0.1] * 6,
        target_rate=0.02,
        joint_scale=ref.ECM_SCALE,
        joint_offset=ref.ECM_OFFSET,
        target_low=[-_INF] * 6,
        target_high=[_INF] * 6,
        q_low=ECM_TREE.lower,
        q_high=ECM_TREE.upper,
        default_target=[0.0] * 6,
        goal_center=ref.ECM_GOAL_CENTER,
        goal_sigma=0.1,
        w_qdot=0.0,
        w_q=0.0,
    ),
)
_STAR = Robot(
    "STAR",
    8,
    8,
    star_tip,
    False,
    dict(
        dt=0.0025,
        tau=[0.06] * 8,
        target_rate=0.01,
        joint_scale=ref.STAR_SCALE,
        joint_offset=[0.0] * 8,
        target_low=[-_INF] * 8,
        target_high=[_INF] * 8,
        q_low=list(kin.IIWA_LIMITS[0]) + [-np.pi],
        q_high=list(kin.IIWA_LIMITS[1]) + [np.pi],
        default_target=ref.STAR_DEFAULT,
        goal_center=ref.STAR_GOAL_CENTER,
        goal_sigma=0.15,
        w_qdot=1e-3,
        w_q=0.0,
    ),
)
ROBOTS = {"PSM": _PSM, "ECM": _ECM, "STAR": _STAR}


# --------------------------------------------------------------------------- environment
class ArmTask(Environment):
    """``robot`` in PSM/ECM/STAR, ``mode`` in reach/track (track: the goal drifts by a random walk)."""

    def __init__(self, robot: str = "PSM", mode: str = "reach"):
        if robot not in ROBOTS:
            raise ValueError(f"robot must be one of {list(ROBOTS)}, got {robot!r}")
        if mode not in ("reach", "track"):
            raise ValueError(f"mode must be 'reach' or 'track', got {mode!r}")
        self.robot = ROBOTS[robot]
        self.mode = mode

    def __repr__(self) -> str:
        return f"ArmTask({self.robot.name!r}, {self.mode!r})"

    @property
    def name(self) -> str:
        return f"{self.robot.name}{self.mode.capitalize()}"

    @property
    def default_params(self) -> ArmParams:
        common = dict(track_noise=1e-4, track_clip=0.2, w_dist=1.0, success_threshold=0.005)
        values = {k: _f32(v) for k, v in {**common, **self.robot.defaults}.items()}
        return ArmParams(max_steps=jnp.int32(ref.EPISODE_STEPS), **values)

    # ------------------------------------------------------------------ helpers
    def joint_targets(self, target: jax.Array, p: ArmParams) -> jax.Array:
        """Scaled joint targets ``[n_joints]`` (unactuated PSM jaws: 0), clipped as the original."""
        scaled = target * p.joint_scale + p.joint_offset
        pad = self.robot.n_joints - self.robot.n_act
        if pad:
            scaled = jnp.concatenate([scaled, jnp.zeros((pad,), scaled.dtype)])
        return jnp.clip(scaled, p.target_low, p.target_high)

    def tip(self, state: ArmState, params: ArmParams) -> jax.Array:
        """Tool (PSM), camera (ECM) or endoscope (STAR) tip, env-local ``[3]``."""
        return self.robot.tip(state.q)

    def goal(self, state: ArmState, params: ArmParams) -> jax.Array:
        return params.goal_center + state.goal_offset

    def _obs(self, s: ArmState, tip: jax.Array, goal: jax.Array) -> jax.Array:
        parts = [s.q, s.qdot] + ([tip] if self.robot.obs_has_tip else []) + [s.target, tip - goal]
        return jnp.concatenate(parts)

    # ------------------------------------------------------------------ contract
    def reset_env(self, key: jax.Array, params: ArmParams) -> tuple[jax.Array, ArmState]:
        target = params.default_target
        if self.robot.name == "STAR":  # tasks/star.py: joints set to default_pos * scale
            q = self.joint_targets(target, params)
        else:  # tasks/psm.py, ecm.py: joint positions zero (targets 0 -> q* = offset)
            q = jnp.zeros((self.robot.n_joints,), jnp.float32)
        offset = params.goal_sigma * jax.random.normal(key, (3,))
        s = ArmState(q, jnp.zeros_like(q), target, offset, jnp.zeros(3), jnp.int32(0))
        return self._obs(s, self.tip(s, params), self.goal(s, params)), s

    def step_env(self, key: jax.Array, state: ArmState, action: jax.Array, params: ArmParams) -> Step:
        a = jnp.clip(action, -1.0, 1.0)
        offset, momentum = state.goal_offset, state.momentum
        if self.mode == "track":
            momentum = momentum + params.track_noise * jax.random.normal(key, (3,))
            offset = jnp.clip(offset + momentum, -params.track_clip, params.track_clip)
        target = jnp.clip(state.target + params.target_rate * a, -1.0, 1.0)
        q_star = self.joint_targets(target, params)
        decay = jnp.exp(-params.dt / params.tau)
        q = jnp.clip(q_star + (state.q - q_star) * decay, params.q_low, params.q_high)
        qdot = (q - state.q) / params.dt
        s = ArmState(q, qdot, target, offset, momentum, state.time + 1)
        tip, goal = self.tip(s, params), self.goal(s, params)
        err = tip - goal
        reward = (
            -params.w_dist * jnp.sum(jnp.abs(err))
            - params.w_qdot * jnp.sum(jnp.abs(qdot))
            - params.w_q * jnp.sum(jnp.abs(q))
        )
        dist = jnp.sqrt(jnp.sum(err * err))
        info = {"distance": dist, "success": dist < params.success_threshold}
        truncated = s.time >= params.max_steps
        return Step(self._obs(s, tip, goal), s, reward, jnp.bool_(False), truncated, info)

    def observation_space(self, params: ArmParams) -> spaces.Box:
        r = self.robot
        n = 2 * r.n_joints + r.n_act + 3 + (3 if r.obs_has_tip else 0)
        return spaces.Box(-jnp.inf, jnp.inf, (n,), jnp.float32)

    def action_space(self, params: ArmParams) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self.robot.n_act,), jnp.float32)

    def render(self, state: Any, params: Any) -> Any:
        """The scene as ``[240, 320, 3]`` uint8 (host-side; :func:`jaxrl.envs.surgical.render.render_frame`)."""
        from jaxrl.envs.surgical.render import render_frame

        return render_frame(self, state, params)
