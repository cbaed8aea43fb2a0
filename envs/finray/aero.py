"""Closed-form unsteady thin-airfoil results (NumPy) used to validate the time-domain plate.

* :func:`theodorsen_jones` -- ``C(k)`` of the two-lag Wagner fit the plate integrates;
* :func:`theodorsen_f_rational` -- a rational fit of ``F(k) = Re C(k)`` without Hankel functions;
* :func:`garrick_heave` -- Garrick's mean thrust coefficient and efficiency of pure heave.

The exact ``C(k) = H1(k) / (H1(k) + i H0(k))`` (Hankel functions of the second kind)
lives in the tests, which import SciPy.
"""

from __future__ import annotations

import numpy as np

from jaxrl.envs.finray.plate import WAGNER_A, WAGNER_BETA


def theodorsen_jones(k: np.ndarray) -> np.ndarray:
    """``C(k) = 1 - sum_i A_i i k / (i k + beta_i)``: the frequency response of the plate's lag states."""
    k = np.asarray(k, dtype=np.float64)
    ik = 1j * k
    return 1.0 - sum(a * ik / (ik + b) for a, b in zip(WAGNER_A, WAGNER_BETA, strict=True))


def theodorsen_f_rational(k: np.ndarray) -> np.ndarray:
    """Rational approximation of ``F(k) = Re C(k)`` (within 1e-4 of the exact value for ``k >= 0.05``)."""
    k = np.asarray(k, dtype=np.float64)
    num = ((0.5005 * k + 0.51261) * k + 0.2104) * k + 0.021573
    den = ((k + 1.03538) * k + 0.25124) * k + 0.02151
    return num / den


def garrick_heave(
    k: np.ndarray, heave_over_b: float, c_of_k: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Garrick's pure-heave results ``(C_T, eta)`` for ``h = h0 sin(omega t)``.

    ``C_T = pi k^2 (h0/b)^2 (F^2 + G^2)`` (mean thrust over ``1/2 rho U^2 c``) and
    ``eta = (F^2 + G^2) / F``, with ``C(k) = F + iG`` given (default: the Jones fit).
    """
    k = np.asarray(k, dtype=np.float64)
    c = theodorsen_jones(k) if c_of_k is None else np.asarray(c_of_k)
    mag2 = np.abs(c) ** 2
    return np.pi * k**2 * heave_over_b**2 * mag2, mag2 / c.real
