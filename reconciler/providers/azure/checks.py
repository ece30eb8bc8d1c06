"""Azure's plan-time preconditions of a capture: the checks both modes share, then the scope's. Pure.

Layer: edge (provider), no I/O; the planner calls ``plan_checks`` through
``Capabilities.extra_checks``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...errors import Diagnostic
from ...model import FAMILY_EXTRA, ImageSpec, OSState, PowerState, Snapshot
from .gallery import definition_of
from .managed import MANAGED_FIELDS
from .mapping import VHD_RE, build_tags, text_tags
from .markers import MAX_TAG_NAME, MAX_TAG_VALUE, MAX_TAGS, PREFIX
from .modes import GalleryScope, ScopeClass, scope_class
from .sources import definition_checks, existence_checks, facts_of, source_of


def shared_checks(spec: ImageSpec) -> list[Diagnostic]:
    """Reserved tag names and ARM tag limits; VHD URL form and storage account."""
    out: list[Diagnostic] = []
    for k in spec.tags:
        if k.lower().startswith(PREFIX):
            out.append(Diagnostic.error(f"tag '{k}' uses the reserved prefix '{PREFIX}'",
                                        "rename the tag: reconciler keeps its markers under that prefix",
                                        code="azure-reserved-tag"))
        if len(k) > MAX_TAG_NAME:
            out.append(Diagnostic.error(f"tag name '{k[:40]}...' is longer than {MAX_TAG_NAME} characters",
                                        "shorten it (an Azure limit)", code="azure-tag-limit"))
    for field_name, value in text_tags(spec).items():
        if value is not None and len(value) > MAX_TAG_VALUE:
            out.append(Diagnostic.error(
                f"{field_name} of '{spec.name}' is {len(value)} characters; Azure tags hold {MAX_TAG_VALUE}",
                f"shorten {field_name} (it is stored as a tag on the image)", code="azure-tag-limit"))
    for k, v in spec.tags.items():
        if len(v) > MAX_TAG_VALUE:
            out.append(Diagnostic.error(f"tag '{k}' of '{spec.name}' is longer than {MAX_TAG_VALUE} characters",
                                        "shorten it (an Azure limit)", code="azure-tag-limit"))
    # Counted as a managed image's tags in both modes (the count this check has always made).
    if len(build_tags(spec, "x" * 8, family_tag=True, declarable=MANAGED_FIELDS)) > MAX_TAGS:
        out.append(Diagnostic.error(f"'{spec.name}' would carry more than {MAX_TAGS} tags",
                                    "drop some tags: Azure allows 50 per resource, reconciler's markers included",
                                    code="azure-tag-limit"))
    if spec.source.vhd is not None:
        m = VHD_RE.match(spec.source.vhd)
        if m is None:
            out.append(Diagnostic.error(
                f"source.vhd of '{spec.name}' is not an Azure page-blob VHD URL",
                "use https://<account>.blob.core.windows.net/<container>/<name>.vhd", code="azure-vhd-url"))
        elif spec.source.storage_account:
            account = spec.source.storage_account.rstrip("/").rsplit("/", 1)[-1]
            if account.lower() != m.group("account").lower():
                out.append(Diagnostic.error(
                    f"source.vhd of '{spec.name}' is in storage account '{m.group('account')}', "
                    f"but source.storage_account says '{account}'",
                    "make them name the same account", code="azure-vhd-account"))
    return out


def source_checks(spec: ImageSpec, snapshot: Snapshot) -> list[Diagnostic]:
    """What ``source.generalize`` needs of the guest (BEHAVIOURS.md row 11: ARM's generalize only
    marks the VM): a Windows guest must have been sysprepped (``source.sysprepped: true``), no
    provider runs Sysprep; ``source.deprovision`` runs the Linux agent through Run Command, which
    needs the VM running."""
    if spec.source.vm is None or not spec.source.generalize or spec.os_state is not OSState.GENERALIZED:
        return []
    vm = snapshot.vm_index().get(spec.source.vm.casefold())
    if vm is None or vm.os_state is OSState.GENERALIZED:
        return []
    out: list[Diagnostic] = []
    if vm.os == "windows" and not spec.source.sysprepped:
        out.append(Diagnostic.error(
            f"source.generalize of '{spec.name}' would generalize Windows VM '{vm.name}' without Sysprep: "
            "ARM's generalize only marks the VM, and VMs made from the image would hang in provisioning",
            "run `sysprep /generalize /oobe /shutdown` in the guest, then declare source.sysprepped: true",
            code="azure-sysprep"))
    if spec.source.deprovision and vm.power_state is not PowerState.RUNNING:
        out.append(Diagnostic.error(
            f"source.deprovision of '{spec.name}' runs waagent in VM '{vm.name}' through Run Command, "
            f"but the VM is {vm.power_state.value}",
            f"start the VM (az vm start -n {vm.name}), or deprovision it yourself and drop source.deprovision",
            code="azure-deprovision-power"))
    return out


def disk_source_checks(mode: ScopeClass, spec: ImageSpec, snapshot: Snapshot) -> list[Diagnostic]:
    """A managed image, snapshot or disk source (issue 10 §3; ``sources.py``). Read at plan time
    (``Snapshot.capture_sources``): each must exist and be Succeeded, the OS source of the declared
    ``os``; in gallery mode its generation, security type and architecture must be those of the
    definition, an existing one (as Azure checks) or one created as ``families:`` declares it, the
    rest inferred from the source (``families.capture_checks``). A new definition needs a known
    generation: the source's, or ``families.<d>.hyper_v_generation`` when the source states none
    (or was not read). Managed mode's own: ``ManagedScope.plan_checks``."""
    kind = spec.source.kind
    if kind not in ("image", "snapshot", "disk") or spec.source.promotion:
        return []  # a promotion's definition takes the source version's properties (promotion_checks)
    out = existence_checks(spec, snapshot)
    if mode is not GalleryScope:
        return out
    definition = spec.name.partition("/")[0]
    known = definition_of(snapshot, definition)
    if known is not None:
        return out + definition_checks(spec, snapshot, known)
    if definition.casefold() in snapshot.families:
        return out
    declared = spec.extra.get(FAMILY_EXTRA)
    facts = facts_of(spec, snapshot)
    if (isinstance(declared, Mapping) and declared.get("hyper_v_generation")) or (
            facts is not None and facts.hyper_v_generation is not None) or (
            snapshot.capture_sources is not None and source_of(spec, snapshot) is None):
        return out  # declared, read from the source, or the source is missing (said above)
    return [*out, Diagnostic.error(
        f"gallery definition '{definition}' would be created for '{spec.name}' without a known Hyper-V "
        f"generation: source.{kind} states none, and Azure defaults to V1",
        f"declare families.{definition}.hyper_v_generation (V1 or V2, the {kind}'s generation)",
        code="azure-generation")]


def promotion_checks(mode: ScopeClass, spec: ImageSpec, snapshot: Snapshot, location: str | None) -> list[Diagnostic]:
    """A promotion (issue 11 §1) copies another gallery's version (``storageProfile.source.id``): the
    catalog must be a gallery; the source (``Snapshot.origins``; one that does not exist is the
    planner's error) must be Succeeded, replicated to this catalog's region (``catalog.location``:
    our safety rule; whether Azure itself refuses otherwise is unverified, the emulator's
    ``Faults.promotion_region`` offers both), and of the definition properties the target
    definition has (Hyper-V generation, security type, architecture: Azure refuses a version whose
    source differs, BEHAVIOURS.md rows 3-6; the emulator checks the same). A definition not
    created yet takes the source's properties, unless ``families:`` declares others."""
    if not spec.source.promotion:
        return []
    ref = str(spec.source.image)
    if mode is not GalleryScope:
        return [Diagnostic.error(
            f"'{spec.name}' promotes {ref}, but managed images cannot be made from a gallery version",
            "set catalog.gallery: a promotion creates a gallery version from the source version",
            code="azure-promotion-mode")]
    origin = snapshot.origins.get(ref.casefold())
    facts = origin.facts if origin is not None else None
    if origin is None or origin.failed is not None or facts is None:
        return []
    out: list[Diagnostic] = []
    state = str(getattr(facts, "provisioning_state", "Succeeded"))
    if state != "Succeeded":
        out.append(Diagnostic.error(
            f"source image {ref} of '{spec.name}' is {state.lower()}, not Succeeded",
            "wait until its creation (or update) has finished, then plan again", code="azure-promotion-state"))
    home = (location or "").replace(" ", "").lower()
    replication = dict(getattr(facts, "replication", ()) or ())
    regions = {str(r.get("name") if isinstance(r, Mapping) else r).replace(" ", "").lower()
               for r in origin.extra.get("target_regions") or ()}
    if home and (replication or regions):
        have = replication.get(home) if replication else ("completed" if home in regions else None)
        if have is None:
            out.append(Diagnostic.error(
                f"source image {ref} of '{spec.name}' is not replicated to {home}, this catalog's region",
                f"add {home} to its target_regions in its own catalog and apply there first (the reconciler "
                "promotes only from a replica in this catalog's region; whether Azure would copy from another "
                "region is unverified)", code="azure-promotion-region"))
        elif have != "completed":
            out.append(Diagnostic.error(
                f"source image {ref} of '{spec.name}' is {have} in {home}, this catalog's region",
                "wait until its replication there has completed, then plan again", code="azure-promotion-region"))
    definition = spec.name.partition("/")[0]
    target = definition_of(snapshot, definition)
    declared = spec.extra.get(FAMILY_EXTRA) if isinstance(spec.extra.get(FAMILY_EXTRA), Mapping) else {}
    for key, default in (("hyper_v_generation", "V1"), ("security_type", "Standard"), ("architecture", "x64")):
        src = str(getattr(facts, key, None) or default)
        if target is not None:
            want, where = str(getattr(target, key, None) or default), f"gallery definition '{definition}'"
        elif isinstance(declared, Mapping) and declared.get(key):
            want, where = str(declared[key]), f"families.{definition}"
        else:
            continue  # created for this promotion: it takes the source's
        if src != want:
            out.append(Diagnostic.error(
                f"source image {ref} of '{spec.name}' has {key} {src}, but {where} has {want} "
                "(Azure refuses a version whose source differs from its definition)",
                f"promote into a definition with {key}: {src}, or promote a {want} source",
                code="azure-promotion-definition"))
    return out


def mode_checks(
    mode: ScopeClass, spec: ImageSpec, snapshot: Snapshot, *, location: str | None = None
) -> list[Diagnostic]:
    """Azure-specific preconditions of capturing ``spec`` in ``mode``, checked at plan time. Pure.

    Both modes: ``shared_checks``. Then the mode's own (``Scope.plan_checks``; gallery mode: the
    definition's OS state and fields, the family, a VHD's account). ``location``: the effective
    ``catalog.location`` ("" when unset: a capture would fail in apply, so it is refused here;
    None: not known, not checked).
    """
    out = (shared_checks(spec) + source_checks(spec, snapshot) + disk_source_checks(mode, spec, snapshot)
           + mode.plan_checks(spec, snapshot) + promotion_checks(mode, spec, snapshot, location))
    if location is not None and not location:
        out.insert(0, Diagnostic.error(
            f"cannot capture '{spec.name}': the azure provider needs a location to create images",
            "set catalog.location (or RECONCILER_LOCATION), e.g. westeurope", code="azure-location"))
    return out


def plan_checks(spec: ImageSpec, snapshot: Snapshot, *, gallery: bool | None = None) -> list[Diagnostic]:
    """``mode_checks`` in gallery mode when ``gallery`` says so; None: the mode the name has
    (``definition/X.Y.Z`` is a gallery version)."""
    return mode_checks(scope_class({"gallery": "/" in spec.name if gallery is None else gallery}), spec, snapshot)


__all__ = ["disk_source_checks", "mode_checks", "plan_checks", "promotion_checks", "shared_checks",
           "source_checks"]
