"""The local catalog records what a VM was created from and what images store (issue 11 §4, §5):
the seed format, ``catalog init``, the consumers read, capture footprints, and the format 1 -> 2
migration of an existing catalog file."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from reconciler.errors import SpecError
from reconciler.model import ConsumersPolicy, ImageSpec, ImageType, OSState, Source
from reconciler.providers.local import SCHEMA_VERSION, LocalProvider, init_catalog
from reconciler.seed import parse_seed, seed_to_dict

SEED = {
    "vms": [
        {"name": "build-01", "os": "linux", "power_state": "stopped", "os_state": "generalized",
         "data_disks": ["d0"], "disk_gib": [30, 100.5]},
        {"name": "web-01", "os": "linux", "power_state": "running", "image": "Web-Base-1"},
        {"name": "web-02", "os": "linux", "power_state": "running", "image": "web-base-1"},
        {"name": "db-01", "os": "linux", "power_state": "running", "image": "not-in-this-catalog"},
    ],
    "images": [
        {"name": "web-base-1", "type": "os", "os": "linux", "owner": "platform", "footprint": {"local": 30}},
        {"name": "web-base-0", "type": "os", "os": "linux", "owner": "platform"},
    ],
}


def _catalog(tmp_path: Path) -> LocalProvider:
    path = tmp_path / "catalog.db"
    init_catalog(path, parse_seed(json.dumps(SEED).encode(), "seed.json"))
    return LocalProvider(path, "platform")


def test_the_seed_carries_the_image_a_vm_was_made_from_its_disk_sizes_and_footprints() -> None:
    snap = parse_seed(json.dumps(SEED).encode(), "seed.json")
    vms = snap.vm_index()
    assert vms["build-01"].disk_gib == (30, 100.5) and vms["build-01"].image is None
    assert vms["web-01"].image == "Web-Base-1" and vms["web-01"].disk_gib == ()
    assert snap.image_index()["web-base-1"].footprint == {"local": 30}
    written = seed_to_dict(snap)
    assert written["vms"][0]["disk_gib"] == [30, 100.5] and "image" not in written["vms"][0]
    assert "disk_gib" not in written["vms"][2] and written["vms"][2]["image"] == "Web-Base-1"
    assert "footprint" not in written["images"][0] and written["images"][1]["footprint"] == {"local": 30}
    assert parse_seed(json.dumps(written).encode(), "again.json") == snap


@pytest.mark.parametrize(("vm", "where"), [({"disk_gib": [-1]}, "$.vms[0].disk_gib[0]"),
                                           ({"disk_gib": "30"}, "$.vms[0].disk_gib"),
                                           ({"image": 3}, "$.vms[0].image")])
def test_bad_seed_values_point_at_the_value(vm: dict[str, object], where: str) -> None:
    doc = {"vms": [{"name": "v", "os": "linux", "power_state": "running", **vm}]}
    with pytest.raises(SpecError) as raised:
        parse_seed(json.dumps(doc).encode(), "seed.json")
    assert [d.location.json_path for d in raised.value.diagnostics() if d.location] == [where]


def test_consumers_are_the_vms_made_from_each_image_case_insensitively(tmp_path: Path) -> None:
    p = _catalog(tmp_path)
    images = p.snapshot().image_index()
    found = p.consumers([images["web-base-1"], images["web-base-0"]], ConsumersPolicy(subscriptions=("ignored",)))
    assert list(found) == ["web-base-1"]
    assert [(c.kind, c.name, c.image, c.via, c.instances, c.scope, c.id) for c in found["web-base-1"]] == [
        ("vm", "web-01", "Web-Base-1", "image", 1, "", "vms/web-01"),
        ("vm", "web-02", "web-base-1", "image", 1, "", "vms/web-02"),
    ]
    assert p.consumers([], ConsumersPolicy()) == {}


def test_a_capture_records_its_footprint(tmp_path: Path) -> None:
    p = _catalog(tmp_path)
    made = p.capture(ImageSpec("web-base-2", ImageType.VM, "linux", OSState.GENERALIZED, Source(vm="build-01")))
    assert made.footprint == {"local": 130.5}
    assert p.snapshot().image_index()["web-base-2"].footprint == {"local": 130.5}
    assert p.capabilities.footprint is not None


#: The catalog file as format 1 wrote it (before issue 11).
_V1 = """
CREATE TABLE schema_version (application TEXT NOT NULL, version INTEGER NOT NULL);
CREATE TABLE vms (key TEXT PRIMARY KEY, name TEXT NOT NULL, os TEXT NOT NULL, power_state TEXT NOT NULL,
    os_state TEXT NOT NULL, os_disk TEXT NOT NULL, data_disks TEXT NOT NULL, etag TEXT NOT NULL);
CREATE TABLE images (key TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, os TEXT NOT NULL,
    os_state TEXT NOT NULL, category TEXT NOT NULL, family TEXT, label TEXT, description TEXT,
    recommended_vm_size TEXT, tags TEXT NOT NULL, owner TEXT, protected INTEGER NOT NULL, source_vm TEXT,
    source_vhd TEXT, source_storage TEXT, data_disks INTEGER NOT NULL, created TEXT NOT NULL, etag TEXT NOT NULL);
CREATE TABLE lock (slot INTEGER PRIMARY KEY CHECK (slot = 1), lock_id TEXT NOT NULL, info TEXT NOT NULL);
INSERT INTO schema_version VALUES ('reconciler-local-catalog', 1);
INSERT INTO vms VALUES ('vm-1', 'vm-1', 'linux', 'stopped', 'generalized', 'vm-1-os', '[]', 'e1');
INSERT INTO images VALUES ('old', 'old', 'os', 'linux', 'generalized', 'user', NULL, NULL, NULL, NULL, '{}',
    'platform', 0, 'vm-0', NULL, NULL, 0, '2026-01-01T00:00:00Z', 'e2');
"""


def test_a_format_1_catalog_is_migrated_in_place_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(_V1)
    p = LocalProvider(path, "platform")
    snap = p.snapshot()
    assert snap.image_index()["old"].footprint == {} and snap.image_index()["old"].fingerprint == "e2"
    assert snap.vm_index()["vm-1"].image is None and snap.vm_index()["vm-1"].disk_gib == ()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    assert SCHEMA_VERSION == 2
    p.close()
    LocalProvider(path, "platform").close()  # opening a migrated file again changes nothing
