"""Errors that a user can fix: the command line prints them as one line (no traceback, unless ``--debug``).

Raise :class:`UserError` (or a subclass) at the Python boundary for bad input -- ids, shapes,
config values, corrupt or mismatched checkpoints and run directories -- with a message that says
what is wrong, where, and how to fix it. Library callers can catch it like any ``ValueError``.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input a user can fix: the message names what, where and how to fix it."""


class RunDirError(UserError):
    """A run directory (or a file in it) is missing, corrupt, inconsistent or from another version."""


class DivergedError(RuntimeError):
    """A training run produced non-finite parameters, optimiser state or hyperparameters.

    ``diverged`` maps each diverged run (seed) to ``{"update", "quantity"}``; ``last_checkpoint``
    is the unit count of the last finite checkpoint (see :mod:`jaxrl.diagnostics`).
    """

    def __init__(self, message: str, diverged: dict | None = None, last_checkpoint: int | None = None):
        super().__init__(message)
        self.diverged = dict(diverged or {})
        self.last_checkpoint = last_checkpoint


__all__ = ["DivergedError", "RunDirError", "UserError"]
