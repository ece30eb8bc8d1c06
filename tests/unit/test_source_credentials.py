"""A promotion source in another tenant (issue 11 §1): which tenant, which token, and where it may go.

Pure rules of ``providers/azure/auth.py`` (``cross_tenant``, ``source_credential_problem``,
``source_token_variable``, ``source_token_provider``), the planner's report of a source that could
not be read for want of a credential (``ORIGIN_UNREADABLE``), and the transport refusing to send
an auxiliary header anywhere but its own origin. No network: nothing here opens a socket.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.errors import ProviderError, ReconcilerError
from reconciler.model import (
    ORIGIN_UNREADABLE,
    PROMOTION_EXTRA,
    Capabilities,
    CatalogConfig,
    DesiredState,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    Policy,
    Snapshot,
    Source,
)
from reconciler.plan import make_plan
from reconciler.providers.azure.auth import (
    AUXILIARY_HEADER,
    CredentialToken,
    StaticToken,
    cross_tenant,
    source_credential_problem,
    source_token_provider,
    source_token_variable,
)
from reconciler.providers.http.transport import Transport

DEV_TENANT = "22222222-0000-4000-8000-000000000002"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REF = "dev:web-base/1.4.0"


def jwt(**claims: Any) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJub25lIn0.{body}.sig"


# ---- which tenant -----------------------------------------------------------------------------------


def test_a_source_is_in_another_tenant_only_when_it_names_one_the_catalog_does_not() -> None:
    assert cross_tenant({}, {}) is None
    assert cross_tenant({"tenant_id": DEV_TENANT}, {}) is None
    assert cross_tenant({}, {"tenant_id": DEV_TENANT}) == DEV_TENANT
    assert cross_tenant({"tenant_id": "other"}, {"tenant_id": f" {DEV_TENANT} "}) == DEV_TENANT
    assert cross_tenant({"tenant_id": DEV_TENANT.upper()}, {"tenant_id": DEV_TENANT}) is None  # case-insensitive
    assert cross_tenant({}, {"tenant_id": "  "}) is None


def test_the_source_token_variable_is_named_after_the_alias() -> None:
    assert source_token_variable("dev") == "RECONCILER_SOURCE_DEV_ACCESS_TOKEN"
    assert source_token_variable("dev-eu.1") == "RECONCILER_SOURCE_DEV_EU_1_ACCESS_TOKEN"
    assert source_token_variable("Ünï") == "RECONCILER_SOURCE__N__ACCESS_TOKEN"


# ---- where the source token (and the auxiliary header) may go ------------------------------------------


def test_a_source_credential_goes_only_to_the_catalogs_own_endpoint_and_cloud() -> None:
    catalog = {"endpoint": "https://management.azure.com/", "cloud": "public"}
    assert source_credential_problem(catalog, {}, "dev") is None
    assert source_credential_problem(catalog, {"endpoint": "https://management.azure.com"}, "dev") is None
    assert source_credential_problem(catalog, {"cloud": "public"}, "dev") is None
    problem = source_credential_problem(catalog, {"endpoint": "https://arm.attacker.example"}, "dev")
    assert problem is not None and "names endpoint 'https://arm.attacker.example'" in problem
    assert "source 'dev'" in problem
    problem = source_credential_problem(catalog, {"cloud": "usgov"}, "dev")
    assert problem is not None and "names cloud 'usgov'" in problem
    # a catalog on the default endpoint: any source endpoint at all is another one
    assert source_credential_problem({}, {"endpoint": "https://management.azure.com"}, "dev") is not None


def test_the_auxiliary_header_never_goes_to_another_origin() -> None:
    sent: list[str] = []

    def aux() -> dict[str, str]:
        sent.append("asked")
        return {AUXILIARY_HEADER: "Bearer secret"}

    t = Transport("http://127.0.0.1:9", token=lambda: "primary")
    for url in ("https://arm.attacker.example/subscriptions/x", "http://127.0.0.2:9/x", "http://127.0.0.1:10/x"):
        with pytest.raises(ProviderError) as e:
            t.request("PUT", url, body={}, headers=aux, what="capture")
        assert e.value.code == "ForeignURL"
    assert sent == []  # refused before any header was built, nothing sent
    t.close()


# ---- which token --------------------------------------------------------------------------------------


def test_a_static_source_token_is_cleaned_and_its_expiry_named_with_its_variable() -> None:
    token = source_token_provider({"RECONCILER_SOURCE_DEV_ACCESS_TOKEN": " abc\n"}, "dev", DEV_TENANT,
                                  wall=lambda: 0.0)
    assert isinstance(token, StaticToken) and token() == "abc"
    with pytest.raises(ReconcilerError) as bad:
        source_token_provider({"RECONCILER_SOURCE_DEV_ACCESS_TOKEN": "a\x01b"}, "dev", DEV_TENANT)
    assert "RECONCILER_SOURCE_DEV_ACCESS_TOKEN contains a control character" in str(bad.value)
    old = source_token_provider({"RECONCILER_SOURCE_DEV_ACCESS_TOKEN": jwt(exp=1000, tid=DEV_TENANT)}, "dev",
                                DEV_TENANT, wall=lambda: 2000.0)
    with pytest.raises(ProviderError) as gone:
        old()
    assert str(gone.value).startswith("the access token in RECONCILER_SOURCE_DEV_ACCESS_TOKEN expired at")
    assert "RECONCILER_SOURCE_DEV_ACCESS_TOKEN" in gone.value.hint and "--tenant" in gone.value.hint
    # the catalog's own variable is no source token
    other = source_token_provider({"AZURE_ACCESS_TOKEN": "catalog"}, "dev", DEV_TENANT,
                                  credential_factory=lambda authority: None)
    assert isinstance(other, CredentialToken)


class _Cred:
    def __init__(self, fail: bool = False) -> None:
        self.asked: list[tuple[str, str | None]] = []
        self.fail = fail

    def get_token(self, scope: str, tenant_id: str | None = None) -> Any:
        self.asked.append((scope, tenant_id))
        if self.fail:
            raise type("CredentialUnavailableError", (Exception,), {})("no sign-in")
        return type("T", (), {"token": f"tok-{tenant_id}", "expires_on": 10_000.0})()


def test_without_a_static_token_the_credential_chain_is_asked_for_the_source_tenant() -> None:
    cred = _Cred()
    authorities: list[str] = []
    token = source_token_provider({}, "dev", DEV_TENANT, wall=lambda: 0.0,
                                  credential_factory=lambda a: authorities.append(a) or cred)
    assert token() == f"tok-{DEV_TENANT}"
    assert cred.asked == [("https://management.azure.com/.default", DEV_TENANT)]
    assert authorities == ["login.microsoftonline.com"]
    failing = source_token_provider({}, "dev", DEV_TENANT, credential_factory=lambda a: _Cred(fail=True))
    with pytest.raises(ProviderError) as e:
        failing()
    assert str(e.value) == f"could not get an Azure access token: no sign-in is available here for tenant {DEV_TENANT}"
    assert f"az login --tenant {DEV_TENANT}" in e.value.hint


def test_the_catalog_credential_is_asked_without_a_tenant() -> None:
    cred = _Cred()
    token = CredentialToken(lambda a: cred, __import__("reconciler.providers.clouds", fromlist=["x"]).get_cloud(None),
                            lambda: 0.0)
    assert token() == "tok-None" and cred.asked == [("https://management.azure.com/.default", None)]


# ---- the plan says what is missing, at the entry ----------------------------------------------------------


def _spec() -> ImageSpec:
    extra = {PROMOTION_EXTRA: {"from": REF, "source": "dev", "image": "web-base/1.4.0"}}
    return ImageSpec(name="web-base/1.4.0", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                     source=Source(image=REF), family="web-base", extra=extra, line=7)


def _plan(origin: Image) -> Any:
    desired = DesiredState(catalog=CatalogConfig(name="prod"), policy=Policy(), images=(_spec(),), digest="d",
                           path="images.yaml")
    caps = Capabilities(provider="test", mutable_fields=frozenset({"tags"}), promotion=True)
    return make_plan(desired, Snapshot(origins={REF: origin}), caps, now=NOW)


def test_a_source_without_a_credential_is_a_plan_error_at_the_entry_saying_what_to_set() -> None:
    unread = Image(name=REF, type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                   failed=f"no usable credential for tenant {DEV_TENANT} (sources.dev.tenant_id): no sign-in",
                   extra={ORIGIN_UNREADABLE: "set RECONCILER_SOURCE_DEV_ACCESS_TOKEN"})
    p = _plan(unread)
    (c,) = p.changes
    (e,) = c.errors
    assert e.code == "promotion-source-credential" and not p.applyable and c.waiting is None
    assert e.summary == (f"source image {REF} of 'web-base/1.4.0' cannot be read: no usable credential for tenant "
                         f"{DEV_TENANT} (sources.dev.tenant_id): no sign-in")
    assert e.hint == "set RECONCILER_SOURCE_DEV_ACCESS_TOKEN"
    assert e.location is not None and e.location.file == "images.yaml" and e.location.line == 7
    # without the marker, a failed source is the other error
    failed = Image(name=REF, type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED, failed="provisioning failed",
                   extra={ORIGIN_UNREADABLE: ""})
    assert [e.code for e in _plan(failed).changes[0].errors] == ["promotion-source-failed"]
