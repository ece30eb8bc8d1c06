"""Pure parts of the ARM wire (issues 13 and 10 §4): the emulator's sorted resource index, a list
page split into items with their JSON text, the tail ``nextLink``, JWT expiry and the token
sources' answers to a refused token. No sockets here (the HTTP side: tests/contract/test_azure_wire.py
and tests/emulators/test_arm_emulator_wire.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.emulators.arm.store import ResourceStore
from reconciler.errors import ProviderError
from reconciler.providers.azure.auth import (
    CredentialToken,
    StaticToken,
    jwt_expiry,
    refused_token,
    token_provider,
)
from reconciler.providers.clouds import get_cloud
from reconciler.providers.http.lro import Response
from reconciler.providers.http.transport import split_page, tail_next_link

# --------------------------------------------------------------------------------------------------
# The emulator's store: a sorted index per type, kept right by every insert and delete

TYPES = ("Microsoft.Compute/images", "Microsoft.Compute/galleries/images/versions")
PREFIXES = ("/subscriptions/s1/", "/subscriptions/s2/", "/subscriptions/s1/resourcegroups/rg-b/")


def _rid(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.compute/images/{name}"


ops = st.lists(
    st.tuples(st.sampled_from(["put", "delete"]), st.sampled_from(["s1", "s2"]), st.sampled_from(["rg-a", "rg-b"]),
              st.text("abcXYZ09-", min_size=1, max_size=4), st.sampled_from(TYPES)),
    max_size=60,
)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(ops=ops, after_pick=st.integers(0, 1000), prefix=st.sampled_from(PREFIXES), rtype=st.sampled_from(TYPES))
def test_store_scan_is_the_sorted_filter_of_everything(ops: list[tuple[str, str, str, str, str]], after_pick: int,
                                                       prefix: str, rtype: str) -> None:
    store = ResourceStore()
    model: dict[str, dict[str, Any]] = {}
    for op, sub, rg, name, t in ops:
        key = _rid(sub, rg, name).lower()
        if op == "put":
            store[key] = model[key] = {"id": key, "type": t}
        elif key in model:
            del store[key], model[key]
    assert dict(store.items()) == model and len(store) == len(model)
    expected = [r for k, r in sorted(model.items()) if k.startswith(prefix) and r["type"].lower() == rtype.lower()]
    assert list(store.scan(rtype, prefix)) == expected
    # After any id (present or not): exactly the later ones, in order.
    keys = sorted(model) or ["/subscriptions/s1/x"]
    after = keys[after_pick % len(keys)]
    assert list(store.scan(rtype, prefix, after)) == [r for r in expected if r["id"] > after]
    assert list(store.scan(rtype, prefix, after + "\x00")) == [r for r in expected if r["id"] > after + "\x00"]
    # Built in one go it is the same store.
    assert list(ResourceStore(model.items()).scan(rtype, prefix)) == expected


def test_store_reindexes_a_resource_whose_type_changes_and_reads_like_a_dict() -> None:
    store = ResourceStore([("/subscriptions/s/b", {"type": "T1"}), ("/subscriptions/s/a", {"type": "t1"})])
    assert [r["type"] for r in store.scan("T1", "/subscriptions/s/")] == ["t1", "T1"]
    store["/subscriptions/s/a"] = {"type": "T2"}
    assert [r["type"] for r in store.scan("t1", "/subscriptions/s/")] == ["T1"]
    assert [r["type"] for r in store.scan("t2", "/subscriptions/s/")] == ["T2"]
    assert store.get("/subscriptions/s/a") == {"type": "T2"} and store.get("nope") is None
    assert "/subscriptions/s/b" in store and "nope" not in store
    assert [k for k, _ in store.sorted_items()] == ["/subscriptions/s/a", "/subscriptions/s/b"]
    del store["/subscriptions/s/b"]
    assert list(store.scan("t1", "/subscriptions/s/")) == [] and list(store.scan("none", "/")) == []
    with pytest.raises(KeyError):
        del store["/subscriptions/s/b"]


# --------------------------------------------------------------------------------------------------
# A list page: items with their text as sent, and the nextLink

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
pages = st.fixed_dictionaries(
    {"value": st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=5), max_size=6)},
    optional={"nextLink": st.text(min_size=1) | st.none(), "odata.extra": json_values},
)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(page=pages, indent=st.sampled_from([None, 1]), separators=st.sampled_from([None, (",", ":")]),
       ascii_only=st.booleans(), last=st.booleans())
def test_split_page_is_json_loads_plus_item_spans(page: dict[str, Any], indent: int | None,
                                                  separators: tuple[str, str] | None, ascii_only: bool,
                                                  last: bool) -> None:
    if last and "nextLink" in page:  # ARM's order: nextLink after value
        page = {k: v for k, v in page.items() if k != "nextLink"} | {"nextLink": page["nextLink"]}
    text = json.dumps(page, indent=indent, separators=separators, ensure_ascii=ascii_only)
    items, link = split_page(text)
    assert [item for item, _ in items] == page["value"]
    assert [json.loads(raw) for _, raw in items] == page["value"]
    assert all(text.count(raw) >= 1 for _, raw in items)
    assert link == (page.get("nextLink") or None)
    tail = tail_next_link(text)
    # The tail read never disagrees with the full parse: it finds the link or leaves it to it.
    assert tail is None or tail == link
    if last and link and indent is None:
        assert tail == link


@pytest.mark.parametrize("text", [
    "", "[]", "{}", '{"value": 3}', '{"value": [1] x', '{"value": [1,]}', '{"value": [1]} x', '{"nextLink": "a"}',
    '{"value": [1] "x": 2}', '{value: []}', '{"value" []}', '{"value": [1 2]}',
])
def test_split_page_refuses_what_is_not_a_list_page(text: str) -> None:
    with pytest.raises(ValueError):
        split_page(text)


def test_tail_next_link_reads_only_a_top_level_last_member() -> None:
    assert tail_next_link('{"value": [], "nextLink": "https://h/x?$skiptoken=a\\"b"}') == 'https://h/x?$skiptoken=a"b'
    assert tail_next_link('{"value":[{"nextLink":"inner"}]}') is None
    assert tail_next_link('{"value":[], "x": {"a": 1, "nextLink": "inner"}}') is None
    assert tail_next_link('{"value": [], "s": "a, \\"nextLink\\": \\"fake\\"}"}') is None
    assert tail_next_link('{"nextLink": "first", "value": []}') is None  # left to split_page
    assert tail_next_link('{"value": [], "nextLink": null}') is None
    assert tail_next_link('{"value": [], "nextLink": ""}') is None


# --------------------------------------------------------------------------------------------------
# Tokens

NOW = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC


def jwt(expiry: float | None, **claims: Any) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    body = dict(claims) if expiry is None else {"exp": int(expiry), **claims}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(body)}.c2lnbmF0dXJl"


def refusal(code: str, *, www: str = 'Bearer error="invalid_token"', message: str = "m") -> Response:
    return Response(401, {"www-authenticate": www, "x-ms-request-id": "rid-1"},
                    {"error": {"code": code, "message": message}})


def test_jwt_expiry_reads_exp_only_of_a_jwt() -> None:
    assert jwt_expiry(jwt(NOW)) == NOW
    assert jwt_expiry(jwt(None, sub="x")) is None
    assert jwt_expiry("opaque-token") is None and jwt_expiry("a.b.c") is None
    assert jwt_expiry(jwt(None, **{"exp": "soon"})) is None and jwt_expiry(jwt(None, **{"exp": True})) is None


def test_refused_token_is_a_401_about_the_token() -> None:
    assert refused_token(refusal("ExpiredAuthenticationToken", www=""))
    assert refused_token(refusal("InvalidAuthenticationToken", www=""))
    assert refused_token(refusal("Other"))  # WWW-Authenticate says invalid_token
    assert not refused_token(refusal("AuthorizationFailed", www=""))
    assert not refused_token(Response(403, {"www-authenticate": 'Bearer error="invalid_token"'}, None))
    assert not refused_token(Response(401, {}, "plain text"))


def test_a_static_token_past_its_exp_fails_before_any_request_naming_the_time() -> None:
    now = [NOW - 10]
    get = token_provider({"AZURE_ACCESS_TOKEN": jwt(NOW)}, wall=lambda: now[0])
    assert isinstance(get, StaticToken) and get() == jwt(NOW)
    now[0] = NOW + 1
    with pytest.raises(ProviderError) as e:
        get()
    assert "AZURE_ACCESS_TOKEN expired at 2027-01-15 08:00:00 UTC" in e.value.message
    assert "az login" in e.value.hint and e.value.status == 401
    assert jwt(NOW) not in str(e.value) + e.value.hint


def test_a_static_token_refused_as_expired_says_so_and_is_never_resent() -> None:
    get = StaticToken("opaque", lambda: NOW)
    with pytest.raises(ProviderError) as e:
        get.on_unauthorized(refusal("ExpiredAuthenticationToken", message="The access token expiry UTC time "
                                    "'1/15/2027 7:00:00 AM' is earlier than current UTC time '1/15/2027 8:00:00 AM'."))
    assert e.value.message.startswith("the access token in AZURE_ACCESS_TOKEN has expired (Azure: The access token")
    assert e.value.request_id == "rid-1"
    # A JWT whose exp passed while the request travelled: its own time is named.
    later = StaticToken(jwt(NOW - 5), lambda: NOW)
    with pytest.raises(ProviderError) as e2:
        later.on_unauthorized(refusal("InvalidAuthenticationToken"))
    assert "expired at 2027-01-15 07:59:55 UTC" in e2.value.message
    # Refused for another reason (wrong audience...): the transport's usual 401 error, no resend.
    assert StaticToken(jwt(NOW + 3600), lambda: NOW).on_unauthorized(refusal("InvalidAuthenticationToken")) is False
    assert get.on_unauthorized(Response(401, {}, {"error": {"code": "AuthorizationFailed"}})) is False


class Tok:
    def __init__(self, token: str, expires_on: float) -> None:
        self.token, self.expires_on = token, expires_on


class Cred:
    """An azure-identity credential stand-in: each get_token is a new token living an hour."""

    def __init__(self, now: list[float]) -> None:
        self.now = now
        self.calls = 0

    def get_token(self, *scopes: str) -> Tok:
        self.calls += 1
        return Tok(f"t{self.calls}", self.now[0] + 3600)


def test_a_credential_token_is_cached_renewed_before_expiry_and_dropped_when_refused() -> None:
    now = [NOW]
    cred = Cred(now)
    get = token_provider({}, cloud=get_cloud(None), credential_factory=lambda authority: cred, wall=lambda: now[0])
    assert isinstance(get, CredentialToken)
    assert (get(), get()) == ("t1", "t1") and cred.calls == 1
    now[0] += 3600 - 301  # still more than 300 s left: cached
    assert get() == "t1"
    now[0] += 2  # within 300 s of expiry: asked again (azure-core's margin)
    assert get() == "t2" and cred.calls == 2
    assert get.on_unauthorized(refusal("ExpiredAuthenticationToken")) is True
    assert get() == "t3"
    assert get.on_unauthorized(refusal("AuthorizationFailed", www="")) is False
    assert get() == "t3"
