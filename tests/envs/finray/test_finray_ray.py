"""Tier 2 (FinRay): cantilever modes, free vibration, active curvature, Lighthill thrust, robustness."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.envs.finray import FinRay, RayParams
from jaxrl.envs.finray.common import open_loop
from jaxrl.envs.finray.ray import cantilever_modes, cantilever_roots, modal_matrices

# Tabulated cantilever eigenvalues beta_n l (e.g. Blevins, Formulas for Natural Frequency and Mode Shape).
BETA = np.array([1.875104, 4.694091, 7.854757, 10.995541])
VACUUM = dict(density=1e-8, heave_amp=0.0, pitch_amp=0.0, random_phase=0.0)  # negligible fluid, no base motion
OLD = dict(stiffness=1.2, mass_per_length=0.1, frequency=1.0, act_omega=12.0)  # the oracles below use these
T = 200


@pytest.fixture(scope="module")
def env() -> FinRay:
    return FinRay("thrust")


@pytest.fixture(scope="module")
def batched(env):
    """``run(params[4], state[4], actions[4, T, 1]) -> (infos, states)``: one compile for the batched tests."""

    def one(params, state, actions):
        _, infos, states = open_loop(env, params, state, actions)
        tip = jax.vmap(env.trailing_edge, in_axes=(0, None))(states, params)
        return infos, states, tip

    return jax.jit(jax.vmap(one))


@pytest.fixture(scope="module")
def cases(env, batched):
    """Four runs at once: two plucks in vacuum, a static offset in vacuum, the default fin without drag."""
    params = [
        RayParams(damping=0.0, **VACUUM, **OLD),
        RayParams(damping=0.0, **VACUUM, **{**OLD, "stiffness": 2.4}),
        RayParams(damping=1.0, **VACUUM, **OLD),
        RayParams(drag_coef=0.0, random_phase=0.0, **OLD),
    ]
    states = [env.reset_env(jax.random.PRNGKey(0), p)[1] for p in params]
    pluck = jnp.array([0.01, 0.0, 0.0], jnp.float32)
    states[0] = states[0].replace(q=pluck)
    states[1] = states[1].replace(q=pluck)
    actions = np.zeros((4, T, 1), np.float32)
    actions[2] = 1.0  # constant full offset
    stack = lambda xs: jax.tree.map(lambda *x: jnp.stack([jnp.asarray(v) for v in x]), *xs)  # noqa: E731
    out = jax.device_get(batched(stack(params), stack(states), jnp.asarray(actions)))
    return params, out


def test_cantilever_roots_and_mode_shapes():
    np.testing.assert_allclose(cantilever_roots(4), BETA, rtol=1e-6)
    xi = np.linspace(0, 1, 2001)
    phi, d1, d2 = cantilever_modes(xi, 4)
    np.testing.assert_allclose(phi[0], 0.0, atol=1e-9)  # clamped root: w = w' = 0
    np.testing.assert_allclose(d1[0], 0.0, atol=1e-9)
    np.testing.assert_allclose(d2[-1], 0.0, atol=1e-6)  # free tip: no moment ...
    d3 = np.gradient(d2, xi, axis=0)
    assert np.max(np.abs(d3[-1])) < 1e-2 * np.max(np.abs(d3))  # ... and no shear
    np.testing.assert_allclose(phi[-1], [2.0, -2.0, 2.0, -2.0], rtol=1e-6)
    # Euler-Bernoulli: Phi'''' = beta^4 Phi (checked through Phi'' twice differentiated numerically)
    d4 = np.gradient(np.gradient(d2, xi, axis=0), xi, axis=0)
    inner = slice(50, -50)
    np.testing.assert_allclose(d4[inner], BETA**4 * phi[inner], atol=2e-3 * np.max(np.abs(BETA**4 * phi)))


def test_galerkin_matrices():
    m = modal_matrices(4)
    np.testing.assert_allclose(m.mass, np.eye(4), atol=1e-10)
    np.testing.assert_allclose(m.stiffness, np.diag(BETA**4), rtol=1e-5, atol=1e-6)
    # integration by parts: int Phi_n Phi_m' + int Phi_n' Phi_m = Phi_n(1) Phi_m(1)
    np.testing.assert_allclose(m.gyro + m.gyro.T, np.outer(m.tip, m.tip), atol=1e-9)


def test_modal_frequencies_match_cantilever_eigenvalues():
    env4 = FinRay("thrust", n_modes=4, num_substeps=16)
    p = RayParams(density=1e-8, stiffness=2.0, mass_per_length=0.3, length=0.7)
    expect = BETA**2 * np.sqrt(2.0 / (0.3 * 0.7**4))
    np.testing.assert_allclose(np.asarray(env4.modal_frequencies(p)), expect, rtol=1e-4)
    # in water the added mass pi rho s^2 / 4 lowers every frequency by sqrt(m_s / (m_s + m_a))
    wet = RayParams(stiffness=2.0, mass_per_length=0.3, length=0.7)
    m_a = np.pi * 0.3**2 / 4
    np.testing.assert_allclose(np.asarray(env4.modal_frequencies(wet)), expect * np.sqrt(0.3 / (0.3 + m_a)), rtol=1e-4)


def _frequency_from_zero_crossings(x: np.ndarray, dt: float) -> float:
    s = np.signbit(x)
    idx = np.nonzero(s[1:] != s[:-1])[0]
    t = (idx + x[idx] / (x[idx] - x[idx + 1])) * dt  # linear interpolation of each crossing
    return np.pi / np.mean(np.diff(t))


def test_free_vibration_in_the_simulation_has_the_first_cantilever_frequency(cases):
    params, (infos, states, tip) = cases
    dt = 1.0 / (params[0].frequency * params[0].steps_per_cycle)
    for i, ei in ((0, 1.2), (1, 2.4)):
        omega = _frequency_from_zero_crossings(tip[0][i], dt)
        expect = BETA[0] ** 2 * np.sqrt(ei / 0.1)
        np.testing.assert_allclose(omega, expect, rtol=3e-3)
        amp = np.hypot(tip[0][i], tip[1][i] / expect)  # envelope of an undamped oscillator: constant
        np.testing.assert_allclose(amp, amp[0], rtol=2e-3)


def test_active_curvature_bends_the_ray_into_a_parabola(cases):
    """Unloaded, a constant offset gives w = k_delta delta x^2 / (2 l): tip k_delta delta l / 2."""
    params, (infos, states, tip) = cases
    p = params[2]
    exact = p.offset_gain * p.delta_max * p.length / 2.0
    w_end = tip[0][2][-1]
    m = modal_matrices(3)
    galerkin = m.tip @ np.linalg.solve(m.stiffness, m.tip_slope) * p.offset_gain * p.delta_max * p.length
    np.testing.assert_allclose(w_end, galerkin, rtol=1e-3)  # the simulation settles to the 3-mode solution
    np.testing.assert_allclose(w_end, exact, rtol=0.02)  # which is within 2% of the exact shape
    np.testing.assert_allclose(states.delta[2][-1], p.delta_max, rtol=1e-4)


def test_lighthill_thrust_and_efficiency(cases):
    """Without drag, per-step thrust/power integrate to Lighthill's cycle averages at the trailing edge."""
    params, (infos, states, (w, w_t, w_x)) = cases
    p = params[3]
    sl = slice(T - 100, T)  # five cycles, sampled 20 times each (exact for the periodic response)
    wt, wx = w_t[3][sl], w_x[3][sl]
    W = wt + p.speed * wx
    m_a = np.pi * p.density * p.depth**2 / 4
    q_ref = 0.5 * p.density * p.speed**2 * p.depth * p.length
    ct_lighthill = 0.5 * m_a * (np.mean(wt**2) - p.speed**2 * np.mean(wx**2)) / q_ref
    eta_lighthill = 1.0 - 0.5 * np.mean(W**2) / np.mean(W * wt)
    ct, cp = infos["thrust_coef"][3][sl].mean(), infos["power_coef"][3][sl].mean()
    np.testing.assert_allclose(ct, ct_lighthill, rtol=1e-3)
    np.testing.assert_allclose(ct / cp, eta_lighthill, rtol=1e-3)
    assert 0.3 < ct / cp < 1.0 and ct > 0.1


def test_default_fins_are_stable_and_resolved():
    for eid in ("FinRay-Thrust-v1", "FinRay-Lateral-v1"):
        env, p = jaxrl.make(eid)
        assert float(env.max_omega_dt(p)) < 1.5
        ops = env.operators(p)
        n = env.n_modes
        m = np.asarray(ops.mass_total) * env.matrices.mass
        a = np.block(
            [[np.zeros((n, n)), np.eye(n)], [-np.linalg.solve(m, ops.stiff), -np.linalg.solve(m, ops.damping)]]
        )
        assert np.max(np.linalg.eigvals(a).real) < 0  # no flutter at the default flow speed


def _series(num_substeps: int, actions) -> np.ndarray:
    env = FinRay("thrust", num_substeps=num_substeps)
    p = RayParams(random_phase=0.0)

    @jax.jit
    def go(actions):
        _, s = env.reset_env(jax.random.PRNGKey(0), p)
        return open_loop(env, p, s, actions)[1]["thrust_coef"]

    return np.asarray(go(actions), np.float64)


def test_time_step_convergence():
    actions = jax.random.uniform(jax.random.PRNGKey(3), (40, 1), minval=-1, maxval=1)
    ref = _series(48, actions)
    err = [np.max(np.abs(_series(n, actions) - ref)) for n in (6, 12)]
    assert err[0] / err[1] > 10, err
    assert err[1] < 1e-3 * np.max(np.abs(ref))


def test_long_random_rollouts_over_a_family_of_rays_stay_finite():
    env = FinRay("mixed")
    n, steps = 64, 400
    k = jax.random.split(jax.random.PRNGKey(4), 8)
    u = lambda i, lo, hi: jax.random.uniform(k[i], (n,), minval=lo, maxval=hi)  # noqa: E731
    params = RayParams().replace(
        stiffness=u(0, 0.3, 2.4),  # Omega_3 dt <= 1.5 over the whole family
        mass_per_length=u(1, 0.05, 0.4),
        damping=u(2, 0.0, 0.2),
        speed=u(3, 0.5, 2.0),
        frequency=u(4, 0.7, 1.5),
        heave_amp=u(5, 0.0, 0.3),
        pitch_amp=u(6, 0.0, 0.4),
        drag_coef=u(7, 0.0, 3.0),
        max_steps=100,
    )
    params = jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (n,)), params)
    assert float(jnp.max(jax.vmap(env.max_omega_dt)(params))) < 2.0

    @jax.jit
    def go(key):
        _, state = jax.vmap(env.reset)(jax.random.split(key, n), params)

        def body(state, kk):
            ka, ks = jax.random.split(kk)
            a = jax.random.uniform(ka, (n, 1), minval=-1.0, maxval=1.0)
            out = jax.vmap(env.step)(jax.random.split(ks, n), state, a, params)
            bad = ~jnp.isfinite(out.obs).all(-1) | ~jnp.isfinite(out.reward)
            return out.state, (bad.sum(), jnp.max(jnp.abs(out.obs)))

        _, (bad, worst) = jax.lax.scan(body, state, jax.random.split(key, steps))
        return bad.sum(), worst.max()

    bad, worst = jax.device_get(go(jax.random.PRNGKey(0)))
    assert bad == 0 and worst < 1e4
