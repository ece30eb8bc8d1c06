"""Promotion across tenants, over real HTTP against the ARM emulator (issue 11 §1).

The dev gallery is in subscription ``DEV_SUB`` of tenant ``DEV_TENANT``; the prod catalog in ``SUB`` of
``PROD_TENANT`` (the emulator state's ``tenants``). A token names its tenant by its JWT ``tid``.
The source is read with a token of its tenant (``RECONCILER_SOURCE_DEV_ACCESS_TOKEN``, or the
credential chain asked for that tenant) and the copy's PUT carries the catalog's token in
``Authorization`` and the source tenant's in ``x-ms-authorization-auxiliary``. Without a credential
for the source's tenant the plan says what to set, at the entry; the emulator refuses a copy without
the auxiliary token in both ways Azure is reported to (``Faults.cross_tenant``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.apply import apply_plan
from reconciler.emulators.arm import ArmEmulator, Faults
from reconciler.errors import ProviderError
from reconciler.model import Action, CatalogConfig
from reconciler.operations.saved import read_snapshot
from reconciler.plan import make_plan
from reconciler.providers import azure
from reconciler.providers.azure.auth import AUXILIARY_HEADER
from reconciler.providers.http.transport import Transport
from reconciler.spec import parse_spec

from .harness_azure_managed import LOCATION, RG, SUB, FakeClock, settings
from .test_azure_promotion import definition, gallery, version

PROD_TENANT = "11111111-0000-4000-8000-000000000001"
DEV_TENANT = "22222222-0000-4000-8000-000000000002"
DEV_SUB = "00000000-0000-4000-8000-0000000000d2"
DEV_RG = "rg-dev"
DEV = f"/subscriptions/{DEV_SUB}/resourceGroups/{DEV_RG}/providers/Microsoft.Compute/galleries/dev"
PROD = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/prod"
SOURCE_ID = f"{DEV}/images/web-base/versions/1.4.0"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
FAR = 4_102_444_800  # 2100-01-01: the tokens' exp


def jwt(tenant: str, exp: int = FAR) -> str:
    body = base64.urlsafe_b64encode(json.dumps({"tid": tenant, "exp": exp}).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJub25lIn0.{body}.sig"


def state() -> dict[str, Any]:
    return {"resources": [gallery(DEV, "dev"), gallery(PROD, "prod"), definition(DEV, "web-base"),
                          version(DEV, "web-base/1.4.0", ["West Europe"], {"validated": "true"})],
            "tenants": {PROD_TENANT: [SUB], DEV_TENANT: [DEV_SUB]}}


@pytest.fixture(params=["linked", "tenant"])
def emu(request: pytest.FixtureRequest) -> Iterator[ArmEmulator]:
    fake = FakeClock()
    with ArmEmulator(state(), page_size=2, clock=fake.clock, faults=Faults(cross_tenant=request.param)) as e:
        yield e


def provider(emu: ArmEmulator, env: dict[str, str], factory: Any = None) -> azure.AzureProvider:
    fake = FakeClock()
    config = CatalogConfig(name="platform", provider="azure",
                           settings=settings(emu, gallery="prod", tenant_id=PROD_TENANT))
    transport = Transport(emu.url, token=azure.token_provider(env), clock=fake.clock, sleep=fake.sleep,
                          rand=lambda: 0.5)
    return azure.AzureProvider(config, transport, clock=fake.clock, sleep=fake.sleep, env=env,
                               source_credential_factory=factory)


def desired(emu: ArmEmulator, tenant: str | None = DEV_TENANT) -> Any:
    entry = f"subscription: {DEV_SUB}, resource_group: {DEV_RG}, gallery: dev"
    if tenant:
        entry += f", tenant_id: {tenant}"
    text = "\n".join([
        "version: 1", "catalog:", "  name: platform", "  provider: azure", f"  subscription: {SUB}",
        f"  resource_group: {RG}", f"  location: {LOCATION}", "  gallery: prod", f"  endpoint: {emu.url}",
        f"  tenant_id: {PROD_TENANT}", "sources:", f"  dev: {{{entry}}}", "images:",
        "  - name: web-base/1.4.0", "    type: os", "    os: linux", "    source: {image: 'dev:web-base/1.4.0'}",
        "    promote_when: {tags: {validated: 'true'}}", ""])
    return parse_spec(text.encode(), "images.yaml")


def plan(p: azure.AzureProvider, spec: Any) -> Any:
    return make_plan(spec, read_snapshot(spec, p), p.capabilities, now=NOW)


def test_a_promotion_across_tenants_reads_with_the_source_token_and_copies_with_it_as_auxiliary(emu) -> None:
    env = {"AZURE_ACCESS_TOKEN": jwt(PROD_TENANT), "RECONCILER_SOURCE_DEV_ACCESS_TOKEN": jwt(DEV_TENANT)}
    p = provider(emu, env)
    try:
        spec = desired(emu)
        due = plan(p, spec)
        (change,) = due.pending
        assert change.action is Action.CAPTURE and not due.all_errors
        assert change.steps[-1] == "copy image from dev:web-base/1.4.0"
        result = apply_plan(due, p, parallelism=1)
        assert result.ok, [r.error for r in result.results]
        made = emu.backend.get(f"{PROD}/images/web-base/versions/1.4.0")
        assert made is not None and made["properties"]["storageProfile"]["source"]["id"].lower() == SOURCE_ID.lower()
        assert [c.action for c in plan(p, spec).changes] == [Action.NOOP]
    finally:
        p.close()


def test_the_credential_chain_is_asked_for_the_source_tenant(emu) -> None:
    asked: list[str | None] = []

    class Cred:
        def get_token(self, scope: str, tenant_id: str | None = None) -> Any:
            asked.append(tenant_id)
            return type("T", (), {"token": jwt(str(tenant_id)), "expires_on": float(FAR)})()

    p = provider(emu, {"AZURE_ACCESS_TOKEN": jwt(PROD_TENANT)}, factory=lambda authority: Cred())
    try:
        due = plan(p, desired(emu))
        assert len(due.pending) == 1 and not due.all_errors
        assert apply_plan(due, p, parallelism=1).ok
        assert asked == [DEV_TENANT]  # one token, cached: the read and the copy's auxiliary header
    finally:
        p.close()


def test_without_a_source_credential_the_plan_says_what_to_set_at_the_entry(emu) -> None:
    class NoSignIn:
        def get_token(self, scope: str, tenant_id: str | None = None) -> Any:
            raise type("CredentialUnavailableError", (Exception,), {})("nothing here")

    p = provider(emu, {"AZURE_ACCESS_TOKEN": jwt(PROD_TENANT)}, factory=lambda authority: NoSignIn())
    try:
        made = plan(p, desired(emu))
        (change,) = made.changes
        (error,) = change.errors
        assert error.code == "promotion-source-credential" and not made.applyable
        assert error.summary.startswith("source image dev:web-base/1.4.0 of 'web-base/1.4.0' cannot be read: no "
                                        f"usable credential for tenant {DEV_TENANT} (sources.dev.tenant_id)")
        assert "RECONCILER_SOURCE_DEV_ACCESS_TOKEN" in error.hint and f"--tenant {DEV_TENANT}" in error.hint
        assert error.location is not None and error.location.file == "images.yaml" and error.location.line == 17
    finally:
        p.close()


def test_an_expired_source_token_is_named_at_plan_time(emu) -> None:
    env = {"AZURE_ACCESS_TOKEN": jwt(PROD_TENANT), "RECONCILER_SOURCE_DEV_ACCESS_TOKEN": jwt(DEV_TENANT, exp=1000)}
    p = provider(emu, env)
    try:
        (error,) = plan(p, desired(emu)).changes[0].errors
        assert error.code == "promotion-source-credential"
        assert ("the access token in RECONCILER_SOURCE_DEV_ACCESS_TOKEN expired at 1970-01-01 00:16:40 UTC"
                in error.summary)
    finally:
        p.close()


def test_a_source_in_another_tenant_without_tenant_id_names_the_tenant_to_set(emu) -> None:
    p = provider(emu, {"AZURE_ACCESS_TOKEN": jwt(PROD_TENANT)})
    try:
        (error,) = plan(p, desired(emu, tenant=None)).changes[0].errors
        assert error.code == "promotion-source-credential"
        assert f"belongs to another tenant ({DEV_TENANT.lower()})" in error.summary
        assert error.hint.startswith(f"set sources.dev.tenant_id: {DEV_TENANT.lower()} and a credential for it: "
                                     "RECONCILER_SOURCE_DEV_ACCESS_TOKEN")
    finally:
        p.close()


def _put(emu: ArmEmulator, aux: str | None) -> Any:
    body = {"location": LOCATION, "properties": {"storageProfile": {"source": {"id": SOURCE_ID}},
                                                 "publishingProfile": {"targetRegions": [{"name": LOCATION}]}}}
    t = Transport(emu.url, token=lambda: jwt(PROD_TENANT))
    try:
        t.request("PUT", f"{PROD}/images/app/versions/1.0.0", params={"api-version": "2025-03-03"}, body=body,
                  headers=(lambda: {AUXILIARY_HEADER: aux}) if aux else None)
    finally:
        t.close()


def test_the_emulator_refuses_a_copy_from_another_tenant_without_its_auxiliary_token(emu) -> None:
    with pytest.raises(ProviderError) as e:
        _put(emu, None)
    if emu.faults.cross_tenant == "linked":
        assert (e.value.status, e.value.code) == (403, "LinkedAuthorizationFailed")
        assert f"is not authorized to access linked subscription '{DEV_SUB}'" in str(e.value)
    else:
        assert (e.value.status, e.value.code) == (401, "InvalidAuthenticationTokenTenant")
        assert f"It must match the tenant 'https://sts.windows.net/{DEV_TENANT.lower()}/'" in str(e.value)
    with pytest.raises(ProviderError) as wrong:  # an auxiliary token of a third tenant is none for DEV's
        _put(emu, f"Bearer {jwt('33333333-0000-4000-8000-000000000003')}")
    assert wrong.value.code == e.value.code
    with pytest.raises(ProviderError) as expired:
        _put(emu, f"Bearer {jwt(DEV_TENANT, exp=1000)}")
    assert (expired.value.status, expired.value.code) == (401, "InvalidAuthenticationToken")
    # the catalog's token on the source's subscription: the wrong issuer
    t = Transport(emu.url, token=lambda: jwt(PROD_TENANT))
    with pytest.raises(ProviderError) as read:
        t.request("GET", SOURCE_ID, params={"api-version": "2025-03-03"})
    t.close()
    assert (read.value.status, read.value.code) == (401, "InvalidAuthenticationTokenTenant")
