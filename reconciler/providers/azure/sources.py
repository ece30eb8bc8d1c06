"""Captures from a managed image, an OS snapshot or a managed disk (issue 10 §3): each source read
at plan time, and the plan-time checks Azure would otherwise make at apply.

Layer: edge (provider). ``read_sources`` reads (one GET per distinct source, bounded parallelism,
only for a plan whose captures name such sources: ``operations.saved`` asks through
``Provider.capture_sources``); everything else is pure.

What is read, and where each fact comes from:

- A managed image: ``Microsoft.Compute/images/{name}`` (ComputeRP 2025-11-01, ``Image``,
  shared/azure-rest): ``storageProfile.osDisk.osType``, ``hyperVGeneration``,
  ``provisioningState``. A managed image states no security type (Azure makes none from a Trusted
  Launch or Confidential VM, BEHAVIOURS.md row 1) and no architecture: only its generation is
  compared with a gallery definition; its security type and architecture are Azure's to judge.
- A snapshot or a managed disk: DiskRP ``Snapshots - Get`` / ``Disks - Get``
  (learn.microsoft.com/rest/api/compute/snapshots/get and .../disks/get, api-version
  ``2024-03-02``; the DiskRP spec is not in shared/azure-rest): ``properties.osType``,
  ``hyperVGeneration``, ``securityProfile.securityType`` (``DiskSecurityTypes``: TrustedLaunch, or
  one of the ``ConfidentialVM_...`` encryption variants; absent: Standard),
  ``supportedCapabilities.architecture`` (x64 | Arm64) and ``.diskControllerTypes`` ("SCSI",
  "NVMe" or "SCSI, NVMe"), ``provisioningState``, and ``diskState`` (``ActiveUpload`` /
  ``ReadyToUpload``: an upload that has not finished, nothing to capture yet).

A source id is a name in the catalog's resource group or a full ARM id (another resource group or
subscription): it is read through the catalog's own endpoint and credential, like everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import Diagnostic
from ...model import CaptureSource, ImageSpec, Snapshot, capture_source_key
from .mapping import COMPUTE_API, fingerprint, source_ref
from .scope import Arm, api
from .vmfacts import VmFacts, check_source_against_definition, managed_image_refusal

#: DiskRP's api-version for ``Disks - Get`` / ``Snapshots - Get`` (what azure-mgmt-compute's disk
#: operations and Pulumi azure-native 3.x send).
DISK_API = "2024-03-02"

#: ``diskState`` values of a disk or snapshot whose upload has not finished (DiskRP ``DiskState``).
_UPLOADING = frozenset({"activeupload", "readytoupload"})

NOUNS = {"image": "managed image", "snapshot": "snapshot", "disk": "managed disk"}


@dataclass(frozen=True)
class _NoSecurity:
    """A gallery definition as a managed image source is compared with it: its generation only
    (``check_source_against_definition`` skips the facts a definition object does not carry)."""

    name: str
    hyper_v_generation: str | None


def source_from_resource(kind: str, ref: str, resource: Mapping[str, Any], text: str | None = None) -> CaptureSource:
    """The ``CaptureSource`` of a ``Microsoft.Compute/images``, ``snapshots`` or ``disks`` resource."""
    props = resource.get("properties") or {}
    if kind == "image":
        os_type = ((props.get("storageProfile") or {}).get("osDisk") or {}).get("osType")
        facts = VmFacts(hyper_v_generation=_generation(props.get("hyperVGeneration")))
        ready = None
    else:
        os_type = props.get("osType")
        caps = props.get("supportedCapabilities") or {}
        controllers = {c.strip().lower() for c in str(caps.get("diskControllerTypes") or "").split(",")}
        facts = VmFacts(
            hyper_v_generation=_generation(props.get("hyperVGeneration")),
            security_type=security_type(props.get("securityProfile")),
            architecture="Arm64" if str(caps.get("architecture") or "").lower() == "arm64" else "x64",
            disk_controller="NVMe" if controllers == {"nvme"} else "SCSI",
        )
        state = str(props.get("diskState") or "")
        ready = f"its diskState is {state} (an upload that has not finished)" if state.lower() in _UPLOADING else None
    return CaptureSource(kind=kind, ref=ref, name=str(resource.get("name") or ""), id=str(resource.get("id") or ""),
                         os=str(os_type or "").lower(), state=str(props.get("provisioningState") or ""),
                         ready=ready, fingerprint=fingerprint(resource, text), facts=facts)


def _generation(value: Any) -> str | None:
    return str(value).upper() if value else None


def security_type(profile: Any) -> str:
    """``Standard``, ``TrustedLaunch`` or ``ConfidentialVM`` of a disk's ``securityProfile``: every
    ``ConfidentialVM_...`` variant (the disk's encryption) is a Confidential VM's disk."""
    value = str((profile or {}).get("securityType") or "Standard") if isinstance(profile, Mapping) else "Standard"
    if value.lower().startswith("confidentialvm"):
        return "ConfidentialVM"
    known = {"trustedlaunch": "TrustedLaunch", "standard": "Standard"}
    return known.get(value.lower(), value)


def read_sources(arm: Arm, rp: str, specs: Sequence[ImageSpec],
                 parallel: Callable[[Callable[[Any], Any], list[Any]], list[Any]]) -> dict[str, CaptureSource | None]:
    """Each distinct source ``specs`` capture from (``Source.disk_refs``), one GET each."""
    wanted = {capture_source_key(kind, ref): (kind, ref) for spec in specs for kind, ref in spec.source.disk_refs()}

    def one(item: tuple[str, tuple[str, str]]) -> tuple[str, CaptureSource | None]:
        key, (kind, ref) = item
        version = COMPUTE_API if kind == "image" else DISK_API
        found = arm.get_text(source_ref(rp, kind, ref), api(version), f"read {NOUNS[kind]} {ref}")
        return key, (source_from_resource(kind, ref, *found) if found is not None else None)

    return dict(parallel(one, sorted(wanted.items())))


# --------------------------------------------------------------------------------------------------
# Plan-time checks (pure)


def source_of(spec: ImageSpec, snapshot: Snapshot) -> CaptureSource | None:
    """The OS source ``spec`` captures from as the plan read it; None when not read or missing."""
    refs = spec.source.disk_refs()
    if not refs or snapshot.capture_sources is None:
        return None
    return snapshot.capture_sources.get(capture_source_key(*refs[0]))


def facts_of(spec: ImageSpec, snapshot: Snapshot) -> VmFacts | None:
    """The facts of ``spec``'s image, snapshot or disk source (None: not read, missing, or not Azure's)."""
    source = source_of(spec, snapshot)
    facts = source.facts if source is not None else None
    return facts if isinstance(facts, VmFacts) else None


def existence_checks(spec: ImageSpec, snapshot: Snapshot) -> list[Diagnostic]:
    """Both modes: each source exists and is Succeeded (and, a disk, not mid-upload), and the OS
    source's ``osType`` is the declared ``os``."""
    if snapshot.capture_sources is None:
        return []
    out: list[Diagnostic] = []
    refs = spec.source.disk_refs()
    for i, (kind, ref) in enumerate(refs):
        field = f"source.{kind}" if i == 0 else "source.data_snapshots"
        source = snapshot.capture_sources.get(capture_source_key(kind, ref))
        if source is None:
            out.append(Diagnostic.error(
                f"{field} of '{spec.name}' names {NOUNS[kind]} '{ref}', which does not exist",
                f"check the name (a name is looked up in the catalog's resource group; give the full resource id "
                f"of a {NOUNS[kind]} elsewhere), or create it first", code="azure-source-missing"))
            continue
        if source.state and source.state.lower() != "succeeded":
            out.append(Diagnostic.error(
                f"{NOUNS[kind]} '{ref}' ({field} of '{spec.name}') is {source.state}, not Succeeded",
                f"wait until the {NOUNS[kind]} has been created (or recreate it if it failed), then plan again",
                code="azure-source-state"))
        elif source.ready is not None:
            out.append(Diagnostic.error(
                f"{NOUNS[kind]} '{ref}' ({field} of '{spec.name}') cannot be captured yet: {source.ready}",
                f"finish the upload (az {kind} revoke-access), then plan again", code="azure-source-state"))
        if i == 0 and source.os and source.os != spec.os:
            out.append(Diagnostic.error(
                f"'{spec.name}' declares os: {spec.os}, but its source {NOUNS[kind]} '{ref}' is {source.os}",
                f"declare os: {source.os}, or capture from a {spec.os} {NOUNS[kind]}", code="azure-source-os"))
    return out


def managed_checks(spec: ImageSpec, snapshot: Snapshot) -> list[Diagnostic] | None:
    """Managed mode, a snapshot or disk source that was read: a Trusted Launch or Confidential disk
    makes no managed image (BEHAVIOURS.md row 1: "source VM or its OS disk"), and a declared
    ``hyper_v_generation`` must be the source's; undeclared, the source's is sent, and only a source
    that states none must declare it. None: the source was not read (the caller's check applies)."""
    if snapshot.capture_sources is None:
        return None
    source = source_of(spec, snapshot)
    facts = facts_of(spec, snapshot)
    if source is None or facts is None:
        return []  # missing: existence_checks said so
    kind, noun = spec.source.kind, NOUNS[spec.source.kind]
    out: list[Diagnostic] = []
    refusal = managed_image_refusal(facts, vm=source.ref, image=spec.name, noun=noun)
    if refusal is not None:
        out.append(refusal)
    declared = spec.extra.get("hyper_v_generation")
    if declared and facts.hyper_v_generation and declared != facts.hyper_v_generation:
        out.append(Diagnostic.error(
            f"'{spec.name}' declares hyper_v_generation: {declared}, but its source {noun} '{source.ref}' is "
            f"{facts.hyper_v_generation}", f"declare hyper_v_generation: {facts.hyper_v_generation}, or drop it "
            f"(the {noun}'s generation is sent)", code="azure-generation"))
    elif not declared and facts.hyper_v_generation is None:
        out.append(Diagnostic.error(
            f"{noun} '{source.ref}' (source.{kind} of '{spec.name}') states no Hyper-V generation",
            "declare hyper_v_generation: V1 or V2: ARM records V1 otherwise, and a Gen2 image would not boot",
            code="azure-generation"))
    return out


def definition_checks(spec: ImageSpec, snapshot: Snapshot, definition: Any) -> list[Diagnostic]:
    """Gallery mode, an existing definition (or one the file declares, as ``families.py`` resolves
    it): the source's generation, security type and architecture must be the definition's
    (``check_source_against_definition``, as for a VM: Azure refuses a disk or snapshot source the
    same way). A managed image: its generation only (it states no security type or architecture)."""
    source = source_of(spec, snapshot)
    facts = facts_of(spec, snapshot)
    if source is None or facts is None:
        return []
    kind = spec.source.kind
    if kind == "image":
        definition = _NoSecurity(str(getattr(definition, "name", "") or ""),
                                 getattr(definition, "hyper_v_generation", None))
    return check_source_against_definition(facts, definition, vm=source.ref, image=spec.name, noun=NOUNS[kind])


__all__ = ["DISK_API", "NOUNS", "definition_checks", "existence_checks", "facts_of", "managed_checks",
           "read_sources", "security_type", "source_from_resource", "source_of"]
