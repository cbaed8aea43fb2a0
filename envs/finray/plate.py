"""Tier 1: a rigid plate with prescribed pitch/plunge and an actuated pitch offset.

Unsteady thin-airfoil aerodynamics (Theodorsen in the time domain) per unit span,
half-chord ``b``, pivot at ``a*b`` from mid-chord, heave ``h`` positive downwards,
pitch ``alpha`` nose-up. The Wagner function is R.T. Jones's two-term fit, realised
by two lag states::

    Q      = U alpha + h' + b (1/2 - a) alpha'                  (downwash at 3/4 chord)
    z_i'   = -beta_i (U/b) z_i + Q,   A = (0.165, 0.335), beta = (0.0455, 0.3)
    w_eff  = Q (1 - A1 - A2) + (U/b) (A1 beta1 z1 + A2 beta2 z2)
    L      = 2 pi rho U b w_eff + pi rho b^2 (h'' + U alpha' - b a alpha'')
    M      = pi rho b^2 (b a h'' - U b (1/2 - a) alpha' - b^2 (1/8 + a^2) alpha'')
             + 2 pi rho U b^2 (a + 1/2) w_eff                   (aerodynamic moment, nose-up)
    F_s    = pi rho b S^2,  S = (sqrt 2 / 2)(2 w_eff - b alpha')   (leading-edge suction)
    T      = F_s - L alpha,   P = L h' - M alpha'               (thrust, power input)

Coefficients use ``1/2 rho U^2 c`` (``c = 2b``): ``C_T = T/q``, ``C_Y = L/q``, ``C_P = P/(q U)``.

The actuation is a pitch offset ``alpha = alpha_p(t) + delta(t)`` through the
second-order actuator of :mod:`.common` (propagated exactly). Each control interval
(``1/steps_per_cycle`` of a period) integrates the lag states and the force integrals
with ``num_substeps`` RK4 steps inside ``lax.scan``. Episodes start on the periodic orbit
of the unactuated motion (lag states at their analytic steady state) at a random
phase, and are truncated after ``max_steps`` control steps.

Observation ``[18]``: ``sin theta, cos theta, h/b, h'/U, alpha, alpha'/omega,
delta/delta_max, delta'/(omega delta_max), beta1 z1/b, beta2 z2/b``, the last
interval's ``C_T, C_P, C_Y`` and the efficiency references of :func:`.common.cycle_obs`
(``e, P``, the current cycle's partial means of ``C_T, C_P`` and its progress).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl import spaces
from jaxrl.env import Environment, Step, check_action
from jaxrl.envs.finray import calibration as cal
from jaxrl.envs.finray import common

WAGNER_A = (0.165, 0.335)
WAGNER_BETA = (0.0455, 0.3)
OBS_DIM = 18


@struct.dataclass
class PlateParams:
    """Physical and episode parameters (all traced: ``jax.vmap`` over a family of fins).

    Defaults are calibrated to the reference study's groups (:mod:`.calibration`, which
    cites each source and labels inferred values), with ``c = 2b = 1``, ``U = rho = 1``:
    ``f c / U = 0.42`` (bluegill fin-beat frequency at 1 TL/s, Gibb et al. 1994; ray length
    0.2 TL inferred), so ``k = omega b / U = 1.32``; Strouhal number of the rigid trailing
    edge ``St = 0.30`` (efficient-swimming band 0.2-0.4; the study's own value was not
    found) from heave ``H = 0.25 c`` and pitch ``Theta = 0.255 rad`` leading heave by 90 deg
    (both inferred). Not representable in this tier: the Reynolds number (inviscid
    thin-airfoil theory), the mass ratio and the ray frequency ratio (a rigid plate),
    the bilaminar root offset (here a pitch offset). Concrete values outside their
    physical range (``half_chord``, ``speed``, ``density``, ``frequency`` <= 0, negative
    amplitudes, ``|pivot| > 1``) raise :class:`jaxrl.errors.UserError`.
    """

    half_chord: float = 0.5  # b [m]
    speed: float = 1.0  # free stream U [m/s]
    density: float = 1.0  # rho [kg/m^3]
    pivot: float = -1.0  # a: pivot at a*b from mid-chord (-1 = leading edge, the fin base)
    frequency: float = cal.REDUCED_FREQ_L  # f [Hz]: f c / U = 0.42 (k = 2 pi f b / U = 1.32)
    heave_amp: float = cal.HEAVE_OVER_L  # H [m] = 0.25 c (inferred)
    pitch_amp: float = cal.PITCH_AMP  # Theta [rad] = 0.255: St = 0.30 with H (inferred split)
    pitch_phase: float = cal.PITCH_PHASE  # psi: pitch leads heave [rad] (inferred)
    delta_max: float = 0.3  # actuation offset at |u| = 1 [rad] (inferred)
    act_omega: float = cal.BEAT_TO_ACTUATOR * 2.0 * 3.14159265 * cal.REDUCED_FREQ_L  # about twice the beat
    act_zeta: float = 1.0  # actuator damping ratio
    steps_per_cycle: float = 20.0  # control steps per period
    max_steps: int = 200  # truncation horizon (control steps)
    random_phase: float = 1.0  # 1: episodes start at a uniformly random phase, 0: at theta = 0
    power_weight: float = 0.25  # lambda_p of the mixed objective
    lateral_weight: float = 0.05  # lambda_y of the lateral objective
    power_floor: float = 0.05  # p_min of the efficiency objective

    def __post_init__(self):
        cal.check_params(self, "PlateParams")


@struct.dataclass
class PlateState:
    theta: jax.Array  # [] phase of the prescribed motion (unwrapped) [rad]
    z1: jax.Array  # [] Wagner lag states [m]
    z2: jax.Array
    delta: jax.Array  # [] actuation offset [rad]
    delta_dot: jax.Array
    cycle: common.CycleStats  # beat-cycle averages behind the efficiency reward
    last: jax.Array  # [3] last interval's mean C_T, C_P, C_Y
    step: jax.Array  # [] int32 control steps taken


class _Ode(NamedTuple):
    z1: jax.Array
    z2: jax.Array
    i_t: jax.Array  # integral of C_T dt
    i_p: jax.Array
    i_y: jax.Array
    i_y2: jax.Array


class Loads(NamedTuple):
    lift: jax.Array
    moment: jax.Array
    thrust: jax.Array
    power: jax.Array
    w_eff: jax.Array


def plate_loads(kin: common.Kinematics, z1, z2, params: PlateParams) -> Loads:
    """Forces per unit span for total heave/pitch kinematics ``kin`` and lag states ``z1, z2``."""
    b, U, rho, a = params.half_chord, params.speed, params.density, params.pivot
    (A1, A2), (B1, B2) = WAGNER_A, WAGNER_BETA
    q = U * kin.a + kin.hd + b * (0.5 - a) * kin.ad
    w_eff = q * (1.0 - A1 - A2) + (U / b) * (A1 * B1 * z1 + A2 * B2 * z2)
    pi_rho_b2 = jnp.pi * rho * b * b
    lift = 2.0 * jnp.pi * rho * U * b * w_eff + pi_rho_b2 * (kin.hdd + U * kin.ad - b * a * kin.add)
    moment = pi_rho_b2 * (b * a * kin.hdd - U * b * (0.5 - a) * kin.ad - b * b * (0.125 + a * a) * kin.add)
    moment = moment + 2.0 * jnp.pi * rho * U * b * b * (a + 0.5) * w_eff
    suction = 0.5 * jnp.sqrt(2.0) * (2.0 * w_eff - b * kin.ad)
    thrust = jnp.pi * rho * b * suction * suction - lift * kin.a
    power = lift * kin.hd - moment * kin.ad
    return Loads(lift, moment, thrust, power, w_eff)


def steady_lag_states(theta: jax.Array, params: PlateParams) -> tuple[jax.Array, jax.Array]:
    """Lag states on the periodic orbit of the unactuated motion, at phase ``theta``."""
    b, U, a = params.half_chord, params.speed, params.pivot
    omega = 2.0 * jnp.pi * params.frequency
    H, P, psi = params.heave_amp, params.pitch_amp, params.pitch_phase
    kap = b * (0.5 - a)
    # Q(theta) = qa cos(theta) + qb sin(theta)
    qa = H * omega + U * P * jnp.sin(psi) + kap * P * omega * jnp.cos(psi)
    qb = U * P * jnp.cos(psi) - kap * P * omega * jnp.sin(psi)
    out = []
    for beta in WAGNER_BETA:
        lam = beta * U / b
        den = lam * lam + omega * omega
        cc, cs = (qa * lam - omega * qb) / den, (qb * lam + omega * qa) / den
        out.append(cc * jnp.cos(theta) + cs * jnp.sin(theta))
    return out[0], out[1]


class FinPlate(Environment):
    """Rigid flapping plate; ``objective`` in ``thrust | efficiency | mixed | lateral`` (static)."""

    def __init__(self, objective: str = "thrust", num_substeps: int = 4):
        self.objective = common.check_objective(objective)
        if int(num_substeps) < 1:
            raise ValueError(f"num_substeps must be >= 1, got {num_substeps}")
        self.num_substeps = int(num_substeps)

    def __repr__(self) -> str:
        return f"FinPlate(objective={self.objective!r}, num_substeps={self.num_substeps})"

    @property
    def name(self) -> str:
        return f"FinPlate-{common.ID_NAMES[self.objective]}"

    @property
    def default_params(self) -> PlateParams:
        return PlateParams()

    def observation_space(self, params: PlateParams) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (OBS_DIM,), jnp.float32)

    def action_space(self, params: PlateParams) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)

    def render(self, state: PlateState, params: PlateParams) -> np.ndarray:
        """``[H, W, 3]`` uint8 frame (host-side; :mod:`jaxrl.envs.finray.render`)."""
        from jaxrl.envs.finray import render

        return render.render_plate(self, state, params)

    # ------------------------------------------------------------------ dynamics
    def reset_env(self, key: jax.Array, params: PlateParams) -> tuple[jax.Array, PlateState]:
        theta = 2.0 * jnp.pi * params.random_phase * jax.random.uniform(key, ())
        z1, z2 = steady_lag_states(theta, params)
        f0 = jnp.zeros((), jnp.float32)
        state = PlateState(theta, z1, z2, f0, f0, common.cycle_init(), jnp.zeros(3, jnp.float32), jnp.int32(0))
        return self._obs(state, params), state

    def step_env(self, key: jax.Array, state: PlateState, action: jax.Array, params: PlateParams) -> Step:
        check_action(self, action, params)
        u = jnp.clip(jnp.asarray(action, jnp.float32)[0], -1.0, 1.0)
        omega, dt_ctrl, dt, half_rot, (cpsi, spsi), act_half = common.control_timing(params, self.num_substeps)
        target = params.delta_max * u
        b, U, rho = params.half_chord, params.speed, params.density
        q_ref = rho * U * U * b  # 1/2 rho U^2 (2b)

        def rhs(y: _Ode, c, s, delta, delta_dot) -> _Ode:
            kin = common.kinematics(c, s, params, omega, cpsi, spsi)
            dd = common.actuator_accel(delta, delta_dot, target, params)
            kin = kin._replace(a=kin.a + delta, ad=kin.ad + delta_dot, add=kin.add + dd)
            ld = plate_loads(kin, y.z1, y.z2, params)
            q = U * kin.a + kin.hd + b * (0.5 - params.pivot) * kin.ad
            lam = U / b
            cy = ld.lift / q_ref
            return _Ode(
                -WAGNER_BETA[0] * lam * y.z1 + q,
                -WAGNER_BETA[1] * lam * y.z2 + q,
                ld.thrust / q_ref,
                ld.power / (q_ref * U),
                cy,
                cy * cy,
            )

        zero = jnp.zeros_like(state.z1)
        y0 = _Ode(state.z1, state.z2, zero, zero, zero, zero)
        c0, s0 = jnp.cos(state.theta), jnp.sin(state.theta)
        act0 = (state.delta, state.delta_dot)
        y, delta, delta_dot = common.rk4_substeps(
            rhs, y0, act0, target, c0, s0, dt, half_rot, act_half, self.num_substeps
        )
        step = state.step + 1
        out = common.interval_outcome(y, delta, state.cycle, step, dt_ctrl, params, self.objective)
        new = PlateState(state.theta + omega * dt_ctrl, y.z1, y.z2, delta, delta_dot, out.cycle, out.coefs, step)
        return Step(self._obs(new, params), new, out.reward, jnp.bool_(False), out.truncated, out.info)

    def _obs(self, state: PlateState, params: PlateParams) -> jax.Array:
        omega = 2.0 * jnp.pi * params.frequency
        c, s = jnp.cos(state.theta), jnp.sin(state.theta)
        kin = common.kinematics(c, s, params, omega, jnp.cos(params.pitch_phase), jnp.sin(params.pitch_phase))
        b, U, dm = params.half_chord, params.speed, params.delta_max
        obs = [
            s,
            c,
            kin.h / b,
            kin.hd / U,
            kin.a + state.delta,
            (kin.ad + state.delta_dot) / omega,
            state.delta / dm,
            state.delta_dot / (omega * dm),
            WAGNER_BETA[0] * state.z1 / b,
            WAGNER_BETA[1] * state.z2 / b,
            *state.last,
            *common.cycle_obs(state.cycle, params),
        ]
        return jnp.stack([jnp.asarray(o, jnp.float32) for o in obs])
