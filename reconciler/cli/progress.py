"""Apply's progress display: the ``apply.ApplyHooks`` the shell passes to ``operations.apply_changes``.

Layer: shell. ``LineHooks`` writes one log line per state change (CI logs); ``LiveHooks`` a live
progress line per change on a terminal (rich, through typer). Both escape every untrusted text.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from typing import Any

from ..model import Change, ChangeResult, Outcome, Plan
from .app import OPTS, color, echo, echo_err, safe


class LineHooks:
    """CI output: one log line per state change of a change, stamped in UTC (``09:14:35Z``).

    A provider step that only repeats what the change does (``update`` after "update started") or
    the line before is not a state change: it is left out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, str] = {}

    def _line(self, change: Change, text: str) -> None:
        stamp = time.strftime("%H:%M:%SZ", time.gmtime())
        with self._lock:
            self._last[change.key] = text
            echo(f"{stamp} {change.action.value or '='} {safe(change.name)}: {safe(text)}")

    def started(self, change: Change) -> None:
        self._line(change, f"{change.action.word} started")

    def step(self, change: Change, message: str) -> None:
        with self._lock:
            last = self._last.get(change.key)
        if message.strip().casefold() in (change.action.word, f"{change.action.word}d") or message == last:
            return
        self._line(change, message)

    def note(self, text: str) -> None:
        """A message about the whole apply (the stop messages), on stderr."""
        with self._lock:
            echo_err(text)

    def finished(self, change: Change, result: ChangeResult, error: BaseException | None) -> None:
        if result.outcome is Outcome.DONE:
            self._line(change, f"{change.action.word} done in {result.seconds:.1f}s")
        else:
            self._line(change, f"{change.action.word} FAILED after {result.seconds:.1f}s: {result.error}")
            if OPTS.debug and error is not None:
                traceback.print_exception(error)


class LiveHooks:
    """Terminal output: a live progress line per change (rich, through typer)."""

    def __init__(self, plan: Plan) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = Console(no_color=not color(sys.stdout))
        self.progress = Progress(
            SpinnerColumn(finished_text="•"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.tasks: dict[str, Any] = {}
        for c in plan.pending:
            self.tasks[c.key] = self.progress.add_task(self._line(c, "waiting"), total=1, start=False)

    @staticmethod
    def _line(change: Change, text: str) -> str:
        """Escaped twice: control characters (``safe``), then rich markup (``[link=...]`` in a name)."""
        from rich.markup import escape

        return escape(f"{change.action.value} {safe(change.name)}: {safe(text)}")

    def __enter__(self) -> LiveHooks:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def note(self, text: str) -> None:
        """A message about the whole apply (the stop messages), printed above the live lines at once:
        written past the live display, it would be drawn over."""
        self.progress.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def started(self, change: Change) -> None:
        task = self.tasks[change.key]
        self.progress.start_task(task)
        self.progress.update(task, description=self._line(change, change.action.word))

    def step(self, change: Change, message: str) -> None:
        self.progress.update(self.tasks[change.key], description=self._line(change, message))

    def finished(self, change: Change, result: ChangeResult, error: BaseException | None) -> None:
        word = "done" if result.outcome is Outcome.DONE else f"FAILED: {result.error}"
        self.progress.update(self.tasks[change.key], description=self._line(change, word), completed=1)

