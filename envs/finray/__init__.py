"""Fin-ray propulsion: reduced-order proxies of a learned fin-ray actuation study.

Family ``finray``:

* ``FinPlate-{Thrust,Efficiency,Mixed,Lateral}-v0`` -- tier 1, rigid plate, unsteady
  thin-airfoil aerodynamics with Wagner lag states (:mod:`.plate`);
* ``FinRay-{Thrust,Efficiency,Mixed,Lateral}-v0`` -- tier 2, flexible ray as a modal
  Euler-Bernoulli beam with strip-theory loads and Lighthill thrust (:mod:`.ray`);
* ``KS-v0`` -- Kuramoto-Sivashinsky control with four Gaussian actuators (:mod:`.ks`).

:func:`sinusoid_search` grid-searches sinusoidal actuation (the study's baseline) in
one vmapped program.
"""

from __future__ import annotations

from jaxrl.envs.finray.common import ID_NAMES, OBJECTIVES
from jaxrl.envs.finray.ks import KSParams, KuramotoSivashinsky
from jaxrl.envs.finray.plate import FinPlate, PlateParams
from jaxrl.envs.finray.ray import FinRay, RayParams
from jaxrl.envs.finray.sinusoid import SinusoidResult, evaluate_sinusoid, sinusoid_search
from jaxrl.registry import register

FIN_IDS = tuple(f"{tier}-{ID_NAMES[o]}-v0" for tier in ("FinPlate", "FinRay") for o in OBJECTIVES)

_DESCRIPTIONS = {
    "thrust": "mean thrust coefficient",
    "efficiency": "cycle-averaged propulsive efficiency C_T/C_P",
    "mixed": "thrust minus weighted input power, C_T - lambda C_P",
    "lateral": "thrust minus a side-force penalty, C_T - lambda C_Y^2",
}


def _plate(objective: str):
    return lambda: FinPlate(objective)


def _ray(objective: str):
    return lambda: FinRay(objective)


for _o in OBJECTIVES:
    register(
        f"FinPlate-{ID_NAMES[_o]}-v0",
        "finray",
        _plate(_o),
        PlateParams().max_steps,
        f"Rigid flapping plate (thin-airfoil + Wagner lag), actuated pitch offset; reward: {_DESCRIPTIONS[_o]}.",
    )
for _o in OBJECTIVES:
    register(
        f"FinRay-{ID_NAMES[_o]}-v0",
        "finray",
        _ray(_o),
        RayParams().max_steps,
        f"Flexible fin ray (3-mode Euler-Bernoulli beam, Lighthill thrust), actuated root offset; "
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
    "SinusoidResult",
    "evaluate_sinusoid",
    "sinusoid_search",
]
