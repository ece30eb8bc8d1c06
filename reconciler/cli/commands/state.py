"""``drift``, ``import``, ``export`` and ``force-unlock``: the live catalog beside plan and apply.

Layer: shell. What may be imported, what an export holds and how a lock is broken are the
operations'; these commands print what they return.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ... import operations
from ...model import Image
from ..app import EXIT_CHANGES, EXIT_OK, app, echo, echo_err, exit_with, guard, safe
from ..env import environment
from ..env import now as env_now
from ..signals import stoppable
from .common import (
    DEFAULT_FILE,
    CatalogFileOpt,
    FileArg,
    NoLockOpt,
    PlanFormat,
    PlanFormatOpt,
    emit_plan,
    load,
    locked,
    provider_for,
    write_atomic,
)


@app.command()
@guard
def drift(
    file: FileArg = Path(DEFAULT_FILE),
    format: PlanFormatOpt = PlanFormat.text,
) -> None:
    """Read-only check of the live catalog against the file: exit 0 in sync, 2 on drift, 1 on error."""
    desired = load(file)
    with provider_for(desired) as provider:
        the_plan = operations.make_plan(desired, provider, now=env_now())
    emit_plan(the_plan, format, drift=True)
    exit_with(EXIT_CHANGES if the_plan.has_changes or the_plan.errored else EXIT_OK)


@app.command("import")
@guard
def import_(
    names: Annotated[list[str], typer.Argument(help="Names of existing user images to adopt.", metavar="NAME")],
    file: CatalogFileOpt = Path(DEFAULT_FILE),
    lock_timeout: Annotated[float, typer.Option("--lock-timeout", min=0, help="Seconds to wait for the lock.")] = 0.0,
    no_lock: NoLockOpt = False,
) -> None:
    """Adopt existing user images: mark them as owned by this catalog."""
    desired = load(file)
    owner = desired.catalog.name

    def adopted(image: Image) -> None:
        echo(f"{safe(image.name)}: imported into catalog {owner}")

    with stoppable(), provider_for(desired) as provider, locked(provider, "import", lock_timeout, file, no_lock):
        adoption = operations.check_adoption(desired, provider.snapshot(), names)
        for image in adoption.already_owned:
            echo(f"{safe(image.name)}: already owned by {owner}")
        operations.adopt(provider, adoption, on_adopted=adopted)
    if not adoption.todo:
        return
    undeclared = [safe(i.name) for i in adoption.undeclared]
    if undeclared and adoption.prune:
        one = len(undeclared) == 1
        echo_err(
            f"warning: policy.prune is on and {', '.join(undeclared)} "
            f"{'is' if one else 'are'} not declared in {file}: the next apply would remove "
            f"{'it' if one else 'them'}. Add the entries first (`reconciler export` writes them)."
        )
    else:
        echo("Add them to the desired-state file (`reconciler export` writes their entries), then run plan.")


@app.command()
@guard
def export(
    file: CatalogFileOpt = Path(DEFAULT_FILE),
    family: Annotated[str | None, typer.Option("--family", help="Only this family.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Write a desired-state file for the owned live images."""
    desired = load(file)
    with provider_for(desired) as provider:
        snapshot = provider.snapshot()
    as_written = operations.load_desired(file, environment(), with_defaults=False).catalog
    result = operations.export_spec(desired, snapshot, as_written=as_written, family=family)
    if result.prune_dropped:
        echo_err(f"note: the export holds only family {family}, so it is written with prune: false")
    if out is None:
        echo(result.text.rstrip("\n"))
    else:
        write_atomic(out, result.text.encode("utf-8"))
        n = len(result.images)
        echo_err(f"Wrote {n} image{'s' if n != 1 else ''} to {out}.")


@app.command("force-unlock")
@guard
def force_unlock(
    lock_id: Annotated[str, typer.Argument(help="The lock id shown by the apply that holds it.", metavar="ID")],
    file: CatalogFileOpt = Path(DEFAULT_FILE),
) -> None:
    """Release a catalog lock left by a killed run. Only the exact lock id releases it."""
    desired = load(file)
    with provider_for(desired) as provider:
        info = provider.force_unlock(lock_id)
    echo(f"Released the lock {safe(info.id)} held by {safe(info.describe())}.")
