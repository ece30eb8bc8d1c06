"""Issue 8 items 1 and 10 through the real command line (in-process, loopback only).

- ``validate`` and ``plan`` refuse an endpoint the file names outside the cloud / loopback /
  ``RECONCILER_TRUSTED_ENDPOINTS``, with file:line:col, before any provider is opened;
- the trusted list comes from the environment, and a malformed one is a clean error;
- a closed port fails ``plan`` after a few quick retries, each one a warning line on stderr
  without ``--debug``.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.commands import common as cli_common
from reconciler.providers import azure

SUB = "00000000-0000-4000-8000-000000000001"


def write(tmp_path: Path, endpoint: str) -> Path:
    f = tmp_path / "images.yaml"
    f.write_text(
        "version: 1\n"
        "catalog:\n"
        "  name: platform\n"
        "  provider: azure\n"
        f"  subscription: {SUB}\n"
        "  resource_group: rg-images\n"
        f"  endpoint: {endpoint}\n"
        "images: []\n"
    )
    return f


@pytest.fixture
def no_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("a provider was opened: a request could have carried the token")

    monkeypatch.setattr(cli_common, "open_catalog", refuse)


def test_validate_and_plan_refuse_a_foreign_endpoint(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     no_provider: None) -> None:
    monkeypatch.setenv("AZURE_ACCESS_TOKEN", "s3cr3t")
    monkeypatch.delenv("RECONCILER_TRUSTED_ENDPOINTS", raising=False)
    f = write(tmp_path, "https://collector.evil.example")
    for command in ("validate", "plan"):
        r = cli(command, str(f))
        assert r.code == 1, r.text
        assert f"{f}:7:13" in r.text and "collector.evil.example" in r.text
        assert "RECONCILER_TRUSTED_ENDPOINTS" in r.text and "s3cr3t" not in r.text


def test_the_environment_can_trust_a_host(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = write(tmp_path, "https://arm.corp.example")
    monkeypatch.setenv("RECONCILER_TRUSTED_ENDPOINTS", "arm.corp.example")
    assert cli("validate", str(f)).code == 0
    monkeypatch.setenv("RECONCILER_TRUSTED_ENDPOINTS", "https://arm.corp.example/some/path")
    r = cli("validate", str(f))
    assert r.code == 1 and "RECONCILER_TRUSTED_ENDPOINTS" in r.text


def test_an_unknown_cloud_from_the_environment_suggests_one(cli: Any, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    f = write(tmp_path, "http://127.0.0.1:1")
    monkeypatch.setenv("RECONCILER_CLOUD", "usgovv")
    r = cli("validate", str(f))
    assert r.code == 1 and "did you mean 'usgov'" in r.text


def test_a_closed_port_fails_plan_quickly_with_a_warning_per_retry(cli: Any, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    slept: list[float] = []

    def open_with_fake_sleep(desired: Any) -> Any:
        return azure.open_provider(desired.catalog, env=dict(os.environ), sleep=slept.append)

    monkeypatch.setattr(cli_common, "open_catalog", open_with_fake_sleep)
    monkeypatch.setenv("AZURE_ACCESS_TOKEN", "s3cr3t")
    r = cli("plan", str(write(tmp_path, f"http://127.0.0.1:{port}")))
    assert r.code == 1
    retries = [line for line in r.err.splitlines() if "retrying in" in line]
    assert len(retries) == 2 and all("connection refused" in line for line in retries), r.err
    assert "cannot reach" in r.err and "3 attempts" in r.err
    assert len(slept) == 2 and sum(slept) <= 3.0
    assert "s3cr3t" not in r.text
