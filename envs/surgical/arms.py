"""Surgical Gym tasks: PSM / ECM / STAR joint-space reach and track.

JAX proxies of the Isaac Gym tasks of Surgical Gym: same observations, actions, rewards, goal
distributions and 400-step episodes; the articulated physics is replaced by closed-form forward
kinematics and a first-order joint lag (the original drives are stiff, heavily damped position
servos).

Per step (``a`` clipped to ``[-1, 1]``)::

    goal moves (track mode):  m <- m + track_noise N(0, I);  offset <- clip(offset + m, +-track_clip)
    normalised target:        tgt <- clip(tgt + target_rate * a, -1, 1)
    joint target:             q* = clip(tgt * joint_scale + joint_offset, target_low, target_high)
    joint lag:                q <- q* + (q - q*) exp(-dt / tau);   qdot = (q_new - q_old) / dt
    reward:                   -w_dist |tip - g|_1 - w_qdot |qdot|_1 - w_q |q|_1

Episodes are truncated (never terminated) after ``max_steps``. ``info`` carries ``distance``
(L2 tip-goal, metres) and ``success`` (``distance < success_threshold``, 5 mm), which the
original lacks and is for evaluation only.

Inferred design choices (the original articulation lives in binary USD files):

* PSM joints (11): yaw, pitch_back, pitch_bottom, pitch_end, insertion, tool roll, tool pitch,
  tool yaw, one more actuated link, two jaws. The three pitch-chain joints are parallel axes, so
  the shaft pitch is their sum; the shaft is constrained through the RCM. The tip is
  ``tip_offset`` (0.025 m) beyond the roll link along the shaft, as Surgical Gym computes it, so
  the wrist joints and joint 8 do not move the tip (they still have dynamics and are penalised).
* ECM joints (6): yaw, pitch, two parallelogram links (summed into the pitch), insertion, roll;
  camera tip ``0.375`` m beyond the DH tool frame along the shaft.
* STAR: iiwa arm (published DH) and a prismatic endoscope (``q7`` metres) on the flange:
  tip = flange + ``(tip_offset + q7)`` along the flange ``z`` (``tip_offset`` 0.1 m), ``q7 = tgt * 0.05 + 0.05``.
* Mounting: the RCM (PSM/ECM) or base (STAR) sits at ``base_pos`` with the zero-joint shaft
  pointing down; the RCM is placed above the goal centre so the goal distribution is centred in
  the reachable shell (PSM: 0.15 m above, ECM: 0.5 m above). The STAR base is 0.5 m behind and
  0.3 m below the goal centre, the offset of the original scene.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl import spaces
from jaxrl.env import Environment, Step
from jaxrl.envs.surgical import kinematics as kin


@struct.dataclass
class ArmParams:
    """Physical constants and task settings (all traced: vmap over them for domain randomisation)."""

    dt: jax.Array  # [] s, one physics step per env step
    tau: jax.Array  # [n_joints] s, joint lag time constants
    target_rate: jax.Array  # [] normalised target change per step at |a| = 1
    joint_scale: jax.Array  # [n_act]
    joint_offset: jax.Array  # [n_act]
    target_low: jax.Array  # [n_act] joint limits applied to the scaled targets
    target_high: jax.Array  # [n_act]
    default_target: jax.Array  # [n_act] normalised target (and joint pose) at reset
    base_pos: jax.Array  # [3] RCM (PSM, ECM) or base (STAR) position, env-local
    dh: kin.DH  # link lengths and offsets
    tip_offset: jax.Array  # [] m, tip beyond the last kinematic frame along the tool
    goal_center: jax.Array  # [3]
    goal_sigma: jax.Array  # [] per-axis std of the goal at reset
    track_noise: jax.Array  # [] std of the goal's momentum increments (track mode)
    track_clip: jax.Array  # [] bound of the goal offset (track mode)
    w_dist: jax.Array  # [] reward weight of |tip - goal|_1
    w_qdot: jax.Array  # [] reward weight of |qdot|_1
    w_q: jax.Array  # [] reward weight of |q|_1
    success_threshold: jax.Array  # [] m
    max_steps: jax.Array  # [] int32, truncation horizon (400)


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


# --------------------------------------------------------------------------- robots
def _rcm_tip(q: jax.Array, p: ArmParams) -> jax.Array:
    """PSM/ECM: yaw q0, shaft pitch q1+q2+q3, insertion q4 (closed form of the DH chain)."""
    depth = q[4] + p.dh.d[2] + p.dh.d[3] + p.tip_offset
    return p.base_pos + kin.rcm_point(q[0], q[1] + q[2] + q[3], depth)


def _star_tip(q: jax.Array, p: ArmParams) -> jax.Array:
    flange, axis = kin.chain_point_axis(q[:7], p.dh, (False,) * 7, modified=False)
    return p.base_pos + flange + (p.tip_offset + q[7]) * axis


@dataclass(frozen=True)
class Robot:
    """Static description of one robot: joint counts, tip function, default constants."""

    name: str
    n_joints: int
    n_act: int
    tip: Callable[[jax.Array, ArmParams], jax.Array]
    obs_has_tip: bool
    defaults: dict


_PSM = Robot(
    "PSM",
    11,
    9,
    _rcm_tip,
    True,
    dict(
        dt=0.0025,
        tau=[0.1] * 11,
        target_rate=0.01,
        joint_scale=[1.0] * 4 + [0.127] + [1.0] * 4,
        joint_offset=[0.0] * 4 + [0.127] + [0.0] * 4,
        target_low=[-1.0] * 9,
        target_high=[1.0] * 9,
        default_target=[0.0] * 9,
        base_pos=[1.0, -0.5, 0.75],
        dh=kin.PSM_DH,
        tip_offset=0.025,
        goal_center=[1.0, -0.5, 0.6],
        goal_sigma=0.05,
        w_qdot=1e-4,
        w_q=0.01,
    ),
)
_ECM = Robot(
    "ECM",
    6,
    6,
    _rcm_tip,
    True,
    dict(
        dt=0.005,
        tau=[0.1] * 6,
        target_rate=0.02,
        joint_scale=[1.0] * 4 + [0.127, 1.0],
        joint_offset=[0.0] * 4 + [0.127, 0.0],
        target_low=[-1.0] * 4 + [0.0, -1.0],
        target_high=[1.0] * 4 + [0.254, 1.0],
        default_target=[0.0] * 6,
        base_pos=[0.2, 0.0, 1.5],
        dh=kin.ECM_DH,
        tip_offset=0.375,
        goal_center=[0.2, 0.0, 1.0],
        goal_sigma=0.1,
        w_qdot=0.0,
        w_q=0.0,
    ),
)
_STAR = Robot(
    "STAR",
    8,
    8,
    _star_tip,
    False,
    dict(
        dt=0.0025,
        tau=[0.06] * 8,
        target_rate=0.01,
        joint_scale=[2.0] * 7 + [0.05],
        joint_offset=[0.0] * 7 + [0.05],
        target_low=list(kin.IIWA_LIMITS[0]) + [0.0],
        target_high=list(kin.IIWA_LIMITS[1]) + [0.1],
        default_target=[0.0, 0.5, 0.0, -0.5, 0.0, 0.5, 0.0, 0.0],
        base_pos=[-0.5, 0.0, 0.5],
        dh=kin.IIWA_DH,
        tip_offset=0.1,
        goal_center=[0.0, 0.0, 0.8],
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
        d = dict(self.robot.defaults)
        dh = d.pop("dh")
        common = dict(track_noise=1e-4, track_clip=0.2, w_dist=1.0, success_threshold=0.005)
        return ArmParams(dh=dh, max_steps=jnp.int32(400), **{k: _f32(v) for k, v in {**common, **d}.items()})

    # ------------------------------------------------------------------ helpers
    def _joint_targets(self, target: jax.Array, p: ArmParams) -> jax.Array:
        """Scaled, limited joint targets padded with zeros for unactuated joints -> ``[n_joints]``."""
        scaled = jnp.clip(target * p.joint_scale + p.joint_offset, p.target_low, p.target_high)
        pad = self.robot.n_joints - self.robot.n_act
        return jnp.concatenate([scaled, jnp.zeros((pad,), scaled.dtype)]) if pad else scaled

    def tip(self, state: ArmState, params: ArmParams) -> jax.Array:
        """Tool (PSM), camera (ECM) or endoscope (STAR) tip, env-local ``[3]``."""
        return self.robot.tip(state.q, params)

    def goal(self, state: ArmState, params: ArmParams) -> jax.Array:
        return params.goal_center + state.goal_offset

    def _obs(self, s: ArmState, tip: jax.Array, goal: jax.Array) -> jax.Array:
        parts = [s.q, s.qdot] + ([tip] if self.robot.obs_has_tip else []) + [s.target, tip - goal]
        return jnp.concatenate(parts)

    # ------------------------------------------------------------------ contract
    def reset_env(self, key: jax.Array, params: ArmParams) -> tuple[jax.Array, ArmState]:
        target = params.default_target
        if self.robot.name == "STAR":  # STAR starts at its default pose; PSM/ECM at zero joints
            q = self._joint_targets(target, params)
        else:
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
        q_star = self._joint_targets(target, params)
        decay = jnp.exp(-params.dt / params.tau)
        q = q_star + (state.q - q_star) * decay
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
