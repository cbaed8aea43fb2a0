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
    """A training run produced non-finite losses, gradients or parameters (see :mod:`jaxrl.diagnostics`)."""


__all__ = ["DivergedError", "RunDirError", "UserError"]
