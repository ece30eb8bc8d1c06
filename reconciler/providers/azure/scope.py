"""What an azure catalog holds its images in, as one small object per mode.

Layer: edge (provider). The two modes of the azure provider differ in where an image lives and how
it is written, not in what the backend does with it: a **managed image** is a
``Microsoft.Compute/images`` resource in the resource group (``managed.py``), a **gallery
version** an Azure Compute Gallery image version under its definition (``gallery.py``). A
``Scope`` holds every such difference (resource paths, api-version, the list, read, capture,
update and ownership bodies, the mutable and declarable fields, the plan-time checks), so the
backend (``backend.py``) is written once over it, and ``modes.scope_class`` is the one place
that looks at the ``gallery`` setting.

A scope does no I/O of its own: it asks ARM through ``Arm``, which the backend supplies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import quote

from ...errors import Diagnostic
from ...model import Family, Image, ImageSpec, ImageType, Snapshot
from .. import StepCallback
from ..http.lro import PollPolicy, Response

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """Where the catalog lives. ``owner``: the catalog name (the ownership marker's value);
    ``location``: the region new resources are created in ("" when unset: captures refuse)."""

    owner: str
    subscription: str
    resource_group: str
    location: str = ""

    @property
    def sub_path(self) -> str:
        return f"/subscriptions/{quote(self.subscription, safe='')}"

    @property
    def rg_path(self) -> str:
        return f"{self.sub_path}/resourceGroups/{quote(self.resource_group, safe='')}"

    @property
    def rp(self) -> str:
        """The Compute resource provider's root in the resource group."""
        return f"{self.rg_path}/providers/Microsoft.Compute"

    def vm_path(self, vm: str) -> str:
        return f"{self.rp}/virtualMachines/{quote(vm, safe='')}"

    def vm_id(self, vm: str) -> str:
        """The ARM id of VM ``vm`` as a request body names it (not URL-quoted)."""
        return f"{self.rp}/virtualMachines/{vm}"


def api(version: str) -> dict[str, str]:
    """The query parameters of a request at ``version``."""
    return {"api-version": version}


class Arm(Protocol):
    """What a scope may ask of ARM (``backend.ArmClient``)."""

    def get(self, path: str, params: Mapping[str, str], what: str) -> dict[str, Any] | None:
        """The resource at ``path``, or None when ARM answers 404."""
        ...

    def get_text(self, path: str, params: Mapping[str, str], what: str) -> tuple[dict[str, Any], str] | None:
        """The resource at ``path`` and its JSON text as ARM sent it, or None when ARM answers 404."""
        ...

    def paged(self, path: str, params: Mapping[str, str], what: str) -> list[Any]:
        """Every item of a pageable list (``nextLink`` followed)."""
        ...

    def pages(self, path: str, params: Mapping[str, str], what: str) -> Iterator[list[tuple[Any, str]]]:
        """The pages of a pageable list as they arrive, each item with its JSON text as sent
        (the next page is already requested while the caller works on one)."""
        ...

    def call(self, method: str, path: str, params: Mapping[str, str], body: Any, what: str,
             on_step: StepCallback, deadline: PollPolicy) -> Response:
        """Send a write and follow its long-running operation to the end."""
        ...

    def remaining(self, started: float) -> PollPolicy:
        """The poll policy with what is left of the change's deadline, which began at ``started``."""
        ...

    def parallel(self, fn: Callable[[Any], T], items: list[Any]) -> list[T]:
        """``fn`` over ``items`` with bounded parallelism, results in order."""
        ...


@runtime_checkable
class Scope(Protocol):
    """One mode of the azure provider. Class attributes are the mode's pure facts (``capabilities``
    reads them without a catalog); an instance is bound to a ``Target``.

    ``family_tag``: the family is kept in a tag (false where the resource's parent is the family).
    ``image_fields``: the provider ``extra`` fields a file may declare, with their help text.
    ``mutable_fields``: the fields, beyond the tag-backed ones, that change in place.
    ``specialized_types``: image types that may hold a specialized OS.
    """

    api_version: str
    family_tag: bool
    image_fields: Mapping[str, str]
    mutable_fields: frozenset[str]
    specialized_types: frozenset[ImageType]
    name_pattern: str
    name_hint: str
    target: Target

    def image_path(self, name: str) -> str:
        """The ARM path of image ``name``."""
        ...

    def list_images(self, arm: Arm) -> list[Image]:
        """Every image of the scope; O(items / page size) list requests."""
        ...

    def list_catalog(self, arm: Arm) -> tuple[list[Image], dict[str, Family]]:
        """``list_images`` and the scope's live families (``Snapshot.families``: the gallery's image
        definitions, by casefolded name; none in a mode without family resources)."""
        ...

    def read_image(self, arm: Arm, name: str) -> tuple[dict[str, Any], Image] | None:
        """The live resource of image ``name`` and its model view, or None when absent."""
        ...

    def prepare_capture(self, arm: Arm, spec: ImageSpec, on_step: StepCallback, started: float,
                        vm: Mapping[str, Any] | None = None) -> None:
        """What must exist before ``spec``'s image can be PUT (a gallery definition; ``vm``: the
        source VM resource, whose facts a new definition infers from)."""
        ...

    def prepare_update(self, arm: Arm, spec: ImageSpec, on_step: StepCallback, started: float) -> None:
        """What changes before ``spec``'s image is updated (a gallery definition's mutable fields)."""
        ...

    def capture_body(self, spec: ImageSpec, vm: Mapping[str, Any] | None, tags: dict[str, str]) -> dict[str, Any]:
        """The PUT body capturing ``spec`` (``vm``: the source VM resource, when from a VM)."""
        ...

    def update_body(self, spec: ImageSpec, live: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        """The PATCH body setting the mutable fields of the ``live`` resource to ``spec``'s."""
        ...

    def owner_body(self, live: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        """The PATCH body writing ``tags`` (the ownership marker added) on the ``live`` resource."""
        ...

    def adopt_parent(self, arm: Arm, name: str, on_step: StepCallback, started: float) -> None:
        """``import`` of image ``name``: adopt what holds it too (a gallery definition nobody owns)."""
        ...

    def plan_checks(self, spec: ImageSpec, snapshot: Snapshot) -> list[Diagnostic]:
        """The mode's own plan-time preconditions of capturing ``spec`` (pure)."""
        ...


__all__ = ["Arm", "Scope", "Target", "api"]
