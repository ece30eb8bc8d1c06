"""``Transport.pages`` and the 401 hook against a scripted HTTP server on 127.0.0.1: the shapes of
list pages a real service may send (nextLink first or last, absent, repeated, a broken page), and a
token source that renews or refuses."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.errors import ProviderError
from reconciler.providers.http.lro import Response
from reconciler.providers.http.transport import RetryPolicy, Transport
from tests.unit.test_transport import Script, server  # noqa: F401 (the fixture)


def make(url: str, token: Any = None) -> Transport:
    return Transport(url, token=token or (lambda: "tok"), sleep=lambda _s: None, rand=lambda: 1.0, timeout=5,
                     retry=RetryPolicy(max_attempts=2, base=0.5, cap=3))


def test_next_link_first_is_followed_through_the_full_parse(server: tuple[str, Script]) -> None:  # noqa: F811
    url, script = server
    script.queue = [(200, {}, {"nextLink": f"{url}/list?page=2", "value": [{"n": 1}, {"n": 2}]}),
                    (200, {}, {"value": [{"n": 3}], "nextLink": None})]
    with make(url) as t:
        pages = list(t.pages("/list"))
    assert [[item for item, _ in page] for page in pages] == [[{"n": 1}, {"n": 2}], [{"n": 3}]]
    assert [text for _, text in pages[0]] == ['{"n": 1}', '{"n": 2}']
    assert [s["path"] for s in script.seen] == ["/list", "/list?page=2"]


def test_paged_flattens_the_pages(server: tuple[str, Script]) -> None:  # noqa: F811
    url, script = server
    script.queue = [(200, {}, {"value": [1, 2], "nextLink": f"{url}/l?2"}), (200, {}, {"value": [3]})]
    with make(url) as t:
        assert t.paged("/l") == [1, 2, 3]


def test_a_repeated_next_link_stops_with_bad_response(server: tuple[str, Script]) -> None:  # noqa: F811
    url, script = server
    page = (200, {"x-ms-request-id": "rid-7"}, {"value": [1], "nextLink": f"{url}/l?again"})
    script.queue = [page, page, page]
    with make(url) as t, pytest.raises(ProviderError) as e:
        list(t.pages("/l", what="list images"))
    assert e.value.code == "BadResponse" and "same nextLink twice" in e.value.message
    assert e.value.message.startswith("list images:") and len(script.seen) == 2


@pytest.mark.parametrize("body", [{"items": []}, {"value": {"a": 1}}, "not json"])
def test_a_page_without_a_value_list_is_bad_response(server: tuple[str, Script], body: Any) -> None:  # noqa: F811
    url, script = server
    script.queue = [(200, {}, {"value": [1], "nextLink": f"{url}/l?2"}), (200, {}, body)]
    with make(url) as t:
        pages = t.pages("/l")
        assert next(pages) == [(1, "1")]
        with pytest.raises(ProviderError) as e:
            next(pages)
    assert e.value.code == "BadResponse" and "'value' list" in e.value.message


def test_an_error_answer_on_a_later_page_is_the_services_error(server: tuple[str, Script]) -> None:  # noqa: F811
    url, script = server
    script.queue = [(200, {}, {"value": [1], "nextLink": f"{url}/l?2"}),
                    (404, {}, {"error": {"code": "ResourceNotFound", "message": "gone"}})]
    with make(url) as t, pytest.raises(ProviderError) as e:
        list(t.pages("/l", what="list"))
    assert (e.value.status, e.value.code) == (404, "ResourceNotFound")


class Renewing:
    """A token source whose on_unauthorized renews once (or refuses, raising)."""

    def __init__(self, refuse: bool = False) -> None:
        self.n = 1
        self.seen: list[int] = []
        self.refuse = refuse

    def __call__(self) -> str:
        return f"tok-{self.n}"

    def on_unauthorized(self, resp: Response) -> bool:
        self.seen.append(resp.status)
        if self.refuse:
            raise ProviderError("the token expired at noon", status=401, code="AuthenticationFailed")
        self.n += 1
        return True


def _expired() -> tuple[int, dict[str, str], dict[str, Any]]:
    return (401, {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            {"error": {"code": "ExpiredAuthenticationToken", "message": "expired"}})


def test_a_401_is_resent_once_with_the_renewed_token(server: tuple[str, Script]) -> None:  # noqa: F811
    url, script = server
    script.queue = [_expired(), (201, {}, {"ok": 1})]
    token = Renewing()
    with make(url, token=token) as t:
        assert t.request("PUT", "/x", body={"a": 1}).status == 201
    assert [s["headers"]["Authorization"] for s in script.seen] == ["Bearer tok-1", "Bearer tok-2"]
    assert [s["body"] for s in script.seen] == ['{"a":1}', '{"a":1}'] and token.seen == [401]
    # Refused again: no loop, the service's 401 is the error.
    script.queue = [_expired(), _expired(), _expired()]
    with make(url, token=token) as t, pytest.raises(ProviderError) as e:
        t.get("/x")
    assert e.value.status == 401 and len(script.seen) == 4


def test_a_token_source_may_answer_a_401_with_its_own_error(server: tuple[str, Script]) -> None:  # noqa: F811
    url, script = server
    script.queue = [_expired()]
    with make(url, token=Renewing(refuse=True)) as t, pytest.raises(ProviderError) as e:
        t.get("/x")
    assert e.value.message == "the token expired at noon" and len(script.seen) == 1
