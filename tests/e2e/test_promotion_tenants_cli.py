"""Promotion across tenants through the real command line (issue 11 §1).

The ARM emulator puts the dev gallery's subscription in another tenant than the catalog's. Without
``RECONCILER_SOURCE_DEV_ACCESS_TOKEN`` (and no sign-in to that tenant) ``plan`` fails at the
promotion's entry (file:line:col), naming the variable; with it, ``plan`` shows the copy and
``apply`` makes it (the emulator refuses the copy without the auxiliary token), then nothing is left.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulators.arm import ArmEmulator
from tests.azurite import azurite  # noqa: F401 - the session fixture (apply holds the Blob lease lock)
from tests.contract.harness_azure_managed import LOCATION, RG, SUB
from tests.contract.test_azure_promotion import definition, gallery, version

PROD_TENANT = "11111111-0000-4000-8000-000000000001"
DEV_TENANT = "22222222-0000-4000-8000-000000000002"
DEV_SUB = "00000000-0000-4000-8000-0000000000d2"
DEV = f"/subscriptions/{DEV_SUB}/resourceGroups/rg-dev/providers/Microsoft.Compute/galleries/dev"
PROD = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/prod"


def jwt(tenant: str) -> str:
    body = base64.urlsafe_b64encode(json.dumps({"tid": tenant, "exp": 4_102_444_800}).encode()).decode()
    return f"eyJhbGciOiJub25lIn0.{body.rstrip('=')}.sig"


def spec_text(url: str, lock: dict[str, str]) -> str:
    return "\n".join([
        "version: 1", "catalog:", "  name: platform", "  provider: azure", f"  subscription: {SUB}",
        f"  resource_group: {RG}", f"  location: {LOCATION}", "  gallery: prod", f"  endpoint: {url}",
        f"  tenant_id: {PROD_TENANT}", *(f"  {k}: {v}" for k, v in lock.items()),
        "sources:",
        f"  dev: {{subscription: {DEV_SUB}, resource_group: rg-dev, gallery: dev, tenant_id: {DEV_TENANT}}}",
        "images:", "  - name: web-base/1.4.0", "    type: os", "    os: linux",
        "    source: {image: 'dev:web-base/1.4.0'}"]) + "\n"


def run(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    p = subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


@pytest.fixture
def world(tmp_path: Path, azurite) -> Iterator[tuple[Path, dict[str, str], ArmEmulator]]:  # noqa: F811
    state: dict[str, Any] = {
        "resources": [gallery(DEV, "dev"), gallery(PROD, "prod"), definition(DEV, "web-base"),
                      version(DEV, "web-base/1.4.0", ["West Europe"])],
        "tenants": {PROD_TENANT: [SUB], DEV_TENANT: [DEV_SUB]}}
    emu = ArmEmulator(state)
    emu.start()
    lock = {**azurite.lock_settings(), "lock_container": f"locks-{uuid.uuid4().hex[:16]}"}
    (tmp_path / "images.yaml").write_text(spec_text(emu.url, lock))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "RECONCILER_", "GITHUB_"))},
           "AZURE_ACCESS_TOKEN": jwt(PROD_TENANT), "AZURE_STORAGE_KEY": azurite.key, "NO_COLOR": "1"}
    try:
        yield tmp_path, env, emu
    finally:
        emu.stop()


def test_a_promotion_across_tenants_needs_the_source_token_and_then_converges(world) -> None:
    cwd, env, emu = world
    code, text = run(cwd, env, "plan", "--detailed-exitcode")
    assert code == 1, text
    line = (cwd / "images.yaml").read_text().splitlines().index("    source: {image: 'dev:web-base/1.4.0'}") + 1
    assert f"at images.yaml:{line}:14, $.images[0].source.image" in text
    assert f"cannot be read: no usable credential for tenant {DEV_TENANT} (sources.dev.tenant_id)" in text
    assert "RECONCILER_SOURCE_DEV_ACCESS_TOKEN" in text and "Traceback" not in text

    env = {**env, "RECONCILER_SOURCE_DEV_ACCESS_TOKEN": jwt(DEV_TENANT) + "\n"}  # as $(az ...) leaves it
    code, text = run(cwd, env, "plan", "--detailed-exitcode")
    assert code == 2, text
    assert "web-base/1.4.0" in text and "copy image from dev:web-base/1.4.0" in text
    code, text = run(cwd, env, "apply", "--auto-approve")
    assert code == 0, text
    made = emu.backend.get(f"{PROD}/images/web-base/versions/1.4.0")
    assert made is not None
    source_id = made["properties"]["storageProfile"]["source"]["id"]
    assert source_id.lower() == f"{DEV}/images/web-base/versions/1.4.0".lower()
    code, text = run(cwd, env, "plan", "--detailed-exitcode")
    assert code == 0, text
