"""The ARM emulator's public images (issue 14): the Marketplace hierarchy, community and shared
galleries served from the state file's ``public`` section, every answer checked against the spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from reconciler.emulators.arm import ArmEmulator
from tests.emulators.conftest import AUTH, COMPUTE, GALLERY, SUB

SEED_FILE = Path(__file__).resolve().parents[2] / "examples" / "arm-public-images.json"
L = f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westeurope"
UBUNTU = f"{L}/publishers/Canonical/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus/server/versions"


def seed(**public: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SEED_FILE.read_text(encoding="utf-8"))
    data["public"].update(public)
    return data


def get(http: requests.Session, emu: ArmEmulator, path: str, version: str = COMPUTE, **query: str) -> Any:
    answer = http.get(emu.url + path, params={"api-version": version, **query}, headers=AUTH)
    return answer.status_code, answer.json() if answer.content else None


def names(body: Any) -> list[str]:
    return [r["name"] for r in body]


def test_the_marketplace_hierarchy_is_served_level_by_level(make_emulator, http) -> None:
    emu = make_emulator(seed())
    assert get(http, emu, f"{L}/publishers")[1] and names(get(http, emu, f"{L}/publishers")[1]) == [
        "Canonical", "MicrosoftWindowsServer", "RedHat"]
    status, offers = get(http, emu, f"{L}/publishers/canonical/artifacttypes/vmimage/offers")  # names: no case
    assert status == 200 and names(offers) == ["0001-com-ubuntu-server-jammy", "ubuntu-24_04-lts"]
    status, skus = get(http, emu, f"{L}/publishers/Canonical/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus")
    assert names(skus) == ["server", "server-arm64", "server-gen1"]
    status, versions = get(http, emu, UBUNTU)
    assert names(versions) == ["24.04.202409120", "24.04.202410090", "24.04.202411030"]
    assert versions[0]["id"].endswith("/Publishers/Canonical/ArtifactTypes/VMImage/Offers/ubuntu-24_04-lts"
                                      "/Skus/server/Versions/24.04.202409120")
    assert "properties" not in versions[0]


def test_a_version_carries_the_skus_properties_under_its_own(make_emulator, http) -> None:
    emu = make_emulator(seed())
    status, image = get(http, emu, f"{UBUNTU}/24.04.202411030")
    assert status == 200
    props = image["properties"]
    assert (props["hyperVGeneration"], props["architecture"], props["osDiskImage"]["operatingSystem"]) == (
        "V2", "x64", "Linux")
    assert {"name": "SecurityType", "value": "TrustedLaunchAndConfidentialVmSupported"} in props["features"]
    jammy = f"{L}/publishers/Canonical/artifacttypes/vmimage/offers/0001-com-ubuntu-server-jammy/skus/22_04-lts"
    _, old = get(http, emu, f"{jammy}/versions/22.04.202401090")
    assert old["properties"]["imageDeprecationStatus"]["imageState"] == "ScheduledForDeprecation"


def test_orderby_and_top_pick_the_newest_version(make_emulator, http) -> None:
    emu = make_emulator(seed())
    _, newest = get(http, emu, UBUNTU, **{"$orderby": "name desc", "$top": "1"})
    assert names(newest) == ["24.04.202411030"]
    _, free_text = get(http, emu, UBUNTU, **{"$orderby": "aa"})  # the swagger's examples send "aa": ignored
    assert names(free_text)[0] == "24.04.202409120"
    status, body = get(http, emu, UBUNTU, **{"$top": "x"})
    assert status == 400 and body["error"]["target"] == "$top"


def test_versions_sort_by_number_not_text(make_emulator, http) -> None:
    state = {"resources": [], "public": {"marketplace": [{"name": "P", "offers": [{"name": "O", "skus": [
        {"name": "S", "versions": ["10.0.0", "9.0.1", "9.0.10"]}]}]}]}}
    emu = make_emulator(state)
    _, body = get(http, emu, f"{L}/publishers/P/artifacttypes/vmimage/offers/O/skus/S/versions")
    assert names(body) == ["9.0.1", "9.0.10", "10.0.0"]


@pytest.mark.parametrize("missing", [
    f"{L}/publishers/Nobody/artifacttypes/vmimage/offers",
    f"{L}/publishers/Canonical/artifacttypes/vmimage/offers/nope/skus",
    f"{L}/publishers/Canonical/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus/nope/versions",
    f"{UBUNTU}/1.2.3",
])
def test_a_missing_level_is_artifact_not_found(make_emulator, http, missing: str) -> None:
    emu = make_emulator(seed())
    status, body = get(http, emu, missing)
    assert status == 404
    assert body["error"] == {"code": "NotFound", "message": "Artifact: VMImage was not found."}


def test_list_with_properties_in_each_shape(make_emulator, http) -> None:
    emu = make_emulator(seed())
    _, array = get(http, emu, UBUNTU, **{"$expand": "Properties"})
    assert isinstance(array, list) and all("properties" in v for v in array)
    emu.load_state(seed(listWithProperties="page"))
    emu.backend.page_size = 2
    _, page = get(http, emu, UBUNTU, **{"$expand": "Properties"})
    assert names(page["value"]) == names(array)[:2] and "nextLink" in page
    rest = http.get(page["nextLink"], headers=AUTH).json()
    assert names(rest["value"]) == names(array)[2:] and "nextLink" not in rest
    emu.load_state(seed(listWithProperties="unsupported"))
    status, refused = get(http, emu, UBUNTU, **{"$expand": "Properties"})
    assert status == 400 and refused["error"]["target"] == "$expand"


def test_publishers_follow_their_locations_and_edge_zones(make_emulator, http) -> None:
    state = {"resources": [], "public": {"marketplace": [
        {"name": "Everywhere"}, {"name": "OnlyEast", "locations": ["East US"]},
        {"name": "Edge", "edgeZones": ["microsoftlosangeles1"]}]}}
    emu = make_emulator(state)
    assert names(get(http, emu, f"{L}/publishers")[1]) == ["Edge", "Everywhere"]
    east = f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/eastus"
    assert names(get(http, emu, f"{east}/publishers")[1]) == ["Edge", "Everywhere", "OnlyEast"]
    _, zone = get(http, emu, f"{L}/edgeZones/microsoftlosangeles1/publishers")
    assert names(zone) == ["Edge"]
    assert zone[0]["extendedLocation"] == {"name": "microsoftlosangeles1", "type": "EdgeZone"}


def test_community_gallery_definitions_and_versions_page(make_emulator, http) -> None:
    emu = make_emulator(seed(), page_size=2)
    data = seed()["public"]["communityGalleries"][0]
    base = f"{L}/communityGalleries/{data['name']}"
    status, gallery = get(http, emu, base, GALLERY)
    assert status == 200 and gallery["identifier"]["uniqueId"] == f"/CommunityGalleries/{data['name']}"
    _, first = get(http, emu, f"{base}/images", GALLERY)
    assert len(first["value"]) == 2 and "nextLink" in first
    second = http.get(first["nextLink"], headers=AUTH).json()
    assert names(first["value"] + second["value"]) == sorted(d["name"] for d in data["images"])
    _, versions = get(http, emu, f"{base}/images/flatcar-stable-amd64/versions", GALLERY)
    more = http.get(versions["nextLink"], headers=AUTH).json()
    assert names(versions["value"] + more["value"]) == ["4081.2.0", "4152.2.0", "4152.2.1"]
    _, one = get(http, emu, f"{base}/images/flatcar-stable-amd64/versions/4152.2.1", GALLERY)
    assert one["identifier"]["uniqueId"].endswith("/Images/flatcar-stable-amd64/Versions/4152.2.1")
    assert get(http, emu, f"{L}/communityGalleries/nope", GALLERY)[0] == 404
    assert get(http, emu, f"{base}/images/nope", GALLERY)[0] == 404
    assert get(http, emu, f"{base}/images/flatcar-stable-amd64/versions/9.9.9", GALLERY)[0] == 404


def test_shared_galleries_list_by_scope(make_emulator, http) -> None:
    emu = make_emulator(seed())
    unique = seed()["public"]["sharedGalleries"][0]["uniqueName"]
    _, listed = get(http, emu, f"{L}/sharedGalleries", GALLERY)
    assert names(listed["value"]) == [unique]
    _, tenant = get(http, emu, f"{L}/sharedGalleries", GALLERY, sharedTo="tenant")
    assert tenant["value"] == []
    _, images = get(http, emu, f"{L}/sharedGalleries/{unique}/images", GALLERY)
    assert names(images["value"]) == ["web-base", "win-build-agent"]
    _, version = get(http, emu, f"{L}/sharedGalleries/{unique}/images/web-base/versions/1.5.0", GALLERY)
    assert version["properties"]["storageProfile"]["dataDiskImages"][0]["lun"] == 0


def test_public_images_are_read_only(make_emulator, http) -> None:
    emu = make_emulator(seed())
    answer = http.put(emu.url + f"{UBUNTU}/24.04.202411030", params={"api-version": COMPUTE}, headers=AUTH,
                      json={})
    assert answer.status_code == 405


def test_the_state_file_keeps_the_public_section(tmp_path: Path) -> None:
    with ArmEmulator(seed()) as emu:
        dumped = emu.dump_state()
    assert dumped["public"]["marketplace"] == seed()["public"]["marketplace"]
    with ArmEmulator({"resources": []}) as emu:
        assert "public" not in emu.dump_state()


@pytest.mark.parametrize(("public", "message"), [
    ([], "public must be an object"),
    ({"marketplace": [{"offers": []}]}, "public.marketplace[0] needs a string 'name'"),
    ({"marketplace": [{"name": "A"}, {"name": "a"}]}, "listed twice"),
    ({"marketplace": [{"name": "A", "offers": [{"name": "o", "skus": [{"name": "s", "versions": [1]}]}]}]},
     "public.marketplace[0].offers[0].skus[0].versions[0] needs a string 'name'"),
    ({"sharedGalleries": [{"name": "x"}]}, "needs a string 'uniqueName'"),
    ({"listWithProperties": "sometimes"}, "listWithProperties must be one of"),
    ({"communityGallery": []}, "unknown key 'communityGallery'"),
    ({"marketplace": [{"name": "A", "locations": "westeurope"}]}, "locations must be a list of strings"),
])
def test_a_bad_public_section_names_the_item(public: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ArmEmulator({"resources": [], "public": public})
