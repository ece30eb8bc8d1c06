"""``images list`` and ``images families``: read-only views of the live catalog.

Layer: shell. The selection and the tables are ``render``'s; these commands read the snapshot, or
(``--publisher``, ``--community-gallery``, ``--shared-gallery``; ``--category public`` alone) the
public images a provider browses apart from its catalog (``browse_public``: the Marketplace and
community/shared galleries on Resource Manager, docs/azure.md "Public images").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ...errors import ReconcilerError
from ...model import DesiredState, Image, ImageType, PublicListing, PublicQuery
from ..app import echo, echo_err, guard, images_app
from .common import DEFAULT_FILE, CatalogFileOpt, CategoryFilter, ListFormat, ListFormatOpt, load, provider_for

PublisherOpt = Annotated[str | None, typer.Option(
    "--publisher", help="Marketplace publisher to list (public images browsed apart from the catalog).")]
OfferOpt = Annotated[str | None, typer.Option("--offer", help="Only this offer of --publisher.")]
SkuOpt = Annotated[str | None, typer.Option("--sku", help="Only this sku of --offer.")]
CommunityOpt = Annotated[str | None, typer.Option(
    "--community-gallery", metavar="NAME", help="List this community gallery (its public name).")]
SharedOpt = Annotated[str | None, typer.Option(
    "--shared-gallery", metavar="UNIQUE_NAME", help="List this directly shared gallery (its unique name).")]
LatestOpt = Annotated[bool, typer.Option("--latest", help="Only the newest image of each family (sku).")]

_NARROW = ("narrow with --publisher NAME (then --offer, --sku), or list a gallery with "
           "--community-gallery NAME or --shared-gallery UNIQUE_NAME")


def _query(publisher: str | None, offer: str | None, sku: str | None, community: str | None,
           shared: str | None, latest: bool) -> PublicQuery | None:
    """The public query the flags ask for (None: none asked); an impossible combination is bad input."""
    if offer and not publisher:
        raise ReconcilerError("--offer needs --publisher", "add --publisher NAME (the offer's publisher)")
    if sku and not offer:
        raise ReconcilerError("--sku needs --offer", "add --offer NAME (the sku's offer)")
    given = [f for f, v in (("--publisher", publisher), ("--community-gallery", community),
                            ("--shared-gallery", shared)) if v]
    if len(given) > 1:
        raise ReconcilerError(f"{' and '.join(given)} name different sources", "give one of them")
    if not given:
        return None
    return PublicQuery(publisher=publisher, offer=offer, sku=sku, community_gallery=community,
                       shared_gallery=shared, latest=latest)


def _read(desired: DesiredState, category: CategoryFilter, query: PublicQuery | None,
          latest: bool, family: str | None = None) -> tuple[list[Image], bool] | PublicListing:
    """The images to show (not yet filtered by family and type) and whether they were browsed
    apart from the catalog, or the publishers to narrow by."""
    with provider_for(desired) as provider:
        browse = getattr(provider, "browse_public", None)
        if query is None and category is CategoryFilter.public and browse is not None and family \
                and family.count(":") == 2 and all(family.split(":")):
            # A Marketplace family is publisher:offer:sku: that is where to look.
            publisher, offer, sku = family.split(":")
            query = PublicQuery(publisher=publisher, offer=offer, sku=sku, latest=latest)
        if query is not None:
            if browse is None:
                raise ReconcilerError(
                    f"provider '{desired.catalog.provider}' lists no public images apart from its catalog: "
                    "--publisher, --offer, --sku, --community-gallery and --shared-gallery do not apply",
                    "use --category public: this provider's public images are in its catalog")
            if category is CategoryFilter.user:
                raise ReconcilerError("--category user lists no public images", "drop --category user")
            listing: PublicListing = browse(query)
            return list(listing.images), True
        if category is CategoryFilter.public and browse is not None:
            listing = browse(PublicQuery(latest=latest))
            return listing
        return list(provider.snapshot().images), False


def _selected(images: list[Image], *, family: str | None, type: ImageType | None, category: str,
              latest: bool) -> list[Image]:
    from ...render import filter_images, newest_per_family

    out = filter_images(images, family=family, type=type.value if type else None, category=category)
    return newest_per_family(out) if latest else out


def _publishers(listing: PublicListing, format: ListFormat) -> None:
    from ...render import publishers_json, render_publishers

    if format is ListFormat.json:
        echo(json.dumps(publishers_json(listing), indent=2))
    else:
        echo(render_publishers(listing).rstrip("\n"))
    echo_err(f"Marketplace publishers in {listing.location}: {_NARROW}.")


@images_app.command("list")
@guard
def images_list(
    file: CatalogFileOpt = Path(DEFAULT_FILE),
    family: Annotated[str | None, typer.Option("--family", help="Only images of this family.")] = None,
    type: Annotated[ImageType | None, typer.Option("--type", help="Only VM images or OS images.")] = None,
    category: Annotated[CategoryFilter, typer.Option("--category", help="user, public or all.")] = CategoryFilter.all,
    publisher: PublisherOpt = None,
    offer: OfferOpt = None,
    sku: SkuOpt = None,
    community_gallery: CommunityOpt = None,
    shared_gallery: SharedOpt = None,
    latest: LatestOpt = False,
    format: ListFormatOpt = ListFormat.table,
) -> None:
    """List the images of the live catalog, or browse public images (Marketplace, galleries)."""
    from ...render import render_images_json, render_images_table, render_public_json, render_public_table

    query = _query(publisher, offer, sku, community_gallery, shared_gallery, latest)
    found = _read(load(file), category, query, latest, family)
    if isinstance(found, PublicListing):
        _publishers(found, format)
        return
    # Browsed public images show what picking a base image needs (URN, generation, ...).
    read, public_view = found
    images = _selected(read, family=family, type=type, category="public" if public_view else category.value,
                       latest=latest)
    # With --family, which version latest resolves to (per region where it differs; issue 11 §2).
    marks = None
    if family and not public_view:
        from ...lifecycle import latest_marks

        marks = latest_marks(i for i in images if i.category.value == "user")
    if format is ListFormat.json:
        data: Any = render_public_json(images) if public_view else render_images_json(images)
        if marks is not None:  # the table's LATEST column: "latest", "latest in REGIONS", or null
            data = [{**d, "latest": marks.get(i.key)} for d, i in zip(data, images, strict=True)]
        echo(json.dumps(data, indent=2))
    else:
        echo((render_public_table(images) if public_view else render_images_table(images, marks)).rstrip("\n"))


@images_app.command("families")
@guard
def images_families(
    file: CatalogFileOpt = Path(DEFAULT_FILE),
    category: Annotated[CategoryFilter, typer.Option("--category", help="user, public or all.")] = CategoryFilter.all,
    publisher: PublisherOpt = None,
    offer: OfferOpt = None,
    sku: SkuOpt = None,
    community_gallery: CommunityOpt = None,
    shared_gallery: SharedOpt = None,
    format: ListFormatOpt = ListFormat.table,
) -> None:
    """List the image families of the live catalog, or of a Marketplace publisher or gallery."""
    from ...render import families_json, render_families

    query = _query(publisher, offer, sku, community_gallery, shared_gallery, False)
    found = _read(load(file), category, query, False)
    if isinstance(found, PublicListing):
        _publishers(found, format)
        return
    read, browsed = found
    images = _selected(read, family=None, type=None, category="public" if browsed else category.value,
                       latest=False)
    if format is ListFormat.json:
        echo(json.dumps(families_json(images), indent=2))
    else:
        echo(render_families(images).rstrip("\n"))
