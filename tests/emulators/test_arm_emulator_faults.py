"""ARM emulator fault injection, control endpoint, state files and the CLI entry ``serve``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from reconciler.emulators.arm import ArmEmulator, Faults, serve
from tests.emulators.conftest import COMPUTE, PREFIX, vm_resource
from tests.emulators.test_arm_emulator import capture_body, u


def test_throttle_answers_429_with_retry_after(make_emulator, http: requests.Session) -> None:
    emu = make_emulator(faults=Faults(throttle=1.0, retry_after=7))
    answer = http.get(u(emu, "/images"))
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    error = answer.json()["error"]
    assert error["code"] == "OperationNotAllowed" and error["details"][0]["code"] == "TooManyRequests"
    assert answer.headers["x-ms-request-id"]


def test_server_errors_are_500_or_503(make_emulator, http: requests.Session) -> None:
    emu = make_emulator(faults=Faults(server_error=1.0), seed=3)
    statuses = {http.get(u(emu, "/images")).status_code for _ in range(12)}
    assert statuses == {500, 503}


def test_dropped_connections_and_put_performed_before_drop(make_emulator, http: requests.Session) -> None:
    emu = make_emulator({"resources": [vm_resource("build-01")]}, faults=Faults(drop=1.0, retry_after=0))
    with pytest.raises(requests.ConnectionError):
        http.get(u(emu, "/images"))
    performed = 0
    for i in range(8):
        with pytest.raises(requests.ConnectionError):
            http.put(u(emu, f"/images/img-{i}"), json=capture_body())
    emu.faults.drop = 0.0
    names = {i["name"] for i in http.get(u(emu, "/images")).json()["value"]}
    performed = len(names)
    assert 0 < performed < 8  # some PUTs were carried out although the client never saw an answer
    assert all(r.status == 0 for r in emu.requests[:9])
    retried = http.put(u(emu, f"/images/{sorted(names)[0]}"), json=capture_body())
    assert retried.status_code == 200  # a retried PUT does not create a second image
    assert len(http.get(u(emu, "/images")).json()["value"]) == performed


def test_latency_is_added_per_request(make_emulator, http: requests.Session) -> None:
    emu = make_emulator(faults=Faults(latency=0.05))
    started = time.perf_counter()
    http.get(u(emu, "/images"))
    assert time.perf_counter() - started >= 0.05


def test_control_endpoint_reads_and_sets_faults(emu: ArmEmulator) -> None:
    with requests.Session() as plain:  # no credentials needed for the control endpoint
        current = plain.get(emu.url + "/_emulator/faults").json()
        assert current == Faults(retry_after=0).to_json()
        updated = plain.post(emu.url + "/_emulator/faults",
                             json={"throttle": 0.2, "lro_seconds": 1.5, "fail_operations": ["img"]})
        assert updated.status_code == 200
        assert emu.faults.throttle == 0.2 and emu.faults.fail_operations == {"img"}
        assert updated.json()["lro_seconds"] == 1.5
        bad = plain.post(emu.url + "/_emulator/faults", json={"throttle": 3})
        assert bad.status_code == 400 and emu.faults.throttle == 0.2
        unknown = plain.post(emu.url + "/_emulator/faults", json={"nope": 1, "drop": 0.5})
        assert unknown.status_code == 400 and emu.faults.drop == 0.0
        state = plain.get(emu.url + "/_emulator/state").json()
        assert {r["name"] for r in state["resources"]} == {"build-01", "running-01", "special-01"}
        assert plain.get(emu.url + "/_emulator/nothing").status_code == 404
    assert not any(r.path.startswith("/_emulator") for r in emu.requests)


def test_requests_are_recorded(emu: ArmEmulator, http: requests.Session) -> None:
    http.put(u(emu, "/images/rec"), json=capture_body())
    last = emu.requests[-1]
    assert (last.method, last.status) == ("PUT", 201)
    assert last.path == f"{PREFIX}/images/rec"
    assert last.query == {"api-version": COMPUTE}
    assert last.headers["authorization"] == "Bearer test-token"
    assert last.body["location"] == "westus"


def test_state_round_trip_through_file(tmp_path: Path, emu: ArmEmulator, http: requests.Session) -> None:
    http.put(u(emu, "/images/kept"), json=capture_body())
    state = emu.dump_state()
    state["resources"][0]["tags"] = {"mutated": "copy"}
    assert "mutated" not in json.dumps(emu.dump_state())  # dump_state is a deep copy
    path = tmp_path / "state.json"
    emu.save(path)
    with ArmEmulator.from_file(path) as again, requests.Session() as s:
        s.headers["Authorization"] = "Bearer t"
        assert again.url.startswith("http://127.0.0.1:")
        names = [i["name"] for i in s.get(u(again, "/images")).json()["value"]]
        assert names == ["kept"]
    assert again.dump_state() == json.loads(path.read_text())


def test_bad_state_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="resources"):
        ArmEmulator({"items": []})
    with pytest.raises(ValueError, match=r"resources\[0\]"):
        ArmEmulator({"resources": [{"name": "no-id"}]})
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    with pytest.raises(ValueError, match="broken.json"):
        ArmEmulator.from_file(broken)


def test_serve_loads_and_saves_the_state_file(tmp_path: Path) -> None:
    path = tmp_path / "arm-state.json"
    path.write_text(json.dumps({"resources": [vm_resource("build-01")]}))
    emu = serve("127.0.0.1", 0, path, 5)
    try:
        with requests.Session() as s:
            s.headers["Authorization"] = "Bearer t"
            assert s.put(u(emu, "/images/saved"), json=capture_body()).status_code == 201
        assert not emu.wait(0)
    finally:
        emu.stop()
    assert emu.wait(0)
    saved = json.loads(path.read_text())
    assert {r["name"] for r in saved["resources"]} == {"build-01", "saved"}

    fresh = tmp_path / "new.json"
    emu = serve(state_file=fresh)
    emu.stop()
    assert json.loads(fresh.read_text()) == {"resources": []}


def test_stop_does_not_hang_on_keep_alive_clients(emu: ArmEmulator, http: requests.Session) -> None:
    assert http.get(u(emu, "/images")).status_code == 200  # the session keeps its connection open
    started = time.perf_counter()
    emu.stop()
    assert time.perf_counter() - started < 10  # a hang guard, not a speed target
    emu.stop()  # idempotent
