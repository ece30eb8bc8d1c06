"""``validate``, ``plan``, ``show`` and ``apply``: from the desired-state file to the live catalog.

Layer: shell. Each command parses its options, calls ``reconciler.operations``, renders and exits;
what a saved plan must satisfy, and how ``apply`` tells a saved plan from a file, is the
operations' to decide.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ... import operations
from ...errors import ConfirmationRefused, ReconcilerError
from ...model import ApplyResult, Change, Plan
from ...providers import LockHandle, Provider
from .. import env
from ..app import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    app,
    color,
    echo,
    echo_err,
    exit_now,
    exit_with,
    guard,
    report,
    safe,
)
from ..progress import LineHooks, LiveHooks
from ..signals import STOP_GRACE_SECONDS, Stop, abandon_lock, stoppable
from .common import (
    DEFAULT_FILE,
    FilesArg,
    NoLockOpt,
    PlanFormat,
    PlanFormatOpt,
    PruneOpt,
    ReplaceOpt,
    TargetOpt,
    ValidateFormat,
    emit_plan,
    load,
    locked,
    provider_for,
    read_input,
    write_atomic,
)

# --------------------------------------------------------------------------------------------------
# validate


@app.command()
@guard
def validate(
    files: FilesArg = None,
    format: Annotated[ValidateFormat, typer.Option("--format", "-f", help="Output format.")] = ValidateFormat.text,
) -> None:
    """Check the desired-state file: syntax, schema and semantics. Reports every error with file:line:col."""
    paths = files or [Path(DEFAULT_FILE)]
    if format is ValidateFormat.json and len(paths) > 1:
        raise ReconcilerError("--format json checks one file; several were given", "validate each file on its own")
    valid = [_validate_one(file, format) for file in paths]
    exit_now(EXIT_OK if all(valid) else EXIT_ERROR)


def _validate_one(file: Path, format: ValidateFormat) -> bool:
    from ...render import render_diagnostics_github, render_diagnostics_json, render_diagnostics_text

    # The bytes handed over (a list): no frame holds them once decoded (24 MB of a large file).
    count, diags = operations.validate_desired([read_input(file, "desired-state file")], str(file), env.environment())
    if format is ValidateFormat.json:
        import json

        echo(json.dumps(render_diagnostics_json(diags), indent=2))
    elif format is ValidateFormat.github:
        text = render_diagnostics_github(diags)
        if text:
            echo(text.rstrip("\n"))
    else:
        if diags:
            echo(render_diagnostics_text(diags, color=color(sys.stdout)).rstrip("\n"))
        if count is not None:
            echo(f"{file}: valid ({count} image{'s' if count != 1 else ''}).")
    return count is not None


# --------------------------------------------------------------------------------------------------
# plan / show


def _step_summary(plan: Plan) -> None:
    path = env.step_summary_path()
    if not path:
        return
    from ...render import render_plan_markdown

    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(render_plan_markdown(plan).rstrip("\n") + "\n\n")
    except OSError as e:
        echo_err(f"warning: cannot append to GITHUB_STEP_SUMMARY ({e.strerror or e})")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


PlanPathsArg = Annotated[
    list[Path] | None,
    typer.Argument(
        help="The desired-state file (default: images.yaml); several files, or a directory: plan every "
        "catalog in them.",
        metavar="FILE|DIR...",
        show_default=False,
    ),
]


def _plan_many(paths: list[Path], out: Path | None, format: PlanFormat, detailed_exitcode: bool,
               targeted: bool, prune: bool | None) -> None:
    """``plan DIR`` / ``plan FILE FILE...``: one section per catalog, the summary, the worst exit code."""
    from ...render.catalogs import render_multi_json, render_multi_markdown, render_multi_text
    from .common import open_catalog

    if out is not None:
        raise ReconcilerError(
            "--out saves the plan of one catalog; several were given",
            "plan each catalog on its own (`reconciler catalogs DIR --format github-matrix`, one job each) "
            "to save one plan per catalog",
        )
    if targeted:
        raise ReconcilerError("--target and --replace name images of one catalog; several were given",
                              "plan that catalog's file on its own")
    multi = operations.plan_catalogs(operations.find_catalogs(paths), env.environment(),
                                     open_provider=open_catalog, prune=prune, now=env.now())
    if format is PlanFormat.json:
        import json

        echo(json.dumps(render_multi_json(multi), indent=2))
    elif format is PlanFormat.markdown:
        echo(render_multi_markdown(multi).rstrip("\n"))
    else:
        echo(render_multi_text(multi, color=color(sys.stdout)).rstrip("\n"))
    for c in multi.catalogs:
        if c.plan is not None:
            _step_summary(c.plan)
    if env.github_actions():
        from ...render import render_diagnostics_github

        errors = [d for c in multi.catalogs for d in (*c.errors, *(c.plan.all_errors if c.plan else ()))]
        if errors:
            echo_err(render_diagnostics_github(errors).rstrip("\n"))
    exit_with(multi.exit_code(detailed_exitcode))


@app.command()
@guard
def plan(
    files: PlanPathsArg = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Save the plan to this file for `apply`.")] = None,
    format: PlanFormatOpt = PlanFormat.text,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes (0 none, 1 error).")
    ] = False,
    target: TargetOpt = None,
    replace: ReplaceOpt = None,
    prune: PruneOpt = None,
) -> None:
    """Show what apply would change, without changing anything.

    With several files or a directory, plans each catalog found (docs/github-actions.md, "Many
    catalogs") and exits with the worst code: 1 (an error), then 2 (changes, --detailed-exitcode), 0.
    """
    paths = files or [Path(DEFAULT_FILE)]
    if len(paths) > 1 or paths[0].is_dir():
        _plan_many(paths, out, format, detailed_exitcode, bool(target or replace), prune)
    file = paths[0]  # one file: its plan, as always
    desired = load(file)
    with provider_for(desired) as provider:
        # Shown only (no --out, not the JSON document): no fingerprints to record (issue 13).
        the_plan = operations.make_plan(desired, provider, prune=prune, targets=target or [],
                                         replace=replace or [], now=env.now(),
                                         fingerprints=out is not None or format is PlanFormat.json)
    with operations.read_path():
        emit_plan(the_plan, format)
    _step_summary(the_plan)
    if the_plan.errored:
        if env.github_actions():
            from ...render import render_diagnostics_github

            # On stderr: stdout is the plan (often redirected into plan.md, the PR comment).
            echo_err(render_diagnostics_github(list(the_plan.all_errors)).rstrip("\n"))
        if out is not None:
            echo_err(f"error: the plan has errors, so no plan file was written to {out}")
        exit_now(EXIT_ERROR)
    if out is not None:
        from ...planfile import dump_plan

        with operations.read_path():
            saved = dump_plan(the_plan, created=_now())
        write_atomic(out, saved)
        echo_err(f"Saved the plan to {out}. Apply exactly this plan with: reconciler apply {out}")
    exit_now(EXIT_CHANGES if detailed_exitcode and the_plan.has_changes else EXIT_OK)


@app.command()
@guard
def show(
    plan_file: Annotated[Path, typer.Argument(help="A plan saved by `plan --out`.", metavar="PLAN")],
    format: PlanFormatOpt = PlanFormat.text,
) -> None:
    """Show a saved plan."""
    emit_plan(operations.read_plan(plan_file), format)


# --------------------------------------------------------------------------------------------------
# apply


def _confirm(plan: Plan, auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise ConfirmationRefused(
            "apply needs confirmation, but standard input is not a terminal",
            "review the plan and run `reconciler apply --auto-approve`, or apply a saved plan file",
        )
    n = len(plan.pending)
    destructive = sum(1 for c in plan.pending if c.destructive)
    warn = f" ({destructive} destructive)" if destructive else ""
    try:
        answer = typer.prompt(f"Apply these {n} change{'s' if n != 1 else ''}{warn}? Only 'yes' will be accepted")
    except typer.Abort as e:
        # Click turns Ctrl-C and end-of-input alike into Abort: Ctrl-C keeps its meaning (exit 130).
        if isinstance(e.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise ConfirmationRefused("apply cancelled: no answer", "nothing was changed") from None
    if answer.strip() != "yes":
        raise ConfirmationRefused("apply cancelled", "nothing was changed")


def _run_apply(plan: Plan, provider: Provider, parallelism: int, continue_on_error: bool, lock: LockHandle,
               stop: Stop) -> ApplyResult:
    """``operations.apply_changes`` with the progress display and the stop messages of this terminal."""

    shown: list[LineHooks | LiveHooks] = []  # the display in use, which the stop messages go through

    def say(text: str) -> None:
        if shown:
            shown[0].note(text)
        else:
            echo_err(text)

    def on_stop(in_flight: list[Change]) -> None:
        stop.waiting = True
        n = len(in_flight)
        say(
            f"{stop.received} received: waiting for {n} change{'s' if n != 1 else ''} in flight "
            f"({stop.send_again} to stop waiting)"
        )
        say(
            f"  no new change will start; waiting up to {STOP_GRACE_SECONDS:g}s for "
            f"{', '.join(safe(c.name) for c in in_flight)} to finish, then the report"
        )

    def on_stopped() -> None:
        stop.waiting = False
        if stop.again:
            say(f"{stop.received} received again: no longer waiting for the changes in flight")

    def run(hooks: LineHooks | LiveHooks) -> ApplyResult:
        shown.append(hooks)
        return operations.apply_changes(
            plan, provider, lock, hooks=hooks, parallelism=parallelism, continue_on_error=continue_on_error,
            stop_grace=STOP_GRACE_SECONDS, on_stop=on_stop, on_stopped=on_stopped,
        )

    try:
        if sys.stdout.isatty():
            with LiveHooks(plan) as hooks:
                return run(hooks)
        return run(LineHooks())
    finally:
        stop.waiting = False


@app.command()
@guard
def apply(
    file: Annotated[
        Path,
        typer.Argument(help="A desired-state file, or a plan saved by `plan --out`.", metavar="FILE|PLAN"),
    ] = Path(DEFAULT_FILE),
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Do not ask for confirmation.")] = False,
    parallelism: Annotated[int, typer.Option("--parallelism", min=1, max=100, help="Changes run at once.")] = 10,
    continue_on_error: Annotated[
        bool, typer.Option("--continue-on-error", help="Keep starting changes after one fails.")
    ] = False,
    lock_timeout: Annotated[
        float, typer.Option("--lock-timeout", min=0, help="Seconds to wait for the catalog lock.")
    ] = 0.0,
    spec_file: Annotated[
        Path,
        typer.Option("--file", help="With a saved plan: the desired-state file it was made from."),
    ] = Path(DEFAULT_FILE),
    target: TargetOpt = None,
    replace: ReplaceOpt = None,
    prune: PruneOpt = None,
    no_lock: NoLockOpt = False,
) -> None:
    """Make the live catalog match the file (or run exactly a saved plan)."""
    from ...apply import ApplyInterrupted
    from ...render import render_apply_report

    data = read_input(file, "plan or desired-state file")  # read once: its content says plan or file
    request = operations.read_apply_request(
        file, data, spec_file=spec_file, env=env.environment(), targets=target or [], prune=prune,
        replace=replace or [],
    )
    with (
        stoppable() as stop,
        provider_for(request.desired) as provider,
        locked(provider, "apply", lock_timeout, request.desired_file, no_lock) as lock,
    ):
        the_plan = operations.plan_to_apply(request, provider, now=env.now())
        if request.saved is not None:
            echo(f"Applying the saved plan {file} ({len(the_plan.pending)} changes).")
        else:
            emit_plan(the_plan, PlanFormat.text)
            if the_plan.errored:
                exit_with(EXIT_ERROR)
            if not the_plan.has_changes:
                exit_with(EXIT_OK)
            _confirm(the_plan, auto_approve)
        try:
            result = _run_apply(the_plan, provider, parallelism, continue_on_error, lock, stop)
        except ApplyInterrupted as e:
            # Not a plain error: exit 130 or 143 (README), and still say what was done before it stopped.
            interrupted: ApplyInterrupted | None = e
            result = e.result
        else:
            interrupted = None
        # The report comes before the lock's release: a release failure must not hide it.
        # Without a terminal each change's outcome is already a log line: the report does not repeat it.
        echo(render_apply_report(result, color=color(sys.stdout), logged=not sys.stdout.isatty()).rstrip("\n"))
        if interrupted is not None:
            report(interrupted.diagnostics())
            if interrupted.unfinished:
                abandon_lock(interrupted.unfinished, lock, request.desired_file, stop.exit_code)
    if interrupted is not None:
        exit_with(stop.exit_code)
    exit_with(EXIT_OK if result.ok else EXIT_ERROR)
