"""The ARM emulator's Azure Resource Graph (issue 11 §4): the documented KQL subset, paging with
``$skipToken`` (shared/azure-rest/CONTRACT.md §10.2), the refusals the provider falls back on, and
the scale-set lists (CONTRACT.md §10.1)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from reconciler.emulators.arm.model import ArmError
from reconciler.emulators.arm.resourcegraph import run_query
from tests.emulators.conftest import PREFIX, SUB, vm_resource

URL = "/providers/Microsoft.ResourceGraph/resources"
OTHER = "00000000-0000-0000-0000-0000000000bb"


def _vmss(name: str, image: str, capacity: int, sub: str = SUB) -> dict[str, Any]:
    return {"id": f"/subscriptions/{sub}/resourceGroups/rg-prod/providers/Microsoft.Compute/virtualMachineScaleSets/"
                  f"{name}", "location": "westeurope", "sku": {"name": "Standard_D2s_v5", "capacity": capacity},
            "properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"id": image}}}}}


def _state() -> dict[str, Any]:
    vms = []
    for i in range(5):
        vm = {**vm_resource(f"vm-{i}"), "id": f"{PREFIX}/virtualMachines/vm-{i}"}
        vm["properties"]["storageProfile"]["imageReference"] = {"id": f"{PREFIX}/images/img-{i % 2}"}
        vms.append(vm)
    return {"resources": [*vms, _vmss("vmss-a", f"{PREFIX}/images/img-0", 14),
                          _vmss("vmss-b", f"{PREFIX}/images/img-1", 3, sub=OTHER)]}


def _post(emu: Any, http: requests.Session, body: dict[str, Any], version: str = "2022-10-01") -> requests.Response:
    return http.post(emu.url + URL, params={"api-version": version}, json=body)


ROWS = [
    {"id": "/s/a", "name": "a", "type": "microsoft.compute/virtualmachines", "location": "westeurope",
     "properties": {"storageProfile": {"imageReference": {"id": "/IMG/X"}}}, "sku": None},
    {"id": "/s/b", "name": "b-test", "type": "microsoft.compute/virtualmachinescalesets", "location": "northeurope",
     "properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"id": "/img/y"}}}},
     "sku": {"capacity": 4}},
    {"id": "/s/c", "name": "c", "type": "microsoft.compute/images", "location": "westeurope", "properties": {},
     "sku": None},
]


def test_where_extend_project_over_the_providers_query_shape() -> None:
    rows, truncated, _ = run_query(
        "Resources | where type in~ ('Microsoft.Compute/virtualMachines', 'microsoft.compute/virtualmachinescalesets')"
        " | extend imageId = tolower(tostring(coalesce(properties.storageProfile.imageReference.id, "
        "properties.virtualMachineProfile.storageProfile.imageReference.id)))"
        " | where isnotempty(imageId) | project id, name, imageId, capacity = sku.capacity", ROWS)
    assert rows == [{"id": "/s/a", "name": "a", "imageId": "/img/x", "capacity": None},
                    {"id": "/s/b", "name": "b-test", "imageId": "/img/y", "capacity": 4}]
    assert truncated is False


@pytest.mark.parametrize(("query", "names"), [
    ("Resources | where type =~ 'MICROSOFT.COMPUTE/IMAGES'", ["c"]),
    ("Resources | where type == 'microsoft.compute/images'", ["c"]),
    ("Resources | where type != 'microsoft.compute/images'", ["a", "b-test"]),
    ("Resources | where type !~ 'Microsoft.Compute/Images'", ["a", "b-test"]),
    ("Resources | where name contains 'TEST'", ["b-test"]),
    ("Resources | where location in ('westeurope') and name != 'c'", ["a"]),
    ("Resources | where name == 'c' or name == 'a' and location == 'nowhere'", ["c"]),  # and binds tighter
    ("Resources | where (name == 'c' or name == 'a') and location == 'westeurope'", ["a", "c"]),
    ("Resources | where isempty(sku)", ["a", "c"]),
    ("Resources | where toupper(name) == 'C'", ["c"]),
])
def test_predicates(query: str, names: list[str]) -> None:
    rows, _, _ = run_query(query, ROWS)
    assert [r["name"] for r in rows] == names


def test_summarize_top_and_order() -> None:
    rows, truncated, ordered = run_query("Resources | summarize count() by location | top 1 by count_", ROWS)
    assert rows == [{"location": "westeurope", "count_": 2}] and truncated and ordered
    rows, _, _ = run_query("Resources | summarize by location | order by location asc", ROWS)
    assert rows == [{"location": "northeurope"}, {"location": "westeurope"}]
    rows, _, _ = run_query("Resources | summarize count() by tostring(properties.storageProfile.imageReference.id)"
                           " | sort by count_", ROWS)
    assert {r["id"]: r["count_"] for r in rows} == {"/IMG/X": 1, "": 2}


def test_limit_and_take_truncate() -> None:
    for op in ("limit", "take"):
        rows, truncated, _ = run_query(f"Resources | project id | {op} 2", ROWS)
        assert rows == [{"id": "/s/a"}, {"id": "/s/b"}] and truncated


@pytest.mark.parametrize("query", [
    "Resources | join kind=inner (Resources) on id",
    "ResourceContainers | limit 1",
    "Resources | where strlen(name) > 3",
    "Resources | where name == ",
    "Resources | limit many",
    "Resources | summarize make_list(name) by location",
    "Resources | top by name",
    "Resources | where name == 'a' ;",
])
def test_anything_outside_the_subset_is_an_invalid_query(query: str) -> None:
    with pytest.raises(ArmError) as raised:
        run_query(query, ROWS)
    assert raised.value.status == 400 and raised.value.code == "BadRequest"
    assert raised.value.details and raised.value.details[0]["code"] == "InvalidQuery"


# --------------------------------------------------------------------------------------------------
# Over HTTP


QUERY = "Resources | where type =~ 'microsoft.compute/virtualmachines' | project id, name"


def test_pages_follow_the_skip_token_with_the_same_query(make_emulator: Any, http: requests.Session) -> None:
    emu = make_emulator(_state())
    seen, token, pages = [], None, 0
    while True:
        options: dict[str, Any] = {"$top": 2, **({"$skipToken": token} if token else {})}
        body = _post(emu, http, {"subscriptions": [SUB], "query": QUERY, "options": options}).json()
        pages += 1
        assert body["totalRecords"] == 5 and body["resultTruncated"] == "false"
        assert body["count"] == len(body["data"])
        seen += [r["name"] for r in body["data"]]
        token = body.get("$skipToken")
        if not token:
            break
    assert seen == [f"vm-{i}" for i in range(5)] and pages == 3


def test_without_top_a_page_holds_100_and_top_is_bounded(make_emulator: Any, http: requests.Session) -> None:
    emu = make_emulator(_state())
    assert _post(emu, http, {"query": QUERY}).json()["count"] == 5
    for top in (0, 1001):
        answer = _post(emu, http, {"query": QUERY, "options": {"$top": top}})
        assert answer.status_code == 400, top


def test_scopes_types_and_the_table_format(make_emulator: Any, http: requests.Session) -> None:
    emu = make_emulator(_state())
    q = ("Resources | where type =~ 'microsoft.compute/virtualmachinescalesets' "
         "| project name, type, capacity = sku.capacity")
    mine = _post(emu, http, {"subscriptions": [SUB], "query": q}).json()["data"]
    assert mine == [{"name": "vmss-a", "type": "microsoft.compute/virtualmachinescalesets", "capacity": 14}]
    both = _post(emu, http, {"subscriptions": [SUB, OTHER], "query": q}).json()["data"]
    assert [r["name"] for r in both] == ["vmss-a", "vmss-b"]
    table = _post(emu, http, {"subscriptions": [SUB], "query": q, "options": {"resultFormat": "table"}}).json()["data"]
    assert table == {"columns": [{"name": "name", "type": "string"}, {"name": "type", "type": "string"},
                                 {"name": "capacity", "type": "integer"}],
                     "rows": [["vmss-a", "microsoft.compute/virtualmachinescalesets", 14]]}


def test_a_bad_skip_token_or_api_version_is_refused(make_emulator: Any, http: requests.Session) -> None:
    emu = make_emulator(_state())
    assert _post(emu, http, {"query": QUERY, "options": {"$skipToken": "bm90IGpzb24="}}).status_code == 400
    answer = _post(emu, http, {"query": QUERY}, version="2025-11-01")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "InvalidApiVersionParameter"
    assert _post(emu, http, {"subscriptions": [SUB]}).status_code == 400  # query is required


@pytest.mark.parametrize(("mode", "status", "code"), [("deny", 403, "AuthorizationFailed"),
                                                      ("absent", 404, "InvalidResourceNamespace")])
def test_the_switch_refuses_resource_graph(make_emulator: Any, http: requests.Session, mode: str, status: int,
                                           code: str) -> None:
    emu = make_emulator(_state())
    emu.faults.update({"resource_graph": mode})
    answer = _post(emu, http, {"query": QUERY})
    assert answer.status_code == status and answer.json()["error"]["code"] == code
    if mode == "deny":
        assert "Microsoft.ResourceGraph/resources/read" in answer.json()["error"]["message"]
    emu.faults.update({"resource_graph": "allow"})
    assert _post(emu, http, {"query": QUERY}).status_code == 200
    with pytest.raises(ValueError, match="resource_graph must be one of"):
        emu.faults.update({"resource_graph": "maybe"})


def test_scale_sets_and_vms_are_listed_per_subscription_and_paged(make_emulator: Any, http: requests.Session) -> None:
    emu = make_emulator(_state())
    base = f"{emu.url}/subscriptions/{SUB}/providers/Microsoft.Compute"
    sets = http.get(f"{base}/virtualMachineScaleSets", params={"api-version": "2025-11-01"}).json()
    assert [s["name"] for s in sets["value"]] == ["vmss-a"]
    assert sets["value"][0]["sku"]["capacity"] == 14
    rg = http.get(f"{emu.url}/subscriptions/{OTHER}/resourceGroups/rg-prod/providers/Microsoft.Compute/"
                  "virtualMachineScaleSets", params={"api-version": "2025-11-01"}).json()
    assert [s["name"] for s in rg["value"]] == ["vmss-b"]
    names, url, params = [], f"{base}/virtualMachines", {"api-version": "2025-11-01"}
    while url:
        page = http.get(url, params=params).json()
        names += [v["name"] for v in page["value"]]
        url, params = page.get("nextLink"), None
    assert names == [f"vm-{i}" for i in range(5)]
