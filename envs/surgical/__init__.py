"""Surgical robotics family: Surgical Gym (PSM/ECM/STAR reach and track) and SurRoL tasks.

JAX proxies with the originals' observations, actions, rewards, goals and horizons and cheap
closed-form kinematics in place of the physics engines. See ``arms.py`` (Surgical Gym),
``surrol_psm.py`` / ``surrol_ecm.py`` (SurRoL), ``kinematics.py`` and ``render.py``.
"""

from jaxrl.envs.surgical import registration  # noqa: F401
