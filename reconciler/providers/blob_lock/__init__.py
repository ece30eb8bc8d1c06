"""A catalog lock shared by every pipeline: a lease on one blob in an Azure storage container.

Layer: edge (provider helper), in two modules: ``status.py`` (pure: the metadata record, the
lock's state and its messages) and ``lease.py`` (the storage calls, the lease and its renewal).
The package talks to Azure Blob Storage through ``azure-storage-blob`` (the
``reconciler[azure]`` extra, imported lazily) and translates every storage failure into
``errors.ProviderError`` / ``errors.LockError`` once, with the cause chained: no ``azure.core``
exception leaves this package. It never prints, never reads ``os.environ`` (the environment is handed
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

from .lease import DEFAULT_CONTAINER, BlobLeaseLock, BlobLockHandle, run_renewals
from .status import LeaseLost, LockState, LockStatus, classify, decode_metadata, describe_status, encode_metadata

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
