"""Registry entries of the ``surgical`` family (factories import lazily)."""

from __future__ import annotations

from jaxrl.registry import register

FAMILY = "surgical"

_ARMS = {
    "PSMReach-v1": (
        "PSM",
        "reach",
        "da Vinci PSM, Surgical Gym's 11-DOF psm.usd articulation: move the tool tip onto a goal sphere.",
    ),
    "PSMTrack-v1": (
        "PSM",
        "track",
        "da Vinci PSM, Surgical Gym's 11-DOF psm.usd articulation: keep the tool tip on a drifting goal.",
    ),
    "ECMReach-v1": (
        "ECM",
        "reach",
        "da Vinci ECM, Surgical Gym's 6-DOF ecm.usd articulation: move the camera tip onto a goal.",
    ),
    "ECMTrack-v1": (
        "ECM",
        "track",
        "da Vinci ECM, Surgical Gym's 6-DOF ecm.usd articulation: keep the camera tip on a drifting goal.",
    ),
    "STARReach-v1": ("STAR", "reach", "STAR (Surgical Gym; arm inferred as a KUKA iiwa + endoscope): reach a goal."),
    "STARTrack-v1": (
        "STAR",
        "track",
        "STAR (Surgical Gym; arm inferred as a KUKA iiwa + endoscope): track a drifting goal.",
    ),
}


def _arm(robot: str, mode: str):
    def factory():
        from jaxrl.envs.surgical.arms import ArmTask

        return ArmTask(robot, mode)

    return factory


for _id, (_robot, _mode, _desc) in _ARMS.items():
    register(_id, FAMILY, _arm(_robot, _mode), 399, _desc)

_PSM_TASKS = {
    "NeedleReach": "SurRoL PSM: bring the jaw tip 5 mm above a needle (sparse reward, goal-conditioned).",
    "GauzeRetrieve": "SurRoL PSM: grasp a gauze and lift it to a goal (sparse reward, goal-conditioned).",
    "NeedlePick": "SurRoL PSM: grasp a needle and lift it to a goal (sparse reward, goal-conditioned).",
    "PegTransfer": "SurRoL PSM: move a block onto a target peg (sparse reward, goal-conditioned).",
}
_ECM_TASKS = {
    "CameraReach": "SurRoL ECM reach: move the endoscope tip onto a goal (sparse reward, goal-conditioned).",
    "MisOrient": "SurRoL ECM: roll the endoscope to undo image misorientation (sparse reward).",
    "StaticTrack": "SurRoL ECM: centre a static target in the endoscope image (sparse reward).",
}


def _surrol(module: str, cls: str, task: str, flat: bool):
    def factory():
        import importlib

        env = getattr(importlib.import_module(f"jaxrl.envs.surgical.{module}"), cls)(task)
        if flat:
            from jaxrl.wrappers import FlattenObservation

            env = FlattenObservation(env)
        return env

    return factory


for _module, _cls, _table in (("surrol_psm", "PSMTask", _PSM_TASKS), ("surrol_ecm", "ECMTask", _ECM_TASKS)):
    for _task, _desc in _table.items():
        register(f"{_task}-v1", FAMILY, _surrol(_module, _cls, _task, False), 50, _desc + " Dict observation.")
        register(
            f"{_task}Flat-v1",
            FAMILY,
            _surrol(_module, _cls, _task, True),
            50,
            _desc + " Flat observation [achieved_goal, desired_goal, observation].",
        )
register(
    "ActiveTrack-v1",
    FAMILY,
    _surrol("surrol_ecm", "ECMTask", "ActiveTrack", False),
    500,
    "SurRoL ECM: keep a moving target centred in the endoscope image (dense reward; ends when it leaves the view).",
)
