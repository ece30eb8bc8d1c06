"""The command line (typer): the only module that prints, prompts, reads the environment or exits.

Every command goes through ``_guard``: a ``ReconcilerError`` becomes its diagnostics on stderr and
exit 1; anything else is an internal error whose traceback shows only with ``--debug``. Usage
errors (a bad flag) also exit 1, so exit 2 always means "changes present" (plan) or "drift" (drift).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from . import __version__
from .errors import (
    ConfirmationRefused,
    Diagnostic,
    PlanFileError,
    ReconcilerError,
    SpecError,
)
from .model import ApplyResult, Category, Change, ChangeResult, DesiredState, ImageType, Outcome, Plan, Snapshot
from .providers import LockInfo, Provider, open_provider

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2

DEFAULT_FILE = "images.yaml"

log = logging.getLogger("reconciler")

app = typer.Typer(
    name="reconciler",
    help="Declarative reconciler for VM images: validate, plan and apply a desired-state file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
images_app = typer.Typer(help="Read-only views of the live catalog.", no_args_is_help=True)
catalog_app = typer.Typer(help="Create and seed the embedded (local) catalog.", no_args_is_help=True)
emulator_app = typer.Typer(help="Loopback emulators of the Azure APIs, for demos and tests.", no_args_is_help=True)
app.add_typer(images_app, name="images")
app.add_typer(catalog_app, name="catalog")
app.add_typer(emulator_app, name="emulator")


class _Options:
    debug = False
    color: bool | None = None


OPTS = _Options()


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


# --------------------------------------------------------------------------------------------------
# Shell helpers: output, environment, errors


def _color(stream: Any) -> bool:
    if OPTS.color is not None:
        return OPTS.color
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _out(text: str = "", nl: bool = True) -> None:
    typer.echo(text, nl=nl)


def _err(text: str = "") -> None:
    typer.echo(text, err=True)


def _safe(value: object) -> str:
    """An untrusted value (a live image name, a lock holder, an error text) ready to be printed.

    The renderers escape what they put into output; the few lines this module writes itself use the
    same function (``render.escape_controls``): no control or bidi character reaches the terminal.
    """
    from .render import escape_controls

    return escape_controls(str(value))


def _exit(code: int) -> NoReturn:
    raise typer.Exit(code)


def _report(diags: list[Diagnostic]) -> None:
    from .render import render_diagnostics_text

    _err(render_diagnostics_text(diags, color=_color(sys.stderr), count=len(diags) > 1).rstrip("\n"))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from .render import render_diagnostics_github

        _out(render_diagnostics_github(diags).rstrip("\n"))


F = TypeVar("F", bound=Callable[..., Any])


def _guard(fn: F) -> F:
    """Translate errors at the shell boundary: messages, not tracebacks (those only with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except ReconcilerError as e:
            if OPTS.debug:
                traceback.print_exc()
            _report(e.diagnostics())
            _exit(EXIT_ERROR)
        except KeyboardInterrupt:
            _err("interrupted")
            _exit(130)
        except Exception as e:  # noqa: BLE001 - the one catch-all of the program
            if OPTS.debug:
                traceback.print_exc()
                _err(f"internal error: {type(e).__name__}: {_safe(e)}")
            else:
                _err(f"internal error: {type(e).__name__}: {_safe(e)}\n(run again with --debug for the traceback)")
            _exit(EXIT_ERROR)

    return wrapper  # type: ignore[return-value]


def _env_defaults() -> dict[str, Any]:
    """Catalog settings from the environment: ``RECONCILER_<SETTING>``, ``AZURE_SUBSCRIPTION_ID``.

    A setting written in the file wins; these only fill the gaps.
    """
    from .spec import load_schema

    schema = load_schema()
    catalog = schema["properties"]["catalog"]
    if "$ref" in catalog:  # "#/$defs/catalog"
        catalog = schema["$defs"][catalog["$ref"].rsplit("/", 1)[-1]]
    known = set(catalog.get("properties", {})) - {"name", "provider"}
    out: dict[str, Any] = {}
    if os.environ.get("AZURE_SUBSCRIPTION_ID"):
        out["subscription"] = os.environ["AZURE_SUBSCRIPTION_ID"]
    for name in sorted(known):
        value = os.environ.get(f"RECONCILER_{name.upper()}")
        if value:
            out[name] = value
    return out


def _trusted_hosts() -> tuple[str, ...]:
    """``RECONCILER_TRUSTED_ENDPOINTS``: hosts besides the cloud's and loopback that may receive a
    credential. Only the environment (the CI's configuration) can name them, never the file."""
    from .providers.clouds import TRUSTED_ENV, parse_trusted_hosts

    return parse_trusted_hosts(os.environ.get(TRUSTED_ENV))


def _load(file: Path) -> DesiredState:
    from .spec import load_spec

    return load_spec(file, defaults=_env_defaults(), trusted_hosts=_trusted_hosts())


def _parse(data: bytes, file: Path) -> DesiredState:
    """``_load`` for bytes already read (``apply`` reads its argument once to tell plan from file)."""
    from .spec import parse_spec

    return parse_spec(data, str(file), defaults=_env_defaults(), trusted_hosts=_trusted_hosts())


def _open(desired: DesiredState) -> Provider:
    return open_provider(desired.catalog, env=os.environ)


@contextmanager
def _provider(desired: DesiredState) -> Iterator[Provider]:
    provider = _open(desired)
    try:
        yield provider
    finally:
        provider.close()


def _unlock_command(lock_id: str, file: Path) -> str:
    return f"reconciler force-unlock {lock_id} --file {file}"


@contextmanager
def _locked(provider: Provider, command: str, timeout: float, file: Path) -> Iterator[Any]:
    """Hold the catalog lock for ``command``; ``file`` is the desired-state file (for force-unlock).

    Whatever the command printed stays printed: a release failure is reported after it, as an
    error (exit 1) with the exact ``force-unlock`` command, never instead of it.
    """
    info = LockInfo.new(command, run_id=os.environ.get("GITHUB_RUN_ID", ""))
    handle = provider.acquire_lock(info, timeout)
    log.debug("lock %s taken", info.id)
    try:
        yield handle
    except BaseException:
        # Release, but never let a release problem hide the error that got us here.
        try:
            handle.release()
        except ReconcilerError as e:
            _err(f"warning: could not release the catalog lock {_safe(info.id)}: {_safe(e)}")
            _err(f"hint: if the lock is still held, clear it with: {_unlock_command(info.id, file)}")
        raise
    try:
        handle.release()
    except ReconcilerError as e:
        raise ReconcilerError(
            f"{command} finished, but the catalog lock {info.id} could not be released: {e.message}",
            f"{e.hint + '; ' if e.hint else ''}if the next apply still "
            f"finds it held, clear it with: {_unlock_command(info.id, file)}",
        ) from e


#: Seconds apply waits, after SIGTERM or Ctrl-C, for the changes already running to finish before it
#: reports and exits anyway. Below the usual grace periods before SIGKILL (Kubernetes 30 s,
#: GitLab's job timeout handling, systemd 90 s), leaving time to print the report and release.
STOP_GRACE_SECONDS = 20.0


class _Stop:
    """The first stop signal received while a command that holds the lock runs (None: none yet)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        #: True while apply waits for the changes in flight: a second signal then ends the wait.
        self.waiting = False

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports it: 143 for SIGTERM, 130 for Ctrl-C."""
        return 128 + (self.signum or 2)

    @property
    def name(self) -> str:
        import signal

        return signal.Signals(self.signum).name if self.signum else "SIGINT"


@contextmanager
def _stoppable() -> Iterator[_Stop]:
    """SIGTERM is handled like Ctrl-C: both raise KeyboardInterrupt in the main thread, once.

    CI runners, Kubernetes and `timeout` stop a job with SIGTERM, whose default action kills the
    process and leaves the catalog lock held. Here the first SIGINT or SIGTERM interrupts the
    command (apply then stops starting changes and waits for those in flight). A later one cuts
    that wait short (apply catches it) and is ignored at any other moment, so that it cannot cut
    the report or the lock release in half. The previous handlers come back afterwards. A
    KeyboardInterrupt that leaves the command exits 128 + the signal number.
    """
    import signal

    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop.signum is None:
            stop.signum = signum
            raise KeyboardInterrupt
        if stop.waiting:
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    except KeyboardInterrupt:
        if OPTS.debug:
            traceback.print_exc()
        _err("terminated (SIGTERM)" if stop.signum == signal.SIGTERM else "interrupted")
        _exit(stop.exit_code)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


FileArg = Annotated[
    Path,
    typer.Argument(help="The desired-state file.", show_default=True),
]


# --------------------------------------------------------------------------------------------------
# Global options


def _version(value: bool) -> None:
    if value:
        _out(f"reconciler {__version__}")
        raise typer.Exit(0)


class _StderrLog(logging.Handler):
    """Warnings of the ``reconciler`` loggers (a retried connection, ...) as ``warning: ...`` lines
    on stderr. Resolves stderr at each line, so a test runner's capture sees them too."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _err(f"{record.levelname.lower()}: {record.getMessage()}")
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


def _configure_logging(debug: bool) -> None:
    """``--debug``: everything at DEBUG with timestamps; otherwise WARNING and above of the
    ``reconciler`` loggers on stderr (one line each). Idempotent: ``main`` may run many times in
    one process (tests)."""
    logger = logging.getLogger("reconciler")
    for h in [h for h in logger.handlers if isinstance(h, _StderrLog)]:
        logger.removeHandler(h)
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        return
    # With a handler here, Python's last-resort one (bare messages) stays silent.
    logger.addHandler(_StderrLog(logging.WARNING))


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and HTTP debug logs.")] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="Never colour output (NO_COLOR is honoured too).")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Declarative reconciler for VM images."""
    OPTS.debug = debug or os.environ.get("RECONCILER_DEBUG", "") not in ("", "0", "false")
    OPTS.color = False if no_color else None
    _configure_logging(OPTS.debug)


# --------------------------------------------------------------------------------------------------
# validate


@app.command()
@_guard
def validate(
    file: FileArg = Path(DEFAULT_FILE),
    format: Annotated[ValidateFormat, typer.Option("--format", "-f", help="Output format.")] = ValidateFormat.text,
) -> None:
    """Check the desired-state file: syntax, schema and semantics. Reports every error with file:line:col."""
    from .render import render_diagnostics_github, render_diagnostics_json, render_diagnostics_text
    from .spec import check_spec

    data = _read_input(file, "desired-state file")
    state, diags = check_spec(data, str(file), defaults=_env_defaults(), trusted_hosts=_trusted_hosts())
    if format is ValidateFormat.json:
        import json

        _out(json.dumps(render_diagnostics_json(diags), indent=2))
    elif format is ValidateFormat.github:
        text = render_diagnostics_github(diags)
        if text:
            _out(text.rstrip("\n"))
    else:
        if diags:
            _out(render_diagnostics_text(diags, color=_color(sys.stdout)).rstrip("\n"))
        if state is not None:
            _out(f"{file}: valid ({len(state.images)} image{'s' if len(state.images) != 1 else ''}).")
    _exit(EXIT_OK if state is not None else EXIT_ERROR)


# --------------------------------------------------------------------------------------------------
# plan / show


def _make_plan(desired: DesiredState, provider: Provider, prune: bool | None, targets: list[str]) -> Plan:
    from .plan import make_plan

    return make_plan(desired, provider.snapshot(), provider.capabilities, prune=prune, targets=targets)


def _emit_plan(plan: Plan, format: PlanFormat, *, drift: bool = False) -> None:
    from .render import render_plan_json, render_plan_markdown, render_plan_text

    if format is PlanFormat.json:
        import json

        _out(json.dumps(render_plan_json(plan), indent=2, sort_keys=False))
    elif format is PlanFormat.markdown:
        if drift:
            _out("**Drift check** (read-only): what apply would change to match the desired state.\n")
        _out(render_plan_markdown(plan).rstrip("\n"))
    else:
        _out(render_plan_text(plan, color=_color(sys.stdout), drift=drift).rstrip("\n"))


def _step_summary(plan: Plan) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    from .render import render_plan_markdown

    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(render_plan_markdown(plan).rstrip("\n") + "\n\n")
    except OSError as e:
        _err(f"warning: cannot append to GITHUB_STEP_SUMMARY ({e.strerror or e})")


#: ``--file`` of the commands that need only the catalog section of the desired-state file.
CatalogFileOpt = Annotated[Path, typer.Option("--file", help="The desired-state file (for the catalog).")]
TargetOpt = Annotated[
    list[str] | None,
    typer.Option("--target", "-t", help="Limit the plan to this image (repeatable).", show_default=False),
]
PruneOpt = Annotated[
    bool | None,
    typer.Option("--prune/--no-prune", help="Override the file's policy.prune.", show_default=False),
]


@app.command()
@_guard
def plan(
    file: FileArg = Path(DEFAULT_FILE),
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Save the plan to this file for `apply`.")] = None,
    format: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format.")] = PlanFormat.text,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes (0 none, 1 error).")
    ] = False,
    target: TargetOpt = None,
    prune: PruneOpt = None,
) -> None:
    """Show what apply would change, without changing anything."""
    desired = _load(file)
    with _provider(desired) as provider:
        the_plan = _make_plan(desired, provider, prune, target or [])
    _emit_plan(the_plan, format)
    _step_summary(the_plan)
    if the_plan.errored:
        if os.environ.get("GITHUB_ACTIONS") == "true":
            from .render import render_diagnostics_github

            _out(render_diagnostics_github(list(the_plan.all_errors)).rstrip("\n"))
        _exit(EXIT_ERROR)
    if out is not None:
        from .planfile import dump_plan

        _write_atomic(out, dump_plan(the_plan, created=_now()))
        _err(f"Saved the plan to {out}. Apply exactly this plan with: reconciler apply {out}")
    _exit(EXIT_CHANGES if detailed_exitcode and the_plan.has_changes else EXIT_OK)


def _write_atomic(path: Path, data: bytes) -> None:
    """``--out``: atomic over a regular file or a new path, write-through into /dev/stdout or a FIFO
    (``files.write_output``; README "Commands")."""
    from .files import write_output

    write_output(path, data)


def _read_input(path: Path, what: str, hint: str | None = None) -> bytes:
    """A regular file of at most ``files.MAX_INPUT_BYTES`` (``files.read_input``)."""
    from .files import read_input

    return read_input(path, what, hint)


def _read_plan(path: Path, data: bytes | None = None) -> Plan:
    from .planfile import load_plan

    if data is None:
        data = _read_input(path, "plan file", "pass the file written by `reconciler plan --out`")
    return load_plan(data, str(path))


@app.command()
@_guard
def show(
    plan_file: Annotated[Path, typer.Argument(help="A plan saved by `plan --out`.", metavar="PLAN")],
    format: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format.")] = PlanFormat.text,
) -> None:
    """Show a saved plan."""
    _emit_plan(_read_plan(plan_file), format)


# --------------------------------------------------------------------------------------------------
# apply


def _verify_saved_plan(saved: Plan, desired: DesiredState, snapshot: Snapshot, provider: Provider, file: Path) -> None:
    """A saved plan runs only if it is still the plan (docs/plan-format.md, "What applying a saved
    plan guarantees"): made for this catalog, not stale (the fast first answer), and equal to a
    fresh plan of the same desired-state file and live ``snapshot`` with its own prune/targets."""
    from .plan import make_plan
    from .planfile import ensure_fresh, ensure_same_plan

    if saved.errored:
        raise ReconcilerError("the saved plan has errors and cannot be applied", "fix them and run plan again")
    if saved.catalog != desired.catalog.name or saved.provider != desired.catalog.provider:
        raise PlanFileError(
            f"{file} was made for catalog '{saved.catalog}' ({saved.provider}), "
            f"not '{desired.catalog.name}' ({desired.catalog.provider})",
            "apply it with the desired-state file it was made from (--file)",
        )
    ensure_fresh(saved, snapshot, desired.digest)
    fresh = make_plan(desired, snapshot, provider.capabilities, prune=saved.prune, targets=saved.targets)
    ensure_same_plan(saved, fresh, str(file))


class _LineHooks:
    """CI output: one log line per state change of a change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def _line(self, change: Change, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with self._lock:
            _out(f"{stamp} {change.action.value or '='} {_safe(change.name)}: {_safe(text)}")

    def started(self, change: Change) -> None:
        self._line(change, f"{change.action.word} started")

    def step(self, change: Change, message: str) -> None:
        self._line(change, message)

    def finished(self, change: Change, result: ChangeResult, error: BaseException | None) -> None:
        if result.outcome is Outcome.DONE:
            self._line(change, f"{change.action.word} done in {result.seconds:.1f}s")
        else:
            self._line(change, f"{change.action.word} FAILED after {result.seconds:.1f}s: {result.error}")
            if OPTS.debug and error is not None:
                traceback.print_exception(error)


class _LiveHooks:
    """Terminal output: a live progress line per change (rich, through typer)."""

    def __init__(self, plan: Plan) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = Console(no_color=not _color(sys.stdout))
        self.progress = Progress(
            SpinnerColumn(finished_text="•"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.tasks: dict[str, Any] = {}
        for c in plan.pending:
            self.tasks[c.key] = self.progress.add_task(self._line(c, "waiting"), total=1, start=False)

    @staticmethod
    def _line(change: Change, text: str) -> str:
        """Escaped twice: control characters (``_safe``), then rich markup (``[link=...]`` in a name)."""
        from rich.markup import escape

        return escape(f"{change.action.value} {_safe(change.name)}: {_safe(text)}")

    def __enter__(self) -> _LiveHooks:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def started(self, change: Change) -> None:
        task = self.tasks[change.key]
        self.progress.start_task(task)
        self.progress.update(task, description=self._line(change, change.action.word))

    def step(self, change: Change, message: str) -> None:
        self.progress.update(self.tasks[change.key], description=self._line(change, message))

    def finished(self, change: Change, result: ChangeResult, error: BaseException | None) -> None:
        word = "done" if result.outcome is Outcome.DONE else f"FAILED: {result.error}"
        self.progress.update(self.tasks[change.key], description=self._line(change, word), completed=1)


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


def _run_apply(
    plan: Plan,
    provider: Provider,
    parallelism: int,
    continue_on_error: bool,
    lock: Any,
    stop: _Stop | None = None,
) -> ApplyResult:
    from .apply import apply_plan

    stop = stop or _Stop()

    def on_stop(in_flight: list[Change]) -> None:
        stop.waiting = True
        n = len(in_flight)
        _err(
            f"{stop.name}: stopping, no new change will start; waiting up to {STOP_GRACE_SECONDS:g}s for the "
            f"{n} change{'s' if n != 1 else ''} in flight ({', '.join(c.name for c in in_flight)}). "
            "Send it again to stop waiting (the catalog lock is then kept while a change may still run)."
        )

    options: dict[str, Any] = dict(
        parallelism=parallelism,
        continue_on_error=continue_on_error,
        still_locked=getattr(lock, "check", None),
        stop_grace=STOP_GRACE_SECONDS,
        on_stop=on_stop,
        on_stopped=lambda: setattr(stop, "waiting", False),
    )
    try:
        if sys.stdout.isatty():
            with _LiveHooks(plan) as hooks:
                return apply_plan(plan, provider, hooks=hooks, **options)
        return apply_plan(plan, provider, hooks=_LineHooks(), **options)
    finally:
        stop.waiting = False


def _abandon_lock(interrupted: Any, lock: Any, file: Path, code: int) -> NoReturn:
    """Exit now, keeping the catalog lock: changes we stopped waiting for may still be running.

    Releasing it would let the next apply start on top of them. Their threads would also keep a
    normal exit waiting, so the process ends with ``os._exit`` once the output is flushed.
    """
    lock_id = lock.info.id
    _err(
        f"warning: {len(interrupted.unfinished)} change{'s' if len(interrupted.unfinished) != 1 else ''} "
        f"({', '.join(interrupted.unfinished)}) may still be running, so the catalog lock {lock_id} was kept: "
        "no other apply starts on top of them."
    )
    _err(f"hint: once they are over, run `reconciler plan`, then: {_unlock_command(lock_id, file)}")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@app.command()
@_guard
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
    from .planfile import is_plan_document

    # A plan or a desired-state file is told by its content (a plan_file envelope), not its name:
    # images.json is a desired-state file (JSON is YAML). The file is read once.
    data = _read_input(file, "plan or desired-state file")
    saved = is_plan_document(data)
    if saved and (target or prune is not None):
        raise ReconcilerError(
            "--target and --prune cannot be used with a saved plan",
            "the saved plan already decided what to change: make a new plan with those options",
        )
    saved_plan = _read_plan(file, data) if saved else None
    desired = _load(spec_file) if saved else _parse(data, file)
    desired_file = spec_file if saved else file
    with (
        _stoppable() as stop,
        _provider(desired) as provider,
        _locked(provider, "apply", lock_timeout, desired_file) as lock,
    ):
        if saved_plan is not None:
            the_plan = saved_plan
            _verify_saved_plan(the_plan, desired, provider.snapshot(), provider, file)
            _out(f"Applying the saved plan {file} ({len(the_plan.pending)} changes).")
        else:
            the_plan = _make_plan(desired, provider, prune, target or [])
            _emit_plan(the_plan, PlanFormat.text)
            if the_plan.errored:
                _exit(EXIT_ERROR)
            if not the_plan.has_changes:
                _exit(EXIT_OK)
            _confirm(the_plan, auto_approve)
        if the_plan.errored:
            raise ReconcilerError("the saved plan has errors and cannot be applied", "fix them and run plan again")
        from .apply import ApplyInterrupted
        from .render import render_apply_report

        try:
            result = _run_apply(the_plan, provider, parallelism, continue_on_error, lock, stop)
        except ApplyInterrupted as e:
            # Not a plain error: exit 130 or 143 (README), and still say what was done before it stopped.
            interrupted: ApplyInterrupted | None = e
            result = e.result
        else:
            interrupted = None
        # The report comes before the lock's release: a release failure must not hide it.
        _out(render_apply_report(result, color=_color(sys.stdout)).rstrip("\n"))
        if interrupted is not None:
            _report(interrupted.diagnostics())
            if interrupted.unfinished:
                _abandon_lock(interrupted, lock, desired_file, stop.exit_code)
    if interrupted is not None:
        _exit(stop.exit_code)
    _exit(EXIT_OK if result.ok else EXIT_ERROR)


# --------------------------------------------------------------------------------------------------
# drift, import, export, force-unlock


@app.command()
@_guard
def drift(
    file: FileArg = Path(DEFAULT_FILE),
    format: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format.")] = PlanFormat.text,
) -> None:
    """Read-only check of the live catalog against the file: exit 0 in sync, 2 on drift, 1 on error."""
    desired = _load(file)
    with _provider(desired) as provider:
        the_plan = _make_plan(desired, provider, None, [])
    _emit_plan(the_plan, format, drift=True)
    _exit(EXIT_CHANGES if the_plan.has_changes or the_plan.errored else EXIT_OK)


@app.command("import")
@_guard
def import_(
    names: Annotated[list[str], typer.Argument(help="Names of existing user images to adopt.", metavar="NAME...")],
    file: CatalogFileOpt = Path(DEFAULT_FILE),
    lock_timeout: Annotated[float, typer.Option("--lock-timeout", min=0, help="Seconds to wait for the lock.")] = 0.0,
) -> None:
    """Adopt existing user images: mark them as owned by this catalog."""
    from .rules import adopt_refusal

    desired = _load(file)
    owner = desired.catalog.name
    problems: list[Diagnostic] = []
    with _stoppable(), _provider(desired) as provider, _locked(provider, "import", lock_timeout, file):
        live = provider.snapshot().image_index()
        todo = []
        for name in names:
            image = live.get(name.casefold())
            refusal = adopt_refusal(image, owner) if image is not None else None
            if image is None:
                problems.append(Diagnostic.error(f"no image named '{name}' in the catalog", "check the name"))
            elif refusal is not None:
                problems.append(Diagnostic.error(refusal.summary, refusal.hint))
            elif image.owner == owner:
                _out(f"{_safe(image.name)}: already owned by {owner}")
            else:
                todo.append(image)
        if problems:
            raise SpecError(problems)
        for image in todo:
            provider.adopt(image)
            _out(f"{_safe(image.name)}: imported into catalog {owner}")
    if todo:
        declared = {s.key for s in desired.images}
        undeclared = [_safe(i.name) for i in todo if i.key not in declared]
        if undeclared and desired.policy.prune:
            _err(
                f"warning: policy.prune is on and {', '.join(undeclared)} "
                f"{'is' if len(undeclared) == 1 else 'are'} not declared in {file}: the next apply would remove "
                f"{'it' if len(undeclared) == 1 else 'them'}. Add the entries first (`reconciler export` writes them)."
            )
        else:
            _out("Add them to the desired-state file (`reconciler export` writes their entries), then run plan.")


@app.command()
@_guard
def export(
    file: CatalogFileOpt = Path(DEFAULT_FILE),
    family: Annotated[str | None, typer.Option("--family", help="Only this family.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Write a desired-state file for the owned live images."""
    from .model import spec_from_image
    from .spec import dump_spec, load_spec

    desired = _load(file)
    with _provider(desired) as provider:
        snapshot = provider.snapshot()
    # The exported file keeps the catalog settings as the file wrote them: values that came from
    # the environment (subscription, ...) stay in the environment.
    as_written = load_spec(file, defaults={}, trusted_hosts=_trusted_hosts()).catalog
    owned = [
        i
        for i in snapshot.images
        if i.owner == desired.catalog.name
        and i.category is Category.USER
        and (family is None or (i.family or "") == family)
    ]
    policy = desired.policy
    if family is not None and policy.prune:
        # A one-family file must not prune every other family if someone applies it as it is.
        policy = replace(policy, prune=False)
        _err(f"note: the export holds only family {family}, so it is written with prune: false")
    text = dump_spec(as_written, policy, [spec_from_image(i) for i in sorted(owned, key=lambda i: i.key)])
    if out is None:
        _out(text.rstrip("\n"))
    else:
        _write_atomic(out, text.encode("utf-8"))
        _err(f"Wrote {len(owned)} image{'s' if len(owned) != 1 else ''} to {out}.")


@app.command("force-unlock")
@_guard
def force_unlock(
    lock_id: Annotated[str, typer.Argument(help="The lock id shown by the apply that holds it.", metavar="ID")],
    file: CatalogFileOpt = Path(DEFAULT_FILE),
) -> None:
    """Release a catalog lock left by a killed run. Only the exact lock id releases it."""
    desired = _load(file)
    with _provider(desired) as provider:
        info = provider.force_unlock(lock_id)
    _out(f"Released the lock {_safe(info.id)} held by {_safe(info.describe())}.")


# --------------------------------------------------------------------------------------------------
# images


def _snapshot_for(file: Path) -> Snapshot:
    desired = _load(file)
    with _provider(desired) as provider:
        return provider.snapshot()


@images_app.command("list")
@_guard
def images_list(
    file: CatalogFileOpt = Path(DEFAULT_FILE),
    family: Annotated[str | None, typer.Option("--family", help="Only images of this family.")] = None,
    type: Annotated[ImageType | None, typer.Option("--type", help="Only VM images or OS images.")] = None,
    category: Annotated[CategoryFilter, typer.Option("--category", help="user, public or all.")] = CategoryFilter.all,
    format: Annotated[ListFormat, typer.Option("--format", "-f", help="Output format.")] = ListFormat.table,
) -> None:
    """List the images of the live catalog."""
    from .render import filter_images, render_images_json, render_images_table

    images = filter_images(
        _snapshot_for(file).images,
        family=family,
        type=type.value if type else None,
        category=category.value,
    )
    if format is ListFormat.json:
        import json

        _out(json.dumps(render_images_json(images), indent=2))
    else:
        _out(render_images_table(images).rstrip("\n"))


@images_app.command("families")
@_guard
def images_families(
    file: CatalogFileOpt = Path(DEFAULT_FILE),
    format: Annotated[ListFormat, typer.Option("--format", "-f", help="Output format.")] = ListFormat.table,
) -> None:
    """List the image families of the live catalog."""
    from .render import families_json, render_families

    images = _snapshot_for(file).images
    if format is ListFormat.json:
        import json

        _out(json.dumps(families_json(images), indent=2))
    else:
        _out(render_families(images).rstrip("\n"))


# --------------------------------------------------------------------------------------------------
# catalog init


@catalog_app.command("init")
@_guard
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
    from .providers.local import DEFAULT_PATH, init_catalog
    from .seed import parse_seed

    data = _read_input(seed, "seed file", "pass a seed JSON file with --from")
    snapshot = parse_seed(data, str(seed))
    if path is None:
        path = Path(DEFAULT_PATH)
        if file.exists():
            desired = _load(file)
            if desired.catalog.provider != "local":
                raise ReconcilerError(
                    f"catalog init seeds only the local provider; {file} uses '{desired.catalog.provider}'",
                    "pass --path to create a local catalog file",
                )
            path = Path(str(desired.catalog.settings.get("path", DEFAULT_PATH)))
    info = LockInfo.new("catalog init", run_id=os.environ.get("GITHUB_RUN_ID", ""))
    init_catalog(path, snapshot, force=force, lock=info, lock_timeout=lock_timeout)
    _out(f"Created the catalog {path}: {len(snapshot.vms)} VMs, {len(snapshot.images)} images.")


# --------------------------------------------------------------------------------------------------
# emulators


def _serve_until_stopped(emu: Any, extra: list[str] | None = None) -> None:
    """Print the URL first (tests and scripts read that line), then serve until Ctrl-C or SIGTERM."""
    import signal

    _out(f"listening on {emu.url}")
    for line in extra or []:
        _out(line)
    sys.stdout.flush()
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emu.stop()


HostOpt = Annotated[str, typer.Option("--host", help="Address to listen on (loopback only).")]
PortOpt = Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: pick a free one).")]
StateOpt = Annotated[
    Path | None, typer.Option("--state", help="Load the state from this JSON file and save it back on exit.")
]


def _loopback(host: str) -> None:
    import ipaddress

    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise ReconcilerError(f"the emulators listen on loopback addresses only, not {host!r}", "use --host 127.0.0.1")


@emulator_app.command("arm")
@_guard
def emulator_arm(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 0,
    state: StateOpt = None,
    page_size: Annotated[int, typer.Option("--page-size", min=1, help="Items per list page (nextLink).")] = 100,
) -> None:
    """Serve the Azure Resource Manager emulator (managed images, VMs, Compute Gallery)."""
    from .emulators.arm import serve

    _loopback(host)
    _serve_until_stopped(serve(host=host, port=port, state_file=state, page_size=page_size))


@emulator_app.command("classic")
@_guard
def emulator_classic(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 0,
    state: StateOpt = None,
    tls: Annotated[bool, typer.Option("--tls", help="Serve HTTPS and check management client certificates.")] = False,
    tls_dir: Annotated[
        Path | None, typer.Option("--tls-dir", help="Where to write the generated CA and certificates.")
    ] = None,
) -> None:
    """Serve the classic Service Management emulator (OS images, VM images, captures, operations)."""
    from .emulators.classic import serve

    _loopback(host)
    emu = serve(host=host, port=port, state_file=state, tls=tls, tls_dir=str(tls_dir) if tls_dir else None)
    _serve_until_stopped(emu, emu.banner())


# --------------------------------------------------------------------------------------------------
# entry point


def _describe_exit(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Usage errors exit 1 (not click's 2, which means "changes present")."""
    from typer._click.exceptions import ClickException, UsageError

    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="reconciler", standalone_mode=False)
    except UsageError as e:
        e.show()
        sys.exit(EXIT_ERROR)
    except ClickException as e:
        e.show()
        sys.exit(EXIT_ERROR)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        _err("aborted")
        sys.exit(EXIT_ERROR)
    sys.exit(_describe_exit(code))
