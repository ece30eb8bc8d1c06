"""The one place that reads the process environment (``os.environ``).

Layer: shell. What a variable means for a catalog (``RECONCILER_<SETTING>``, trusted endpoints,
credentials, the CI run id) is ``operations.Environment``'s to say; this module only hands it the
variables, and reads the few that are about the terminal and the CI's output.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from ..errors import ReconcilerError
from ..operations import Environment


def environment() -> Environment:
    """The process environment as the operations take it, read now (tests change it between runs)."""
    return Environment(dict(os.environ))


def no_color() -> bool:
    """``NO_COLOR`` (https://no-color.org): set and not empty means no colour."""
    return bool(os.environ.get("NO_COLOR"))


def debug_requested() -> bool:
    """``RECONCILER_DEBUG``: like ``--debug``, for runs whose command line is hard to change."""
    return os.environ.get("RECONCILER_DEBUG", "") not in ("", "0", "false")


def github_actions() -> bool:
    """Running under GitHub Actions: errors are also printed as workflow annotations."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def step_summary_path() -> str | None:
    """``GITHUB_STEP_SUMMARY``: the file a plan's Markdown is appended to (None: not set)."""
    return os.environ.get("GITHUB_STEP_SUMMARY") or None


def now() -> datetime:
    """The time a plan is made at: ``RECONCILER_NOW`` (an ISO-8601 instant, ``2026-12-01T11:00:00Z``)
    when set, the injected clock of tests and of a CI that replays a decision; else the system
    clock (UTC). Time-based rules (a promotion's ``promote_when.min_age``) read only this."""
    text = os.environ.get("RECONCILER_NOW", "").strip()
    if not text:
        return datetime.now(UTC)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ReconcilerError(f"RECONCILER_NOW={text!r} is not an ISO-8601 time",
                              "write it like 2026-12-01T11:00:00Z, or unset it to use the clock") from None
    return (t if t.tzinfo is not None else t.replace(tzinfo=UTC)).astimezone(UTC)
