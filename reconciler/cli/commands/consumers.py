"""``consumers``: what still uses the catalog's images (VMs, scale sets, classic roles).

Layer: shell. Which images and who uses them are the operations' (``operations.find_consumers``);
the table and the JSON are ``render``'s. docs/lifecycle.md describes the output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ... import operations
from ..app import app, echo, guard
from .common import DEFAULT_FILE, CatalogFileOpt, ListFormat, ListFormatOpt, load, provider_for


@app.command()
@guard
def consumers(
    name: Annotated[str | None, typer.Argument(help="Only this image.", metavar="[NAME]")] = None,
    file: CatalogFileOpt = Path(DEFAULT_FILE),
    family: Annotated[str | None, typer.Option("--family", help="Only images of this family.")] = None,
    format: ListFormatOpt = ListFormat.table,
) -> None:
    """List what uses each image: VMs and scale sets created from it (or from its gallery definition)."""
    from ...render.lifecycle import consumers_json, render_consumers_table

    desired = load(file)
    with provider_for(desired) as provider:
        report = operations.find_consumers(desired, provider, name=name, family=family)
    if format is ListFormat.json:
        echo(json.dumps(consumers_json(report.images, report.consumers), indent=2))
    else:
        echo(render_consumers_table(report.images, report.consumers).rstrip("\n"))
