"""Public images on Resource Manager: the Marketplace, community galleries, directly shared galleries.

Layer: edge (provider). None of these is a resource of the subscription: they are read per location
through their own endpoints (``shared/azure-rest/CONTRACT.md`` §8; GalleryRP 2025-03-03
``CommunityGalleries``/``SharedGalleries``) and are never changed (design §2: ``category: public``).

* Marketplace: ``{L}/publishers`` -> ``.../artifacttypes/vmimage/offers`` -> ``.../skus`` ->
  ``.../versions``; every level is a bare JSON array, not paged. A version's facts (generation,
  architecture, features, purchase plan) come from ``ListWithProperties`` (``$expand=Properties``:
  one call per sku), whose answer is an array (the swagger) or ``{"value", "nextLink"}`` (its
  example); where the service refuses the expand (400/404), one ``VirtualMachineImages_Get`` per
  version instead. The walk goes level by level, each level's calls in parallel, at most
  ``read_workers`` at a time (``ArmClient.parallel``).
* Community and shared galleries: definitions, then versions per definition (pageable, ``nextLink``).

Names: a Marketplace image is its URN ``publisher:offer:sku:version`` and its family is
``publisher:offer:sku`` (the URN Azure resolves with ``:latest``); a gallery image is
``<gallery>/<definition>/<version>`` (``gallery`` the community gallery's public name or the shared
gallery's unique name) and its family is the definition, as in gallery mode. Neither shape can be a
declared name (managed-image names have no ':', gallery-mode names have one '/'), so a public image
never shadows an image of the catalog.

Which public images enter the snapshot is the ``public_images`` setting's (docs/azure.md, "Public
images"): the Marketplace is far too large to read on every plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ...errors import NotFound, ProviderError, ReconcilerError
from ...model import Category, Image, ImageType, OSState, PublicListing, PublicQuery
from ...render.listings import newest_per_family, version_key
from .mapping import COMPUTE_API, fingerprint
from .scope import api

GALLERY_API = "2025-03-03"

MARKETPLACE, COMMUNITY, SHARED = "marketplace", "community", "shared"

T = TypeVar("T")
Parallel = Callable[[Callable[[Any], T], list[Any]], list[T]]


@dataclass(frozen=True)
class PublicFacts:
    """What Azure says of a public image beyond the ``Image`` fields (``Image.facts``).

    ``urn``: what a VM's ``imageReference`` takes — ``publisher:offer:sku:version`` for the
    Marketplace, the version's ``uniqueId`` (``/CommunityGalleries/…/Versions/1.0.0``,
    ``/SharedGalleries/…``) for a gallery. ``security_type``: the image's ``SecurityType`` feature
    (``TrustedLaunchSupported``, ``TrustedLaunchAndConfidentialVmSupported``, ...), ``Standard`` when
    it has none. ``plan``: the purchase plan (``publisher``, ``product``, ``name``) a VM made from the
    image must carry, None when there is none. ``image_state``: Marketplace deprecation state
    (``Active``, ``ScheduledForDeprecation``, ``Deprecated``), None when not said.
    """

    source: str
    urn: str
    location: str
    publisher: str | None = None
    offer: str | None = None
    sku: str | None = None
    version: str = ""
    gallery: str | None = None
    definition: str | None = None
    hyper_v_generation: str | None = None
    architecture: str = "x64"
    security_type: str = "Standard"
    features: tuple[tuple[str, str], ...] = ()
    plan: tuple[tuple[str, str], ...] | None = None
    image_state: str | None = None
    end_of_life: str | None = None

    def document_fields(self) -> Mapping[str, Any]:
        """The stable keys of ``images list --format json`` (docs/azure.md, "Public images")."""
        return {
            "source": self.source,
            "urn": self.urn,
            "location": self.location,
            "publisher": self.publisher,
            "offer": self.offer,
            "sku": self.sku,
            "version": self.version,
            "gallery": self.gallery,
            "definition": self.definition,
            "hyper_v_generation": self.hyper_v_generation,
            "architecture": self.architecture,
            "security_type": self.security_type,
            "features": dict(self.features),
            "plan": dict(self.plan) if self.plan is not None else None,
            "image_state": self.image_state,
            "end_of_life": self.end_of_life,
        }


# --------------------------------------------------------------------------------------------------
# Names and the ``public_images`` setting


def is_public_name(name: str) -> bool:
    """A URN (four ':' parts) or a gallery image path (three '/' parts): never a declared name."""
    return name.count(":") == 3 or name.count("/") == 2


@dataclass(frozen=True)
class Source:
    """One entry of ``public_images``: ``Publisher[:Offer[:Sku]]``, ``community:NAME`` or ``shared:NAME``."""

    kind: str
    publisher: str | None = None
    offer: str | None = None
    sku: str | None = None
    gallery: str | None = None


def parse_sources(value: Any) -> tuple[Source, ...]:
    """The ``public_images`` setting (the schema checked each entry's shape)."""
    out = []
    for entry in value or ():
        text = str(entry).strip()
        head, _, rest = text.partition(":")
        if head.casefold() in (COMMUNITY, SHARED) and rest:
            out.append(Source(head.casefold(), gallery=rest))
            continue
        parts = text.split(":")
        if not 1 <= len(parts) <= 3 or not all(parts):
            raise ReconcilerError(f"catalog.public_images: '{text}' is not Publisher[:Offer[:Sku]], "
                                  "community:NAME or shared:UNIQUE_NAME",
                                  "e.g. Canonical:ubuntu-24_04-lts, community:flatcar-…, shared:…-GALLERY")
        out.append(Source(MARKETPLACE, *parts))
    return tuple(out)


# --------------------------------------------------------------------------------------------------
# Mapping ARM JSON -> Image


def _features(raw: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(f.get("name")), str(f.get("value"))) for f in raw or () if isinstance(f, Mapping))


def _security(features: Iterable[tuple[str, str]]) -> str:
    return next((v for k, v in features if k.casefold() == "securitytype"), "Standard")


def _plan(raw: Any) -> tuple[tuple[str, str], ...] | None:
    if not isinstance(raw, Mapping):
        return None
    return tuple((k, str(raw[k])) for k in ("publisher", "product", "name") if raw.get(k) is not None)


def _os(raw: Any) -> str:
    return str(raw or "linux").lower()


def marketplace_image(publisher: str, offer: str, sku: str, res: Mapping[str, Any], location: str) -> Image:
    """A ``VirtualMachineImage`` as a public image named by its URN."""
    props = res.get("properties") or {}
    version = str(res.get("name") or "")
    features = _features(props.get("features"))
    deprecation = props.get("imageDeprecationStatus") or {}
    disks = props.get("dataDiskImages") or []
    facts = PublicFacts(
        source=MARKETPLACE, urn=f"{publisher}:{offer}:{sku}:{version}", location=location,
        publisher=publisher, offer=offer, sku=sku, version=version,
        hyper_v_generation=props.get("hyperVGeneration"), architecture=str(props.get("architecture") or "x64"),
        security_type=_security(features), features=features, plan=_plan(props.get("plan")),
        image_state=deprecation.get("imageState"),
        end_of_life=deprecation.get("scheduledDeprecationTime"),
    )
    return Image(
        name=facts.urn, type=ImageType.VM if disks else ImageType.OS,
        os=_os((props.get("osDiskImage") or {}).get("operatingSystem")),
        os_state=OSState.GENERALIZED, category=Category.PUBLIC, family=f"{publisher}:{offer}:{sku}",
        data_disks=len(disks), id=str(res.get("id") or ""), fingerprint=fingerprint(res), facts=facts,
    )


def gallery_image(kind: str, gallery: str, definition: Mapping[str, Any], version: Mapping[str, Any],
                  location: str) -> Image:
    """A community or shared gallery image version as a public image ``gallery/definition/version``."""
    dprops = definition.get("properties") or {}
    vprops = version.get("properties") or {}
    dname, vname = str(definition.get("name") or ""), str(version.get("name") or "")
    features = _features(dprops.get("features"))
    ident = dprops.get("identifier") or {}
    disks = (vprops.get("storageProfile") or {}).get("dataDiskImages") or []
    unique = str((version.get("identifier") or {}).get("uniqueId") or "")
    facts = PublicFacts(
        source=kind, urn=unique, location=location, publisher=ident.get("publisher"), offer=ident.get("offer"),
        sku=ident.get("sku"), version=vname, gallery=gallery, definition=dname,
        hyper_v_generation=dprops.get("hyperVGeneration"), architecture=str(dprops.get("architecture") or "x64"),
        security_type=_security(features), features=features, plan=_plan(dprops.get("purchasePlan")),
        end_of_life=vprops.get("endOfLifeDate") or dprops.get("endOfLifeDate"),
    )
    state = str(dprops.get("osState") or "Generalized").lower()
    return Image(
        name=f"{gallery}/{dname}/{vname}", type=ImageType.VM if disks else ImageType.OS,
        os=_os(dprops.get("osType")),
        os_state=OSState.SPECIALIZED if state == "specialized" else OSState.GENERALIZED,
        category=Category.PUBLIC, family=dname, data_disks=len(disks), id=unique,
        fingerprint=fingerprint({"d": definition, "v": version}), created=str(vprops.get("publishedDate") or ""),
        facts=facts,
    )


# --------------------------------------------------------------------------------------------------
# Reading


class PublicReader:
    """Reads public images for one subscription and location over the catalog's ``ArmClient``."""

    def __init__(self, arm: Any, subscription: str, location: str, *, sources: Sequence[Source] = ()) -> None:
        if not location:
            raise ReconcilerError("public images are listed per region: the azure provider needs a location",
                                  "set catalog.location (or RECONCILER_LOCATION), e.g. westeurope")
        self.arm = arm
        self.location = location
        self.root = f"/subscriptions/{subscription}/providers/Microsoft.Compute/locations/{location}"
        self.sources = tuple(sources)

    # ---- the Marketplace

    def _array(self, path: str, what: str, params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        body = self.arm.t.get(path, params={**api(COMPUTE_API), **(params or {})}, ok=(200,), what=what).body
        if isinstance(body, Mapping) and isinstance(body.get("value"), list):
            # The ListWithProperties example's shape: a page, with nextLink to follow.
            return [*body["value"], *self._next(body, what)]
        if not isinstance(body, list):
            raise ProviderError(f"{what}: the service answered without a JSON array", code="BadResponse")
        return [r for r in body if isinstance(r, dict)]

    def _next(self, body: Mapping[str, Any], what: str) -> list[dict[str, Any]]:
        nxt = body.get("nextLink")
        return self.arm.paged(nxt, {}, what) if nxt else []

    def _pub(self, publisher: str) -> str:
        return f"{self.root}/publishers/{publisher}/artifacttypes/vmimage"

    def publishers(self) -> list[str]:
        items = self._array(f"{self.root}/publishers", f"list Marketplace publishers in {self.location}")
        return sorted((str(r["name"]) for r in items), key=str.casefold)

    def offers(self, publisher: str) -> list[str]:
        items = self._array(f"{self._pub(publisher)}/offers", f"list offers of {publisher}")
        return [str(r["name"]) for r in items]

    def skus(self, publisher: str, offer: str) -> list[str]:
        items = self._array(f"{self._pub(publisher)}/offers/{offer}/skus", f"list skus of {publisher}:{offer}")
        return [str(r["name"]) for r in items]

    def _versions_path(self, publisher: str, offer: str, sku: str) -> str:
        return f"{self._pub(publisher)}/offers/{offer}/skus/{sku}/versions"

    def sku_with_properties(self, publisher: str, offer: str, sku: str) -> list[Image] | None:
        """Every version of one sku with its facts, in one ``ListWithProperties`` call; None when the
        service refuses the expand (400) or answers without properties."""
        what = f"list versions of {publisher}:{offer}:{sku}"
        try:
            items = self._array(self._versions_path(publisher, offer, sku), what, {"$expand": "Properties"})
        except ProviderError as e:
            if e.status != 400:  # a 404 is the sku itself missing: the plain list would say the same
                raise
            return None
        if not all(isinstance(r.get("properties"), Mapping) for r in items):
            return None
        return [marketplace_image(publisher, offer, sku, r, self.location) for r in items]

    def sku_versions(self, publisher: str, offer: str, sku: str) -> list[str]:
        """The version names of one sku, oldest first (the plain ``VirtualMachineImages_List``)."""
        listed = self._array(self._versions_path(publisher, offer, sku), f"list versions of {publisher}:{offer}:{sku}")
        return sorted((str(r["name"]) for r in listed), key=version_key)

    def version_image(self, publisher: str, offer: str, sku: str, version: str) -> Image | None:
        res = self.arm.get(f"{self._versions_path(publisher, offer, sku)}/{version}", api(COMPUTE_API),
                           f"read {publisher}:{offer}:{sku}:{version}")
        return marketplace_image(publisher, offer, sku, res, self.location) if res is not None else None

    def marketplace(self, query: PublicQuery, parallel: Parallel[Any]) -> list[Image]:
        """The images under ``query``'s publisher (narrowed by offer and sku), level by level: each
        level's calls run through ``parallel`` (bounded), never one level's inside another's."""
        assert query.publisher is not None
        publisher = query.publisher
        try:
            offers = [query.offer] if query.offer else self.offers(publisher)
        except NotFound as e:
            raise NotFound(f"no Marketplace publisher '{publisher}' in {self.location}", status=e.status,
                           code=e.code, request_id=e.request_id,
                           hint="list the publishers with: images list --category public") from e
        if query.sku:
            pairs = [(o, query.sku) for o in offers]
        else:
            sku_lists = parallel(lambda o: [(o, s) for s in self.skus(publisher, o)], offers)
            pairs = [p for batch in sku_lists for p in batch]
        found = parallel(lambda p: self.sku_with_properties(publisher, *p), pairs)
        images = [i for batch in found if batch is not None for i in batch]
        # Where the expand was refused: list the versions, then GET each (the newest with --latest).
        refused = [p for p, batch in zip(pairs, found, strict=True) if batch is None]
        listed = parallel(lambda p: self.sku_versions(publisher, *p), refused)
        wanted = [(o, s, v) for (o, s), versions in zip(refused, listed, strict=True)
                  for v in (versions[-1:] if query.latest else versions)]
        images += [i for i in parallel(lambda w: self.version_image(publisher, *w), wanted) if i is not None]
        return newest_per_family(images) if query.latest else images

    # ---- galleries

    def _gallery_path(self, kind: str, gallery: str) -> str:
        return f"{self.root}/{'communityGalleries' if kind == COMMUNITY else 'sharedGalleries'}/{gallery}"

    def gallery(self, kind: str, gallery: str, parallel: Parallel[Any], *, latest: bool = False) -> list[Image]:
        """Every version of every definition of a community or shared gallery."""
        base = self._gallery_path(kind, gallery)
        what = f"{kind} gallery {gallery}"
        try:
            definitions = self.arm.paged(f"{base}/images", api(GALLERY_API), f"list definitions of {what}")
        except NotFound as e:
            raise NotFound(f"no {what} in {self.location}", status=e.status, code=e.code, request_id=e.request_id,
                           hint=_gallery_hint(kind)) from e

        def versions(d: Mapping[str, Any]) -> list[Image]:
            items = self.arm.paged(f"{base}/images/{d['name']}/versions", api(GALLERY_API),
                                   f"list versions of {gallery}/{d['name']}")
            return [gallery_image(kind, gallery, d, v, self.location) for v in items]

        images = [i for batch in parallel(versions, definitions) for i in batch]
        return newest_per_family(images) if latest else images

    # ---- what the provider asks for

    def browse(self, query: PublicQuery, parallel: Parallel[Any]) -> PublicListing:
        if query.community_gallery:
            return PublicListing(images=tuple(self.gallery(COMMUNITY, query.community_gallery, parallel,
                                                           latest=query.latest)))
        if query.shared_gallery:
            return PublicListing(images=tuple(self.gallery(SHARED, query.shared_gallery, parallel,
                                                           latest=query.latest)))
        if query.publisher:
            return PublicListing(images=tuple(self.marketplace(query, parallel)))
        return PublicListing(publishers=tuple(self.publishers()), location=self.location)

    def snapshot_images(self, parallel: Parallel[Any]) -> list[Image]:
        """The public images the ``public_images`` setting names (the snapshot's public part)."""

        found: dict[str, Image] = {}
        for source in self.sources:  # few; each walk is parallel inside
            if source.kind == MARKETPLACE:
                q = PublicQuery(publisher=source.publisher, offer=source.offer, sku=source.sku)
                batch = self.marketplace(q, parallel)
            else:
                assert source.gallery is not None
                batch = self.gallery(source.kind, source.gallery, parallel)
            found.update((i.key, i) for i in batch)
        return list(found.values())

    def read(self, name: str) -> Image | None:
        """The public image ``name`` (URN or ``gallery/definition/version``), or None."""
        if name.count(":") == 3:
            publisher, offer, sku, version = name.split(":")
            path = f"{self._pub(publisher)}/offers/{offer}/skus/{sku}/versions/{version}"
            res = self.arm.get(path, api(COMPUTE_API), f"read {name}")
            return marketplace_image(publisher, offer, sku, res, self.location) if res is not None else None
        gallery, definition, version = name.split("/")
        shared = {s.gallery.casefold() for s in self.sources if s.kind == SHARED and s.gallery}
        kinds = (SHARED, COMMUNITY) if gallery.casefold() in shared else (COMMUNITY, SHARED)
        for kind in kinds:
            base = f"{self._gallery_path(kind, gallery)}/images/{definition}"
            d = self.arm.get(base, api(GALLERY_API), f"read {kind} definition {gallery}/{definition}")
            if d is None:
                continue
            v = self.arm.get(f"{base}/versions/{version}", api(GALLERY_API), f"read {name}")
            return gallery_image(kind, gallery, d, v, self.location) if v is not None else None
        return None


def _gallery_hint(kind: str) -> str:
    if kind == COMMUNITY:
        return "a community gallery is named by its public name (az sig list-community --location L)"
    return "a shared gallery is named by its unique name (az sig list-shared --location L)"


__all__ = [
    "COMMUNITY",
    "MARKETPLACE",
    "SHARED",
    "PublicFacts",
    "PublicReader",
    "Source",
    "gallery_image",
    "is_public_name",
    "marketplace_image",
    "parse_sources",
]
