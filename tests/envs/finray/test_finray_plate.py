"""Tier 1 (FinPlate): validation against Garrick/Theodorsen, energy, convergence, robustness."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import hankel2

import jaxrl
from jaxrl.envs.finray import FIN_IDS, FinPlate, PlateParams, aero
from jaxrl.envs.finray.common import open_loop

B, T = 8, 200  # batch of parameter sets and steps (10 cycles) shared by the batched tests: one compile


def theodorsen_exact(k: np.ndarray) -> np.ndarray:
    h1, h0 = hankel2(1, k), hankel2(0, k)
    return h1 / (h1 + 1j * h0)


def stack(params: list[PlateParams]) -> PlateParams:
    return jax.tree.map(lambda *x: jnp.asarray(np.array(x), jnp.float32 if isinstance(x[0], float) else None), *params)


@pytest.fixture(scope="module")
def env() -> FinPlate:
    return FinPlate("thrust")


@pytest.fixture(scope="module")
def batched(env):
    """``run(params[B], actions[B, T, 1], keys[B]) -> (infos [B, T], states [B, T])``, one compile."""

    def one(params, actions, key):
        _, state = env.reset_env(key, params)
        _, infos, states = open_loop(env, params, state, actions)
        return infos, states

    return jax.jit(jax.vmap(one))


def run(batched, params: list[PlateParams], actions=None, seed=0):
    assert len(params) == B
    actions = jnp.zeros((B, T, 1)) if actions is None else actions
    return jax.device_get(batched(stack(params), actions, jax.random.split(jax.random.PRNGKey(seed), B)))


def test_theodorsen_approximations_against_hankel_functions():
    k = np.linspace(0.05, 10.0, 2000)
    exact = theodorsen_exact(k)
    assert np.max(np.abs(aero.theodorsen_f_rational(k) - exact.real)) < 1e-3
    # the two-lag Wagner fit the plate integrates: within 1.5% of C(k) everywhere
    assert np.max(np.abs(aero.theodorsen_jones(k) - exact)) < 0.015
    assert np.max(np.abs(aero.theodorsen_jones(k) - exact)) > 1e-3  # it is an approximation: not the same function


def test_pure_heave_reproduces_garrick(batched):
    """Mean thrust within 5% of Garrick (exact C(k)) for k in [0.25, 2]; efficiency -> 1/2 at high k."""
    ks = np.array([0.25, 0.5, 1.0, 1.5, 2.0, 5.0, 10.0, 20.0])
    b, h0 = 0.5, 0.1
    params = [PlateParams(frequency=k / (2 * np.pi * b), heave_amp=h0, pitch_amp=0.0, random_phase=0.0) for k in ks]
    infos, _ = run(batched, params)
    ct = infos["thrust_coef"][:, -100:].mean(1)
    eta = ct / infos["power_coef"][:, -100:].mean(1)
    ct_exact, eta_exact = aero.garrick_heave(ks, h0 / b, theodorsen_exact(ks))
    ct_jones, eta_jones = aero.garrick_heave(ks, h0 / b)
    low = ks <= 2.0
    np.testing.assert_allclose(ct[low], ct_exact[low], rtol=0.05)
    # the time-domain model is exactly Garrick with the Jones C(k): a tight check of the implementation
    np.testing.assert_allclose(ct, ct_jones, rtol=2e-3)
    np.testing.assert_allclose(eta, eta_jones, rtol=2e-3)
    assert np.all(np.diff(eta) < 0)  # efficiency falls towards 1/2 ...
    assert abs(eta[-1] - 0.5) < 0.003 and abs(eta[-2] - 0.5) < 0.003  # ... and reaches it at k = 10, 20
    assert np.all(eta > 0.5)


def test_episodes_start_on_the_periodic_orbit(batched):
    """Lag states start at their analytic steady state: forces are periodic from the first cycle."""
    rng = np.random.default_rng(0)
    params = [
        PlateParams(pitch_amp=float(rng.uniform(0, 0.3)), pitch_phase=float(rng.uniform(0, 6.28)), random_phase=1.0)
        for _ in range(B)
    ]
    infos, states = run(batched, params, seed=3)
    n = int(PlateParams().steps_per_cycle)
    for key in ("thrust_coef", "power_coef", "lateral_coef"):
        x = infos[key]
        np.testing.assert_allclose(x[:, :n], x[:, n : 2 * n], atol=2e-4 * np.abs(x).max())
    np.testing.assert_allclose(states.z1[:, n - 1], states.z1[:, 2 * n - 1], rtol=1e-3, atol=1e-5)
    # different keys start at different phases
    assert np.unique(np.round(states.theta[:, 0], 4)).size == B


def test_wake_energy_is_never_negative(batched):
    """Power input covers thrust power plus wake energy: C_P >= C_T for any motion (efficiency <= 1)."""
    rng = np.random.default_rng(1)
    params = [
        PlateParams(
            frequency=float(rng.uniform(0.1, 0.8)),
            heave_amp=float(rng.uniform(0.0, 0.4)),
            pitch_amp=float(rng.uniform(0.0, 0.4)),
            pitch_phase=float(rng.uniform(0, 2 * np.pi)),
            pivot=float(rng.uniform(-1, 1)),
            random_phase=0.0,
        )
        for _ in range(B)
    ]
    t = np.arange(T)
    # phase-locked sinusoidal actuation with random amplitude/phase (periodic, so cycle means are exact)
    amp, ph = rng.uniform(0, 1, B), rng.uniform(0, 2 * np.pi, B)
    actions = (amp[:, None] * np.sin(2 * np.pi * (t[None, :] + 0.5) / 20 + ph[:, None]))[..., None]
    infos, _ = run(batched, params, jnp.asarray(actions, jnp.float32))
    ct = infos["thrust_coef"][:, -100:].mean(1)
    cp = infos["power_coef"][:, -100:].mean(1)
    assert np.all(cp - ct > -1e-4), (ct, cp)
    assert np.any(ct > 0) and np.any(cp - ct > 1e-2)  # non-trivial cases


def test_efficiency_reward_averages_to_the_efficiency(batched):
    """For periodic actuation, the mean efficiency reward over whole cycles is <C_T>/<C_P> of those cycles."""
    rng = np.random.default_rng(4)
    params = [PlateParams(random_phase=1.0) for _ in range(B)]
    t = np.arange(T)
    amp, ph = rng.uniform(0, 1, B), rng.uniform(0, 2 * np.pi, B)
    actions = (amp[:, None] * np.sin(2 * np.pi * (t[None, :] + 0.5) / 20 + ph[:, None]))[..., None]
    infos, _ = run(batched, params, jnp.asarray(actions, jnp.float32), seed=5)
    sl = slice(40, T)  # cycles 3..10 (the actuator transient has gone)
    eta = infos["thrust_coef"][:, sl].mean(1) / infos["power_coef"][:, sl].mean(1)
    np.testing.assert_allclose(infos["reward_efficiency"][:, sl].mean(1), eta, rtol=2e-3, atol=1e-4)
    assert np.ptp(eta) > 0.05  # different sinusoids, different efficiencies


def _thrust_series(num_substeps: int, actions: jax.Array) -> np.ndarray:
    env = FinPlate("thrust", num_substeps=num_substeps)
    params = PlateParams(random_phase=0.0)

    @jax.jit
    def go(actions):
        _, state = env.reset_env(jax.random.PRNGKey(0), params)
        _, infos, _ = open_loop(env, params, state, actions)
        return infos["thrust_coef"]

    return np.asarray(go(actions), np.float64)


def test_time_step_convergence_is_fourth_order():
    """Random bang-bang actuation; the actuator is exact, the lag states and force integrals are RK4."""
    actions = jax.random.uniform(jax.random.PRNGKey(5), (60, 1), minval=-1, maxval=1)
    ref = _thrust_series(32, actions)
    err = [np.max(np.abs(_thrust_series(n, actions) - ref)) for n in (1, 2, 4)]
    assert err[0] / err[1] > 10, err  # RK4: 16x per halving ...
    assert err[2] < 1e-5 * np.max(np.abs(ref)), err  # ... down to float32 round-off at the default 4 substeps
    assert err[0] > 1e-5 * np.max(np.abs(ref))  # (the test can tell resolutions apart)


def test_long_random_rollouts_over_a_family_of_fins_stay_finite():
    """256 fins with random physical parameters, random actions, 1000 steps with auto-reset: no NaN."""
    env = FinPlate("efficiency")
    n, steps = 256, 1000
    k = jax.random.split(jax.random.PRNGKey(2), 8)
    u = lambda i, lo, hi: jax.random.uniform(k[i], (n,), minval=lo, maxval=hi)  # noqa: E731
    params = PlateParams().replace(
        frequency=u(0, 0.05, 1.5),
        speed=u(1, 0.3, 3.0),
        heave_amp=u(2, 0.0, 0.6),
        pitch_amp=u(3, 0.0, 0.5),
        pivot=u(4, -1.0, 1.0),
        act_omega=u(5, 3.0, 40.0),
        delta_max=u(6, 0.0, 0.6),
        density=u(7, 0.5, 2.0),
        max_steps=150,
    )
    params = jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (n,)), params)  # a family: [n] per field

    @jax.jit
    def go(key):
        keys = jax.random.split(key, n)
        obs, state = jax.vmap(env.reset)(keys, params)

        def body(carry, kk):
            state, worst = carry
            ka, ks = jax.random.split(kk)
            a = jax.random.uniform(ka, (n, 1), minval=-1.0, maxval=1.0)
            out = jax.vmap(env.step)(jax.random.split(ks, n), state, a, params)
            bad = ~jnp.isfinite(out.obs).all(-1) | ~jnp.isfinite(out.reward)
            return (out.state, jnp.maximum(worst, jnp.max(jnp.abs(out.obs)))), (bad.sum(), out.truncated.sum())

        (_, worst), (bad, trunc) = jax.lax.scan(body, (state, 0.0), jax.random.split(key, steps))
        return worst, bad.sum(), trunc.sum()

    worst, bad, trunc = jax.device_get(go(jax.random.PRNGKey(0)))
    assert bad == 0 and np.isfinite(worst) and worst < 1e6  # coefficients scale like (k h/b)^2: large, finite
    assert trunc == n * (steps // 150)  # every fin truncated every 150 steps


def test_registry_and_bad_input():
    ids = jaxrl.list_envs("finray")
    assert set(FIN_IDS) | {"KS-v0"} == set(ids) and len(ids) == 9
    env, params = jaxrl.make("FinPlate-Mixed-v1", power_weight=1.0)
    assert env.objective == "mixed" and params.power_weight == 1.0
    assert env.observation_space(params).shape == (18,)
    with pytest.raises(ValueError, match="objective"):
        FinPlate("speed")
    with pytest.raises(ValueError, match="unknown parameter"):
        jaxrl.make("FinPlate-Thrust-v1", stiffness=1.0)
    _, state = env.reset_env(jax.random.PRNGKey(0), params)
    with pytest.raises(ValueError, match="shape"):
        env.step_env(jax.random.PRNGKey(0), state, jnp.zeros(2), params)
