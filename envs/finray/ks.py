"""KS-v0: Kuramoto-Sivashinsky control, the reference study's nonlinear test problem.

``u_t = -u_xxxx - u_xx - (u^2)_x / 2 + f(x, t)`` on a periodic domain of length
``L = 8 pi`` with ``n = 64`` points; second-order central differences
(``D2``, ``D4 = D2 D2``) and the nonlinear term in the energy-conserving
skew-symmetric form ``N(u) = (D1(u^2) + u D1 u) / 3`` (so ``mean(u N(u)) = 0``
exactly and the discrete energy obeys
``d/dt mean(u^2)/2 = mean((D+ u)^2) - mean((D2 u)^2) + mean(u f)``).

Forcing ``f = sum_i a_i g_i(x)``: four unit-peak periodic Gaussians of width
``sigma`` centred at ``0, L/4, L/2, 3L/4``; actions ``a`` in ``[-0.5, 0.5]^4``.
Each action is held for 250 RK4 steps of ``dt = 1e-3``; episodes last 400
actions (truncation).

Reward: minus the substep average of
``w_d mean((D2 u)^2) + w_c mean((D1 u^2)^2) + w_p mean(u f)`` -- the spec's
"mean(u_xx)^2 + mean((u^2)_x)^2 + mean(u f)" read as mean squares (the squared
means vanish identically on a periodic grid); weights default to 1.

Initial conditions: a random zero-mean field of the lowest four Fourier modes
(amplitude ``1/k``), scaled to RMS ``ic_rms``. Uncontrolled, the flow becomes chaotic
within a few time units (largest finite-time Lyapunov exponent about 0.07 per time
unit) and stays bounded (``|u| < 4``). At ``L = 8 pi`` the equation also has a stable
cellular steady state (energy ``mean(u^2)/2`` about 1.39): a chaotic transient can
fall into it, which happened for roughly 10-30% of random starts within one
400-action episode in our runs. Observation: ``u`` (``[64]``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl import spaces
from jaxrl.env import Environment, Step, check_action


@struct.dataclass
class KSParams:
    length: float = 8.0 * 3.1415927  # L
    dt: float = 1e-3  # RK4 step
    action_max: float = 0.5
    actuator_width: float = 0.4  # sigma of the Gaussians
    ic_rms: float = 1.0
    w_dissipation: float = 1.0
    w_convection: float = 1.0
    w_power: float = 1.0
    max_steps: int = 400


@struct.dataclass
class KSState:
    u: jax.Array  # [n]
    step: jax.Array  # [] int32


def d1(u: jax.Array, h: jax.Array) -> jax.Array:
    return (jnp.roll(u, -1) - jnp.roll(u, 1)) / (2.0 * h)


def d2(u: jax.Array, h: jax.Array) -> jax.Array:
    return (jnp.roll(u, -1) - 2.0 * u + jnp.roll(u, 1)) / (h * h)


def d_plus(u: jax.Array, h: jax.Array) -> jax.Array:
    return (jnp.roll(u, -1) - u) / h


def nonlinear(u: jax.Array, h: jax.Array) -> jax.Array:
    """Skew-symmetric ``(u^2)_x / 2``: ``(D1(u^2) + u D1 u) / 3``."""
    return (d1(u * u, h) + u * d1(u, h)) / 3.0


def ks_rhs(u: jax.Array, forcing: jax.Array, h: jax.Array) -> jax.Array:
    uxx = d2(u, h)
    return -d2(uxx, h) - uxx - nonlinear(u, h) + forcing


def cost_terms(u: jax.Array, forcing: jax.Array, h: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(mean((D2 u)^2), mean((D1 u^2)^2), mean(u f))``."""
    return jnp.mean(d2(u, h) ** 2), jnp.mean(d1(u * u, h) ** 2), jnp.mean(u * forcing)


class KuramotoSivashinsky(Environment):
    """``n`` grid points, ``num_actuators`` Gaussians and ``num_substeps`` RK4 steps per action (static)."""

    def __init__(self, n: int = 64, num_actuators: int = 4, num_substeps: int = 250):
        if int(n) < 8 or int(num_actuators) < 1 or int(num_substeps) < 1:
            raise ValueError(
                f"need n >= 8, num_actuators >= 1, num_substeps >= 1; got {n}, {num_actuators}, {num_substeps}"
            )
        self.n, self.num_actuators, self.num_substeps = int(n), int(num_actuators), int(num_substeps)
        self.ic_modes = 4

    def __repr__(self) -> str:
        return f"KuramotoSivashinsky(n={self.n}, num_actuators={self.num_actuators}, num_substeps={self.num_substeps})"

    @property
    def name(self) -> str:
        return "KS"

    @property
    def default_params(self) -> KSParams:
        return KSParams()

    def observation_space(self, params: KSParams) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (self.n,), jnp.float32)

    def action_space(self, params: KSParams) -> spaces.Box:
        return spaces.Box(-params.action_max, params.action_max, (self.num_actuators,), jnp.float32)

    def render(self, state: KSState, params: KSParams) -> np.ndarray:
        """``[H, W, 3]`` uint8 frame (host-side; :mod:`jaxrl.envs.finray.render`)."""
        from jaxrl.envs.finray import render

        return render.render_ks(self, state, params)

    def grid(self, params: KSParams) -> jax.Array:
        return jnp.arange(self.n, dtype=jnp.float32) * (params.length / self.n)

    def actuator_shapes(self, params: KSParams) -> jax.Array:
        """``[num_actuators, n]`` unit-peak periodic Gaussians."""
        x = self.grid(params)
        centres = jnp.arange(self.num_actuators, dtype=jnp.float32) * (params.length / self.num_actuators)
        d = x[None, :] - centres[:, None]
        d = d - params.length * jnp.round(d / params.length)  # periodic distance
        return jnp.exp(-0.5 * (d / params.actuator_width) ** 2)

    def reset_env(self, key: jax.Array, params: KSParams) -> tuple[jax.Array, KSState]:
        x = self.grid(params)
        k = jnp.arange(1, self.ic_modes + 1, dtype=jnp.float32)
        coef = jax.random.normal(key, (2, self.ic_modes)) / k
        arg = 2.0 * jnp.pi * k[:, None] * x[None, :] / params.length
        u = coef[0] @ jnp.cos(arg) + coef[1] @ jnp.sin(arg)
        u = params.ic_rms * u / jnp.sqrt(jnp.mean(u * u))
        state = KSState(u.astype(jnp.float32), jnp.int32(0))
        return state.u, state

    def operators(self, params: KSParams) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Circulant matrices ``(A, D1, D2)`` with ``A = -D2 D2 - D2``: ``ks_rhs(u) = A u - N(u) + f``.

        The step applies the stencils as ``[n, n]`` matrix products: on CPU a few dense
        products run several times faster than the equivalent chain of shifted copies.
        """
        h = params.length / self.n
        eye = jnp.eye(self.n, dtype=jnp.float32)
        m1 = jax.vmap(lambda e: d1(e, h))(eye).T  # column j = D1 e_j
        m2 = jax.vmap(lambda e: d2(e, h))(eye).T
        return -m2 @ m2 - m2, m1, m2

    def step_env(self, key: jax.Array, state: KSState, action: jax.Array, params: KSParams) -> Step:
        check_action(self, action, params)
        a = jnp.clip(jnp.asarray(action, jnp.float32), -params.action_max, params.action_max)
        forcing = a @ self.actuator_shapes(params)
        lin, m1, m2 = self.operators(params)
        dt = params.dt

        def rhs(u):
            return lin @ u - (m1 @ (u * u) + u * (m1 @ u)) / 3.0 + forcing

        def substep(u, _):
            k1 = rhs(u)
            k2 = rhs(u + 0.5 * dt * k1)
            k3 = rhs(u + 0.5 * dt * k2)
            k4 = rhs(u + dt * k3)
            u = u + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            terms = jnp.stack([jnp.mean((m2 @ u) ** 2), jnp.mean((m1 @ (u * u)) ** 2), jnp.mean(u * forcing)])
            return u, terms

        u, terms = jax.lax.scan(substep, state.u, None, length=self.num_substeps)
        dis, conv, power = jnp.mean(terms, axis=0)
        cost = params.w_dissipation * dis + params.w_convection * conv + params.w_power * power
        step = state.step + 1
        new = KSState(u, step)
        info = {"dissipation": dis, "convection": conv, "power": power, "energy": 0.5 * jnp.mean(u * u)}
        return Step(u, new, (-cost).astype(jnp.float32), jnp.bool_(False), step >= params.max_steps, info)
