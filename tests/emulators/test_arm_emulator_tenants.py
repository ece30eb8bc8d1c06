"""The ARM emulator's tenants (``emulators/arm/tenants.py``): the state section, tokens naming their
tenant (JWT ``tid``), and the switch ``Faults.cross_tenant``. The promotion across tenants itself is
``tests/contract/test_azure_promotion_tenants.py``."""

from __future__ import annotations

import base64
import json

import pytest
import requests

from reconciler.emulators.arm import ArmEmulator
from reconciler.emulators.arm import tenants as t
from tests.emulators.conftest import PREFIX, SUB
from tests.emulators.test_arm_emulator import u

TENANT = "11111111-0000-4000-8000-000000000001"
OTHER = "22222222-0000-4000-8000-000000000002"


def jwt(**claims: object) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJub25lIn0.{body}.sig"


def test_the_tenants_section_loads_dumps_and_refuses_bad_shapes() -> None:
    assert t.load(None) == {}
    assert t.load({TENANT.upper(): [SUB.upper()]}) == {SUB: TENANT}
    with pytest.raises(ValueError, match="tenants must be an object"):
        t.load([SUB])
    with pytest.raises(ValueError, match="a list of subscription ids"):
        t.load({TENANT: SUB})
    with pytest.raises(ValueError, match="is in two tenants"):
        t.load({TENANT: [SUB], OTHER: [SUB]})
    with ArmEmulator({"resources": [], "tenants": {TENANT: [SUB]}}) as emu:
        assert emu.dump_state()["tenants"] == {TENANT: [SUB]}
    with ArmEmulator({"resources": []}) as emu:
        assert "tenants" not in emu.dump_state()


def test_a_token_names_its_tenant_by_its_tid_claim() -> None:
    assert t.tenant_of(jwt(tid=TENANT.upper())) == TENANT
    assert t.tenant_of(jwt(oid="x")) is None
    assert t.tenant_of("test-token") is None
    assert t.tenant_of("a.%%%.c") is None


def test_a_subscription_takes_tokens_of_its_tenant_or_of_none() -> None:
    with ArmEmulator({"resources": [], "tenants": {TENANT: [SUB]}}) as emu:
        url = u(emu, "/images")
        assert requests.get(url, headers={"Authorization": f"Bearer {jwt(tid=TENANT)}"}, timeout=10).status_code == 200
        assert requests.get(url, headers={"Authorization": "Bearer test-token"}, timeout=10).status_code == 200
        wrong = requests.get(url, headers={"Authorization": f"Bearer {jwt(tid=OTHER)}"}, timeout=10)
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "InvalidAuthenticationTokenTenant"
        assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
        other = PREFIX.replace(SUB, "00000000-0000-0000-0000-0000000000bb")
        other_sub = f"{emu.url}{other}/images?api-version=2025-11-01"
        free = requests.get(other_sub, headers={"Authorization": f"Bearer {jwt(tid=OTHER)}"}, timeout=10)
        assert free.status_code == 200  # a subscription in no tenant takes any token


def test_the_cross_tenant_switch_takes_only_its_two_values() -> None:
    with ArmEmulator({"resources": []}) as emu:
        bad = requests.post(f"{emu.url}/_emulator/faults", json={"cross_tenant": "maybe"}, timeout=10)
        assert bad.status_code == 400 and emu.faults.cross_tenant == "linked"
        ok = requests.post(f"{emu.url}/_emulator/faults", json={"cross_tenant": "tenant"}, timeout=10)
        assert ok.status_code == 200 and emu.faults.cross_tenant == "tenant"
