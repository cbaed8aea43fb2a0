"""Tier 2: a flexible fin ray as a modal Euler-Bernoulli beam with strip-theory loads.

The ray lies along the flow (``0 <= x <= l``, base at ``x = 0``, free trailing edge at
``x = l``) and deflects laterally by ``w(x, t) = h0(t) + x theta0(t) + v(x, t)``: the
prescribed base plunge/pitch of :mod:`.common` plus the elastic deflection ``v`` with
``v(0) = v'(0) = 0``. Beam and loads per unit length::

    EI (w'' - kappa_a)'' + m_s w_tt = f
    f = -m_a (d/dt + U d/dx)^2 w - 1/2 rho C_D s |v_n| v_n,   v_n = w_t + U w_x,   m_a = pi rho s^2 / 4

Actuation, ``actuation=`` (static):

* ``"uniform"``: an *active curvature* ``kappa_a = k_delta delta / l`` in the constitutive
  law ``M = EI (w'' - kappa_a)``: unloaded, the ray takes the shape ``kappa_a x^2 / 2``
  (tip rotation ``k_delta delta``). A concentrated moment at a clamped root would do
  nothing, which is why the offset acts through the curvature.
* ``"bilaminar"`` (the registered ids): two inextensible hemitrichs a distance ``d`` apart
  joined by a shear-compliant interlayer (shear stiffness ``k`` per unit length), the
  reduced bilaminar model of Alben, Madden & Lauder (2007). A root offset ``Delta`` of
  one hemitrich against the other shears the interlayer by ``Delta - d v'(x)``, so the
  elastic energy is ``1/2 int EI v''^2 + 1/2 int k (Delta - d v')^2``. With
  ``delta = k_delta Delta / d`` (the rotation a rigid interlayer would give) and
  ``lambda^2 = k d^2 / EI`` (``interlayer_shear = lambda l``), the unloaded static slope
  solves ``(v')'' = lambda^2 (v' - delta)``, ``v'(0) = 0``, ``v''(l) = 0``:
  ``v'(x) = delta (1 - cosh(lambda (l - x)) / cosh(lambda l))``, curvature concentrated at
  the base as Alben et al. measured. In the Galerkin model it adds the stiffness
  ``EI lambda^2 int Phi_n' Phi_m'`` (the interlayer stiffening of an actuated ray) and the
  force ``EI lambda^2 delta Phi_n(l)``.

Galerkin reduction onto ``N`` cantilever modes ``phi_n(x/l)`` (``N`` static, default 3)
gives ``M q'' + (C_s + 2 m_a U G) q' + (K_s [+ K_i] + m_a U^2 H / l) q = F(base motion, delta, drag)``
with matrices from Gauss-Legendre quadrature; structural damping ``2 zeta Omega_n``
per in-vacuo mode. The circulatory (Wagner) lift of the strips is neglected: in
elongated-body theory the reactive added-mass load dominates.

Thrust and power follow Lighthill at the trailing edge, ``W = w_t + U w_x``::

    T = m_a (W w_t - W^2 / 2),   P = m_a U W w_t - int d(x) w_t dx   (d: the drag load)

so that ``<T> = m_a/2 (<w_t^2> - U^2 <w_x^2>)`` and, without drag,
``eta = 1 - <W^2> / (2 <W w_t>)``. Coefficients use ``q = 1/2 rho U^2 s l``; the
lateral force is ``Y = int f dx``. Episodes start on the periodic orbit of the linear
(drag-free) unactuated response at a random phase.

Observation ``[16 + 2N]``: ``sin theta, cos theta, h0/l, h0'/(omega l), theta0, delta/delta_max,
delta'/(omega delta_max), q/l [N], q'/(omega l) [N], w(l)/l``, the last interval's
``C_T, C_P, C_Y`` and the efficiency references of :func:`.common.cycle_obs`.
"""

from __future__ import annotations

from functools import cached_property
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl import spaces
from jaxrl.env import Environment, Step, check_action
from jaxrl.envs.finray import calibration as cal
from jaxrl.envs.finray import common

# --------------------------------------------------------------------------- cantilever modes (NumPy, float64)


def cantilever_roots(n: int) -> np.ndarray:
    """First ``n`` roots ``beta_n l`` of ``cos(b) cosh(b) + 1 = 0`` (1.8751, 4.6941, 7.8548, ...)."""
    roots = []
    for i in range(1, n + 1):
        lo, hi = (i - 0.5) * np.pi - 0.5, (i - 0.5) * np.pi + 0.5
        g = lambda b: np.cos(b) + 1.0 / np.cosh(b)  # noqa: E731  same roots, no overflow
        glo = g(lo)
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if np.sign(g(mid)) == np.sign(glo):
                lo, glo = mid, g(mid)
            else:
                hi = mid
        roots.append(0.5 * (lo + hi))
    return np.array(roots)


def cantilever_modes(xi: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mode shapes on ``[0, 1]`` and their first two derivatives at ``xi``: three ``[len(xi), n]`` arrays.

    ``Phi_n = cosh(b xi) - cos(b xi) - s_n (sinh(b xi) - sin(b xi))``, normalised to
    ``int_0^1 Phi_n^2 = 1`` (tip value ``2 (-1)^(n+1)``).
    """
    beta = cantilever_roots(n)
    x = np.asarray(xi, np.float64)[:, None] * beta[None, :]
    s = (np.cosh(beta) + np.cos(beta)) / (np.sinh(beta) + np.sin(beta))
    phi = np.cosh(x) - np.cos(x) - s * (np.sinh(x) - np.sin(x))
    d1 = beta * (np.sinh(x) + np.sin(x) - s * (np.cosh(x) - np.cos(x)))
    d2 = beta**2 * (np.cosh(x) + np.cos(x) - s * (np.sinh(x) + np.sin(x)))
    return phi, d1, d2


class ModalMatrices(NamedTuple):
    """Dimensionless Galerkin matrices on ``[0, 1]`` (NumPy float64; ``N`` modes, ``J`` drag points)."""

    mass: np.ndarray  # [N, N] int Phi_n Phi_m
    stiffness: np.ndarray  # [N, N] int Phi_n'' Phi_m''
    gyro: np.ndarray  # [N, N] int Phi_n Phi_m'
    flow_stiff: np.ndarray  # [N, N] int Phi_n Phi_m''
    mean: np.ndarray  # [N] int Phi_n
    moment: np.ndarray  # [N] int xi Phi_n
    tip: np.ndarray  # [N] Phi_n(1)
    tip_slope: np.ndarray  # [N] Phi_n'(1)
    drag_xi: np.ndarray  # [J] quadrature points
    drag_w: np.ndarray  # [J] weights
    drag_phi: np.ndarray  # [J, N]
    drag_dphi: np.ndarray  # [J, N]
    slope_gram: np.ndarray  # [N, N] int Phi_n' Phi_m' (interlayer shear stiffness)


def modal_matrices(n_modes: int, n_drag: int = 8, n_quad: int = 64) -> ModalMatrices:
    xq, wq = np.polynomial.legendre.leggauss(n_quad)
    xq, wq = 0.5 * (xq + 1.0), 0.5 * wq
    p, d1, d2 = cantilever_modes(xq, n_modes)
    w = wq[:, None]
    tip, tip_d1, _ = cantilever_modes(np.array([1.0]), n_modes)
    xd, wd = np.polynomial.legendre.leggauss(n_drag)
    xd, wd = 0.5 * (xd + 1.0), 0.5 * wd
    pd, dd, _ = cantilever_modes(xd, n_modes)
    return ModalMatrices(
        mass=p.T @ (w * p),
        stiffness=d2.T @ (w * d2),
        gyro=p.T @ (w * d1),
        flow_stiff=p.T @ (w * d2),
        mean=p.T @ wq,
        moment=p.T @ (wq * xq),
        tip=tip[0],
        tip_slope=tip_d1[0],
        drag_xi=xd,
        drag_w=wd,
        drag_phi=pd,
        drag_dphi=dd,
        slope_gram=d1.T @ (w * d1),
    )


# --------------------------------------------------------------------------- environment
_CAL = cal.ray_defaults(
    depth=0.3, density=1.0, length=1.0, speed=1.0,
    first_eig=float(np.linalg.eigvalsh(
        (lambda m: m.stiffness + cal.INTERLAYER_SHEAR**2 * m.slope_gram)(modal_matrices(3))
    )[0]),
)


@struct.dataclass
class RayParams:
    """Physical and episode parameters (all traced). SI-like units with ``rho = U = l = 1`` by default.

    Defaults are calibrated to the reference study's groups (:mod:`.calibration` cites each
    source and labels inferred values): ``f l / U = 0.42`` (bluegill fin-beat frequency at
    1 TL/s, Gibb et al. 1994; ray length 0.2 TL inferred); rigid trailing-edge Strouhal
    number 0.30 (efficient-swimming band; the study's value was not found) from heave
    ``0.25 l`` and pitch ``0.255 rad`` leading by 90 deg (inferred); mass ratio
    ``m_s / m_a = 0.4`` (inferred); first wet natural frequency of the 3-mode bilaminar
    ray (interlayer ``lambda l = 5``, curvature concentrated at the base as Alben et al.
    2007 measured) at ``f / f_1 = 0.32`` (labrid ray stiffness range, Aiello et al. 2018;
    inferred), which sets ``EI``. With ``actuation="uniform"`` there is no interlayer term
    and the same ``EI`` gives a lower ``f_1``. Not representable: the Reynolds number
    (the resistive ``C_D`` load is its only trace) and the 2-D section flow of the study
    (strip theory with depth ``s``). Concrete values outside their physical range
    (``stiffness``, ``mass_per_length``, ``density``, ``length``, ``depth``,
    ``frequency`` <= 0, negative damping or amplitudes) raise :class:`jaxrl.errors.UserError`.
    """

    length: float = 1.0  # l [m]
    depth: float = 0.3  # s: fin depth of each strip [m] (added mass pi rho s^2 / 4)
    speed: float = 1.0  # U [m/s]
    density: float = 1.0  # rho [kg/m^3]
    stiffness: float = _CAL.stiffness  # EI [N m^2]: f / f_1 = 0.32 (bilaminar, 3 modes)
    mass_per_length: float = _CAL.mass_per_length  # m_s [kg/m]: m_s / m_a = 0.4
    damping: float = 0.05  # zeta: structural damping ratio of every in-vacuo mode (inferred)
    drag_coef: float = 1.0  # C_D of the resistive (normal-velocity) load (inferred)
    frequency: float = cal.REDUCED_FREQ_L  # f [Hz] of the prescribed base motion: f l / U = 0.42
    heave_amp: float = cal.HEAVE_OVER_L  # H [m] base plunge (inferred)
    pitch_amp: float = cal.PITCH_AMP  # Theta [rad] base pitch: St = 0.30 with H
    pitch_phase: float = cal.PITCH_PHASE  # psi [rad] (inferred)
    offset_gain: float = 1.0  # k_delta: unloaded tip rotation per unit offset (rigid interlayer if bilaminar)
    delta_max: float = 0.3  # offset at |u| = 1 [rad] (inferred)
    interlayer_shear: float = cal.INTERLAYER_SHEAR  # lambda l of the bilaminar interlayer (inferred)
    act_omega: float = cal.BEAT_TO_ACTUATOR * 2.0 * 3.14159265 * cal.REDUCED_FREQ_L  # about twice the beat
    act_zeta: float = 1.0
    steps_per_cycle: float = 20.0
    max_steps: int = 200
    random_phase: float = 1.0
    power_weight: float = 0.1
    lateral_weight: float = 0.02
    power_floor: float = 0.05

    def __post_init__(self):
        cal.check_params(self, "RayParams")


@struct.dataclass
class RayState:
    theta: jax.Array  # [] phase of the prescribed motion
    q: jax.Array  # [N] modal amplitudes [m]
    qd: jax.Array  # [N]
    delta: jax.Array  # []
    delta_dot: jax.Array
    cycle: common.CycleStats
    last: jax.Array  # [3] last interval's mean C_T, C_P, C_Y
    step: jax.Array  # [] int32


class _Ode(NamedTuple):
    q: jax.Array
    qd: jax.Array
    i_t: jax.Array
    i_p: jax.Array
    i_y: jax.Array
    i_y2: jax.Array


class RayOperators(NamedTuple):
    """Dimensional linear operators of one parameter set: ``M q'' + C q' + K q = F``."""

    mass_total: jax.Array  # [] (m_s + m_a) l; M = mass_total * mass
    damping: jax.Array  # [N, N]
    stiff: jax.Array  # [N, N]
    added_mass: jax.Array  # [] m_a


ACTUATIONS = ("uniform", "bilaminar")


class FinRay(Environment):
    """Flexible fin ray; ``objective`` and ``n_modes`` / ``num_substeps`` are static.

    RK4 is explicit: keep ``Omega_N dt`` below about 1.5, where ``Omega_N`` is the
    highest wet modal frequency (see :meth:`max_omega_dt`).
    """

    def __init__(self, objective: str = "thrust", n_modes: int = 3, num_substeps: int = 8,
                 actuation: str = "uniform"):
        self.objective = common.check_objective(objective)
        if actuation not in ACTUATIONS:
            raise ValueError(f"actuation must be one of {ACTUATIONS}, got {actuation!r}")
        self.actuation = actuation
        if not 1 <= int(n_modes) <= 6:
            raise ValueError(f"n_modes must be in 1..6, got {n_modes}")
        if int(num_substeps) < 1:
            raise ValueError(f"num_substeps must be >= 1, got {num_substeps}")
        self.n_modes, self.num_substeps = int(n_modes), int(num_substeps)

    def __repr__(self) -> str:
        return (f"FinRay(objective={self.objective!r}, n_modes={self.n_modes}, num_substeps={self.num_substeps}, "
                f"actuation={self.actuation!r})")

    @property
    def name(self) -> str:
        return f"FinRay-{common.ID_NAMES[self.objective]}"

    @cached_property
    def matrices(self) -> ModalMatrices:
        return modal_matrices(self.n_modes)

    @cached_property
    def mass_inverse(self) -> np.ndarray:
        return np.linalg.inv(self.matrices.mass)

    @property
    def default_params(self) -> RayParams:
        return RayParams()

    def observation_space(self, params: RayParams) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (16 + 2 * self.n_modes,), jnp.float32)

    def action_space(self, params: RayParams) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)

    def render(self, state: RayState, params: RayParams) -> np.ndarray:
        """``[H, W, 3]`` uint8 frame (host-side; :mod:`jaxrl.envs.finray.render`)."""
        from jaxrl.envs.finray import render

        return render.render_ray(self, state, params)

    # ------------------------------------------------------------------ linear operators
    def elastic_stiffness(self, params: RayParams) -> jax.Array:
        """Dimensionless elastic stiffness ``[N, N]`` on the unit cantilever (times ``EI / l^3``)."""
        k = jnp.asarray(self.matrices.stiffness, jnp.float32)
        if self.actuation == "bilaminar":
            k = k + params.interlayer_shear**2 * jnp.asarray(self.matrices.slope_gram, jnp.float32)
        return k

    def actuation_load(self, params: RayParams) -> jax.Array:
        """Generalised force ``[N]`` per unit offset ``delta`` [rad] (times ``EI / l^2``)."""
        mm = self.matrices
        if self.actuation == "bilaminar":
            return params.interlayer_shear**2 * params.offset_gain * jnp.asarray(mm.tip, jnp.float32)
        return params.offset_gain * jnp.asarray(mm.tip_slope, jnp.float32)

    def operators(self, params: RayParams) -> RayOperators:
        mm, f32 = self.matrices, lambda x: jnp.asarray(x, jnp.float32)
        ell, U, EI, ms = params.length, params.speed, params.stiffness, params.mass_per_length
        m_a = jnp.pi * params.density * params.depth**2 / 4.0
        omega_vac = jnp.sqrt(EI / (ms * ell**4) * f32(np.diag(mm.stiffness)))  # [N]
        c_struct = jnp.diag(2.0 * params.damping * omega_vac * ms * ell)
        damping = c_struct + 2.0 * m_a * U * f32(mm.gyro)
        stiff = EI / ell**3 * self.elastic_stiffness(params) + m_a * U * U / ell * f32(mm.flow_stiff)
        return RayOperators((ms + m_a) * ell, damping, stiff, m_a)

    def modal_frequencies(self, params: RayParams) -> jax.Array:
        """Undamped modal frequencies [rad/s] in still fluid (structure plus added mass, no flow), ascending."""
        mm = self.matrices
        ell, EI, ms = params.length, params.stiffness, params.mass_per_length
        m_a = jnp.pi * params.density * params.depth**2 / 4.0
        k = EI / ell**3 * self.elastic_stiffness(params)
        m = (ms + m_a) * ell * jnp.asarray(mm.mass, jnp.float32)
        lam = jnp.linalg.eigvals(jnp.linalg.solve(m, k)).real
        return jnp.sqrt(jnp.sort(lam))

    def max_omega_dt(self, params: RayParams) -> jax.Array:
        """Highest wet modal frequency times the RK4 substep, ``Omega_N dt``.

        RK4 is stable up to about 2.8 on the imaginary axis; keep this below about 1.5 for
        accuracy (raise ``num_substeps`` for stiffer, lighter or slower-beating fins).
        """
        omega = 2.0 * jnp.pi * params.frequency
        dt = 2.0 * jnp.pi / (omega * params.steps_per_cycle) / self.num_substeps
        return self.modal_frequencies(params)[-1] * dt

    # ------------------------------------------------------------------ dynamics
    def _forces(self, y: _Ode, c, s, delta, params, ops: RayOperators, kin_args):
        """``q''``, thrust, power and lateral force at one instant."""
        mm, f32 = self.matrices, lambda x: jnp.asarray(x, jnp.float32)
        ell, U = params.length, params.speed
        kin = common.kinematics(c, s, params, *kin_args)
        m_a = ops.added_mass
        # resistive load at the drag quadrature points
        xj = f32(mm.drag_xi) * ell
        w_t = kin.hd + xj * kin.ad + f32(mm.drag_phi) @ y.qd  # [J]
        w_x = kin.a + f32(mm.drag_dphi) @ y.q / ell
        v_n = w_t + U * w_x
        d = -0.5 * params.density * params.drag_coef * params.depth * jnp.abs(v_n) * v_n  # [J]
        wd = f32(mm.drag_w) * ell
        mt = ops.mass_total
        force = (
            -ops.damping @ y.qd
            - ops.stiff @ y.q
            - mt * (kin.hdd * ell * f32(mm.mean) + kin.add * ell * ell * f32(mm.moment))
            - 2.0 * m_a * U * kin.ad * ell * f32(mm.mean)
            + params.stiffness * delta / (ell * ell) * self.actuation_load(params)
            + f32(mm.drag_phi).T @ (wd * d)
        )
        qdd = f32(self.mass_inverse) @ force / mt
        # trailing edge (Lighthill)
        wt_tip = kin.hd + ell * kin.ad + f32(mm.tip) @ y.qd
        wx_tip = kin.a + f32(mm.tip_slope) @ y.q / ell
        W = wt_tip + U * wx_tip
        thrust = m_a * (W * wt_tip - 0.5 * W * W)
        power = m_a * U * W * wt_tip - jnp.sum(wd * d * w_t)
        # lateral force: int f dx
        acc_int = ell * kin.hdd + 0.5 * ell * ell * kin.add + ell * f32(mm.mean) @ qdd
        conv = 2.0 * U * (wt_tip - kin.hd) + U * U * (wx_tip - kin.a)
        lateral = -m_a * (acc_int + conv) + jnp.sum(wd * d)
        return qdd, thrust, power, lateral

    def _steady_modes(self, theta: jax.Array, params: RayParams) -> tuple[jax.Array, jax.Array]:
        """Linear, drag-free periodic response ``(q, q')`` to the unactuated base motion at phase ``theta``."""
        mm, f32 = self.matrices, lambda x: jnp.asarray(x, jnp.float32)
        ops = self.operators(params)
        ell, U, m_a, mt = params.length, params.speed, ops.added_mass, ops.mass_total
        omega = 2.0 * jnp.pi * params.frequency
        H, P, psi = params.heave_amp, params.pitch_amp, params.pitch_phase
        a, b = f32(mm.mean), f32(mm.moment)
        w2 = omega * omega
        gyro = 2.0 * m_a * U * ell * a * P * omega
        f_s = mt * ell * (a * H * w2 + ell * b * P * w2 * jnp.cos(psi)) + gyro * jnp.sin(psi)
        f_c = mt * ell * ell * b * P * w2 * jnp.sin(psi) - gyro * jnp.cos(psi)
        kd = ops.stiff - w2 * mt * f32(mm.mass)
        wc = omega * ops.damping
        system = jnp.block([[kd, wc], [-wc, kd]])
        sol = jnp.linalg.solve(system, jnp.concatenate([f_c, f_s]))
        qc, qs = sol[: self.n_modes], sol[self.n_modes :]
        c, s = jnp.cos(theta), jnp.sin(theta)
        return qc * c + qs * s, omega * (qs * c - qc * s)

    def reset_env(self, key: jax.Array, params: RayParams) -> tuple[jax.Array, RayState]:
        theta = 2.0 * jnp.pi * params.random_phase * jax.random.uniform(key, ())
        q, qd = self._steady_modes(theta, params)
        f0 = jnp.zeros((), jnp.float32)
        state = RayState(theta, q, qd, f0, f0, common.cycle_init(), jnp.zeros(3, jnp.float32), jnp.int32(0))
        return self._obs(state, params), state

    def step_env(self, key: jax.Array, state: RayState, action: jax.Array, params: RayParams) -> Step:
        check_action(self, action, params)
        u = jnp.clip(jnp.asarray(action, jnp.float32)[0], -1.0, 1.0)
        omega, dt_ctrl, dt, half_rot, (cpsi, spsi), act_half = common.control_timing(params, self.num_substeps)
        target = params.delta_max * u
        ops = self.operators(params)
        q_ref = 0.5 * params.density * params.speed**2 * params.depth * params.length

        def rhs(y: _Ode, c, s, delta, delta_dot) -> _Ode:
            qdd, thrust, power, lateral = self._forces(y, c, s, delta, params, ops, (omega, cpsi, spsi))
            cy = lateral / q_ref
            return _Ode(y.qd, qdd, thrust / q_ref, power / (q_ref * params.speed), cy, cy * cy)

        zero = jnp.zeros_like(state.delta)
        y0 = _Ode(state.q, state.qd, zero, zero, zero, zero)
        c0, s0 = jnp.cos(state.theta), jnp.sin(state.theta)
        act0 = (state.delta, state.delta_dot)
        y, delta, delta_dot = common.rk4_substeps(
            rhs, y0, act0, target, c0, s0, dt, half_rot, act_half, self.num_substeps
        )
        step = state.step + 1
        out = common.interval_outcome(y, delta, state.cycle, step, dt_ctrl, params, self.objective)
        new = RayState(state.theta + omega * dt_ctrl, y.q, y.qd, delta, delta_dot, out.cycle, out.coefs, step)
        return Step(self._obs(new, params), new, out.reward, jnp.bool_(False), out.truncated, out.info)

    def trailing_edge(self, state: RayState, params: RayParams) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Trailing-edge lateral position, velocity and slope ``(w, w_t, w_x)`` at ``x = l``."""
        mm, f32 = self.matrices, lambda x: jnp.asarray(x, jnp.float32)
        omega = 2.0 * jnp.pi * params.frequency
        c, s = jnp.cos(state.theta), jnp.sin(state.theta)
        kin = common.kinematics(c, s, params, omega, jnp.cos(params.pitch_phase), jnp.sin(params.pitch_phase))
        ell = params.length
        w = kin.h + ell * kin.a + f32(mm.tip) @ state.q
        w_t = kin.hd + ell * kin.ad + f32(mm.tip) @ state.qd
        w_x = kin.a + f32(mm.tip_slope) @ state.q / ell
        return w, w_t, w_x

    def _obs(self, state: RayState, params: RayParams) -> jax.Array:
        omega = 2.0 * jnp.pi * params.frequency
        c, s = jnp.cos(state.theta), jnp.sin(state.theta)
        kin = common.kinematics(c, s, params, omega, jnp.cos(params.pitch_phase), jnp.sin(params.pitch_phase))
        ell, dm = params.length, params.delta_max
        tip = self.trailing_edge(state, params)[0]
        head = [s, c, kin.h / ell, kin.hd / (omega * ell), kin.a, state.delta / dm, state.delta_dot / (omega * dm)]
        head = jnp.stack(head)
        tail = jnp.stack([tip / ell, *state.last, *common.cycle_obs(state.cycle, params)])
        return jnp.concatenate([head, state.q / ell, state.qd / (omega * ell), tail]).astype(jnp.float32)
