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
from ...errors import ConfirmationRefused
from ...model import ApplyResult, Change, Plan
from ...providers import LockHandle, Provider
from .. import env
from ..app import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, app, color, echo, echo_err, exit_with, guard, report
from ..progress import LineHooks, LiveHooks
from ..signals import STOP_GRACE_SECONDS, Stop, abandon_lock, stoppable
from .common import (
    DEFAULT_FILE,
    FileArg,
    PlanFormat,
    PlanFormatOpt,
    PruneOpt,
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
    file: FileArg = Path(DEFAULT_FILE),
    format: Annotated[ValidateFormat, typer.Option("--format", "-f", help="Output format.")] = ValidateFormat.text,
) -> None:
    """Check the desired-state file: syntax, schema and semantics. Reports every error with file:line:col."""
    from ...render import render_diagnostics_github, render_diagnostics_json, render_diagnostics_text

    data = read_input(file, "desired-state file")
    state, diags = operations.check_desired(data, str(file), env.environment())
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
        if state is not None:
            echo(f"{file}: valid ({len(state.images)} image{'s' if len(state.images) != 1 else ''}).")
    exit_with(EXIT_OK if state is not None else EXIT_ERROR)


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


@app.command()
@guard
def plan(
    file: FileArg = Path(DEFAULT_FILE),
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Save the plan to this file for `apply`.")] = None,
    format: PlanFormatOpt = PlanFormat.text,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes (0 none, 1 error).")
    ] = False,
    target: TargetOpt = None,
    prune: PruneOpt = None,
) -> None:
    """Show what apply would change, without changing anything."""
    desired = load(file)
    with provider_for(desired) as provider:
        the_plan = operations.make_plan(desired, provider, prune=prune, targets=target or [])
    emit_plan(the_plan, format)
    _step_summary(the_plan)
    if the_plan.errored:
        if env.github_actions():
            from ...render import render_diagnostics_github

            echo(render_diagnostics_github(list(the_plan.all_errors)).rstrip("\n"))
        exit_with(EXIT_ERROR)
    if out is not None:
        from ...planfile import dump_plan

        write_atomic(out, dump_plan(the_plan, created=_now()))
        echo_err(f"Saved the plan to {out}. Apply exactly this plan with: reconciler apply {out}")
    exit_with(EXIT_CHANGES if detailed_exitcode and the_plan.has_changes else EXIT_OK)


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

    def on_stop(in_flight: list[Change]) -> None:
        stop.waiting = True
        n = len(in_flight)
        echo_err(
            f"{stop.name}: stopping, no new change will start; waiting up to {STOP_GRACE_SECONDS:g}s for the "
            f"{n} change{'s' if n != 1 else ''} in flight ({', '.join(c.name for c in in_flight)}). "
            "Send it again to stop waiting (the catalog lock is then kept while a change may still run)."
        )

    def on_stopped() -> None:
        stop.waiting = False

    def run(hooks: LineHooks | LiveHooks) -> ApplyResult:
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
        typer.Argument(help="A desired-state file, or a plan saved by `plan --out`.", metavar="[FILE | PLAN]"),
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
    prune: PruneOpt = None,
) -> None:
    """Make the live catalog match the file (or run exactly a saved plan)."""
    from ...apply import ApplyInterrupted
    from ...render import render_apply_report

    data = read_input(file, "plan or desired-state file")  # read once: its content says plan or file
    request = operations.read_apply_request(
        file, data, spec_file=spec_file, env=env.environment(), targets=target or [], prune=prune
    )
    with (
        stoppable() as stop,
        provider_for(request.desired) as provider,
        locked(provider, "apply", lock_timeout, request.desired_file) as lock,
    ):
        the_plan = operations.plan_to_apply(request, provider)
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
        echo(render_apply_report(result, color=color(sys.stdout)).rstrip("\n"))
        if interrupted is not None:
            report(interrupted.diagnostics())
            if interrupted.unfinished:
                abandon_lock(interrupted.unfinished, lock, request.desired_file, stop.exit_code)
    if interrupted is not None:
        exit_with(stop.exit_code)
    exit_with(EXIT_OK if result.ok else EXIT_ERROR)
