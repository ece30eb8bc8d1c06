"""``images list`` and ``images families``: read-only views of the live catalog.

Layer: shell. The selection and the tables are ``render``'s; these commands read the snapshot.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ...model import ImageType, Snapshot
from ..app import echo, guard, images_app
from .common import DEFAULT_FILE, CatalogFileOpt, CategoryFilter, ListFormat, ListFormatOpt, load, provider_for


def _snapshot_for(file: Path) -> Snapshot:
    desired = load(file)
    with provider_for(desired) as provider:
        return provider.snapshot()


@images_app.command("list")
@guard
def images_list(
    file: CatalogFileOpt = Path(DEFAULT_FILE),
    family: Annotated[str | None, typer.Option("--family", help="Only images of this family.")] = None,
    type: Annotated[ImageType | None, typer.Option("--type", help="Only VM images or OS images.")] = None,
    category: Annotated[CategoryFilter, typer.Option("--category", help="user, public or all.")] = CategoryFilter.all,
    format: ListFormatOpt = ListFormat.table,
) -> None:
    """List the images of the live catalog."""
    from ...render import filter_images, render_images_json, render_images_table

    images = filter_images(
        _snapshot_for(file).images,
        family=family,
        type=type.value if type else None,
        category=category.value,
    )
    if format is ListFormat.json:
        echo(json.dumps(render_images_json(images), indent=2))
    else:
        echo(render_images_table(images).rstrip("\n"))


@images_app.command("families")
@guard
def images_families(
    file: CatalogFileOpt = Path(DEFAULT_FILE),
    format: ListFormatOpt = ListFormat.table,
) -> None:
    """List the image families of the live catalog."""
    from ...render import families_json, render_families

    images = _snapshot_for(file).images
    if format is ListFormat.json:
        echo(json.dumps(families_json(images), indent=2))
    else:
        echo(render_families(images).rstrip("\n"))
