"""Cookies: Set-Cookie building (quoting, attributes, no injection) and parsing."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from test_request import FakeChannel, make_request

from sansketch.app import Application
from sansketch.cookies import parse_cookie_header
from sansketch.request import Request
from sansketch.response import Response
from sansketch.testing import TestClient


async def set_cookie_headers(resp: Response) -> list[bytes]:
    channel = FakeChannel()
    await resp.prepare(make_request(channel=channel))
    await resp.write_eof()
    headers = channel.sent[0][2]
    return [value for name, value in headers if name == b"Set-Cookie"]  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_set_cookie_with_all_attributes() -> None:
    resp = Response()
    resp.set_cookie(
        "session",
        "abc123",
        expires=datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        domain="example.com",
        max_age=3600,
        path="/app",
        secure=True,
        httponly=True,
        samesite="lax",
    )
    resp.set_cookie("theme", "dark")
    assert await set_cookie_headers(resp) == [
        b"session=abc123; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Domain=example.com; "
        b"Max-Age=3600; Path=/app; Secure; HttpOnly; SameSite=Lax",
        b"theme=dark; Path=/",
    ]


@pytest.mark.anyio
async def test_values_needing_quotes_are_quoted() -> None:
    resp = Response()
    resp.set_cookie("a", 'hello world, "x" \\ y')
    assert await set_cookie_headers(resp) == [b'a="hello world, \\"x\\" \\\\ y"; Path=/']


@pytest.mark.anyio
async def test_del_cookie_expires_it() -> None:
    resp = Response()
    resp.set_cookie("gone", "1")
    resp.del_cookie("gone", path="/p")
    assert await set_cookie_headers(resp) == [
        b"gone=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/p"
    ]


@pytest.mark.parametrize(
    ("name", "value", "attrs"),
    [
        ("a", "x\r\nSet-Cookie: evil=1", {}),
        ("a", "x; Domain=evil.com", {}),
        ("a", "x\x00", {}),
        ("a", "caf\u00e9", {}),
        ("bad name", "x", {}),
        ("a;b", "x", {}),
        ("a\r\n", "x", {}),
        ("a", "x", {"path": "/; HttpOnly"}),
        ("a", "x", {"domain": "evil\r\n.com"}),
        ("a", "x", {"expires": "never; Secure"}),
        ("a", "x", {"samesite": "Sometimes"}),
    ],
)
def test_injection_is_refused(name: str, value: str, attrs: dict[str, str]) -> None:
    resp = Response()
    with pytest.raises(ValueError):
        resp.set_cookie(name, value, **attrs)  # type: ignore[arg-type]
    assert not resp.cookies


def test_parse_cookie_header() -> None:
    parsed = parse_cookie_header(['a=1; b="q \\"x\\""; =skip; novalue', "a=2; c=3=4"])
    assert dict(parsed) == {"a": "1", "b": 'q "x"', "c": "3=4"}
    with pytest.raises(TypeError):
        parsed["d"] = "x"  # type: ignore[index]


@pytest.mark.anyio
async def test_cookies_round_trip_through_the_app() -> None:
    async def handler(request: Request) -> Response:
        resp = Response(text=request.cookies.get("seen", "none"))
        resp.set_cookie("seen", "yes please", httponly=True)
        return resp

    app = Application()
    app.router.add_get("/", handler)
    async with TestClient(app) as client:
        first = await client.get("/")
        assert await first.text() == "none"
        assert first.headers.getall("Set-Cookie") == ['seen="yes please"; Path=/; HttpOnly']
        second = await client.get("/", headers={"Cookie": 'seen="yes please"'})
        assert await second.text() == "yes please"
