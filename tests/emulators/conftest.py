"""Fixtures for the ARM emulator tests: a started emulator whose every answer is checked against the spec."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from reconciler.emulators.arm import ArmEmulator, Faults
from tests.emulators.spec_check import SpecChecker

SUB = "00000000-0000-0000-0000-0000000000aa"
RG = "rg-images"
PREFIX = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute"
AUTH = {"Authorization": "Bearer test-token"}
COMPUTE = "2025-11-01"
GALLERY = "2025-03-03"


def vm_resource(name: str, *, power: str = "deallocated", generalized: bool = True,
                data_luns: tuple[int, ...] = (0,), os_type: str = "Linux") -> dict[str, Any]:
    """A VM as ARM's GET with $expand=instanceView returns it."""
    statuses = [
        {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded"},
        {"code": f"PowerState/{power}", "level": "Info", "displayStatus": f"VM {power}"},
    ]
    if generalized:
        statuses.append({"code": "OSState/generalized", "level": "Info", "displayStatus": "VM generalized"})
    return {
        "id": f"{PREFIX}/virtualMachines/{name}",
        "name": name,
        "type": "Microsoft.Compute/virtualMachines",
        "location": "westus",
        "tags": {},
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
            "storageProfile": {
                "osDisk": {"osType": os_type, "caching": "ReadWrite",
                           "managedDisk": {"id": f"{PREFIX}/disks/{name}-os"}},
                "dataDisks": [{"lun": lun, "managedDisk": {"id": f"{PREFIX}/disks/{name}-data{lun}"}}
                              for lun in data_luns],
            },
            "provisioningState": "Succeeded",
            "instanceView": {"statuses": statuses},
        },
    }


class FakeClock:
    """The injected clock: tests move time forward instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def checker() -> Iterator[SpecChecker]:
    """Every emulator made through ``make_emulator`` reports its answers here; violations fail the test."""
    found = SpecChecker()
    yield found
    assert not found.problems, "\n".join(found.problems)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_emulator(checker: SpecChecker, clock: FakeClock) -> Iterator[Callable[..., ArmEmulator]]:
    started: list[ArmEmulator] = []

    def make(state: dict[str, Any] | None = None, **kwargs: Any) -> ArmEmulator:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("faults", Faults(retry_after=0))
        emu = ArmEmulator(state, **kwargs)
        emu.response_hook = checker
        emu.start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers.update(AUTH)
        yield session


@pytest.fixture
def emu(make_emulator: Callable[..., ArmEmulator]) -> ArmEmulator:
    """An emulator seeded with a generalized+deallocated VM, a running VM and a specialized stopped VM."""
    return make_emulator({"resources": [
        vm_resource("build-01"),
        vm_resource("running-01", power="running", generalized=False),
        vm_resource("special-01", power="stopped", generalized=False),
    ]})
