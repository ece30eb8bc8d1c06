"""What the commands share: option types, output formats, and the shell's side of the operations.

Layer: shell. The helpers here bind ``reconciler.operations`` to this process (its environment,
its stderr); ``open_catalog`` is the one place a command opens a provider, so a test can replace it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ... import operations
from ...model import DesiredState, Plan
from ...providers import LockHandle, Provider
from ..app import color, echo, warn
from ..env import environment

DEFAULT_FILE = operations.DEFAULT_FILE


class PlanFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


class ValidateFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"


class ListFormat(str, Enum):
    table = "table"
    json = "json"


class CategoryFilter(str, Enum):
    user = "user"
    public = "public"
    all = "all"


PlanFormatOpt = Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format.")]
ListFormatOpt = Annotated[ListFormat, typer.Option("--format", "-f", help="Output format.")]
FileArg = Annotated[
    Path,
    typer.Argument(help="The desired-state file.", show_default=True),
]
#: ``--file`` of the commands that need only the catalog section of the desired-state file.
#: ``FILE...`` of the commands a pre-commit hook runs on several files (validate, fmt).
FilesArg = Annotated[
    list[Path] | None,
    typer.Argument(
        help="The desired-state file (default: images.yaml); several may be given (a pre-commit hook).",
        metavar="FILE...",
        show_default=False,
    ),
]
CatalogFileOpt = Annotated[Path, typer.Option("--file", help="The desired-state file (for the catalog).")]
TargetOpt = Annotated[
    list[str] | None,
    typer.Option("--target", "-t", help="Limit the plan to this image (repeatable).", show_default=False),
]
ReplaceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--replace",
        help="Recapture this declared, owned image even if nothing differs (repeatable).",
        metavar="NAME",
        show_default=False,
    ),
]
NoLockOpt = Annotated[
    bool,
    typer.Option(
        "--no-lock",
        help="Do not take the catalog lock (Terraform's -lock=false): only when nothing else can apply.",
    ),
]
PruneOpt = Annotated[
    bool | None,
    typer.Option("--prune/--no-prune", help="Override the file's policy.prune.", show_default=False),
]


def load(file: Path) -> DesiredState:
    """The desired-state file, with this process's environment defaults and trusted hosts."""
    return operations.load_desired(file, environment())


def open_catalog(desired: DesiredState) -> Provider:
    return operations.open_catalog(desired, environment())


@contextmanager
def provider_for(desired: DesiredState) -> Iterator[Provider]:
    provider = open_catalog(desired)
    try:
        yield provider
    finally:
        provider.close()


def locked(provider: Provider, command: str, timeout: float, file: Path,
           no_lock: bool = False) -> AbstractContextManager[LockHandle]:
    """``operations.catalog_lock`` for this process: a release failure after an error is a warning;
    ``no_lock`` (``--no-lock``) takes none, with a warning on stderr."""
    return operations.catalog_lock(provider, command, timeout, file=file, env=environment(), warn=warn,
                                   lock=not no_lock)


def read_input(path: Path, what: str, hint: str | None = None) -> bytes:
    """A regular file of at most ``files.MAX_INPUT_BYTES`` (``files.read_input``)."""
    from ...files import read_input

    return read_input(path, what, hint)


def write_atomic(path: Path, data: bytes) -> None:
    """``--out``: atomic over a regular file or a new path, write-through into /dev/stdout or a FIFO
    (``files.write_output``; README "Commands")."""
    from ...files import write_output

    write_output(path, data)


#: The pieces of the JSON document written at a time (``emit_plan``).
_JSON_BATCH = 8192


def emit_plan(plan: Plan, format: PlanFormat, *, drift: bool = False) -> None:
    from ...render import render_plan_json, render_plan_markdown, render_plan_text

    if format is PlanFormat.json:
        import json
        from itertools import islice

        # Written as it is encoded, 8,192 pieces at a time (``json.dumps`` with an indent joins a
        # list of every piece first: 50 MB at the peak of a 100,000-image plan; issue 13). The same text.
        pieces = json.JSONEncoder(indent=2).iterencode(render_plan_json(plan))
        while batch := list(islice(pieces, _JSON_BATCH)):
            echo("".join(batch), nl=False)
        echo()
    elif format is PlanFormat.markdown:
        if drift:
            echo("**Drift check** (read-only): what apply would change to match the desired state.\n")
        echo(render_plan_markdown(plan).rstrip("\n"))
    else:
        echo(render_plan_text(plan, color=color(sys.stdout), drift=drift).rstrip("\n"))

