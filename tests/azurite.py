"""Azurite (Microsoft's Azure Storage emulator) for tests: a session-scoped blob service on loopback.

Layer: test support. Use it from a test module with ``from tests.azurite import azurite`` (pytest
finds the fixture by name) and ask for the ``azurite`` fixture; it yields an ``AzuriteBlob`` with the
endpoint and the documented development account.

It starts ``node_modules/.bin/azurite-blob`` (installed by ``bash .ci/azurite.sh install``, which this
module runs itself when Node.js is there but Azurite is not) on a free 127.0.0.1 port with a
throw-away data folder, telemetry off, and stops it at the end of the session. Only a machine without
Node.js skips, with a visible reason; anything else that goes wrong fails the tests that need it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ROOT / "node_modules" / ".bin" / "azurite-blob"
INSTALLER = ROOT / ".ci" / "azurite.sh"

#: Azurite's well-known development account (public, documented by Microsoft; not a secret).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

_START_SECONDS = 30.0
_STOP_SECONDS = 10.0


@dataclass(frozen=True)
class AzuriteBlob:
    """A running Azurite blob service. ``endpoint`` is path-style: ``http://127.0.0.1:PORT/devstoreaccount1``."""

    host: str
    port: int
    account: str = DEV_ACCOUNT
    key: str = DEV_KEY

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{self.account}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account};AccountKey={self.key};"
            f"BlobEndpoint={self.endpoint};"
        )

    def lock_settings(self, container: str = "reconciler-locks") -> dict[str, str]:
        """Catalog settings for ``BlobLeaseLock.from_settings`` pointing at this Azurite."""
        return {"lock_storage_account": self.account, "lock_container": container, "lock_endpoint": self.endpoint}

    def env(self) -> dict[str, str]:
        """The environment a CLI would hand down: the shared key of the dev account."""
        return {"AZURE_STORAGE_KEY": self.key}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_installed() -> Path:
    """The azurite-blob launcher; skip without Node.js, install when missing, fail when that fails."""
    if shutil.which("node") is None:
        pytest.skip(
            "Node.js is not installed: the Azurite-backed blob lock tests need it (bash .ci/azurite.sh install)"
        )
    if not LAUNCHER.exists():
        result = subprocess.run(
            ["bash", str(INSTALLER), "install"], capture_output=True, text=True, timeout=600, check=False
        )
        if result.returncode != 0 or not LAUNCHER.exists():
            pytest.fail(
                f"Azurite is not installed and 'bash .ci/azurite.sh install' failed (exit {result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}",
                pytrace=False,
            )
    return LAUNCHER


def _wait_until_listening(proc: subprocess.Popen[bytes], port: int) -> bool:
    """True once the port accepts connections; False when the process died or the bound passed."""
    for _ in range(int(_START_SECONDS / 0.1)):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            pass
        try:
            proc.wait(timeout=0.1)  # doubles as the pause between tries, and notices an early exit
            return False
        except subprocess.TimeoutExpired:
            continue
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=_STOP_SECONDS)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteBlob]:
    """Start Azurite's blob service on a free loopback port for the session; stop it afterwards."""
    launcher = ensure_installed()
    workdir = tmp_path_factory.mktemp("azurite")
    log_path = workdir / "azurite.log"
    for _attempt in range(3):  # a free port can be taken between probing and binding
        port = _free_port()
        data = workdir / f"data-{port}"
        data.mkdir()
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [
                    str(launcher),
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    str(port),
                    "--location",
                    str(data),
                    "--silent",
                    "--skipApiVersionCheck",
                    "--disableTelemetry",  # Azurite reports usage to Microsoft unless told not to
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )
        if _wait_until_listening(proc, port):
            try:
                yield AzuriteBlob("127.0.0.1", port)
            finally:
                _stop(proc)
            return
        _stop(proc)
    pytest.fail(f"Azurite did not start on 127.0.0.1; its log:\n{log_path.read_text(errors='replace')}", pytrace=False)
