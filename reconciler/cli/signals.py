"""Stopping: SIGINT and SIGTERM while a command holds the catalog lock (README "Exit codes").

Layer: shell. On the first signal the command is interrupted (apply then starts no new change and
waits for those in flight); a second one cuts that wait short. When changes may still be running,
the process exits keeping the lock, with the exact ``force-unlock`` command to run once they are over.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from ..operations import NoLock, unlock_command
from ..providers import LockHandle
from .app import OPTS, echo_err, exit_with

#: Seconds apply waits, after SIGTERM or Ctrl-C, for the changes already running to finish before it
#: reports and exits anyway. Below the usual grace periods before SIGKILL (Kubernetes 30 s,
#: GitLab's job timeout handling, systemd 90 s), leaving time to print the report and release.
STOP_GRACE_SECONDS = 20.0


class Stop:
    """The first stop signal received while a command that holds the lock runs (None: none yet)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        #: True while apply waits for the changes in flight: a second signal then ends the wait.
        self.waiting = False
        #: A second signal ended that wait.
        self.again = False

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports it: 143 for SIGTERM, 130 for Ctrl-C."""
        return 128 + (self.signum or 2)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "SIGINT"

    @property
    def received(self) -> str:
        """How the messages name the signal: "Interrupt" (Ctrl-C, as Terraform says) or "SIGTERM"."""
        return "Interrupt" if self.signum in (None, signal.SIGINT) else self.name

    @property
    def send_again(self) -> str:
        return "Ctrl-C again" if self.signum in (None, signal.SIGINT) else f"send {self.name} again"


@contextmanager
def stoppable() -> Iterator[Stop]:
    """SIGTERM is handled like Ctrl-C: both raise KeyboardInterrupt in the main thread, once.

    CI runners, Kubernetes and `timeout` stop a job with SIGTERM, whose default action kills the
    process and leaves the catalog lock held. Here the first SIGINT or SIGTERM interrupts the
    command (apply then stops starting changes and waits for those in flight). A later one cuts
    that wait short (apply catches it) and is ignored at any other moment, so that it cannot cut
    the report or the lock release in half. The previous handlers come back afterwards. A
    KeyboardInterrupt that leaves the command exits 128 + the signal number.
    """
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop.signum is None:
            stop.signum = signum
            raise KeyboardInterrupt
        if stop.waiting:
            stop.again = True
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    except KeyboardInterrupt:
        if OPTS.debug:
            traceback.print_exc()
        echo_err("terminated (SIGTERM)" if stop.signum == signal.SIGTERM else "interrupted")
        exit_with(stop.exit_code)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def abandon_lock(unfinished: tuple[str, ...], lock: LockHandle, file: Path, code: int) -> NoReturn:
    """Exit now, keeping the catalog lock: changes we stopped waiting for may still be running.

    Releasing it would let the next apply start on top of them. Their threads would also keep a
    normal exit waiting, so the process ends with ``os._exit`` once the output is flushed.
    """
    lock_id = lock.info.id
    if isinstance(lock, NoLock):  # --no-lock: there is no lock to keep
        echo_err(
            f"warning: {len(unfinished)} change{'s' if len(unfinished) != 1 else ''} "
            f"({', '.join(unfinished)}) may still be running (no catalog lock was taken: --no-lock)."
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    echo_err(
        f"warning: {len(unfinished)} change{'s' if len(unfinished) != 1 else ''} "
        f"({', '.join(unfinished)}) may still be running, so the catalog lock {lock_id} was kept: "
        "no other apply starts on top of them."
    )
    echo_err(f"hint: once they are over, run `reconciler plan`, then: {unlock_command(lock_id, file)}")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
