"""Crash safety of the local catalog: a writer SIGKILLed at a random moment leaves a consistent file.

A child process captures and relabels images as fast as it can; the parent kills it after a random
number of completed operations (it reads the child's progress lines, so no sleeping), then checks
SQLite's own integrity check and the catalog's invariants: a generalized capture and the deletion
of its VM happen together or not at all, and an update writes all of its fields or none.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.model import VM, ImageSpec, ImageType, OSState, PowerState, Snapshot, Source
from reconciler.providers.local import LocalProvider, init_catalog

N_VMS = 300

_CHILD = """
import sys
from dataclasses import replace
from reconciler.model import ImageSpec, ImageType, OSState, Source
from reconciler.providers.local import LocalProvider

p = LocalProvider(sys.argv[1], "platform")
for i in range(int(sys.argv[2]), int(sys.argv[3])):
    spec = ImageSpec(name=f"gen-{i}", type=ImageType.VM, os="linux", os_state=OSState.GENERALIZED,
                     source=Source(vm=f"vm-{i}"), label=f"L{i}", tags={"i": str(i)})
    image = p.capture(spec)
    print("captured", i, flush=True)
    p.update(image, replace(spec, label=f"L{i}-u", tags={"i": str(i), "u": "1"}, protect=True))
    print("updated", i, flush=True)
"""


def _check_invariants(path: Path) -> Snapshot:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    snap = LocalProvider(path, "platform").snapshot()
    images = snap.image_index()
    vms = snap.vm_index()
    for i in range(N_VMS):
        image = images.get(f"gen-{i}")
        # The capture and the deletion of its source VM commit together.
        assert (image is None) is (f"vm-{i}" in vms), i
        if image is None:
            continue
        assert image.owner == "platform" and image.data_disks == 1
        assert image.source == Source(vm=f"vm-{i}")
        # An update is all or nothing: label, tags and protection move together.
        state = (image.label, dict(image.tags), image.protected)
        assert state in [
            (f"L{i}", {"i": str(i)}, False),
            (f"L{i}-u", {"i": str(i), "u": "1"}, True),
        ], state
    return snap


@pytest.mark.parametrize("seed", [1, 2])
def test_a_writer_killed_mid_flight_leaves_a_consistent_catalog(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "catalog.db"
    vms = tuple(
        VM(f"vm-{i}", "linux", PowerState.STOPPED, OSState.GENERALIZED, f"vm-{i}-os", (f"vm-{i}-d0",))
        for i in range(N_VMS)
    )
    init_catalog(path, Snapshot(vms=vms))

    start = 0
    for _round in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(path), str(start), str(N_VMS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        done = 0
        try:
            for _ in range(rng.randint(1, 40)):
                if not child.stdout.readline():
                    break
                done += 1
        finally:
            child.kill()  # SIGKILL: no cleanup, no rollback, maybe mid-commit
            child.wait()
            child.stdout.close()
        assert done > 0, "the child made progress before it was killed"
        snap = _check_invariants(path)
        start = max(int(i.name.split("-")[1]) for i in snap.images) + 1

    # The catalog is still writable after the crashes (WAL recovered).
    p = LocalProvider(path, "platform")
    spec = ImageSpec("after-crash", ImageType.VM, "linux", OSState.GENERALIZED, Source(vm=f"vm-{N_VMS - 1}"))
    assert p.capture(spec).data_disks == 1
