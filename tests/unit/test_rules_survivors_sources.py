"""rules.same_source per kind of source: the branches mutation testing found untested.

A capture retry (``rules.is_capture_retry``) returns an existing image only when it was made from
the declared source; before, an image without a VHD (captured from a VM, or from another snapshot)
passed for a capture from any managed image, snapshot or disk.
"""

from __future__ import annotations

import pytest

from reconciler import rules
from reconciler.model import Image, ImageSpec, ImageType, OSState, Source

OWNER = "platform"


@pytest.mark.parametrize(
    ("have", "want", "same"),
    [
        # VM: case-insensitive; a recorded source without a VM is another source.
        (Source(vm="Build-01"), Source(vm="build-01"), True),
        (Source(vhd="https://a/b.vhd"), Source(vm="build-01"), False),
        (Source(), Source(vm="xxxx"), False),
        # VHD: exact URL; a recorded source without a VHD is another source.
        (Source(vhd="https://a/b.vhd"), Source(vhd="https://a/b.vhd"), True),
        (Source(vhd="https://a/B.vhd"), Source(vhd="https://a/b.vhd"), False),
        (Source(vm="build-01"), Source(vhd="XXXX"), False),
        (Source(), Source(vhd="XXXX"), False),
        # Managed image, snapshot, disk: what the provider records, as the plan compares it.
        (Source(snapshot="snap-1"), Source(snapshot="snap-1"), True),
        (Source(snapshot="snap-2"), Source(snapshot="snap-1"), False),
        (Source(vm="build-01"), Source(snapshot="snap-1"), False),
        (Source(vhd="XXXX"), Source(snapshot="snap-1"), False),
        (Source(), Source(snapshot="snap-1"), False),
        (Source(disk="snap-1"), Source(snapshot="snap-1"), False),
        (Source(image="golden"), Source(image="golden"), True),
        (Source(image="other"), Source(image="golden"), False),
        (Source(disk="os-disk"), Source(disk="os-disk"), True),
        (Source(disk="os-disk", data_snapshots=("d0",)), Source(disk="os-disk"), False),
        (Source(snapshot="s", data_snapshots=("d0", "d1")), Source(snapshot="s", data_snapshots=("d0", "d1")), True),
        (Source(snapshot="s", data_snapshots=("d1", "d0")), Source(snapshot="s", data_snapshots=("d0", "d1")), False),
        (None, Source(snapshot="snap-1"), False),
    ],
)
def test_same_source_per_kind(have: Source | None, want: Source, same: bool) -> None:
    assert rules.same_source(have, want) is same


def test_an_image_from_a_vm_is_no_retry_of_a_snapshot_capture() -> None:
    existing = Image("img", ImageType.OS, "linux", OSState.GENERALIZED, owner=OWNER, source=Source(vm="build-01"))
    spec = ImageSpec("img", ImageType.OS, "linux", OSState.GENERALIZED, Source(snapshot="snap-1"))
    assert not rules.is_capture_retry(existing, spec, OWNER)
    refusal = rules.capture_refusal(existing, spec, OWNER)
    assert refusal is not None and refusal.code == rules.NAME_TAKEN
    again = Image("img", ImageType.OS, "linux", OSState.GENERALIZED, owner=OWNER, source=Source(snapshot="snap-1"))
    assert rules.is_capture_retry(again, spec, OWNER)
    assert rules.capture_refusal(again, spec, OWNER) is None
