"""``catalogs [FILE | DIR]...``: the desired-state files found, for a GitHub Actions ``strategy.matrix``.

Layer: shell. Which files are catalogs is the operations' rule (``operations.find_catalogs``).
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ... import operations
from ..app import app, echo, guard
from .common import DEFAULT_FILE


class CatalogsFormat(str, Enum):
    text = "text"
    json = "json"
    github_matrix = "github-matrix"
    names = "names"


PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(help="Desired-state files, or directories to search for them.", metavar="FILE|DIR...",
                   show_default=False),
]


@app.command()
@guard
def catalogs(
    paths: PathsArg = None,
    format: Annotated[
        CatalogsFormat,
        typer.Option("--format", "-f", help="text | json | github-matrix (for strategy.matrix) | names."),
    ] = CatalogsFormat.text,
) -> None:
    """List the catalogs of desired-state files: one job per catalog with --format github-matrix."""
    from ...render.catalogs import catalogs_matrix, comment_marker, render_catalogs_table

    found = operations.find_catalogs(paths or [Path(DEFAULT_FILE)])
    if format is CatalogsFormat.github_matrix:
        echo(json.dumps(catalogs_matrix(found), separators=(",", ":")))  # one line, for $GITHUB_OUTPUT
    elif format is CatalogsFormat.json:
        echo(json.dumps(catalogs_matrix(found)["include"], indent=2))
    elif format is CatalogsFormat.names:
        echo(comment_marker(found).rstrip("\n"))
    else:
        echo(render_catalogs_table(found).rstrip("\n"))
