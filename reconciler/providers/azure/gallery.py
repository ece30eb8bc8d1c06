"""Gallery mode (``gallery`` set): each image is an Azure Compute Gallery image version.

Layer: edge (provider); the scope (``scope.Scope``) of this mode, the mapping of its resources and
its plan-time checks. An image is named ``<definition>/<X.Y.Z>``; the definition is the family. A
missing definition is created on the first capture into it. Tags, target regions, replica count,
end-of-life date and exclude-from-latest change in place.

The definition's own facts (OS state, identifier, Hyper-V generation) travel with each version as
a typed ``GalleryDefinition`` in ``Image.facts``; the planner never compares them, ``plan_checks``
checks a capture into the definition against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ...errors import Diagnostic, NotFound, ProviderError
from ...model import Image, ImageSpec, ImageType, OSState, Snapshot, Source
from .. import StepCallback
from ..registry import described
from .mapping import VHD_RE, declared, image_of, itags, last, os_state, wire_os_state, wire_os_type
from .markers import TAG_OWNER, TAG_SOURCE_VM
from .scope import Arm, Target, api

GALLERY_API = "2025-03-03"

#: Every image field of the fragment (``schema.json``, ``$defs.image``), with its description.
GALLERY_FIELDS = described(__package__ or "", "image")
GALLERY_MUTABLE_EXTRA = ("end_of_life_date", "exclude_from_latest", "target_regions", "replica_count")
DEFINITION_FIELDS = ("publisher", "offer", "sku", "hyper_v_generation")

_DEFINITION_RE = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,78}[A-Za-z0-9])?"
GALLERY_NAME_PATTERN = rf"^{_DEFINITION_RE}/\d{{1,9}}\.\d{{1,9}}\.\d{{1,9}}$"
GALLERY_NAME_HINT = "in gallery mode an image is <definition>/<major>.<minor>.<patch>, e.g. web-base/1.0.3"


def split_gallery_name(name: str) -> tuple[str, str]:
    """``web-base/1.0.3`` -> (``web-base``, ``1.0.3``); a name without '/' is (name, "")."""
    definition, _, version = name.partition("/")
    return definition, version


# --------------------------------------------------------------------------------------------------
# Mapping (pure)


@dataclass(frozen=True)
class GalleryDefinition:
    """The gallery image definition a version belongs to, as read with the version.

    Facts of the family, not fields of the image: none of them can change on an existing definition,
    so a capture into it must agree with them (``GalleryScope.plan_checks``). ``publisher``,
    ``offer``, ``sku``: its identifier (None when Azure returned none); ``hyper_v_generation``:
    ``V1`` when the definition states none (Azure's default).
    """

    name: str
    os_state: OSState
    publisher: str | None = None
    offer: str | None = None
    sku: str | None = None
    hyper_v_generation: str = "V1"

    @classmethod
    def from_resource(cls, definition: Mapping[str, Any]) -> GalleryDefinition:
        props = definition.get("properties") or {}
        ident = props.get("identifier") or {}
        return cls(
            name=str(definition.get("name", "")),
            os_state=os_state(props.get("osState")),
            publisher=ident.get("publisher"),
            offer=ident.get("offer"),
            sku=ident.get("sku"),
            hyper_v_generation=props.get("hyperVGeneration") or "V1",
        )

    def fields(self) -> dict[str, Any]:
        """The definition's values of the image fields that describe it (``DEFINITION_FIELDS``)."""
        return {"publisher": self.publisher, "offer": self.offer, "sku": self.sku,
                "hyper_v_generation": self.hyper_v_generation}

    def document_fields(self) -> dict[str, Any]:
        """``model.ProviderFacts``: the facts as documents show them, in the image's ``extra``."""
        return {"definition_os_state": self.os_state.value,
                **{f"definition_{k}": v for k, v in self.fields().items()}}


def _target_regions(profile: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``targetRegions`` in the file's shape; a region's replicas only when they differ from the default."""
    default = profile.get("replicaCount") or 1
    out = []
    for r in profile.get("targetRegions") or []:
        item: dict[str, Any] = {"name": r.get("name")}
        if r.get("regionalReplicaCount") not in (None, default):
            item["replicas"] = r["regionalReplicaCount"]
        out.append(item)
    return out


def _date(value: Any) -> str | None:
    """ARM date-times (``2027-01-01T00:00:00+00:00``) back to the file's ``YYYY-MM-DD``."""
    if not value:
        return None
    return str(value)[:10]


def image_from_version(definition: Mapping[str, Any], version: Mapping[str, Any]) -> Image:
    """A gallery image version (with its definition) as the model's ``Image``."""
    facts = GalleryDefinition.from_resource(definition)
    dprops = definition.get("properties") or {}
    props = version.get("properties") or {}
    storage = props.get("storageProfile") or {}
    profile = props.get("publishingProfile") or {}
    data = storage.get("dataDiskImages") or []
    tags = version.get("tags") or {}
    t = itags(tags)
    src = storage.get("source") or {}
    os_src = (storage.get("osDiskImage") or {}).get("source") or {}
    source: Source | None = None
    if src.get("virtualMachineId"):
        source = Source(vm=last(src["virtualMachineId"]))
    elif t.get(TAG_SOURCE_VM):
        source = Source(vm=t[TAG_SOURCE_VM])
    elif os_src.get("uri"):
        source = Source(vhd=os_src["uri"], storage_account=last(os_src.get("storageAccountId")))
    actual: dict[str, Any] = {
        "end_of_life_date": _date(profile.get("endOfLifeDate")),
        "exclude_from_latest": profile.get("excludeFromLatest"),
        "target_regions": _target_regions(profile),
        "replica_count": profile.get("replicaCount"),
        **facts.fields(),
    }
    return image_of(
        version,
        name=f"{facts.name}/{version.get('name', '')}",
        os=dprops.get("osType"),
        os_state=facts.os_state,
        family=facts.name,
        source=source,
        data_disks=len(data),
        extra={k: actual[k] for k in declared(tags) if k in actual},
        published=profile.get("publishedDate"),
        facts=facts,
    )


def definition_of(snapshot: Snapshot, definition: str) -> GalleryDefinition | None:
    """What the snapshot knows of ``definition``: the facts any version of it carries."""
    prefix = definition.casefold() + "/"
    for image in snapshot.images:
        if image.key.startswith(prefix) and isinstance(image.facts, GalleryDefinition):
            return image.facts
    return None


def _source_only(version: Mapping[str, Any]) -> dict[str, Any]:
    """The version's storage profile as a PATCH must echo it (required, and its source may not change)."""
    storage = (version.get("properties") or {}).get("storageProfile") or {}
    return {"source": storage["source"]} if storage.get("source") else {}


# --------------------------------------------------------------------------------------------------
# The scope


class GalleryScope:
    """Image versions in one gallery of the resource group; a definition per family."""

    api_version = GALLERY_API
    # Read back, a version's family is always its definition: no tag.
    family_tag = False
    image_fields: Mapping[str, str] = GALLERY_FIELDS
    mutable_fields = frozenset(f"extra.{k}" for k in GALLERY_MUTABLE_EXTRA)
    specialized_types = frozenset({ImageType.OS, ImageType.VM})
    name_pattern = GALLERY_NAME_PATTERN
    name_hint = GALLERY_NAME_HINT

    def __init__(self, target: Target, gallery: str) -> None:
        self.target = target
        self.gallery = gallery

    @classmethod
    def open(cls, settings: Mapping[str, Any], target: Target) -> GalleryScope:
        return cls(target, str(settings["gallery"]))

    # ---- paths

    @property
    def gallery_path(self) -> str:
        return f"{self.target.rp}/galleries/{quote(self.gallery, safe='')}"

    def definition_path(self, definition: str) -> str:
        return f"{self.gallery_path}/images/{quote(definition, safe='')}"

    def image_path(self, name: str) -> str:
        d, v = split_gallery_name(name)
        return f"{self.definition_path(d)}/versions/{quote(v, safe='')}"

    # ---- reading

    def list_images(self, arm: Arm) -> list[Image]:
        try:
            definitions = arm.paged(f"{self.gallery_path}/images", api(GALLERY_API), "list gallery definitions")
        except NotFound as e:
            raise ProviderError(
                f"gallery '{self.gallery}' does not exist in resource group '{self.target.resource_group}'",
                status=e.status, code=e.code, request_id=e.request_id,
                hint="create it (az sig create) or fix catalog.gallery",
            ) from e

        def versions(d: Mapping[str, Any]) -> list[Image]:
            vs = arm.paged(f"{self.definition_path(str(d['name']))}/versions", api(GALLERY_API),
                           f"list versions of {d['name']}")
            return [image_from_version(d, v) for v in vs]

        return [i for batch in arm.parallel(versions, definitions) for i in batch]

    def read_image(self, arm: Arm, name: str) -> tuple[dict[str, Any], Image] | None:
        d, _ = split_gallery_name(name)
        definition = arm.get(self.definition_path(d), api(GALLERY_API), f"read definition {d}")
        if definition is None:
            return None
        version = arm.get(self.image_path(name), api(GALLERY_API), f"read image {name}")
        return (version, image_from_version(definition, version)) if version is not None else None

    # ---- writing

    def prepare_capture(self, arm: Arm, spec: ImageSpec, on_step: StepCallback, started: float) -> None:
        """Create the definition when missing; refuse one of the other OS state."""
        d, _ = split_gallery_name(spec.name)
        existing = arm.get(self.definition_path(d), api(GALLERY_API), f"read definition {d}")
        want_state = wire_os_state(spec)
        if existing is not None:
            have = str(((existing.get("properties") or {}).get("osState")) or "")
            if have.lower() != want_state.lower():
                raise ProviderError(
                    f"gallery definition '{d}' holds {have.lower()} images, '{spec.name}' is {want_state.lower()}",
                    status=400, code="BadRequest", hint="run plan again: a definition's OS state cannot change")
            return
        x = spec.extra
        props: dict[str, Any] = {
            "osType": wire_os_type(spec),
            "osState": want_state,
            "identifier": {"publisher": x.get("publisher") or self.target.owner, "offer": x.get("offer") or d,
                           "sku": x.get("sku") or d},
        }
        if x.get("hyper_v_generation"):
            props["hyperVGeneration"] = x["hyper_v_generation"]
        on_step(f"creating definition {d}")
        body = {"location": self.target.location, "tags": {TAG_OWNER: self.target.owner}, "properties": props}
        arm.call("PUT", self.definition_path(d), api(GALLERY_API), body, f"create definition {d}", on_step,
                 arm.remaining(started))

    def capture_body(self, spec: ImageSpec, vm: Mapping[str, Any] | None, tags: dict[str, str]) -> dict[str, Any]:
        storage: dict[str, Any]
        vm_storage = ((vm or {}).get("properties") or {}).get("storageProfile") or {}
        os_disk_id = ((vm_storage.get("osDisk") or {}).get("managedDisk") or {}).get("id")
        if spec.source.vm is not None and spec.type is ImageType.OS and vm_storage.get("dataDisks") and os_disk_id:
            # An OS image of a VM with data disks: capture only its OS disk (virtualMachineId
            # would take every disk). The version then takes the definition's OS state.
            storage = {"osDiskImage": {"source": {"id": os_disk_id}}}
        elif spec.source.vm is not None:
            vm_id = str((vm or {}).get("id") or self.target.vm_id(spec.source.vm))
            storage = {"source": {"virtualMachineId": vm_id}}
        else:
            storage = {"osDiskImage": {"source": {"uri": spec.source.vhd,
                                                  "storageAccountId": self._account_id(spec.source)}}}
        return {"location": self.target.location, "tags": tags,
                "properties": {"storageProfile": storage, "publishingProfile": self._publishing(spec)}}

    def update_body(self, spec: ImageSpec, live: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        return {"tags": tags, "properties": {"storageProfile": _source_only(live),
                                             "publishingProfile": self._publishing(spec, existing=live)}}

    def owner_body(self, live: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        return {"tags": tags, "properties": {"storageProfile": _source_only(live)}}

    def _account_id(self, source: Source) -> str:
        acct = source.storage_account or ""
        if acct.startswith("/subscriptions/"):
            return acct
        return f"{self.target.rg_path}/providers/Microsoft.Storage/storageAccounts/{acct}"

    def _publishing(self, spec: ImageSpec, existing: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The publishing profile for ``spec``. On update (``existing`` given) fields the file does not
        declare keep their live values: undeclared means unmanaged, not "reset to default"."""
        if existing is not None:
            live = (existing.get("properties") or {}).get("publishingProfile") or {}
            prof = {k: live[k] for k in ("targetRegions", "replicaCount", "excludeFromLatest", "endOfLifeDate")
                    if k in live}
            prof.update(_declared_publishing(spec))
            return prof
        return {"targetRegions": [{"name": self.target.location}], **_declared_publishing(spec)}

    # ---- plan time (pure)

    @staticmethod
    def plan_checks(spec: ImageSpec, snapshot: Snapshot) -> list[Diagnostic]:
        """The definition's OS state (from ``GalleryDefinition`` facts any version of it carries in
        the snapshot) must equal the image's and the source VM's; ``family`` must be the definition;
        declared definition fields must match an existing definition; a VHD needs its account."""
        out: list[Diagnostic] = []
        if spec.source.vhd is not None and VHD_RE.match(spec.source.vhd) and not spec.source.storage_account:
            out.append(Diagnostic.error(
                f"a gallery version from a VHD needs source.storage_account ('{spec.name}')",
                "set source.storage_account to the account name or its resource id", code="azure-vhd-account"))
        definition, _ = split_gallery_name(spec.name)
        if spec.family != definition:
            # Read back, a version's family is always its definition: any other value (None included)
            # would plan a replace on every run.
            out.append(Diagnostic.error(
                f"in gallery mode the family of '{spec.name}' is its definition '{definition}', "
                f"not {repr(spec.family) if spec.family is not None else 'unset'}",
                f"set family: {definition}", code="azure-gallery-family"))
        known = definition_of(snapshot, definition)
        def_state = known.os_state.value if known is not None else None
        if def_state is not None and def_state != spec.os_state.value:
            out.append(Diagnostic.error(
                f"gallery definition '{definition}' holds {def_state} images, "
                f"but '{spec.name}' is {spec.os_state.value}",
                f"declare os_state: {def_state}, or use another definition (a definition's OS state cannot change)",
                code="azure-gallery-os-state"))
        have_fields = known.fields() if known is not None else {}
        for k in DEFINITION_FIELDS:
            have = have_fields.get(k)
            want = spec.extra.get(k)
            if want is not None and have is not None and want != have:
                out.append(Diagnostic.error(
                    f"gallery definition '{definition}' has {k} '{have}', but '{spec.name}' declares '{want}'",
                    f"declare {k}: {have} (definition fields cannot change), or use another definition",
                    code="azure-gallery-definition"))
        if spec.source.vm is not None:
            vm = snapshot.vm_index().get(spec.source.vm.casefold())
            if vm is not None:
                # With source.generalize the VM will be generalized before the capture.
                vm_state = OSState.GENERALIZED if spec.source.generalize else vm.os_state
                target = def_state or spec.os_state.value
                if vm_state.value != target:
                    out.append(Diagnostic.error(
                        f"source VM '{vm.name}' is {vm_state.value}, but gallery definition '{definition}' "
                        f"holds {target} images (Azure answers BadRequest)",
                        "capture from a VM in the definition's OS state, or into a definition of the VM's state",
                        code="azure-gallery-os-state"))
        return out


def _declared_publishing(spec: ImageSpec) -> dict[str, Any]:
    x = spec.extra
    prof: dict[str, Any] = {}
    if x.get("target_regions"):
        prof["targetRegions"] = [
            {"name": r["name"], **({"regionalReplicaCount": r["replicas"]} if r.get("replicas") else {})}
            for r in x["target_regions"]
        ]
    if x.get("replica_count") is not None:
        prof["replicaCount"] = x["replica_count"]
    if x.get("exclude_from_latest") is not None:
        prof["excludeFromLatest"] = bool(x["exclude_from_latest"])
    if x.get("end_of_life_date"):
        prof["endOfLifeDate"] = f"{x['end_of_life_date']}T00:00:00+00:00"
    return prof


__all__ = [
    "DEFINITION_FIELDS",
    "GALLERY_API",
    "GALLERY_FIELDS",
    "GALLERY_MUTABLE_EXTRA",
    "GALLERY_NAME_HINT",
    "GALLERY_NAME_PATTERN",
    "GalleryDefinition",
    "GalleryScope",
    "definition_of",
    "image_from_version",
    "split_gallery_name",
]
