"""``azure-classic`` captures over the classic emulator: a name taken by an image of the other kind is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.emulators.classic import ClassicEmulator
from reconciler.errors import ProviderError
from reconciler.model import ImageType, OSState
from reconciler.providers.classic import ClassicProvider
from tests.unit.test_classic_provider import Clock, make, mutating, spec, state


@pytest.fixture
def em() -> Iterator[ClassicEmulator]:
    with ClassicEmulator(state()) as e:
        yield e


@pytest.fixture
def provider(em: ClassicEmulator) -> Iterator[ClassicProvider]:
    p = make(em, Clock())
    yield p
    p.close()


def test_capture_refuses_a_name_taken_by_an_image_of_the_other_kind(
    em: ClassicEmulator, provider: ClassicProvider
) -> None:
    # 'unowned-os' is an unowned OS image. A VM image of the same name would hide it (or be hidden
    # by it) in the plan, which indexes images by name; PowerShell refuses this capture too.
    with pytest.raises(ProviderError) as e:
        provider.capture(spec("Unowned-OS", "websvc/web01"))
    assert e.value.status == 409 and "unowned-os" in str(e.value)
    # ... and an OS-image capture named like an existing VM image.
    with pytest.raises(ProviderError):
        provider.capture(spec("owned-vm", "websvc/gen01", type_=ImageType.OS, os_state=OSState.GENERALIZED))
    assert mutating(em) == []


def test_a_plan_finds_the_source_vm_in_every_form_the_docs_promise(provider: ClassicProvider) -> None:
    # docs/azure-classic.md: source.vm is role, service/role or service/deployment/role. The snapshot
    # lists 'gen01' under its shortest form; the planner must find it under the longer ones too.
    from reconciler.model import CatalogConfig, DesiredState, Policy, Snapshot
    from reconciler.plan import make_plan
    from reconciler.planfile import stale_reasons

    snap = provider.snapshot()
    deployment = snap.vm_index()["gen01"].id.split("/")[1]
    for form in ("gen01", "websvc/gen01", f"websvc/{deployment}/gen01", "WEBSVC/GEN01"):
        s = spec(f"img-{len(form)}", form, os_state=OSState.GENERALIZED)
        d = DesiredState(CatalogConfig(provider.owner, "azure-classic"), Policy(), (s,), "d" * 64)
        p = make_plan(d, snap, provider.capabilities)
        (change,) = p.changes
        assert [e.code for e in change.errors] == [], (form, change.errors)
        assert stale_reasons(p, snap, d.digest) == []
    # web01 is in two services: the bare role name is ambiguous, so it is no alias.
    assert "web01" not in snap.vm_index()
    assert isinstance(snap, Snapshot)


def test_the_emulator_state_format_documented_in_the_repository_loads() -> None:
    import re
    from pathlib import Path

    import yaml

    from tests.unit.test_classic_provider import Clock, make

    doc = (Path(__file__).resolve().parents[2] / "docs" / "azure-classic.md").read_text()
    section = doc.split("### The emulator's state", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    state = yaml.safe_load(block.group(1))
    with ClassicEmulator(state) as em:
        p = make(em, Clock(), subscription=state["subscription"])
        try:
            snap = p.snapshot()
        finally:
            p.close()
    assert {i.name for i in snap.images} == {"base-os", "web-vm"}
    assert [v.name for v in snap.vms] == ["web01"]
    assert "websvc/websvc/web01" in snap.vm_index()
