"""Gallery mode (``gallery`` set): each image is an Azure Compute Gallery image version.

Layer: edge (provider); the scope (``scope.Scope``) of this mode, the mapping of its resources and
its plan-time checks. An image is named ``<definition>/<X.Y.Z>``; the definition is the family. A
missing definition is created on the first capture into it. Tags, target regions, replica count,
end-of-life date and exclude-from-latest change in place.

The definition's own facts (OS state, identifier, Hyper-V generation) travel with each version as
a typed ``GalleryDefinition`` in ``Image.facts``, and every definition of the gallery (those without
versions too) is in ``Snapshot.families`` (``Family.facts``); the planner never compares the facts,
``plan_checks`` checks a capture into the definition against them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import quote

from ...errors import Diagnostic, NotFound, ProviderError
from ...model import (
    FAMILY_EXTRA,
    PROMOTION_EXTRA,
    ExtraComparison,
    Family,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    Snapshot,
    Source,
    capture_source_key,
)
from .. import StepCallback
from ..registry import described
from . import versions as v_
from .families import (
    GalleryDefinition,
    adopt_definition,
    capture_checks,
    ensure_definition,
    live_families,
    update_definition,
)
from .mapping import VHD_RE, image_of, itags, last, source_from_ids, source_ref
from .markers import TAG_OWNER, TAG_SOURCE_VM
from .scope import Arm, Target, api
from .sources import read_sources
from .vmfacts import VmFacts, check_source_against_definition, facts_from_resource

GALLERY_API = "2025-03-03"
#: A version GET with its replication status per region (GalleryRP ``$expand=ReplicationStatus``).
REPLICATION_QUERY = {**api(GALLERY_API), "$expand": "ReplicationStatus"}

#: Every image field of the fragment (``schema.json``, ``$defs.image``), with its description.
#: ``publisher``, ``offer``, ``sku`` and ``hyper_v_generation`` are family fields in this mode
#: (``families.<f>``, ``families.py``): validate says where they moved.
GALLERY_FIELDS = {k: v for k, v in described(__package__ or "", "image").items()
                  if k not in ("publisher", "offer", "sku", "hyper_v_generation")}
GALLERY_MUTABLE_EXTRA = v_.UPDATABLE

_DEFINITION_RE = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,78}[A-Za-z0-9])?"
#: A version name part: an integer within 32 bits (0..2147483647, leading zeros allowed), as
#: GalleryRP's ``galleryImageVersionName`` describes it (BEHAVIOURS.md row 16).
_INT32 = (r"0*(?:[0-9]{1,9}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}"
          r"|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]|214748364[0-7])")
GALLERY_NAME_PATTERN = rf"^{_DEFINITION_RE}/{_INT32}\.{_INT32}\.{_INT32}$"  # ASCII digits only
GALLERY_NAME_HINT = ("in gallery mode an image is <definition>/<major>.<minor>.<patch>, each an integer up to "
                     "2147483647, e.g. web-base/1.0.3")


def split_gallery_name(name: str) -> tuple[str, str]:
    """``web-base/1.0.3`` -> (``web-base``, ``1.0.3``); a name without '/' is (name, "")."""
    definition, _, version = name.partition("/")
    return definition, version


# --------------------------------------------------------------------------------------------------
# Mapping (pure)


@dataclass(frozen=True)
class GalleryVersionFacts(GalleryDefinition):
    """The definition a version belongs to (``GalleryDefinition``) and the version's own state:
    ``provisioning_state`` as ARM says it (``Succeeded``, ``Failed``, ...) and ``replication``,
    canonical region -> replication state (``completed``, ``replicating``, ``failed``; read with
    ``$expand=ReplicationStatus``, empty when not read)."""

    provisioning_state: str = "Succeeded"
    replication: tuple[tuple[str, str], ...] = ()

    def failures(self) -> dict[str, str]:
        return {r: s for r, s in self.replication if s == "failed"}

    def status(self) -> str:
        """One line for ``images list``: provisioning when not Succeeded, then replication per region
        (``replication failed: northeurope``, ``replicating: eastus``, ``replicated: westeurope``)."""
        parts = [] if self.provisioning_state == "Succeeded" else [f"provisioning {self.provisioning_state.lower()}"]
        by_state: dict[str, list[str]] = {}
        for r, s in self.replication:
            by_state.setdefault(s, []).append(r)
        for state, word in (("failed", "replication failed"), ("replicating", "replicating"),
                            ("completed", "replicated"), ("unknown", "replication unknown")):
            if by_state.get(state):
                parts.append(f"{word}: {', '.join(by_state[state])}")
        return "; ".join(parts)

    @classmethod
    def of(cls, definition: GalleryDefinition, provisioning_state: str = "Succeeded",
           replication: tuple[tuple[str, str], ...] = ()) -> GalleryVersionFacts:
        """``definition``'s facts with a version's state (field by field: ``dataclasses.asdict``
        would turn the nested ``FamilySpec`` into a dict)."""
        return cls(**{f.name: getattr(definition, f.name) for f in fields(GalleryDefinition)},
                   provisioning_state=provisioning_state, replication=replication)

    def definition(self) -> GalleryDefinition:
        """The definition alone (what ``GalleryDefinition.from_resource`` read)."""
        return GalleryDefinition(**{f.name: getattr(self, f.name) for f in fields(GalleryDefinition)})

    def document_fields(self) -> dict[str, Any]:
        return {**super().document_fields(), "provisioning_state": self.provisioning_state,
                "replication": dict(self.replication)}


def image_from_version(definition: Mapping[str, Any], version: Mapping[str, Any], text: str | None = None) -> Image:
    """A gallery image version (with its definition) as the model's ``Image`` (``text``: the
    version's JSON as ARM sent it, which the fingerprint hashes; ``mapping.fingerprint``)."""
    state = v_.provisioning_state(version)
    facts = GalleryVersionFacts.of(GalleryDefinition.from_resource(definition), state,
                                   tuple(sorted(v_.replication(version).items())))
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
    elif t.get(TAG_OWNER) and (src.get("id") or os_src.get("id")):
        # Ours, from a managed image, a snapshot or a disk (issue 10 §3; mapping.source_from_ids).
        data_refs = [str((d.get("source") or {}).get("id") or "")
                     for d in sorted(storage.get("dataDiskImages") or [], key=lambda d: d.get("lun", 0))]
        source = source_from_ids(str(version.get("id", "")), str(src.get("id") or os_src.get("id")),
                                 [d for d in data_refs if d])
    # The version's own fields, every one as it is live (a value Azure fills in by default left
    # out: ``versions.compare`` takes it as the default). The definition's are the family's
    # (``Snapshot.families``), never the image's.
    extra = {k: v for k, v in v_.live_fields(version).items() if v is not None and v_.DEFAULTS.get(k) != v}
    image = image_of(
        version,
        name=f"{facts.name}/{version.get('name', '')}",
        os=dprops.get("osType"),
        os_state=facts.os_state,
        family=facts.name,
        source=source,
        data_disks=len(data),
        extra=extra,
        published=profile.get("publishedDate"),
        facts=facts,
        text=text,
    )
    # A version whose create (or last update) failed exists but is not converged (BEHAVIOURS.md row 10).
    failed = f"provisioning {state.lower()}" if state.lower() in ("failed", "canceled") else None
    return replace(image, failed=failed) if failed else image


def definition_of(snapshot: Snapshot, definition: str) -> GalleryDefinition | None:
    """What the snapshot knows of ``definition``: the family the gallery listed
    (``Snapshot.families``, a definition without versions too), else the facts any version of it
    carries (a snapshot not read from a gallery)."""
    live = snapshot.families.get(definition.casefold())
    if live is not None and isinstance(live.facts, GalleryDefinition):
        return live.facts
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
        #: The ARM client reading a promotion's source (the backend's: another tenant's token for a
        #: source in another tenant, issue 11 §1); None: the catalog's own.
        self.source_arm: Callable[[ImageSpec], Arm] | None = None

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
        return self.list_catalog(arm)[0]

    def list_catalog(self, arm: Arm) -> tuple[list[Image], dict[str, Family]]:
        """Every version of the gallery, and every definition (``Snapshot.families``): one paged
        ``GalleryImages_ListByGallery``, then the versions of each definition in parallel."""
        try:
            definitions = arm.paged(f"{self.gallery_path}/images", api(GALLERY_API), "list gallery definitions")
        except NotFound as e:
            raise ProviderError(
                f"gallery '{self.gallery}' does not exist in resource group '{self.target.resource_group}'",
                status=e.status, code=e.code, request_id=e.request_id,
                hint="create it (az sig create) or fix catalog.gallery",
            ) from e

        def versions(d: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], Any, str]]:
            pages = arm.pages(f"{self.definition_path(str(d['name']))}/versions", api(GALLERY_API),
                              f"list versions of {d['name']}")
            return [(d, v, text) for page in pages for v, text in page]

        listed = [x for batch in arm.parallel(versions, definitions) for x in batch]
        # The list has no $expand (GalleryRP): the replication status of each version this catalog
        # owns (the ones a plan can repair) takes one GET ``$expand=ReplicationStatus``, with bounded
        # parallelism. provisioningState Succeeded does not say every region completed
        # (Azure/AgentBaker#8373), so it cannot be skipped for those.
        owned = [x for x in listed if itags(x[1].get("tags")).get(TAG_OWNER) == self.target.owner]
        others = [image_from_version(d, v, text) for d, v, text in listed
                  if itags(v.get("tags")).get(TAG_OWNER) != self.target.owner]

        def expanded(item: tuple[Mapping[str, Any], Any, str]) -> Image | None:
            d, v, _ = item
            found = arm.get_text(self._version_path(str(d["name"]), str(v.get("name", ""))), REPLICATION_QUERY,
                                 f"read replication of {d['name']}/{v.get('name', '')}")
            return image_from_version(d, *found) if found is not None else None  # None: deleted meanwhile

        return others + [i for i in arm.parallel(expanded, owned) if i is not None], live_families(definitions)

    def _version_path(self, definition: str, version: str) -> str:
        return f"{self.definition_path(definition)}/versions/{quote(version, safe='')}"

    def read_image(self, arm: Arm, name: str) -> tuple[dict[str, Any], Image] | None:
        d, _ = split_gallery_name(name)
        definition = arm.get(self.definition_path(d), api(GALLERY_API), f"read definition {d}")
        if definition is None:
            return None
        found = arm.get_text(self.image_path(name), REPLICATION_QUERY, f"read image {name}")
        return (found[0], image_from_version(definition, *found)) if found is not None else None

    # ---- promotion (issue 11 §1): a version whose source is another gallery's version

    def origin_id(self, spec: ImageSpec) -> str:
        """The ARM id of the version ``spec`` promotes: its ``source.image`` when that is an id, else
        the ``sources:`` entry's gallery (subscription and resource group default to the catalog's)
        and the name after ``ALIAS:`` (``definition/version``)."""
        promo = spec.extra.get(PROMOTION_EXTRA) or {}
        if not promo.get("source"):
            return str(spec.source.image)
        s = promo.get("settings") or {}
        if not s.get("gallery"):
            raise ProviderError(f"source '{promo['source']}' of '{spec.name}' names no gallery",
                                hint=f"set sources.{promo['source']}.gallery (a promotion copies a gallery version)")
        d, v = split_gallery_name(str(promo.get("image", "")))
        sub = s.get("subscription") or self.target.subscription
        rg = s.get("resource_group") or self.target.resource_group
        return (f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/galleries/{s['gallery']}"
                f"/images/{d}/versions/{v}")

    def read_origin(self, arm: Arm, spec: ImageSpec) -> Image | None:
        """The version ``spec`` promotes, as ``image_from_version`` maps it (its definition's facts,
        provisioning and replication state: ``GalleryVersionFacts``); None when it does not exist."""
        version_id = self.origin_id(spec)
        head, sep, _ = version_id.rpartition("/versions/")
        if not sep:
            return None
        definition = arm.get(head, api(GALLERY_API), f"read definition of {spec.source.image}")
        if definition is None:
            return None
        found = arm.get_text(version_id, REPLICATION_QUERY, f"read source image {spec.source.image}")
        if found is None:
            return None
        return replace(image_from_version(definition, *found), id=str(found[0].get("id") or version_id))

    def _origin_facts(self, arm: Arm, spec: ImageSpec) -> VmFacts | None:
        """The source version's definition properties, as a definition created for the promotion
        takes them (``families.resolve``)."""
        origin = self.read_origin(self.source_arm(spec) if self.source_arm is not None else arm, spec)
        facts = origin.facts if origin is not None else None
        if not isinstance(facts, GalleryVersionFacts):
            return None
        return VmFacts(hyper_v_generation=facts.hyper_v_generation, security_type=facts.security_type,
                       architecture=facts.architecture)

    # ---- writing

    def prepare_capture(self, arm: Arm, spec: ImageSpec, on_step: StepCallback, started: float,
                        vm: Mapping[str, Any] | None = None) -> None:
        """Create the definition when missing, with the family's declared properties and the rest
        inferred from the source VM ``vm`` (its raw resource, instance view included); refuse one of
        the other OS state; update the declared mutable fields of an existing one
        (``families.ensure_definition``)."""
        d, _ = split_gallery_name(spec.name)
        facts = facts_from_resource(vm, None) if vm is not None else None
        if facts is None and spec.source.promotion:
            facts = self._origin_facts(arm, spec)
        elif facts is None and spec.source.disk_refs():
            # A managed image, snapshot or disk (issue 10 §3): a new definition takes its facts, as planned.
            found = read_sources(arm, self.target.rp, [spec], lambda fn, items: [fn(i) for i in items])
            source = found.get(capture_source_key(*spec.source.disk_refs()[0]))
            facts = source.facts if source is not None and isinstance(source.facts, VmFacts) else None
        ensure_definition(arm, self.definition_path(d), api(GALLERY_API), spec, location=self.target.location,
                          owner=self.target.owner, facts=facts, on_step=on_step, deadline=arm.remaining(started))

    def adopt_parent(self, arm: Arm, name: str, on_step: StepCallback, started: float) -> None:
        """``import`` of a version adopts its definition too when nobody owns it (never one another
        catalog owns): then the family's declared mutable fields can be updated (``families.py``)."""
        d, _ = split_gallery_name(name)
        adopt_definition(arm, self.definition_path(d), api(GALLERY_API), owner=self.target.owner, on_step=on_step,
                         deadline=arm.remaining(started))

    def prepare_update(self, arm: Arm, spec: ImageSpec, on_step: StepCallback, started: float) -> None:
        """Before a version's update: the declared mutable fields of its definition that differ
        (the plan shows them as ``families.<f>.<field>`` on the family's first image)."""
        declared = spec.extra.get(FAMILY_EXTRA)
        if not declared:
            return
        d, _ = split_gallery_name(spec.name)
        existing = arm.get(self.definition_path(d), api(GALLERY_API), f"read definition {d}")
        if existing is not None:
            update_definition(arm, self.definition_path(d), api(GALLERY_API), existing, declared,
                              owner=self.target.owner, on_step=on_step, deadline=arm.remaining(started))

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
        elif spec.source.promotion:
            # GalleryArtifactVersionFullSource.id: another gallery's version, in any resource group or
            # subscription the credential can read (issue 11 §1; docs/azure.md "Promotion").
            storage = {"source": {"id": self.origin_id(spec)}}
        elif spec.source.kind == "image":
            storage = {"source": {"id": source_ref(self.target.rp, "image", str(spec.source.image))}}
        elif spec.source.kind in ("snapshot", "disk"):
            # GalleryDiskImageSource.id: a snapshot or a managed disk; data disks from their snapshots.
            kind = spec.source.kind
            storage = {"osDiskImage": {"source": {"id": source_ref(self.target.rp, kind,
                                                                   str(getattr(spec.source, kind)))}}}
            if spec.source.data_snapshots:
                storage["dataDiskImages"] = [{"lun": lun, "source": {"id": source_ref(self.target.rp, "snapshot", d)}}
                                             for lun, d in enumerate(spec.source.data_snapshots)]
        else:
            storage = {"osDiskImage": {"source": {"uri": spec.source.vhd,
                                                  "storageAccountId": self._account_id(spec.source)}}}
        props: dict[str, Any] = {"storageProfile": storage, "publishingProfile": self._publishing(spec)}
        safety = v_.declared_safety(spec.extra)
        if safety:
            props["safetyProfile"] = safety
        return {"location": self.target.location, "tags": tags, "properties": props}

    def update_body(self, spec: ImageSpec, live: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        props: dict[str, Any] = {"storageProfile": _source_only(live),
                                 "publishingProfile": self._publishing(spec, existing=live)}
        safety = v_.declared_safety(spec.extra)
        if safety:
            props["safetyProfile"] = safety
        return {"tags": tags, "properties": props}

    def update_first(self, spec: ImageSpec, live: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """PATCHes to send before ``update_body``'s: a declared removal of a region from a version
        whose ``allowDeletionOfReplicatedLocations`` is false sets the flag first (Azure refuses the
        removal otherwise, BEHAVIOURS.md row 8; the plan showed it, ``versions.compare``)."""
        removed = v_.removed_regions(spec.extra, live)
        allowed = ((live.get("properties") or {}).get("safetyProfile") or {}).get("allowDeletionOfReplicatedLocations")
        if not removed or allowed or spec.extra.get("allow_deletion_of_replicated_locations") is False:
            return []
        body = {"properties": {"storageProfile": _source_only(live),
                               "safetyProfile": {"allowDeletionOfReplicatedLocations": True}}}
        return [(f"allowing deletion of replicated locations (to remove {', '.join(removed)})", body)]

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
            prof = {k: live[k] for k in ("replicaCount", "excludeFromLatest", "endOfLifeDate") if k in live}
            # Region names as ARM compares them (it answers display names, BEHAVIOURS.md row 6);
            # sending a region again also retries its failed replication (the repair of that drift).
            prof["targetRegions"] = [{k: v for k, v in {**r, "name": v_.region(r.get("name"))}.items()
                                      if k in ("name", "regionalReplicaCount", "storageAccountType",
                                               "excludeFromLatest", "encryption", "additionalReplicaSets")}
                                     for r in live.get("targetRegions") or []]
            if not prof["targetRegions"]:
                del prof["targetRegions"]
            prof.update(v_.declared_publishing(spec.extra, live))
            return prof
        return {"targetRegions": [{"name": v_.region(self.target.location)}], **v_.declared_publishing(spec.extra)}

    # ---- plan time (pure)

    @staticmethod
    def compare_extra(spec: ImageSpec, image: Image) -> ExtraComparison:
        """``Capabilities.compare_extra``: declared vs live (``versions.compare``), the failed regions
        of the live version (``GalleryVersionFacts``) the drift an update repairs.
        The definition's fields are the family's (``plan._plan_families``)."""
        facts = image.facts
        failures: dict[str, str] = {}
        if isinstance(facts, GalleryVersionFacts) and image.failed is None:
            failures = facts.failures()  # a failed version is replaced: its regions are not repaired
        return v_.compare(spec, image, GALLERY_FIELDS, failures)

    @staticmethod
    def plan_checks(spec: ImageSpec, snapshot: Snapshot) -> list[Diagnostic]:
        """The definition's OS state (``definition_of``: the gallery's definition, with or without
        versions) must equal the image's and the source VM's, and its generation, security type and
        architecture the source VM's; ``family`` must be the definition; a VHD needs its account.
        A definition still to create is checked as the file declares it (``families.capture_checks``)."""
        out: list[Diagnostic] = []
        if spec.source.vhd is not None and VHD_RE.match(spec.source.vhd) and not spec.source.storage_account:
            out.append(Diagnostic.error(
                f"a gallery version from a VHD needs source.storage_account ('{spec.name}')",
                "set source.storage_account to the account name or its resource id", code="azure-vhd-account"))
        twice = v_.duplicate_regions(spec.extra)
        if twice is not None:
            out.append(Diagnostic.error(twice[0].replace("target_regions", f"target_regions of '{spec.name}'", 1),
                                        twice[1], code=twice[2]))
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
                # Generation, security type, architecture of an existing definition (vmfacts.py), one
                # without versions too (the gallery lists every definition: ``Snapshot.families``).
                if known is not None and isinstance(vm.facts, VmFacts):
                    out.extend(check_source_against_definition(vm.facts, known, vm=vm.name, image=spec.name))
        if known is None:
            # A definition still to create: as the file declares it, the rest inferred (families.py).
            out.extend(capture_checks(spec, snapshot))
        return out


__all__ = [
    "GALLERY_API",
    "GALLERY_FIELDS",
    "GALLERY_MUTABLE_EXTRA",
    "GALLERY_NAME_HINT",
    "GALLERY_NAME_PATTERN",
    "GalleryDefinition",
    "GalleryScope",
    "GalleryVersionFacts",
    "REPLICATION_QUERY",
    "definition_of",
    "image_from_version",
    "split_gallery_name",
]
