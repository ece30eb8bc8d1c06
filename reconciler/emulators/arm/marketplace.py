"""Public images in the ARM emulator: the Marketplace hierarchy, community galleries, shared galleries.

Layer: emulator (pure data and handlers; no sockets). These are not resources of a subscription: they
live in the state file's ``public`` section (docs/arm-emulator.md, "Public images"), are read-only
(every operation is a GET) and are served per location, as Azure serves them:

* Marketplace (ComputeRP 2025-11-01, ``VirtualMachineImages_*`` and ``VirtualMachineImagesEdgeZone_*``;
  ``shared/azure-rest/CONTRACT.md`` §8): publishers -> offers -> skus -> versions. Every list is a bare
  JSON array and is not pageable (the swagger declares ``type: array`` and no ``x-ms-pageable``), so
  one call returns the whole level. ``ListWithProperties`` (``$expand=Properties``) is declared as an
  array too, but its only example answers ``{"value": [...], "nextLink": ...}``: the state's
  ``listWithProperties`` switch picks ``array`` (the swagger, default), ``page`` (the example's shape,
  paged by the emulator's page size) or ``unsupported`` (400, for clients that must fall back to one
  ``Get`` per version).
* Community galleries and directly shared galleries (GalleryRP 2025-03-03, ``CommunityGallery*`` and
  ``SharedGallery*``): definitions and versions in pageable lists (``x-ms-pageable``, ``nextLink``).

A missing publisher, offer, sku or version answers 404 ``NotFound`` "Artifact: VMImage was not found.",
the body Azure returns for an unknown Marketplace image (Azure/vagrant-azure#147; for a versions list,
danielsollondon/azvmimagebuilder#80). A missing community or shared gallery answers 404 ``NotFound``
too (wording unverified: written down in docs/arm-emulator.md).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .model import ArmError, Call, Reply, norm_location
from .schema import deep_copy

if TYPE_CHECKING:
    from .backend import ArmBackend, Handler

#: ``listWithProperties`` switch values (see the module docstring).
LIST_SHAPES = ("array", "page", "unsupported")

_VM_IMAGE_NOT_FOUND = "Artifact: VMImage was not found."


@dataclass
class PublicCatalog:
    """The ``public`` section of the state: what every subscription may read, nobody may change."""

    marketplace: list[dict[str, Any]] = field(default_factory=list)
    community: list[dict[str, Any]] = field(default_factory=list)
    shared: list[dict[str, Any]] = field(default_factory=list)
    list_with_properties: str = "array"

    def dump(self) -> dict[str, Any]:
        """The section as the state file writes it (empty: nothing, so old state files stay as they were)."""
        out: dict[str, Any] = {}
        if self.marketplace:
            out["marketplace"] = deep_copy(self.marketplace)
        if self.community:
            out["communityGalleries"] = deep_copy(self.community)
        if self.shared:
            out["sharedGalleries"] = deep_copy(self.shared)
        if self.list_with_properties != "array":
            out["listWithProperties"] = self.list_with_properties
        return {"public": out} if out else {}


# --------------------------------------------------------------------------------------------------
# Loading the state's ``public`` section (ValueError names the bad item)


def _named_list(value: Any, where: str, *, key: str = "name") -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list")
    out = []
    for index, item in enumerate(value):
        if isinstance(item, str) and key == "name":
            item = {"name": item}
        if not isinstance(item, dict) or not isinstance(item.get(key), str) or not item[key]:
            raise ValueError(f"{where}[{index}] needs a string '{key}'")
        if "properties" in item and not isinstance(item["properties"], dict):
            raise ValueError(f"{where}[{index}].properties must be an object")
        for listed in ("locations", "edgeZones", "sharedTo"):
            if listed in item and not (isinstance(item[listed], list)
                                       and all(isinstance(x, str) for x in item[listed])):
                raise ValueError(f"{where}[{index}].{listed} must be a list of strings")
        out.append(deep_copy(item))
    names = [str(i[key]).casefold() for i in out]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise ValueError(f"{where}: '{duplicate}' is listed twice (names compare without case)")
    return out


def _check_gallery(gallery: dict[str, Any], where: str) -> None:
    for i, image in enumerate(_named_list(gallery.get("images"), f"{where}.images")):
        _named_list(image.get("versions"), f"{where}.images[{i}].versions")


def load(section: Any) -> PublicCatalog:
    """The state file's ``public`` section (absent: nothing public), checked."""
    if section is None:
        return PublicCatalog()
    if not isinstance(section, Mapping):
        raise ValueError("public must be an object")
    unknown = sorted(set(section) - {"marketplace", "communityGalleries", "sharedGalleries", "listWithProperties"})
    if unknown:
        raise ValueError(f"public: unknown key {unknown[0]!r} (known: marketplace, communityGalleries, "
                         "sharedGalleries, listWithProperties)")
    publishers = _named_list(section.get("marketplace"), "public.marketplace")
    for p, publisher in enumerate(publishers):
        offers = _named_list(publisher.get("offers"), f"public.marketplace[{p}].offers")
        for o, offer in enumerate(offers):
            skus = _named_list(offer.get("skus"), f"public.marketplace[{p}].offers[{o}].skus")
            for s, sku in enumerate(skus):
                _named_list(sku.get("versions"), f"public.marketplace[{p}].offers[{o}].skus[{s}].versions")
    community = _named_list(section.get("communityGalleries"), "public.communityGalleries")
    for g, gallery in enumerate(community):
        _check_gallery(gallery, f"public.communityGalleries[{g}]")
    shared = _named_list(section.get("sharedGalleries"), "public.sharedGalleries", key="uniqueName")
    for g, gallery in enumerate(shared):
        _check_gallery(gallery, f"public.sharedGalleries[{g}]")
    shape = section.get("listWithProperties", "array")
    if shape not in LIST_SHAPES:
        raise ValueError(f"public.listWithProperties must be one of {', '.join(LIST_SHAPES)}")
    return PublicCatalog(publishers, community, shared, shape)


# --------------------------------------------------------------------------------------------------
# Lookups


def _items(parent: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    """The children listed under ``key``, a bare string standing for ``{"name": ...}``."""
    return [{"name": i} if isinstance(i, str) else i for i in parent.get(key) or []]


def _find(items: Iterable[dict[str, Any]], name: str, key: str = "name") -> dict[str, Any] | None:
    wanted = name.casefold()
    return next((i for i in items if str(i.get(key, "")).casefold() == wanted), None)


def _available(item: Mapping[str, Any], location: str, edge_zone: str | None) -> bool:
    """Served in ``location`` (no ``locations``: everywhere) and, for edge-zone calls, in that zone."""
    locations = item.get("locations")
    if locations is not None and norm_location(location) not in {norm_location(x) for x in locations}:
        return False
    if edge_zone is None:
        return True
    return edge_zone.casefold() in {z.casefold() for z in item.get("edgeZones") or []}


def version_key(name: str) -> tuple[Any, ...]:
    """Versions sort by their numeric parts (``9.0.1`` before ``10.0.0``), text parts as text."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
                 for part in re.split(r"[.\-]", name))


def _not_found() -> ArmError:
    return ArmError(404, "NotFound", _VM_IMAGE_NOT_FOUND)


class _Marketplace:
    """One Marketplace request: its location, optional edge zone and the path parameters."""

    def __init__(self, b: ArmBackend, call: Call) -> None:
        self.catalog: PublicCatalog = b.public
        self.call = call
        p = call.params
        self.sub, self.location, self.zone = p["subscriptionId"], p["location"], p.get("edgeZone")

    def base_id(self) -> str:
        zone = f"/EdgeZones/{self.zone}" if self.zone else ""
        return f"/Subscriptions/{self.sub}/Providers/Microsoft.Compute/Locations/{self.location}{zone}/Publishers"

    def resource(self, name: str, id_: str) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name, "location": norm_location(self.location), "id": id_}
        if self.zone:
            out["extendedLocation"] = {"name": self.zone, "type": "EdgeZone"}
        return out

    def publishers(self) -> list[dict[str, Any]]:
        return [p for p in self.catalog.marketplace if _available(p, self.location, self.zone)]

    def publisher(self) -> dict[str, Any]:
        found = _find(self.publishers(), self.call.params["publisherName"])
        if found is None:
            raise _not_found()
        return found

    def offer(self) -> tuple[dict[str, Any], dict[str, Any]]:
        publisher = self.publisher()
        found = _find(_items(publisher, "offers"), self.call.params["offer"])
        if found is None:
            raise _not_found()
        return publisher, found

    def sku(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        publisher, offer = self.offer()
        found = _find(_items(offer, "skus"), self.call.params["skus"])
        if found is None:
            raise _not_found()
        return publisher, offer, found

    def sku_id(self, publisher: Mapping[str, Any], offer: Mapping[str, Any], sku: Mapping[str, Any]) -> str:
        return (f"{self.base_id()}/{publisher['name']}/ArtifactTypes/VMImage/Offers/{offer['name']}"
                f"/Skus/{sku['name']}")

    def versions(self) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
        """(the sku's id, its versions in order, the sku), ``$orderby``/``$top`` applied."""
        publisher, offer, sku = self.sku()
        versions = sorted(_items(sku, "versions"), key=lambda v: version_key(str(v["name"])))
        # ``$orderby`` is a free string in the swagger (its examples send "aa" and get 200): "name desc"
        # reverses, anything else keeps the ascending order (emulator behaviour, docs/arm-emulator.md).
        if self.call.query.get("$orderby", "").strip().casefold() == "name desc":
            versions.reverse()
        top = self.call.query.get("$top")
        if top is not None:
            try:
                count = int(top)
            except ValueError:
                raise ArmError(400, "InvalidParameter", f"The value '{top}' of parameter '$top' is invalid.",
                               target="$top") from None
            versions = versions[: max(count, 0)]
        return self.sku_id(publisher, offer, sku), versions, sku

    def image(self, sku_id: str, sku: Mapping[str, Any], version: Mapping[str, Any]) -> dict[str, Any]:
        """A ``VirtualMachineImage``: the sku's ``properties`` with the version's laid over them."""
        out = self.resource(str(version["name"]), f"{sku_id}/Versions/{version['name']}")
        props = {**deep_copy(sku.get("properties") or {}), **deep_copy(version.get("properties") or {})}
        props.setdefault("osDiskImage", {"operatingSystem": "Linux"})
        props.setdefault("dataDiskImages", [])
        props.setdefault("automaticOSUpgradeProperties", {"automaticOSUpgradeSupported": False})
        out["properties"] = props
        return out


def list_publishers(b: ArmBackend, call: Call) -> Reply:
    m = _Marketplace(b, call)
    body = [m.resource(p["name"], f"{m.base_id()}/{p['name']}") for p in m.publishers()]
    return Reply(200, sorted(body, key=lambda r: r["name"].casefold()))


def list_offers(b: ArmBackend, call: Call) -> Reply:
    m = _Marketplace(b, call)
    publisher = m.publisher()
    body = [m.resource(o["name"], f"{m.base_id()}/{publisher['name']}/ArtifactTypes/VMImage/Offers/{o['name']}")
            for o in _items(publisher, "offers")]
    return Reply(200, sorted(body, key=lambda r: r["name"].casefold()))


def list_skus(b: ArmBackend, call: Call) -> Reply:
    m = _Marketplace(b, call)
    publisher, offer = m.offer()
    body = [m.resource(s["name"], m.sku_id(publisher, offer, s)) for s in _items(offer, "skus")]
    return Reply(200, sorted(body, key=lambda r: r["name"].casefold()))


def list_versions(b: ArmBackend, call: Call) -> Reply:
    m = _Marketplace(b, call)
    sku_id, versions, _ = m.versions()
    return Reply(200, [m.resource(str(v["name"]), f"{sku_id}/Versions/{v['name']}") for v in versions])


def list_with_properties(b: ArmBackend, call: Call) -> Reply:
    m = _Marketplace(b, call)
    shape = m.catalog.list_with_properties
    if shape == "unsupported":
        raise ArmError(400, "InvalidParameter", "The value 'Properties' of parameter '$expand' is invalid.",
                       target="$expand")
    sku_id, versions, sku = m.versions()
    images = [m.image(sku_id, sku, v) for v in versions]
    if shape == "array":
        return Reply(200, images)
    path = call.base + _request_path(call)
    return _page(images, call.query, path, b.page_size)


def get_version(b: ArmBackend, call: Call) -> Reply:
    m = _Marketplace(b, call)
    sku_id, versions, sku = m.versions()
    found = _find(versions, call.params["version"])
    if found is None:
        raise _not_found()
    return Reply(200, m.image(sku_id, sku, found))


def _request_path(call: Call) -> str:
    p = call.params
    zone = f"/edgeZones/{p['edgeZone']}" if p.get("edgeZone") else ""
    return (f"/subscriptions/{p['subscriptionId']}/providers/Microsoft.Compute/locations/{p['location']}{zone}"
            f"/publishers/{p['publisherName']}/artifacttypes/vmimage/offers/{p['offer']}/skus/{p['skus']}/versions")


# --------------------------------------------------------------------------------------------------
# Paging (community and shared lists; ListWithProperties in ``page`` shape)


def _page(items: list[dict[str, Any]], query: Mapping[str, str], path: str, size: int) -> Reply:
    """One page of ``items`` (already in order); ``$skiptoken`` is the offset of the page, encoded."""
    start = 0
    token = query.get("$skiptoken")
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
            if start < 0:
                raise ValueError(token)
        except ValueError as exc:
            raise ArmError(400, "InvalidParameter", "The $skiptoken is invalid.", target="$skiptoken") from exc
    body: dict[str, Any] = {"value": items[start: start + size]}
    if start + size < len(items):
        keep = {k: v for k, v in query.items() if k != "$skiptoken"}
        keep["$skiptoken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        body["nextLink"] = f"{path}?{urlencode(keep, safe='$/')}"
    return Reply(200, body)


# --------------------------------------------------------------------------------------------------
# Community and shared galleries


@dataclass(frozen=True)
class _Kind:
    """What differs between community and shared galleries: where they live and how they are named."""

    key: str  # the gallery's name key in the state
    param: str  # the path parameter naming the gallery
    root: str  # the id prefix Azure gives them
    rtype: str
    galleries: Callable[[PublicCatalog], list[dict[str, Any]]]


_COMMUNITY = _Kind("name", "publicGalleryName", "/CommunityGalleries", "Microsoft.Compute/locations/communityGalleries",
                   lambda c: c.community)
_SHARED = _Kind("uniqueName", "galleryUniqueName", "/SharedGalleries", "Microsoft.Compute/locations/sharedGalleries",
                lambda c: c.shared)


def _gallery(b: ArmBackend, call: Call, kind: _Kind) -> dict[str, Any]:
    name = call.params[kind.param]
    found = _find(kind.galleries(b.public), name, kind.key)
    if found is None or not _available(found, call.params["location"], None):
        what = "community gallery" if kind is _COMMUNITY else "shared gallery"
        raise ArmError(404, "NotFound", f"The {what} '{name}' was not found in location "
                                        f"'{call.params['location']}'.")
    return found


def _render(kind: _Kind, name: str, unique: str, location: str, props: Mapping[str, Any] | None,
            rtype: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "location": norm_location(location), "identifier": {"uniqueId": unique}}
    if kind is _COMMUNITY:
        out["type"] = rtype
    if props:
        out["properties"] = deep_copy(dict(props))
    return out


def _definition(b: ArmBackend, call: Call, kind: _Kind) -> tuple[dict[str, Any], dict[str, Any]]:
    gallery = _gallery(b, call, kind)
    found = _find(_items(gallery, "images"), call.params["galleryImageName"])
    if found is None:
        raise ArmError(404, "NotFound", f"The gallery image '{call.params['galleryImageName']}' was not found.")
    return gallery, found


def _image_body(kind: _Kind, gallery: Mapping[str, Any], image: Mapping[str, Any], location: str) -> dict[str, Any]:
    unique = f"{kind.root}/{gallery[kind.key]}/Images/{image['name']}"
    return _render(kind, str(image["name"]), unique, location, image.get("properties"), f"{kind.rtype}/images")


def _version_body(kind: _Kind, gallery: Mapping[str, Any], image: Mapping[str, Any], version: Mapping[str, Any],
                  location: str) -> dict[str, Any]:
    unique = f"{kind.root}/{gallery[kind.key]}/Images/{image['name']}/Versions/{version['name']}"
    return _render(kind, str(version["name"]), unique, location, version.get("properties"),
                   f"{kind.rtype}/images/versions")


def _path(call: Call, *tail: str) -> str:
    return call.base + "/".join(
        [f"/subscriptions/{call.params['subscriptionId']}/providers/Microsoft.Compute/locations/"
         f"{call.params['location']}", *tail])


def _gallery_handlers(kind: _Kind, segment: str, prefix: str) -> dict[str, Handler]:
    def get_gallery(b: ArmBackend, call: Call) -> Reply:
        gallery = _gallery(b, call, kind)
        name = str(gallery[kind.key])
        return Reply(200, _render(kind, name, f"{kind.root}/{name}", call.params["location"],
                                  gallery.get("properties"), kind.rtype))

    def list_images(b: ArmBackend, call: Call) -> Reply:
        gallery = _gallery(b, call, kind)
        images = sorted(_items(gallery, "images"), key=lambda i: str(i["name"]).casefold())
        body = [_image_body(kind, gallery, i, call.params["location"]) for i in images]
        return _page(body, call.query, _path(call, segment, call.params[kind.param], "images"), b.page_size)

    def get_image(b: ArmBackend, call: Call) -> Reply:
        gallery, image = _definition(b, call, kind)
        return Reply(200, _image_body(kind, gallery, image, call.params["location"]))

    def list_versions(b: ArmBackend, call: Call) -> Reply:
        gallery, image = _definition(b, call, kind)
        versions = sorted(_items(image, "versions"), key=lambda v: version_key(str(v["name"])))
        body = [_version_body(kind, gallery, image, v, call.params["location"]) for v in versions]
        return _page(body, call.query, _path(call, segment, call.params[kind.param], "images",
                                             call.params["galleryImageName"], "versions"), b.page_size)

    def get_version(b: ArmBackend, call: Call) -> Reply:
        gallery, image = _definition(b, call, kind)
        version = _find(_items(image, "versions"), call.params["galleryImageVersionName"])
        if version is None:
            raise ArmError(404, "NotFound",
                           f"The gallery image version '{call.params['galleryImageVersionName']}' was not found.")
        return Reply(200, _version_body(kind, gallery, image, version, call.params["location"]))

    return {
        f"{prefix}Galleries_Get": get_gallery,
        f"{prefix}GalleryImages_List": list_images,
        f"{prefix}GalleryImages_Get": get_image,
        f"{prefix}GalleryImageVersions_List": list_versions,
        f"{prefix}GalleryImageVersions_Get": get_version,
    }


def list_shared_galleries(b: ArmBackend, call: Call) -> Reply:
    """Galleries shared with this subscription, or (``sharedTo=tenant``) with its tenant."""
    scope = call.query.get("sharedTo", "").casefold() or "subscription"
    if scope not in ("subscription", "tenant"):
        raise ArmError(400, "InvalidParameter", f"The value '{call.query['sharedTo']}' of parameter 'sharedTo' "
                                                "is invalid.", target="sharedTo")
    location = call.params["location"]
    galleries = sorted((g for g in b.public.shared if _available(g, location, None)
                        and scope in {s.casefold() for s in g.get("sharedTo") or ["subscription"]}),
                       key=lambda g: str(g["uniqueName"]).casefold())
    body = [_render(_SHARED, str(g["uniqueName"]), f"/SharedGalleries/{g['uniqueName']}", location,
                    g.get("properties"), _SHARED.rtype) for g in galleries]
    return _page(body, call.query, _path(call, "sharedGalleries"), b.page_size)


HANDLERS: dict[str, Handler] = {
    "VirtualMachineImages_ListPublishers": list_publishers,
    "VirtualMachineImages_ListOffers": list_offers,
    "VirtualMachineImages_ListSkus": list_skus,
    "VirtualMachineImages_List": list_versions,
    "VirtualMachineImages_ListWithProperties": list_with_properties,
    "VirtualMachineImages_Get": get_version,
    "VirtualMachineImagesEdgeZone_ListPublishers": list_publishers,
    "VirtualMachineImagesEdgeZone_ListOffers": list_offers,
    "VirtualMachineImagesEdgeZone_ListSkus": list_skus,
    "VirtualMachineImagesEdgeZone_List": list_versions,
    "VirtualMachineImagesEdgeZone_Get": get_version,
    **_gallery_handlers(_COMMUNITY, "communityGalleries", "Community"),
    **_gallery_handlers(_SHARED, "sharedGalleries", "Shared"),
    "SharedGalleries_List": list_shared_galleries,
}

__all__ = ["HANDLERS", "LIST_SHAPES", "PublicCatalog", "load", "version_key"]
