"""The classic emulator over real HTTP(S) on loopback: CONTRACT.md §11 behaviour, faults, TLS auth.

Layer: tests. Raw ``requests`` against the emulator (no provider), so these pin the wire contract
itself: what a client that is not ours would see.
"""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from reconciler.emulators.classic import ClassicEmulator, iter_roles, load_state, serve, serve_forever

NS = "{http://schemas.microsoft.com/windowsazure}"
SUB = "11111111-2222-3333-4444-555555555555"
V = {"x-ms-version": "2014-10-01"}
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "azure-classic"
CAPTURE_PATH = "/services/hostedservices/svc/deployments/dep/roleinstances/{role}/Operations"


def state() -> dict[str, Any]:
    return {
        "subscription": SUB,
        "os_images": [
            {"Category": "User", "Label": "os one", "Location": "West US", "LogicalSizeInGB": 30,
             "MediaLink": "https://s.blob.core.windows.net/vhds/os-one.vhd", "Name": "os-one", "OS": "Linux",
             "IsPremium": False, "OSState": "Generalized", "IOType": "Standard"},
            {"Category": "Public", "Label": "pub", "Location": "East US;West US", "LogicalSizeInGB": 30,
             "Name": "pub-os", "OS": "Linux", "IsPremium": False, "IOType": "Standard_LRS",
             "PublisherName": "Example"},
        ],
        "vm_images": [
            {"Name": "vm-one", "Label": "vm one", "Category": "User", "Language": "English",
             "OSDiskConfiguration": {"Name": "vm-one-os", "HostCaching": "ReadWrite", "OSState": "Generalized",
                                     "OS": "Linux", "LogicalDiskSizeInGB": 30, "IOType": "Standard"},
             "DataDiskConfigurations": [{"Name": "vm-one-d0", "HostCaching": "None", "Lun": 0,
                                         "LogicalDiskSizeInGB": 1023, "IOType": "Standard"}],
             "Location": "West US", "CreatedTime": "2015-06-01T00:00:00Z", "ModifiedTime": "2015-06-01T00:00:00Z",
             "IsPremium": False, "VMImageState": "VMImageReadyForUse"},
        ],
        "hosted_services": [
            {"ServiceName": "svc", "Location": "West US", "deployments": [
                {"Name": "dep", "DeploymentSlot": "Production", "roles": [
                    {"RoleName": "r1", "InstanceStatus": "StoppedVM", "RoleSize": "Small", "OS": "Linux",
                     "OSDisk": {"DiskName": "r1-os", "MediaLink": "https://s.blob.core.windows.net/vhds/r1.vhd"},
                     "DataDisks": [{"DiskName": "r1-d0", "Lun": 0}, {"DiskName": "r1-d1", "Lun": 1}]},
                    {"RoleName": "r2", "InstanceStatus": "ReadyRole", "RoleSize": "Small", "OS": "Linux"},
                ]},
            ]},
        ],
    }


class Api:
    """A thin raw client: base URL with the subscription, the version header by default."""

    def __init__(self, em: ClassicEmulator, **kw: Any) -> None:
        self.em = em
        self.session = requests.Session()
        self.session.trust_env = False
        self.kw = kw

    def __call__(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> requests.Response:
        h = dict(V) if headers is None else headers
        return self.session.request(method, f"{self.em.url}/{SUB}{path}", headers=h, timeout=10, **self.kw, **kw)

    def wait(self, resp: requests.Response) -> ET.Element:
        rid = resp.headers["x-ms-request-id"]
        for _ in range(10):
            op = ET.fromstring(self("GET", f"/operations/{rid}").content)
            if op.findtext(f"{NS}Status") != "InProgress":
                return op
        raise AssertionError("operation never finished")


@pytest.fixture
def em() -> Iterator[ClassicEmulator]:
    with ClassicEmulator(state()) as e:
        yield e


@pytest.fixture
def api(em: ClassicEmulator) -> Iterator[Api]:
    a = Api(em)
    yield a
    a.session.close()


def names(resp: requests.Response, item: str) -> list[str]:
    return [e.findtext(f"{NS}Name") or "" for e in ET.fromstring(resp.content).findall(f"{NS}{item}")]


def error_code(resp: requests.Response) -> str:
    return ET.fromstring(resp.content).findtext(f"{NS}Code") or ""


# --------------------------------------------------------------------------------------------------
# Headers, versions, errors


def test_every_response_has_a_request_id_and_the_namespace(api: Api) -> None:
    resp = api("GET", "/services/images")
    assert resp.status_code == 200
    assert len(resp.headers["x-ms-request-id"]) == 32 and "-" not in resp.headers["x-ms-request-id"]
    assert resp.headers["Content-Type"].startswith("application/xml")
    assert ET.fromstring(resp.content).tag == f"{NS}Images"
    assert names(resp, "OSImage") == ["os-one", "pub-os"]


@pytest.mark.parametrize("headers", [{}, {"x-ms-version": "latest"}])
def test_missing_or_bad_version_is_400(api: Api, headers: dict[str, str]) -> None:
    resp = api("GET", "/services/images", headers=headers)
    assert resp.status_code == 400 and error_code(resp) == "MissingOrIncorrectVersionHeader"


def test_vm_images_need_a_2014_version(api: Api) -> None:
    resp = api("GET", "/services/vmimages", headers={"x-ms-version": "2013-03-01"})
    assert resp.status_code == 400


def test_unknown_image_is_404_with_the_real_message(api: Api) -> None:
    resp = api("GET", "/services/images/nope")
    assert resp.status_code == 404 and error_code(resp) == "ResourceNotFound"
    assert ET.fromstring(resp.content).findtext(f"{NS}Message") == "The image with the specified name does not exist."


def test_other_subscription_is_forbidden(em: ClassicEmulator, api: Api) -> None:
    resp = api.session.get(f"{em.url}/99999999-0000-0000-0000-000000000000/services/images", headers=V)
    assert resp.status_code == 403 and error_code(resp) == "ForbiddenError"


def test_every_request_id_is_an_operation(api: Api) -> None:
    resp = api("GET", "/services/images")
    op = api.wait(resp)
    rid = resp.headers["x-ms-request-id"]
    assert op.findtext(f"{NS}ID") == f"{rid[:8]}-{rid[8:12]}-{rid[12:16]}-{rid[16:20]}-{rid[20:]}"
    assert (op.findtext(f"{NS}Status"), op.findtext(f"{NS}HttpStatusCode")) == ("Succeeded", "200")
    unknown = api("GET", "/operations/" + "0" * 32)
    assert unknown.status_code == 404 and error_code(unknown) == "ResourceNotFound"


# --------------------------------------------------------------------------------------------------
# Lists


def test_vm_image_list_filters(api: Api) -> None:
    assert names(api("GET", "/services/vmimages"), "VMImage") == ["vm-one"]
    assert names(api("GET", "/services/vmimages", params={"category": "Public"}), "VMImage") == []
    assert names(api("GET", "/services/vmimages", params={"location": "west us"}), "VMImage") == ["vm-one"]


@pytest.mark.skipif(not (SHARED / "vmimages.list.response.xml").exists(), reason=f"no shared fixtures at {SHARED}")
@pytest.mark.parametrize(("fixture_name", "path", "item", "kind"), [
    ("vmimages.list.response.xml", "/services/vmimages", "VMImage", "vm_images"),
    ("osimages.list.response.xml", "/services/images", "OSImage", "os_images"),
])
def test_list_responses_match_the_fixtures_shape(fixture_name: str, path: str, item: str, kind: str) -> None:
    """Seeded with a fixture's content, the emulator answers with the same elements in the same order."""
    fixture = ET.fromstring((SHARED / fixture_name).read_bytes())

    def record(el: ET.Element) -> Any:
        out: dict[str, Any] = {}
        for c in el:
            tag = c.tag.removeprefix(NS)
            if tag == "DataDiskConfigurations":
                out[tag] = [record(d) for d in c]
            elif len(c):
                out[tag] = record(c)
            else:
                out[tag] = c.text
        return out

    seeded = {"subscription": SUB, kind: [record(e) for e in fixture]}

    def shape(el: ET.Element) -> list[Any]:
        return [(c.tag, c.text if not len(c) else None, shape(c)) for c in el]

    with ClassicEmulator(seeded) as em:
        a = Api(em)
        try:
            got = ET.fromstring(a("GET", path).content)
        finally:
            a.session.close()
    assert got.tag == fixture.tag
    assert shape(got) == shape(fixture)


# --------------------------------------------------------------------------------------------------
# Capture (§11.4, §11.5)


def capture_vm_image(name: str, os_state: str = "Specialized") -> bytes:
    # The legacy SDK's spelling: a trailing space in the root tag, atom content type elsewhere.
    return (f'<CaptureRoleAsVMImageOperation  xmlns="http://schemas.microsoft.com/windowsazure">'
            f"<OperationType>CaptureRoleAsVMImageOperation</OperationType><OSState>{os_state}</OSState>"
            f"<VMImageName>{name}</VMImageName><VMImageLabel>label &amp; more</VMImageLabel>"
            f"<Description>d</Description><ImageFamily>fam</ImageFamily></CaptureRoleAsVMImageOperation >").encode()


def roles(em: ClassicEmulator) -> list[str]:
    return [f"{s}/{d}/{r['RoleName']}" for s, d, r in iter_roles(em.dump_state())]


def test_specialized_capture_keeps_the_vm_and_appears_when_done(em: ClassicEmulator, api: Api) -> None:
    resp = api("POST", CAPTURE_PATH.format(role="r1"), data=capture_vm_image("cap"),
               headers={**V, "Content-Type": "application/atom+xml;type=entry;charset=utf-8"})
    assert resp.status_code == 202 and resp.content == b""
    assert "cap" not in names(api("GET", "/services/vmimages"), "VMImage")  # not listed while in progress
    first = ET.fromstring(api("GET", f"/operations/{resp.headers['x-ms-request-id']}").content)
    assert first.findtext(f"{NS}Status") == "InProgress" and first.find(f"{NS}HttpStatusCode") is None
    assert api.wait(resp).findtext(f"{NS}Status") == "Succeeded"
    listed = ET.fromstring(api("GET", "/services/vmimages").content)
    cap = next(e for e in listed if e.findtext(f"{NS}Name") == "cap")
    assert cap.findtext(f"{NS}Label") == "label & more"
    assert cap.findtext(f"{NS}OSDiskConfiguration/{NS}OSState") == "Specialized"
    assert cap.findtext(f"{NS}RoleStateOnCapture") == "StoppedVM" and cap.findtext(f"{NS}RoleName") == "r1"
    assert len(cap.findall(f"{NS}DataDiskConfigurations/{NS}DataDiskConfiguration")) == 2
    assert "svc/dep/r1" in roles(em)


def test_generalized_capture_deletes_the_role_and_the_last_one_the_deployment(em: ClassicEmulator, api: Api) -> None:
    api.wait(api("POST", CAPTURE_PATH.format(role="r1"), data=capture_vm_image("g1", "generalized")))
    assert roles(em) == ["svc/dep/r2"]
    body = (b'<CaptureRoleOperation xmlns="http://schemas.microsoft.com/windowsazure">'
            b"<OperationType>CaptureRoleOperation</OperationType><PostCaptureAction>Delete</PostCaptureAction>"
            b"<TargetImageLabel>os</TargetImageLabel><TargetImageName>os-two</TargetImageName></CaptureRoleOperation>")
    api.wait(api("POST", CAPTURE_PATH.format(role="r2"), data=body))
    assert roles(em) == [] and em.dump_state()["hosted_services"][0]["deployments"] == []
    os_two = ET.fromstring(api("GET", "/services/images/os-two").content)
    assert (os_two.findtext(f"{NS}Category"), os_two.findtext(f"{NS}OSState")) == ("User", "Generalized")


def test_duplicate_names_conflict_synchronously_even_while_in_flight(api: Api) -> None:
    assert api("POST", CAPTURE_PATH.format(role="r1"), data=capture_vm_image("VM-ONE")).status_code == 409
    assert api("POST", CAPTURE_PATH.format(role="r1"), data=capture_vm_image("x")).status_code == 202
    dup = api("POST", CAPTURE_PATH.format(role="r2"), data=capture_vm_image("X"))
    assert dup.status_code == 409 and error_code(dup) == "ConflictError"


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"<not xml", 400, "InvalidXmlRequest"),
    (b'<CaptureRoleAsVMImageOperation xmlns="http://schemas.microsoft.com/windowsazure"><OperationType>'
     b"CaptureRoleAsVMImageOperation</OperationType><OSState>Sleepy</OSState><VMImageName>a</VMImageName>"
     b"<VMImageLabel>a</VMImageLabel></CaptureRoleAsVMImageOperation>", 400, "BadRequest"),
    (b'<CaptureRoleOperation xmlns="http://schemas.microsoft.com/windowsazure"><OperationType>CaptureRoleOperation'
     b"</OperationType><TargetImageName>a</TargetImageName></CaptureRoleOperation>", 400, "BadRequest"),
])
def test_bad_capture_bodies(api: Api, body: bytes, status: int, code: str) -> None:
    resp = api("POST", CAPTURE_PATH.format(role="r1"), data=body)
    assert (resp.status_code, error_code(resp)) == (status, code)


def test_capture_of_an_unknown_role_is_404(api: Api) -> None:
    assert api("POST", CAPTURE_PATH.format(role="ghost"), data=capture_vm_image("a")).status_code == 404


# --------------------------------------------------------------------------------------------------
# Update and delete (§11.6, §11.7)


def test_update_vm_image_merges(api: Api) -> None:
    body = (b'<VMImage xmlns="http://schemas.microsoft.com/windowsazure"><Label>new</Label>'
            b"<DataDiskConfigurations><DataDiskConfiguration><Name>vm-one-d0</Name><HostCaching>ReadOnly"
            b"</HostCaching><Lun>0</Lun></DataDiskConfiguration></DataDiskConfigurations>"
            b"<ImageFamily></ImageFamily><ShowInGui>false</ShowInGui></VMImage>")
    resp = api("PUT", "/services/vmimages/VM-ONE", data=body)
    assert resp.status_code == 200 and resp.content == b""
    assert api.wait(resp).findtext(f"{NS}Status") == "Succeeded"
    img = ET.fromstring(api("GET", "/services/vmimages").content)[0]
    assert img.findtext(f"{NS}Label") == "new" and img.findtext(f"{NS}Language") == "English"  # kept
    assert img.find(f"{NS}ImageFamily") is None  # empty means "not given"
    assert img.findtext(f"{NS}DataDiskConfigurations/{NS}DataDiskConfiguration/{NS}HostCaching") == "ReadOnly"
    assert img.findtext(f"{NS}ModifiedTime") != "2015-06-01T00:00:00Z"


def test_update_os_image_returns_it_and_public_images_refuse(api: Api) -> None:
    body = b'<OSImage xmlns="http://schemas.microsoft.com/windowsazure"><Label>L</Label><Description>D</Description></OSImage>'
    resp = api("PUT", "/services/images/os-one", data=body)
    assert resp.status_code == 200 and ET.fromstring(resp.content).findtext(f"{NS}Description") == "D"
    assert api("PUT", "/services/images/pub-os", data=body).status_code == 400
    assert api("PUT", "/services/images/ghost", data=body).status_code == 404
    assert api("PUT", "/services/images/os-one", data=b"<OSImage").status_code == 400


def test_delete_vm_image_is_async_and_comp_media_deletes_blobs(em: ClassicEmulator, api: Api) -> None:
    resp = api("DELETE", "/services/vmimages/vm-one", params={"comp": "media"})
    assert resp.status_code == 202
    assert names(api("GET", "/services/vmimages"), "VMImage") == ["vm-one"]
    api.wait(resp)
    assert names(api("GET", "/services/vmimages"), "VMImage") == []
    assert api("DELETE", "/services/vmimages/vm-one").status_code == 404


def test_delete_os_image_is_sync_and_keeps_blobs_without_comp_media(em: ClassicEmulator, api: Api) -> None:
    assert api("DELETE", "/services/images/os-one").status_code == 200
    assert api("GET", "/services/images/os-one").status_code == 404
    assert em.dump_state().get("deleted_blobs", []) == []
    assert api("DELETE", "/services/images/pub-os").status_code == 400


# --------------------------------------------------------------------------------------------------
# Faults


def test_throttle_and_server_error_faults(em: ClassicEmulator, api: Api) -> None:
    em.faults.throttle(1, retry_after=7, path="/services/images")
    em.faults.server_error(1, path="/services/images")
    first = api("GET", "/services/images")
    assert first.status_code == 429 and first.headers["Retry-After"] == "7"
    second = api("GET", "/services/images")
    assert second.status_code == 503 and error_code(second) == "ServerBusy"
    assert api("GET", "/services/images").status_code == 200
    assert [r.status for r in em.requests] == [429, 503, 200]


def test_drop_closes_the_connection_unanswered(em: ClassicEmulator, api: Api) -> None:
    em.faults.drop(1, method="GET")
    with pytest.raises(requests.ConnectionError):
        api("GET", "/services/images")
    assert api("GET", "/services/images").status_code == 200


def test_failed_operations_and_op_polls(em: ClassicEmulator, api: Api) -> None:
    em.faults.op_polls = 3
    em.faults.fail_operations(1, code="ConflictError", message="boom", status=409)
    resp = api("POST", CAPTURE_PATH.format(role="r1"), data=capture_vm_image("will-fail"))
    rid = resp.headers["x-ms-request-id"]
    statuses = [ET.fromstring(api("GET", f"/operations/{rid}").content).findtext(f"{NS}Status") for _ in range(3)]
    assert statuses == ["InProgress", "InProgress", "Failed"]
    op = ET.fromstring(api("GET", f"/operations/{rid}").content)
    assert op.findtext(f"{NS}HttpStatusCode") == "409" and op.findtext(f"{NS}Error/{NS}Code") == "ConflictError"
    assert "will-fail" not in names(api("GET", "/services/vmimages"), "VMImage")
    assert "svc/dep/r1" in roles(em)  # nothing happened


def test_latency_uses_the_injected_sleep() -> None:
    slept: list[float] = []
    with ClassicEmulator(state(), sleep=slept.append) as em:
        em.faults.latency(2.5)
        a = Api(em)
        try:
            assert a("GET", "/services/images").status_code == 200
        finally:
            a.session.close()
    assert slept == [2.5]


def test_op_seconds_use_the_injected_clock() -> None:
    now = [100.0]
    with ClassicEmulator(state(), clock=lambda: now[0]) as em:
        em.faults.op_polls, em.faults.op_seconds = 1, 30
        a = Api(em)
        try:
            rid = a("DELETE", "/services/vmimages/vm-one").headers["x-ms-request-id"]
            assert ET.fromstring(a("GET", f"/operations/{rid}").content).findtext(f"{NS}Status") == "InProgress"
            now[0] += 31
            assert ET.fromstring(a("GET", f"/operations/{rid}").content).findtext(f"{NS}Status") == "Succeeded"
        finally:
            a.session.close()


# --------------------------------------------------------------------------------------------------
# Authentication


def test_bearer_tokens_when_configured(em: ClassicEmulator) -> None:
    with ClassicEmulator({**state(), "tokens": ["good"]}) as tok:
        a = Api(tok)
        try:
            assert a("GET", "/services/images").status_code == 403
            assert a("GET", "/services/images", headers={**V, "Authorization": "Bearer bad"}).status_code == 403
            assert a("GET", "/services/images", headers={**V, "Authorization": "Bearer good"}).status_code == 200
        finally:
            a.session.close()


def test_tls_checks_the_client_certificate_thumbprint(tmp_path: Path) -> None:
    with ClassicEmulator(state(), tls=True) as em:
        files = em.tls_files
        assert files is not None and em.url.startswith("https://127.0.0.1:")
        stranger = str(tmp_path / "stranger.pem")
        em.issue_client_certificate(stranger, accepted=False)
        good, bad, none = (Api(em, verify=files.ca_cert, cert=files.client_pem),
                           Api(em, verify=files.ca_cert, cert=stranger), Api(em, verify=files.ca_cert))
        try:
            assert good("GET", "/services/images").status_code == 200
            for client in (bad, none):
                resp = client("GET", "/services/images")
                assert resp.status_code == 403 and error_code(resp) == "ForbiddenError"
                assert "failed to authenticate" in resp.text
            assert em.requests[0].client_thumbprint == files.client_thumbprint
        finally:
            for c in (good, bad, none):
                c.session.close()


def test_tls_rejects_a_client_that_does_not_trust_the_server() -> None:
    with ClassicEmulator(state(), tls=True) as em:
        a = Api(em)
        try:
            with pytest.raises(requests.exceptions.SSLError):
                a("GET", "/services/images", verify=True)
        finally:
            a.session.close()


# --------------------------------------------------------------------------------------------------
# The CLI entry point


def test_serve_loads_and_saves_the_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state()))
    em = serve("127.0.0.1", 0, path, tls=True, tls_dir=str(tmp_path / "tls"))
    try:
        assert em.url.startswith("https://127.0.0.1:") and em.tls_files is not None
        assert any(em.tls_files.publishsettings in line for line in em.banner())
        a = Api(em, verify=em.tls_files.ca_cert, cert=em.tls_files.client_pem)
        try:
            assert a("DELETE", "/services/images/os-one").status_code == 200
        finally:
            a.session.close()
    finally:
        em.stop()
    assert [i["Name"] for i in load_state(str(path))["os_images"]] == ["pub-os"]


def test_serve_forever_runs_until_stopped_and_returns_the_state() -> None:
    stop = threading.Event()
    seen: dict[str, Any] = {}

    def ready(em: ClassicEmulator) -> None:
        seen["url"] = em.url
        stop.set()

    final = serve_forever(on_ready=ready, stop=stop)
    assert seen["url"].startswith("http://127.0.0.1:") and final["os_images"] == []


def test_control_endpoint_sets_arm_style_faults(em: ClassicEmulator, api: Api) -> None:
    control = f"{em.url}/_emulator/faults"
    bad = api.session.post(control, json={"throttle": 2})
    assert bad.status_code == 400 and api.session.post(control, json={"nope": 1}).status_code == 400
    ok = api.session.post(control, json={"throttle": 1, "retry_after": 3, "lro_polls": 0,
                                         "fail_operations": ["VM-ONE"]})
    assert ok.status_code == 200 and ok.json()["op_polls"] == 1 and ok.json()["fail_operations"] == ["vm-one"]
    throttled = api("GET", "/services/images")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    api.session.post(control, json={"throttle": 0})
    resp = api("DELETE", "/services/vmimages/vm-one")
    op = ET.fromstring(api("GET", f"/operations/{resp.headers['x-ms-request-id']}").content)
    assert op.findtext(f"{NS}Status") == "Failed"  # lro_polls 0: the first poll ends it, failed by name
    assert names(api("GET", "/services/vmimages"), "VMImage") == ["vm-one"]
    assert api.session.get(f"{em.url}/_emulator/state").json()["subscription"] == SUB


def test_random_faults_are_reproducible_with_the_seed() -> None:
    def run(seed: int) -> list[int]:
        with ClassicEmulator(state(), seed=seed) as em:
            em.faults.update({"server_error": 0.5})
            a = Api(em)
            try:
                return [a("GET", "/services/images").status_code for _ in range(12)]
            finally:
                a.session.close()

    first = run(7)
    assert first == run(7) and {200, 503} == set(first)


@pytest.mark.skipif(not (SHARED / "update-vmimage.request.xml").exists(), reason=f"no shared fixtures at {SHARED}")
def test_the_fixture_request_bodies_are_accepted(em: ClassicEmulator, api: Api) -> None:
    em.state["vm_images"].append({
        "Name": "sql-golden", "Label": "sql golden", "Category": "User", "Language": "English",
        "OSDiskConfiguration": {"Name": "sql-golden-os", "OSState": "Generalized", "OS": "Windows"},
        "DataDiskConfigurations": [{"Name": "sql-golden-datadisk-0-2015-06-02", "HostCaching": "None", "Lun": 0}],
    })
    api.wait(api("PUT", "/services/vmimages/sql-golden", data=(SHARED / "update-vmimage.request.xml").read_bytes()))
    sql = next(e for e in ET.fromstring(api("GET", "/services/vmimages").content)
               if e.findtext(f"{NS}Name") == "sql-golden")
    assert (sql.findtext(f"{NS}Label"), sql.findtext(f"{NS}Description"), sql.findtext(f"{NS}ShowInGui")) == (
        "sql golden v2", "relabelled", "false")
    assert sql.findtext(f"{NS}Language") == "English"
    assert sql.findtext(f"{NS}DataDiskConfigurations/{NS}DataDiskConfiguration/{NS}HostCaching") == "ReadOnly"
    vm_capture = api("POST", CAPTURE_PATH.format(role="r1"), data=(SHARED / "capture-vmimage.request.xml").read_bytes())
    os_capture = api("POST", CAPTURE_PATH.format(role="r2"), data=(SHARED / "capture-role.request.xml").read_bytes())
    assert (vm_capture.status_code, os_capture.status_code) == (202, 202)
    api.wait(vm_capture)
    api.wait(os_capture)
    assert roles(em) == ["svc/dep/r1"]  # specialized capture kept r1; Capture Role deleted r2
    assert api("GET", "/services/images/web-base-os").status_code == 200
