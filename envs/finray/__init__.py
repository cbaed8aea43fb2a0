"""Fin-ray propulsion: reduced-order proxies of a learned fin-ray actuation study.

Family ``finray``:

* ``FinPlate-{Thrust,Efficiency,Mixed,Lateral}-v1`` -- tier 1, rigid plate, unsteady
  thin-airfoil aerodynamics with Wagner lag states (:mod:`.plate`);
* ``FinRay-{Thrust,Efficiency,Mixed,Lateral}-v1`` -- tier 2, flexible ray as a modal
  Euler-Bernoulli beam with strip-theory loads and Lighthill thrust, actuated through a
  bilaminar (two-hemitrich) root offset (:mod:`.ray`);

``-v1``: defaults calibrated to the reference study's dimensionless groups
(:mod:`.calibration`) and the bilaminar ray actuation; ``-v0`` (placeholder parameters,
uniform-curvature ray) is gone. Every step reports ``info["reward_vector"]``; the
:class:`.multi.Scalarized` wrapper weights it with traced weights.
* ``KS-v0`` -- Kuramoto-Sivashinsky control with four Gaussian actuators (:mod:`.ks`).

:func:`sinusoid_search` grid-searches sinusoidal actuation (the study's baseline) in
one vmapped program.
"""

from __future__ import annotations

from jaxrl.envs.finray.common import ID_NAMES, OBJECTIVES
from jaxrl.envs.finray.ks import KSParams, KuramotoSivashinsky
from jaxrl.envs.finray.multi import Scalarized, ScalarizedParams, check_weights, scalarized
from jaxrl.envs.finray.plate import FinPlate, PlateParams
from jaxrl.envs.finray.ray import FinRay, RayParams
from jaxrl.envs.finray.sinusoid import SinusoidResult, evaluate_sinusoid, sinusoid_search
from jaxrl.registry import register

VERSION = "v1"
FIN_IDS = tuple(f"{tier}-{ID_NAMES[o]}-{VERSION}" for tier in ("FinPlate", "FinRay") for o in OBJECTIVES)

_DESCRIPTIONS = {
    "thrust": "mean thrust coefficient",
    "efficiency": "cycle-averaged propulsive efficiency C_T/C_P",
    "mixed": "thrust minus weighted input power, C_T - lambda C_P",
    "lateral": "thrust minus a side-force penalty, C_T - lambda C_Y^2",
}


def _plate(objective: str):
    return lambda: FinPlate(objective)


def _ray(objective: str):
    return lambda: FinRay(objective, actuation="bilaminar")


for _o in OBJECTIVES:
    register(
        f"FinPlate-{ID_NAMES[_o]}-{VERSION}",
        "finray",
        _plate(_o),
        PlateParams().max_steps,
        f"Rigid flapping plate (thin-airfoil + Wagner lag), actuated pitch offset; reward: {_DESCRIPTIONS[_o]}.",
    )
for _o in OBJECTIVES:
    register(
        f"FinRay-{ID_NAMES[_o]}-{VERSION}",
        "finray",
        _ray(_o),
        RayParams().max_steps,
        f"Flexible fin ray (3-mode Euler-Bernoulli beam, Lighthill thrust), bilaminar root offset; "
        f"reward: {_DESCRIPTIONS[_o]}.",
    )
register(
    "KS-v0",
    "finray",
    KuramotoSivashinsky,
    KSParams().max_steps,
    "Kuramoto-Sivashinsky (L = 8 pi, 64 points) with 4 Gaussian actuators; reward: -(dissipation + power cost).",
)

__all__ = [
    "FIN_IDS",
    "OBJECTIVES",
    "FinPlate",
    "FinRay",
    "KSParams",
    "KuramotoSivashinsky",
    "PlateParams",
    "RayParams",
    "Scalarized",
    "ScalarizedParams",
    "SinusoidResult",
    "check_weights",
    "evaluate_sinusoid",
    "scalarized",
    "sinusoid_search",
]
