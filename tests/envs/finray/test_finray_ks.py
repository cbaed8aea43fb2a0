"""KS-v0: finite-difference identities, actuators, and the uncontrolled chaotic dynamics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.envs.finray.ks import KSParams, KuramotoSivashinsky, cost_terms, d1, d2, d_plus, ks_rhs, nonlinear


@pytest.fixture(scope="module")
def env() -> KuramotoSivashinsky:
    return jaxrl.make("KS-v0")[0]


def test_finite_difference_energy_identities():
    """Summation by parts on the periodic grid, which the energy budget rests on."""
    rng = np.random.default_rng(0)
    n, h = 64, 8 * np.pi / 64
    u = jnp.asarray(rng.normal(size=n), jnp.float32)
    f = jnp.asarray(rng.normal(size=n), jnp.float32)
    mean = lambda x: float(jnp.mean(x))  # noqa: E731
    scale = mean(d2(u, h) ** 2)
    # the literal squared means of the spec vanish identically: hence the reward uses mean squares
    assert abs(mean(d2(u, h))) < 1e-5 * np.sqrt(scale) and abs(mean(d1(u * u, h))) < 1e-5 * mean(u * u) / h
    assert abs(mean(u * nonlinear(u, h))) < 1e-5 * mean(u * u) ** 1.5 / h  # skew-symmetric: energy-neutral
    np.testing.assert_allclose(mean(u * d2(d2(u, h), h)), mean(d2(u, h) ** 2), rtol=1e-4)
    np.testing.assert_allclose(-mean(u * d2(u, h)), mean(d_plus(u, h) ** 2), rtol=1e-4)
    # d/dt mean(u^2)/2 = production - dissipation + power input
    budget = mean(d_plus(u, h) ** 2) - mean(d2(u, h) ** 2) + mean(u * f)
    np.testing.assert_allclose(mean(u * ks_rhs(u, f, h)), budget, rtol=1e-4, atol=1e-4 * scale)
    # consistent with the continuous operators: second-order convergence on a smooth field
    kk = 2 * np.pi * 3 / (8 * np.pi)
    errors = []
    for m in (32, 64, 128):
        hm = 8 * np.pi / m
        x = jnp.arange(m, dtype=jnp.float32) * hm
        s = jnp.sin(kk * x)
        e4 = np.max(np.abs(np.asarray(d2(s, hm)) + kk**2 * np.asarray(s)))  # D4 = D2 D2 (float32 roundoff)
        en = np.max(np.abs(np.asarray(nonlinear(s, hm)) - np.asarray(s * kk * jnp.cos(kk * x))))
        errors.append((e4, en))
    for coarse, fine in zip(errors[:-1], errors[1:], strict=True):
        assert 3.5 < coarse[0] / fine[0] < 4.5 and 3.5 < coarse[1] / fine[1] < 4.5, errors


def test_actuators_and_action_space(env):
    p = env.default_params
    g = np.asarray(env.actuator_shapes(p))
    assert g.shape == (4, 64)
    np.testing.assert_allclose(g.max(1), 1.0)
    assert list(g.argmax(1)) == [0, 16, 32, 48]  # centres 0, L/4, L/2, 3L/4
    for i in range(1, 4):
        np.testing.assert_allclose(g[i], np.roll(g[0], 16 * i), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(g[0, 1], np.exp(-0.5 * ((8 * np.pi / 64) / 0.4) ** 2), rtol=1e-5)
    space = env.action_space(p)
    assert space.shape == (4,) and float(space.low) == -0.5 and float(space.high) == 0.5


def test_reset_random_zero_mean_fields(env):
    p = env.default_params
    u = np.asarray(jax.vmap(env.reset_env, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(0), 8), p)[0])
    np.testing.assert_allclose(u.mean(1), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.sqrt((u**2).mean(1)), p.ic_rms, rtol=1e-4)
    assert np.min(np.abs(np.corrcoef(u))[~np.eye(8, dtype=bool)] < 0.99)


def test_uncontrolled_dynamics_are_bounded_and_chaotic(env):
    """From random initial conditions: bounded, fluctuating, with a positive largest Lyapunov exponent.

    The exponent is the finite-time (Benettin) estimate over 50 time units: a 1e-4
    perturbation is advanced with the state and renormalised after every action.
    (At L = 8 pi the equation also has a stable cellular steady state that absorbs some
    chaotic transients, typically after tens of time units; see the module docstring.)
    """
    p = env.default_params
    steps, eps = 200, 1e-4
    zero = jnp.zeros(4, jnp.float32)

    @jax.jit
    def go(keys):
        def one(key):
            _, s = env.reset_env(key, p)
            d0 = eps * np.sqrt(2.0) * jnp.sin(2 * jnp.pi * 5 * env.grid(p) / p.length)

            def body(carry, _):
                s, d = carry
                o1 = env.step_env(key, s, zero, p)
                o2 = env.step_env(key, s.replace(u=s.u + d), zero, p)
                diff = o2.state.u - o1.state.u
                growth = jnp.sqrt(jnp.mean(diff**2)) / eps
                return (o1.state, diff / growth), (jnp.log(growth), o1.info["energy"], o1.info["power"])

            (s, _), out = jax.lax.scan(body, (s, d0), None, length=steps)
            return (*out, jnp.max(jnp.abs(s.u)))

        return jax.vmap(one)(keys)

    log_growth, energy, power, umax = jax.device_get(go(jax.random.split(jax.random.PRNGKey(0), 8)))
    assert np.isfinite(energy).all() and umax.max() < 10.0
    lyapunov = log_growth.mean(1) / (p.dt * env.num_substeps)  # per time unit
    assert np.all(lyapunov > 0.01) and np.median(lyapunov) > 0.04, lyapunov
    assert np.all(energy[:, steps // 2 :].std(1) > 0.02) and energy.mean() > 0.2  # neither decays nor freezes
    np.testing.assert_allclose(power, 0.0, atol=1e-7)  # uncontrolled: no power input


def test_matrix_step_matches_the_stencils(env):
    p = env.default_params
    lin, m1, _ = env.operators(p)
    u = jax.random.normal(jax.random.PRNGKey(0), (64,))
    f = jax.random.normal(jax.random.PRNGKey(1), (64,))
    fast = lin @ u - (m1 @ (u * u) + u * (m1 @ u)) / 3.0 + f
    ref = ks_rhs(u, f, p.length / 64)
    np.testing.assert_allclose(fast, ref, atol=1e-6 * float(jnp.max(jnp.abs(ref))) * 64)


def test_reward_is_minus_the_cost_terms(env):
    p = env.default_params
    _, s = env.reset_env(jax.random.PRNGKey(1), p)
    a = jnp.array([0.5, -0.5, 0.2, 0.0], jnp.float32)
    out = jax.jit(env.step_env)(jax.random.PRNGKey(0), s, a, p)
    i = out.info
    np.testing.assert_allclose(out.reward, -(i["dissipation"] + i["convection"] + i["power"]), rtol=1e-5)
    forcing = a @ env.actuator_shapes(p)
    dis, conv, power = cost_terms(out.obs, forcing, p.length / 64)  # the last substep's terms are nearby
    assert abs(float(power) - float(i["power"])) < 0.5 * abs(float(i["power"])) + 1e-3
    assert float(i["power"]) != 0.0 and float(dis) > 0 and float(conv) > 0
    weights = KSParams(w_dissipation=2.0, w_convection=0.0, w_power=0.0)
    out2 = jax.jit(env.step_env)(jax.random.PRNGKey(0), s, a, weights)
    np.testing.assert_allclose(out2.reward, -2.0 * i["dissipation"], rtol=1e-5)
