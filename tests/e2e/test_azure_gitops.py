"""Issue 4 acceptance, end to end through the real command line in subprocesses:
the ARM emulator serves the catalog, Azurite holds the shared blob-lease lock.

- two applies started at the same moment: one runs, the other waits and fails naming the holder,
  and no image is captured twice;
- a killed apply leaves a lock that `force-unlock` clears with the right id and not with a wrong one;
- `export` then `plan` is empty.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from reconciler.emulators.arm import ArmEmulator
from reconciler.providers.blob_lock import BlobLeaseLock
from tests.azurite import azurite  # noqa: F401 - the session fixture
from tests.contract.harness_azure_managed import LOCATION, RG, SUB, vm_resource

N_IMAGES = 3


def spec_text(emu: ArmEmulator, lock: dict[str, str], container: str) -> str:
    lines = [
        "version: 1",
        "catalog:",
        "  name: platform",
        "  provider: azure",
        f"  subscription: {SUB}",
        f"  resource_group: {RG}",
        f"  location: {LOCATION}",
        f"  endpoint: {emu.url}",
        f"  lock_storage_account: {lock['lock_storage_account']}",
        f"  lock_endpoint: {lock['lock_endpoint']}",
        f"  lock_container: {container}",
        "images:",
    ]
    for i in range(N_IMAGES):
        lines += [
            f"  - name: app-{i}",
            "    type: vm",
            "    os: linux",
            "    os_state: generalized",
            "    family: app",
            f"    label: App {i}",
            f"    source: {{vm: build-{i}}}",
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def world(tmp_path, azurite):  # noqa: F811 - pytest fixture by name
    vms = [
        vm_resource(
            {"name": f"build-{i}", "os": "linux", "power_state": "deallocated", "os_state": "generalized"}
        )
        for i in range(N_IMAGES)
    ]
    emu = ArmEmulator({"resources": vms})
    emu.faults.lro_seconds = 2.0  # captures take real seconds, so the first apply holds the lock a while
    emu.faults.retry_after = 0
    emu.start()
    container = f"locks-{uuid.uuid4().hex[:16]}"
    (tmp_path / "images.yaml").write_text(spec_text(emu, azurite.lock_settings(), container))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "RECONCILER_", "GITHUB_"))},
        "AZURE_ACCESS_TOKEN": "e2e-token",
        "AZURE_STORAGE_KEY": azurite.key,
        "NO_COLOR": "1",
    }
    lock = BlobLeaseLock.from_settings(
        {**azurite.lock_settings(), "lock_container": container}, {"AZURE_STORAGE_KEY": azurite.key}, catalog="platform"
    )
    yield tmp_path, emu, env, lock
    lock.close()
    emu.stop()


def reconciler(cwd: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def finish(p: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = p.communicate(timeout=120)
    return p.returncode, out + err


def image_creates(emu: ArmEmulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in emu.requests:
        if r.method == "PUT" and "/images/" in r.path and r.status == 201:
            name = r.path.rsplit("/", 1)[-1]
            counts[name] = counts.get(name, 0) + 1
    return counts


def test_two_applies_at_once_one_runs_the_other_names_the_holder(world):
    cwd, emu, env, _ = world
    first = reconciler(cwd, env, "apply", "--auto-approve", "--lock-timeout", "1")
    second = reconciler(cwd, env, "apply", "--auto-approve", "--lock-timeout", "1")
    results = sorted([finish(first), finish(second)])
    (ok_code, ok_text), (lost_code, lost_text) = results
    assert ok_code == 0, ok_text
    assert lost_code == 1, lost_text
    assert "lock" in lost_text.lower() and "apply" in lost_text
    assert "Traceback" not in lost_text
    assert image_creates(emu) == {f"app-{i}": 1 for i in range(N_IMAGES)}
    code, text = finish(reconciler(cwd, env, "plan", "--detailed-exitcode"))
    assert code == 0, text


def test_killed_apply_leaves_a_lock_only_the_right_id_clears(world):
    cwd, emu, env, lock = world
    emu.faults.lro_seconds = 60.0
    victim = reconciler(cwd, env, "apply", "--auto-approve")
    # In CI mode apply logs one line per state change; the first "started" comes after the lock.
    assert victim.stdout is not None
    for line in victim.stdout:
        if "capture started" in line:
            break
    else:
        pytest.fail(f"the apply ended before capturing: {victim.communicate()}")
    holder = lock.holder()
    assert holder is not None, "the apply never took the lock"
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)

    code, text = finish(reconciler(cwd, env, "apply", "--auto-approve", "--lock-timeout", "0"))
    assert code == 1 and holder.id in text, text
    code, text = finish(reconciler(cwd, env, "force-unlock", "00000000-not-the-id"))
    assert code == 1, text
    assert lock.holder() is not None
    code, text = finish(reconciler(cwd, env, "force-unlock", holder.id))
    assert code == 0, text
    assert lock.holder() is None


def test_export_then_plan_is_empty(world):
    cwd, emu, env, _ = world
    emu.faults.lro_seconds = 0.0
    code, text = finish(reconciler(cwd, env, "apply", "--auto-approve"))
    assert code == 0, text
    code, text = finish(reconciler(cwd, env, "export", "--out", "exported.yaml"))
    assert code == 0, text
    exported = (cwd / "exported.yaml").read_text()
    assert "app-0" in exported and "e2e-token" not in exported
    code, text = finish(reconciler(cwd, env, "plan", "exported.yaml", "--detailed-exitcode"))
    assert code == 0, text
    code, text = finish(reconciler(cwd, env, "drift", "exported.yaml", "--format", "json"))
    assert code == 0, text
    assert json.loads(text)["summary"]["capture"] == 0
