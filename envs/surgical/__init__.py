"""Surgical robotics family: Surgical Gym (PSM/ECM/STAR reach and track) and SurRoL tasks.

JAX proxies with the originals' observations, actions, rewards, goals and horizons, their robots'
kinematics read from the originals' asset files, and cheap dynamics in place of the physics
engines. See ``arms.py`` (Surgical Gym, on the USD joint trees of ``joint_fk.py``), ``surrol_psm.py`` /
``surrol_ecm.py`` (SurRoL; ``trajectory.py``: ActiveTrack's B-spline), ``reference.py`` (the facts, as
data; ``reference_io.py`` reads the asset files), ``oracle.py`` (SurRoL's scripted oracles),
``kinematics.py`` (dVRK DH chains, camera) and ``render.py``.
"""

from jaxrl.envs.surgical import registration  # noqa: F401
