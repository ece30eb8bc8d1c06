"""``emulator arm`` and ``emulator classic``: serve the loopback emulators until stopped.

Layer: shell. The emulators never print: this module prints the URL they listen on (tests and
scripts read that line first) and stops them on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import ipaddress
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from ...errors import ReconcilerError
from ..app import echo, emulator_app, guard


def _serve_until_stopped(emu: Any, extra: list[str] | None = None) -> None:
    """Print the URL first (tests and scripts read that line), then serve until Ctrl-C or SIGTERM."""
    echo(f"listening on {emu.url}")
    for line in extra or []:
        echo(line)
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
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise ReconcilerError(f"the emulators listen on loopback addresses only, not {host!r}", "use --host 127.0.0.1")


@emulator_app.command("arm")
@guard
def emulator_arm(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 0,
    state: StateOpt = None,
    page_size: Annotated[int, typer.Option("--page-size", min=1, help="Items per list page (nextLink).")] = 100,
) -> None:
    """Serve the Azure Resource Manager emulator (managed images, VMs, Compute Gallery)."""
    from ...emulators.arm import serve

    _loopback(host)
    _serve_until_stopped(serve(host=host, port=port, state_file=state, page_size=page_size))


@emulator_app.command("classic")
@guard
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
    from ...emulators.classic import serve

    _loopback(host)
    emu = serve(host=host, port=port, state_file=state, tls=tls, tls_dir=str(tls_dir) if tls_dir else None)
    _serve_until_stopped(emu, emu.banner())
