"""The catalog lock: ``catalog_lock`` (or ``NoLock`` under ``--no-lock``), and ``unlock_command``.

Layer: orchestration (``reconciler.operations``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import Diagnostic, ReconcilerError
from ..providers import LockHandle, LockInfo, Provider
from .environment import Environment

log = logging.getLogger("reconciler")


def unlock_command(lock_id: str, file: Path) -> str:
    """The command that clears a lock left behind (quoted in every message about one)."""
    return f"reconciler force-unlock {lock_id} --file {file}"


#: The warning of ``--no-lock`` (``catalog_lock(lock=False)``).
NO_LOCK_WARNING = "--no-lock: running without the catalog lock; another apply may run at the same time"


@dataclass
class NoLock:
    """The handle of a run that took no lock (``--no-lock``): nothing to release, never lost."""

    info: LockInfo

    def release(self) -> None:
        return None

    def check(self) -> None:
        return None


@contextmanager
def catalog_lock(
    provider: Provider,
    command: str,
    timeout: float,
    *,
    file: Path,
    env: Environment,
    warn: Callable[[Diagnostic], None],
    lock: bool = True,
) -> Iterator[LockHandle]:
    """Hold the catalog lock for ``command``; ``file`` is the desired-state file (for force-unlock).

    ``lock=False`` (``--no-lock``, Terraform's ``-lock=false``): take no lock at all; the body gets
    a ``NoLock`` handle, and ``warn`` gets the warning that another apply may run at the same time.

    When the body fails, the lock is released and a release failure goes to ``warn``: it never
    hides the error that got us there. When the body succeeds, a release failure is an error
    naming the exact ``force-unlock`` command, raised after whatever the body reported.
    """
    info = LockInfo.new(command, run_id=env.run_id)
    if not lock:
        warn(Diagnostic.warning(NO_LOCK_WARNING))
        yield NoLock(info)
        return
    handle = provider.acquire_lock(info, timeout)
    log.debug("lock %s taken", info.id)
    try:
        yield handle
    except BaseException:
        try:
            handle.release()
        except ReconcilerError as e:
            warn(Diagnostic.warning(f"could not release the catalog lock {info.id}: {e}",
                                    f"if the lock is still held, clear it with: {unlock_command(info.id, file)}"))
        raise
    try:
        handle.release()
    except ReconcilerError as e:
        raise ReconcilerError(
            f"{command} finished, but the catalog lock {info.id} could not be released: {e.message}",
            f"{e.hint + '; ' if e.hint else ''}if the next apply still "
            f"finds it held, clear it with: {unlock_command(info.id, file)}",
        ) from e
