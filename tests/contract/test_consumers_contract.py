"""Every provider answers "who uses this image" the same way (issue 11 §4): a VM created from an image
is its consumer, whatever the catalog (local: the VM row's ``image``; azure-classic: the role's
``VMImageName`` / ``SourceImageName``; azure: the VM's ``storageProfile.imageReference.id``, a
managed image or a gallery version). Each harness converts the seed's ``vms[].image``."""

from __future__ import annotations

import copy
from typing import Any

from reconciler.model import ConsumersPolicy

from .seed import SEED

#: A running VM made from ``owned-web`` (a VM image) and one made from ``other-owned`` (an OS image).
USERS = [
    {"name": "vm-web-1", "os": "linux", "power_state": "running", "os_state": "specialized", "image": "owned-web"},
    {"name": "vm-web-2", "os": "linux", "power_state": "running", "os_state": "specialized", "image": "owned-web"},
    {"name": "vm-other", "os": "linux", "power_state": "running", "os_state": "specialized",
     "image": "other-owned"},
]


def _seeded() -> dict[str, Any]:
    seed = copy.deepcopy(SEED)
    seed["vms"].extend(copy.deepcopy(USERS))
    return seed


def _images(provider: Any, *names: str) -> list[Any]:
    index = provider.snapshot().image_index()
    return [index[n.casefold()] for n in names]


def test_vms_created_from_an_image_are_its_consumers(provider_factory: Any) -> None:
    p = provider_factory(_seeded())
    found = p.consumers(_images(p, "owned-web", "other-owned", "unowned-tools"), ConsumersPolicy())
    assert sorted(found) == ["other-owned", "owned-web"]  # nothing uses unowned-tools: absent
    web = found["owned-web"]
    assert [c.name for c in web] == ["vm-web-1", "vm-web-2"]
    assert {(c.image.casefold(), c.via, c.instances) for c in web} == {("owned-web", "image", 1)}
    assert {c.kind for c in web} <= {"vm", "role"}
    assert all(c.id for c in web)
    assert [c.name for c in found["other-owned"]] == ["vm-other"]


def test_only_the_images_asked_about_are_answered(provider_factory: Any) -> None:
    p = provider_factory(_seeded())
    assert list(p.consumers(_images(p, "other-owned"), ConsumersPolicy())) == ["other-owned"]
    assert p.consumers([], ConsumersPolicy()) == {}


def test_a_catalog_whose_vms_record_no_image_has_no_consumers(provider: Any) -> None:
    assert provider.consumers(_images(provider, "owned-web", "other-owned"), ConsumersPolicy()) == {}
