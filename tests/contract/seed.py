"""The seed every provider contract test starts from (the catalog seed format, docs/local-provider.md).

Layer: test data. Each harness turns this dict into its own catalog (a SQLite file, an emulator's
state); tests look names up here rather than repeating literals, so a harness can be checked
against the same expectations.
"""

from __future__ import annotations

from typing import Any

OWNER = "platform"

SEED: dict[str, Any] = {
    "vms": [
        # Generalized and deallocated: the textbook source of an OS image.
        {
            "name": "vm-gen-os",
            "os": "linux",
            "power_state": "deallocated",
            "os_state": "generalized",
            "os_disk": "vm-gen-os-osdisk",
            "data_disks": [],
        },
        # Generalized, stopped, two data disks: a generalized VM image.
        {
            "name": "vm-gen-data",
            "os": "linux",
            "power_state": "stopped",
            "os_state": "generalized",
            "os_disk": "vm-gen-data-osdisk",
            "data_disks": ["vm-gen-data-d0", "vm-gen-data-d1"],
        },
        # Specialized, stopped, two data disks: a specialized VM image that keeps its VM.
        {
            "name": "vm-spec-data",
            "os": "linux",
            "power_state": "stopped",
            "os_state": "specialized",
            "os_disk": "vm-spec-data-osdisk",
            "data_disks": ["vm-spec-data-d0", "vm-spec-data-d1"],
        },
        # Running: no capture may take it without source.generalize.
        {
            "name": "vm-running",
            "os": "linux",
            "power_state": "running",
            "os_state": "specialized",
            "os_disk": "vm-running-osdisk",
            "data_disks": [],
        },
    ],
    "images": [
        {
            "name": "owned-web",
            "type": "vm",
            "os": "linux",
            "os_state": "generalized",
            "category": "user",
            "family": "web-base",
            "label": "Web base",
            "description": "nginx baseline",
            "recommended_vm_size": "Standard_D2s_v5",
            "tags": {"team": "web"},
            "owner": OWNER,
            "protected": False,
            "source": {"vm": "old-web-vm"},
            "data_disks": 1,
            "created": "2026-08-01T10:00:00Z",
        },
        {
            "name": "owned-protected",
            "type": "os",
            "os": "windows",
            "os_state": "generalized",
            "category": "user",
            "family": "win-base",
            "label": "Windows base",
            "description": None,
            "recommended_vm_size": None,
            "tags": {"team": "desktop"},
            "owner": OWNER,
            "protected": True,
            "source": {"vm": "old-win-vm"},
            "data_disks": 0,
            "created": "2026-07-01T10:00:00Z",
        },
        {
            "name": "unowned-tools",
            "type": "os",
            "os": "linux",
            "os_state": "generalized",
            "category": "user",
            "family": None,
            "label": "Tools",
            "description": None,
            "recommended_vm_size": None,
            "tags": {"made-by": "hand"},
            "owner": None,
            "protected": False,
            "source": None,
            "data_disks": 0,
            "created": "2025-01-01T00:00:00Z",
        },
        {
            "name": "other-owned",
            "type": "os",
            "os": "linux",
            "os_state": "generalized",
            "category": "user",
            "family": "other",
            "label": "Other team's",
            "description": None,
            "recommended_vm_size": None,
            "tags": {},
            "owner": "someone-else",
            "protected": False,
            "source": {"vm": "their-vm"},
            "data_disks": 0,
            "created": "2026-01-01T00:00:00Z",
        },
        {
            "name": "Ubuntu-Public",
            "type": "os",
            "os": "linux",
            "os_state": "generalized",
            "category": "public",
            "family": "ubuntu",
            "label": "Ubuntu Server 24.04 LTS",
            "description": None,
            "recommended_vm_size": None,
            "tags": {},
            "owner": None,
            "protected": False,
            "source": None,
            "data_disks": 0,
            "created": "2026-06-01T00:00:00Z",
        },
    ],
}
