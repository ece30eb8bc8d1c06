"""The blob lock's storage side: ``BlobLeaseLock`` (lease, metadata write, force-unlock over
``azure-storage-blob``, the ``reconciler[azure]`` extra, imported lazily) and the held
``BlobLockHandle`` with its renewal thread (``run_renewals``).

Layer: edge (provider helper). Every storage failure becomes a ``ProviderError`` in ``_call`` (via
``status._translate``), once. What the blob's state means is decided in ``status.py``.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Unpack

from ...errors import LockError, ProviderError, ReconcilerError
from ..clouds import TRUSTED_ENV, check_target, get_cloud, parse_trusted_hosts
from ..locking import Held, LockInfo, LockWaits, holder_fields, lost_at_release, lost_lock, wait_for_lock
from .status import (
    _MISSING_CODES,
    _RBAC_HINT,
    LeaseLost,
    LockState,
    LockStatus,
    _translate,
    classify,
    decode_metadata,
    describe_status,
    encode_metadata,
)

#: Default container for lock blobs when the catalog settings name none.
DEFAULT_CONTAINER = "reconciler-locks"
#: Lease length in seconds. Azure allows 15..60 for a finite lease.
DEFAULT_LEASE_SECONDS = 60
#: How often a waiting ``acquire`` looks at the lock again.
DEFAULT_POLL_SECONDS = 2.0
_CONTAINER_RE = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")
_ACCOUNT_RE = re.compile(r"^[a-z0-9]{3,24}$")
_AZURE_HINT = "install the Azure extra: pip install 'reconciler[azure]'"

_HTTP_KEY_HINT = "set AZURE_STORAGE_KEY (or AZURE_STORAGE_CONNECTION_STRING) for an http Blob endpoint such as Azurite"


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
            if endpoint.lower().startswith("http://") and not env.get("AZURE_STORAGE_KEY"):
                # Azure's SDK refuses a token over http ("Token credential is only supported with HTTPS").
                raise ReconcilerError(
                    f"the lock endpoint '{endpoint}' is plain http, where a sign-in token cannot be used",
                    _HTTP_KEY_HINT,
                )
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
                hint = _HTTP_KEY_HINT if "HTTPS" in str(e) else _RBAC_HINT
                raise ReconcilerError(f"cannot use lock endpoint '{endpoint}': {e}", hint) from e
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


__all__ = ["BlobLeaseLock", "BlobLockHandle", "DEFAULT_CONTAINER", "run_renewals"]
