"""HTTP exceptions are responses: raise them or return them."""

from __future__ import annotations

import pytest
from test_request import FakeChannel, make_request

from sansketch.exceptions import (
    HTTPBadRequest,
    HTTPClientError,
    HTTPError,
    HTTPException,
    HTTPFound,
    HTTPInternalServerError,
    HTTPMethodNotAllowed,
    HTTPMovedPermanently,
    HTTPNoContent,
    HTTPNotFound,
    HTTPNotModified,
    HTTPPermanentRedirect,
    HTTPRequestEntityTooLarge,
    HTTPServerError,
    HTTPUnavailableForLegalReasons,
)
from sansketch.response import Response


def test_default_body_is_status_and_reason() -> None:
    exc = HTTPNotFound()
    assert isinstance(exc, Response) and isinstance(exc, Exception)
    assert exc.status == 404
    assert exc.text == "404 Not Found"
    assert exc.content_type == "text/plain"
    assert str(exc) == "Not Found"
    assert HTTPInternalServerError().text == "500 Internal Server Error"


def test_custom_text_body_reason_headers() -> None:
    exc = HTTPBadRequest(text="missing field", headers={"X-Why": "1"}, reason="Nope")
    assert (exc.text, exc.reason, exc.headers["X-Why"]) == ("missing field", "Nope", "1")
    assert HTTPBadRequest(body=b"\x00raw").body == b"\x00raw"
    assert HTTPBadRequest(text="<b>", content_type="text/html").headers["Content-Type"] == (
        "text/html; charset=utf-8"
    )


def test_hierarchy_and_raise() -> None:
    with pytest.raises(HTTPClientError) as info:
        raise HTTPNotFound()
    assert isinstance(info.value, HTTPError)
    assert isinstance(HTTPInternalServerError(), HTTPServerError)
    with pytest.raises(TypeError):
        HTTPException()


def test_bodyless_statuses() -> None:
    assert HTTPNoContent().body == b""
    assert HTTPNotModified(text="ignored").body == b""


def test_method_not_allowed_sets_allow() -> None:
    exc = HTTPMethodNotAllowed("delete", ["GET", "post", "GET"])
    assert exc.status == 405
    assert exc.headers["Allow"] == "GET, POST"
    assert exc.method == "DELETE"
    assert exc.allowed_methods == {"GET", "POST"}


@pytest.mark.parametrize("cls", [HTTPFound, HTTPMovedPermanently, HTTPPermanentRedirect])
def test_redirects_set_location(cls: type[HTTPFound]) -> None:
    exc = cls("/next?a=1")
    assert exc.headers["Location"] == "/next?a=1"
    assert exc.location == "/next?a=1"
    assert 300 <= exc.status < 400


@pytest.mark.parametrize("location", ["/a\r\nSet-Cookie: x=1", "/a\nb", "/\x00", ""])
def test_redirect_location_injection_is_refused(location: str) -> None:
    with pytest.raises(ValueError):
        HTTPFound(location)


def test_entity_too_large_and_legal_reasons() -> None:
    exc = HTTPRequestEntityTooLarge(max_size=10, actual_size=20)
    assert exc.status == 413
    assert exc.text == "Maximum request body size 10 exceeded, actual body size 20"
    blocked = HTTPUnavailableForLegalReasons("https://authority.example/")
    assert blocked.headers["Link"] == '<https://authority.example/>; rel="blocked-by"'


@pytest.mark.anyio
async def test_an_exception_is_sent_like_any_response() -> None:
    channel = FakeChannel()
    exc = HTTPFound("/elsewhere")
    await exc.prepare(make_request(channel=channel))
    await exc.write_eof()
    assert channel.sent == [
        (
            "response",
            302,
            [(b"Content-Type", b"text/plain; charset=utf-8"), (b"Location", b"/elsewhere")],
            b"302 Found",
            None,
        )
    ]
