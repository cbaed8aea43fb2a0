"""Dimensionless groups of the reference fin-ray study, the defaults derived from them, and range checks.

Sources (what each stored copy gave; values not found there are labelled *inferred*):

* [L24] X.-Y. Liu, D. Bodaghi, Q. Xue, X. Zheng, J.-X. Wang, "Asynchronous parallel
  reinforcement learning for optimizing propulsive performance in fin ray control",
  arXiv:2401.11349 (2024), Engineering with Computers. SAC on a 2-D FSI model of one
  fin ray; actuation on top of a prescribed pitch/plunge; objectives thrust,
  efficiency, mixed; learned policies beat the best sinusoid of a parametric grid search.
  Only the abstract was readable: it gives none of the numbers below.
* [B23] D. Bodaghi, J.-X. Wang, Q. Xue, X. Zheng, "Effects of antagonistic muscle actuation
  on the bilaminar structure of ray-finned fish in propulsion", J. Fluid Mech. (2023).
  2-D FSI of a bilaminar ray with sunfish structure and material data; muscle action as
  a root displacement offset between the two hemitrichs; sinusoidal offset with varied
  amplitude and phase difference to the pitching/plunging motion; *the phase is the
  critical factor*, with a thrust-favour, an efficiency-favour and a third phase region
  (its name is cut off in the stored abstract). Numbers: not in the abstract.
* [A07] S. Alben, P. G. A. Madden, G. V. Lauder, "The mechanics of active fin-shape control
  in ray-finned fishes", J. R. Soc. Interface 4:243-256 (2007). Linear bilaminar-ray
  model: curvature concentrates at the ray base; ray stiffness varies by more than an
  order of magnitude with actuation at the base.
* [G94] A. C. Gibb, B. C. Jayne, G. V. Lauder, "Kinematics of pectoral fin locomotion in the
  bluegill sunfish Lepomis macrochirus", J. Exp. Biol. 189 (1994): fin-beat frequency
  1.2 -> 2.1 Hz as swimming speed rises 0.3 -> 1.0 total lengths/s.
* [A18] B. R. Aiello et al., "The relationship between pectoral fin ray stiffness and
  swimming behavior in Labridae", J. Exp. Biol. 221 jeb163360 (2018): pectoral fin ray
  flexural stiffness 1e-10 .. 1.5e-6 N m^2, highest proximally.
* [St] Efficient flapping propulsion and cruising animals sit at Strouhal numbers
  0.2 < St < 0.4 (Triantafyllou et al. 1993; Taylor, Nudds & Thomas 2003).

Derived groups (fish of total length TL swimming at U = 1 TL/s, fin ray length
l = 0.2 TL, *inferred*, with f = 2.1 Hz [G94]):

=====================  =======================================  ===========================
group                  value                                    source
=====================  =======================================  ===========================
f l / U                0.42                                     [G94] f, U; l/TL inferred
k = pi f c / U         1.32 (chord c = l)                       derived
St = f A_pp / U        0.30 (A_pp: rigid trailing-edge p-p)     [St] mid-band; study: not found
Re = U l / nu          4500 (TL = 15 cm, water)                 inferred; no tier represents it
heave H / l            0.25                                     inferred (study: not found)
pitch Theta            0.255 rad (sets St with H)               inferred (study: not found)
pitch phase psi        pi/2 (pitch leads heave)                 inferred (study: not found)
mass ratio m_s / m_a   0.4 (fin lighter than its added mass)    inferred
f / f_1 (ray, wet)     0.32 (EI = 5e-7 N m^2 [A18], l = 3 cm)   [A18] range; rest inferred
interlayer lambda l    5: tip stiffness x10.4 when actuated     [A07] ">10x"; value inferred
=====================  =======================================  ===========================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from jaxrl.errors import UserError

REDUCED_FREQ_L = 0.42  # f l / U
STROUHAL = 0.30
REYNOLDS = 4500.0
HEAVE_OVER_L = 0.25
PITCH_PHASE = 0.5 * math.pi
MASS_RATIO = 0.4
FREQUENCY_RATIO = 0.32
INTERLAYER_SHEAR = 5.0  # lambda l: held root offset stiffens the tip 10.4x over a free-sliding ray ([A07]: > 10x)
BEAT_TO_ACTUATOR = 2.1  # actuator natural frequency / beat angular frequency (design choice, see README)


def pitch_for_strouhal(strouhal: float, freq_l: float, heave_over_l: float, psi: float) -> float:
    """Pitch amplitude [rad] about the base that puts the rigid trailing-edge excursion at ``strouhal``.

    Trailing edge (base at 0, length 1): ``H sin(theta) + Theta sin(theta + psi)`` (heave and
    pitch as in :func:`.common.kinematics`), peak-to-peak ``2 |H + Theta e^{i psi}|``; solved for ``Theta``.
    """
    amp = 0.5 * strouhal / freq_l  # peak trailing-edge amplitude / l
    # |H + Theta e^{i psi}|^2 = H^2 + 2 H Theta cos(psi) + Theta^2
    b, c = 2.0 * heave_over_l * math.cos(psi), heave_over_l**2 - amp**2
    return 0.5 * (-b + math.sqrt(b * b - 4.0 * c))


PITCH_AMP = pitch_for_strouhal(STROUHAL, REDUCED_FREQ_L, HEAVE_OVER_L, PITCH_PHASE)


class RayDefaults(NamedTuple):
    mass_per_length: float
    stiffness: float


def ray_defaults(depth: float, density: float, length: float, speed: float, first_eig: float) -> RayDefaults:
    """``m_s`` and ``EI`` that give :data:`MASS_RATIO` and :data:`FREQUENCY_RATIO`.

    ``first_eig`` is the smallest eigenvalue of the dimensionless stiffness on the unit
    cantilever (``int Phi'' Phi''`` plus the interlayer term), so that the first wet
    frequency is ``omega_1^2 = EI first_eig / ((m_s + m_a) l^4)``.
    """
    m_a = math.pi * density * depth**2 / 4.0
    m_s = MASS_RATIO * m_a
    f = REDUCED_FREQ_L * speed / length
    omega_1 = 2.0 * math.pi * f / FREQUENCY_RATIO
    return RayDefaults(m_s, omega_1**2 * (m_s + m_a) * length**4 / first_eig)


# --------------------------------------------------------------------------- groups of a params object
def strouhal(params: Any, length: float) -> float:
    """``f A_pp / U`` of the rigid (prescribed) trailing-edge motion of a fin of ``length`` from the pivot."""
    H, P, psi = float(params.heave_amp), float(params.pitch_amp), float(params.pitch_phase)
    amp = abs(H + length * P * complex(math.cos(psi), math.sin(psi)))
    return 2.0 * float(params.frequency) * amp / float(params.speed)


def groups(params: Any) -> dict[str, float]:
    """The dimensionless groups of plate or ray params (the ray's frequency ratio needs :func:`ray_groups`)."""
    if hasattr(params, "half_chord"):
        c = 2.0 * float(params.half_chord)
        le = (1.0 + float(params.pivot)) * float(params.half_chord)  # pivot distance from the leading edge
        return {
            "freq_l": float(params.frequency) * c / float(params.speed),
            "reduced_frequency": math.pi * float(params.frequency) * c / float(params.speed),
            "strouhal": strouhal(params, c - le),
            "heave_over_l": float(params.heave_amp) / c,
        }
    ell = float(params.length)
    m_a = math.pi * float(params.density) * float(params.depth) ** 2 / 4.0
    return {
        "freq_l": float(params.frequency) * ell / float(params.speed),
        "reduced_frequency": math.pi * float(params.frequency) * ell / float(params.speed),
        "strouhal": strouhal(params, ell),
        "heave_over_l": float(params.heave_amp) / ell,
        "mass_ratio": float(params.mass_per_length) / m_a,
    }


# --------------------------------------------------------------------------- range checks
POSITIVE = (
    "half_chord", "length", "depth", "speed", "density", "stiffness", "mass_per_length", "frequency",
    "act_omega", "steps_per_cycle", "power_floor",
)
NON_NEGATIVE = (
    "damping", "drag_coef", "heave_amp", "pitch_amp", "delta_max", "act_zeta", "interlayer_shear",
    "power_weight", "lateral_weight", "random_phase",
)
_WHY = {
    "stiffness": "a bending stiffness EI",
    "mass_per_length": "a structural mass (mass ratio m_s / m_a)",
    "density": "a fluid density (mass ratio)",
    "frequency": "a beat frequency",
}


def _concrete(v: Any) -> float | None:
    """A Python / NumPy float as float; ``None`` for anything else (not checked).

    Tracers, JAX arrays and placeholders pass, and so do integers: the physical fields are
    floats (the registry turns an int override into a float), while pytree utilities build
    ``in_axes``-style trees of ints (``jax.tree.map(lambda _: 0, params)``) that must not fail.
    """
    if isinstance(v, float | np.floating):
        return float(v)
    if isinstance(v, np.ndarray) and v.dtype.kind == "f":
        return float(np.min(v)) if v.size else None
    return None


def check_params(params: Any, name: str) -> None:
    """:class:`UserError` for a concrete physical parameter outside its range (tracers are not checked)."""
    fields: Mapping[str, Any] = getattr(params, "__dict__", {})
    for k, v in fields.items():
        x = _concrete(v)
        if x is None:
            continue
        if not math.isfinite(x):
            raise UserError(f"{name}.{k} must be finite, got {v!r}")
        if k in POSITIVE and x <= 0.0:
            what = _WHY.get(k, "a physical size, rate or count")
            raise UserError(f"{name}.{k} is {what} and must be > 0, got {v!r}; pass a positive value")
        if k in NON_NEGATIVE and x < 0.0:
            raise UserError(f"{name}.{k} must be >= 0, got {v!r}; pass a non-negative value")
    if "pivot" in fields and (x := _concrete(fields["pivot"])) is not None and not -1.0 <= x <= 1.0:
        raise UserError(f"{name}.pivot is a chord position in half-chords and must be in [-1, 1], got {x}")
