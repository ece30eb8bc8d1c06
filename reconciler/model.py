"""Data types of the product: desired state, live snapshot, plan.

Layer: pure data. Imports nothing from the project but ``errors`` and ``codec`` and nothing
outside the standard library. Every type is a frozen dataclass or an enum whose value is its display/wire form; mappings
held by frozen types are never mutated after construction (treat them as read-only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from operator import attrgetter
from typing import Any, Protocol, TypeVar

from .codec import Codec, Shape
from .errors import Diagnostic

_T = TypeVar("_T")


def fold(name: str) -> str:
    """``name.casefold()``, the key names compare by; the very string ``name`` when it is folded
    already, so an index of a 100,000-image plan holds one copy of each name, not two (issue 13)."""
    key = name.casefold()
    return name if key == name else key


def positional(cls: type[_T]) -> Callable[..., _T]:
    """A constructor of the frozen, slotted dataclass ``cls`` that takes every field positionally, in
    declaration order, and sets each slot directly: for the readers that build 100,000 of them (a
    snapshot, a large file; issue 13), where the generated ``__init__`` (an ``object.__setattr__``
    call per field, and the defaults) was half the time. It runs no ``__post_init__``: for classes
    that have none (checked here)."""
    assert "__post_init__" not in cls.__dict__ and "__slots__" in cls.__dict__, cls
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]  # a dataclass: fields() refuses any other
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
    body = []
    for i, name in enumerate(names):
        scope[f"set{i}"] = cls.__dict__[name].__set__
        body.append(f"    set{i}(o, {name})")
    exec(f"def build({', '.join(names)}):\n    o = new(cls)\n" + "\n".join(body) + "\n    return o", scope)
    built: Callable[..., _T] = scope["build"]
    built.__qualname__ = built.__name__ = f"positional_{cls.__name__}"
    return built


class ImageType(str, Enum):
    """``os``: the OS disk only, always generalized. ``vm``: OS disk plus every data disk."""

    OS = "os"
    VM = "vm"


class OSState(str, Enum):
    GENERALIZED = "generalized"
    SPECIALIZED = "specialized"


class Category(str, Enum):
    """Only ``user`` images can ever be changed by this tool; ``public`` ones are read-only."""

    USER = "user"
    PUBLIC = "public"


class PowerState(str, Enum):
    RUNNING = "running"
    STOPPED = "stopped"
    DEALLOCATED = "deallocated"
    STARTING = "starting"
    STOPPING = "stopping"
    DEALLOCATING = "deallocating"
    UNKNOWN = "unknown"


# --------------------------------------------------------------------------------------------------
# Desired state (what the file says)


@dataclass(frozen=True, slots=True)  # slots: 100,000 of them in a large catalog (issue 13)
class Source:
    """Where a capture takes its disks from. Exactly one of ``vm`` / ``vhd`` / ``image`` /
    ``snapshot`` / ``disk`` is set.

    ``generalize``: the file opts in to the provider generalizing (and deallocating) the VM itself
    when it is not generalized yet. The plan then marks the capture destructive to the VM.
    ``deprovision`` (Linux, with ``generalize``): the provider first deprovisions the guest itself
    (azure: Run Command ``waagent -deprovision+user -force``); ``sysprepped`` (Windows, with
    ``generalize``): the file states the guest was sysprepped (no provider can run Sysprep for it).
    ``image``, ``snapshot``, ``disk``: a managed image, an OS disk snapshot or an OS managed disk
    (a name in the catalog's resource group, or a provider id); ``data_snapshots``: with
    ``snapshot`` / ``disk``, the data disks' snapshots, in LUN order (a VM image).
    """

    vm: str | None = None
    vhd: str | None = None
    generalize: bool = False
    storage_account: str | None = None
    image: str | None = None
    snapshot: str | None = None
    disk: str | None = None
    data_snapshots: tuple[str, ...] = ()
    deprovision: bool = False
    sysprepped: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The identity of the source (what a replace compares); ``generalize``, ``deprovision``
        and ``sysprepped`` are how, not what."""
        d: dict[str, Any] = {}
        for key in ("vm", "vhd", "image", "snapshot", "disk"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        if self.data_snapshots:
            d["data_snapshots"] = list(self.data_snapshots)
        return d

    @property
    def kind(self) -> str:
        """Which source it is: ``vm``, ``vhd``, ``image``, ``snapshot`` or ``disk``."""
        return next((k for k in ("vm", "vhd", "image", "snapshot", "disk") if getattr(self, k) is not None), "vm")

    @property
    def promotion(self) -> bool:
        """``image`` names another catalog's image (issue 11 §1, docs/lifecycle.md "Promotion"):
        ``ALIAS:NAME`` (an entry of ``sources:``; no Azure resource name or id holds a ``:``) or the
        resource id of an Azure Compute Gallery image version (``.../images/D/versions/V``)."""
        ref = self.image
        return ref is not None and (":" in ref or "/versions/" in ref.casefold())

    def disk_refs(self) -> tuple[tuple[str, str], ...]:
        """The resources a capture from this source reads besides a VM (issue 10 §3): ``(kind, ref)``
        for a managed image (not a promotion), the OS snapshot or disk, then each data snapshot;
        ``kind`` is ``image``, ``snapshot`` or ``disk``, ``ref`` as the file writes it."""
        if self.image is None and self.snapshot is None and self.disk is None:  # a VM or VHD: 100,000 (issue 13)
            return ()
        if self.promotion:
            return ()
        kind = self.kind  # exactly one is set (the schema's oneOf)
        return ((kind, str(getattr(self, kind))), *(("snapshot", d) for d in self.data_snapshots))


@dataclass(frozen=True, slots=True)  # slots: 100,000 of them in a large catalog (issue 13)
class ImageSpec:
    """One image as declared in the desired-state file.

    ``os_state`` is always resolved: an OS image is generalized; a VM image states it (the spec
    loader refuses one that does not). ``extra`` holds provider-specific image fields (for example
    gallery ``end_of_life_date``), already checked against the provider's ``image_fields``.
    ``line`` is the 1-based line of the entry in its file, for messages only (0 = unknown).
    """

    name: str
    type: ImageType
    os: str
    os_state: OSState
    source: Source
    family: str | None = None
    label: str | None = None
    description: str | None = None
    recommended_vm_size: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    protect: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    line: int = field(default=0, compare=False)

    @property
    def key(self) -> str:
        return fold(self.name)


@dataclass(frozen=True)
class CatalogConfig:
    """``catalog:`` of the file. ``name`` is the ownership marker written on every image created.

    ``settings`` holds the provider's own settings (path, subscription, ...), already merged with
    environment defaults by the shell and checked against the provider's known settings, as the
    file writes them (``export`` writes them back). ``file_paths``: the provider's ``path_settings``
    the file gives as relative paths, joined to the file's directory: what ``open_provider`` uses.
    """

    name: str
    provider: str = "local"
    settings: Mapping[str, Any] = field(default_factory=dict)
    file_paths: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def effective_settings(self) -> dict[str, Any]:
        """What the provider opens: ``settings`` with the file's relative paths resolved."""
        return {**self.settings, **self.file_paths}


@dataclass(frozen=True)
class ConsumersPolicy:
    """``policy.consumers`` (issue 11 §4; docs/lifecycle.md): who may still use an image.

    ``block_if_in_use``: a remove of an image something still uses is *held* (shown, not applied).
    It is the default for every family; a ``policy.lifecycle.<family>.block_if_in_use`` takes
    precedence for its family (``Policy.blocks_if_in_use``, the one place that asks). ``subscriptions``: where the azure
    provider looks for consumers (empty: the catalog's own subscription); other providers ignore it.
    """

    block_if_in_use: bool = False
    subscriptions: tuple[str, ...] = ()


@dataclass(frozen=True)
class LifecyclePolicy:
    """One entry of ``policy.lifecycle`` (issue 11 §3; docs/lifecycle.md): ``keep`` the newest N
    owned, undeclared images of the family untouched; deprecate the others once ``deprecate_after``
    old; delete them once deprecated for ``delete_after``. Durations as the file writes them
    (``30d``; ``lifecycle.parse_duration``), None: not set (neither set: the rest are removed, as
    ``policy.retention`` did). ``block_if_in_use``: None: ``policy.consumers`` decides."""

    keep: int = 0
    deprecate_after: str | None = None
    delete_after: str | None = None
    block_if_in_use: bool | None = None

    @property
    def ages(self) -> bool:
        """The entry deprecates or deletes by age (else it is a plain retention: keep N)."""
        return self.deprecate_after is not None or self.delete_after is not None


@dataclass(frozen=True)
class Policy:
    """``prune``: remove owned images no longer declared. ``retention``: family -> keep N newest
    (the old spelling of ``lifecycle.<f>.keep``). ``consumers``: ``ConsumersPolicy``.
    ``lifecycle``: family -> ``LifecyclePolicy``, as the file writes it (``lifecycles`` merges both)."""

    prune: bool = False
    retention: Mapping[str, int] = field(default_factory=dict)
    consumers: ConsumersPolicy = field(default_factory=ConsumersPolicy)
    lifecycle: Mapping[str, LifecyclePolicy] = field(default_factory=dict)

    def lifecycles(self) -> dict[str, LifecyclePolicy]:
        """Every family's lifecycle: ``policy.retention: {f: N}`` is ``lifecycle.f.keep: N`` (a
        ``lifecycle`` entry of the same family wins)."""
        out = {f: LifecyclePolicy(keep=n) for f, n in self.retention.items()}
        out.update(self.lifecycle)
        return out

    def blocks_if_in_use(self, family: str | None) -> bool:
        """Whether a remove of an image of ``family`` that is in use is held rather than applied:
        the family's ``lifecycle.<f>.block_if_in_use`` when it says, else ``policy.consumers``."""
        entry = self.lifecycle.get(family) if family is not None else None
        if entry is not None and entry.block_if_in_use is not None:
            return entry.block_if_in_use
        return self.consumers.block_if_in_use

    @property
    def may_block(self) -> bool:
        """Some family's removes may be held (consumers must be read before planning them)."""
        return self.consumers.block_if_in_use or any(e.block_if_in_use for e in self.lifecycle.values())


@dataclass(frozen=True)
class Ring:
    """One ring of ``families.<f>.latest_rollout`` (issue 11 §2): the ``regions`` (canonical names)
    whose ``latest`` moves together, ``after`` (a duration, ``24h``) the previous ring moved; the
    first ring has none."""

    regions: tuple[str, ...]
    after: str | None = None


@dataclass(frozen=True)
class FamilySpec:
    """One entry of ``families:``: what the file says about a family (issue 10 §2).

    Provider neutral: every provider may keep ``description`` (local and azure-classic and azure
    managed images only as documentation); the other fields are gallery capabilities
    (``Capabilities.family_fields`` says which a provider takes; validate refuses the rest). In an
    Azure Compute Gallery a family *is* an image definition (``providers/azure/families.py`` maps
    each field to the API). None / empty means "not declared": unmanaged, or inferred from the
    first source VM when the definition is created. Values are the file's spellings
    (``hyper_v_generation: V2``, ``disk_controllers: [SCSI, NVMe]``, ``end_of_life_date:
    2028-01-01``); ``recommended`` is ``{vcpus: {min, max}, memory_gb: {min, max}}``,
    ``purchase_plan`` ``{publisher, product, name}``. ``line``: 1-based line of the entry (messages).
    ``latest`` / ``latest_rollout`` (issue 11 §2): the version ``latest`` must resolve to and the
    rings it moves in; not properties of the family resource (``declared`` leaves them out): the
    planner sets the versions' exclude-from-latest flags from them (``lifecycle.py``).
    """

    name: str
    description: str | None = None
    publisher: str | None = None
    offer: str | None = None
    sku: str | None = None
    hyper_v_generation: str | None = None
    security_type: str | None = None
    architecture: str | None = None
    disk_controllers: tuple[str, ...] = ()
    accelerated_networking: bool | None = None
    hibernation: bool | None = None
    recommended: Mapping[str, Any] = field(default_factory=dict)
    eula: str | None = None
    release_notes: str | None = None
    privacy_statement: str | None = None
    end_of_life_date: str | None = None
    purchase_plan: Mapping[str, Any] = field(default_factory=dict)
    latest: str | None = None
    latest_rollout: tuple[Ring, ...] = ()
    line: int = field(default=0, compare=False)

    @property
    def key(self) -> str:
        return fold(self.name)

    def declared(self) -> dict[str, Any]:
        """The fields the entry declares (file names -> plain values), in declaration order."""
        out: dict[str, Any] = {}
        for f in FAMILY_FIELDS:
            value = getattr(self, f)
            if value is None or value == () or value == {}:
                continue
            out[f] = list(value) if isinstance(value, tuple) else (dict(value) if isinstance(value, Mapping)
                                                                     else value)
        return out


#: The ``ImageSpec.extra`` key holding the declared fields of the image's family (``FamilySpec.
#: declared``), set by the spec loader for providers that keep families; not an image field (never
#: compared, never written back to a file), read by the provider when it creates a definition.
FAMILY_EXTRA = "family_spec"

#: The ``ImageSpec.extra`` key of a promotion (``Source.promotion``; issue 11 §1), set by the spec
#: loader: ``{"from": "dev:web-base/1.4.0", "source": "dev", "image": "web-base/1.4.0", "provider":
#: ..., "settings": {...}, "min_age": "72h", "tags": {...}}`` (``source`` "" and ``image`` the id for
#: a resource id; ``settings``: the ``sources:`` entry's effective settings, never a secret;
#: ``min_age`` / ``tags``: ``promote_when``, when declared). Not an image field: never compared,
#: never written back to a file; the planner reads the gate, the provider where to copy from.
PROMOTION_EXTRA = "promotion"

#: The ``Image.extra`` key of a promotion source a provider could not read for want of a credential
#: (a source in another tenant, issue 11 §1): the hint (what to set); ``Image.failed`` says why. The
#: planner reports it at the entry as a plan-time error (``promotion-source-credential``).
ORIGIN_UNREADABLE = "origin_unreadable"

#: What ``description`` of a family is to a provider that keeps no families of its own.
FAMILY_DESCRIPTION = "what the family is for (documentation only with this provider)"

#: The ``families:`` fields of a declared ``latest`` (issue 11 §2), which a provider that keeps
#: exclude-from-latest flags takes (``Capabilities.family_fields``); not fields of the family resource.
LATEST_FIELDS: Mapping[str, str] = {
    "latest": "the version latest resolves to (the plan sets the versions' exclude-from-latest flags)",
    "latest_rollout": "[{regions: [...], after: 24h}]: the rings latest moves in",
}

#: Every field of a ``families:`` entry but its name, in the file's order.
FAMILY_FIELDS = (
    "description", "publisher", "offer", "sku", "hyper_v_generation", "security_type", "architecture",
    "disk_controllers", "accelerated_networking", "hibernation", "recommended", "eula", "release_notes",
    "privacy_statement", "end_of_life_date", "purchase_plan",
)


@dataclass(frozen=True)
class DesiredState:
    """A validated desired-state file. ``digest`` is the SHA-256 of the file's bytes.

    ``positions``: where each key under ``images`` (and ``families``) is in the file, by JSON path
    (``$.images[0].source.vm`` -> 1-based (line, column) of the key; ``$.images[0]`` -> the
    entry's), so that plan-time messages point at the offending key. Messages only.
    ``families``: the declared ``families:`` entries by name (a family an image names but the file
    does not declare is fine: its properties are inferred).
    ``sources``: the ``sources:`` entries (other catalogs this file reads, never writes: the origins
    of promotions, issue 11 §1) by alias, each as a ``CatalogConfig`` whose ``name`` is the alias.
    """

    catalog: CatalogConfig
    policy: Policy
    images: tuple[ImageSpec, ...]
    digest: str
    path: str = "images.yaml"
    positions: Mapping[str, tuple[int, int]] = field(default_factory=dict, compare=False)
    families: Mapping[str, FamilySpec] = field(default_factory=dict)
    sources: Mapping[str, CatalogConfig] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# Live state (what the provider read)


class ProviderFacts(Protocol):
    """Typed facts a provider reads with an image that are not fields of the image (for a gallery
    version: its definition, ``providers/azure/gallery.py``). The planner never compares them; the
    provider's own plan-time checks (``Capabilities.extra_checks``) read them from the snapshot.
    Each provider defines its own frozen dataclass; no other format stores them."""

    def document_fields(self) -> Mapping[str, Any]:
        """The facts as the plan document shows them: keys merged into the image's ``extra``, where
        they travelled before they were typed, so the document stays as it was (``plandoc``)."""
        ...


@dataclass(frozen=True, slots=True)  # slots: 100,000 of them in a large catalog (issue 13)
class Image:
    """One image as read from the live catalog.

    ``owner``: the catalog name found in the ownership marker, or None when unmarked.
    ``protected``: the protection marker is present on the live image (survives file edits).
    ``tags``: user tags only; provider markers are stripped by the provider.
    ``source``: where it was captured from when the provider records it, else None (unknown:
    never compared). ``fingerprint``: etag or content hash, changes whenever the image changes.
    ``created``: ISO-8601 creation time (for retention ordering), "" when unknown.
    ``facts``: what the provider knows beside the image (``ProviderFacts``), None when nothing;
    never compared by the planner, not stored by any catalog.
    ``failed``: why the live image is not converged although it exists (``"provisioning failed"``:
    Azure's ``provisioningState: Failed``), None when it is fine; the planner replaces such an image.
    ``footprint``: the storage the image holds, GiB by storage type (``Standard_LRS``; ``local``),
    every replica in every region counted (issue 11 §5); empty when the provider does not know it.
    """

    name: str
    type: ImageType
    os: str
    os_state: OSState
    category: Category = Category.USER
    family: str | None = None
    label: str | None = None
    description: str | None = None
    recommended_vm_size: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    owner: str | None = None
    protected: bool = False
    source: Source | None = None
    data_disks: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""
    fingerprint: str = ""
    created: str = ""
    facts: ProviderFacts | None = None
    failed: str | None = None
    footprint: Mapping[str, float] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return fold(self.name)


@dataclass(frozen=True)
class VM:
    """A source VM. ``os_state`` is generalized once the VM was generalized (it can't run again).

    ``facts``: what the provider knows of the VM beyond these fields (``ProviderFacts``; for an
    Azure VM its Hyper-V generation, security type, architecture, disk controller:
    ``providers/azure/vmfacts.py``), None when nothing; the planner never reads them, the
    provider's plan-time checks do.
    ``image``: the catalog image the VM was created from, when the provider records it (local);
    ``disk_gib``: its disks' sizes in GiB, OS disk first then data disks in LUN order, when known
    (what a capture of it will store, issue 11 §5); empty: unknown.
    """

    name: str
    os: str
    power_state: PowerState
    os_state: OSState = OSState.SPECIALIZED
    os_disk: str = ""
    data_disks: tuple[str, ...] = ()
    id: str = ""
    fingerprint: str = ""
    facts: ProviderFacts | None = None
    image: str | None = None
    disk_gib: tuple[float, ...] = ()

    @property
    def key(self) -> str:
        return fold(self.name)


@dataclass(frozen=True)
class Consumer:
    """Something that runs on an image (issue 11 §4): a VM, a VM scale set, a classic role.

    ``kind``: ``vm`` / ``vmss`` / ``role``. ``image``: the name of the catalog image it uses.
    ``via``: what its image reference names: ``image`` (the image itself: a managed image, a
    gallery version, a local or classic image) or ``definition`` (an Azure gallery image
    definition: it uses whatever ``latest`` resolves to, counted for every version of the family).
    ``instances``: how many machines (a scale set's capacity; 1 for a VM). ``scope``: where it is,
    for messages (a subscription, a cloud service). ``id``: the provider's id of it.
    """

    kind: str
    name: str
    image: str
    via: str = "image"
    instances: int = 1
    scope: str = ""
    id: str = ""


@dataclass(frozen=True)
class Family:
    """A live family a provider keeps as a resource of its own (an Azure gallery image definition).

    ``spec``: its properties under the file's names (every field it has, not only declared ones);
    ``owner``: the catalog in its ownership marker (None: unmarked, never updated); ``id`` and
    ``fingerprint`` as for an ``Image``; ``facts``: what the provider knows of it beyond the file's
    fields (``ProviderFacts``; for a gallery definition its OS state, ``GalleryDefinition``), read by
    the provider's own plan-time checks only.
    """

    spec: FamilySpec
    owner: str | None = None
    id: str = ""
    fingerprint: str = ""
    facts: ProviderFacts | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return self.spec.key


def capture_source_key(kind: str, ref: str) -> str:
    """The key of a ``CaptureSource`` in ``Snapshot.capture_sources``: ``snapshot:snap-os`` (the
    ref casefolded; a name or a provider id, as the file writes it)."""
    return f"{kind}:{ref.casefold()}"


@dataclass(frozen=True)
class CaptureSource:
    """A managed image, snapshot or managed disk a capture reads (issue 10 §3), as its provider
    read it at plan time (``Provider.capture_sources``).

    ``kind``: ``image`` | ``snapshot`` | ``disk``; ``ref``: as the file names it; ``os``: ``linux`` |
    ``windows`` ("" when the resource states none: a data disk); ``state``: the provider's
    provisioning state as it spells it ("" when none); ``ready``: why it cannot be captured from
    although it exists (a disk still uploading), None when it can; ``facts``: the provider's typed
    facts (azure: ``vmfacts.VmFacts``), never compared by the planner.
    """

    kind: str
    ref: str
    name: str = ""
    id: str = ""
    os: str = ""
    state: str = ""
    ready: str | None = None
    fingerprint: str = ""
    facts: ProviderFacts | None = None


@dataclass(frozen=True)
class Snapshot:
    """Everything a plan reads from the live catalog, in one consistent read.

    ``vm_aliases``: the other names ``source.vm`` may give a VM (casefolded) -> its ``key``; an
    azure-classic role is listed as ``role`` but may be written ``service/role`` or
    ``service/deployment/role``. Only unambiguous aliases are listed.
    ``families``: the live families (casefolded name -> ``Family``) of a provider that keeps them
    (``Capabilities.family_mutable``); empty elsewhere.
    ``consumers``: what uses each image (casefolded image name -> its ``Consumer``s; an image
    nothing uses may be absent), read only when a plan could hold a remove
    (``operations.saved.read_snapshot``); None: not read.
    ``origins``: the source images of the file's promotions (issue 11 §1), read from their catalogs
    (``sources:``) or by resource id: the promotion's ``from`` (``dev:web-base/1.4.0``, casefolded)
    -> the image as that catalog holds it; a source that does not exist is absent.
    ``capture_sources``: the managed images, snapshots and disks the file's captures read
    (``Source.disk_refs``, keyed by ``capture_source_key``; None: one that does not exist), read
    only when a capture names one; None: not read (the provider's checks of them are skipped).
    ``unchanged``: the declared images the provider found up to date by the planner's test
    (``Provider.snapshot(unchanged=plan.unchanged_test(...))``; issue 13), left out of ``images``:
    casefolded name -> fingerprint ("" when the plan records none). The planner lists them in
    ``Plan.unchanged`` without building an image and a change for each; empty unless the snapshot
    was read with that test.
    """

    images: tuple[Image, ...] = ()
    vms: tuple[VM, ...] = ()
    vm_aliases: Mapping[str, str] = field(default_factory=dict)
    families: Mapping[str, Family] = field(default_factory=dict)
    consumers: Mapping[str, tuple[Consumer, ...]] | None = None
    origins: Mapping[str, Image] = field(default_factory=dict)
    capture_sources: Mapping[str, CaptureSource | None] | None = None
    unchanged: Mapping[str, str] = field(default_factory=dict)

    def image_index(self) -> dict[str, Image]:
        return {i.key: i for i in self.images}

    def vm_index(self) -> dict[str, VM]:
        """VM by key, and by each of its aliases."""
        index = {v.key: v for v in self.vms}
        index.update({a: index[k] for a, k in self.vm_aliases.items() if k in index and a not in index})
        return index

    def fingerprints(self) -> dict[str, str]:
        """``image:NAME`` / ``vm:NAME`` / ``family:NAME`` / ``source:KIND:REF`` (casefolded, aliases
        too; a capture source that does not exist: "") -> fingerprint, for saved-plan staleness."""
        out = {f"image:{i.key}": i.fingerprint for i in self.images}
        out.update({f"image:{k}": f for k, f in self.unchanged.items()})
        out.update({f"vm:{k}": v.fingerprint for k, v in self.vm_index().items()})
        out.update({f"family:{k}": f.fingerprint for k, f in self.families.items()})
        out.update({f"source:{k}": s.fingerprint if s is not None else "" for k, s in
                    (self.capture_sources or {}).items()})
        return out


@dataclass(frozen=True)
class PublicQuery:
    """What ``images list --category public`` asks a provider that browses public images beyond its
    snapshot (a provider's ``browse_public``; azure: the Marketplace and community/shared galleries).

    ``publisher`` / ``offer`` / ``sku`` narrow the Marketplace walk (offer needs publisher, sku
    needs offer); ``community_gallery`` / ``shared_gallery`` name one gallery instead; ``latest``
    keeps only the newest version of each family (sku or definition). Nothing set: the publishers.
    """

    publisher: str | None = None
    offer: str | None = None
    sku: str | None = None
    community_gallery: str | None = None
    shared_gallery: str | None = None
    latest: bool = False


@dataclass(frozen=True)
class PublicListing:
    """A provider's answer to a ``PublicQuery``: the public images found, or (no publisher and no
    gallery asked for) the publisher names of ``location``, to narrow the next query with."""

    images: tuple[Image, ...] = ()
    publishers: tuple[str, ...] = ()
    location: str = ""


#: An ``ImageSpec`` and an ``Image`` seen as one another: the fields they share, under the spec's
#: names (``protect``); each side ignores the other's own fields. The source is given apart: what
#: a provider records of it is not what the spec says.
_SPEC_AND_IMAGE = Codec(
    {
        ImageSpec: Shape(exclude=frozenset({"source", "line"}), strict=False),
        Image: Shape(exclude=frozenset({"source", "facts"}), rename={"protected": "protect"}, strict=False),
    }
)


def spec_from_image(image: Image) -> ImageSpec:
    """The spec that declares ``image`` as it is (for ``export``).

    A provider that does not record the source gives ``source.vm: unknown``: the planner never
    compares an unknown source, so the exported entry plans as a no-op while the image exists.
    """
    source = image.source if image.source is not None else Source(vm="unknown")
    return _SPEC_AND_IMAGE.from_dict(
        ImageSpec, _SPEC_AND_IMAGE.to_dict(image), source=replace(source, generalize=False)
    )


def image_from_spec(spec: ImageSpec, **fields: Any) -> Image:
    """The ``Image`` that holds what ``spec`` declares (a provider's record of its capture);
    ``fields`` give the rest (``owner``, ``source``, ``created``, ...)."""
    return _SPEC_AND_IMAGE.from_dict(Image, _SPEC_AND_IMAGE.to_dict(spec), **fields)


# --------------------------------------------------------------------------------------------------
# Provider capabilities (pure data the planner and the spec checker consult)


@dataclass(frozen=True)
class SettingProblem:
    """A catalog setting whose value a provider refuses at validate time: ``setting`` is its key
    (``endpoint``), ``message`` says what is wrong with the value, ``hint`` what to do."""

    setting: str
    message: str
    hint: str


@dataclass(frozen=True)
class ExtraComparison:
    """What a provider's ``Capabilities.compare_extra`` says of its ``extra`` fields for one image.

    ``before``/``after``: the ``extra.<key>`` entries of the live image and of the spec as the
    planner compares them (they replace the plain ``extra`` values): canonical values, only the
    fields the spec manages. ``errors``: why the change they imply cannot be applied (pure text:
    summary and hint), which the planner attaches to the change at the entry's location.
    """

    before: Mapping[str, Any]
    after: Mapping[str, Any]
    errors: tuple[tuple[str, str, str], ...] = ()  # (summary, hint, code)


@dataclass(frozen=True)
class Capabilities:
    """What a provider can hold and change; consulted by the pure planner and by ``validate``.

    ``mutable_fields``: image fields updatable in place (anything else differing is a replace).
    Field names are those of ``ImageSpec`` plus ``extra.<key>`` for provider fields.
    ``specialized_types``: image types that may be specialized.
    ``capture_power_states``: VM power states a capture accepts without ``source.generalize``.
    ``generalize``: the provider can deallocate + generalize the VM itself (``source.generalize``).
    ``disk_sources``: it captures from a managed image, an OS snapshot or an OS disk
    (``source.image`` / ``snapshot`` / ``disk``). ``deprovision``: it can deprovision a Linux guest
    itself before generalizing (``source.deprovision``); its plan then says when it will not.
    ``image_fields``: provider-specific image fields it accepts under ``extra``, with a one-line
    description each. ``settings``: catalog settings it knows (``name``/``provider`` excluded).
    ``consumes_vm``: what a generalized capture does to its source VM, for the plan's wording.
    ``name_pattern``/``name_hint``: a regex image names must match in this provider (None: any
    name the schema allows) and the hint shown when one does not.
    ``deallocate_hint``: the command that deallocates a source VM in this provider, ``{vm}`` standing
    for its name (``az vm deallocate -g RG -n {vm}``), shown in the power-state hint; "" when there is
    no such command to name.
    ``family_from_name``: an image's family is the part of its name before ``/`` (an azure gallery
    version ``web-base/1.0.3`` is of family ``web-base``): an entry that declares no family takes it.
    ``path_settings``: catalog settings that name a file (local ``path``): a relative value written
    in the desired-state file is relative to that file's directory (``CatalogConfig.file_paths``).
    ``set_only_fields``: mutable fields an update can set but never clear (the classic API merges):
    the planner refuses an update that would clear one, rather than let apply fail.
    ``extra_checks``: a pure function the planner calls for each capture/replace, for
    provider-specific preconditions (for example a gallery definition's OS state).
    ``check_settings``: a pure function ``validate`` calls with the effective catalog settings
    (file and environment) and the hosts the environment trusts (``RECONCILER_TRUSTED_ENDPOINTS``,
    handed in by the CLI, never from the file); each ``SettingProblem`` becomes an error at the
    setting's position. The provider repeats the same checks when it opens.
    ``compare_extra``: a pure function of (spec, live image) giving the provider ``extra`` fields
    as the planner compares them (``ExtraComparison``): canonical values, undeclared fields left
    unmanaged, defaults the platform fills in equal to their declared value. None: every
    ``image_fields`` key is compared as it is.
    ``family_fields``: the ``families:`` fields the provider takes, with a description each (every
    provider takes ``description``; validate refuses the others where they are missing).
    ``family_mutable``: the family fields it changes in place on a live family; empty: it keeps no
    families of its own (``Snapshot.families`` is empty, the planner compares none, a family's
    ``description`` is documentation). A declared field outside it that differs from the live
    family is a plan error, never a replace (replacing a gallery definition deletes its versions).
    ``family_noun``: what a family is called in plan steps (``definition``). ``family_steps``: a
    pure function giving the steps a capture adds before ``capture image`` (creating the
    definition it goes into, with the properties declared or inferred).
    ``footprint``: a pure function giving what a capture of ``spec`` from the VM will store (GiB by
    storage type, every copy counted: ``Image.footprint``), empty when unknown; None: the provider
    never knows (issue 11 §5).
    ``promotion_footprint``: a pure function giving what a promotion of ``spec`` from ``origin``
    (the source image, ``Snapshot.origins``) will store, the same way; empty when unknown; None:
    the provider never knows.
    ``promotion``: it copies an image of another catalog of the same provider (``source.image:
    ALIAS:NAME`` naming a ``sources:`` entry, or a gallery version's id; issue 11 §1).
    ``concurrent_changes``: the most changes that make progress at once against it; apply runs no
    more than this many however high ``--parallelism`` is (a limit, as Terraform's is). None: as
    many as ``--parallelism``. The local catalog says 1: its file takes one writer at a time and a
    change is one short write transaction, so a second worker only waits for the file's lock.
    """

    provider: str
    mutable_fields: frozenset[str]
    image_types: frozenset[ImageType] = frozenset({ImageType.OS, ImageType.VM})
    specialized_types: frozenset[ImageType] = frozenset({ImageType.VM})
    capture_power_states: frozenset[PowerState] = frozenset({PowerState.STOPPED, PowerState.DEALLOCATED})
    generalize: bool = False
    vhd_source: bool = False
    disk_sources: bool = False
    deprovision: bool = False
    image_fields: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)
    consumes_vm: str = "deletes the source VM"
    name_pattern: str | None = None
    name_hint: str = ""
    set_only_fields: frozenset[str] = frozenset()
    path_settings: frozenset[str] = frozenset()
    family_from_name: bool = False
    deallocate_hint: str = ""
    extra_checks: Callable[[ImageSpec, Snapshot], list[Diagnostic]] | None = field(default=None, compare=False)
    check_settings: Callable[[Mapping[str, Any], tuple[str, ...]], list[SettingProblem]] | None = field(
        default=None, compare=False)
    compare_extra: Callable[[ImageSpec, Image], ExtraComparison] | None = field(default=None, compare=False)
    family_fields: Mapping[str, str] = field(default_factory=lambda: {"description": FAMILY_DESCRIPTION})
    family_mutable: frozenset[str] = frozenset()
    family_noun: str = "family"
    family_steps: Callable[[ImageSpec, Snapshot], tuple[str, ...]] | None = field(default=None, compare=False)
    footprint: Callable[[ImageSpec, VM], Mapping[str, float]] | None = field(default=None, compare=False)
    promotion_footprint: Callable[[ImageSpec, Image], Mapping[str, float]] | None = field(default=None, compare=False)
    promotion: bool = False
    concurrent_changes: int | None = None


# --------------------------------------------------------------------------------------------------
# The plan

#: The reason of a no-op whose image is up to date.
UP_TO_DATE = "up to date"

#: The planner's test of a live image against its spec (``plan.unchanged_test``): what to keep of
#: it, its fingerprint ("" when the plan records none), when the plan would list it as an
#: up-to-date no-op and nothing else in the plan looks at it (``Snapshot.unchanged``; issue 13);
#: None: keep the image.
UnchangedTest = Callable[["ImageSpec", "Image"], "str | None"]


class Action(str, Enum):
    """A planned action; the value is the symbol the plan shows."""

    NOOP = ""
    CAPTURE = "+"
    UPDATE = "~"
    REPLACE = "-/+"
    REMOVE = "-"

    @property
    def word(self) -> str:
        return _ACTION_WORDS[self]

    @property
    def tf_actions(self) -> list[str]:
        """Terraform-compatible ``actions`` array."""
        return list(_TF_ACTIONS[self])


_ACTION_WORDS = {
    Action.NOOP: "no-op",
    Action.CAPTURE: "capture",
    Action.UPDATE: "update",
    Action.REPLACE: "replace",
    Action.REMOVE: "remove",
}
_TF_ACTIONS = {
    Action.NOOP: ("no-op",),
    Action.CAPTURE: ("create",),
    Action.UPDATE: ("update",),
    Action.REPLACE: ("delete", "create"),
    Action.REMOVE: ("delete",),
}


@dataclass(frozen=True)
class FieldDiff:
    """One changed field: ``path`` like ``tags.team`` or ``label``; values are plain JSON data.

    ``forces_replace``: this field alone would make the change a replace.
    """

    path: str
    before: Any
    after: Any
    forces_replace: bool = False


@dataclass(frozen=True, slots=True)  # slots: one per declared image, 100,000 in a large plan (issue 13)
class Change:
    """One planned change to one image.

    ``before``: the live image (None for a capture). ``after``: the desired spec (None for a
    remove). ``reason``: display only, apply never branches on it. ``destructive``: the change
    deletes an image or consumes a VM. ``consumes_vm``: name of the VM a generalized capture
    consumes. ``steps``: the provider operations apply will run, in order, for display and for
    progress (for example ``deallocate vm``, ``generalize vm``, ``capture``).
    ``errors`` make the whole plan unapplyable; ``warnings`` do not.
    ``held_by``: a remove's image is in use by these and the policy holds it (``held``).
    ``stored`` / ``freed``: the storage a capture adds / a remove frees (a replace both), GiB by
    storage type (``Image.footprint``); empty when the provider does not know (issue 11 §5).
    ``waiting``: a promotion (a capture whose source is another catalog's image) whose
    ``promote_when`` gate is not met yet, and why (``dev:web-base/1.4.0 is 20h old, needs 72h``):
    shown, never applied, not a change (``Plan.pending`` leaves it out; issue 11 §1).
    ``known_family``: the family of a change that carries neither ``before`` nor ``after``: an
    unchanged image read back from a plan document, which keeps it as its name and fingerprint
    under its family (``plandoc``; issue 13). Not a field of any document.
    """

    name: str
    action: Action
    reason: str
    before: Image | None = None
    after: ImageSpec | None = None
    fields: tuple[FieldDiff, ...] = ()
    destructive: bool = False
    consumes_vm: str | None = None
    steps: tuple[str, ...] = ()
    errors: tuple[Diagnostic, ...] = ()
    warnings: tuple[Diagnostic, ...] = ()
    held_by: tuple[Consumer, ...] = ()
    stored: Mapping[str, float] = field(default_factory=dict)
    freed: Mapping[str, float] = field(default_factory=dict)
    waiting: str | None = None
    known_family: str | None = None

    @property
    def key(self) -> str:
        return fold(self.name)

    @property
    def held(self) -> bool:
        """A remove held because the image is in use (``policy.consumers.block_if_in_use``): shown,
        never applied, not a change (``Plan.pending`` leaves it out)."""
        return bool(self.held_by)

    @property
    def family(self) -> str | None:
        if self.after is not None:
            return self.after.family
        return self.before.family if self.before is not None else self.known_family


@dataclass(frozen=True)
class LatestMove:
    """Where a family's ``latest`` resolves before and after the plan (issue 11 §2), shown as
    ``latest(web-base): 1.3.2 -> 1.4.0``. ``before``/``after``: version names (None: nothing).
    ``regions``: the regions this move is about (empty: every region). ``due``: a ring not moved
    yet, the time it is due (then ``after`` is where it will move; the plan does not move it)."""

    family: str
    before: str | None
    after: str | None
    regions: tuple[str, ...] = ()
    due: str = ""


@dataclass(frozen=True)
class Plan:
    """The result of ``make_plan``: data between plan and apply.

    ``changes`` are in apply order (deterministic) and include no-ops. ``fingerprints`` are the
    live fingerprints the plan read (see ``Snapshot.fingerprints``). ``desired_digest`` is the
    digest of the desired-state file. ``errors`` are plan-wide problems (a change's own errors live
    on the change). ``targets`` are the ``--target`` names the plan was limited to (empty: all);
    ``replace`` the ``--replace`` names it recaptures even when nothing differs. ``now``: the time
    the plan was made for (ISO 8601, issue 11 §3; "" when no rule asked), which re-planning a saved
    plan uses again; ``latest``: the families whose ``latest`` moves (``LatestMove``).
    ``unchanged``: the specs of the declared images the snapshot found up to date
    (``Snapshot.unchanged``), in the file's order: no-ops the plan lists by spec alone, without
    a ``Change`` each (issue 13: 100,000 of them). ``noops()`` gives every no-op as a change.
    """

    catalog: str
    provider: str
    changes: tuple[Change, ...]
    fingerprints: Mapping[str, str]
    desired_digest: str
    prune: bool = False
    targets: tuple[str, ...] = ()
    errors: tuple[Diagnostic, ...] = ()
    warnings: tuple[Diagnostic, ...] = ()
    replace: tuple[str, ...] = ()
    now: str = ""
    latest: tuple[LatestMove, ...] = ()
    unchanged: tuple[ImageSpec, ...] = ()

    def all_changes(self) -> tuple[Change, ...]:
        """``changes`` and each of ``unchanged`` as the change it stands for (``unchanged_change``),
        by name (casefolded): the plan as it was before the planner listed up-to-date images by
        spec; ``changes`` itself when there are none."""
        if not self.unchanged:
            return self.changes
        return tuple(sorted((*self.changes, *map(unchanged_change, self.unchanged)), key=attrgetter("key")))

    def noops(self) -> list[Change]:
        """Every no-op (``all_changes``)."""
        return [c for c in self.all_changes() if c.action is Action.NOOP]

    @property
    def noop_count(self) -> int:
        """How many no-ops the plan holds (``noops``), counted without building them."""
        return sum(1 for c in self.changes if c.action is Action.NOOP) + len(self.unchanged)

    @property
    def pending(self) -> tuple[Change, ...]:
        """The changes that do something (no-ops, held removes and waiting promotions left out)."""
        return tuple(c for c in self.changes
                     if c.action is not Action.NOOP and not c.held_by and c.waiting is None)

    @property
    def waiting(self) -> tuple[Change, ...]:
        """The promotions whose gate is not met yet: shown, never applied (issue 11 §1)."""
        return tuple(c for c in self.changes if c.waiting is not None)

    @property
    def held(self) -> tuple[Change, ...]:
        """The removes held because their image is in use: shown, never applied."""
        return tuple(c for c in self.changes if c.held_by)

    def storage(self) -> dict[str, dict[str, float]]:
        """The plan's storage totals: ``stored`` (what its captures add) and ``freed`` (what its
        removes free), GiB by storage type; held removes free nothing."""
        out: dict[str, dict[str, float]] = {"stored": {}, "freed": {}}
        for c in self.pending:
            for side, amounts in (("stored", c.stored), ("freed", c.freed)):
                for kind, gib in amounts.items():
                    out[side][kind] = out[side].get(kind, 0) + gib
        return {side: dict(sorted(v.items())) for side, v in out.items()}

    @property
    def all_errors(self) -> tuple[Diagnostic, ...]:
        return self.errors + tuple(e for c in self.changes for e in c.errors)

    @property
    def all_warnings(self) -> tuple[Diagnostic, ...]:
        return self.warnings + tuple(w for c in self.changes for w in c.warnings)

    @property
    def errored(self) -> bool:
        return bool(self.all_errors)

    @property
    def has_changes(self) -> bool:
        return bool(self.pending)

    @property
    def applyable(self) -> bool:
        return not self.errored

    def counts(self) -> dict[str, int]:
        out = {a.word: 0 for a in Action if a is not Action.NOOP}
        for c in self.pending:
            out[c.action.word] += 1
        return out


def unchanged_change(spec: ImageSpec) -> Change:
    """The no-op an entry of ``Plan.unchanged`` stands for: its spec, up to date (the live image
    it matched is not kept: ``Snapshot.unchanged``)."""
    return Change(name=spec.name, action=Action.NOOP, reason=UP_TO_DATE, after=spec)


# --------------------------------------------------------------------------------------------------
# The outcome of apply


class Outcome(str, Enum):
    DONE = "done"
    FAILED = "failed"
    NOT_STARTED = "not started"


@dataclass(frozen=True)
class ChangeResult:
    """What happened to one planned change during apply. ``error``: the message, when failed."""

    name: str
    action: Action
    outcome: Outcome
    error: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class ApplyResult:
    """Every pending change of the plan, each done, failed or not started, in plan order."""

    results: tuple[ChangeResult, ...]

    def of(self, outcome: Outcome) -> tuple[ChangeResult, ...]:
        return tuple(r for r in self.results if r.outcome is outcome)

    @property
    def ok(self) -> bool:
        return all(r.outcome is Outcome.DONE for r in self.results)
