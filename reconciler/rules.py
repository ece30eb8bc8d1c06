"""The safety rules of design §4, each in one place: who may touch an image, what a capture needs.

Layer: pure core. Imports only ``model`` and ``errors``; no I/O, no clock. Two callers use the
same functions: the planner (``plan.py``, against the snapshot it plans from) and the write-time
guard (``providers/guard.py``, against a fresh re-read right before each write). So a refusal has
one decision and one stable ``code`` whether a plan reports it or an apply meets it; the planner
words its diagnostics for the file's point of view, the guard uses the wording here.

The codes are part of the output contract (JSON plans, ``ProviderError.code``): never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .model import VM, Capabilities, Category, Image, ImageSpec, ImageType, OSState, Source

# Ownership and protection
PUBLIC = "public"
UNOWNED = "unowned"
FOREIGN = "foreign"
PROTECTED = "protected"
NAME_TAKEN = "name-taken"
# Capture preconditions: the source VM
VM_MISSING = "vm-missing"
OS_MISMATCH = "os-mismatch"
VM_NOT_GENERALIZED = "vm-not-generalized"
VM_GENERALIZED = "vm-generalized"
VM_POWER_STATE = "vm-power-state"
# Capture preconditions: what the provider can hold
TYPE_UNSUPPORTED = "type-unsupported"
SPECIALIZED_UNSUPPORTED = "specialized-unsupported"
SOURCE_UNSUPPORTED = "source-unsupported"

#: Every refusal code, for documentation and tests.
CODES = (
    PUBLIC,
    UNOWNED,
    FOREIGN,
    PROTECTED,
    NAME_TAKEN,
    VM_MISSING,
    OS_MISMATCH,
    VM_NOT_GENERALIZED,
    VM_GENERALIZED,
    VM_POWER_STATE,
    TYPE_UNSUPPORTED,
    SPECIALIZED_UNSUPPORTED,
    SOURCE_UNSUPPORTED,
)


@dataclass(frozen=True)
class Refusal:
    """Why an operation may not happen. ``code``: one of ``CODES`` (stable); ``summary`` what is
    wrong and ``hint`` what to do, both for a person."""

    code: str
    summary: str
    hint: str = ""


class Verb(str, Enum):
    """What a write does to an existing image; the value is the word messages use."""

    CAPTURE = "capture"
    UPDATE = "update"
    REPLACE = "replace"
    REMOVE = "remove"


@dataclass(frozen=True)
class CaptureCheck:
    """The preconditions of one capture, checked against its source VM.

    ``blockers``: refusals, in the order a person should fix them (empty: the capture may run).
    ``steps``: what apply will do, in order, for display. ``consumes``: the VM a generalized capture
    consumes (None: the VM is kept, or there is none). ``deallocate``/``generalize``: the provider
    must deallocate / generalize the VM itself first (``source.generalize``); ``deprovision``: and
    deprovision the guest before that (``source.deprovision``: the VM is running then).
    """

    blockers: tuple[Refusal, ...]
    steps: tuple[str, ...]
    consumes: str | None = None
    deallocate: bool = False
    generalize: bool = False
    deprovision: bool = False


# --------------------------------------------------------------------------------------------------
# Ownership and protection


def owned(image: Image, owner: str) -> bool:
    """The image carries this catalog's ownership marker (and is a user image): ours to change."""
    return image.category is Category.USER and image.owner == owner


def ownership_phrase(image: Image) -> str:
    """Why an image is not ours, for a refusal message ("it is a public image", ...)."""
    if image.category is Category.PUBLIC:
        return "it is a public image"
    if image.owner is None:
        return "it is not owned by any catalog"
    return f"it is owned by catalog '{image.owner}'"


def conflict_hint(image: Image, owner: str) -> str:
    """What to do when a name is already taken by ``image`` (capture) or a change is refused."""
    if image.category is Category.PUBLIC:
        return "public images are read-only; choose another name"
    if image.owner is None:
        return f"adopt it with: reconciler import {image.name}, or choose another name"
    if image.owner == owner:
        return "it was captured from another source; change the name or plan a replace"
    return f"it belongs to catalog '{image.owner}'; choose another name"


def _ownership_code(image: Image, owner: str) -> str | None:
    if image.category is Category.PUBLIC:
        return PUBLIC
    if image.owner is None:
        return UNOWNED
    if image.owner != owner:
        return FOREIGN
    return None


def touch_refusal(image: Image, owner: str, verb: Verb) -> Refusal | None:
    """May ``verb`` change the existing ``image`` for catalog ``owner``? None: yes.

    Nothing public, unowned or owned by another catalog is ever changed; a protected image is never
    removed or replaced (an update may change it: that is how the marker comes off). A capture
    never overwrites an existing image: ask ``is_capture_retry`` first, then this refuses even an
    image of ours (``name-taken``).
    """
    code = _ownership_code(image, owner)
    if verb is Verb.CAPTURE:
        return Refusal(
            code or NAME_TAKEN,
            f"an image named '{image.name}' already exists ({ownership_phrase(image)})",
            conflict_hint(image, owner),
        )
    kept = image.protected and verb in (Verb.REMOVE, Verb.REPLACE)
    if code is None and not kept:
        return None  # the usual answer, before any message is written (100,000 times in a plan; issue 13)
    what = f"cannot {verb.value} '{image.name}'"
    if code == PUBLIC:
        return Refusal(code, f"{what}: it is a public image",
                       "public images are read-only; only user images this catalog owns can change")
    if code is not None:
        return Refusal(code, f"{what}: {ownership_phrase(image)}, not by catalog '{owner}'",
                       conflict_hint(image, owner))
    return Refusal(PROTECTED, f"{what}: it is protected",
                   f"set protect: false on it and apply (that only takes the marker off), then {verb.value} it")


def same_source(have: Source | None, want: Source) -> bool:
    """``have`` (recorded on a live image; None = unknown) is the source ``want`` names.

    VM names compare case-insensitively, like every name here; a VHD URL compares exactly; a
    managed image, snapshot or disk (and its data snapshots) as the provider records it, the way
    the plan compares them (``Source.as_dict``).
    """
    if have is None:
        return False
    if want.promotion:
        # A copy of another catalog's image (issue 11 §1): what a provider records of it is not the
        # file's ``ALIAS:NAME`` (azure: the source version's id; local: nothing), but it was made
        # from no VM or VHD.
        return have.vm is None and have.vhd is None
    if want.vm is not None:
        return (have.vm or "").casefold() == want.vm.casefold()
    if want.vhd is not None:
        return have.vhd == want.vhd
    # Before, ``None == None`` took any image without a VHD (one from a VM, another snapshot) for a
    # capture from this managed image, snapshot or disk.
    return have.as_dict() == want.as_dict()


def is_capture_retry(existing: Image, spec: ImageSpec, owner: str) -> bool:
    """``existing`` is what an earlier attempt of capturing ``spec`` made: ours, from that source.

    A retried capture (a lost response, a rerun after a crash) then returns it instead of
    capturing twice.
    """
    return owned(existing, owner) and same_source(existing.source, spec.source)


def capture_refusal(existing: Image, spec: ImageSpec, owner: str) -> Refusal | None:
    """Capturing ``spec`` finds ``existing`` under its name: None when it is a retry, else why not."""
    if is_capture_retry(existing, spec, owner):
        return None
    return touch_refusal(existing, owner, Verb.CAPTURE)


def adopt_refusal(image: Image, owner: str) -> Refusal | None:
    """May ``import`` mark ``image`` as owned by ``owner``? None: yes (already ours: nothing to do)."""
    if image.category is Category.PUBLIC:
        return Refusal(PUBLIC, f"'{image.name}' is a public image", "public images cannot be owned by a catalog")
    if image.owner is not None and image.owner != owner:
        return Refusal(
            FOREIGN,
            f"'{image.name}' is owned by catalog '{image.owner}'",
            f"only an unowned image can be imported; remove it from '{image.owner}' first",
        )
    return None


# --------------------------------------------------------------------------------------------------
# Capture preconditions


def capability_refusal(spec: ImageSpec, caps: Capabilities) -> Refusal | None:
    """Can the provider hold ``spec`` at all? (``validate`` checks the same on the file.)"""
    what = f"cannot capture '{spec.name}'"
    if spec.type not in caps.image_types:
        return Refusal(TYPE_UNSUPPORTED, f"{what}: the {caps.provider} catalog cannot hold {spec.type.value} images",
                       f"use type: {' or '.join(sorted(t.value for t in caps.image_types))}")
    if spec.os_state is OSState.SPECIALIZED and spec.type not in caps.specialized_types:
        return Refusal(SPECIALIZED_UNSUPPORTED,
                       f"{what}: the {caps.provider} catalog cannot hold a specialized {spec.type.value} image "
                       f"({spec.type.value} images are always generalized here)",
                       "capture it generalized (os_state: generalized)"
                       + (", or use type: vm, which this provider keeps specialized"
                          if ImageType.VM in caps.specialized_types and spec.type is not ImageType.VM else ""))
    kind = spec.source.kind
    if spec.source.promotion:
        if caps.promotion:
            return None
        return Refusal(SOURCE_UNSUPPORTED,
                       f"{what}: the {caps.provider} provider cannot copy an image from another catalog",
                       "capture it from a VM in this catalog instead")
    if kind == "vhd" and not caps.vhd_source:
        return Refusal(SOURCE_UNSUPPORTED,
                       f"{what}: the {caps.provider} provider captures from VMs only, not VHDs",
                       "use source.vm, or a provider that supports VHD sources")
    if kind in ("image", "snapshot", "disk") and not caps.disk_sources:
        return Refusal(SOURCE_UNSUPPORTED,
                       f"{what}: the {caps.provider} provider cannot capture from a {_SOURCE_NOUN[kind]}",
                       "use source.vm" + (" or source.vhd" if caps.vhd_source else ""))
    return None


_SOURCE_NOUN = {"image": "managed image", "snapshot": "snapshot", "disk": "managed disk"}


def capture_blockers(spec: ImageSpec, vm: VM | None, caps: Capabilities) -> CaptureCheck:
    """What blocks capturing ``spec`` from ``vm`` (None: no such VM, when ``spec.source.vm`` names one)."""
    blockers: list[Refusal] = []
    steps: list[str] = []
    consumes: str | None = None
    deallocate = generalize = deprovision = False
    wanted = spec.os_state is OSState.GENERALIZED
    allowed = {p.value for p in caps.capture_power_states}

    if spec.source.vm is not None and vm is None:
        blockers.append(Refusal(VM_MISSING, f"source VM '{spec.source.vm}' of image '{spec.name}' does not exist",
                                "fix source.vm, or create the VM before applying"))
    elif vm is not None:
        if vm.os != spec.os:
            blockers.append(Refusal(
                OS_MISMATCH,
                f"source VM '{vm.name}' runs {vm.os}, but image '{spec.name}' declares os: {spec.os}",
                f"set os: {vm.os}, or capture from a {spec.os} VM",
            ))
        vm_generalized = vm.os_state is OSState.GENERALIZED
        if wanted and not vm_generalized:
            if spec.source.generalize and caps.generalize:
                deprovision = spec.source.deprovision and caps.deprovision
                # The guest is deprovisioned while it runs, so the VM is deallocated after it.
                deallocate = deprovision or vm.power_state.value not in allowed
                generalize = True
                if deprovision:
                    steps.append(f"deprovision the guest of VM {vm.name} (waagent -deprovision+user)")
                if deallocate:
                    steps.append(f"deallocate VM {vm.name}")
                steps.append(f"generalize VM {vm.name}" + _guest_note(spec, caps))
            else:
                blockers.append(Refusal(
                    VM_NOT_GENERALIZED,
                    f"source VM '{vm.name}' is not generalized, so a generalized image cannot be captured",
                    "deprovision it (Sysprep / waagent -deprovision) and generalize it"
                    + (", or set source.generalize: true to let reconciler generalize it (the VM becomes unusable)"
                       if caps.generalize else ""),
                ))
        elif not wanted and vm_generalized:
            blockers.append(Refusal(
                VM_GENERALIZED,
                f"source VM '{vm.name}' is generalized, so a specialized image cannot be captured from it",
                "capture a generalized image (os_state: generalized), or use a VM that was not generalized",
            ))
        if not steps and vm.power_state.value not in allowed:
            blockers.append(Refusal(
                VM_POWER_STATE,
                f"source VM '{vm.name}' is {vm.power_state.value}; a capture needs it {' or '.join(sorted(allowed))}",
                "stop or deallocate the VM first"
                + (f" ({caps.deallocate_hint.replace('{vm}', vm.name)})" if caps.deallocate_hint else ""),
            ))
        if wanted:
            consumes = vm.name
    # A promotion copies another catalog's image (issue 11 §1): it consumes nothing.
    steps.append(f"copy image from {spec.source.image}" if spec.source.promotion else "capture image")
    return CaptureCheck(tuple(blockers), tuple(steps), consumes, deallocate, generalize, deprovision)


def _guest_note(spec: ImageSpec, caps: Capabilities) -> str:
    """What a generalize step says of the guest, where the provider could deprovision it itself."""
    if not caps.deprovision or spec.source.deprovision:
        return ""
    if spec.source.sysprepped:
        return " (the file states the guest was sysprepped)"
    return " (marks it only: the guest is not deprovisioned; declare source.deprovision: true for Linux)"


__all__ = [
    "CODES",
    "CaptureCheck",
    "Refusal",
    "Verb",
    "adopt_refusal",
    "capability_refusal",
    "capture_blockers",
    "capture_refusal",
    "conflict_hint",
    "is_capture_retry",
    "owned",
    "ownership_phrase",
    "same_source",
    "touch_refusal",
]
