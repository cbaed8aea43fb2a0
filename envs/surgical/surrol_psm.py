"""SurRoL PSM tasks: NeedleReach, GauzeRetrieve, NeedlePick, PegTransfer (5 Hz, 50 steps; ids ``-v1``).

A Cartesian tool model replaces PyBullet and the PSM's inverse kinematics, in SurRoL's 5x
enlarged world (``S = 5``; distances in ``info`` are real metres = sim / S). Object geometry is
read from SurRoL's URDFs (:mod:`reference`).

State: the end-effector point ``eef`` that SurRoL observes, the tool yaw, the jaw angle and one
object. The tool points straight down (SurRoL fixes roll -90 deg, pitch 0), so the jaw tip is
``0.0102 S`` (``psm_tool_tip_joint``) below ``eef``.

Per step (``a`` clipped to ``[-1, 1]^5``)::

    eef  <- clip(eef + 0.01 S a[:3], ws_low - (0.02, 0.02, 0), ws_high + (0.02, 0.02, 0.08))
    yaw  <- wrap(yaw + 30 deg a[3])          (NeedlePick, PegTransfer; ignored otherwise)
    jaw  <- 0 if a[4] < 0 (close) else 40 deg   (NeedleReach: always closed)

The workspace is PsmEnv's ``WORKSPACE_LIMITS1`` (+0.0102 in z) x S for every task (the tasks' own
``WORKSPACE_LIMITS`` are never read in SurRoL: quirk kept); the clip margins are SurRoL's,
unscaled as in its code.

Grasping (SurRoL's contact rule, with contact replaced by a **proximity proxy**): closing the jaw
while the jaw tip is within ``contact_tol`` of the object's grasp point *activates* the grasp (SurRoL:
both jaw links touch the object); an activated object moves with the jaw (SurRoL: held by jaw
friction) and is *constrained* (SurRoL's fixed constraint; ``info["grasped"]``) once it is lifted
past the task's threshold (needle: 5 mm, gauze: 2.5 mm above its initial height; block: 1 cm above
the goal peg); opening the jaw releases it and a released object falls under gravity until it
rests at ``rest_z``. ``contact_tol`` is 2 mm (needle, gauze: SurRoL's own ``_contact_approx``
tolerance) and 4 mm (block, *inferred*: its jaws close 3 mm above the block's waypoint).

Observation (``spaces.Dict``): ``observation`` = eef (3), eef Euler (3), jaw (1) [+ object
position (3), object - eef (3), waypoint position (3), waypoint Euler (3)], ``achieved_goal``
(3), ``desired_goal`` (3). Reward ``is_success - 1`` (:meth:`PSMTask.compute_reward` works on
batches of relabelled goals, for HER). Episodes are truncated at ``max_steps``, never terminated.
Optional potential-based shaping (``params.shaping > 0``, not in SurRoL, default off) adds
``shaping * (d - gamma d')`` with ``d`` the achieved-desired distance in real metres; it keeps the
optimal policies of the sparse task (Ng et al. 1999) and lets on-policy agents without HER learn.
Flat observations: wrap with :class:`jaxrl.wrappers.FlattenObservation` (registered as
``<Task>Flat-v1``; order achieved_goal, desired_goal, observation).

Geometry (exact, from the URDFs and task files): needle grasp waypoint ``waypoint_1`` at
``(-0.02, 0, 0) S`` in the needle frame, needle yaw ``U(-90, 90)`` deg; block waypoint ``waypoint_1``
at ``(0.0025, 0.00433, 0) S`` turned -120 deg, block yaw ``U(-30, 30)`` deg; 12 pegs of
``peg_board.urdf`` on the board at ``(0.55, 0, 0.6861) S``, the block starting on one of pegs 7-12
and the goal one of pegs 1-6; object spawn ``+-0.05`` sim units (unscaled, as SurRoL) around the
workspace centre; initial eef and yaw (90 deg) as SurRoL's reset.

Rest heights (exact up to the meshes): needle on the tray pad's collision top plus the needle
mesh's half-thickness (0.62 mm), gauze on the tray with half its collision box, block on the board
top plus the block mesh's half-height (7.3 mm; 3.7 mm below the peg frames, inside SurRoL's 4 mm
success band); mesh extents read from SurRoL's repository (not in the reference folder).

Simplified: no collisions, friction or other bodies (PegTransfer simulates the target block only;
SurRoL adds three distractor blocks that can collide with it); the eef follows the action
exactly (SurRoL: IK and a position-controlled arm); a released object drops straight down.
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

S = ref.S
_PEGS = (np.asarray(ref.PEG_BOARD_POS) + np.asarray(ref.PEGS)) * S  # [12, 3] peg frames (sim units)


def _workspace(task: str) -> np.ndarray:
    """``[3, 2]`` eef workspace (sim units): PsmEnv's WORKSPACE_LIMITS1 + 0.0102 in z, times S (every task)."""
    return (np.asarray(ref.PSM_WORKSPACE) + np.array([[0.0], [0.0], [ref.PSM_TIP_LENGTH]])) * S


@struct.dataclass
class PSMToolParams:
    scale: jax.Array  # [] S
    ws_low: jax.Array  # [3] eef workspace (sim units)
    ws_high: jax.Array  # [3]
    clip_low: jax.Array  # [3] eef clip of the action (SurRoL's margins around the workspace)
    clip_high: jax.Array  # [3]
    move_scale: jax.Array  # [] sim units per step at |a| = 1 (0.01 S)
    yaw_scale: jax.Array  # [] rad per step at |a| = 1
    jaw_open: jax.Array  # [] rad
    tip_length: jax.Array  # [] eef -> jaw tip (sim units)
    contact_tol: jax.Array  # [] sim units, proximity proxy of jaw-object contact
    lift_threshold: jax.Array  # [] sim units: constraint once lifted this far (see the module docstring)
    gravity: jax.Array  # [] sim units / s^2
    dt: jax.Array  # [] s (5 Hz)
    init_eef: jax.Array  # [3]
    init_yaw: jax.Array  # []
    spawn_center: jax.Array  # [3] object spawn (z: resting height)
    spawn_jitter: jax.Array  # [] half-width of the xy spawn jitter (sim units)
    spawn_yaw: jax.Array  # [] half-width of the object yaw jitter (rad)
    waypoint_yaw: jax.Array  # [] yaw of the grasp link in the object frame
    rest_z: jax.Array  # [] height at which a dropped object comes to rest
    waypoint_offset: jax.Array  # [3] grasp point in the object frame
    goal_center: jax.Array  # [3]
    goal_sigma: jax.Array  # [] xy std of the goal
    goal_above_object: jax.Array  # [] NeedleReach: goal height above the waypoint
    pegs: jax.Array  # [12, 3] peg frames (PegTransfer)
    success_threshold: jax.Array  # [] sim units (0.005 S)
    dz_threshold: jax.Array  # [] sim units (PegTransfer 0.004 S)
    shaping: jax.Array  # [] weight of potential-based shaping (0: SurRoL's sparse reward)
    shaping_gamma: jax.Array  # [] discount of the shaping potential difference
    max_steps: jax.Array  # [] int32, truncation horizon (50)


@struct.dataclass
class PSMToolState:
    eef: jax.Array  # [3]
    yaw: jax.Array  # []
    jaw: jax.Array  # []
    obj_pos: jax.Array  # [3]
    obj_yaw: jax.Array  # []
    obj_vz: jax.Array  # []
    grasped: jax.Array  # [] bool, activated: closed on the object (it moves with the jaw)
    constrained: jax.Array  # [] bool, lifted past the threshold (SurRoL's constraint)
    lift_ref: jax.Array  # [] height the lift threshold is measured from
    grasp_rel: jax.Array  # [3] object position relative to the jaw tip while grasped
    goal: jax.Array  # [3]
    time: jax.Array  # [] int32


@dataclass(frozen=True)
class _Task:
    has_object: bool
    block_gripper: bool
    use_yaw: bool
    achieved: str  # "tip", "waypoint" or "object"
    peg: bool = False


TASKS = {
    "NeedleReach": _Task(False, True, False, "tip"),
    "GauzeRetrieve": _Task(True, False, False, "waypoint"),
    "NeedlePick": _Task(True, False, True, "waypoint"),
    "PegTransfer": _Task(True, False, True, "object", peg=True),
}


def _f32(x) -> jax.Array:
    return jnp.asarray(np.asarray(x, np.float32))


class PSMTask(Environment):
    """One of :data:`TASKS` on the Cartesian PSM tool model."""

    def __init__(self, task: str = "NeedleReach"):
        if task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got {task!r}")
        self.task_name = task
        self.task = TASKS[task]

    def __repr__(self) -> str:
        return f"PSMTask({self.task_name!r})"

    @property
    def name(self) -> str:
        return self.task_name

    @property
    def default_params(self) -> PSMToolParams:
        name = self.task_name
        ws = _workspace(name)
        lo, hi = ws[:, 0], ws[:, 1]
        centre = (lo + hi) / 2
        z_init = hi[2] if name in ("NeedleReach", "PegTransfer") else centre[2]
        rest = {
            "NeedleReach": (ref.TRAY_PAD_Z + ref.TRAY_PAD_THICKNESS + ref.NEEDLE_HALF_THICKNESS) * S,
            "NeedlePick": (ref.TRAY_PAD_Z + ref.TRAY_PAD_THICKNESS + ref.NEEDLE_HALF_THICKNESS) * S,
            "GauzeRetrieve": (ref.TRAY_Z + ref.TRAY_PAD_THICKNESS + ref.GAUZE_SIZE[2] / 2) * S,
            "PegTransfer": (ref.PEG_BOARD_POS[2] + ref.PEG_BOARD_HEIGHT / 2 + ref.BLOCK_HALF_HEIGHT) * S,
        }[name]
        goal = {
            "NeedleReach": (0.0, hi[2]),
            "GauzeRetrieve": (0.02 * S, hi[2] - 0.03 * S),
            "NeedlePick": (0.01 * S, hi[2] - 0.04 * S),
            "PegTransfer": (0.0, rest),
        }[name]
        needle = np.asarray(ref.NEEDLE_WAYPOINT) * S
        waypoint = {"NeedlePick": needle, "NeedleReach": needle, "PegTransfer": np.asarray(ref.BLOCK_WAYPOINT) * S}
        margin = np.array([0.02, 0.02, 0.0])
        return PSMToolParams(
            scale=_f32(S),
            ws_low=_f32(lo),
            ws_high=_f32(hi),
            clip_low=_f32(lo - margin),
            clip_high=_f32(hi + margin + np.array([0.0, 0.0, 0.08])),
            move_scale=_f32(0.01 * S),
            yaw_scale=_f32(np.deg2rad(30.0)),
            jaw_open=_f32(np.deg2rad(40.0)),
            tip_length=_f32(ref.PSM_TIP_LENGTH * S),
            contact_tol=_f32((4e-3 if self.task.peg else 2e-3) * S),
            lift_threshold=_f32({"NeedlePick": 0.005, "GauzeRetrieve": 0.0025, "PegTransfer": 0.01}.get(name, 0.0) * S),
            gravity=_f32(9.81 * S),
            dt=_f32(0.2),
            init_eef=_f32([lo[0], hi[1], z_init]),
            init_yaw=_f32(np.pi / 2),
            spawn_center=_f32([centre[0], centre[1], rest]),
            spawn_jitter=_f32(0.05),
            spawn_yaw=_f32(
                {"NeedleReach": np.pi / 2, "NeedlePick": np.pi / 2, "PegTransfer": np.pi / 6}.get(name, 0.0)
            ),
            waypoint_yaw=_f32(ref.BLOCK_WAYPOINT_YAW if self.task.peg else 0.0),
            rest_z=_f32(rest),
            waypoint_offset=_f32(waypoint.get(name, (0, 0, 0))),
            goal_center=_f32([centre[0], centre[1], goal[1]]),
            goal_sigma=_f32(goal[0]),
            goal_above_object=_f32(0.005 * S),
            pegs=_f32(_PEGS),
            success_threshold=_f32(0.005 * S),
            dz_threshold=_f32(0.004 * S),
            shaping=_f32(0.0),
            shaping_gamma=_f32(0.99),
            max_steps=jnp.int32(50),
        )

    # ------------------------------------------------------------------ geometry
    def tip(self, s: PSMToolState, p: PSMToolParams) -> jax.Array:
        """Jaw tip (sim units)."""
        return s.eef - jnp.array([0.0, 0.0, 1.0]) * p.tip_length

    def waypoint(self, s: PSMToolState, p: PSMToolParams) -> jax.Array:
        """Grasp point of the object (SurRoL's waypoint link), sim units."""
        c, sn = jnp.cos(s.obj_yaw), jnp.sin(s.obj_yaw)
        o = p.waypoint_offset
        return s.obj_pos + jnp.stack([c * o[0] - sn * o[1], sn * o[0] + c * o[1], o[2]])

    def achieved_goal(self, s: PSMToolState, p: PSMToolParams) -> jax.Array:
        kind = self.task.achieved
        if kind == "tip":
            return self.tip(s, p)
        return self.waypoint(s, p) if kind == "waypoint" else s.obj_pos

    def is_success(self, achieved: jax.Array, desired: jax.Array, p: PSMToolParams) -> jax.Array:
        """``[...]`` bool for goal batches ``[..., 3]``."""
        d = achieved - desired
        if self.task.peg:
            xy = jnp.sqrt(jnp.sum(d[..., :2] ** 2, -1))
            return (xy < p.success_threshold) & (jnp.abs(d[..., 2]) < p.dz_threshold)
        return jnp.sqrt(jnp.sum(d * d, -1)) < p.success_threshold

    def compute_reward(self, achieved: jax.Array, desired: jax.Array, p: PSMToolParams) -> jax.Array:
        """Sparse reward ``is_success - 1`` for (relabelled) goals ``[..., 3]``."""
        return self.is_success(achieved, desired, p).astype(jnp.float32) - 1.0

    def _obs(self, s: PSMToolState, p: PSMToolParams) -> dict[str, jax.Array]:
        parts = [s.eef, jnp.stack([-jnp.pi / 2, 0.0, s.yaw]), s.jaw[None]]
        if self.task.has_object:
            wp = self.waypoint(s, p)
            parts += [
                s.obj_pos,
                s.obj_pos - s.eef,
                wp,
                jnp.stack([0.0, 0.0, kin.wrap_angle(s.obj_yaw + p.waypoint_yaw)]),
            ]
        return {
            "achieved_goal": self.achieved_goal(s, p),
            "desired_goal": s.goal,
            "observation": jnp.concatenate(parts),
        }

    # ------------------------------------------------------------------ contract
    def reset_env(self, key: jax.Array, p: PSMToolParams):
        k_xy, k_yaw, k_goal, k_peg = jax.random.split(key, 4)
        jitter = jax.random.uniform(k_xy, (2,), minval=-p.spawn_jitter, maxval=p.spawn_jitter)
        obj_pos = p.spawn_center + jnp.concatenate([jitter, jnp.zeros(1)])
        obj_yaw = jax.random.uniform(k_yaw, (), minval=-p.spawn_yaw, maxval=p.spawn_yaw)
        goal = p.goal_center + jnp.concatenate([p.goal_sigma * jax.random.normal(k_goal, (2,)), jnp.zeros(1)])
        if self.task.peg:  # block on a random peg of the second group, goal a random peg of the first
            k1, k2 = jax.random.split(k_peg)
            obj_pos = p.pegs[6 + jax.random.randint(k1, (), 0, 6)].at[2].set(p.rest_z)  # settled on the board
            goal = p.pegs[jax.random.randint(k2, (), 0, 6)]
        jaw = jnp.float32(0.0) if self.task.block_gripper else p.jaw_open
        s = PSMToolState(
            eef=p.init_eef,
            yaw=p.init_yaw,
            jaw=jaw,
            obj_pos=obj_pos,
            obj_yaw=obj_yaw,
            obj_vz=jnp.float32(0.0),
            grasped=jnp.bool_(False),
            constrained=jnp.bool_(False),
            lift_ref=jnp.float32(0.0),
            grasp_rel=jnp.zeros(3),
            goal=goal,
            time=jnp.int32(0),
        )
        if self.task_name == "NeedleReach":
            s = s.replace(goal=self.waypoint(s, p) + jnp.array([0.0, 0.0, 1.0]) * p.goal_above_object)
        s = s.replace(lift_ref=goal[2] if self.task.peg else self.waypoint(s, p)[2])
        return self._obs(s, p), s

    def step_env(self, key: jax.Array, s: PSMToolState, action: jax.Array, p: PSMToolParams) -> Step:
        a = jnp.clip(action, -1.0, 1.0)
        dist_before = jnp.sqrt(jnp.sum((self.achieved_goal(s, p) - s.goal) ** 2)) / p.scale
        eef = jnp.clip(s.eef + p.move_scale * a[:3], p.clip_low, p.clip_high)
        yaw = kin.wrap_angle(s.yaw + p.yaw_scale * a[3]) if self.task.use_yaw else s.yaw
        close = jnp.bool_(True) if self.task.block_gripper else a[4] < 0
        jaw = jnp.where(close, 0.0, p.jaw_open)
        d_yaw = kin.wrap_angle(yaw - s.yaw)
        s = s.replace(eef=eef, yaw=yaw, jaw=jaw)
        if self.task.has_object:
            s = self._object_step(s, p, close, d_yaw)
        s = s.replace(time=s.time + 1)
        obs = self._obs(s, p)
        success = self.is_success(obs["achieved_goal"], s.goal, p)
        dist = jnp.sqrt(jnp.sum((obs["achieved_goal"] - s.goal) ** 2)) / p.scale
        info = {"success": success, "distance": dist, "grasped": s.constrained, "activated": s.grasped}
        truncated = s.time >= p.max_steps
        # potential-based shaping with phi = -distance (real m): leaves the optimal policy unchanged
        shaped = p.shaping * (dist_before - p.shaping_gamma * dist)
        reward = success.astype(jnp.float32) - 1.0 + shaped
        return Step(obs, s, reward, jnp.bool_(False), truncated, info)

    def _object_step(self, s: PSMToolState, p: PSMToolParams, close: jax.Array, d_yaw: jax.Array) -> PSMToolState:
        """Contact proxy, lift-threshold constraint, release and free fall; a held object turns with the tool."""
        tip = self.tip(s, p)
        near = jnp.sum((tip - self.waypoint(s, p)) ** 2) < p.contact_tol**2
        grab = close & ~s.grasped & near
        grasped = close & (s.grasped | near)
        turn = jnp.where(grasped & ~grab, d_yaw, 0.0)  # a held object turns about the jaw tip
        c, sn = jnp.cos(turn), jnp.sin(turn)
        r = s.grasp_rel
        held_rel = jnp.stack([c * r[0] - sn * r[1], sn * r[0] + c * r[1], r[2]])
        rel = jnp.where(grab, s.obj_pos - tip, held_rel)
        obj_yaw = s.obj_yaw + turn
        held_pos = tip + rel
        wp_z = self.waypoint(s.replace(obj_pos=held_pos, obj_yaw=obj_yaw), p)[2]
        lifted = (held_pos[2] if self.task.peg else wp_z) > s.lift_ref + p.lift_threshold
        constrained = grasped & (s.constrained | lifted)
        # free fall to rest_z (one explicit Euler step per env step)
        vz = s.obj_vz - p.gravity * p.dt
        z = s.obj_pos[2] + vz * p.dt
        landed = z <= p.rest_z
        fall = jnp.stack([s.obj_pos[0], s.obj_pos[1], jnp.where(landed, p.rest_z, z)])
        resting = s.obj_pos[2] <= p.rest_z
        free_pos = jnp.where(resting, s.obj_pos, fall)
        free_vz = jnp.where(resting | landed, 0.0, vz)
        return s.replace(
            obj_pos=jnp.where(grasped, held_pos, free_pos),
            obj_vz=jnp.where(grasped, 0.0, free_vz),
            obj_yaw=obj_yaw,
            grasped=grasped,
            constrained=constrained,
            grasp_rel=rel,
        )

    def observation_space(self, p: PSMToolParams) -> spaces.Dict:
        n = 19 if self.task.has_object else 7
        box = lambda k: spaces.Box(-jnp.inf, jnp.inf, (k,), jnp.float32)  # noqa: E731
        return spaces.Dict({"achieved_goal": box(3), "desired_goal": box(3), "observation": box(n)})

    def action_space(self, p: PSMToolParams) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (5,), jnp.float32)

    def render(self, state: Any, p: Any) -> Any:
        """The scene as ``[240, 320, 3]`` uint8 (host-side; :func:`jaxrl.envs.surgical.render.render_frame`)."""
        from jaxrl.envs.surgical.render import render_frame

        return render_frame(self, state, p)
