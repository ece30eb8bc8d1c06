"""A catalog lock shared by every pipeline: a lease on one blob in an Azure storage container.

Layer: edge (provider helper). It talks to Azure Blob Storage through ``azure-storage-blob`` (the
``reconciler[azure]`` extra, imported lazily) and translates every storage failure into
``errors.ProviderError`` / ``errors.LockError`` once, with the cause chained: no ``azure.core``
exception leaves this module. It never prints, never reads ``os.environ`` (the environment is handed
in) and never sleeps on the caller's behalf except through the injected ``sleep``.

How the lock works (the operator's view is in ``docs/locking.md``):

* The lock of catalog ``C`` is the blob ``<lock_container>/C.lock``. Container and blob are created
  when missing.
* Taking it = acquiring a **finite** lease (60 s by default) on that blob *and* writing the holder's
  ``LockInfo`` into the blob's metadata. A background thread renews the lease every third of its
  duration and refreshes a ``heartbeat`` timestamp in the metadata.
* Releasing it = clearing the metadata, then releasing the lease (also on error and Ctrl-C: the
  handle's ``release`` is idempotent and the CLI calls it in ``finally``).
* The **metadata is the lock**; the lease only proves the holder is alive and serialises writers.
  A holder killed with SIGKILL stops renewing, its lease lapses by itself within 60 s, but its
  metadata stays: the lock is then *abandoned* and still counts as held, because the killed run may
  have left a capture half done and a human should look before the next apply. ``force_unlock(ID)``
  clears it, and only when ``ID`` is the recorded lock id.
* Terraform's azurerm backend uses an infinite lease, so a cancelled job leaves the blob leased for
  ever, and its force-unlock fails with ``LeaseIdMissing`` or on empty metadata. Here a lease that
  nobody renews always lapses, a lease without metadata is never a lock (it lapses too), and
  ``force_unlock`` breaks whatever lease is there before clearing the metadata under a lease of its
  own.
"""

from __future__ import annotations

import enum
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Unpack
from urllib.parse import quote, unquote

from ..errors import LockError, ProviderError, ReconcilerError
from .clouds import TRUSTED_ENV, check_target, get_cloud, parse_trusted_hosts
from .locking import Held, LockInfo, LockWaits, holder_fields, lost_at_release, lost_lock, wait_for_lock

#: Default container for lock blobs when the catalog settings name none.
DEFAULT_CONTAINER = "reconciler-locks"
#: Lease length in seconds. Azure allows 15..60 for a finite lease.
DEFAULT_LEASE_SECONDS = 60
#: How often a waiting ``acquire`` looks at the lock again.
DEFAULT_POLL_SECONDS = 2.0

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
_CONTAINER_RE = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")
_ACCOUNT_RE = re.compile(r"^[a-z0-9]{3,24}$")
_AZURE_HINT = "install the Azure extra: pip install 'reconciler[azure]'"
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
    """Pure: (message, hint) for a lock that could not be taken or released."""
    h = status.holder
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
            f"the lock's lease any more{beat}: that run was probably killed",
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


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def run_renewals(
    renew: Callable[[], None],
    *,
    lease_seconds: float,
    wait: Callable[[float], bool],
    clock: Callable[[], float],
) -> str:
    """Renew a lease every third of its duration until ``wait`` reports a stop request.

    ``wait(seconds)`` blocks up to ``seconds`` and returns True when the holder asked to stop (a
    ``threading.Event.wait`` in production, a scripted fake in tests). A transient failure is
    retried sooner; the loop gives up when the lease is lost, or when no renewal succeeded for a
    whole lease duration (by then it has lapsed). Returns ``""`` on a normal stop, else why the
    lease was lost.
    """
    interval = lease_seconds / 3
    retry = min(interval, max(1.0, interval / 4))
    last_ok = clock()
    delay = interval
    while not wait(delay):
        try:
            renew()
        except LeaseLost as e:
            return f"the lease was lost: {e}"
        except ProviderError as e:
            if clock() - last_ok >= lease_seconds:
                return f"the lease could not be renewed for {lease_seconds:g} s and has lapsed: {e}"
            delay = retry
            continue
        last_ok = clock()
        delay = interval
    return ""


class BlobLockHandle:
    """A held lock. ``release()`` is idempotent; ``lost`` turns true if the lease was taken away."""

    def __init__(self, lock: BlobLeaseLock, info: LockInfo, lease: Any) -> None:
        self.info = info
        self._lock = lock
        self._lease = lease
        self._stop = threading.Event()
        self._guard = threading.Lock()
        self._released = False
        self.lost_reason = ""
        self._thread: threading.Thread | None = None

    @property
    def lost(self) -> bool:
        """True when renewal found the lease gone: this run no longer holds the lock."""
        return bool(self.lost_reason)

    def check(self) -> None:
        """Raise ``LockError`` when the lock was lost, so apply can stop before its next change."""
        if self.lost_reason:
            raise lost_lock(
                f"catalog '{self._lock.catalog}'",
                self.info,
                self.lost_reason,
                "someone ran force-unlock, or the storage account was unreachable for a minute; "
                "stop, run plan again and check no other apply is running",
            )

    def renew_now(self) -> None:
        """Renew the lease and refresh the heartbeat once (what the background thread does).

        A ``LeaseLost`` is also recorded in ``lost_reason``, whoever called: the lock is gone.
        """
        try:
            self._lock._call("renew the lock lease", self._lease.renew)
        except LeaseLost as e:
            self.lost_reason = self.lost_reason or f"the lease was lost: {e}"
            raise
        try:
            self._lock._write_metadata(self.info, self._lease)
        except LeaseLost:
            raise
        except ProviderError:
            pass  # the heartbeat is informative; the renewed lease is what keeps the lock

    def _start_renewing(self) -> None:
        def loop() -> None:
            reason = run_renewals(
                self.renew_now,
                lease_seconds=self._lock.lease_seconds,
                wait=self._stop.wait,
                clock=time.monotonic,
            )
            self.lost_reason = self.lost_reason or reason

        self._thread = threading.Thread(target=loop, name=f"lock-renewer-{self._lock.catalog}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop renewing, clear the holder record, release the lease. Safe to call twice.

        Raises ``LockError`` when the lock could not be released cleanly (it was force-unlocked
        meanwhile, or storage failed): the lease then lapses by itself, but the record may stay.
        """
        with self._guard:
            if self._released:
                return
            self._released = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        lost = lost_at_release(
            f"catalog '{self._lock.catalog}'",
            self.info,
            "it was force-unlocked (or its lease lapsed and was taken); check that no other run "
            "changed the catalog at the same time, then run plan again",
        )
        try:
            status = self._lock.status()
            ours = status.holder is not None and status.holder.id == self.info.id
            if ours:
                self._lock._call("clear the lock record", self._lock._blob.set_blob_metadata, {}, lease=self._lease)
            self._lock._call("release the lock lease", self._lease.release)
        except LeaseLost as e:
            raise lost from e
        except ProviderError as e:
            raise LockError(
                f"could not release the lock on catalog '{self._lock.catalog}': {e}",
                f"its lease lapses within {self._lock.lease_seconds} s; if the lock still shows as "
                f"held afterwards, run: reconciler force-unlock {self.info.id}",
                holder=holder_fields(self.info),
            ) from e
        if not ours:
            raise lost


class BlobLeaseLock:
    """The lock of one catalog: blob ``<catalog>.lock`` in a container, held by a renewed lease.

    ``container_client`` is an ``azure.storage.blob.ContainerClient``; this object owns it from now
    on and closes it in ``close()``.
    """

    def __init__(
        self,
        container_client: Any,
        catalog: str,
        *,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        credential: Any = None,
    ) -> None:
        if not 15 <= lease_seconds <= 60:
            raise ValueError("Azure leases last 15 to 60 seconds")
        if not catalog:
            raise ValueError("a catalog name is required for its lock blob")
        self.catalog = catalog
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self._container = container_client
        self._blob = container_client.get_blob_client(f"{catalog}.lock")
        self._credential = credential  # closed with us when we created it

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_settings(
        cls,
        settings: Mapping[str, Any],
        env: Mapping[str, str],
        *,
        catalog: str,
        credential: Any = None,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
    ) -> BlobLeaseLock:
        """Build the lock from the catalog settings and the environment handed down by the CLI.

        Credentials, first match wins: ``credential`` (a ``TokenCredential`` the azure provider
        already has), ``AZURE_STORAGE_KEY`` (shared key of ``lock_storage_account``),
        ``AZURE_STORAGE_CONNECTION_STRING`` (its endpoint wins over ``lock_endpoint``), else
        ``azure.identity.DefaultAzureCredential`` (for the ``cloud`` setting's authority).

        The endpoint, whichever source it comes from, must be a Blob endpoint of the selected cloud
        (``<account>.blob.core.windows.net`` for public), loopback (Azurite), or a host in
        ``RECONCILER_TRUSTED_ENDPOINTS`` (``providers/clouds.py``): the key or token goes with it.
        """
        try:
            from azure.storage.blob import BlobServiceClient
        except ImportError as e:
            raise ReconcilerError("the Azure lock needs azure-storage-blob, which is not installed", _AZURE_HINT) from e

        if not 15 <= lease_seconds <= 60:
            raise ValueError("Azure leases last 15 to 60 seconds")
        account = str(settings.get("lock_storage_account") or "")
        container = str(settings.get("lock_container") or DEFAULT_CONTAINER)
        if not _CONTAINER_RE.match(container):
            raise ReconcilerError(
                f"lock_container '{container}' is not a valid container name",
                "use 3-63 lower-case letters, digits and single hyphens",
            )
        cloud = get_cloud(settings.get("cloud"))
        trusted = parse_trusted_hosts(env.get(TRUSTED_ENV))
        kwargs: dict[str, Any] = {"connection_timeout": 10, "read_timeout": 30, "retry_total": 3}
        conn = env.get("AZURE_STORAGE_CONNECTION_STRING", "")
        owned_credential = None
        if conn and credential is None and not env.get("AZURE_STORAGE_KEY"):
            try:
                service = BlobServiceClient.from_connection_string(conn, **kwargs)
            except ValueError as e:
                raise ReconcilerError(
                    "AZURE_STORAGE_CONNECTION_STRING is not a valid storage connection string",
                    "copy it again from the storage account's 'Access keys' page",
                ) from e
            endpoint = service.url
            _check_endpoint(endpoint, cloud, trusted, "the BlobEndpoint of AZURE_STORAGE_CONNECTION_STRING")
        else:
            if not _ACCOUNT_RE.match(account):
                raise ReconcilerError(
                    "the Azure catalog lock needs catalog.lock_storage_account (a storage account name)",
                    "set lock_storage_account: 3-24 lower-case letters and digits",
                )
            endpoint = str(settings.get("lock_endpoint") or f"https://{account}.{cloud.blob_suffix}")
            _check_endpoint(endpoint, cloud, trusted, "catalog.lock_endpoint")
            if credential is not None:
                cred: Any = credential
            elif env.get("AZURE_STORAGE_KEY"):
                cred = {"account_name": account, "account_key": env["AZURE_STORAGE_KEY"]}
            else:
                try:
                    from azure.identity import DefaultAzureCredential
                except ImportError as e:
                    raise ReconcilerError(
                        "the Azure lock needs azure-identity to sign in, which is not installed", _AZURE_HINT
                    ) from e
                cred = owned_credential = DefaultAzureCredential(authority=cloud.authority)
            try:
                service = BlobServiceClient(endpoint, credential=cred, **kwargs)
            except ValueError as e:
                raise ReconcilerError(f"cannot use lock endpoint '{endpoint}': {e}", _RBAC_HINT) from e
        return cls(
            service.get_container_client(container),
            catalog,
            lease_seconds=lease_seconds,
            poll_seconds=poll_seconds,
            credential=owned_credential,
        )

    def close(self) -> None:
        """Close the HTTP session (and a credential this lock created)."""
        self._container.close()
        if self._credential is not None and hasattr(self._credential, "close"):
            self._credential.close()

    def __enter__(self) -> BlobLeaseLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- storage calls ------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one storage call; every azure failure becomes a ``ProviderError`` here, once."""
        from azure.core.exceptions import AzureError

        try:
            return fn(*args, **kwargs)
        except AzureError as e:
            raise _translate(what, e) from e

    def _write_metadata(self, info: LockInfo, lease: Any) -> None:
        self._call(
            "record the lock holder", self._blob.set_blob_metadata, encode_metadata(info, _now_iso()), lease=lease
        )

    def _ensure_blob(self) -> None:
        """Create the container and the empty lock blob when missing (409/412: already there)."""
        try:
            self._call("create the lock container", self._container.create_container)
        except ProviderError as e:
            if e.status != 409:
                raise
        try:
            self._call("create the lock blob", self._blob.upload_blob, b"", overwrite=False)
        except ProviderError as e:
            if e.status not in (409, 412):  # BlobAlreadyExists, or LeaseIdMissing: someone holds it
                raise

    # -- reading ------------------------------------------------------------------------------

    def status(self) -> LockStatus:
        """Read the lock blob once: free, held, abandoned, or leased by an unknown holder."""
        try:
            props = self._call("read the lock", self._blob.get_blob_properties)
        except ProviderError as e:
            if e.code in _MISSING_CODES or e.status == 404:
                return LockStatus(LockState.FREE)
            raise
        lease_state = str(getattr(props.lease, "state", "") or "")
        return classify(lease_state, props.metadata)

    def holder(self) -> LockInfo | None:
        """Who holds the lock (live or abandoned), or ``None`` when nobody is recorded."""
        return self.status().holder

    # -- taking and breaking ------------------------------------------------------------------

    def _attempt(self, info: LockInfo) -> BlobLockHandle | LockStatus:
        """One try: a handle when the lock was free, else what was found."""
        from azure.storage.blob import BlobLeaseClient

        lease = BlobLeaseClient(self._blob, lease_id=str(uuid.uuid4()))
        for first in (True, False):
            try:
                self._call("acquire the lock lease", lease.acquire, lease_duration=self.lease_seconds)
                break
            except ProviderError as e:
                if e.code in _MISSING_CODES and first:
                    self._ensure_blob()
                    continue
                if e.status == 409:  # LeaseAlreadyPresent / LeaseIsBreaking...: someone has it
                    return self.status()
                raise
        # The lease is ours; the metadata says whether a previous holder left without releasing.
        try:
            props = self._call("read the lock", self._blob.get_blob_properties, lease=lease)
            found = classify("", props.metadata)
            if found.holder is not None:
                self._call("release the lock lease", lease.release)
                return LockStatus(LockState.ABANDONED, found.holder, found.heartbeat, "available")
            self._write_metadata(info, lease)
        except BaseException:
            # Never keep a lease we will not renew (this includes Ctrl-C here).
            try:
                lease.release()
            except Exception:  # best effort: the lease lapses by itself anyway
                pass
            raise
        handle = BlobLockHandle(self, info, lease)
        handle._start_renewing()
        return handle

    def acquire(self, info: LockInfo, timeout: float, **waits: Unpack[LockWaits]) -> BlobLockHandle:
        """Take the lock for ``info``, waiting up to ``timeout`` seconds; ``LockError`` names the holder."""
        quick_retries = 3

        def attempt() -> BlobLockHandle | Held:
            nonlocal quick_retries
            found = self._attempt(info)
            while isinstance(found, LockStatus) and found.state is LockState.FREE and quick_retries:
                quick_retries -= 1  # released between our lease try and our read: try again now
                found = self._attempt(info)
            if isinstance(found, BlobLockHandle):
                return found
            message, hint = describe_status(self.catalog, found)
            return Held(found.holder, message, hint)

        return wait_for_lock(attempt, timeout=timeout, poll=self.poll_seconds, **waits)

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Clear the lock only when ``lock_id`` is the recorded lock id; return the holder released.

        Works whether the holder's lease is live, lapsed or broken: any lease is broken first, then
        the record is cleared under a short lease of our own so that no racing ``acquire`` can slip
        in between.
        """
        from azure.storage.blob import BlobLeaseClient

        status = self.status()
        holder = status.holder
        if holder is None:
            message, hint = describe_status(self.catalog, status)
            if status.state is LockState.FREE:
                hint = "nothing to unlock"
            raise LockError(message, hint)
        if holder.id != lock_id:
            raise LockError(
                f"lock ID mismatch: catalog '{self.catalog}' is locked by {holder.describe()} with lock ID "
                f"{holder.id}, not {lock_id}",
                "pass the lock ID shown in the error of the run that waited for the lock",
                holder=holder_fields(holder),
            )
        if status.lease_state in ("leased", "breaking"):
            self._call("break the lock lease", BlobLeaseClient(self._blob).break_lease, lease_break_period=0)
        ours = BlobLeaseClient(self._blob, lease_id=str(uuid.uuid4()))
        try:
            self._call("acquire the lock lease", ours.acquire, lease_duration=15)
        except ProviderError as e:
            if e.status == 409:
                raise LockError(
                    f"catalog '{self.catalog}' was locked again while force-unlock ran",
                    "read the lock again before retrying",
                    holder=holder_fields(self.holder()),
                ) from e
            raise
        try:
            props = self._call("read the lock", self._blob.get_blob_properties, lease=ours)
            again, _ = decode_metadata(props.metadata)
            if again is None or again.id != lock_id:
                raise LockError(
                    f"catalog '{self.catalog}' changed hands while force-unlock ran",
                    "read the lock again before retrying",
                    holder=holder_fields(again),
                )
            self._call("clear the lock record", self._blob.set_blob_metadata, {}, lease=ours)
        finally:
            try:
                ours.release()
            except Exception:  # best effort: a 15 s lease lapses by itself
                pass
        return holder


def _check_endpoint(endpoint: str, cloud: Any, trusted: tuple[str, ...], setting: str) -> None:
    """Refuse an endpoint the shared key or token must not travel to (``providers/clouds.py``)."""
    check_target(endpoint, setting=setting, cloud=cloud, trusted_hosts=trusted, kind="blob")


__all__ = [
    "DEFAULT_CONTAINER",
    "BlobLeaseLock",
    "BlobLockHandle",
    "LeaseLost",
    "LockState",
    "LockStatus",
    "classify",
    "decode_metadata",
    "describe_status",
    "encode_metadata",
    "run_renewals",
]
