"""Responses through a recording channel: what reaches the driver, and when."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict
from test_request import FakeChannel, make_request

from sansketch.app import Application
from sansketch.request import Request
from sansketch.response import Response, StreamResponse, json_response
from sansketch.testing import TestClient

pytestmark = pytest.mark.anyio


class FakeSignal(list):  # type: ignore[type-arg]
    async def send(self, *args: object) -> None:
        for callback in self:
            await callback(*args)


class FakeApp:
    def __init__(self) -> None:
        self.on_response_prepare = FakeSignal()


def request_for(
    channel: FakeChannel, app: FakeApp | None = None, method: bytes = b"GET"
) -> Request:
    req = make_request(method=method, channel=channel)
    req._app = app  # type: ignore[assignment]
    return req


async def finish(resp: StreamResponse, req: Request) -> None:
    """What the server glue does with a handler's response."""
    if not resp.prepared:
        await resp.prepare(req)
    await resp.write_eof()


async def test_text_response_is_one_send_response_call() -> None:
    channel = FakeChannel()
    await finish(Response(text="Hello, World!"), request_for(channel))
    assert channel.sent == [
        (
            "response",
            200,
            [(b"Content-Type", b"text/plain; charset=utf-8")],
            b"Hello, World!",
            None,
        )
    ]


async def test_response_options() -> None:
    channel = FakeChannel()
    resp = Response(
        body=b"<p>",
        status=201,
        reason="Made It",
        headers={"X-A": "1", "Content-Length": "999"},
        content_type="text/html",
        charset="utf-8",
    )
    assert resp.content_length == 3
    assert resp.content_type == "text/html"
    assert resp.charset == "utf-8"
    await finish(resp, request_for(channel))
    kind, status, headers, body, reason = channel.sent[0]  # type: ignore[misc]
    assert (kind, status, body, reason) == ("response", 201, b"<p>", b"Made It")
    # The channel adds Content-Length from the body; a stale one is dropped.
    assert headers == [(b"X-A", b"1"), (b"Content-Type", b"text/html; charset=utf-8")]


def test_response_argument_checks() -> None:
    with pytest.raises(ValueError):
        Response(body=b"x", text="y")
    with pytest.raises(ValueError):
        Response(text="x", headers={"Content-Type": "a/b"}, content_type="c/d")
    with pytest.raises(TypeError):
        Response(body="not bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Response(status=42)
    with pytest.raises(ValueError):
        Response(reason="OK\r\nX-Evil: 1")


def test_text_with_charset_and_setters() -> None:
    resp = Response(text="é", charset="latin-1")
    assert resp.body == b"\xe9"
    assert resp.headers["Content-Type"] == "text/plain; charset=latin-1"
    resp.text = "ü"
    assert resp.body == b"\xfc"
    resp.content_type = "text/csv"
    assert resp.headers["Content-Type"] == "text/csv; charset=latin-1"
    resp.charset = "utf-8"
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"


async def test_json_response() -> None:
    channel = FakeChannel()
    resp = json_response({"a": [1, None]}, status=202)
    await finish(resp, request_for(channel))
    assert channel.sent[0] == (
        "response",
        202,
        [(b"Content-Type", b"application/json")],
        b'{"a": [1, null]}',
        None,
    )
    assert json_response(None).body == b"null"
    assert json_response(dumps=lambda o: "custom", data=1).body == b"custom"
    with pytest.raises(ValueError):
        json_response({"a": 1}, text="{}")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Evil", "a\r\nSet-Cookie: x=1"),
        ("X-Evil", "a\nb"),
        ("X-Nul", "a\x00"),
        ("Bad Name", "1"),
    ],
)
async def test_header_injection_is_refused_at_prepare(name: str, value: str) -> None:
    channel = FakeChannel()
    for resp in (Response(text="x"), StreamResponse()):
        resp.headers[name] = value
        with pytest.raises(ValueError):
            await resp.prepare(request_for(channel))
    assert channel.sent == []


async def test_non_latin1_header_is_refused() -> None:
    resp = Response(headers={"X-Name": "日本"})
    with pytest.raises(ValueError):
        await resp.prepare(request_for(FakeChannel()))


async def test_stream_response_chunked() -> None:
    channel = FakeChannel()
    req = request_for(channel)
    resp = StreamResponse(headers={"Content-Type": "text/plain", "Transfer-Encoding": "gzip"})
    resp.enable_chunked_encoding()
    with pytest.raises(RuntimeError):
        resp.content_length = 5
    with pytest.raises(RuntimeError):
        await resp.write(b"early")
    await resp.prepare(req)
    assert resp.prepared
    await resp.write(b"one")
    await resp.write(b"")  # empty writes are not chunk terminators
    await resp.write(b"two")
    await resp.write_eof(b"three")
    await resp.write_eof()  # idempotent
    # No Content-Length: the core frames it chunked; the app's framing header is dropped.
    assert channel.sent == [
        ("head", 200, [(b"Content-Type", b"text/plain")], None),
        ("body", b"one"),
        ("body", b"two"),
        ("body", b"three"),
        ("end", None),
    ]
    with pytest.raises(RuntimeError):
        await resp.write(b"late")
    with pytest.raises(RuntimeError):
        resp.set_status(201)


async def test_stream_response_declared_length() -> None:
    channel = FakeChannel()
    resp = StreamResponse(status=200)
    resp.content_length = 6
    await resp.prepare(request_for(channel))
    await resp.write(b"abc")
    await resp.write_eof(b"def")
    assert channel.sent[0] == ("head", 200, [(b"Content-Length", b"6")], None)
    assert channel.sent[-1] == ("end", None)


async def test_trailers_via_write_eof() -> None:
    channel = FakeChannel()
    resp = StreamResponse()
    await resp.prepare(request_for(channel))
    await resp.write(b"data")
    await resp.write_eof(trailers={"X-Checksum": "abc"})
    assert channel.sent[-1] == ("end", [(b"X-Checksum", b"abc")])


async def test_trailers_via_setter_are_announced() -> None:
    channel = FakeChannel()
    resp = StreamResponse()
    resp.trailers = {"X-Checksum": "abc"}
    await resp.prepare(request_for(channel))
    await resp.write_eof(b"data")
    assert channel.sent[0] == ("head", 200, [(b"Trailer", b"X-Checksum")], None)
    assert channel.sent[-1] == ("end", [(b"X-Checksum", b"abc")])


async def test_trailers_refused_with_declared_length_and_checked() -> None:
    resp = StreamResponse()
    resp.content_length = 1
    await resp.prepare(request_for(FakeChannel()))
    with pytest.raises(RuntimeError):
        await resp.write_eof(b"x", trailers={"X-A": "1"})
    bad = StreamResponse()
    await bad.prepare(request_for(FakeChannel()))
    with pytest.raises(ValueError):
        await bad.write_eof(trailers={"X-A": "1\r\nX-B: 2"})


async def test_whole_response_with_trailers_goes_chunked() -> None:
    channel = FakeChannel()
    resp = Response(body=b"abc")
    resp.trailers = {"X-T": "1"}
    await finish(resp, request_for(channel))
    assert channel.sent == [
        ("head", 200, [(b"Trailer", b"X-T")], None),
        ("body", b"abc"),
        ("end", [(b"X-T", b"1")]),
    ]


async def test_force_close_adds_connection_close() -> None:
    channel = FakeChannel()
    resp = Response(text="bye")
    assert resp.keep_alive is None
    resp.force_close()
    assert resp.keep_alive is False
    await finish(resp, request_for(channel))
    assert (b"Connection", b"close") in channel.sent[0][2]  # type: ignore[operator]


async def test_on_response_prepare_runs_once_before_the_head() -> None:
    channel = FakeChannel()
    app = FakeApp()
    calls: list[tuple[object, object]] = []

    async def hook(request: Request, response: StreamResponse) -> None:
        calls.append((request, response))
        response.headers["X-Hooked"] = "yes"

    app.on_response_prepare.append(hook)
    req = request_for(channel, app)
    resp = Response(text="x")
    await finish(resp, req)
    await resp.prepare(req)
    assert calls == [(req, resp)]
    assert (b"X-Hooked", b"yes") in channel.sent[0][2]  # type: ignore[operator]


async def test_response_cannot_stream() -> None:
    resp = Response(body=b"x")
    await resp.prepare(request_for(FakeChannel()))
    with pytest.raises(RuntimeError):
        await resp.write(b"more")
    with pytest.raises(RuntimeError):
        resp.body = b"changed"
    with pytest.raises(RuntimeError):
        Response().enable_chunked_encoding()


def test_headers_are_a_cimultidict() -> None:
    resp = Response()
    assert isinstance(resp.headers, CIMultiDict)
    resp.headers.add("Vary", "A")
    resp.headers.add("vary", "B")
    assert resp.headers.getall("VARY") == ["A", "B"]
    assert resp.reason == "OK"
    assert "200 OK" in repr(resp)


# -- end to end, through the in-memory client (real bytes, both loops) ---------


def response_app() -> Application:
    async def hello(request: Request) -> Response:
        return Response(text="Hello, World!")

    async def chunked(request: Request) -> StreamResponse:
        resp = StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        for piece in (b"alpha ", b"beta ", b"gamma"):
            await resp.write(piece)
        await resp.write_eof(trailers={"X-Count": "3"})
        return resp

    async def sized(request: Request) -> StreamResponse:
        resp = StreamResponse()
        resp.content_length = 10
        await resp.prepare(request)
        await resp.write(b"01234")
        await resp.write(b"56789")
        return resp

    async def bad_header(request: Request) -> Response:
        return Response(text="x", headers={"X-Evil": "a\r\nSet-Cookie: pwned=1"})

    app = Application()
    app.router.add_get("/hello", hello)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/sized", sized)
    app.router.add_get("/bad-header", bad_header)
    return app


async def test_e2e_hello_and_head() -> None:
    async with TestClient(response_app()) as client:
        resp = await client.get("/hello")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert resp.headers["Content-Length"] == "13"
        assert await resp.text() == "Hello, World!"
        head = await client.head("/hello")
        assert head.headers["Content-Length"] == "13"
        assert await head.read() == b""


async def test_e2e_chunked_with_trailers() -> None:
    async with TestClient(response_app()) as client:
        resp = await client.get("/chunked")
        assert resp.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in resp.headers
        assert await resp.read() == b"alpha beta gamma"
        assert resp.trailers["X-Count"] == "3"


async def test_e2e_declared_length() -> None:
    async with TestClient(response_app()) as client:
        resp = await client.get("/sized")
        assert resp.headers["Content-Length"] == "10"
        assert "Transfer-Encoding" not in resp.headers
        assert await resp.read() == b"0123456789"


async def test_e2e_header_injection_becomes_500() -> None:
    async with TestClient(response_app()) as client:
        resp = await client.get("/bad-header")
        assert resp.status == 500
        assert "pwned" not in str(resp.headers)


# What a handler may change on a plain response after building it; each
# change must reach the wire (the server sends plain responses by a shortcut).
def _add_header(resp: Response) -> None:
    resp.headers["X-Extra"] = "1"


def _set_cookie(resp: Response) -> None:
    resp.set_cookie("session", "abc")


def _reason(resp: Response) -> None:
    resp.set_status(201, "Made")


def _status(resp: Response) -> None:
    resp.set_status(202)


def _content_type(resp: Response) -> None:
    resp.content_type = "text/html"


def _charset(resp: Response) -> None:
    resp.charset = "latin-1"


def _trailers(resp: Response) -> None:
    resp.trailers = {"X-Sum": "7"}


def _body(resp: Response) -> None:
    resp.body = b"other"


CHANGES = {
    "header": (_add_header, lambda r: r.headers["X-Extra"] == "1"),
    "cookie": (_set_cookie, lambda r: "session=abc" in r.headers["Set-Cookie"]),
    "reason": (_reason, lambda r: (r.status, r.reason) == (201, "Made")),
    "status": (_status, lambda r: r.status == 202),
    "content type": (
        _content_type,
        lambda r: r.headers["Content-Type"] == "text/html; charset=utf-8",
    ),
    "charset": (
        _charset,
        lambda r: r.headers["Content-Type"] == "text/plain; charset=latin-1",
    ),
    "trailers": (_trailers, lambda r: r.trailers["X-Sum"] == "7"),
    "body": (_body, lambda r: r.headers["Content-Length"] == "5"),
}


@pytest.mark.parametrize("name", list(CHANGES))
async def test_a_plain_response_changed_after_it_was_built(name: str) -> None:
    change, seen = CHANGES[name]

    async def handler(request: Request) -> Response:
        resp = Response(text="plain")
        change(resp)
        return resp

    app = Application()
    app.router.add_get("/", handler)
    async with TestClient(app) as client:
        resp = await client.get("/")
        await resp.read()
        assert seen(resp), (resp.status, dict(resp.headers))


async def test_force_close_on_a_plain_response_reaches_the_wire() -> None:
    async def handler(request: Request) -> Response:
        resp = json_response({"a": 1})
        resp.force_close()
        return resp

    app = Application()
    app.router.add_get("/", handler)
    async with TestClient(app) as client:
        resp = await client.get("/")
        assert resp.headers["Connection"] == "close"
        assert await resp.json() == {"a": 1}
