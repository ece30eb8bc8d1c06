"""The command line (typer): the only package that prints, prompts, reads the environment or exits.

``app`` (global options, the error boundary, exit codes, ``main``), ``env`` (the one reader of
``os.environ``), ``signals`` (SIGINT/SIGTERM while the lock is held), ``progress`` (apply's
display) and ``commands`` (one module per group). Commands parse, call ``reconciler.operations``,
render and exit.
"""

from __future__ import annotations

from . import commands
from .app import app, main, run

__all__ = ["app", "commands", "main", "run"]
