"""SurRoL ECM (endoscope) tasks: CameraReach (SurRoL's ECMReach), MisOrient, StaticTrack, ActiveTrack.

The ECM is the dVRK 4-joint RCM arm (yaw, pitch, insertion, roll) with closed-form kinematics
(:mod:`kinematics`); the camera looks along the shaft (60 degree field of view) and targets are
projected with a pinhole model into normalised image coordinates (``+-1`` at the border).
SurRoL's ECM tasks are unscaled (``S = 1``) and run at 10 Hz.

Actions (``a`` clipped to ``[-1, 1]``):

* ``dmove`` (CameraReach): the camera tip moves by ``0.01 a`` in the RCM frame; joints follow by
  closed-form RCM inverse kinematics (the roll is kept).
* ``droll`` (MisOrient): roll changes by ``3 deg * a``.
* ``cVc`` (StaticTrack, ActiveTrack): a camera-frame velocity. As in SurRoL the joint step is
  ``0.05`` of the resolved velocity, i.e. the camera moves by ``0.05 * 0.01 a`` in its own frame
  (then RCM inverse kinematics), and the roll is servoed against the image rotation about the
  world vertical, ``dz`` (SurRoL's formula), with ``wz = 25 dz``: ``roll <- roll - 0.05 wz``.

Observations: robot state = camera pose in the RCM frame (position, Euler angles). CameraReach:
Dict(observation 6, achieved_goal = camera tip, desired_goal); MisOrient: Dict(observation 9 =
state + camera world Euler angles, achieved_goal = [misorientation], desired_goal = [0]);
StaticTrack: Dict(observation 10 = state, in-view flag, target centroid (2), wz; achieved_goal =
[cx, cy, wz], desired_goal = 0); ActiveTrack (not a goal env in SurRoL either): flat 10-vector,
dense reward ``1 - (|c| / 2 + 0.1 |wz|)``, terminated when the centroid leaves
``[-1.2, 1.1] x [-1.1, 1.1]``. Rewards of the goal tasks are sparse (``is_success - 1``).

Inferred design choices (SurRoL's mesh geometry and renderer are not reproduced):

* The RCM sits at ``rcm_pos`` and the zero-joint shaft is tilted ``tilt`` (30 deg, SurRoL's ECM
  base pitch) from straight down towards ``+x``. Camera tasks: RCM at (-0.45, 0, 1.0), looking
  at the table around x = 0.1; CameraReach: RCM 0.15 m back along the shaft from the workspace
  centre, so the workspace is reachable with the 0.254 m insertion.
* MisOrient's misorientation is the rotation between the images, in the current camera and in
  the reference camera at zero joints (SurRoL's "natural orientation"), of a world x-axis
  segment laid at the point where the optical axis meets the table plane ``z = 0``.
* Target centroid = projection of the target's centre (no segmentation mask); behind the
  camera it is reported as 10 (out of view). StaticTrack success uses the centroid only
  (SurRoL's wz check compares wz with itself).
* ActiveTrack's target follows a random Lissajous path ``c + A sin(w t + phi)`` (per-axis
  ``w`` in ``[0.005, 0.015]`` rad/step) in place of SurRoL's random trajectory generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl import spaces
from jaxrl.env import Environment, Step
from jaxrl.envs.surgical import kinematics as kin

_TOOL_R_CAM = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32)


@struct.dataclass
class ECMCamParams:
    rcm_pos: jax.Array  # [3] world position of the remote centre of motion
    tilt: jax.Array  # [] rad, zero-joint shaft tilt from -z towards +x
    dh: kin.DH
    q_low: jax.Array  # [4] joint limits (roll is wrapped, not limited)
    q_high: jax.Array  # [4]
    fov_deg: jax.Array  # []
    move_scale: jax.Array  # [] dmove: m per step at |a| = 1
    cam_step: jax.Array  # [] cVc: m per step at |a| = 1 (0.05 * 0.01)
    roll_scale: jax.Array  # [] droll: rad per step at |a| = 1
    k_wz: jax.Array  # [] wz = k_wz * dz
    roll_gain: jax.Array  # [] roll <- roll - roll_gain * wz
    init_q_low: jax.Array  # [4] initial joints ~ U(init_q_low, init_q_high)
    init_q_high: jax.Array  # [4]
    ws_low: jax.Array  # [3] goal (CameraReach) / target (tracking) region
    ws_high: jax.Array  # [3]
    traj_omega: jax.Array  # [2] min, max angular rate of the ActiveTrack path (rad / step)
    traj_amp: jax.Array  # [2] path amplitude per axis (m)
    view_low: jax.Array  # [2] ActiveTrack terminates outside [view_low, view_high]
    view_high: jax.Array  # [2]
    success_threshold: jax.Array  # []
    max_steps: jax.Array  # [] int32, truncation horizon (50)


@struct.dataclass
class ECMCamState:
    q: jax.Array  # [4] yaw, pitch, insertion, roll
    target: jax.Array  # [3] goal point (CameraReach) or tracked target (tracking tasks)
    phase: jax.Array  # [2] ActiveTrack path phase
    omega: jax.Array  # [2] ActiveTrack path rate
    cam_R0: jax.Array  # [3, 3] camera orientation at reset (reference of dz)
    wz: jax.Array  # []
    time: jax.Array  # [] int32


@dataclass(frozen=True)
class _Task:
    mode: str  # dmove / droll / cVc
    act_dim: int
    obs_dim: int
    goal_dim: int  # 0: flat observation (ActiveTrack)
    horizon: int


TASKS = {
    "CameraReach": _Task("dmove", 3, 6, 3, 50),
    "MisOrient": _Task("droll", 1, 9, 1, 50),
    "StaticTrack": _Task("cVc", 3, 10, 3, 50),
    "ActiveTrack": _Task("cVc", 3, 10, 0, 500),
}


def _f32(x) -> jax.Array:
    return jnp.asarray(np.asarray(x, np.float32))


class ECMTask(Environment):
    """One of :data:`TASKS` on the closed-form ECM with a pinhole camera."""

    def __init__(self, task: str = "CameraReach"):
        if task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got {task!r}")
        self.task_name = task
        self.task = TASKS[task]

    def __repr__(self) -> str:
        return f"ECMTask({self.task_name!r})"

    @property
    def name(self) -> str:
        return self.task_name

    @property
    def default_params(self) -> ECMCamParams:
        name, tilt = self.task_name, np.deg2rad(30.0)
        shaft0 = np.array([np.sin(tilt), 0.0, -np.cos(tilt)], np.float32)
        ws = {
            "CameraReach": ((0.45, 0.55), (-0.05, 0.05), (0.60, 0.70)),
            "MisOrient": ((-0.6, 0.4), (-0.8, 0.8), (0.02, 0.02)),
            "StaticTrack": ((-0.5, 0.5), (-0.4, 0.4), (0.05, 0.05)),
            "ActiveTrack": ((-0.3, 0.6), (-0.4, 0.4), (0.05, 0.05)),
        }[name]
        ws = np.asarray(ws, np.float32)
        if name == "CameraReach":
            rcm = ws.mean(1) - 0.15 * shaft0
        else:
            rcm = np.array([-0.45, 0.0, 1.0], np.float32)
        d = np.deg2rad
        init = {
            "CameraReach": ([0, 0, 0, 0], [0, 0, 0, 0]),  # replaced by inverse kinematics at reset
            "MisOrient": ([d(-45.0), d(-22.5), 0.0, d(-45.0)], [d(45.0), d(33.2), 0.24, d(45.0)]),
            "StaticTrack": ([0, 0, 0.04, 0], [0, 0, 0.04, 0]),
            "ActiveTrack": ([0, 0, 0.02, 0], [0, 0, 0.02, 0]),
        }[name]
        return ECMCamParams(
            rcm_pos=_f32(rcm),
            tilt=_f32(tilt),
            dh=kin.ECM_DH,
            q_low=_f32([d(-90.0), d(-45.0), 0.0, -np.inf]),
            q_high=_f32([d(90.0), d(66.4), 0.254, np.inf]),
            fov_deg=_f32(kin.ECM_FOV_DEG),
            move_scale=_f32(0.01),
            cam_step=_f32(0.05 * 0.01),
            roll_scale=_f32(d(3.0)),
            k_wz=_f32(25.0),
            roll_gain=_f32(0.05),
            init_q_low=_f32(init[0]),
            init_q_high=_f32(init[1]),
            ws_low=_f32(ws[:, 0]),
            ws_high=_f32(ws[:, 1]),
            traj_omega=_f32([0.005, 0.015]),
            traj_amp=_f32(0.4 * (ws[:2, 1] - ws[:2, 0])),
            view_low=_f32([-1.2, -1.1]),
            view_high=_f32([1.1, 1.1]),
            success_threshold=_f32(0.005 if name == "CameraReach" else 0.01),
            max_steps=jnp.int32(self.task.horizon),
        )

    # ------------------------------------------------------------------ kinematics
    def _mount(self, p: ECMCamParams) -> jax.Array:
        return kin.rot_y(-p.tilt)

    def camera_rcm(self, q: jax.Array, p: ECMCamParams) -> tuple[jax.Array, jax.Array]:
        """Camera ``(R [3, 3], position [3])`` in the RCM frame."""
        R4, p4 = kin.chain_end(q, p.dh, kin.ECM_PRISMATIC)
        return R4 @ _TOOL_R_CAM, p4

    def camera_world(self, q: jax.Array, p: ECMCamParams) -> jax.Array:
        """``world_T_cam [4, 4]``."""
        R, pos = self.camera_rcm(q, p)
        M = self._mount(p)
        return kin.make_pose(M @ R, p.rcm_pos + M @ pos)

    def _ik(self, q: jax.Array, point_rcm: jax.Array, p: ECMCamParams) -> jax.Array:
        """Joints putting the camera at ``point_rcm`` (roll kept), clipped to the limits."""
        yaw, pitch, depth = kin.rcm_ik(point_rcm)
        ins = depth - p.dh.d[2] - p.dh.d[3]
        new = jnp.stack([yaw, pitch, ins, q[3]])
        return jnp.clip(new, p.q_low, p.q_high)

    def _dz(self, R0: jax.Array, R: jax.Array) -> jax.Array:
        """Image rotation about the world vertical between camera orientations (SurRoL's formula)."""
        x = R0[0, 0] * R[1, 0] - R0[1, 0] * R[0, 0] + R0[0, 1] * R[1, 1] - R0[1, 1] * R[0, 1]
        y = R0[0, 0] * R[1, 1] - R0[1, 0] * R[0, 1] - R0[0, 1] * R[1, 0] + R0[1, 1] * R[0, 0]
        return jnp.arctan(x / jnp.where(y == 0, 1e-9, y))

    def misorientation(self, q: jax.Array, p: ECMCamParams) -> jax.Array:
        """Signed image rotation (rad) of a world x-axis segment vs. the zero-joint camera."""
        cur, ref = self.camera_world(q, p), self.camera_world(jnp.zeros(4), p)
        axis, pos = cur[:3, 2], cur[:3, 3]
        t = -pos[2] / jnp.where(jnp.abs(axis[2]) < 1e-6, -1e-6, axis[2])
        p0 = pos + t * axis
        pts = jnp.stack([p0, p0 + jnp.array([0.1, 0.0, 0.0])])
        uv_c, _ = kin.project(pts, cur, p.fov_deg)
        uv_r, _ = kin.project(pts, ref, p.fov_deg)
        dc, dr = uv_c[1] - uv_c[0], uv_r[1] - uv_r[0]
        return kin.wrap_angle(jnp.arctan2(dc[1], dc[0]) - jnp.arctan2(dr[1], dr[0]))

    def centroid(self, s: ECMCamState, p: ECMCamParams) -> tuple[jax.Array, jax.Array]:
        """Normalised image position of the target ``[2]`` and the in-view flag."""
        uv, depth = kin.project(s.target, self.camera_world(s.q, p), p.fov_deg)
        front = depth > 1e-6
        c = jnp.where(front, jnp.clip(uv, -10.0, 10.0), 10.0)
        return c, front & jnp.all(jnp.abs(c) <= 1.0)

    def _robot_state(self, q: jax.Array, p: ECMCamParams) -> jax.Array:
        R, pos = self.camera_rcm(q, p)
        return jnp.concatenate([pos, kin.rot_to_euler(R)])

    def _target_at(self, s: ECMCamState, p: ECMCamParams, t: jax.Array) -> jax.Array:
        centre = (p.ws_low + p.ws_high) / 2
        xy = centre[:2] + p.traj_amp * jnp.sin(s.omega * t + s.phase)
        return jnp.concatenate([xy, centre[2:]])

    # ------------------------------------------------------------------ observations
    def _obs(self, s: ECMCamState, p: ECMCamParams):
        state = self._robot_state(s.q, p)
        name = self.task_name
        if name == "CameraReach":
            return {"achieved_goal": self.camera_world(s.q, p)[:3, 3], "desired_goal": s.target, "observation": state}
        if name == "MisOrient":
            euler = kin.rot_to_euler(self.camera_world(s.q, p)[:3, :3])
            mis = self.misorientation(s.q, p)[None]
            return {"achieved_goal": mis, "desired_goal": jnp.zeros(1), "observation": jnp.concatenate([state, euler])}
        c, in_view = self.centroid(s, p)
        flat = jnp.concatenate([state, in_view.astype(jnp.float32)[None], c, s.wz[None]])
        if name == "ActiveTrack":
            return flat
        achieved = jnp.concatenate([c, s.wz[None]])
        return {"achieved_goal": achieved, "desired_goal": jnp.zeros(3), "observation": flat}

    def is_success(self, achieved: jax.Array, desired: jax.Array, p: ECMCamParams) -> jax.Array:
        """``[...]`` bool for goal batches (tracking: centroid only)."""
        d = (achieved - desired)[..., :2] if self.task_name == "StaticTrack" else achieved - desired
        return jnp.sqrt(jnp.sum(d * d, -1)) < p.success_threshold

    def compute_reward(self, achieved: jax.Array, desired: jax.Array, p: ECMCamParams) -> jax.Array:
        """Sparse reward ``is_success - 1`` (goal tasks; for HER)."""
        return self.is_success(achieved, desired, p).astype(jnp.float32) - 1.0

    # ------------------------------------------------------------------ contract
    def reset_env(self, key: jax.Array, p: ECMCamParams):
        k_q, k_t, k_w, k_ph = jax.random.split(key, 4)
        q = jax.random.uniform(k_q, (4,), minval=p.init_q_low, maxval=p.init_q_high)
        target = jax.random.uniform(k_t, (3,), minval=p.ws_low, maxval=p.ws_high)
        if self.task_name == "CameraReach":  # start at the top centre of the workspace
            top = jnp.concatenate([(p.ws_low[:2] + p.ws_high[:2]) / 2, p.ws_high[2:]])
            q = self._ik(jnp.zeros(4), self._mount(p).T @ (top - p.rcm_pos), p)
        omega = jax.random.uniform(k_w, (2,), minval=p.traj_omega[0], maxval=p.traj_omega[1])
        phase = jax.random.uniform(k_ph, (2,), maxval=2 * jnp.pi)
        R0 = self.camera_world(q, p)[:3, :3]
        s = ECMCamState(q, target, phase, omega, R0, jnp.float32(0.0), jnp.int32(0))
        if self.task_name == "ActiveTrack":
            s = s.replace(target=self._target_at(s, p, jnp.float32(0.0)))
        return self._obs(s, p), s

    def step_env(self, key: jax.Array, s: ECMCamState, action: jax.Array, p: ECMCamParams) -> Step:
        a = jnp.clip(action, -1.0, 1.0)
        q, wz = s.q, s.wz
        if self.task.mode == "dmove":
            _, pos = self.camera_rcm(q, p)
            q = self._ik(q, pos + p.move_scale * a, p)
        elif self.task.mode == "droll":
            q = q.at[3].set(kin.wrap_angle(q[3] + p.roll_scale * a[0]))
        else:  # cVc
            wz = p.k_wz * self._dz(s.cam_R0, self.camera_world(q, p)[:3, :3])
            R, pos = self.camera_rcm(q, p)
            q = self._ik(q, pos + R @ (p.cam_step * a), p)
            q = q.at[3].set(kin.wrap_angle(q[3] - p.roll_gain * wz))
        s = s.replace(q=q, wz=wz, time=s.time + 1)
        if self.task_name == "ActiveTrack":
            s = s.replace(target=self._target_at(s, p, s.time.astype(jnp.float32)))
        obs = self._obs(s, p)
        truncated = s.time >= p.max_steps
        if self.task_name == "ActiveTrack":
            c = obs[7:9]
            in_bounds = jnp.all((c > p.view_low) & (c < p.view_high))
            reward = 1.0 - (jnp.sqrt(jnp.sum(c * c)) / 2 + 0.1 * jnp.abs(s.wz))
            info = {"centroid": c, "achieved_goal": c}
            return Step(obs, s, reward, ~in_bounds, truncated, info)
        success = self.is_success(obs["achieved_goal"], obs["desired_goal"], p)
        err = obs["achieved_goal"] - obs["desired_goal"]
        err = err[:2] if self.task_name == "StaticTrack" else err
        info = {"success": success, "distance": jnp.sqrt(jnp.sum(err * err))}
        return Step(obs, s, success.astype(jnp.float32) - 1.0, jnp.bool_(False), truncated, info)

    def observation_space(self, p: ECMCamParams) -> spaces.Space:
        box = lambda k: spaces.Box(-jnp.inf, jnp.inf, (k,), jnp.float32)  # noqa: E731
        t = self.task
        if t.goal_dim == 0:
            return box(t.obs_dim)
        return spaces.Dict(
            {"achieved_goal": box(t.goal_dim), "desired_goal": box(t.goal_dim), "observation": box(t.obs_dim)}
        )

    def action_space(self, p: ECMCamParams) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self.task.act_dim,), jnp.float32)
