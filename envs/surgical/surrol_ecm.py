"""SurRoL ECM (endoscope) tasks: CameraReach (SurRoL's ECMReach), MisOrient, StaticTrack, ActiveTrack (``-v1``).

The ECM is the dVRK 4-joint RCM arm (yaw, pitch, insertion, roll; modified DH, equal to the
``ecm.urdf`` link frames, see the parity tests) mounted as SurRoL mounts it: base at
``(-0.05, 0, 1.0024)`` pitched 30 deg, so the remote centre is at ``(0.531, 0, 0.784)`` with the
zero-joint shaft along ``(-0.5, 0, -0.866)`` and the RCM frame's ``x`` along world ``-y``
(:mod:`reference`). SurRoL's ECM tasks are unscaled (``S = 1``) and run at 10 Hz.

Frames (SurRoL's): ``eef`` = the DH tool frame (URDF ``ecm_end_link``); the observed pose is
``rcm_T_eef @ tool_T_tip`` (``get_current_position``); the camera is PyBullet's view from the
eef looking along its ``z`` with ``up`` = eef ``x`` (``render_image``): image ``u`` (right) along eef
``y``, ``v`` (down) along eef ``-x``; centroids are normalised device coordinates ``(x, -y)``
(``get_centroid_proj``, 60 degree field of view, square image).

Actions (``a`` clipped to ``[-1, 1]``):

* ``dmove`` (CameraReach): the eef moves by ``0.01 a`` in the RCM frame; joints follow by exact
  RCM inverse kinematics, roll kept (SurRoL: PyBullet's iterative IK; *simplified*).
* ``droll`` (MisOrient): roll changes by ``3 deg * a``.
* ``cVc`` (StaticTrack, ActiveTrack): SurRoL's ``cVc_to_dq``, reimplemented: camera velocity
  ``cVc = 0.01 a``, the roll servo ``wz = 25 dz`` (``dz``: image rotation about the world vertical
  since the zero-joint camera), ``eVe = pinv(Jd) cVc + (I - pinv(Jd) Jd) pinv(Je) (0, 0, wz)`` with
  SurRoL's ``Jd``/``Je`` (camera link 0.02 m out, turned -90 deg), ``bVe = -blockdiag(bRe, bRe)
  (0, 0, eVe)``, ``dq = pinv(J0) bVe`` (``J0``: base-frame geometric Jacobian), ``q <- q + 0.05 dq``,
  refused as a whole when it leaves the joint limits (``move_joint``). SurRoL damps ``wz`` by
  ``exp(-0.1 |homo_delta|)``, where ``homo_delta`` is only ever set by its scripted oracle: a
  learning agent sees ``wz = 25 dz``, as here.

Every mode commands joint targets; the arm then completes ``tracking = 1 - 0.9^24 = 0.92`` of the
commanded joint step within the 0.1 s step (*inferred*: PyBullet's default position gain 0.1
over the 24 solver steps SurRoL runs per ECM step; SurRoL's next command starts from the joints
reached, so the remainder is dropped). With exact tracking SurRoL's own visual-servoing oracle
overshoots the 0.01 StaticTrack band (49% success instead of 100%).

Observations: robot state = pose in the RCM frame (position, Euler angles). CameraReach:
Dict(observation 6, achieved_goal = eef position (world), desired_goal); MisOrient: Dict(observation
9 = state + camera world Euler angles, achieved_goal = [misorientation], desired_goal = [0]);
StaticTrack: Dict(observation 10 = state, in-view flag, target centroid (2), wz; achieved_goal =
[cx, cy, wz], desired_goal = 0); ActiveTrack (not a goal env in SurRoL either): flat 10-vector,
dense reward ``1 - (|c| / 2 + 0.1 |wz|)``, terminated when the centroid leaves
``[-1.2, 1.1] x [-1.1, 1.1]``. Rewards of the goal tasks are sparse (``is_success - 1``).
ActiveTrack's cube follows SurRoL's random closed B-spline (:mod:`trajectory`: 10 of 2000 samples
per step, one loop per 200 steps) from a uniformly random sample (*inferred*: SurRoL carries the
index over from the previous episode).

Simplified (no renderer, no other cubes): the target centroid is the projection of the cube's
centre (SurRoL: centroid of its segmentation mask; projection only when out of view); MisOrient's
misorientation is the image rotation of a world x-axis segment laid where the optical axis meets
``z = 0``, between the current camera and the zero-joint camera (SurRoL: an affine fit between a
60 and a 120 degree camera); StaticTrack's cube is uniform in the workspace (SurRoL: rejection
sampled 0.15 m from 18 distractor cubes); StaticTrack's success uses the centroid only (SurRoL's
wz check compares wz with itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl import spaces
from jaxrl.env import Environment, Step
from jaxrl.envs.surgical import kinematics as kin
from jaxrl.envs.surgical import reference as ref
from jaxrl.envs.surgical import trajectory as traj

_TOOL_R_TIP = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32)  # SurRoL tool_T_tip
_EEF_R_VIEW = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32)  # view: (y, -x, z)
_EEF_R_CAM = np.asarray(ref.ECM_EEF_R_TIP, np.float32)  # camera link (ecm_tip_link)


@struct.dataclass
class ECMCamParams:
    rcm_pos: jax.Array  # [3] world position of the remote centre of motion
    rcm_rot: jax.Array  # [3, 3] world_R_rcm
    dh: kin.DH
    q_low: jax.Array  # [4] joint limits (SurRoL's TOOL_JOINT_LIMIT)
    q_high: jax.Array  # [4]
    fov_deg: jax.Array  # []
    move_scale: jax.Array  # [] dmove: m per step at |a| = 1
    cam_scale: jax.Array  # [] cVc: camera velocity at |a| = 1 (0.01)
    dq_gain: jax.Array  # [] cVc: fraction of the resolved joint velocity applied (0.05)
    tip_offset: jax.Array  # [] camera link offset d in Jd (0.02 m)
    roll_scale: jax.Array  # [] droll: rad per step at |a| = 1
    tracking: jax.Array  # [] fraction of each commanded joint step the arm completes within the step
    k_wz: jax.Array  # [] wz = k_wz * dz
    init_q_low: jax.Array  # [4] initial joints ~ U(init_q_low, init_q_high)
    init_q_high: jax.Array  # [4]
    ws_low: jax.Array  # [3] goal (CameraReach) / target (tracking) region
    ws_high: jax.Array  # [3]
    view_low: jax.Array  # [2] ActiveTrack terminates outside [view_low, view_high]
    view_high: jax.Array  # [2]
    success_threshold: jax.Array  # []
    max_steps: jax.Array  # [] int32, truncation horizon (50; ActiveTrack 500)


@struct.dataclass
class ECMCamState:
    q: jax.Array  # [4] yaw, pitch, insertion, roll
    target: jax.Array  # [3] goal point (CameraReach) or tracked target (tracking tasks)
    path: jax.Array  # [13, 2] ActiveTrack control points (zeros otherwise)
    knots: jax.Array  # [13] spline knots
    curv: jax.Array  # [13, 2] spline second derivatives
    index: jax.Array  # [] int32, spline sample of the target
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


def _pinv_rows(A: jax.Array) -> jax.Array:
    """Moore-Penrose inverse of a full-row-rank ``A [m, n]`` (``m <= n``): ``A^T (A A^T)^-1``."""
    return A.T @ jnp.linalg.inv(A @ A.T)


class ECMTask(Environment):
    """One of :data:`TASKS` on the SurRoL-mounted ECM with a pinhole camera."""

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
        name, d = self.task_name, np.deg2rad
        ws = {
            "CameraReach": ((0.45, 0.55), (-0.05, 0.05), (0.60, 0.70)),
            "MisOrient": ((-0.6, 0.4), (-0.8, 0.8), (0.02, 0.02)),
            "StaticTrack": ((-0.5, 0.5), (-0.4, 0.4), (0.05, 0.05)),
            "ActiveTrack": ((-0.3, 0.6), (-0.4, 0.4), (0.05, 0.05)),
        }[name]
        ws = np.asarray(ws, np.float32)
        init = {
            "CameraReach": ([0, 0, 0, 0], [0, 0, 0, 0]),  # replaced by inverse kinematics at reset
            "MisOrient": ([d(-45.0), d(-22.5), 0.0, d(-45.0)], [d(45.0), d(33.2), 0.24, d(45.0)]),
            "StaticTrack": ([0, 0, 0.04, 0], [0, 0, 0.04, 0]),
            "ActiveTrack": ([0, 0, 0.02, 0], [0, 0, 0.02, 0]),
        }[name]
        return ECMCamParams(
            rcm_pos=_f32(ref.ECM_RCM_POS),
            rcm_rot=_f32(ref.ECM_RCM_ROT),
            dh=kin.ECM_DH,
            q_low=_f32([d(-90.0), d(-45.0), -0.01, -np.inf]),
            q_high=_f32([d(90.0), d(66.4), 0.254, np.inf]),
            fov_deg=_f32(kin.ECM_FOV_DEG),
            move_scale=_f32(0.01),
            cam_scale=_f32(0.01),
            dq_gain=_f32(0.05),
            tip_offset=_f32(ref.ECM_TIP_OFFSET),
            roll_scale=_f32(d(3.0)),
            tracking=_f32(1.0 - 0.9**24),
            k_wz=_f32(25.0),
            init_q_low=_f32(init[0]),
            init_q_high=_f32(init[1]),
            ws_low=_f32(ws[:, 0]),
            ws_high=_f32(ws[:, 1]),
            view_low=_f32([-1.2, -1.1]),
            view_high=_f32([1.1, 1.1]),
            success_threshold=_f32(0.005 if name == "CameraReach" else 0.01),
            max_steps=jnp.int32(self.task.horizon),
        )

    # ------------------------------------------------------------------ kinematics
    def eef_rcm(self, q: jax.Array, p: ECMCamParams) -> tuple[jax.Array, jax.Array]:
        """DH tool frame (URDF ``ecm_end_link``) ``(R [3, 3], position [3])`` in the RCM frame."""
        return kin.chain_end(q, p.dh, kin.ECM_PRISMATIC)

    def camera_rcm(self, q: jax.Array, p: ECMCamParams) -> tuple[jax.Array, jax.Array]:
        """Observed pose ``rcm_T_eef @ tool_T_tip`` ``(R [3, 3], position [3])``."""
        R, pos = self.eef_rcm(q, p)
        return R @ _TOOL_R_TIP, pos

    def camera_world(self, q: jax.Array, p: ECMCamParams) -> jax.Array:
        """``world_T_view [4, 4]`` of the rendering camera (``x`` right, ``y`` down, ``z`` forward)."""
        R, pos = self.eef_rcm(q, p)
        return kin.make_pose(p.rcm_rot @ R @ _EEF_R_VIEW, p.rcm_pos + p.rcm_rot @ pos)

    def eef_world(self, q: jax.Array, p: ECMCamParams) -> jax.Array:
        """Eef position in the world ``[3]`` (CameraReach's achieved goal)."""
        return p.rcm_pos + p.rcm_rot @ self.eef_rcm(q, p)[1]

    def _ik(self, q: jax.Array, point_rcm: jax.Array, p: ECMCamParams) -> jax.Array:
        """Joints putting the eef at ``point_rcm`` (roll kept), clipped to the limits."""
        yaw, pitch, depth = kin.rcm_ik(point_rcm)
        ins = depth - p.dh.d[2] - p.dh.d[3]
        return jnp.clip(jnp.stack([yaw, pitch, ins, q[3]]), p.q_low, p.q_high)

    def _dz(self, q: jax.Array, p: ECMCamParams) -> jax.Array:
        """Image rotation about the world vertical since the zero-joint camera link (SurRoL's formula)."""
        R0 = p.rcm_rot @ self.eef_rcm(jnp.zeros(4), p)[0] @ _EEF_R_CAM
        R = p.rcm_rot @ self.eef_rcm(q, p)[0] @ _EEF_R_CAM
        x = R0[0, 0] * R[1, 0] - R0[1, 0] * R[0, 0] + R0[0, 1] * R[1, 1] - R0[1, 1] * R[0, 1]
        y = R0[0, 0] * R[1, 1] - R0[1, 0] * R[0, 1] - R0[0, 1] * R[1, 0] + R0[1, 1] * R[0, 0]
        return jnp.arctan(x / jnp.where(y == 0, 1e-9, y))

    def jacobian(self, q: jax.Array, p: ECMCamParams) -> jax.Array:
        """Base-frame geometric Jacobian ``[6, 4]`` of the DH tool frame (rows: linear, angular)."""
        lin = jax.jacfwd(lambda x: self.eef_rcm(x, p)[1])(q)
        z = kin.ecm_fk(q, p.dh)[:, :3, 2]  # joint i turns about z of frame i (modified DH)
        ang = jnp.stack([z[0], z[1], jnp.zeros(3), z[3]], axis=1)
        return jnp.concatenate([lin, ang], axis=0)

    def cvc_to_dq(self, q: jax.Array, cvc: jax.Array, wz: jax.Array, p: ECMCamParams) -> jax.Array:
        """SurRoL's ``cVc_to_dq``: camera-frame velocity ``[3]`` and roll servo ``wz`` -> joint velocity ``[4]``."""
        cvc = jnp.where(jnp.max(jnp.abs(cvc)) > 0.01, cvc / jnp.max(jnp.abs(cvc)) * 0.01, cvc)
        d, eRc = p.tip_offset, jnp.asarray(_EEF_R_CAM)
        Jd = eRc @ jnp.array([[0.0, 0.0, 1.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]) * d
        Jd = Jd + eRc @ jnp.array([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
        Je = eRc @ jnp.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
        Jd_pinv = _pinv_rows(Jd)
        eve4 = Jd_pinv @ cvc + (jnp.eye(4) - Jd_pinv @ Jd) @ _pinv_rows(Je) @ jnp.stack([0.0, 0.0, wz])
        eve = jnp.concatenate([jnp.zeros(2), eve4])
        bRe = self.eef_rcm(q, p)[0]
        bve = jnp.concatenate([-bRe @ eve[:3], -bRe @ eve[3:]])
        J = self.jacobian(q, p)  # [6, 4], full column rank away from the pitch singularity
        return jnp.linalg.solve(J.T @ J, J.T @ bve)  # = pinv(J) bve

    def misorientation(self, q: jax.Array, p: ECMCamParams) -> jax.Array:
        """Signed image rotation (rad) of a world x-axis segment vs. the zero-joint camera (simplified)."""
        cur, refc = self.camera_world(q, p), self.camera_world(jnp.zeros(4), p)
        axis, pos = cur[:3, 2], cur[:3, 3]
        t = -pos[2] / jnp.where(jnp.abs(axis[2]) < 1e-6, -1e-6, axis[2])
        p0 = pos + t * axis
        pts = jnp.stack([p0, p0 + jnp.array([0.1, 0.0, 0.0])])
        uv_c, _ = kin.project(pts, cur, p.fov_deg)
        uv_r, _ = kin.project(pts, refc, p.fov_deg)
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

    def _target_at(self, s: ECMCamState, p: ECMCamParams) -> jax.Array:
        xy = traj.position(s.path, s.knots, s.curv, s.index)
        return jnp.concatenate([xy, p.ws_low[2:]])

    # ------------------------------------------------------------------ observations
    def _obs(self, s: ECMCamState, p: ECMCamParams):
        state = self._robot_state(s.q, p)
        name = self.task_name
        if name == "CameraReach":
            return {"achieved_goal": self.eef_world(s.q, p), "desired_goal": s.target, "observation": state}
        if name == "MisOrient":
            euler = kin.rot_to_euler(p.rcm_rot @ self.eef_rcm(s.q, p)[0] @ _EEF_R_CAM)
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
        k_q, k_t, k_path, k_i = jax.random.split(key, 4)
        q = jax.random.uniform(k_q, (4,), minval=p.init_q_low, maxval=p.init_q_high)
        target = jax.random.uniform(k_t, (3,), minval=p.ws_low, maxval=p.ws_high)
        if self.task_name == "CameraReach":  # start at the top centre of the workspace
            top = jnp.concatenate([(p.ws_low[:2] + p.ws_high[:2]) / 2, p.ws_high[2:]])
            q = self._ik(jnp.zeros(4), p.rcm_rot.T @ (top - p.rcm_pos), p)
        path = jnp.zeros((13, 2))
        knots, curv = jnp.linspace(0.0, 1.0, 13), jnp.zeros((13, 2))
        if self.task_name == "ActiveTrack":
            path = traj.control_points(k_path, p.ws_low[:2], p.ws_high[:2])
            knots, curv = traj.fit(path)
        index = jax.random.randint(k_i, (), 0, traj.N_SAMPLES)
        s = ECMCamState(q, target, path, knots, curv, index, jnp.float32(0.0), jnp.int32(0))
        if self.task_name == "ActiveTrack":
            s = s.replace(index=index + 1)
            s = s.replace(target=self._target_at(s, p))
        return self._obs(s, p), s

    def step_env(self, key: jax.Array, s: ECMCamState, action: jax.Array, p: ECMCamParams) -> Step:
        a = jnp.clip(action, -1.0, 1.0)
        q, wz = s.q, s.wz
        if self.task.mode == "dmove":
            pos = self.eef_rcm(q, p)[1]
            q_cmd = self._ik(q, pos + p.move_scale * a, p)
        elif self.task.mode == "droll":
            q_cmd = q.at[3].add(p.roll_scale * a[0])
        else:  # cVc
            wz = p.k_wz * self._dz(q, p)
            new = q + p.dq_gain * self.cvc_to_dq(q, p.cam_scale * a, wz, p)
            ok = jnp.all((new >= p.q_low) & (new <= p.q_high)) & jnp.all(jnp.isfinite(new))
            q_cmd = jnp.where(ok, new, q)
        q = q + p.tracking * (q_cmd - q)  # position-controlled arm: most of the step within 0.1 s
        s = s.replace(q=q, wz=wz, time=s.time + 1)
        if self.task_name == "ActiveTrack":
            s = s.replace(index=s.index + traj.SAMPLES_PER_STEP)
            s = s.replace(target=self._target_at(s, p))
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

    def render(self, state: Any, p: Any) -> Any:
        """The scene as ``[240, 320, 3]`` uint8 (host-side; :func:`jaxrl.envs.surgical.render.render_frame`)."""
        from jaxrl.envs.surgical.render import render_frame

        return render_frame(self, state, p)
