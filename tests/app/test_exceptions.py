"""HTTP exceptions are responses: raise them or return them."""

from __future__ import annotations

import pytest
from test_request import FakeChannel, make_request

from sansketch.app import Application
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
from sansketch.request import Request
from sansketch.response import Response
from sansketch.testing import TestClient


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


@pytest.mark.anyio
async def test_raise_and_return_through_the_app() -> None:
    async def raises(request: Request) -> Response:
        raise HTTPFound("/target")

    async def returns(request: Request) -> Response:
        return HTTPBadRequest(text="bad input")

    async def not_allowed(request: Request) -> Response:
        raise HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])

    app = Application()
    app.router.add_get("/raise", raises)
    app.router.add_get("/return", returns)
    app.router.add_post("/405", not_allowed)
    async with TestClient(app) as client:
        found = await client.get("/raise")
        assert (found.status, found.headers["Location"]) == (302, "/target")
        assert await found.text() == "302 Found"
        bad = await client.get("/return")
        assert (bad.status, await bad.text()) == (400, "bad input")
        refused = await client.post("/405")
        assert (refused.status, refused.headers["Allow"]) == (405, "GET, HEAD")
