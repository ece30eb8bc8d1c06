"""``catalog init``: create (or with ``--force``, recreate) the embedded catalog from a seed file.

Layer: shell. Where the catalog goes and how it is replaced under its lock are the operations'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ... import operations
from ..app import catalog_app, echo, guard
from ..env import environment
from .common import DEFAULT_FILE, CatalogFileOpt


@catalog_app.command("init")
@guard
def catalog_init(
    seed: Annotated[Path, typer.Option("--from", help="A JSON seed file of VMs and images.")],
    path: Annotated[
        Path | None, typer.Option("--path", help="The catalog file (default: catalog.path of --file).")
    ] = None,
    file: CatalogFileOpt = Path(DEFAULT_FILE),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing catalog file.")] = False,
    lock_timeout: Annotated[
        float, typer.Option("--lock-timeout", min=0, help="With --force: seconds to wait for the catalog lock.")
    ] = 0.0,
) -> None:
    """Create (or with --force, recreate) the embedded catalog from a seed file.

    --force replaces a catalog only while holding its lock, so never under a running apply.
    """
    result = operations.init_catalog(seed, path=path, file=file, env=environment(), force=force,
                                     lock_timeout=lock_timeout)
    snapshot = result.snapshot
    echo(f"Created the catalog {result.path}: {len(snapshot.vms)} VMs, {len(snapshot.images)} images.")
