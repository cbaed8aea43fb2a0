"""Pieces shared by the fin environments: objectives, prescribed base motion, actuator, RK4.

Both fin tiers drive a base with a prescribed plunge ``h(t) = H sin(theta)`` and
pitch ``alpha(t) = Theta sin(theta + psi)``, ``theta = omega t + theta_0``, and add an
actuation ``delta(t)`` (the hemitrich-offset proxy) through a second-order actuator::

    delta'' = omega_a^2 (delta_max * u - delta) - 2 zeta_a omega_a delta'

with the command ``u`` in ``[-1, 1]`` held over a control interval.

Objectives (one environment id each; every step reports all four as
``info["reward_<objective>"]``)::

    thrust      r = <C_T>                         (mean over the control interval)
    efficiency  r = e + (<C_T> - e <C_P>) / P        (e, P: efficiency and mean C_P of the last cycle)
    mixed       r = <C_T> - lambda_p <C_P>
    lateral     r = <C_T> - lambda_y <C_Y^2>      (thrust with a side-force (recoil) penalty)

Every step also reports ``info["reward_vector"] [3]`` = (thrust, efficiency, ``-<C_Y^2>``)
(:data:`VECTOR_OBJECTIVES`): the three separate goals behind the scalar objectives, for
multi-objective learning (the lateral component is the side-force penalty alone, so a
weighted sum with thrust reproduces ``lateral`` without counting thrust twice).

The efficiency reward is the ratio ``C_T / C_P`` linearised about the previous beat
cycle (Dinkelbach's step for fractional objectives): every step is credited for its
own thrust and power, and over a steady cycle the mean reward is exactly
``<C_T> / <C_P>``. The references are held for a whole cycle (``round(steps_per_cycle)``
steps); references that followed the forces within a cycle (say, running averages)
let a policy trade reward against true efficiency by timing its power. During the first
cycle the running means of the cycle so far stand in. The references and the
partial sums are observed, so the reward is Markov.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

OBJECTIVES = ("thrust", "efficiency", "mixed", "lateral")
VECTOR_OBJECTIVES = ("thrust", "efficiency", "lateral")
"""Components of ``info["reward_vector"]`` ``[3]``: ``<C_T>``, the efficiency reward, ``-<C_Y^2>``."""
ID_NAMES = {"thrust": "Thrust", "efficiency": "Efficiency", "mixed": "Mixed", "lateral": "Lateral"}


def check_objective(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown fin objective {objective!r}; choose from {OBJECTIVES}")
    return objective


class Kinematics(NamedTuple):
    """Prescribed base motion at one instant (heave positive downwards, pitch nose-up)."""

    h: jax.Array
    hd: jax.Array
    hdd: jax.Array
    a: jax.Array  # pitch
    ad: jax.Array
    add: jax.Array


def kinematics(c: jax.Array, s: jax.Array, params: Any, omega: jax.Array, cpsi: jax.Array, spsi: jax.Array):
    """Base motion from ``(cos theta, sin theta)``; ``cpsi, spsi`` = cos/sin of the pitch lead ``psi``."""
    H, P = params.heave_amp, params.pitch_amp
    sp = s * cpsi + c * spsi  # sin(theta + psi)
    cp = c * cpsi - s * spsi  # cos(theta + psi)
    w2 = omega * omega
    return Kinematics(H * s, H * omega * c, -H * w2 * s, P * sp, P * omega * cp, -P * w2 * sp)


def rotate(c: jax.Array, s: jax.Array, cr: jax.Array, sr: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(cos, sin)`` of an angle advanced by the rotation ``(cr, sr)``."""
    return c * cr - s * sr, s * cr + c * sr


def actuator_accel(delta: jax.Array, delta_dot: jax.Array, target: jax.Array, params: Any) -> jax.Array:
    wa = params.act_omega
    return wa * wa * (target - delta) - 2.0 * params.act_zeta * wa * delta_dot


def actuator_transition(params: Any, tau: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Exact flow ``expm(A tau)`` of the actuator error ``(delta - target, delta')``, ``A = [[0, 1], [-w^2, -2 z w]]``.

    ``expm(A t) = e^{s t} [(ch - s sh) I + sh A]`` with ``s = -z w``, ``q^2 = w^2 (z^2 - 1)``,
    ``ch = cosh(q t)``, ``sh = sinh(q t) / q`` (``cos`` / ``sin`` when underdamped). Any
    stiffness and substep are stable: the actuator never limits the RK4 step.
    """
    w, z = params.act_omega, params.act_zeta
    s = -z * w
    q2 = w * w * (z * z - 1.0)
    r = jnp.sqrt(jnp.abs(q2))
    rt = r * tau
    over = q2 >= 0.0
    small = rt < 1e-3
    r_safe = jnp.where(small, 1.0, r)
    # e^{st} cosh(rt) and e^{st} sinh(rt)/r from exp((s +- r) t) (s + r <= 0: no overflow)
    ep, em = jnp.exp((s + jnp.where(over, r, 0.0)) * tau), jnp.exp((s - jnp.where(over, r, 0.0)) * tau)
    es = jnp.exp(s * tau)
    ech = jnp.where(over, 0.5 * (ep + em), es * jnp.cos(rt))
    esh_big = jnp.where(over, 0.5 * (ep - em), es * jnp.sin(rt)) / r_safe
    esh = jnp.where(small, es * tau * (1.0 + jnp.where(over, 1.0, -1.0) * rt * rt / 6.0), esh_big)
    return ech - s * esh, esh, -esh * w * w, ech - s * esh - 2.0 * z * w * esh


def rk4_substeps(
    rhs: Callable[..., Any],
    y0: Any,
    act0: tuple[jax.Array, jax.Array],
    target: jax.Array,
    c0: jax.Array,
    s0: jax.Array,
    dt: jax.Array,
    half_rot: tuple[jax.Array, jax.Array],
    act_half: tuple[jax.Array, jax.Array, jax.Array, jax.Array],
    num_substeps: int,
) -> tuple[Any, jax.Array, jax.Array]:
    """``num_substeps`` classical RK4 steps of ``y' = rhs(y, cos theta, sin theta, delta, delta')``.

    Runs under ``lax.scan``. The exogenous signals are exact at every stage time:
    ``theta`` advances by ``omega dt / 2`` per half step through the rotation
    ``half_rot`` (no transcendental functions in the loop) and the actuator
    ``(delta, delta')`` through its exact half-step flow ``act_half`` towards the held
    ``target``. The four stages run as an inner ``scan`` so ``rhs`` is compiled once.
    Returns ``(y, delta, delta')`` at the end.
    """
    cr, sr = half_rot
    p11, p12, p21, p22 = act_half
    frac = jnp.array([0.0, 0.5, 0.5, 1.0], jnp.float32)  # y_i = y + frac_i dt k_{i-1}
    weight = jnp.array([1.0, 2.0, 2.0, 1.0], jnp.float32) / 6.0

    def half(c, s, e, v):
        c, s = rotate(c, s, cr, sr)
        return c, s, p11 * e + p12 * v, p21 * e + p22 * v

    def substep(carry, _):
        y, c, s, e, v = carry
        mid = half(c, s, e, v)
        end = half(*mid)
        sig = [jnp.stack(x) for x in zip((c, s, e, v), mid, mid, end, strict=True)]  # 4 x [4 stages]

        def stage(inner, i):
            k_prev, acc = inner
            yi = jax.tree.map(lambda u, k: u + frac[i] * dt * k, y, k_prev)
            k = rhs(yi, sig[0][i], sig[1][i], target + sig[2][i], sig[3][i])
            acc = jax.tree.map(lambda a, kk: a + weight[i] * kk, acc, k)
            return (k, acc), None

        zeros = jax.tree.map(jnp.zeros_like, y)
        (_, incr), _ = jax.lax.scan(stage, (zeros, zeros), jnp.arange(4))
        y = jax.tree.map(lambda u, d: u + dt * d, y, incr)
        return (y, *end), None

    carry = (y0, c0, s0, act0[0] - target, act0[1])
    (y, _, _, e, v), _ = jax.lax.scan(substep, carry, None, length=num_substeps)
    return y, target + e, v


@struct.dataclass
class CycleStats:
    """Per-beat-cycle force averages behind the efficiency reward."""

    acc: jax.Array  # [2] sums of the interval means C_T, C_P over the current cycle
    count: jax.Array  # [] float32, steps taken in the current cycle
    ref: jax.Array  # [2] efficiency and mean C_P of the last complete cycle
    have_ref: jax.Array  # [] bool, a cycle has completed


def cycle_init() -> CycleStats:
    return CycleStats(jnp.zeros(2, jnp.float32), jnp.float32(0.0), jnp.zeros(2, jnp.float32), jnp.bool_(False))


def _ratio(t: jax.Array, p: jax.Array, params: Any) -> tuple[jax.Array, jax.Array]:
    p_ref = jnp.maximum(p, params.power_floor)
    return jnp.clip(t / p_ref, -1.0, 1.0), p_ref


def cycle_step(stats: CycleStats, ct: jax.Array, cp: jax.Array, params: Any):
    """Add one interval; return ``(new_stats, (e, P))``, the references for this step's reward."""
    acc, count = stats.acc + jnp.stack([ct, cp]), stats.count + 1.0
    running = _ratio(acc[0] / count, acc[1] / count, params)
    e, p = jnp.where(stats.have_ref, stats.ref[0], running[0]), jnp.where(stats.have_ref, stats.ref[1], running[1])
    done = count >= jnp.maximum(jnp.round(params.steps_per_cycle), 1.0)
    new = CycleStats(
        jnp.where(done, 0.0, acc),
        jnp.where(done, 0.0, count),
        jnp.where(done, jnp.stack(running), stats.ref),
        stats.have_ref | done,
    )
    return new, (e, p)


def cycle_obs(stats: CycleStats, params: Any) -> list[jax.Array]:
    """``e, P`` the next reward will use (if no cycle completes first), partial means, cycle progress."""
    n = jnp.maximum(stats.count, 1.0)
    running = _ratio(stats.acc[0] / n, stats.acc[1] / n, params)
    e = jnp.where(stats.have_ref, stats.ref[0], running[0])
    p = jnp.where(stats.have_ref, stats.ref[1], running[1])
    progress = stats.count / jnp.maximum(jnp.round(params.steps_per_cycle), 1.0)
    return [e, p, stats.acc[0] / n, stats.acc[1] / n, progress]


def objective_rewards(
    ct: jax.Array, cp: jax.Array, cy2: jax.Array, eff_ref: jax.Array, power_ref: jax.Array, params: Any
) -> dict[str, jax.Array]:
    """All four per-step rewards from interval means ``<C_T>``, ``<C_P>``, ``<C_Y^2>`` and the cycle references."""
    return {
        "thrust": ct,
        "efficiency": eff_ref + (ct - eff_ref * cp) / power_ref,
        "mixed": ct - params.power_weight * cp,
        "lateral": ct - params.lateral_weight * cy2,
    }


class IntervalOutcome(NamedTuple):
    """What a control step reports after its substeps (shared by the plate and the ray)."""

    coefs: jax.Array  # [3] interval means (C_T, C_P, C_Y), kept in the state for the observation
    cycle: CycleStats
    reward: jax.Array  # [] float32 reward of the env's objective
    truncated: jax.Array  # [] bool
    info: dict[str, jax.Array]


def interval_outcome(y: Any, delta: jax.Array, cycle: CycleStats, step: jax.Array, dt_ctrl: jax.Array, params: Any,
                     objective: str) -> IntervalOutcome:
    """Interval means of the integrated force coefficients ``y.i_*``, cycle statistics, rewards, info, truncation.

    ``step`` is the step count after this step; truncation at ``params.max_steps``.
    """
    ct, cp, cy, cy2 = y.i_t / dt_ctrl, y.i_p / dt_ctrl, y.i_y / dt_ctrl, y.i_y2 / dt_ctrl
    cycle, (e_ref, p_ref) = cycle_step(cycle, ct, cp, params)
    rewards = objective_rewards(ct, cp, cy2, e_ref, p_ref, params)
    info = {
        "thrust_coef": ct,
        "power_coef": cp,
        "lateral_coef": cy,
        "lateral_sq_coef": cy2,
        "delta": delta,
        "reward_vector": jnp.stack([rewards["thrust"], rewards["efficiency"], -cy2]).astype(jnp.float32),
        **{f"reward_{k}": v for k, v in rewards.items()},
    }
    return IntervalOutcome(jnp.stack([ct, cp, cy]), cycle, rewards[objective].astype(jnp.float32),
                           step >= params.max_steps, info)


def control_timing(params: Any, num_substeps: int):
    """``omega``, control interval, substep, half-step rotation, ``(cos psi, sin psi)``, actuator half-step flow."""
    omega = 2.0 * jnp.pi * params.frequency
    dt_ctrl = 2.0 * jnp.pi / (omega * params.steps_per_cycle)
    dt = dt_ctrl / num_substeps
    half = 0.5 * omega * dt
    psi = params.pitch_phase
    rot = (jnp.cos(half), jnp.sin(half))
    return omega, dt_ctrl, dt, rot, (jnp.cos(psi), jnp.sin(psi)), actuator_transition(params, 0.5 * dt)


def open_loop(env: Any, params: Any, state: Any, actions: jax.Array) -> tuple[Any, dict, Any]:
    """Apply ``actions`` (``[T, *action_shape]``) from ``state`` without auto-reset.

    Returns ``(final_state, infos [T], states [T])`` (state after each step). The fin and
    KS dynamics are deterministic, so ``step_env`` gets a fixed key. Jittable/vmappable.
    """
    key = jax.random.PRNGKey(0)

    def body(s, a):
        out = env.step_env(key, s, a, params)
        return out.state, (out.info, out.state)

    final, (infos, states) = jax.lax.scan(body, state, actions)
    return final, infos, states
