"""A piece of work done by a forked copy of this process while this one does another: the second
core of a 2-core CI runner reads half of a large desired-state file (issue 13; ``reader._fast_split``).

Layer: pure core. No printing, no environment; the helper ends itself with ``os._exit`` (it is
not the command ending: the command never waits on anything but the helper's answer).

Only where forking is safe and pays: Linux (macOS and Windows spawn instead, which would cost more
than the work saved), two CPUs at least, and a process with one thread (``/proc/self/task``): a
fork copies only the calling thread, so a lock another thread held stays held in the copy forever.
Anything that goes wrong in the helper (an exception, a signal, a refused fork) makes ``start`` or
``Helper.result`` say so, and the caller does the work itself: the helper can make a read faster,
never different.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import Any


class HelperFailed(Exception):
    """The helper gave no answer (it failed, or was killed): do its work here."""


def _single_threaded() -> bool:
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _spare_core() -> bool:
    """This process may run on two CPUs at least: on one, a helper only adds its own cost."""
    try:
        return len(os.sched_getaffinity(0)) >= 2
    except OSError:
        return False


def start(work: Callable[[], Any]) -> Helper | None:
    """``work()`` run in a forked copy of this process; None where that is unsafe, useless (one
    CPU) or refused.

    ``work``'s value must pickle; ``Helper.result`` gives it back here."""
    if not sys.platform.startswith("linux") or not _spare_core() or not _single_threaded():
        return None
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:  # the helper: answer through the pipe, then end without running this process's exit
        status = 1
        try:
            os.close(read_end)
            for sig in (signal.SIGINT, signal.SIGTERM):
                # The command's own handlers are not the helper's: a signal that would stop the
                # command ends the helper; one the command ignores (a background job's SIGINT), too.
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    signal.signal(sig, signal.SIG_DFL)
            data = memoryview(pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL))
            while data:
                data = data[os.write(write_end, data):]
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return Helper(pid, read_end)


class Helper:
    """A forked helper at work: ``result`` (its answer, once) or ``cancel`` (kill it); either
    reaps it, so no helper outlives the call that started it as a zombie."""

    def __init__(self, pid: int, fd: int) -> None:
        self._pid = pid
        self._fd = fd

    def result(self) -> Any:
        """The value of the helper's ``work()``; raises ``HelperFailed`` when it gave none.

        Unpickled as it comes through the pipe, not gathered first: the answer's bytes are never
        held beside what they unpickle to (two copies of it; issue 13)."""
        value: Any = None
        error: Exception | None = None
        try:
            with os.fdopen(self._fd, "rb", buffering=1 << 20, closefd=False) as pipe:
                try:
                    value = pickle.load(pipe)
                except Exception as e:  # a truncated answer (EOFError, UnpicklingError, ...)
                    error = e
        finally:
            status = self._reap()
        if status != 0:
            raise HelperFailed(f"the helper ended with status {status}")
        if error is not None:
            raise HelperFailed(f"the helper's answer cannot be read: {error}") from None
        return value

    def cancel(self) -> None:
        """Stop the helper (its work is not needed) and reap it."""
        if self._pid:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()

    def _reap(self) -> int:
        pid, self._pid = self._pid, 0
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if not pid:
            return -1
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)


__all__ = ["Helper", "HelperFailed", "start"]
