"""Who uses the catalog's images on Resource Manager (issue 11 §4; docs/lifecycle.md, docs/azure.md RBAC).

Layer: edge (the ``azure`` provider). A VM uses an image when its
``properties.storageProfile.imageReference.id`` names it, a scale set when its
``properties.virtualMachineProfile.storageProfile.imageReference.id`` does
(shared/azure-rest/CONTRACT.md §10.1). The id is a managed image, a gallery version, or a gallery
image definition: a machine created from a definition uses whatever ``latest`` resolves to when it
is (re)imaged or scaled out, so it is counted as a consumer of every version of that definition
(``via: definition``) — removing any of them may change what it gets.

One Azure Resource Graph query (``POST /providers/Microsoft.ResourceGraph/resources``, api-version
2022-10-01, CONTRACT.md §10.2) over the subscriptions of ``policy.consumers.subscriptions``
(default: the catalog's), paged with ``options.$skipToken``. Where Resource Graph is refused (403:
the identity may not read it; 404: a cloud without it) the provider lists VMs and scale sets of each
subscription instead (``VirtualMachines_ListAll`` and ``VirtualMachineScaleSets_ListAll``, paged
with ``nextLink``) and filters them itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...errors import ProviderError
from ...model import Consumer, Image
from ..http.transport import Transport
from .mapping import COMPUTE_API

GRAPH_API = "2022-10-01"
GRAPH_PATH = "/providers/Microsoft.ResourceGraph/resources"
#: Records per Resource Graph page: its maximum (CONTRACT.md §10.2).
GRAPH_TOP = 1000
_VM = "microsoft.compute/virtualmachines"
_VMSS = "microsoft.compute/virtualmachinescalesets"

#: The one query sent. It stays inside the KQL subset the ARM emulator documents
#: (docs/arm-emulator.md "Resource Graph"); ``id`` is projected for stable paging (the paging
#: examples' description, CONTRACT.md §10.2).
QUERY = (
    f"Resources | where type in~ ('{_VM}', '{_VMSS}') "
    "| extend imageId = tolower(tostring(coalesce(properties.storageProfile.imageReference.id, "
    "properties.virtualMachineProfile.storageProfile.imageReference.id))) "
    "| where isnotempty(imageId) "
    "| project id, name, type, subscriptionId, resourceGroup, imageId, capacity = sku.capacity"
)

#: Lower-cased image reference id -> the (image name, via) pairs it makes a consumer of.
Wanted = dict[str, list[tuple[str, str]]]


def wanted_ids(images: Iterable[Image]) -> Wanted:
    """The reference ids that mean "uses this image": its own id, and for a gallery version its
    definition's id (``via: definition``)."""
    out: Wanted = {}
    for image in images:
        if not image.id:
            continue
        rid = image.id.lower()
        out.setdefault(rid, []).append((image.name, "image"))
        if "/versions/" in rid:
            out.setdefault(rid.rsplit("/versions/", 1)[0], []).append((image.name, "definition"))
    return out


def _scope(resource_id: str) -> str:
    """``SUBSCRIPTION/RESOURCE-GROUP`` of a resource id, for messages."""
    parts = resource_id.split("/")
    lowered = [p.lower() for p in parts]
    sub = parts[2] if len(parts) > 2 else ""
    rg = parts[lowered.index("resourcegroups") + 1] if "resourcegroups" in lowered else ""
    return f"{sub}/{rg}" if rg else sub


def _capacity(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def consumers_of(rows: Iterable[Mapping[str, Any]], wanted: Wanted) -> dict[str, tuple[Consumer, ...]]:
    """Casefolded image name -> consumers, from rows of ``{id, name, type, imageId, capacity}``
    (the query's projection; the fallback lists are mapped to it), in id order."""
    out: dict[str, list[Consumer]] = {}
    for row in sorted(rows, key=lambda r: str(r.get("id", "")).lower()):
        hits = wanted.get(str(row.get("imageId") or "").lower())
        if not hits:
            continue
        vmss = str(row.get("type", "")).lower() == _VMSS
        for image, via in hits:
            out.setdefault(image.casefold(), []).append(Consumer(
                kind="vmss" if vmss else "vm", name=str(row.get("name", "")), image=image, via=via,
                instances=_capacity(row.get("capacity")) if vmss else 1, scope=_scope(str(row.get("id", ""))),
                id=str(row.get("id", ""))))
    return {k: tuple(v) for k, v in out.items()}


def graph_rows(t: Transport, subscriptions: Sequence[str]) -> list[dict[str, Any]]:
    """Every row of ``QUERY`` over ``subscriptions``, page after page (``$skipToken``)."""
    rows: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        options: dict[str, Any] = {"$top": GRAPH_TOP, "resultFormat": "objectArray"}
        if token:
            options["$skipToken"] = token
        body = t.request("POST", GRAPH_PATH, params={"api-version": GRAPH_API},
                         body={"subscriptions": list(subscriptions), "query": QUERY, "options": options},
                         ok=(200,), what="query Resource Graph for the VMs and scale sets using the images").body
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise ProviderError("query Resource Graph: the answer has no data array", code="BadResponse")
        rows.extend(r for r in data if isinstance(r, dict))
        token = body.get("$skipToken") or None
        if not token:
            return rows


def _image_ref(resource: Mapping[str, Any], vmss: bool) -> str:
    props = resource.get("properties") or {}
    if vmss:
        props = props.get("virtualMachineProfile") or {}
    ref = ((props.get("storageProfile") or {}).get("imageReference") or {}).get("id")
    return str(ref).lower() if ref else ""


def listed_rows(t: Transport, subscriptions: Sequence[str]) -> list[dict[str, Any]]:
    """The fallback: every VM and scale set of each subscription, as rows of ``QUERY``'s shape."""
    rows: list[dict[str, Any]] = []
    for sub in subscriptions:
        for kind, vmss in (("virtualMachines", False), ("virtualMachineScaleSets", True)):
            items = t.paged(f"/subscriptions/{sub}/providers/Microsoft.Compute/{kind}",
                            params={"api-version": COMPUTE_API}, what=f"list {kind} of subscription {sub}")
            for r in items:
                if not isinstance(r, dict):
                    continue
                rows.append({"id": r.get("id", ""), "name": r.get("name", ""), "type": _VMSS if vmss else _VM,
                             "imageId": _image_ref(r, vmss), "capacity": (r.get("sku") or {}).get("capacity")})
    return rows


#: The statuses that mean "Resource Graph is not for this identity / cloud": fall back to lists.
REFUSED = frozenset({403, 404})


def read_consumers(t: Transport, subscriptions: Sequence[str], images: Sequence[Image]
                   ) -> dict[str, tuple[Consumer, ...]]:
    """What uses each of ``images`` across ``subscriptions``: Resource Graph, else the lists."""
    wanted = wanted_ids(images)
    if not wanted:
        return {}
    try:
        rows = graph_rows(t, subscriptions)
    except ProviderError as e:
        if e.status not in REFUSED:
            raise
        rows = listed_rows(t, subscriptions)
    return consumers_of(rows, wanted)


__all__ = ["GRAPH_API", "GRAPH_PATH", "QUERY", "consumers_of", "read_consumers", "wanted_ids"]
