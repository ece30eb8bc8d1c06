"""The catalog lock every provider offers: who holds it, the handle, and the one wait loop.

Layer: edge (provider helper). Pure except for what is injected: the clock and the sleep of
``wait_for_lock``, and ``holder_gone``'s look at this host's process table. A provider supplies only
its single try (``attempt``: a held handle, or ``Held`` naming whoever has the lock), its handle's
``release``/``check`` and its ``force_unlock``; waiting, giving up and the error that names the
holder are written here once.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypedDict, TypeVar

from ..errors import LockError


@dataclass(frozen=True)
class LockInfo:
    """Who holds a catalog lock. ``id`` is the nonce ``force-unlock`` must be given."""

    id: str
    who: str
    host: str
    pid: int
    command: str
    created: str
    run_id: str = ""

    @classmethod
    def new(cls, command: str, *, who: str | None = None, run_id: str = "") -> LockInfo:
        try:
            user = who or getpass.getuser()
        except (KeyError, OSError):
            user = who or "unknown"
        return cls(
            id=str(uuid.uuid4()),
            who=user,
            host=socket.gethostname(),
            pid=os.getpid(),
            command=command,
            created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            run_id=run_id,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LockInfo:
        return cls(
            id=str(d.get("id", "")),
            who=str(d.get("who", "")),
            host=str(d.get("host", "")),
            pid=int(d.get("pid", 0) or 0),
            command=str(d.get("command", "")),
            created=str(d.get("created", "")),
            run_id=str(d.get("run_id", "")),
        )

    def describe(self) -> str:
        run = f", run {self.run_id}" if self.run_id else ""
        return f"{self.who} on {self.host} (pid {self.pid}{run}) since {self.created}, running '{self.command}'"


class LockHandle(Protocol):
    """A lock this run holds. Every provider's handle implements all of it.

    ``release`` is idempotent, and raises ``LockError`` when the lock was no longer this run's by
    then (force-unlocked, or lost): the caller reports that after its own output (the classic
    provider's release of a lock already gone stays silent). ``check`` raises
    ``LockError`` (or the ``ProviderError`` of the read) when the lock is no longer this run's, so
    apply can stop before its next change.
    """

    info: LockInfo

    def release(self) -> None: ...

    def check(self) -> None: ...


class LockWaits(TypedDict, total=False):
    """The keywords of ``acquire_lock`` that drive its waiting: injected in tests, real otherwise."""

    clock: Callable[[], float] | None
    sleep: Callable[[float], None] | None


@dataclass(frozen=True)
class Held:
    """One try found the lock taken. ``holder``: who has it (``None``: nobody recorded); ``message``
    and ``hint``: how this provider says so, used only when the wait gives up."""

    holder: LockInfo | None
    message: str
    hint: str

    def error(self, waited: float) -> LockError:
        suffix = f" (waited {waited:g} s)" if waited > 0 else ""
        return LockError(self.message + suffix, self.hint, holder=holder_fields(self.holder))


H = TypeVar("H", bound=LockHandle)


def wait_for_lock(
    attempt: Callable[[], H | Held],
    *,
    timeout: float,
    poll: float,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> H:
    """Try ``attempt`` until it returns a handle; after ``timeout`` seconds raise the last holder's error.

    Tries at once, then every ``poll`` seconds, never sleeping past the deadline; ``timeout`` 0
    tries exactly once.
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    deadline = clock() + max(0.0, timeout)
    while True:
        found = attempt()
        if not isinstance(found, Held):
            return found
        remaining = deadline - clock()
        if remaining <= 0:
            raise found.error(timeout)
        sleep(min(poll, remaining))


def holder_fields(info: LockInfo | None) -> dict[str, str]:
    """``LockError.holder``: the holder's fields as text (empty when nobody is recorded)."""
    return {k: str(v) for k, v in info.as_dict().items()} if info is not None else {}


def holder_gone(holder: LockInfo) -> bool | None:
    """Whether the holder's process is known to be gone: only a pid on this host can be looked at."""
    if holder.host != socket.gethostname() or os.name != "posix" or holder.pid <= 0:
        return None
    try:
        os.kill(holder.pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    except OSError:
        return None
    return False


def gone_note(holder: LockInfo | None) -> str:
    """``": its process (pid N) no longer exists on this host"`` when ``holder_gone`` knows so, else ""."""
    if holder is not None and holder_gone(holder):
        return f": its process (pid {holder.pid}) no longer exists on this host"
    return ""


def held_by(holder: LockInfo | None) -> Held:
    """``Held`` worded for a lock that records its holder (the local and classic locks)."""
    who = holder.describe() if holder is not None else "an unknown holder"
    lock_id = holder.id if holder is not None else "?"
    gone = gone_note(holder)
    if gone:
        hint = f"that run is gone: check what it left half done, then run reconciler force-unlock {lock_id}"
    else:
        hint = (
            "wait for that run to finish or raise --lock-timeout; if it was killed, "
            f"run reconciler force-unlock {lock_id}"
        )
    return Held(holder, f"the catalog is locked by {who} (lock ID {lock_id}){gone}", hint)


def unlockable(holder: LockInfo | None, lock_id: str, *, what: str = "the catalog") -> LockInfo:
    """The holder ``force-unlock lock_id`` may clear; ``LockError`` when unlocked or another id's."""
    if holder is None:
        raise LockError(f"{what} is not locked", "there is nothing to unlock")
    if holder.id != lock_id:
        raise LockError(
            f"lock ID '{lock_id}' does not match the lock on the catalog, held by {holder.describe()}",
            "pass the exact lock ID shown by the failed run's error message",
            holder=holder_fields(holder),
        )
    return holder


def taken_from(mine: LockInfo, now: LockInfo | None) -> str | None:
    """Why the lock recorded as ``now`` is no longer ``mine``; ``None`` while it still is."""
    if now is None:
        return "its lock record is gone (someone ran force-unlock)"
    if now.id != mine.id:
        return f"it is now held by {now.describe()} (lock ID {now.id})"
    return None


def lost_lock(what: str, mine: LockInfo, reason: str, hint: str = "") -> LockError:
    """``check``'s error: this run no longer holds the lock on ``what`` (``"catalog 'x'"``)."""
    return LockError(
        f"this run lost the lock on {what}: {reason}",
        hint or "someone ran force-unlock; stop, run plan again and check no other apply is running",
        holder=holder_fields(mine),
    )


def lost_at_release(what: str, mine: LockInfo, hint: str = "") -> LockError:
    """``release``'s error: the lock was no longer this run's when it ended."""
    return LockError(
        f"the lock on {what} was no longer held by this run when it ended (lock ID {mine.id})",
        hint or "it was force-unlocked; check that no other run changed the catalog at the same time, "
        "then run plan again",
        holder=holder_fields(mine),
    )


__all__ = [
    "Held",
    "LockHandle",
    "LockInfo",
    "LockWaits",
    "held_by",
    "holder_fields",
    "gone_note",
    "holder_gone",
    "lost_at_release",
    "lost_lock",
    "taken_from",
    "unlockable",
    "wait_for_lock",
]
