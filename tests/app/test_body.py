"""Request body readers: read/text/json/post, the content stream, size limits.

The first tests drive ``Request`` through a fake channel that counts
``receive_body`` calls; the last ones go through the in-memory client with
real bytes, including the lazy ``100 Continue``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest
from test_request import FakeChannel, make_request

from sansketch.app import Application
from sansketch.exceptions import HTTPBadRequest, HTTPRequestEntityTooLarge
from sansketch.request import FileField, Request
from sansketch.response import Response, json_response
from sansketch.testing import TestClient

pytestmark = pytest.mark.anyio


def body_request(
    chunks: Sequence[bytes],
    *,
    content_type: bytes | None = None,
    declared: bool = True,
    client_max_size: int = 1024**2,
) -> tuple[Request, FakeChannel]:
    channel = FakeChannel(chunks, trailers=[(b"X-Checksum", b"abc")])
    headers = [(b"Host", b"h")]
    if content_type is not None:
        headers.append((b"Content-Type", content_type))
    size = sum(map(len, chunks))
    req = make_request(
        method=b"POST",
        headers=headers,
        channel=channel,
        content_length=size if declared else None,
        chunked=not declared,
    )
    req._client_max_size = client_max_size
    return req, channel


async def test_read_joins_chunks_and_caches() -> None:
    req, channel = body_request([b"hel", b"lo"])
    assert await req.read() == b"hello"
    calls = channel.receive_calls
    assert await req.read() == b"hello"
    assert channel.receive_calls == calls
    assert not req.can_read_body


async def test_read_without_body_does_not_touch_channel() -> None:
    channel = FakeChannel([b"x"])
    req = make_request(channel=channel)
    assert await req.read() == b""
    assert channel.receive_calls == 0


async def test_text_uses_charset() -> None:
    req, _ = body_request(["é".encode("latin-1")], content_type=b"text/plain; charset=latin-1")
    assert await req.text() == "é"


async def test_text_invalid_encoding_is_400() -> None:
    req, _ = body_request([b"\xff\xfe"], content_type=b"text/plain")
    with pytest.raises(HTTPBadRequest):
        await req.text()


async def test_json() -> None:
    req, _ = body_request([b'{"a": ', b"[1, 2]}"], content_type=b"application/json")
    assert await req.json() == {"a": [1, 2]}


async def test_json_custom_loads_and_invalid_json() -> None:
    req, _ = body_request([b"[1]"])
    assert await req.json(loads=lambda s: ("custom", s)) == ("custom", "[1]")
    bad, _ = body_request([b"{nope"])
    with pytest.raises(HTTPBadRequest) as info:
        await bad.json()
    assert info.value.status == 400
    assert info.value.text == "Request body is not valid JSON"


async def test_client_max_size_refuses_declared_length_before_reading() -> None:
    req, channel = body_request([b"x" * 100], client_max_size=10)
    with pytest.raises(HTTPRequestEntityTooLarge) as info:
        await req.read()
    assert info.value.status == 413
    assert (info.value.max_size, info.value.actual_size) == (10, 100)
    assert channel.receive_calls == 0  # never asked for the body: no 100 Continue


async def test_client_max_size_stops_a_chunked_body_midway() -> None:
    req, channel = body_request([b"x" * 6, b"x" * 6, b"x" * 6], declared=False, client_max_size=10)
    with pytest.raises(HTTPRequestEntityTooLarge) as info:
        await req.read()
    assert info.value.actual_size == 12
    assert channel.receive_calls == 2


async def test_content_read_n_and_readany() -> None:
    req, _ = body_request([b"abcdef", b"gh"])
    content = req.content
    assert await content.read(2) == b"ab"
    assert await content.readany() == b"cdef"
    assert await content.read(10) == b"gh"
    assert await content.read(1) == b""
    assert content.at_eof()


async def test_content_iter_chunked_regroups() -> None:
    req, _ = body_request([b"abc", b"de", b"fghij", b"k"])
    chunks = [chunk async for chunk in req.content.iter_chunked(4)]
    assert chunks == [b"abcd", b"efgh", b"ijk"]


async def test_content_async_for_yields_chunks_as_they_arrive() -> None:
    req, _ = body_request([b"one", b"two"])
    assert [chunk async for chunk in req.content] == [b"one", b"two"]
    req2, _ = body_request([b"one", b"two"])
    assert [chunk async for chunk in req2.content.iter_any()] == [b"one", b"two"]


async def test_content_readexactly() -> None:
    req, _ = body_request([b"ab", b"cd"])
    assert await req.content.readexactly(3) == b"abc"
    with pytest.raises(EOFError):
        await req.content.readexactly(2)


async def test_read_after_partial_stream_returns_the_rest() -> None:
    req, _ = body_request([b"abc", b"def"])
    assert await req.content.read(1) == b"a"
    assert await req.read() == b"bcdef"


async def test_trailers_after_chunked_body() -> None:
    req, _ = body_request([b"abc"], declared=False)
    await req.read()
    assert req.trailers()["x-checksum"] == "abc"


async def test_post_urlencoded() -> None:
    req, _ = body_request(
        [b"a=1&b=%C3%A9+x&a=2&empty="], content_type=b"application/x-www-form-urlencoded"
    )
    form = await req.post()
    assert form.getall("a") == ["1", "2"]
    assert form["b"] == "é x"
    assert form["empty"] == ""
    assert await req.post() is form


async def test_post_urlencoded_limits() -> None:
    ctype = b"application/x-www-form-urlencoded"
    many, _ = body_request([b"&".join(b"f%d=1" % i for i in range(20))], content_type=ctype)
    with pytest.raises(HTTPRequestEntityTooLarge):
        await many.post(max_fields=10)
    big, _ = body_request([b"f=" + b"x" * 100], content_type=ctype)
    with pytest.raises(HTTPRequestEntityTooLarge):
        await big.post(max_field_size=50)


async def test_post_other_content_type_is_empty() -> None:
    req, channel = body_request([b"{}"], content_type=b"application/json")
    assert dict(await req.post()) == {}
    assert channel.receive_calls == 0


# -- end to end, through the in-memory client (real bytes, both loops) ---------


def body_app(client_max_size: int = 1024**2) -> Application:
    async def ignore(request: Request) -> Response:
        return Response(text="ignored")

    async def echo(request: Request) -> Response:
        return Response(body=await request.read())

    async def form(request: Request) -> Response:
        data = await request.post()
        out = []
        for key, value in data.items():
            if isinstance(value, FileField):
                out.append(f"{key}={value.filename}:{len(value.file.read())}")
            else:
                out.append(f"{key}={value}")
        return Response(text="&".join(out))

    async def stream(request: Request) -> Response:
        sizes = [len(chunk) async for chunk in request.content.iter_chunked(4)]
        return json_response({"sizes": sizes, "trailers": dict(request.trailers())})

    async def as_json(request: Request) -> Response:
        return json_response({"got": await request.json()})

    app = Application(client_max_size=client_max_size)
    app.router.add_post("/ignore", ignore)
    app.router.add_post("/echo", echo)
    app.router.add_post("/form", form)
    app.router.add_put("/stream", stream)
    app.router.add_post("/json", as_json)
    return app


EXPECT_HEAD = (
    b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
    b"Connection: close\r\n\r\n"
)


async def test_no_100_continue_when_the_handler_does_not_read() -> None:
    async with TestClient(body_app()) as client, client.raw_connection() as conn:
        await conn.send(EXPECT_HEAD % b"/ignore")  # the body is never sent
        resp = await conn.read_response("POST")
    assert resp.status == 200
    assert await resp.read() == b"ignored"


async def test_100_continue_is_sent_when_the_handler_reads() -> None:
    async with TestClient(body_app()) as client, client.raw_connection() as conn:
        await conn.send(EXPECT_HEAD % b"/echo")
        # The client waits for the interim response before sending the body.
        assert await conn.receive_some() == b"HTTP/1.1 100 Continue\r\n\r\n"
        await conn.send(b"hello")
        resp = await conn.read_response("POST")
    assert resp.status == 200
    assert await resp.read() == b"hello"


async def test_too_large_declared_body_is_413_without_100_continue() -> None:
    async with TestClient(body_app(client_max_size=4)) as client:
        raw = await client.send_raw(EXPECT_HEAD % b"/echo")
    assert b"100 Continue" not in raw
    assert raw.startswith(b"HTTP/1.1 413 ")
    assert raw.endswith(b"Maximum request body size 4 exceeded, actual body size 5")


async def test_too_large_streamed_body_is_413() -> None:
    async with TestClient(body_app(client_max_size=10)) as client:
        raw = await client.send_raw(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"4\r\nxxxx\r\n" * 4
            + b"0\r\n\r\n"
        )
    assert raw.startswith(b"HTTP/1.1 413 ")
    assert raw.endswith(b"Maximum request body size 10 exceeded, actual body size 12")


async def test_read_echo_and_json() -> None:
    async with TestClient(body_app()) as client:
        assert await (await client.post("/echo", data=b"abc")).read() == b"abc"
        resp = await client.post("/json", json={"a": [1, 2]})
        assert await resp.json() == {"got": {"a": [1, 2]}}
        bad = await client.post("/json", data=b"{", headers={"Content-Type": "application/json"})
        assert bad.status == 400


async def test_streamed_request_body_and_trailers() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"abcde"
        yield b"fghij"

    async with TestClient(body_app()) as client:
        resp = await client.request("PUT", "/stream", content=chunks())
        assert await resp.json() == {"sizes": [4, 4, 2], "trailers": {}}
        raw = await client.send_raw(
            b"PUT /stream HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 3\r\n\r\n"
        )
    assert raw.endswith(b'{"sizes": [3], "trailers": {"X-Sum": "3"}}')


async def test_post_forms_end_to_end() -> None:
    multipart = (
        b"--xyz\r\n"
        b'Content-Disposition: form-data; name="who"\r\n\r\nme\r\n'
        b"--xyz\r\n"
        b'Content-Disposition: form-data; name="doc"; filename="d.txt"\r\n\r\n'
        + b"z" * 3000
        + b"\r\n--xyz--\r\n"
    )
    async with TestClient(body_app()) as client:
        resp = await client.post("/form", data={"a": "1", "b": "é"})
        assert await resp.text() == "a=1&b=é"
        resp = await client.post(
            "/form",
            data=multipart,
            headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        )
        assert await resp.text() == "who=me&doc=d.txt:3000"
        resp = await client.post(
            "/form", data=multipart, headers={"Content-Type": "multipart/form-data"}
        )
        assert resp.status == 400
