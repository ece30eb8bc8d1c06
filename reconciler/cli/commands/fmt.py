"""``fmt`` and ``schema``: a desired-state file in canonical form (Terraform's ``fmt``), and the schema editors use.

Layer: shell. The canonical form is ``reconciler.fmt``'s; this command validates first, then
writes atomically (``files.write_output``) or, with ``--check``, prints the diff and exits 3.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Annotated

import typer

from ... import operations
from .. import env
from ..app import EXIT_ERROR, EXIT_OK, app, color, echo, echo_err, exit_with, guard
from .common import DEFAULT_FILE, FilesArg, read_input, write_atomic

#: ``fmt --check``: the file is not in canonical form (Terraform's ``fmt -check`` exits 3 too).
EXIT_UNFORMATTED = 3


@app.command()
@guard
def fmt(
    files: FilesArg = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; print the diff and exit 3 if a file is not formatted.")
    ] = False,
) -> None:
    """Rewrite the desired-state file in canonical form (key order, indentation), keeping its comments."""
    results = [_fmt_one(file, check) for file in files or [Path(DEFAULT_FILE)]]
    if EXIT_ERROR in results:
        exit_with(EXIT_ERROR)
    exit_with(EXIT_UNFORMATTED if EXIT_UNFORMATTED in results else EXIT_OK)


def _fmt_one(file: Path, check: bool) -> int:
    """Format (or ``check``) one file: its exit code (0, 1 invalid, 3 not formatted)."""
    from ...fmt import format_yaml
    from ...render import render_diagnostics_text

    data = read_input(file, "desired-state file")
    state, diags = operations.check_desired(data, str(file), env.environment())
    if state is None:
        echo_err(render_diagnostics_text(diags, color=color(sys.stderr), count=len(diags) > 1).rstrip("\n"))
        echo_err(f"{file} was not formatted: fix the errors first")
        return EXIT_ERROR
    text = data.decode("utf-8-sig")
    formatted = format_yaml(text)
    if formatted == text:
        return EXIT_OK
    if check:
        diff = difflib.unified_diff(
            text.splitlines(keepends=True), formatted.splitlines(keepends=True), f"{file}", f"{file} (formatted)"
        )
        echo("".join(diff).rstrip("\n"))
        echo_err(f"{file} is not formatted: run `reconciler fmt {file}`")
        return EXIT_UNFORMATTED
    write_atomic(file, formatted.encode("utf-8"))
    echo(f"{file}")
    return EXIT_OK


@app.command()
@guard
def schema() -> None:
    """Print the desired-state file's JSON Schema, every provider's fields included (for editors)."""
    import json

    from ...spec.schema import bundled_schema

    echo(json.dumps(bundled_schema(), indent=2, ensure_ascii=False))
