"""ActiveTrack's target path: SurRoL's random closed B-spline (``surrol/utils/utils.py: Trajectory``), in JAX.

SurRoL draws a boundary point ``(bx, by)`` within +-10% of the workspace centre, three uniform points
in each of the four quadrants around it (ordered: upper-left and bottom-left by descending y,
bottom-right by ascending x, upper-right by descending x), closes the loop with the first point
and interpolates a periodic cubic spline through the 13 points (``scipy.interpolate.splprep(s=0,
per=True)``: chord-length parameters ``u`` in ``[0, 1]``), sampled at ``linspace(0, 1, 2000)``. The
cube advances 10 samples per environment step (``_step_callback``), so one loop takes 200 steps.

Here the spline is the same interpolant written out: the periodic cubic through the points at
the chord-length knots (second derivatives from the cyclic tridiagonal system, a dense 12 x 12
solve once per reset), evaluated directly at ``u = index / 1999``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

N_SAMPLES = 2000
SAMPLES_PER_STEP = 10


def control_points(key: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """SurRoL's 13 closed-loop control points ``[13, 2]`` in the rectangle ``low [2]``..``high [2]``."""
    kb, k1, k2, k3, k4 = jax.random.split(key, 5)
    centre, span = (low + high) / 2, high - low
    b = jax.random.uniform(kb, (2,), minval=centre - 0.1 * span, maxval=centre + 0.1 * span)
    u = lambda k, lo, hi: jax.random.uniform(k, (3, 2), minval=lo, maxval=hi)  # noqa: E731
    ul = u(k1, jnp.stack([low[0], b[1]]), jnp.stack([b[0], high[1]]))
    bl = u(k2, low, b)
    br = u(k3, jnp.stack([b[0], low[1]]), jnp.stack([high[0], b[1]]))
    ur = u(k4, b, high)
    ul = ul[jnp.argsort(-ul[:, 1])]
    bl = bl[jnp.argsort(-bl[:, 1])]
    br = br[jnp.argsort(br[:, 0])]
    ur = ur[jnp.argsort(-ur[:, 0])]
    return jnp.concatenate([ul, bl, br, ur, ul[:1]], axis=0)


def fit(pts: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Periodic cubic interpolant of closed points ``pts [n + 1, 2]`` (last = first).

    Returns ``(u [n + 1], M [n + 1, 2])``: chord-length knots in ``[0, 1]`` and the second derivatives.
    """
    seg = jnp.sqrt(jnp.sum(jnp.diff(pts, axis=0) ** 2, -1))  # [n]
    u = jnp.concatenate([jnp.zeros(1), jnp.cumsum(seg)]) / jnp.sum(seg)
    h = jnp.diff(u)  # [n]
    n = h.shape[0]
    y = pts[:-1]
    h_prev = jnp.roll(h, 1)  # h_{i-1}, cyclic
    slope = (jnp.roll(y, -1, 0) - y) / h[:, None]
    rhs = 6.0 * (slope - jnp.roll(slope, 1, 0))
    idx = jnp.arange(n)
    A = jnp.zeros((n, n)).at[idx, idx].set(2.0 * (h_prev + h))
    A = A.at[idx, (idx - 1) % n].add(h_prev).at[idx, (idx + 1) % n].add(h)
    M = jnp.linalg.solve(A, rhs)
    return u, jnp.concatenate([M, M[:1]], axis=0)


def evaluate(pts: jax.Array, u_knots: jax.Array, M: jax.Array, u: jax.Array) -> jax.Array:
    """Point ``[2]`` of the fitted spline at parameter ``u`` in ``[0, 1]``."""
    n = u_knots.shape[0] - 1
    i = jnp.clip(jnp.searchsorted(u_knots, u, side="right") - 1, 0, n - 1)
    h = u_knots[i + 1] - u_knots[i]
    a, b = (u_knots[i + 1] - u) / h, (u - u_knots[i]) / h
    return a * pts[i] + b * pts[i + 1] + ((a**3 - a) * M[i] + (b**3 - b) * M[i + 1]) * h**2 / 6.0


def position(pts: jax.Array, u_knots: jax.Array, M: jax.Array, index: jax.Array) -> jax.Array:
    """Target ``[2]`` at SurRoL's sample ``index`` (``u = (index mod 2000) / 1999``)."""
    u = jnp.mod(index, N_SAMPLES).astype(jnp.float32) / (N_SAMPLES - 1)
    return evaluate(pts, u_knots, M, u)
