"""The plain list/get/delete of every ARM resource type the emulator serves, from one table.

Layer: emulator. One ``ResourceType`` row per type names its path below the resource group, the spec's
operation-id prefix, its list operations and their scope, its spec definitions, and the hooks where the
type differs (``$expand`` checks, list filters, how a GET renders it). ``handlers()`` turns the table
into the ``<Prefix>_List...``, ``<Prefix>_Get`` and ``<Prefix>_Delete`` handlers; create, update and
actions stay in the per-type modules (``images.py``, ``vms.py``, ``gallery.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import gallery, vms
from .model import TYPE_GALLERY, TYPE_GALLERY_IMAGE, TYPE_IMAGE, TYPE_VERSION, TYPE_VM, TYPE_VMSS, Call, Reply

if TYPE_CHECKING:
    from .backend import ArmBackend, Handler

#: A list operation's scope: the whole subscription, or below the parent (resource group or resource).
SUBSCRIPTION, PARENT = "subscription", "parent"

Resources = list[dict[str, Any]]


@dataclass(frozen=True)
class ResourceType:
    """One resource type: where it lives and how its plain operations differ from the others'."""

    prefix: str  # the spec's operation-id prefix: Images_Get, GalleryImages_ListByGallery ...
    rtype: str
    path: tuple[tuple[str, str], ...]  # (collection segment, path parameter) from the resource group down
    definition: str  # the spec definition of one resource
    list_definition: str  # ... and of a page of them
    lists: Mapping[str, str] = field(default_factory=dict)  # list operation name -> SUBSCRIPTION | PARENT
    child_type: str | None = None  # Delete refuses while resources of this type exist below
    #: Raises ArmError for a query the Get operation does not accept ($expand values).
    check_get: Callable[[Mapping[str, str]], None] | None = None
    #: (items, query) -> (the items kept, the query to render them with); raises for a bad query.
    narrow_list: Callable[[Resources, Mapping[str, str]], tuple[Resources, Mapping[str, str]]] | None = None
    #: Shapes a copy of the stored resource for a GET, given the lower-cased ``$expand``.
    render: Callable[[dict[str, Any], str], None] | None = None

    def resource_id(self, b: ArmBackend, params: Mapping[str, str]) -> str:
        return b.resource_id(params, *[(segment, params[name]) for segment, name in self.path])

    def collection(self, b: ArmBackend, params: Mapping[str, str]) -> tuple[str, bool]:
        """The id the list path is below, and whether that is a resource that must exist."""
        parents = [(segment, params[name]) for segment, name in self.path[:-1]]
        return b.resource_id(params, *parents) + f"/{self.path[-1][0]}", bool(parents)


TABLE: tuple[ResourceType, ...] = (
    ResourceType(
        "Images", TYPE_IMAGE, (("images", "imageName"),), "compute.Image", "compute.ImageListResult",
        lists={"List": SUBSCRIPTION, "ListByResourceGroup": PARENT},
    ),
    ResourceType(
        "VirtualMachines", TYPE_VM, (("virtualMachines", "vmName"),), "compute.VirtualMachine",
        "compute.VirtualMachineListResult", lists={"List": PARENT, "ListAll": SUBSCRIPTION},
        check_get=vms.check_get_query, narrow_list=vms.narrow_list, render=vms.render,
    ),
    # Scale sets are only listed (issue 11 §4: who uses an image); their spec is the Marketplace extract's
    # VirtualMachineScaleSets_List / _ListAll (shared/azure-rest/CONTRACT.md §10.1); Get/Delete are not
    # in the packaged specs, so those two handlers are never routed.
    ResourceType(
        "VirtualMachineScaleSets", TYPE_VMSS, (("virtualMachineScaleSets", "vmScaleSetName"),),
        "marketplace.VirtualMachineScaleSet", "marketplace.VirtualMachineScaleSetListWithLinkResult",
        lists={"List": PARENT, "ListAll": SUBSCRIPTION},
    ),
    ResourceType(
        "Galleries", TYPE_GALLERY, (("galleries", "galleryName"),), "gallery.Gallery", "gallery.GalleryList",
        lists={"ListByResourceGroup": PARENT}, child_type=TYPE_GALLERY_IMAGE,
    ),
    ResourceType(
        "GalleryImages", TYPE_GALLERY_IMAGE, gallery.DEFINITION_PATH, "gallery.GalleryImage",
        "gallery.GalleryImageList", lists={"ListByGallery": PARENT}, child_type=TYPE_VERSION,
    ),
    ResourceType(
        "GalleryImageVersions", TYPE_VERSION, gallery.VERSION_PATH, "gallery.GalleryImageVersion",
        "gallery.GalleryImageVersionList", lists={"ListByGalleryImage": PARENT},
        check_get=gallery.check_version_query, render=gallery.render_version,
    ),
)

_BY_TYPE = {row.rtype.lower(): row for row in TABLE}


def row_for(rtype: str) -> ResourceType | None:
    return _BY_TYPE.get(rtype.lower())


def list_handler(row: ResourceType, scope: str) -> Handler:
    def list_op(b: ArmBackend, call: Call) -> Reply:
        # The store's sorted index per type: a page is a binary search and a walk of one page of
        # ids, O(page size) at any catalog size (issue 13, store.py).
        if scope == SUBSCRIPTION:
            sub = call.params["subscriptionId"]
            prefix = f"/subscriptions/{sub}/".lower()
            path = f"/subscriptions/{sub}/providers/Microsoft.Compute/{row.path[-1][0]}"
        else:
            path, nested = row.collection(b, call.params)
            if nested:
                b.require(path.rsplit("/", 1)[0], call.params)
            prefix = path.lower() + "/"

        def items(after: str | None) -> Iterator[dict[str, Any]]:
            return b.resources.scan(row.rtype, prefix, after)

        render_query: Mapping[str, str] = {}
        if row.narrow_list is not None:
            # A filter hook sees the whole list (VMs: few), so such a list costs O(n) per page.
            narrowed, render_query = row.narrow_list(list(items(None)), call.query)
            return b.page(narrowed, call.query, path, call.base, lambda r: b.render(r, render_query),
                          row.list_definition)
        return b.page(items, call.query, path, call.base, lambda r: b.render(r, render_query), row.list_definition)

    return list_op


def get_handler(row: ResourceType) -> Handler:
    def get_op(b: ArmBackend, call: Call) -> Reply:
        if row.check_get is not None:
            row.check_get(call.query)
        resource = b.read(row.resource_id(b, call.params), call.params)
        return Reply(200, b.render(resource, call.query), definition=row.definition)

    return get_op


def delete_handler(row: ResourceType) -> Handler:
    def delete_op(b: ArmBackend, call: Call) -> Reply:
        return b.delete(row.resource_id(b, call.params), call, child_type=row.child_type)

    return delete_op


def handlers() -> dict[str, Handler]:
    """Every table-driven operation, by the spec's operation id."""
    out: dict[str, Handler] = {}
    for row in TABLE:
        for name, scope in row.lists.items():
            out[f"{row.prefix}_{name}"] = list_handler(row, scope)
        out[f"{row.prefix}_Get"] = get_handler(row)
        out[f"{row.prefix}_Delete"] = delete_handler(row)
    return out
