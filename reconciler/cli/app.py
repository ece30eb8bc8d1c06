"""The typer application: global options, output, the error boundary, exit codes, the entry point.

Layer: shell. The ``reconciler.cli`` package is the only code that prints, prompts, reads the
environment (``env``) or exits; each command parses its arguments, calls ``reconciler.operations``,
renders the result (``reconciler.render``) and exits.

Every command goes through ``guard``: a ``ReconcilerError`` becomes its diagnostics on stderr and
exit 1; anything else is an internal error whose traceback shows only with ``--debug``. Usage
errors (a bad flag) also exit 1, so exit 2 always means "changes present" (plan) or "drift" (drift).
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer

from .. import __version__
from ..errors import Diagnostic, ReconcilerError
from . import env

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2

app = typer.Typer(
    name="reconciler",
    help="Declarative reconciler for VM images: validate, plan and apply a desired-state file.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    # -h as --help everywhere: the sub-commands' contexts inherit it.
    context_settings={"help_option_names": ["-h", "--help"]},
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


#: The global options of the running command (set by the app's callback).
OPTS = _Options()


# --------------------------------------------------------------------------------------------------
# Output


def color(stream: Any) -> bool:
    """Colour ``stream``? Never with ``--no-color`` or ``NO_COLOR``, else only on a terminal."""
    if OPTS.color is not None:
        return OPTS.color
    if env.no_color():
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def echo(text: str = "", nl: bool = True) -> None:
    """A line on stdout."""
    typer.echo(text, nl=nl)


def echo_err(text: str = "") -> None:
    """A line on stderr."""
    typer.echo(text, err=True)


def safe(value: object) -> str:
    """An untrusted value (a live image name, a lock holder, an error text) ready to be printed.

    The renderers escape what they put into output; the few lines the shell writes itself use the
    same function (``render.escape_controls``): no control or bidi character reaches the terminal.
    """
    from ..render import escape_controls

    return escape_controls(str(value))


def exit_with(code: int) -> NoReturn:
    raise typer.Exit(code)


#: Set by ``run`` (the console script): ``exit_now`` then ends the process where it is called.
_FAST_EXIT = False


def exit_now(code: int) -> NoReturn:
    """``exit_with`` for a command's last word, called with nothing left to release (no provider
    open, no lock held, every file closed). Run as the console script (``run``), the process ends
    here, without unwinding the stack and freeing what the command built, object by object (0.15 s
    after a 100,000-image plan was written; issue 13). In-process (``main``, the tests) it is
    ``exit_with``."""
    if _FAST_EXIT:
        _leave(code)
    exit_with(code)


def _leave(code: int) -> NoReturn:
    """Flush the standard streams and end the process with ``code`` (no interpreter teardown)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (head), a closed stream: nothing more to write
            code = code or EXIT_ERROR
    os._exit(code)


def report(diags: list[Diagnostic]) -> None:
    """Diagnostics on stderr (and as workflow annotations, also on stderr, under GitHub Actions).

    The runner reads workflow commands from either stream; on stderr they never end up in a file
    the workflow redirects stdout into (``plan --format markdown > plan.md``, the PR comment).
    """
    from ..render import render_diagnostics_text

    echo_err(render_diagnostics_text(diags, color=color(sys.stderr), count=len(diags) > 1).rstrip("\n"))
    if env.github_actions():
        from ..render import render_diagnostics_github

        echo_err(render_diagnostics_github(diags).rstrip("\n"))


def warn(diag: Diagnostic) -> None:
    """A warning the operations hand back (its summary may quote untrusted text), on stderr."""
    echo_err(f"warning: {safe(diag.summary)}")
    if diag.hint:
        echo_err(f"hint: {diag.hint}")


P = ParamSpec("P")
R = TypeVar("R")


def guard(fn: Callable[P, R]) -> Callable[P, R]:
    """Translate errors at the shell boundary: messages, not tracebacks (those only with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except ReconcilerError as e:
            if OPTS.debug:
                traceback.print_exc()
            report(e.diagnostics())
            exit_with(EXIT_ERROR)
        except KeyboardInterrupt:
            echo_err("interrupted")
            exit_with(130)
        except Exception as e:  # noqa: BLE001 - the one catch-all of the program
            if OPTS.debug:
                traceback.print_exc()
                echo_err(f"internal error: {type(e).__name__}: {safe(e)}")
            else:
                what = safe(e) or "unexpected failure"
                echo_err(f"internal error: {what}\n(run again with --debug for the traceback)")
            exit_with(EXIT_ERROR)

    return wrapper


# --------------------------------------------------------------------------------------------------
# Global options


def _version(value: bool) -> None:
    if value:
        echo(f"reconciler {__version__}")
        raise typer.Exit(0)


class _StderrLog(logging.Handler):
    """Warnings of the ``reconciler`` loggers (a retried connection, ...) as ``warning: ...`` lines
    on stderr. Resolves stderr at each line, so a test runner's capture sees them too."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            echo_err(f"{record.levelname.lower()}: {record.getMessage()}")
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
    OPTS.debug = debug or env.debug_requested()
    OPTS.color = False if no_color else None
    _configure_logging(OPTS.debug)


# --------------------------------------------------------------------------------------------------
# Entry point


def _describe_exit(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1


def _metavar(param: Any) -> str | None:
    """What an option's value is, in words (``FILE``, ``N``, ``text|json``), not a Python type.

    Read off the option's click type (typer 0.26-0.28: ``TyperChoice``, ``TyperPath``, int and
    float types and their ranges, text; pyproject.toml says why not 0.29)."""
    from typer._click.types import FloatParamType, IntParamType, StringParamType
    from typer.models import TyperPath

    kind = param.type
    name = (param.name or "value").upper()
    choices = getattr(kind, "choices", None)
    if choices is not None:
        return "|".join(str(getattr(c, "value", c)) for c in choices)
    if isinstance(kind, TyperPath):
        return "DIR" if name.endswith("DIR") else "FILE"
    if isinstance(kind, IntParamType):  # IntRange too
        return "N"
    if isinstance(kind, FloatParamType):  # FloatRange too
        return "SECONDS"
    if isinstance(kind, StringParamType):
        return "NAME" if name in ("TARGET", "REPLACE") else name
    return None


def _argument_usage(param: Any) -> str:
    name = str(param.metavar or param.name).upper()
    if param.nargs != 1 and not name.endswith("..."):
        name += "..."
    return name if param.required else f"[{name}]"


def tidy_help(command: Any) -> Any:
    """Help in the user's words: ``--out FILE``, ``[FILE]``, ``NAME...``; never ``<path>``,
    ``<list[str]>``, ``[[FILE | PLAN]]`` or ``{NAME...}...`` (typer's rendering of the Python types)."""
    import types

    from typer.core import TyperArgument, TyperOption

    for param in getattr(command, "params", ()):
        if isinstance(param, TyperOption) and param.metavar is None and not param.is_flag:
            param.metavar = _metavar(param)
        elif isinstance(param, TyperArgument):
            usage = _argument_usage(param)
            param.metavar = usage.strip("[]").removesuffix("...") if param.metavar is None else param.metavar
            param.get_usage_pieces = types.MethodType(lambda self, ctx, u=usage: [u], param)  # type: ignore[method-assign]
    for sub in getattr(command, "commands", {}).values():
        tidy_help(sub)
    return command


#: The global options without a value, accepted after the command too (``reconciler plan --debug``).
GLOBAL_FLAGS = ("--debug", "--no-color")


def hoist_global_flags(argv: list[str]) -> list[str]:
    """``argv`` with the global flags moved in front of the command, as click wants them; a ``--``
    ends the options, so what follows it is left alone."""
    end = argv.index("--") if "--" in argv else len(argv)
    flags = [a for a in argv[:end] if a in GLOBAL_FLAGS]
    return flags + [a for a in argv[:end] if a not in GLOBAL_FLAGS] + argv[end:]


def _flag(param: Any) -> str:
    opts = [o for o in getattr(param, "opts", ()) if o.startswith("--")] or list(getattr(param, "opts", ()))
    return opts[0] if opts else str(param.metavar or param.name).upper()


def usage_message(e: Any) -> str:
    """A usage error in plain words: what was wrong with which flag, never the type's own text
    (``'x' is not a valid int range.``, ``0 is not in the range 1<=x<=100.``)."""
    import re

    from typer._click.exceptions import BadParameter

    text = e.format_message() if hasattr(e, "format_message") else str(e)
    param = getattr(e, "param", None)
    if type(e) is not BadParameter or param is None:
        return text[:1].lower() + text[1:]
    raw = str(e.message)
    flag = _flag(param)
    choices = getattr(param.type, "choices", None)
    choice = re.match(r"^('.*') is not one of ", raw)
    if choice and choices:
        names = ", ".join(str(getattr(c, "value", c)) for c in choices)
        return f"invalid value for {flag}: {choice.group(1)} (choose from {names})"
    lo, hi = getattr(param.type, "min", None), getattr(param.type, "max", None)
    if re.match(r"^.* is not in the range ", raw):
        if lo is not None and hi is not None:
            return f"invalid value for {flag}: must be from {lo:g} to {hi:g}"
        return f"invalid value for {flag}: must be at least {lo:g}" if lo is not None else (
            f"invalid value for {flag}: must be at most {hi:g}")
    if re.match(r"^'.*' is not a valid int", raw):
        return f"invalid value for {flag}: expected a whole number"
    if re.match(r"^'.*' is not a valid float", raw):
        return f"invalid value for {flag}: expected a number"
    return f"invalid value for {flag}: {raw.rstrip('.')}"


def _show_usage_error(e: Any) -> None:
    ctx = getattr(e, "ctx", None)
    path = ctx.command_path if ctx is not None else "reconciler"
    echo_err(f"error: {usage_message(e)}")
    echo_err(f"hint: see `{path} -h`")


def _narrowed(group: typer.Typer, argv: list[str]) -> typer.Typer:
    """``group`` with only the command (or group) ``argv`` names, when it names one: typer builds a
    click command for every function it holds, reading its type hints, on every run (a fifth of a
    small plan's time; issue 13). The group's own options (``--debug``, ``--help``...) and every
    command's behaviour are unchanged; an unknown or missing name keeps them all (the usage error
    and the help list every command)."""
    name = next((a for a in argv if not a.startswith("-")), None)
    if name is None or "--help" in argv[:argv.index(name)] or "-h" in argv[:argv.index(name)]:
        return group
    commands = [c for c in group.registered_commands
                if (c.name or typer.main.get_command_name(c.callback.__name__ if c.callback else "")) == name]
    groups = [g for g in group.registered_groups if g.name == name]
    if not commands and not groups:
        return group
    narrowed = copy.copy(group)
    narrowed.registered_commands, narrowed.registered_groups = commands, groups
    return narrowed


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Usage errors exit 1 (not click's 2, which means "changes present")."""
    from typer._click.exceptions import ClickException, UsageError

    argv = hoist_global_flags(sys.argv[1:] if argv is None else list(argv))
    command = tidy_help(typer.main.get_command(_narrowed(app, argv)))
    try:
        code = command.main(args=argv, prog_name="reconciler", standalone_mode=False)
    except UsageError as e:
        _show_usage_error(e)
        sys.exit(EXIT_ERROR)
    except ClickException as e:
        e.show()
        sys.exit(EXIT_ERROR)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        echo_err("aborted")
        sys.exit(EXIT_ERROR)
    sys.exit(_describe_exit(code))


def run() -> NoReturn:
    """The console script and ``python -m reconciler``: ``main``, then leave without tearing the
    interpreter down. Freeing a 100,000-image plan object by object took 0.2 s after everything was
    written (issue 13); nothing of ours runs at exit (a provider removes its temporary files when it
    closes, locks are released by then), so the streams are flushed and the process ends with the
    code ``main`` chose. Tests call ``main`` in-process, and see ``SystemExit`` as before."""
    global _FAST_EXIT
    _FAST_EXIT = True
    try:
        main()
        code = 0
    except SystemExit as e:
        if isinstance(e.code, str):  # sys.exit("message"), as the interpreter would print it
            print(e.code, file=sys.stderr)
        code = _describe_exit(e.code)
    _leave(code)
