"""Issue 8 items 1-3: a credential goes only to the selected cloud, loopback or a host the CI trusts.

The rule itself (pure, ``providers/clouds.py``), its use at ``validate`` time (the file cannot
name a host to steal the token with; every refusal has file:line:col and a hint), the open-time
check of every provider (defence in depth: ``open_provider`` and the Blob lock refuse on their own,
also for an endpoint that comes from a .publishsettings file), clouds (endpoint, scope, authority,
Blob suffix), and token hygiene (whitespace stripped, control characters refused unseen, no
header value in an error message).
"""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import ProviderError, ReconcilerError
from reconciler.model import CatalogConfig
from reconciler.providers import azure
from reconciler.providers import classic as classic_pkg
from reconciler.providers.clouds import (
    CLOUDS,
    clean_token,
    credential_target_problem,
    parse_trusted_hosts,
)
from reconciler.spec import check_spec

SUB = "00000000-0000-4000-8000-000000000001"
TOKEN_ENV = {"AZURE_ACCESS_TOKEN": "t0k"}


# --------------------------------------------------------------------------------------------------
# The rule (pure)


@pytest.mark.parametrize(
    ("url", "kind", "cloud", "trusted", "ok"),
    [
        ("https://management.azure.com", "arm", "public", (), True),
        ("https://management.azure.com/", "arm", None, (), True),
        ("https://MANAGEMENT.azure.com:443", "arm", "public", (), True),
        ("https://management.usgovcloudapi.net", "arm", "usgov", (), True),
        ("https://management.chinacloudapi.cn", "arm", "china", (), True),
        ("https://management.usgovcloudapi.net", "arm", "public", (), False),  # not the selected cloud
        ("https://management.azure.com:8443", "arm", "public", (), False),
        ("https://management.azure.com.evil.example", "arm", "public", (), False),
        ("https://evil.example", "arm", "public", (), False),
        ("https://evil.example", "arm", "public", ("evil.example",), True),
        ("https://evil.example:8443/arm", "arm", "public", ("evil.example",), True),
        ("https://evil.example:8443", "arm", "public", ("evil.example:9443",), False),
        ("https://evil.example", "arm", "public", ("evil.example:443",), True),
        ("http://evil.example", "arm", "public", ("evil.example",), False),  # trusted still needs https
        ("http://127.0.0.1:8080", "arm", "public", (), True),
        ("http://127.9.9.9:8080", "arm", "public", (), True),
        ("http://[::1]:9", "arm", "public", (), True),
        ("http://localhost:9", "arm", "public", (), True),
        ("http://10.0.0.1:8080", "arm", "public", (), False),
        ("ftp://x", "arm", "public", (), False),
        ("https://user:pw@management.azure.com", "arm", "public", (), False),
        ("https://management.core.windows.net", "classic", "public", (), True),
        ("https://management.core.usgovcloudapi.net", "classic", "usgov", (), True),
        ("https://management.core.chinacloudapi.cn", "classic", "china", (), True),
        ("https://management.azure.com", "classic", "public", (), False),
        ("http://management.core.windows.net", "classic", "public", (), False),
        ("https://acct.blob.core.windows.net", "blob", "public", (), True),
        ("https://acct.blob.core.usgovcloudapi.net", "blob", "usgov", (), True),
        ("https://acct.blob.core.chinacloudapi.cn", "blob", "china", (), True),
        ("https://acct.blob.core.windows.net", "blob", "china", (), False),
        ("https://blob.core.windows.net", "blob", "public", (), False),
        ("https://a.b.blob.core.windows.net", "blob", "public", (), False),
        ("https://storage.example.com/acct", "blob", "public", (), False),
        ("http://127.0.0.1:10000/devstoreaccount1", "blob", "public", (), True),
    ],
)
def test_credential_target_rule(url: str, kind: Any, cloud: str | None, trusted: tuple[str, ...], ok: bool) -> None:
    problem = credential_target_problem(url, cloud=cloud, trusted_hosts=trusted, kind=kind)
    assert (problem is None) == ok, problem


def test_another_clouds_endpoint_names_that_cloud() -> None:
    problem = credential_target_problem("https://management.usgovcloudapi.net", cloud="public", kind="arm")
    assert problem is not None and "cloud: usgov" in problem


def test_trusted_hosts_are_parsed_strictly() -> None:
    assert parse_trusted_hosts(" Arm.Example.net, blob.example.net:8443 ,,") == ("arm.example.net",
                                                                                 "blob.example.net:8443")
    assert parse_trusted_hosts("https://arm.example.net/") == ("arm.example.net",)
    assert parse_trusted_hosts("") == () and parse_trusted_hosts(None) == ()
    for bad in ("*.example.net", "arm.example.net/path", "http://arm.example.net", "a b", "user@host"):
        with pytest.raises(ReconcilerError) as e:
            parse_trusted_hosts(bad)
        assert "RECONCILER_TRUSTED_ENDPOINTS" in e.value.message


# --------------------------------------------------------------------------------------------------
# validate: the file cannot send the token elsewhere


def azure_file(extra: str, provider: str = "azure") -> bytes:
    base = textwrap.dedent(f"""\
        version: 1
        catalog:
          name: platform
          provider: {provider}
          subscription: {SUB}
        """)
    if provider == "azure":
        base += "  resource_group: rg-images\n"
    return (base + extra + "images: []\n").encode()


def errors(data: bytes, **kw: Any) -> list[Any]:
    state, diags = check_spec(data, "images.yaml", **kw)
    errs = [d for d in diags if d.severity.value == "error"]
    assert (state is None) == bool(errs)
    return errs


def test_validate_refuses_an_arm_endpoint_that_is_not_azure_with_its_position() -> None:
    errs = errors(azure_file("  endpoint: https://collector.evil.example\n"))
    assert len(errs) == 1, errs
    e = errs[0]
    assert str(e.location) == "images.yaml:7:13" and e.location.json_path == "$.catalog.endpoint"
    assert "collector.evil.example" in e.summary and "RECONCILER_TRUSTED_ENDPOINTS" in e.hint
    assert "cloud" in e.hint


def test_validate_accepts_an_endpoint_the_environment_trusts() -> None:
    data = azure_file("  endpoint: https://arm.corp.example\n")
    assert errors(data, trusted_hosts=("arm.corp.example",)) == []
    assert errors(data, trusted_hosts=("other.example",))


def test_validate_accepts_the_clouds_own_endpoints_and_loopback() -> None:
    assert errors(azure_file("")) == []
    assert errors(azure_file("  endpoint: https://management.azure.com\n")) == []
    assert errors(azure_file("  cloud: usgov\n  endpoint: https://management.usgovcloudapi.net\n")) == []
    assert errors(azure_file("  endpoint: http://127.0.0.1:4567\n")) == []


def test_validate_refuses_an_endpoint_of_another_cloud() -> None:
    errs = errors(azure_file("  cloud: china\n  endpoint: https://management.azure.com\n"))
    assert len(errs) == 1 and "cloud: public" in errs[0].summary


def test_validate_checks_the_lock_endpoint() -> None:
    bad = azure_file("  lock_storage_account: stlocks\n  lock_endpoint: https://stlocks.blob.evil.example\n")
    errs = errors(bad)
    assert len(errs) == 1 and errs[0].location.json_path == "$.catalog.lock_endpoint"
    assert str(errs[0].location) == "images.yaml:8:18"
    ok = azure_file("  cloud: usgov\n  lock_storage_account: stlocks\n"
                    "  lock_endpoint: https://stlocks.blob.core.usgovcloudapi.net\n")
    assert errors(ok) == []


def test_validate_checks_the_classic_endpoint() -> None:
    errs = errors(azure_file("  endpoint: http://203.0.113.9/sm\n", provider="azure-classic"))
    assert len(errs) == 1 and errs[0].location.json_path == "$.catalog.endpoint"
    assert "plain http" in errs[0].summary
    errs = errors(azure_file("  endpoint: https://sm.evil.example\n", provider="azure-classic"))
    assert len(errs) == 1 and "RECONCILER_TRUSTED_ENDPOINTS" in errs[0].hint
    assert errors(azure_file("  cloud: china\n  endpoint: https://management.core.chinacloudapi.cn\n",
                             provider="azure-classic")) == []


def test_an_endpoint_from_the_environment_is_checked_too() -> None:
    errs = errors(azure_file(""), defaults={"endpoint": "https://collector.evil.example"})
    assert len(errs) == 1 and "environment" in errs[0].summary
    assert errs[0].location.json_path == "$.catalog.endpoint"


def test_the_trusted_list_cannot_come_from_the_file() -> None:
    errs = errors(azure_file("  trusted_endpoints: collector.evil.example\n"
                             "  endpoint: https://collector.evil.example\n"))
    assert any("unknown field 'trusted_endpoints'" in e.summary for e in errs)
    assert any(e.location.json_path == "$.catalog.endpoint" for e in errs)


def test_an_unknown_cloud_is_a_validate_error_with_did_you_mean() -> None:
    errs = errors(azure_file("  cloud: usgob\n"))
    assert len(errs) == 1 and errs[0].location.json_path == "$.catalog.cloud"
    assert "did you mean 'usgov'" in errs[0].hint
    errs = errors(azure_file(""), defaults={"cloud": "pubilc"})
    assert len(errs) == 1 and "did you mean 'public'" in errs[0].hint


def test_cloud_is_a_setting_of_the_azure_providers_only() -> None:
    data = b"version: 1\ncatalog:\n  name: platform\n  cloud: usgov\nimages: []\n"
    errs = errors(data)
    assert len(errs) == 1 and "not known to provider 'local'" in errs[0].summary


# --------------------------------------------------------------------------------------------------
# Open time: every provider refuses on its own (defence in depth)


def azure_config(**settings: Any) -> CatalogConfig:
    return CatalogConfig(name="platform", provider="azure",
                         settings={"subscription": SUB, "resource_group": "rg", **settings})


def test_azure_open_refuses_a_foreign_endpoint_unless_trusted_by_the_environment() -> None:
    with pytest.raises(ReconcilerError) as e:
        azure.open_provider(azure_config(endpoint="https://collector.evil.example"), env=TOKEN_ENV)
    assert "collector.evil.example" in e.value.message and "RECONCILER_TRUSTED_ENDPOINTS" in e.value.hint
    p = azure.open_provider(azure_config(endpoint="https://collector.evil.example"),
                            env={**TOKEN_ENV, "RECONCILER_TRUSTED_ENDPOINTS": "collector.evil.example"})
    p.close()


def test_azure_cloud_selects_the_endpoint() -> None:
    for name, cloud in CLOUDS.items():
        p = azure.open_provider(azure_config(cloud=name), env=TOKEN_ENV)
        try:
            assert p.t.base_url == cloud.arm + "/"
        finally:
            p.close()
    with pytest.raises(ReconcilerError) as e:
        azure.open_provider(azure_config(cloud="usgob"), env=TOKEN_ENV)
    assert "did you mean 'usgov'" in e.value.message


class RecordingCredential:
    def __init__(self, authority: str) -> None:
        self.authority = authority
        self.scopes: list[str] = []

    def get_token(self, scope: str) -> Any:
        self.scopes.append(scope)

        class Tok:
            token = "from-identity"
            expires_on = 10**10

        return Tok()


@pytest.mark.parametrize(("cloud", "scope", "authority"), [
    ("public", "https://management.azure.com/.default", "login.microsoftonline.com"),
    ("usgov", "https://management.core.usgovcloudapi.net/.default", "login.microsoftonline.us"),
    ("china", "https://management.chinacloudapi.cn/.default", "login.chinacloudapi.cn"),
])
def test_the_token_scope_and_authority_follow_the_cloud(cloud: str, scope: str, authority: str) -> None:
    made: list[RecordingCredential] = []

    def factory(authority_host: str) -> RecordingCredential:
        made.append(RecordingCredential(authority_host))
        return made[-1]

    get = azure.token_provider({}, cloud=CLOUDS[cloud], credential_factory=factory)
    assert get() == "from-identity"
    assert made[0].authority == authority and made[0].scopes == [scope]


def test_classic_open_refuses_a_foreign_endpoint() -> None:
    config = CatalogConfig("platform", "azure-classic", {"subscription": SUB, "endpoint": "https://sm.evil.example"})
    with pytest.raises(ReconcilerError) as e:
        classic_pkg.open_provider(config, env=TOKEN_ENV)
    assert "sm.evil.example" in e.value.message and "RECONCILER_TRUSTED_ENDPOINTS" in e.value.hint


def test_classic_cloud_selects_the_endpoint() -> None:
    for name, cloud in CLOUDS.items():
        config = CatalogConfig("platform", "azure-classic", {"subscription": SUB, "cloud": name})
        p = classic_pkg.open_provider(config, env=TOKEN_ENV)
        try:
            assert p.client.base == f"{cloud.classic}/{SUB}"
        finally:
            p.close()


PUBLISH = """<?xml version="1.0" encoding="utf-8"?>
<PublishData>
  <PublishProfile SchemaVersion="2.0" PublishMethod="AzureServiceManagementAPI">
    <Subscription ServiceManagementUrl="{url}" Id="{sub}" Name="Test" ManagementCertificate="" />
  </PublishProfile>
</PublishData>
"""


def test_an_endpoint_from_a_publishsettings_file_is_checked_when_opening(tmp_path: Path) -> None:
    f = tmp_path / "evil.publishsettings"
    f.write_text(PUBLISH.format(url="https://sm.evil.example", sub=SUB))
    config = CatalogConfig("platform", "azure-classic", {"publish_settings": str(f)})
    with pytest.raises(ReconcilerError) as e:
        classic_pkg.open_provider(config, env=TOKEN_ENV)
    assert "sm.evil.example" in e.value.message and "publish" in e.value.message
    f.write_text(PUBLISH.format(url="https://management.core.windows.net/", sub=SUB))
    classic_pkg.open_provider(config, env=TOKEN_ENV).close()


@pytest.mark.parametrize(
    ("settings", "env"),
    [
        ({"lock_storage_account": "acct", "lock_endpoint": "https://storage.evil.example/acct"},
         {"AZURE_STORAGE_KEY": "a2V5"}),
        ({}, {"AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;"
                                                 "BlobEndpoint=https://storage.evil.example/acct;"}),
        ({"cloud": "china", "lock_storage_account": "acct", "lock_endpoint": "https://acct.blob.core.windows.net"},
         {"AZURE_STORAGE_KEY": "a2V5"}),
    ],
)
def test_the_blob_lock_refuses_a_foreign_endpoint(settings: dict[str, str], env: dict[str, str]) -> None:
    from reconciler.providers.blob_lock import BlobLeaseLock

    with pytest.raises(ReconcilerError) as e:
        BlobLeaseLock.from_settings(settings, env, catalog="platform")
    assert "RECONCILER_TRUSTED_ENDPOINTS" in e.value.hint


def test_the_blob_lock_follows_the_cloud_and_the_trusted_list() -> None:
    from reconciler.providers.blob_lock import BlobLeaseLock

    with BlobLeaseLock.from_settings({"cloud": "usgov", "lock_storage_account": "acct"},
                                     {"AZURE_STORAGE_KEY": "a2V5"}, catalog="platform") as lock:
        assert lock._blob.url == "https://acct.blob.core.usgovcloudapi.net/reconciler-locks/platform.lock"
    with BlobLeaseLock.from_settings({"lock_storage_account": "acct", "lock_endpoint": "https://blob.corp.example"},
                                     {"AZURE_STORAGE_KEY": "a2V5",
                                      "RECONCILER_TRUSTED_ENDPOINTS": "blob.corp.example"},
                                     catalog="platform") as lock:
        assert lock._blob.url.startswith("https://blob.corp.example/")


# --------------------------------------------------------------------------------------------------
# Token hygiene


def test_clean_token() -> None:
    assert clean_token("abc\n") == "abc"
    assert clean_token("  abc \r\n") == "abc"
    assert clean_token("") is None and clean_token(" \n") is None and clean_token(None) is None
    for bad in ("ab\ncd", "ab\x00cd", "ab\x7fcd", "ab\tcd"):
        with pytest.raises(ReconcilerError) as e:
            clean_token(bad)
        assert "ab" not in e.value.message + e.value.hint.replace("tsv", "")
        assert "control character" in e.value.message


def test_a_token_with_a_trailing_newline_works_and_an_inner_one_is_refused_unseen() -> None:
    get = azure.token_provider({"AZURE_ACCESS_TOKEN": "s3cr3t\n"})
    assert get() == "s3cr3t"
    with pytest.raises(ReconcilerError) as e:
        azure.token_provider({"AZURE_ACCESS_TOKEN": "s3cr3t\nX-Evil: 1"})
    assert "s3cr3t" not in e.value.message + e.value.hint
    creds = classic_pkg.client.credentials({"subscription": SUB}, {"AZURE_ACCESS_TOKEN": "s3cr3t\n"})
    assert creds.token == "s3cr3t"
    with pytest.raises(ReconcilerError) as e:
        classic_pkg.client.credentials({"subscription": SUB}, {"AZURE_ACCESS_TOKEN": "s3\x01cr3t"})
    assert "s3" not in e.value.message


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def test_transport_errors_never_show_a_header_value() -> None:
    """A header requests refuses (here a token a caller did not clean) must not reach the message."""
    from reconciler.providers.http.transport import Transport

    with Transport(f"http://127.0.0.1:{_closed_port()}", token=lambda: "s3cr3t\n", sleep=lambda s: None) as t:
        with pytest.raises(ProviderError) as e:
            t.get("/subscriptions/x?sig=SECRETSIG", what="read images")
    text = e.value.message + e.value.hint
    assert "s3cr3t" not in text and "SECRETSIG" not in text
    assert "read images" in text and "GET" in text and "/subscriptions/x" in text
    assert e.value.__cause__ is None or "s3cr3t" not in str(e.value.__cause__)


def test_classic_client_errors_never_show_a_header_value() -> None:
    from reconciler.providers.classic.client import Client

    c = Client(f"http://127.0.0.1:{_closed_port()}", SUB, token="s3cr3t\n", sleep=lambda s: None)
    try:
        with pytest.raises(ProviderError) as e:
            c.request("GET", "/services/images", what="list images")
    finally:
        c.close()
    text = e.value.message + e.value.hint
    assert "s3cr3t" not in text and "list images" in text and "GET" in text
    assert e.value.__cause__ is None or "s3cr3t" not in str(e.value.__cause__)


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_resource_graph_is_the_arm_endpoint_of_each_cloud(cloud: str) -> None:
    """Issue 11 §4: the consumers query goes to ``{arm}/providers/Microsoft.ResourceGraph/resources``
    with the ARM token; the ARM rule allows it there and nowhere else."""
    arm = CLOUDS[cloud].arm
    assert credential_target_problem(f"{arm}/providers/Microsoft.ResourceGraph/resources?api-version=2022-10-01",
                                     cloud=cloud, kind="arm") is None
    refused = credential_target_problem("https://graph.example.com/providers/Microsoft.ResourceGraph/resources",
                                        cloud=cloud, kind="arm")
    assert refused is not None and "refusing to send credentials" in refused
