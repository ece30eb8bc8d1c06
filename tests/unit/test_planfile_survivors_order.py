"""planfile: the branches mutation testing found untested: stale image reasons before those of the
families (whose keys sort first), a waiting promotion that differs, and the envelope put where it is
when a provider's data holds the same text further on."""

from __future__ import annotations

import dataclasses
import json

from test_render_plans import full_plan, image, update_label

from reconciler.model import VM, Family, FamilySpec, Plan, PowerState, Snapshot
from reconciler.planfile import FORMAT, VERSION, dump_plan, load_plan, plan_differences, stale_reasons

CREATED = "2026-12-01T00:00:00Z"


def test_image_reasons_come_before_family_and_vm_reasons() -> None:
    plan = dataclasses.replace(full_plan(), changes=(update_label(),), fingerprints={
        "family:web-base": "fp-f1", "image:web-base-2026-10": "fp-1", "vm:build-web-01": "fp-v1"})
    snap = Snapshot(images=(image("web-base-2026-10", fingerprint="fp-2"),),
                    vms=(VM("build-web-01", "linux", PowerState.STOPPED, fingerprint="fp-v2"),),
                    families={"web-base": Family(FamilySpec("web-base"), fingerprint="fp-f2")})
    assert stale_reasons(plan, snap) == [
        "image 'web-base-2026-10' changed since the plan was made",
        "family 'web-base' changed since the plan was made",
        "VM 'build-web-01' changed since the plan was made",
    ]


def test_a_waiting_promotion_that_differs_is_named() -> None:
    saved = dataclasses.replace(full_plan(), changes=(update_label(),))
    fresh = dataclasses.replace(saved, changes=(dataclasses.replace(update_label(), waiting="dev:a is 2h old"),))
    assert plan_differences(saved, fresh) == [
        "the saved plan's update of web-base-2026-10 differs from a fresh plan's in "
        "whether it is a waiting promotion"
    ]
    assert plan_differences(fresh, fresh) == []


def test_the_checksum_goes_into_the_envelope_not_into_a_later_copy_of_its_text() -> None:
    # The live image's provider data (sorted after "plan_file") holds the very text of the unsealed
    # envelope: the top-level one is sealed, the copy is left as it is.
    copy = {"created": CREATED, "format": FORMAT, "version": VERSION}
    change = update_label()
    change = dataclasses.replace(change, before=dataclasses.replace(change.before, extra={"plan_file": copy}))
    plan: Plan = dataclasses.replace(full_plan(), changes=(change,))
    data = dump_plan(plan, created=CREATED)
    doc = json.loads(data)
    assert set(doc["plan_file"]) == {"checksum", "created", "format", "version"}
    assert doc["resource_changes"][0]["before"]["extra"] == {"plan_file": copy}
    assert load_plan(data, "p.json") == plan
