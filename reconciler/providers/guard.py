"""The write-time guard: every provider's writes go through here, and here only the rules decide.

Layer: edge (provider boundary), pure policy over an injected backend. A backend (local SQLite,
ARM, classic Service Management) supplies raw primitives that know nothing of ownership,
protection or capture preconditions; ``GuardedProvider`` re-reads what it is about to change,
checks ``reconciler.rules`` on that fresh copy, and only then calls the primitive. So a refusal
has one code (``errors.RefusedError.code``) whatever the provider, and it is the code the plan
already showed. A backend that can make the re-read and the write atomic (local: one SQLite
``BEGIN IMMEDIATE`` transaction) does so in ``transaction()``; an HTTP backend returns a null
context, and the re-read is a GET right before the write.

Only this module calls the primitives of ``Backend`` (``tests/unit/test_layers.py`` checks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, Unpack

from .. import rules
from ..errors import NotFound, OperationFailed, OperationTimeout, ProviderError, RefusedError
from ..model import (
    VM,
    Capabilities,
    CaptureSource,
    Consumer,
    ConsumersPolicy,
    Image,
    ImageSpec,
    ImageType,
    Snapshot,
    UnchangedTest,
)
from . import StepCallback, _no_step
from .locking import LockHandle, LockInfo, LockWaits

#: The primitives a backend supplies and only the guard may call.
PRIMITIVES = frozenset(
    {"read_image", "read_vm", "create_image", "settle_image", "update_image", "delete_image", "set_owner"}
)


@dataclass(frozen=True)
class Live:
    """An image as re-read right before a write. ``raw``: the backend's own record of it (the ARM
    resource, ...), handed back to the backend's primitive so it need not read again."""

    image: Image
    raw: Any = None


@dataclass(frozen=True)
class LiveVM:
    """A source VM as re-read right before a capture; ``raw`` as for ``Live``."""

    vm: VM
    raw: Any = None


class Backend(Protocol):
    """Raw catalog access, without policy. ``remove_missing_ok``: removing an image that is already
    gone counts as done (an idempotent DELETE) rather than ``NotFound``."""

    name: str
    owner: str
    capabilities: Capabilities
    remove_missing_ok: bool

    def snapshot(self, like: Sequence[ImageSpec] = (), unchanged: UnchangedTest | None = None) -> Snapshot: ...

    def consumers(self, images: Sequence[Image], policy: ConsumersPolicy) -> dict[str, tuple[Consumer, ...]]:
        """What uses each of ``images`` (``Provider.consumers``)."""
        ...

    def transaction(self) -> AbstractContextManager[object]:
        """Hold around re-read + check + write; reads and writes inside see and make one state."""
        ...

    def read_image(self, name: str, type_: ImageType) -> Live | None:
        """The image named ``name`` (case-insensitive; ``type_`` where the catalog keeps one name
        space per image type), or None."""
        ...

    def read_vm(self, name: str) -> LiveVM | None: ...

    def create_image(self, spec: ImageSpec, vm: LiveVM | None, check: rules.CaptureCheck,
                     on_step: StepCallback) -> Image:
        """Capture ``spec`` (``check`` says whether to deallocate / generalize the VM first)."""
        ...

    def settle_image(self, live: Live, spec: ImageSpec, on_step: StepCallback) -> Image:
        """A retried capture found its image: wait for it to finish if still in progress, return it."""
        ...

    def update_image(self, live: Live, spec: ImageSpec, on_step: StepCallback) -> Image: ...

    def delete_image(self, live: Live, on_step: StepCallback) -> None: ...

    def set_owner(self, live: Live) -> Image:
        """Write this catalog's ownership marker on the image, keeping everything else."""
        ...

    # The lock is not the guard's business: ``Provider.acquire_lock``, passed through.
    def acquire_lock(self, info: LockInfo, timeout: float, **waits: Unpack[LockWaits]) -> LockHandle: ...

    def force_unlock(self, lock_id: str) -> LockInfo: ...

    def close(self) -> None: ...


def refused(refusal: rules.Refusal) -> ProviderError:
    """The one exception a refusal becomes: ``NotFound`` for a missing source VM, else ``RefusedError``."""
    if refusal.code == rules.VM_MISSING:
        return NotFound(refusal.summary, status=404, code=refusal.code, hint=refusal.hint)
    return RefusedError(refusal.code, refusal.summary, refusal.hint)


def _missing(image: Image) -> NotFound:
    return NotFound(f"image '{image.name}' does not exist", status=404, code="ResourceNotFound",
                    hint="run plan again")


def _check(refusal: rules.Refusal | None) -> None:
    if refusal is not None:
        raise refused(refusal)


class GuardedProvider:
    """The ``Provider`` every ``open_provider`` returns: the rules in front of a raw ``Backend``.

    Attributes the backend has beyond the protocol (``path``, ``client``, ...) read through, for
    messages and tests; its primitives do not, so nothing can write around the guard.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.name = backend.name
        self.owner = backend.owner
        self.capabilities = backend.capabilities

    def __getattr__(self, attr: str) -> Any:
        if attr in PRIMITIVES or attr == "backend" or "backend" not in self.__dict__:
            raise AttributeError(attr)
        return getattr(self.__dict__["backend"], attr)

    # ---- reads and the lock: straight through

    def snapshot(self, like: Sequence[ImageSpec] = (), unchanged: UnchangedTest | None = None) -> Snapshot:
        return self.backend.snapshot(like, unchanged)

    def consumers(self, images: Sequence[Image], policy: ConsumersPolicy) -> dict[str, tuple[Consumer, ...]]:
        return self.backend.consumers(images, policy)

    def origins(self, specs: Sequence[ImageSpec]) -> dict[str, Image]:
        """``Provider.origins``: read only, so no rule stands in front of it; a backend without
        promotion (``Capabilities.promotion``) finds none."""
        reader = getattr(self.backend, "origins", None)
        return reader(specs) if reader is not None else {}

    def capture_sources(self, specs: Sequence[ImageSpec]) -> dict[str, CaptureSource | None] | None:
        """``Provider.capture_sources``: read only; a backend that reads none says None."""
        reader = getattr(self.backend, "capture_sources", None)
        return reader(specs) if reader is not None else None

    def acquire_lock(self, info: LockInfo, timeout: float, **waits: Unpack[LockWaits]) -> LockHandle:
        """``Provider.acquire_lock`` (``clock``/``sleep`` keywords) of the backend."""
        return self.backend.acquire_lock(info, timeout, **waits)

    def force_unlock(self, lock_id: str) -> LockInfo:
        return self.backend.force_unlock(lock_id)

    def close(self) -> None:
        self.backend.close()

    # ---- writes: re-read, check the rule, then the primitive

    def _reread(self, image: Image) -> Live:
        live = self.backend.read_image(image.name, image.type)
        if live is None:
            raise _missing(image)
        return live

    def capture(self, spec: ImageSpec, on_step: StepCallback = _no_step) -> Image:
        """Capture ``spec``; a retry of a capture that already happened returns that image, once."""
        b = self.backend
        _check(rules.capability_refusal(spec, self.capabilities))
        try:
            with b.transaction():
                live = b.read_image(spec.name, spec.type)
                if live is not None:
                    refusal = rules.capture_refusal(live.image, spec, self.owner)
                    if refusal is None:
                        return b.settle_image(live, spec, on_step)
                    raise refused(refusal)
                vm = b.read_vm(spec.source.vm) if spec.source.vm is not None else None
                check = rules.capture_blockers(spec, vm.vm if vm is not None else None, self.capabilities)
                if check.blockers:
                    raise refused(check.blockers[0])
                return b.create_image(spec, vm, check, on_step)
        except (RefusedError, NotFound, OperationFailed, OperationTimeout):
            raise
        except ProviderError:
            # The write's response was lost and its retry refused or ran out: if the image now
            # exists and is this capture's, the capture did happen (once).
            again = b.read_image(spec.name, spec.type)
            if again is not None and rules.is_capture_retry(again.image, spec, self.owner):
                return b.settle_image(again, spec, on_step)
            raise

    def update(self, image: Image, spec: ImageSpec, on_step: StepCallback = _no_step) -> Image:
        """Set the mutable fields of an owned image (protection marker included)."""
        with self.backend.transaction():
            live = self._reread(image)
            _check(rules.touch_refusal(live.image, self.owner, rules.Verb.UPDATE))
            return self.backend.update_image(live, spec, on_step)

    def remove(self, image: Image, on_step: StepCallback = _no_step) -> None:
        """Delete an owned, unprotected user image."""
        b = self.backend
        with b.transaction():
            live = b.read_image(image.name, image.type)
            if live is None:
                if b.remove_missing_ok:
                    on_step("already gone")
                    return
                raise _missing(image)
            _check(rules.touch_refusal(live.image, self.owner, rules.Verb.REMOVE))
            b.delete_image(live, on_step)

    def adopt(self, image: Image) -> Image:
        """Write this catalog's ownership marker on an unowned user image; a no-op when ours."""
        with self.backend.transaction():
            live = self._reread(image)
            _check(rules.adopt_refusal(live.image, self.owner))
            if live.image.owner == self.owner:
                return live.image
            return self.backend.set_owner(live)


__all__ = ["PRIMITIVES", "Backend", "GuardedProvider", "Live", "LiveVM", "refused"]
