"""ARM emulator over real HTTP: paging from the sorted index while resources come and go, gallery
operations under ``capsOperations``, the throttling, RBAC and token-expiry switches (issues 13, 10 §4/§5)."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from tests.emulators.conftest import COMPUTE, PREFIX, SUB, vm_resource
from tests.emulators.test_arm_emulator import capture_body, finish, u
from tests.emulators.test_arm_emulator_gallery import g

OTHER_RG = f"/subscriptions/{SUB}/resourceGroups/rg-other/providers/Microsoft.Compute"


def image(prefix: str, name: str) -> dict[str, Any]:
    return {"id": f"{prefix}/images/{name}", "location": "westus",
            "properties": {"storageProfile": {"osDisk": {"osType": "Linux", "osState": "Generalized"}},
                           "provisioningState": "Succeeded"}}


def walk(http: requests.Session, url: str | None, between: Any = None) -> tuple[list[str], int]:
    names: list[str] = []
    pages = 0
    while url:
        page = http.get(url)
        assert page.status_code == 200, page.text
        body = page.json()
        names += [i["name"] for i in body["value"]]
        url = body.get("nextLink")
        pages += 1
        if between is not None and url:
            between(pages)
    return names, pages


def test_pages_follow_the_index_while_resources_are_created_and_deleted(make_emulator,
                                                                         http: requests.Session) -> None:
    """Each page starts after the last id of the one before (the $skiptoken): an image created
    behind the cursor is not seen, one ahead of it is, a deleted one ahead is not; no page repeats
    or skips what stayed (Azure's nextLink contract, CONTRACT.md §1 "Pagination")."""
    names = [f"img-{i:03d}" for i in range(0, 40, 2)]  # even numbers
    other = [image(OTHER_RG, "img-001"), {**image(PREFIX, "x"), "id": f"{PREFIX}/galleries/img-002",
                                          "type": "Microsoft.Compute/galleries"}]
    emu = make_emulator({"resources": [image(PREFIX, n) for n in reversed(names)] + other}, page_size=5)

    def churn(page: int) -> None:
        if page == 1:  # the cursor is after img-008
            assert http.put(u(emu, "/images/img-003"), json={**image(PREFIX, "img-003"), "properties": {
                "storageProfile": {"osDisk": {"osType": "Linux", "osState": "Generalized", "blobUri":
                                              "https://a.blob.core.windows.net/v/x.vhd"}}}}).status_code == 201
            assert http.put(u(emu, "/images/img-015"), json={**image(PREFIX, "img-015"), "properties": {
                "storageProfile": {"osDisk": {"osType": "Linux", "osState": "Generalized", "blobUri":
                                              "https://a.blob.core.windows.net/v/x.vhd"}}}}).status_code == 201
            finish(http, http.delete(u(emu, "/images/img-020")))
            finish(http, http.delete(u(emu, "/images/img-002")))  # behind the cursor: already read

    seen, pages = walk(http, u(emu, "/images"), churn)
    expected = [n for n in names if n <= "img-008"] + sorted(
        [n for n in names if n > "img-008" and n != "img-020"] + ["img-015"])
    assert seen == expected and pages == 4
    # The resource group's neighbour and other types never show up; the subscription list has both groups.
    sub_names, _ = walk(http, f"{emu.url}/subscriptions/{SUB}/providers/Microsoft.Compute/images?api-version={COMPUTE}")
    assert "img-001" in sub_names and "img-003" in sub_names and len(sub_names) == len(set(sub_names)) == 21


def test_a_skiptoken_past_the_end_or_between_ids_gives_the_rest(make_emulator, http: requests.Session) -> None:
    emu = make_emulator({"resources": [image(PREFIX, f"img-{i}") for i in range(6)]}, page_size=4)
    first = http.get(u(emu, "/images")).json()
    token = parse_qs(urlsplit(first["nextLink"]).query)["$skiptoken"][0]
    after = base64.urlsafe_b64decode(token).decode()
    assert after == f"{PREFIX}/images/img-3".lower()
    between = base64.urlsafe_b64encode(f"{PREFIX}/images/img-2z".lower().encode()).decode()
    assert [i["name"] for i in http.get(u(emu, "/images", **{"$skiptoken": between})).json()["value"]] == [
        "img-3", "img-4", "img-5"]
    past = base64.urlsafe_b64encode(f"{PREFIX}/images/zzz".lower().encode()).decode()
    assert http.get(u(emu, "/images", **{"$skiptoken": past})).json() == {"value": []}
    not_an_id = base64.urlsafe_b64encode(b"img-3").decode()
    assert http.get(u(emu, "/images", **{"$skiptoken": not_an_id})).status_code == 400


def test_a_definition_with_versions_cannot_be_deleted_and_lists_its_versions_only(make_emulator,
                                                                                 http: requests.Session) -> None:
    gal = f"{PREFIX}/galleries/gal"
    state = {"resources": [
        {"id": gal, "location": "westus", "properties": {"provisioningState": "Succeeded"}},
        *[{"id": f"{gal}/images/{d}", "location": "westus", "properties": {
            "osType": "Linux", "osState": "Generalized", "hyperVGeneration": "V1",
            "identifier": {"publisher": "p", "offer": "o", "sku": d}, "provisioningState": "Succeeded"}}
          for d in ("web", "web-2")],
        *[{"id": f"{gal}/images/{d}/versions/1.0.{i}", "location": "westus", "properties": {
            "storageProfile": {}, "publishingProfile": {}, "provisioningState": "Succeeded"}}
          for d in ("web", "web-2") for i in range(3)],
    ]}
    emu = make_emulator(state, page_size=2)
    names, pages = walk(http, g(emu, "/images/web/versions"))
    assert names == ["1.0.0", "1.0.1", "1.0.2"] and pages == 2  # not web-2's, whose id shares the prefix
    refused = http.delete(g(emu, "/images/web"))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "CannotDeleteResource"


def test_gallery_operations_are_capsoperations_compute_ones_are_operations(make_emulator,
                                                                         http: requests.Session) -> None:
    """GalleryRP answers its PUT/PATCH/DELETE with ``.../locations/{loc}/capsOperations/{id}``
    (BEHAVIOURS.md row 7; the GalleryRP 2025-03-03 examples ``Gallery_Delete``, ``GalleryImage_Delete``,
    ``GalleryImageVersion_Delete``), Compute with ``.../operations/{id}``; neither is found under the other."""
    emu = make_emulator({"resources": [vm_resource("build-01")]})
    created = http.put(g(emu, ""), json={"location": "West US", "properties": {}})
    status_url = created.headers["Azure-AsyncOperation"]
    assert f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westus/capsOperations/" in status_url
    assert created.headers["Location"] == status_url + "&monitor=true"
    wrong = status_url.replace("/capsOperations/", "/operations/")
    assert http.get(wrong).status_code == 404
    assert finish(http, created)["status"] == "Succeeded"
    monitor = http.get(created.headers["Location"])
    assert monitor.status_code == 200 and monitor.json()["type"] == "Microsoft.Compute/galleries"
    props = {"osType": "Linux", "osState": "Generalized", "identifier": {"publisher": "p", "offer": "o", "sku": "s"}}
    definition = http.put(g(emu, "/images/web"), json={"location": "westus", "properties": props})
    assert "/capsOperations/" in definition.headers["Azure-AsyncOperation"]
    finish(http, definition)
    patched = http.patch(g(emu, "/images/web"), json={"properties": {**props, "description": "d"}})
    assert patched.status_code == 200, patched.text
    assert "/capsOperations/" in patched.headers["Azure-AsyncOperation"]
    finish(http, patched)
    deleted = http.delete(g(emu, "/images/web"))
    assert deleted.status_code == 202 and "/capsOperations/" in deleted.headers["Azure-AsyncOperation"]
    assert finish(http, deleted)["status"] == "Succeeded"
    managed = http.put(u(emu, "/images/img"), json=capture_body())
    assert "/locations/westus/operations/" in managed.headers["Azure-AsyncOperation"]
    assert http.get(managed.headers["Azure-AsyncOperation"].replace("/operations/", "/capsOperations/")
                    ).status_code == 404


def test_caps_operations_read_can_be_denied_as_rbac_does(make_emulator, http: requests.Session) -> None:
    emu = make_emulator()
    emu.faults.update({"caps_operations_read": "deny"})
    created = http.put(g(emu, ""), json={"location": "westus", "properties": {}})
    assert created.status_code == 201
    denied = http.get(created.headers["Azure-AsyncOperation"])
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "AuthorizationFailed"
    assert "Microsoft.Compute/locations/capsOperations/read" in denied.json()["error"]["message"]
    emu.faults.update({"caps_operations_read": "allow"})
    assert finish(http, created)["status"] == "Succeeded"


def test_throttle_next_answers_429_with_the_long_retry_after_then_serves(make_emulator,
                                                                        http: requests.Session) -> None:
    emu = make_emulator()
    emu.faults.update({"throttle_next": 2, "retry_after": 1200})
    for _ in range(2):
        r = http.get(u(emu, "/images"))
        assert r.status_code == 429 and r.headers["Retry-After"] == "1200"
        assert r.json()["error"]["details"][0]["code"] == "TooManyRequests"
    assert http.get(u(emu, "/images")).status_code == 200 and emu.faults.throttle_next == 0
    control = requests.post(f"{emu.url}/_emulator/faults", json={"throttle_next": -1})
    assert control.status_code == 400


def _jwt(exp: int) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': exp})}.sig"


def test_an_expired_jwt_is_refused_as_arm_refuses_it(make_emulator) -> None:
    now = [1_800_000_000.0]  # 1/15/2027 8:00:00 AM UTC
    emu = make_emulator(wall=lambda: now[0])
    fresh = requests.get(u(emu, "/images"), headers={"Authorization": f"Bearer {_jwt(int(now[0]) + 60)}"})
    assert fresh.status_code == 200
    now[0] += 3600 + 5
    stale = requests.get(u(emu, "/images"), headers={"Authorization": f"Bearer {_jwt(1_800_000_060)}"})
    assert stale.status_code == 401
    assert stale.json()["error"] == {
        "code": "ExpiredAuthenticationToken",
        "message": "The access token expiry UTC time '1/15/2027 8:01:00 AM' is earlier than current UTC time "
                   "'1/15/2027 9:00:05 AM'.",
    }
    assert 'error="invalid_token"' in stale.headers["WWW-Authenticate"]
    # Opaque tokens (the tests' and benchmarks') are taken as before.
    assert requests.get(u(emu, "/images"), headers={"Authorization": "Bearer opaque"}).status_code == 200
