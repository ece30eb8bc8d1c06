"""Issue 14 through the command line: ``images list`` / ``images families`` walk the Marketplace and
the galleries of the ARM emulator seeded with ``examples/arm-public-images.json`` (page size 2, so
every gallery list takes several pages), and every answer is checked against that seed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulators.arm import ArmEmulator

ROOT = Path(__file__).resolve().parents[2]
SEED: dict[str, Any] = json.loads((ROOT / "examples" / "arm-public-images.json").read_text(encoding="utf-8"))
PUBLIC = SEED["public"]
COMMUNITY = PUBLIC["communityGalleries"][0]
SHARED = PUBLIC["sharedGalleries"][0]


def _versions(sku: dict[str, Any]) -> list[str]:
    return [v if isinstance(v, str) else v["name"] for v in sku["versions"]]


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def seeded(publisher: str) -> dict[str, list[str]]:
    """family (publisher:offer:sku) -> its versions, from the seed."""
    pub = next(p for p in PUBLIC["marketplace"] if p["name"] == publisher)
    return {f"{publisher}:{o['name']}:{s['name']}": _versions(s) for o in pub["offers"] for s in o["skus"]}


@pytest.fixture
def arm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ArmEmulator]:
    emu = ArmEmulator(SEED, page_size=2)
    emu.start()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AZURE_ACCESS_TOKEN", "e2e-token")
    (tmp_path / "images.yaml").write_text(
        "version: 1\ncatalog:\n  name: platform\n  provider: azure\n"
        "  subscription: 00000000-0000-4000-8000-000000000001\n  resource_group: rg-images\n"
        f"  location: westeurope\n  endpoint: {emu.url}\n"
        f"  public_images: ['community:{COMMUNITY['name']}']\nimages: []\n")
    try:
        yield emu
    finally:
        emu.stop()


def rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()[1:]]


def test_without_a_publisher_the_publishers_are_listed_with_how_to_narrow(cli, arm) -> None:
    r = cli("images", "list", "--category", "public")
    assert r.code == 0, r.text
    assert [row[0] for row in rows(r.out)] == sorted(p["name"] for p in PUBLIC["marketplace"])
    assert "--publisher NAME" in r.err
    r = cli("images", "list", "--category", "public", "--format", "json")
    assert json.loads(r.out) == [{"publisher": p["name"], "location": "westeurope"} for p in PUBLIC["marketplace"]]


def test_a_publisher_walk_lists_every_version_with_its_columns(cli, arm) -> None:
    r = cli("images", "list", "--publisher", "Canonical")
    assert r.code == 0, r.text
    header = r.out.splitlines()[0].split()
    assert header == ["URN", "OS", "TYPE", "GEN", "ARCH", "SECURITY", "PLAN", "PUBLISHED"]
    want = {f"{family}:{v}" for family, versions in seeded("Canonical").items() for v in versions}
    assert {row[0] for row in rows(r.out)} == want
    by_urn = {row[0]: row for row in rows(r.out)}
    assert by_urn["Canonical:ubuntu-24_04-lts:server-arm64:24.04.202411030"][1:7] == [
        "linux", "os", "V2", "Arm64", "Standard", "no"]
    assert by_urn["Canonical:0001-com-ubuntu-server-jammy:22_04-lts:22.04.202410020"][3] == "V1"


def test_offer_sku_and_latest_narrow_the_walk(cli, arm) -> None:
    r = cli("images", "list", "--publisher", "Canonical", "--offer", "ubuntu-24_04-lts", "--sku", "server")
    assert [row[0].rsplit(":", 1)[1] for row in rows(r.out)] == _versions(
        next(s for o in PUBLIC["marketplace"][0]["offers"] for s in o["skus"] if s["name"] == "server"))
    r = cli("images", "list", "--publisher", "MicrosoftWindowsServer", "--latest", "--format", "json")
    assert r.code == 0, r.text
    got = {i["family"]: i["version"] for i in json.loads(r.out)}
    assert got == {f: max(vs, key=_key) for f, vs in seeded("MicrosoftWindowsServer").items()}


def test_a_marketplace_family_is_where_to_look(cli, arm) -> None:
    family = "Canonical:ubuntu-24_04-lts:server-arm64"
    r = cli("images", "list", "--category", "public", "--family", family, "--format", "json")
    assert r.code == 0, r.text
    assert [i["version"] for i in json.loads(r.out)] == seeded("Canonical")[family]
    r = cli("images", "list", "--category", "public", "--family", family, "--latest")
    assert [row[0] for row in rows(r.out)] == [f"{family}:{max(seeded('Canonical')[family], key=_key)}"]


def test_a_purchase_plan_and_the_json_keys_for_scripts(cli, arm) -> None:
    r = cli("images", "list", "--publisher", "RedHat", "--format", "json")
    images = json.loads(r.out)
    byos = next(i for i in images if i["offer"] == "rhel-byos")
    assert byos["plan"] == {"publisher": "redhat", "product": "rhel-byos", "name": "rhel-lvm94-gen2"}
    assert set(byos) == {"name", "family", "type", "os", "os_state", "data_disks", "created", "id", "source", "urn",
                         "location", "publisher", "offer", "sku", "version", "gallery", "definition",
                         "hyper_v_generation", "architecture", "security_type", "features", "plan",
                         "image_state", "end_of_life"}
    # What a script does with jq: the newest Gen2 x64 RHEL without a plan, for a build VM.
    pick = max((i for i in images if i["hyper_v_generation"] == "V2" and i["architecture"] == "x64"
                and i["plan"] is None), key=lambda i: _key(i["version"]))
    assert pick["urn"] == "RedHat:RHEL:9-lvm-gen2:9.5.2024112215"


def test_families_of_a_publisher(cli, arm) -> None:
    r = cli("images", "families", "--category", "public", "--publisher", "RedHat", "--format", "json")
    assert r.code == 0, r.text
    fams = {f["family"]: (f["images"], f["newest"]) for f in json.loads(r.out)}
    assert fams == {f: (len(vs), f"{f}:{max(vs, key=_key)}") for f, vs in seeded("RedHat").items()}


def test_a_community_gallery_over_several_pages(cli, arm) -> None:
    r = cli("images", "list", "--community-gallery", COMMUNITY["name"], "--format", "json")
    assert r.code == 0, r.text
    want = {f"{COMMUNITY['name']}/{d['name']}/{v['name']}" for d in COMMUNITY["images"] for v in d["versions"]}
    got = json.loads(r.out)
    assert {i["name"] for i in got} == want
    assert {i["urn"] for i in got} == {
        f"/CommunityGalleries/{COMMUNITY['name']}/Images/{d['name']}/Versions/{v['name']}"
        for d in COMMUNITY["images"] for v in d["versions"]}
    pages = [q for q in arm.requests if "/communityGalleries/" in q.path and "$skiptoken" in q.query]
    assert pages, "page size 2: definitions and versions come in several pages"
    r = cli("images", "list", "--community-gallery", COMMUNITY["name"], "--latest", "--family", "flatcar-stable-arm64")
    assert [row[0].rsplit("/", 1)[1] for row in rows(r.out)] == ["4152.2.1"]


def test_vm_images_of_a_shared_gallery(cli, arm) -> None:
    r = cli("images", "list", "--shared-gallery", SHARED["uniqueName"], "--type", "vm", "--format", "json")
    assert r.code == 0, r.text
    assert [(i["definition"], i["version"], i["data_disks"]) for i in json.loads(r.out)] == [
        ("web-base", "1.4.0", 1), ("web-base", "1.5.0", 1)]


def test_the_catalogs_public_images_are_in_the_snapshot(cli, arm) -> None:
    r = cli("images", "list", "--format", "json")
    assert r.code == 0, r.text
    names = {i["name"] for i in json.loads(r.out)}
    assert names == {f"{COMMUNITY['name']}/{d['name']}/{v['name']}" for d in COMMUNITY["images"]
                     for v in d["versions"]}
    r = cli("import", f"{COMMUNITY['name']}/flatcar-lts-gen1/3510.3.6", "--no-lock")
    assert r.code == 1 and "public image" in r.text


@pytest.mark.parametrize(("args", "message"), [
    (("--offer", "x"), "--offer needs --publisher"),
    (("--publisher", "Canonical", "--sku", "x"), "--sku needs --offer"),
    (("--publisher", "Canonical", "--community-gallery", "x"), "name different sources"),
    (("--publisher", "Canonical", "--category", "user"), "--category user lists no public images"),
    (("--publisher", "Nobody"), "no Marketplace publisher 'Nobody'"),
])
def test_bad_flags_and_names_are_clear_errors(cli, arm, args: tuple[str, ...], message: str) -> None:
    r = cli("images", "list", *args)
    assert r.code == 1
    assert message in r.err


def test_providers_without_public_browsing_say_so(cli, demo) -> None:
    r = cli("images", "list", "--publisher", "Canonical")
    assert r.code == 1
    assert "lists no public images apart from its catalog" in r.err
    r = cli("images", "list", "--category", "public", "--latest", "--format", "json")
    assert r.code == 0, r.text
