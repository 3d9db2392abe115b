"""Request: lazy views of the head (URL, headers, query, cookies, ...)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest
from multidict import CIMultiDictProxy
from yarl import URL

from sansketch.protocol import RequestHead
from sansketch.request import Request


class FakeChannel:
    """A Channel that serves canned body chunks and records what is sent."""

    def __init__(
        self,
        body: Sequence[bytes] = (),
        *,
        trailers: Sequence[tuple[bytes, bytes]] = (),
        remote: tuple[str, int] | str | None = ("10.1.2.3", 5555),
        scheme: str = "http",
    ) -> None:
        self._chunks = list(body)
        self._trailers = list(trailers)
        self.remote = remote
        self.scheme = scheme
        self.receive_calls = 0
        self.sent: list[tuple[object, ...]] = []

    async def receive_body(self) -> bytes:
        self.receive_calls += 1
        return self._chunks.pop(0) if self._chunks else b""

    def trailers(self) -> list[tuple[bytes, bytes]]:
        return self._trailers if not self._chunks else []

    async def send_head(self, status: int, headers: object, reason: bytes | None) -> None:
        self.sent.append(("head", status, list(headers), reason))  # type: ignore[call-overload]

    async def send_body(self, data: bytes) -> None:
        self.sent.append(("body", data))

    async def send_end(self, trailers: object = None) -> None:
        self.sent.append(("end", trailers))

    def send_response(
        self, status: int, headers: object, body: bytes, reason: bytes | None
    ) -> None:
        self.sent.append(("response", status, list(headers), body, reason))  # type: ignore[call-overload]

    async def sendfile(self, fd: int, offset: int, count: int) -> None:
        self.sent.append(("file", os.pread(fd, count, offset)))


def make_request(
    target: bytes = b"/",
    *,
    method: bytes = b"GET",
    headers: Sequence[tuple[bytes, bytes]] = ((b"Host", b"example.com"),),
    channel: FakeChannel | None = None,
    version: bytes = b"1.1",
    keep_alive: bool = True,
    content_length: int | None = None,
    chunked: bool = False,
) -> Request:
    head = RequestHead(
        method=method,
        target=target,
        http_version=version,
        headers=list(headers),
        keep_alive=keep_alive,
        content_length=content_length,
        chunked=chunked,
    )
    return Request(head, channel or FakeChannel())  # type: ignore[arg-type]


def test_request_line_views() -> None:
    req = make_request(b"/a%20b/c?x=1&x=2&y=%C3%A9", method=b"POST", version=b"1.0")
    assert req.method == "POST"
    assert req.version == (1, 0)
    assert req.raw_path == "/a%20b/c?x=1&x=2&y=%C3%A9"
    assert req.path == "/a b/c"
    assert req.query_string == "x=1&x=2&y=%C3%A9"
    assert req.query.getall("x") == ["1", "2"]
    assert req.query["y"] == "é"
    assert req.rel_url == URL("/a%20b/c?x=1&x=2&y=%C3%A9")


def test_url_is_absolute_from_host_and_scheme() -> None:
    req = make_request(
        b"/p?q=1", headers=[(b"Host", b"example.com:8443")], channel=FakeChannel(scheme="https")
    )
    assert str(req.url) == "https://example.com:8443/p?q=1"
    assert req.host == "example.com:8443"
    assert req.scheme == "https"
    assert req.secure


def test_unusable_host_falls_back_to_localhost() -> None:
    req = make_request(b"/", headers=[(b"Host", b"evil.com/path@x")])
    assert req.host == "localhost"
    assert str(req.url) == "http://localhost/"
    assert make_request(b"/", headers=[]).host == "localhost"


def test_absolute_form_target_keeps_path_and_query() -> None:
    req = make_request(b"http://other.example/x%2Fy?z=1")
    assert req.rel_url.raw_path == "/x%2Fy"
    assert req.query_string == "z=1"
    assert req.path == "/x/y"


def test_plain_path_is_not_reparsed() -> None:
    req = make_request(b"/plain/path")
    assert req.path == "/plain/path"
    assert req._rel_url is None  # the fast path did not build a URL


def test_headers_keep_duplicates_and_decode_latin1() -> None:
    req = make_request(
        headers=[
            (b"Host", b"h"),
            (b"X-Dup", b"1"),
            (b"x-dup", b"2"),
            (b"X-Latin", "café".encode("latin-1")),
        ]
    )
    assert isinstance(req.headers, CIMultiDictProxy)
    assert req.headers.getall("X-DUP") == ["1", "2"]
    assert req.headers["x-latin"] == "café"
    assert req.headers is req.headers  # cached
    assert req.raw_headers[1] == (b"X-Dup", b"1")


def test_cookies_parsed_from_all_cookie_headers() -> None:
    req = make_request(
        headers=[(b"Cookie", b'a=1; b="x y"; junk; a=ignored'), (b"Cookie", b"c=3")]
    )
    assert dict(req.cookies) == {"a": "1", "b": "x y", "c": "3"}


def test_remote_scheme_keepalive_version() -> None:
    req = make_request(keep_alive=False)
    assert req.remote == "10.1.2.3"
    assert not req.keep_alive
    assert req.version == (1, 1)
    assert make_request(channel=FakeChannel(remote="/run/app.sock")).remote == "/run/app.sock"
    assert make_request(channel=FakeChannel(remote=None)).remote is None


def test_content_headers() -> None:
    req = make_request(
        method=b"POST",
        headers=[(b"Content-Type", b'Text/HTML; Charset="ISO-8859-1"')],
        content_length=10,
    )
    assert req.content_type == "text/html"
    assert req.charset == "iso-8859-1"
    assert req.content_length == 10
    assert req.body_exists
    assert req.can_read_body
    plain = make_request()
    assert plain.content_type == "application/octet-stream"
    assert plain.charset is None
    assert not plain.body_exists
    assert not plain.can_read_body


def test_request_is_a_mutable_mapping_for_state() -> None:
    req = make_request()
    req["user"] = "alice"
    assert req["user"] == "alice"
    assert list(req) == ["user"]
    assert len(req) == 1
    del req["user"]
    assert "user" not in req
    other = make_request()
    assert req != other  # identity, not state equality
    assert len({req, other}) == 2


def test_match_info_and_app_defaults() -> None:
    req = make_request()
    assert dict(req.match_info) == {}
    req._match_info = {"id": "7"}
    assert req.match_info["id"] == "7"
    with pytest.raises(RuntimeError):
        _ = req.app


def test_building_and_inspecting_does_not_touch_the_body() -> None:
    channel = FakeChannel([b"data"])
    req = make_request(method=b"POST", channel=channel, content_length=4)
    _ = (req.method, req.path, req.headers, req.query, req.url, req.content_type)
    _ = req.content  # creating the stream reads nothing either
    assert channel.receive_calls == 0
