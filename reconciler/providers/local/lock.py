"""The local catalog's lock: one row of the ``lock`` table, carrying the holder's ``LockInfo``.

Layer: edge (the ``local`` provider). The waiting is ``locking.wait_for_lock``'s; this is the handle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..locking import LockInfo, lost_at_release, lost_lock, taken_from
from .store import _lock_holder

if TYPE_CHECKING:
    from .backend import LocalBackend


class LocalLockHandle:
    """A held catalog lock: the lock row carrying ``info.id``. ``release`` deletes that row only."""

    def __init__(self, provider: LocalBackend, info: LockInfo) -> None:
        self.info = info
        self._provider = provider
        self._released = False

    @property
    def _what(self) -> str:
        return f"catalog {self._provider.path}"

    def check(self) -> None:
        """Raise ``LockError`` when the lock row is gone or another run's (force-unlock ran)."""
        with self._provider._read() as conn:
            reason = taken_from(self.info, _lock_holder(conn))
        if reason is not None:
            raise lost_lock(self._what, self.info, reason)

    def release(self) -> None:
        """Delete our lock row; safe to call twice. ``LockError`` when it was no longer ours."""
        if self._released:
            return
        with self._provider._write() as conn:
            deleted = conn.execute("DELETE FROM lock WHERE lock_id = ?", (self.info.id,)).rowcount
        self._released = True
        if not deleted:
            raise lost_at_release(self._what, self.info)

    def __enter__(self) -> LocalLockHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
