"""Ctrl-C in a real terminal (tmux): apply says at once that it waits, and what a second Ctrl-C did.

Issue 12 §3: "Interrupt received: waiting for N changes in flight (Ctrl-C again to stop waiting)",
as Terraform prints it. The apply runs in a tmux pane (a real tty, so Ctrl-C is the terminal's
SIGINT to the foreground process group) against the classic emulator, whose operations are made
slow, so a change is in flight when the keys are sent.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

ROOT = Path(__file__).resolve().parents[2]

_DRIVER = """
import sys
from pathlib import Path
from reconciler.cli import main
from reconciler.emulators.classic import ClassicEmulator
from reconciler.seed import parse_seed
from tests.contract.harness_classic import SUBSCRIPTION, state_from_seed

root = Path(sys.argv[1])
snapshot = parse_seed((root / "examples" / "demo-catalog.json").read_bytes(), "demo-catalog.json")
with ClassicEmulator(state_from_seed(snapshot)) as emu:
    emu.faults.op_seconds = 600.0  # every operation stays in progress: only Ctrl-C ends the wait
    text = (root / "images.yaml.example").read_text()
    text = text.replace("  provider: local\\n", "  provider: azure-classic\\n").replace(
        "  path: .reconciler/catalog.db",
        f"  subscription: {SUBSCRIPTION}\\n  endpoint: {emu.url}\\n  poll_interval: 0.05")
    Path("images.yaml").write_text(text)
    try:
        main(["apply", "--auto-approve", "--parallelism", "1"])
    finally:
        print("DRIVER-EXIT", flush=True)
"""


def _tmux(*args: str, socket: str) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, check=True).stdout


def _wait_for(pane: str, text: str, socket: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", pane, socket=socket)
        if text in screen:
            return screen
        time.sleep(0.1)
    pytest.fail(f"{text!r} never appeared in the pane:\n{screen}")


def test_ctrl_c_in_a_terminal_says_at_once_that_apply_waits_and_a_second_one_is_explained(tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER)
    socket = f"reconciler-test-{tmp_path.name}"
    env = f"AZURE_ACCESS_TOKEN=tmux-token PYTHONPATH={ROOT} NO_COLOR=1"
    command = f"cd {tmp_path} && env {env} {sys.executable} {driver} {ROOT}; sleep 600"
    _tmux("new-session", "-d", "-s", "t", "-x", "200", "-y", "50", command, socket=socket)
    pane = "t:0.0"
    try:
        _wait_for(pane, "polling (", socket)  # the live progress shows a change in flight
        _tmux("send-keys", "-t", pane, "C-c", socket=socket)
        started = time.monotonic()
        screen = _wait_for(pane, "(Ctrl-C again to stop waiting)", socket, timeout=10)
        assert time.monotonic() - started < 5, "the interrupt message was not printed at once"
        assert "Interrupt received: waiting for 1 change in flight (Ctrl-C again to stop waiting)" in screen
        _tmux("send-keys", "-t", pane, "C-c", socket=socket)
        screen = _wait_for(pane, "no longer waiting for the changes in flight", socket, timeout=10)
        assert "Interrupt received again: no longer waiting for the changes in flight" in screen
        screen = _wait_for(pane, "reconciler force-unlock", socket, timeout=20)
        assert "Traceback" not in screen
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
