"""Public images on Resource Manager (issue 14): the azure provider against the ARM emulator serving
the seed in ``examples/arm-public-images.json`` (Marketplace, a community and a shared gallery).

Over real HTTP on loopback: the Marketplace walk level by level (request counts), the three shapes
the emulator can give ``ListWithProperties`` (the swagger's array, the example's page, refused: one
GET per version), ``--latest``, galleries over several pages, the snapshot's ``public_images`` and
the write-time guard refusing a public image by its Resource Manager name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulators.arm import ArmEmulator
from reconciler.errors import NotFound, ReconcilerError, RefusedError
from reconciler.model import (
    CatalogConfig,
    Category,
    DesiredState,
    ImageSpec,
    ImageType,
    OSState,
    Policy,
    PublicQuery,
    Source,
)
from reconciler.plan import make_plan
from reconciler.providers import azure
from reconciler.providers.azure.public import PublicFacts, parse_sources

from .harness_azure_managed import TOKEN, FakeClock, settings
from .seed import OWNER

SEED_FILE = Path(__file__).resolve().parents[2] / "examples" / "arm-public-images.json"
SEED: dict[str, Any] = json.loads(SEED_FILE.read_text(encoding="utf-8"))
COMMUNITY = SEED["public"]["communityGalleries"][0]["name"]
SHARED = SEED["public"]["sharedGalleries"][0]["uniqueName"]


def _version_name(v: Any) -> str:
    return v if isinstance(v, str) else v["name"]


def seeded_urns(publisher: str) -> set[str]:
    """Every URN the seed holds for ``publisher``: what a full walk must find."""
    pub = next(p for p in SEED["public"]["marketplace"] if p["name"] == publisher)
    return {f"{publisher}:{o['name']}:{s['name']}:{_version_name(v)}"
            for o in pub["offers"] for s in o["skus"] for v in s["versions"]}


def open_azure(emu: ArmEmulator, fake: FakeClock, **extra: Any) -> Any:
    config = CatalogConfig(name=OWNER, provider="azure", settings=settings(emu, **extra))
    return azure.open_provider(config, env={"AZURE_ACCESS_TOKEN": TOKEN}, clock=fake.clock, sleep=fake.sleep,
                               rand=lambda: 0.5)


def state(shape: str = "array") -> dict[str, Any]:
    public = dict(SEED["public"])
    if shape != "array":
        public["listWithProperties"] = shape
    return {"resources": [], "public": public}


@pytest.fixture
def world() -> Iterator[tuple[ArmEmulator, Any]]:
    fake = FakeClock()
    with ArmEmulator(state(), page_size=2, clock=fake.clock) as emu:
        p = open_azure(emu, fake, public_images=[f"community:{COMMUNITY}", "RedHat:RHEL:9-lvm-gen2"])
        try:
            yield emu, p
        finally:
            p.close()


@pytest.mark.parametrize("shape", ["array", "page", "unsupported"])
def test_walking_a_publisher_finds_every_seeded_version_in_each_list_shape(shape: str) -> None:
    fake = FakeClock()
    with ArmEmulator(state(shape), page_size=2, clock=fake.clock) as emu:
        provider = open_azure(emu, fake)
        try:
            listing = provider.browse_public(PublicQuery(publisher="Canonical"))
        finally:
            provider.close()
    assert {i.name for i in listing.images} == seeded_urns("Canonical")
    gen2 = next(i for i in listing.images if i.name == "Canonical:ubuntu-24_04-lts:server:24.04.202411030")
    assert gen2.category is Category.PUBLIC and gen2.owner is None
    assert gen2.family == "Canonical:ubuntu-24_04-lts:server"
    assert isinstance(gen2.facts, PublicFacts)
    assert (gen2.facts.hyper_v_generation, gen2.facts.architecture, gen2.facts.security_type) == (
        "V2", "x64", "TrustedLaunchAndConfidentialVmSupported")
    arm = next(i for i in listing.images if i.name.endswith(":server-arm64:24.04.202411030"))
    assert arm.facts is not None and arm.facts.document_fields()["architecture"] == "Arm64"
    # Level by level: 1 offers list, 1 skus list per offer, then per sku one list (with properties,
    # or, refused, a plain list plus one GET per version).
    skus = sum(len(o["skus"]) for p in SEED["public"]["marketplace"] if p["name"] == "Canonical" for o in p["offers"])
    assert sum(1 for r in emu.requests if r.path.endswith("/offers")) == 1
    assert sum(1 for r in emu.requests if r.path.endswith("/skus")) == 2  # one per offer
    lists = [r for r in emu.requests if r.path.endswith("/versions")]
    if shape == "array":
        assert len(lists) == skus
    elif shape == "page":
        assert len(lists) > skus  # skus with 3 versions take two pages of 2
    else:
        assert len(lists) == 2 * skus  # refused with $expand, then the plain list
        per_version = [r for r in emu.requests if "/versions/" in r.path]
        assert len(per_version) == len(seeded_urns("Canonical"))


@pytest.mark.parametrize("shape", ["array", "unsupported"])
def test_latest_keeps_the_newest_version_per_sku(shape: str) -> None:
    fake = FakeClock()
    with ArmEmulator(state(shape), page_size=2, clock=fake.clock) as emu:
        provider = open_azure(emu, fake)
        try:
            listing = provider.browse_public(PublicQuery(publisher="MicrosoftWindowsServer", latest=True))
        finally:
            provider.close()
    names = sorted(i.name for i in listing.images)
    assert names == [
        "MicrosoftWindowsServer:WindowsServer:2019-datacenter-gensecond:17763.6659.241205",
        "MicrosoftWindowsServer:WindowsServer:2019-datacenter:17763.6659.241205",
        "MicrosoftWindowsServer:WindowsServer:2022-datacenter-azure-edition:20348.3091.250112",
        "MicrosoftWindowsServer:WindowsServer:2025-datacenter-azure-edition:26100.2605.241207",
    ]
    assert all(i.os == "windows" for i in listing.images)
    if shape == "unsupported":  # only the newest version of each sku is read
        assert sum(1 for r in emu.requests if "/versions/" in r.path) == 4


def test_offer_and_sku_narrow_the_walk(world: tuple[ArmEmulator, Any]) -> None:
    emu, provider = world
    listing = provider.browse_public(PublicQuery(publisher="RedHat", offer="rhel-byos", sku="rhel-lvm94-gen2"))
    (image,) = listing.images
    assert image.name == "RedHat:rhel-byos:rhel-lvm94-gen2:9.4.2024060511"
    assert image.facts is not None
    assert image.facts.document_fields()["plan"] == {"publisher": "redhat", "product": "rhel-byos",
                                                     "name": "rhel-lvm94-gen2"}
    assert not any(r.path.endswith("/offers") or r.path.endswith("/skus") for r in emu.requests)


def test_no_publisher_lists_the_publishers_of_the_location(world: tuple[ArmEmulator, Any]) -> None:
    _, provider = world
    listing = provider.browse_public(PublicQuery())
    assert listing.images == ()
    assert listing.publishers == ("Canonical", "MicrosoftWindowsServer", "RedHat")
    assert listing.location == "westeurope"


def test_an_unknown_publisher_says_how_to_find_one(world: tuple[ArmEmulator, Any]) -> None:
    _, provider = world
    with pytest.raises(NotFound) as e:
        provider.browse_public(PublicQuery(publisher="Nobody"))
    assert "Nobody" in str(e.value) and "--category public" in (e.value.hint or "")


def test_a_community_gallery_is_read_over_several_pages(world: tuple[ArmEmulator, Any]) -> None:
    emu, provider = world
    listing = provider.browse_public(PublicQuery(community_gallery=COMMUNITY))
    seeded = {f"{COMMUNITY}/{d['name']}/{v['name']}" for d in SEED["public"]["communityGalleries"][0]["images"]
              for v in d["versions"]}
    assert {i.name for i in listing.images} == seeded
    assert any("$skiptoken" in r.query for r in emu.requests), "page size 2: the lists take several pages"
    arm64 = next(i for i in listing.images if "/flatcar-stable-arm64/4152.2.1" in i.name)
    assert arm64.family == "flatcar-stable-arm64"
    assert arm64.created == "2025-02-11T00:00:00Z"
    assert arm64.id == f"/CommunityGalleries/{COMMUNITY}/Images/flatcar-stable-arm64/Versions/4152.2.1"
    latest = provider.browse_public(PublicQuery(community_gallery=COMMUNITY, latest=True))
    assert sorted(i.name.rsplit("/", 2)[1] + "/" + i.name.rsplit("/", 1)[1] for i in latest.images) == [
        "flatcar-lts-gen1/3510.3.6", "flatcar-stable-amd64/4152.2.1", "flatcar-stable-arm64/4152.2.1"]


def test_a_shared_gallery_lists_vm_images_with_their_data_disks(world: tuple[ArmEmulator, Any]) -> None:
    _, provider = world
    listing = provider.browse_public(PublicQuery(shared_gallery=SHARED))
    web = next(i for i in listing.images if i.name == f"{SHARED}/web-base/1.5.0")
    assert (web.type, web.data_disks, web.os) == (ImageType.VM, 1, "linux")
    assert web.facts is not None and web.facts.document_fields()["source"] == "shared"


def test_an_unknown_gallery_is_not_found_with_a_hint(world: tuple[ArmEmulator, Any]) -> None:
    _, provider = world
    with pytest.raises(NotFound) as e:
        provider.browse_public(PublicQuery(community_gallery="nope"))
    assert "public name" in (e.value.hint or "")


def test_the_snapshot_holds_the_public_images_the_setting_names(world: tuple[ArmEmulator, Any]) -> None:
    _, provider = world
    public = [i for i in provider.snapshot().images if i.category is Category.PUBLIC]
    names = {i.name for i in public}
    assert {"RedHat:RHEL:9-lvm-gen2:9.4.2024081415", "RedHat:RHEL:9-lvm-gen2:9.5.2024112215"} <= names
    assert f"{COMMUNITY}/flatcar-lts-gen1/3510.3.6" in names
    assert not any(":8-lvm:" in n for n in names), "only the named sku"
    assert all(i.owner is None and i.fingerprint for i in public)


def test_the_guard_refuses_changing_a_public_image_by_its_arm_name(world: tuple[ArmEmulator, Any]) -> None:
    emu, provider = world
    snap = provider.snapshot().image_index()
    for name in ("RedHat:RHEL:9-lvm-gen2:9.5.2024112215", f"{COMMUNITY}/flatcar-lts-gen1/3510.3.6"):
        image = snap[name.casefold()]
        spec = ImageSpec(name=name, type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                         source=Source(vm="x"), label="hijacked")
        with pytest.raises(RefusedError) as e:
            provider.update(image, spec)
        assert e.value.code == "public"
        with pytest.raises(RefusedError):
            provider.remove(image)
        with pytest.raises(RefusedError):
            provider.adopt(image)
    assert not [r for r in emu.requests if r.method != "GET"], "nothing is ever written"


def test_the_planner_refuses_a_declared_name_held_by_a_public_image(world: tuple[ArmEmulator, Any]) -> None:
    """The planner's existing rule, fed by the azure snapshot (a valid file cannot spell such a name
    on azure: the name pattern refuses ':' and a second '/'; the planner still holds the line)."""
    _, provider = world
    name = "RedHat:RHEL:9-lvm-gen2:9.5.2024112215"
    spec = ImageSpec(name=name, type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED, source=Source(vm="x"))
    desired = DesiredState(catalog=CatalogConfig(name=OWNER, provider="azure"), policy=Policy(), images=(spec,),
                           digest="d")
    plan = make_plan(desired, provider.snapshot(), provider.capabilities)
    assert plan.errored
    assert any("held by a public image" in str(e) for e in plan.all_errors), plan.all_errors


def test_reading_a_public_name_that_does_not_exist_is_none(world: tuple[ArmEmulator, Any]) -> None:
    _, provider = world
    reader = provider.backend._public()
    assert reader.read("Canonical:ubuntu-24_04-lts:server:1.0.0") is None
    assert reader.read(f"{COMMUNITY}/nope/1.0.0") is None
    shared = reader.read(f"{SHARED}/web-base/1.4.0")
    assert shared is not None and shared.facts.document_fields()["source"] == "shared"


def test_public_images_setting_entries() -> None:
    sources = parse_sources(["Canonical", "Canonical:ubuntu-24_04-lts:server", "community:abc", "shared:X-Y"])
    assert [(s.kind, s.publisher, s.offer, s.sku, s.gallery) for s in sources] == [
        ("marketplace", "Canonical", None, None, None),
        ("marketplace", "Canonical", "ubuntu-24_04-lts", "server", None),
        ("community", None, None, None, "abc"),
        ("shared", None, None, None, "X-Y"),
    ]
    with pytest.raises(ReconcilerError):
        parse_sources(["a:b:c:d"])


def test_public_images_need_a_location() -> None:
    fake = FakeClock()
    with ArmEmulator(state(), clock=fake.clock) as emu:
        provider = open_azure(emu, fake, location="")
        try:
            with pytest.raises(ReconcilerError) as e:
                provider.browse_public(PublicQuery(publisher="Canonical"))
        finally:
            provider.close()
    assert "location" in str(e.value)


@pytest.mark.parametrize("shape", ["array", "unsupported"])
def test_the_walk_never_nests_one_levels_parallel_calls_in_anothers(shape: str) -> None:
    """Bounded parallelism: each level's calls go through one ``parallel`` (at most ``read_workers``
    threads), and no call inside it starts another, so the walk never runs more than that at once."""
    fake = FakeClock()
    active, nested, levels = [0], [0], []
    with ArmEmulator(state(shape), page_size=2, clock=fake.clock) as emu:
        provider = open_azure(emu, fake)
        arm = provider.backend.arm

        def parallel(fn: Any, items: list[Any]) -> list[Any]:
            nested[0] += active[0]
            active[0] += 1
            levels.append(len(items))
            try:
                return arm.parallel(fn, items)
            finally:
                active[0] -= 1

        try:
            reader = provider.backend._public()
            images = reader.marketplace(PublicQuery(publisher="Canonical"), parallel)
            images += reader.gallery("community", COMMUNITY, parallel)
        finally:
            provider.close()
    assert nested[0] == 0
    assert len(images) == len(seeded_urns("Canonical")) + 6
    assert arm.read_workers == 8 and levels[0] == 2  # the two offers' sku lists, side by side
