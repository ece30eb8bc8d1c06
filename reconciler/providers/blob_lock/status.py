"""The blob lock's decisions without storage: what the lock blob's lease state and metadata mean.

Layer: edge (provider helper), but pure: the metadata record (``encode_metadata``/``decode_metadata``),
the lock's state (``classify``), the operator's message for it (``describe_status``) and the one
translation of a storage failure into ``ProviderError``/``LeaseLost`` (``_translate``). The storage
calls, the lease and its renewal are in ``lease.py``; how the lock works is in the package docstring.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from ...errors import ProviderError
from ..locking import LockInfo, gone_note

#: Metadata keys (Azure metadata names must be C identifiers; Azure lower-cases nothing, we do).
_FORMAT_KEY = "reconciler_lock"
_FORMAT = "1"
_FIELDS = ("id", "who", "host", "pid", "command", "created", "run_id")
_HEARTBEAT_KEY = "heartbeat"

#: Storage error codes that mean "this lease is no longer ours".
_LEASE_LOST_CODES = frozenset(
    {
        "LeaseIdMismatchWithLeaseOperation",
        "LeaseIdMismatchWithBlobOperation",
        "LeaseNotPresentWithLeaseOperation",
        "LeaseNotPresentWithBlobOperation",
        "LeaseIsBrokenAndCannotBeRenewed",
        "LeaseIsBreakingAndCannotBeAcquired",
        "LeaseLost",
        "LeaseIdMissing",
        "BlobNotFound",
        "ContainerNotFound",
    }
)
_MISSING_CODES = frozenset({"BlobNotFound", "ContainerNotFound", "ContainerBeingDeleted"})
_RBAC_HINT = (
    "the identity needs the 'Storage Blob Data Contributor' role on the lock container (or its "
    "storage account), or set AZURE_STORAGE_KEY / AZURE_STORAGE_CONNECTION_STRING"
)


class LockState(str, enum.Enum):
    """What the lock blob says, as an operator would put it."""

    FREE = "free"
    #: Holder recorded and its lease is live: the holder renewed it within the lease duration.
    HELD = "held"
    #: Holder recorded but nobody renews the lease: the run that took it was most likely killed.
    ABANDONED = "abandoned"
    #: Leased, but no holder recorded: a run between its lease and its metadata write (a moment), or
    #: a lease taken outside reconciler.
    LEASED_UNKNOWN = "leased-unknown"


@dataclass(frozen=True)
class LockStatus:
    """One reading of the lock blob. ``heartbeat``: the holder's last renewal (UTC, ISO), or ``""``."""

    state: LockState
    holder: LockInfo | None = None
    heartbeat: str = ""
    lease_state: str = ""


class LeaseLost(ProviderError):
    """The lease this process held was broken or taken over (``force-unlock``, or it lapsed)."""


def encode_metadata(info: LockInfo, heartbeat: str) -> dict[str, str]:
    """``LockInfo`` as blob metadata; values percent-encoded because headers carry ASCII only."""
    meta = {_FORMAT_KEY: _FORMAT, _HEARTBEAT_KEY: heartbeat}
    for key, value in info.as_dict().items():
        meta[key] = quote(str(value), safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")
    return meta


def decode_metadata(meta: Mapping[str, str] | None) -> tuple[LockInfo | None, str]:
    """The holder recorded in blob metadata and its heartbeat; ``None`` when no lock id is there.

    Tolerant on purpose: a half-written or hand-edited record still yields whatever it names, so
    that ``force-unlock`` and the error messages never fail on odd metadata (Terraform's do).
    """
    lowered = {str(k).lower(): unquote(str(v)) for k, v in (meta or {}).items()}
    if not lowered.get("id"):
        return None, lowered.get(_HEARTBEAT_KEY, "")
    fields = {k: lowered.get(k, "") for k in _FIELDS}
    try:
        int(fields["pid"] or 0)
    except ValueError:
        fields["pid"] = "0"
    return LockInfo.from_dict(fields), lowered.get(_HEARTBEAT_KEY, "")


def classify(lease_state: str, meta: Mapping[str, str] | None) -> LockStatus:
    """Pure: the lock's state from the blob's lease state and metadata."""
    holder, heartbeat = decode_metadata(meta)
    leased = lease_state in ("leased", "breaking")
    if holder is None:
        state = LockState.LEASED_UNKNOWN if leased else LockState.FREE
    else:
        state = LockState.HELD if leased else LockState.ABANDONED
    return LockStatus(state, holder, heartbeat, lease_state)


def describe_status(catalog: str, status: LockStatus) -> tuple[str, str]:
    """(message, hint) for a lock that could not be taken or released. Pure but for one look at this
    host's process table (``locking.gone_note``): a holder whose pid is gone here is said to be gone."""
    h = status.holder
    gone = gone_note(h) if status.state in (LockState.HELD, LockState.ABANDONED) else ""
    if gone and h is not None and status.state is LockState.HELD:
        return (
            f"catalog '{catalog}' is locked by {h.describe()} (lock ID {h.id}){gone}",
            f"that run is gone: check what it left half done, then run: reconciler force-unlock {h.id}",
        )
    if status.state is LockState.HELD and h is not None:
        return (
            f"catalog '{catalog}' is locked by {h.describe()} (lock ID {h.id})",
            "that run is alive (it renewed its lease within the last minute): wait for it or raise "
            f"--lock-timeout; if you are sure it is gone, run: reconciler force-unlock {h.id}",
        )
    if status.state is LockState.ABANDONED and h is not None:
        beat = f", last heartbeat {status.heartbeat}" if status.heartbeat else ""
        return (
            f"catalog '{catalog}' is locked by {h.describe()} (lock ID {h.id}), but nobody renews "
            f"the lock's lease any more{beat}: that run was probably killed{gone}",
            f"check that run is gone and what it left half done, then run: reconciler force-unlock {h.id}",
        )
    if status.state is LockState.LEASED_UNKNOWN:
        return (
            f"catalog '{catalog}' lock blob is leased by a holder that recorded no details (a run "
            "taking or releasing the lock, or a lease taken outside reconciler)",
            "a lease taken by reconciler lapses by itself within a minute; if this one persists, "
            "break it in the Azure portal or with 'az storage blob lease break'",
        )
    return (f"catalog '{catalog}' is not locked", "")


def _error_code(e: BaseException) -> str:
    code = getattr(e, "error_code", None) or ""
    return str(getattr(code, "value", code))


def _translate(what: str, e: BaseException) -> ProviderError:
    """One storage failure as a ``ProviderError`` (``LeaseLost`` when our lease is gone)."""
    status = int(getattr(e, "status_code", 0) or 0)
    code = _error_code(e)
    response = getattr(e, "response", None)
    headers = getattr(response, "headers", None) or {}
    request_id = str(headers.get("x-ms-request-id", "")) if hasattr(headers, "get") else ""
    text = str(e).strip()
    first_line = text.splitlines()[0] if text else type(e).__name__
    retryable = status == 0 or status == 429 or status >= 500
    hint = ""
    if status in (401, 403) or type(e).__name__ in ("ClientAuthenticationError", "CredentialUnavailableError"):
        hint, retryable = _RBAC_HINT, False
    cls = LeaseLost if code in _LEASE_LOST_CODES else ProviderError
    return cls(
        f"lock storage: {what} failed: {first_line}",
        status=status,
        code=code,
        request_id=request_id,
        retryable=retryable,
        hint=hint,
    )


__all__ = ["LeaseLost", "LockState", "LockStatus", "classify", "decode_metadata", "describe_status", "encode_metadata"]
