"""Data types of the product: desired state, live snapshot, plan.

Layer: pure data. Imports nothing from the project but ``errors`` and ``codec`` and nothing
outside the standard library. Every type is a frozen dataclass or an enum whose value is its display/wire form; mappings
held by frozen types are never mutated after construction (treat them as read-only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Protocol

from .codec import Codec, Shape
from .errors import Diagnostic


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


@dataclass(frozen=True)
class Source:
    """Where a capture takes its disks from. Exactly one of ``vm`` / ``vhd`` is set.

    ``generalize``: the file opts in to the provider generalizing (and deallocating) the VM itself
    when it is not generalized yet. The plan then marks the capture destructive to the VM.
    """

    vm: str | None = None
    vhd: str | None = None
    generalize: bool = False
    storage_account: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The identity of the source (what a replace compares); ``generalize`` is how, not what."""
        d: dict[str, Any] = {}
        if self.vm is not None:
            d["vm"] = self.vm
        if self.vhd is not None:
            d["vhd"] = self.vhd
        return d


@dataclass(frozen=True)
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
        return self.name.casefold()


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
class Policy:
    """``prune``: remove owned images no longer declared. ``retention``: family -> keep N newest."""

    prune: bool = False
    retention: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DesiredState:
    """A validated desired-state file. ``digest`` is the SHA-256 of the file's bytes.

    ``positions``: where each key under ``images`` is in the file, by JSON path
    (``$.images[0].source.vm`` -> 1-based (line, column) of the key; ``$.images[0]`` -> the
    entry's), so that plan-time messages point at the offending key. Messages only.
    """

    catalog: CatalogConfig
    policy: Policy
    images: tuple[ImageSpec, ...]
    digest: str
    path: str = "images.yaml"
    positions: Mapping[str, tuple[int, int]] = field(default_factory=dict, compare=False)


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


@dataclass(frozen=True)
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

    @property
    def key(self) -> str:
        return self.name.casefold()


@dataclass(frozen=True)
class VM:
    """A source VM. ``os_state`` is generalized once the VM was generalized (it can't run again).

    ``facts``: what the provider knows of the VM beyond these fields (``ProviderFacts``; for an
    Azure VM its Hyper-V generation, security type, architecture, disk controller:
    ``providers/azure/vmfacts.py``), None when nothing; the planner never reads them, the
    provider's plan-time checks do.
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

    @property
    def key(self) -> str:
        return self.name.casefold()


@dataclass(frozen=True)
class Snapshot:
    """Everything a plan reads from the live catalog, in one consistent read.

    ``vm_aliases``: the other names ``source.vm`` may give a VM (casefolded) -> its ``key``; an
    azure-classic role is listed as ``role`` but may be written ``service/role`` or
    ``service/deployment/role``. Only unambiguous aliases are listed.
    """

    images: tuple[Image, ...] = ()
    vms: tuple[VM, ...] = ()
    vm_aliases: Mapping[str, str] = field(default_factory=dict)

    def image_index(self) -> dict[str, Image]:
        return {i.key: i for i in self.images}

    def vm_index(self) -> dict[str, VM]:
        """VM by key, and by each of its aliases."""
        index = {v.key: v for v in self.vms}
        index.update({a: index[k] for a, k in self.vm_aliases.items() if k in index and a not in index})
        return index

    def fingerprints(self) -> dict[str, str]:
        """``image:NAME`` / ``vm:NAME`` (casefolded, aliases too) -> fingerprint, for saved-plan staleness."""
        out = {f"image:{i.key}": i.fingerprint for i in self.images}
        out.update({f"vm:{k}": v.fingerprint for k, v in self.vm_index().items()})
        return out


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
class Capabilities:
    """What a provider can hold and change; consulted by the pure planner and by ``validate``.

    ``mutable_fields``: image fields updatable in place (anything else differing is a replace).
    Field names are those of ``ImageSpec`` plus ``extra.<key>`` for provider fields.
    ``specialized_types``: image types that may be specialized.
    ``capture_power_states``: VM power states a capture accepts without ``source.generalize``.
    ``generalize``: the provider can deallocate + generalize the VM itself (``source.generalize``).
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
    """

    provider: str
    mutable_fields: frozenset[str]
    image_types: frozenset[ImageType] = frozenset({ImageType.OS, ImageType.VM})
    specialized_types: frozenset[ImageType] = frozenset({ImageType.VM})
    capture_power_states: frozenset[PowerState] = frozenset({PowerState.STOPPED, PowerState.DEALLOCATED})
    generalize: bool = False
    vhd_source: bool = False
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


# --------------------------------------------------------------------------------------------------
# The plan


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


@dataclass(frozen=True)
class Change:
    """One planned change to one image.

    ``before``: the live image (None for a capture). ``after``: the desired spec (None for a
    remove). ``reason``: display only, apply never branches on it. ``destructive``: the change
    deletes an image or consumes a VM. ``consumes_vm``: name of the VM a generalized capture
    consumes. ``steps``: the provider operations apply will run, in order, for display and for
    progress (for example ``deallocate vm``, ``generalize vm``, ``capture``).
    ``errors`` make the whole plan unapplyable; ``warnings`` do not.
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

    @property
    def key(self) -> str:
        return self.name.casefold()

    @property
    def family(self) -> str | None:
        if self.after is not None:
            return self.after.family
        return self.before.family if self.before is not None else None


@dataclass(frozen=True)
class Plan:
    """The result of ``make_plan``: data between plan and apply.

    ``changes`` are in apply order (deterministic) and include no-ops. ``fingerprints`` are the
    live fingerprints the plan read (see ``Snapshot.fingerprints``). ``desired_digest`` is the
    digest of the desired-state file. ``errors`` are plan-wide problems (a change's own errors live
    on the change). ``targets`` are the ``--target`` names the plan was limited to (empty: all);
    ``replace`` the ``--replace`` names it recaptures even when nothing differs.
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

    @property
    def pending(self) -> tuple[Change, ...]:
        """The changes that do something (no-ops left out)."""
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

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
