"""Issue 10 "Done when", end to end through the real command line against ``reconciler emulator arm``:
a Gen2 Trusted Launch VM captured into a new gallery family, with nothing but ``name``, ``type``,
``os``, ``os_state``, ``family`` and ``source`` declared, converges (plan -> apply -> plan empty),
and the definition created is V2 with feature ``SecurityType=TrustedLaunch`` (inferred from the VM).
Then a declared family ``description`` is updated in place and an immutable difference is a plan
error that changes nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.azurite import azurite  # noqa: F401 - the session fixture (apply holds the Blob lease lock)
from tests.contract.harness_azure_managed import LOCATION, RG, RP, SUB, vm_resource

GALLERY = "golden"
GPATH = f"{RP}/galleries/{GALLERY}"


def trusted_launch_vm(name: str) -> dict[str, Any]:
    """A deallocated, generalized Gen2 Trusted Launch VM as the Compute API shows it: the security
    type in ``properties.securityProfile``, the generation in the instance view."""
    vm = vm_resource({"name": name, "os": "linux", "power_state": "deallocated", "os_state": "generalized"})
    vm["properties"]["securityProfile"] = {"securityType": "TrustedLaunch",
                                           "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}
    vm["properties"]["instanceView"]["hyperVGeneration"] = "V2"
    return vm


def spec_text(url: str, lock: dict[str, str], *, family: str = "") -> str:
    return "\n".join([
        "version: 1",
        "catalog:",
        "  name: platform",
        "  provider: azure",
        f"  subscription: {SUB}",
        f"  resource_group: {RG}",
        f"  location: {LOCATION}",
        f"  gallery: {GALLERY}",
        f"  endpoint: {url}",
        *(f"  {k}: {v}" for k, v in lock.items()),
        *(["families:", "  web-base:", *(f"    {line}" for line in family.splitlines())] if family else []),
        "images:",
        "  - name: web-base/1.0.0",
        "    type: os",
        "    os: linux",
        "    os_state: generalized",
        "    family: web-base",
        "    source: {vm: build-tl-01}",
    ]) + "\n"


def run(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    p = subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


@pytest.fixture
def emulator(tmp_path: Path, azurite) -> Iterator[tuple[Path, str, dict[str, str], Any, dict[str, str]]]:  # noqa: F811
    state = tmp_path / "arm-state.json"
    gallery = {"id": GPATH, "name": GALLERY, "type": "Microsoft.Compute/galleries", "location": LOCATION,
               "properties": {"identifier": {"uniqueName": f"{SUB}-{GALLERY.upper()}"},
                              "provisioningState": "Succeeded"}}
    state.write_text(json.dumps({"resources": [trusted_launch_vm("build-tl-01"), gallery]}))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "RECONCILER_", "GITHUB_"))},
        "AZURE_ACCESS_TOKEN": "e2e-token",
        "AZURE_STORAGE_KEY": azurite.key,
        "NO_COLOR": "1",
    }
    lock = {**azurite.lock_settings(), "lock_container": f"locks-{uuid.uuid4().hex[:16]}"}
    emu = subprocess.Popen([sys.executable, "-m", "reconciler", "emulator", "arm", "--state", str(state)],
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert emu.stdout is not None
        first = emu.stdout.readline().strip()
        assert first.startswith("listening on "), first
        yield tmp_path, first.removeprefix("listening on "), env, emu, lock
    finally:
        if emu.poll() is None:
            emu.send_signal(signal.SIGTERM)
            emu.communicate(timeout=30)


def saved_state(emu: subprocess.Popen[str], tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Stop the emulator (it saves its state on exit) and return its resources by lower-cased id."""
    emu.send_signal(signal.SIGTERM)
    emu.communicate(timeout=30)
    data = json.loads((tmp_path / "arm-state.json").read_text())
    return {str(r["id"]).lower(): r for r in data["resources"]}


def test_trusted_launch_gen2_vm_into_a_new_inferred_family_converges(emulator) -> None:
    cwd, url, env, emu, lock = emulator
    (cwd / "images.yaml").write_text(spec_text(url, lock))
    code, text = run(cwd, env, "plan", "--detailed-exitcode")
    assert code == 2, text
    assert "create definition web-base (V2, TrustedLaunch, x64)" in text, text
    code, text = run(cwd, env, "apply", "--auto-approve")
    assert code == 0, text
    code, text = run(cwd, env, "plan", "--detailed-exitcode")
    assert code == 0, text
    assert "No changes." in text, text
    # export writes the definition as families.web-base, and the exported file plans as a no-op.
    code, text = run(cwd, env, "export", "--out", "exported.yaml")
    assert code == 0, text
    exported = (cwd / "exported.yaml").read_text()
    assert "families:\n  web-base:\n" in exported and "hyper_v_generation: V2" in exported, exported
    assert "security_type: TrustedLaunch" in exported and "publisher: platform" in exported, exported
    code, text = run(cwd, env, "plan", "exported.yaml", "--detailed-exitcode")
    assert code == 0, text
    resources = saved_state(emu, cwd)
    definition = resources[f"{GPATH}/images/web-base".lower()]["properties"]
    assert definition["hyperVGeneration"] == "V2"
    assert {"name": "SecurityType", "value": "TrustedLaunch"} in definition["features"]
    assert definition["identifier"] == {"publisher": "platform", "offer": "web-base", "sku": "web-base"}
    assert f"{GPATH}/images/web-base/versions/1.0.0".lower() in resources


def test_declared_family_description_updates_in_place_and_an_immutable_change_is_refused(emulator) -> None:
    cwd, url, env, emu, lock = emulator
    (cwd / "images.yaml").write_text(spec_text(url, lock, family="description: nginx baseline\nhyper_v_generation: V2"))
    code, text = run(cwd, env, "apply", "--auto-approve")
    assert code == 0, text
    code, text = run(cwd, env, "plan", "--detailed-exitcode")
    assert (code, "No changes." in text) == (0, True), text

    hardened = "description: nginx + hardening\nhyper_v_generation: "
    (cwd / "images.yaml").write_text(spec_text(url, lock, family=hardened + "V2"))
    code, text = run(cwd, env, "plan", "--detailed-exitcode")
    assert code == 2, text
    assert 'families.web-base.description: "nginx baseline" -> "nginx + hardening"' in text, text
    code, text = run(cwd, env, "plan", "--format", "json")
    change = json.loads(text)["resource_changes"][0]
    assert (change["actions"], change["steps"]) == (["update"], ["update definition web-base"]), change
    # Through a saved plan: the family's declaration travels in it (the image's extra).
    code, text = run(cwd, env, "plan", "--out", "plan.json")
    assert code == 0, text
    code, text = run(cwd, env, "apply", "plan.json", "--auto-approve")
    assert code == 0, text
    code, text = run(cwd, env, "plan", "--detailed-exitcode")
    assert (code, "No changes." in text) == (0, True), text

    (cwd / "images.yaml").write_text(spec_text(url, lock, family=hardened + "V1"))
    code, text = run(cwd, env, "plan")
    assert code == 1, text
    assert "images.yaml:16:5" in text and "hyper_v_generation of an existing definition cannot change" in text, text
    code, text = run(cwd, env, "apply", "--auto-approve")
    assert code == 1, text
    definition = saved_state(emu, cwd)[f"{GPATH}/images/web-base".lower()]["properties"]
    assert (definition["description"], definition["hyperVGeneration"]) == ("nginx + hardening", "V2")
