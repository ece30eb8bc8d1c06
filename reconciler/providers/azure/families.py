"""Families as Azure Compute Gallery image definitions (issue 10 §2). Pure, but for the two
functions that read and write a definition through ``scope.Arm`` (``ensure_definition``).

Layer: edge (provider). In gallery mode a family *is* an image definition: ``families.<f>`` of the
file declares its properties, a field left out is unmanaged, or inferred from the first source VM
(``vmfacts.VmFacts``) when the definition is created. ``docs/azure.md`` ("Families are image
definitions") has the table of each field and the API property it maps to (``FIELD_MAP`` below).

What can change on a live definition (``MUTABLE``): the properties GalleryRP 2025-03-03 marks
"updatable" (``description``, ``endOfLifeDate``, ``recommended``) and those
``Update-AzGalleryImageDefinition`` takes (``-Eula``, ``-PrivacyStatementUri``, ``-ReleaseNoteUri``,
``-PurchasePlan*``; learn.microsoft.com/powershell/module/az.compute/update-azgalleryimagedefinition).
Everything else (identifier, generation, architecture, OS type and state, and the features: security
type, disk controllers, accelerated networking, hibernation) is fixed: Azure refuses a change
(``PropertyChangeNotAllowed``; features only with ``allowUpdateImage``, which we never send: versions
already in the definition were made for its features). Replacing a definition deletes every version
in it, so an immutable difference is a plan error, never a replace.

Security type (BEHAVIOURS.md rows 4 and 5): terraform-provider-azurerm ``shared_image_resource.go``
writes ``trusted_launch_enabled`` as feature ``SecurityType=TrustedLaunch``, ``trusted_launch_supported``
as ``TrustedLaunchSupported``, ``confidential_vm_enabled`` as ``ConfidentialVM``,
``confidential_vm_supported`` as ``ConfidentialVMSupported``, both supported flags as
``TrustedLaunchAndConfidentialVmSupported``; a Standard definition has no ``SecurityType`` feature.
Disk controllers are the feature ``DiskControllerTypes`` (``"SCSI, NVMe"``, the spelling Azure uses
for ``supportedCapabilities.diskControllerTypes``), accelerated networking
``IsAcceleratedNetworkSupported``, hibernation ``IsHibernateSupported`` (``"true"``/``"false"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...errors import Diagnostic, ProviderError
from ...model import FAMILY_EXTRA, Family, FamilySpec, ImageSpec, OSState, Snapshot
from .. import StepCallback
from .mapping import fingerprint, itags, os_state, wire_os_state, wire_os_type
from .markers import TAG_OWNER
from .sources import definition_checks, facts_of
from .vmfacts import VmFacts, check_source_against_definition

#: The family fields gallery mode takes, with what each is (``Capabilities.family_fields``).
FIELDS: Mapping[str, str] = {
    "description": "the definition's description (updatable)",
    "publisher": "identifier publisher (default: the catalog name)",
    "offer": "identifier offer (default: the family name)",
    "sku": "identifier sku (default: the family name)",
    "hyper_v_generation": "V1 | V2 (inferred from the first source VM)",
    "security_type": "Standard | TrustedLaunch | TrustedLaunchSupported | ConfidentialVM | ... (inferred)",
    "architecture": "x64 | Arm64 (inferred from the first source VM)",
    "disk_controllers": "[SCSI, NVMe] (inferred: NVMe when the first source VM uses NVMe)",
    "accelerated_networking": "images support accelerated networking",
    "hibernation": "images support hibernation",
    "recommended": "{vcpus: {min, max}, memory_gb: {min, max}} (updatable)",
    "eula": "end-user license agreement (updatable)",
    "release_notes": "release notes URI (updatable)",
    "privacy_statement": "privacy statement URI (updatable)",
    "end_of_life_date": "YYYY-MM-DD, informational (updatable)",
    "purchase_plan": "{publisher, product, name} (updatable)",
}
#: The family fields an existing definition changes in place (see the module docstring).
MUTABLE = frozenset({"description", "eula", "release_notes", "privacy_statement", "end_of_life_date",
                     "recommended", "purchase_plan"})

#: File field -> the definition's ``properties`` key (features apart).
FIELD_MAP = {
    "description": "description",
    "eula": "eula",
    "release_notes": "releaseNoteUri",
    "privacy_statement": "privacyStatementUri",
    "end_of_life_date": "endOfLifeDate",
    "recommended": "recommended",
    "purchase_plan": "purchasePlan",
    "hyper_v_generation": "hyperVGeneration",
    "architecture": "architecture",
}
FEATURE_SECURITY = "SecurityType"
FEATURE_DISK_CONTROLLERS = "DiskControllerTypes"
FEATURE_ACCELERATED_NETWORKING = "IsAcceleratedNetworkSupported"
FEATURE_HIBERNATION = "IsHibernateSupported"
#: Azure's values when a definition does not say (no feature, no property).
DEFAULTS: Mapping[str, Any] = {"hyper_v_generation": "V1", "security_type": "Standard", "architecture": "x64",
                               "disk_controllers": ("SCSI",), "accelerated_networking": False,
                               "hibernation": False}


# --------------------------------------------------------------------------------------------------
# The definition as read


@dataclass(frozen=True)
class GalleryDefinition:
    """The gallery image definition a version belongs to, as read with the version.

    Facts of the family, not fields of the image: the planner never compares them; a capture into
    the definition must agree with them (``GalleryScope.plan_checks``,
    ``vmfacts.check_source_against_definition``). ``publisher``, ``offer``, ``sku``: its identifier
    (None when Azure returned none); ``hyper_v_generation`` ``V1``, ``security_type`` ``Standard``,
    ``architecture`` ``x64`` when the definition states none (Azure's defaults). ``family``: every
    property under the file's names (``FamilySpec``), ``owner``/``id``/``etag``: the definition's
    ownership marker, ARM id and fingerprint (``Snapshot.families``).
    """

    name: str
    os_state: OSState
    publisher: str | None = None
    offer: str | None = None
    sku: str | None = None
    hyper_v_generation: str = "V1"
    security_type: str = "Standard"
    architecture: str = "x64"
    family: FamilySpec | None = field(default=None, compare=False)
    owner: str | None = field(default=None, compare=False)
    id: str = field(default="", compare=False)
    etag: str = field(default="", compare=False)

    @classmethod
    def from_resource(cls, definition: Mapping[str, Any]) -> GalleryDefinition:
        props = definition.get("properties") or {}
        ident = props.get("identifier") or {}
        fam = family_from_resource(definition)
        return cls(
            name=str(definition.get("name", "")),
            os_state=os_state(props.get("osState")),
            publisher=ident.get("publisher"),
            offer=ident.get("offer"),
            sku=ident.get("sku"),
            hyper_v_generation=props.get("hyperVGeneration") or "V1",
            security_type=fam.security_type or "Standard",
            architecture=fam.architecture or "x64",
            family=fam,
            owner=itags(definition.get("tags")).get(TAG_OWNER),
            id=str(definition.get("id", "")),
            etag=fingerprint(definition),
        )

    def fields(self) -> dict[str, Any]:
        """The definition's values of the image fields that described it before ``families:``."""
        return {"publisher": self.publisher, "offer": self.offer, "sku": self.sku,
                "hyper_v_generation": self.hyper_v_generation}

    def document_fields(self) -> dict[str, Any]:
        """``model.ProviderFacts``: the facts as documents show them, in the image's ``extra``."""
        return {"definition_os_state": self.os_state.value,
                **{f"definition_{k}": v for k, v in self.fields().items()}}

    def live(self) -> Family:
        """The definition as the model's live ``Family`` (itself its ``facts``)."""
        return Family(spec=self.family if self.family is not None else FamilySpec(self.name), owner=self.owner,
                      id=self.id, fingerprint=self.etag, facts=self)


def _features(props: Mapping[str, Any]) -> dict[str, str]:
    """``features`` by lower-cased name (Azure compares feature names case-insensitively)."""
    return {str(f.get("name", "")).lower(): str(f.get("value", ""))
            for f in props.get("features") or [] if isinstance(f, Mapping)}


def _bool(value: str | None) -> bool | None:
    return None if value is None else value.strip().lower() == "true"


def _range(r: Any) -> dict[str, int]:
    return {k: int(r[k]) for k in ("min", "max") if isinstance(r, Mapping) and r.get(k) is not None}


def family_from_resource(definition: Mapping[str, Any]) -> FamilySpec:
    """Every property of a definition under the file's names, Azure's defaults filled in (a
    definition without features is Standard, SCSI only, neither accelerated networking nor
    hibernation; without ``hyperVGeneration`` V1, without ``architecture`` x64)."""
    props = definition.get("properties") or {}
    ident = props.get("identifier") or {}
    feats = _features(props)
    controllers = tuple(c.strip() for c in feats.get(FEATURE_DISK_CONTROLLERS.lower(), "").split(",") if c.strip())
    rec = props.get("recommended") or {}
    recommended = {k: v for k, v in (("vcpus", _range(rec.get("vCPUs"))), ("memory_gb", _range(rec.get("memory"))))
                   if v}
    plan = props.get("purchasePlan") or {}
    eol = props.get("endOfLifeDate")
    return FamilySpec(
        name=str(definition.get("name", "")),
        description=props.get("description"),
        publisher=ident.get("publisher"),
        offer=ident.get("offer"),
        sku=ident.get("sku"),
        hyper_v_generation=props.get("hyperVGeneration") or DEFAULTS["hyper_v_generation"],
        security_type=_canonical_security(feats.get(FEATURE_SECURITY.lower())) or DEFAULTS["security_type"],
        architecture=props.get("architecture") or DEFAULTS["architecture"],
        disk_controllers=tuple(_canonical_controller(c) for c in controllers) or DEFAULTS["disk_controllers"],
        accelerated_networking=_bool(feats.get(FEATURE_ACCELERATED_NETWORKING.lower()))
        or DEFAULTS["accelerated_networking"],
        hibernation=_bool(feats.get(FEATURE_HIBERNATION.lower())) or DEFAULTS["hibernation"],
        recommended=recommended,
        eula=props.get("eula"),
        release_notes=props.get("releaseNoteUri"),
        privacy_statement=props.get("privacyStatementUri"),
        end_of_life_date=str(eol)[:10] if eol else None,
        purchase_plan={k: plan[k] for k in ("publisher", "product", "name") if plan.get(k)},
    )


_SECURITY_TYPES = ("Standard", "TrustedLaunch", "TrustedLaunchSupported", "ConfidentialVM",
                   "ConfidentialVMSupported", "TrustedLaunchAndConfidentialVmSupported")


def _canonical_security(value: str | None) -> str | None:
    if not value:
        return None
    for known in _SECURITY_TYPES:
        if value.lower() == known.lower():
            return known
    return value


def _canonical_controller(value: str) -> str:
    return "NVMe" if value.lower() == "nvme" else ("SCSI" if value.lower() == "scsi" else value)


def live_families(definitions: Iterable[Mapping[str, Any]]) -> dict[str, Family]:
    """``Snapshot.families``: every definition of the gallery as listed (``GalleryImages_ListByGallery``),
    those without versions too, by casefolded name."""
    out: dict[str, Family] = {}
    for d in definitions:
        live = GalleryDefinition.from_resource(d).live()
        out.setdefault(live.key, live)
    return out


# --------------------------------------------------------------------------------------------------
# The definition to create: declared, else inferred


def resolve(name: str, declared: Mapping[str, Any], facts: VmFacts | None, owner: str) -> dict[str, Any]:
    """The family fields of a definition created for ``declared`` (``FamilySpec.declared()``) from a
    source with ``facts`` (None: a VHD, nothing to infer): what the file says, else the source VM's
    generation, security type, architecture and (NVMe) disk controllers, else the identifier
    defaults (publisher: the catalog name, offer and sku: the family name). Azure's own defaults
    (V1, Standard, x64) are left out: they are what Azure takes when nothing is sent."""
    out: dict[str, Any] = {"publisher": owner, "offer": name, "sku": name}
    if facts is not None:
        if facts.hyper_v_generation:
            out["hyper_v_generation"] = facts.hyper_v_generation
        if facts.security_type and facts.security_type != "Standard":
            out["security_type"] = facts.security_type
        if facts.architecture and facts.architecture != "x64":
            out["architecture"] = facts.architecture
        if facts.disk_controller == "NVMe":
            out["disk_controllers"] = ["SCSI", "NVMe"]
    out.update(declared)
    return out


def properties_of(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The definition ``properties`` (OS type and state apart) that hold family ``fields``."""
    props: dict[str, Any] = {}
    if any(k in fields for k in ("publisher", "offer", "sku")):
        props["identifier"] = {k: fields[k] for k in ("publisher", "offer", "sku") if k in fields}
    for key, wire in FIELD_MAP.items():
        if key not in fields:
            continue
        value = fields[key]
        if key == "end_of_life_date":
            value = f"{value}T00:00:00+00:00"
        elif key == "recommended":
            value = {wk: dict(value[fk]) for fk, wk in (("vcpus", "vCPUs"), ("memory_gb", "memory")) if fk in value}
        elif isinstance(value, Mapping):
            value = dict(value)
        props[wire] = value
    features = []
    security = fields.get("security_type")
    if security and security != "Standard":
        features.append({"name": FEATURE_SECURITY, "value": security})
    if fields.get("disk_controllers"):
        features.append({"name": FEATURE_DISK_CONTROLLERS, "value": ", ".join(fields["disk_controllers"])})
    for key, feature in (("accelerated_networking", FEATURE_ACCELERATED_NETWORKING),
                         ("hibernation", FEATURE_HIBERNATION)):
        if fields.get(key) is not None:
            features.append({"name": feature, "value": "true" if fields[key] else "false"})
    if features:
        props["features"] = features
    return props


def summary(fields: Mapping[str, Any]) -> str:
    """``V2, TrustedLaunch, x64``: what a plan step says of the definition it creates."""
    parts = [str(fields.get("hyper_v_generation") or "V1"), str(fields.get("security_type") or "Standard"),
             str(fields.get("architecture") or "x64")]
    if fields.get("disk_controllers"):
        parts.append("+".join(fields["disk_controllers"]))
    return ", ".join(parts)


def comparable(field_name: str, value: Any) -> Any:
    """A family field's value as declared and live values compare: disk controllers as a set,
    the Azure default of a feature flag equal to not saying it."""
    if field_name == "disk_controllers" and isinstance(value, list | tuple):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return {k: comparable(k, v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------------------------------
# Plan time (pure)


def _declared(spec: ImageSpec) -> dict[str, Any]:
    raw = spec.extra.get(FAMILY_EXTRA)
    return dict(raw) if isinstance(raw, Mapping) else {}


def _facts(spec: ImageSpec, snapshot: Snapshot) -> VmFacts | None:
    if spec.source.promotion:  # issue 11 §1: a definition created for a promotion takes the source's
        origin = snapshot.origins.get(str(spec.source.image).casefold())
        f = origin.facts if origin is not None else None
        if f is None or not hasattr(f, "hyper_v_generation"):
            return None
        return VmFacts(hyper_v_generation=getattr(f, "hyper_v_generation", None),
                       security_type=str(getattr(f, "security_type", "Standard")),
                       architecture=str(getattr(f, "architecture", "x64")))
    if spec.source.disk_refs():  # issue 10 §3: a managed image, snapshot or disk, read at plan time
        return facts_of(spec, snapshot)
    if spec.source.vm is None:
        return None
    vm = snapshot.vm_index().get(spec.source.vm.casefold())
    return vm.facts if vm is not None and isinstance(vm.facts, VmFacts) else None


@dataclass(frozen=True)
class _Resolved:
    """A definition about to be created, read as ``check_source_against_definition`` reads one."""

    name: str
    hyper_v_generation: str | None
    security_type: str | None
    architecture: str | None


def capture_steps(spec: ImageSpec, snapshot: Snapshot) -> tuple[str, ...]:
    """``Capabilities.family_steps``: a capture into a definition the snapshot does not hold creates
    it first, with the declared or inferred properties (the step says which)."""
    name = spec.name.partition("/")[0]
    if name.casefold() in snapshot.families:
        return ()
    fields = resolve(name, _declared(spec), _facts(spec, snapshot), "")
    return (f"create definition {name} ({summary(fields)})",)


def capture_checks(spec: ImageSpec, snapshot: Snapshot) -> list[Diagnostic]:
    """A capture into a definition that does not exist yet: the definition the file declares (its
    undeclared fields inferred from this source) must take the source VM, as Azure checks it
    (``vmfacts.check_source_against_definition``). An existing definition is checked against its
    live facts by ``GalleryScope.plan_checks``."""
    name = spec.name.partition("/")[0]
    facts = _facts(spec, snapshot)
    disk = bool(spec.source.disk_refs())  # a managed image, snapshot or disk (sources.py)
    if name.casefold() in snapshot.families or facts is None or (spec.source.vm is None and not disk):
        return []
    fields = resolve(name, _declared(spec), facts, "")
    resolved = _Resolved(name, fields.get("hyper_v_generation"), fields.get("security_type"),
                         fields.get("architecture"))
    out = (definition_checks(spec, snapshot, resolved) if disk
           else check_source_against_definition(facts, resolved, vm=str(spec.source.vm), image=spec.name))
    return [Diagnostic(d.severity, d.summary.replace(f"gallery definition '{name}'",
                                                     f"gallery definition '{name}' (as families.{name} declares it)"),
                       d.hint, d.location, d.code) for d in out]


# --------------------------------------------------------------------------------------------------
# Apply time: the definition a capture goes into, and in-place updates


def ensure_definition(arm: Any, path: str, api_params: Mapping[str, str], spec: ImageSpec, *, location: str,
                      owner: str, facts: VmFacts | None, on_step: StepCallback, deadline: Any) -> None:
    """Create the definition of ``spec``'s family when missing (declared or inferred properties);
    on an existing one, refuse another OS state and update the declared mutable fields that differ
    (when this catalog owns it)."""
    name = spec.name.partition("/")[0]
    existing = arm.get(path, api_params, f"read definition {name}")
    want_state = wire_os_state(spec)
    declared = _declared(spec)
    if existing is not None:
        have = str(((existing.get("properties") or {}).get("osState")) or "")
        if have.lower() != want_state.lower():
            raise ProviderError(
                f"gallery definition '{name}' holds {have.lower()} images, '{spec.name}' is {want_state.lower()}",
                status=400, code="BadRequest", hint="run plan again: a definition's OS state cannot change")
        # The plan compared the definition it read (``Snapshot.families``); one created or changed
        # since (by someone else) is compared again here, before anything is written.
        live = family_from_resource(existing)
        fixed = {k: v for k, v in declared.items()
                 if k not in MUTABLE and comparable(k, v) != comparable(k, getattr(live, k))}
        if fixed:
            k = sorted(fixed)[0]
            raise ProviderError(
                f"gallery definition '{name}' exists with {k} {getattr(live, k)!r}, families.{name} declares "
                f"{fixed[k]!r}", status=409, code="PropertyChangeNotAllowed",
                hint=f"declare {k}: {getattr(live, k)} or capture into a new family (a definition is never replaced)")
        update_definition(arm, path, api_params, existing, declared, owner=owner, on_step=on_step, deadline=deadline)
        return
    fields = resolve(name, declared, facts, owner)
    props = {"osType": wire_os_type(spec), "osState": want_state, **properties_of(fields)}
    on_step(f"creating definition {name} ({summary(fields)})")
    body = {"location": location, "tags": {TAG_OWNER: owner}, "properties": props}
    arm.call("PUT", path, api_params, body, f"create definition {name}", on_step, deadline)


def mutable_changes(declared: Mapping[str, Any], live: FamilySpec) -> dict[str, Any]:
    """The declared mutable fields whose live value differs (file names -> declared value)."""
    return {k: v for k, v in declared.items()
            if k in MUTABLE and comparable(k, v) != comparable(k, getattr(live, k))}


def update_definition(arm: Any, path: str, api_params: Mapping[str, str], existing: Mapping[str, Any],
                      declared: Mapping[str, Any], *, owner: str, on_step: StepCallback, deadline: Any) -> bool:
    """PATCH the declared mutable fields of an existing definition that differ; True when it did.
    A definition another catalog (or nobody) owns is left alone: the plan refused that already."""
    changes = mutable_changes(declared, family_from_resource(existing))
    if not changes or itags(existing.get("tags")).get(TAG_OWNER) != owner:
        return False
    props = existing.get("properties") or {}
    name = str(existing.get("name", ""))
    # GalleryImageUpdate shares GalleryImageProperties, whose osType, osState and identifier are required.
    body = {"properties": {"osType": props.get("osType"), "osState": props.get("osState"),
                           "identifier": props.get("identifier"), **properties_of(changes)}}
    on_step(f"updating definition {name} ({', '.join(sorted(changes))})")
    arm.call("PATCH", path, api_params, body, f"update definition {name}", on_step, deadline)
    return True


def adopt_definition(arm: Any, path: str, api_params: Mapping[str, str], *, owner: str, on_step: StepCallback,
                     deadline: Any) -> bool:
    """Write this catalog's ownership marker on the definition at ``path`` when it has none
    (``import``); one another catalog owns stays theirs. True when it did."""
    existing = arm.get(path, api_params, "read definition")
    if existing is None or itags(existing.get("tags")).get(TAG_OWNER):
        return False
    props = existing.get("properties") or {}
    body = {"tags": {**(existing.get("tags") or {}), TAG_OWNER: owner},
            "properties": {k: props.get(k) for k in ("osType", "osState", "identifier")}}
    arm.call("PATCH", path, api_params, body, f"import definition {existing.get('name', '')}", on_step, deadline)
    return True


__all__ = [
    "adopt_definition",
    "DEFAULTS",
    "FIELDS",
    "FIELD_MAP",
    "MUTABLE",
    "GalleryDefinition",
    "capture_checks",
    "capture_steps",
    "comparable",
    "ensure_definition",
    "family_from_resource",
    "live_families",
    "mutable_changes",
    "properties_of",
    "resolve",
    "summary",
    "update_definition",
]
