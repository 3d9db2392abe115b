"""The in-memory test client: real bytes through the real core, fake time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from examples.hello import app as hello_app
from sansketch import Application, Request, Response, StreamResponse
from sansketch.protocol import Limits
from sansketch.testing import TestClient

pytestmark = pytest.mark.anyio


async def test_readme_example() -> None:
    async with TestClient(hello_app) as client:
        response = await client.get("/")
        assert response.status == 200
        assert await response.text() == "Hello, World!"
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        raw = await client.send_raw(b"GET / HTTP/1.1\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 400 ")
        async with client.raw_connection() as conn:
            await conn.send(b"GET / HTTP/1.1\r\nHo")
            await client.advance_time(11)
            assert (await conn.read_until_closed()).startswith(b"HTTP/1.1 408 ")


async def test_time_only_moves_when_stepped() -> None:
    limits = Limits(request_head_timeout=10.0)
    async with TestClient(hello_app, limits=limits) as client, client.raw_connection() as conn:
        await conn.send(b"GET / HTTP/1.1\r\nHo")
        await client.advance_time(9.0)  # not yet due: the connection stays open
        await conn.send(b"st: x\r\n\r\n")
        response = await conn.read_response()
        assert response.status == 200
        assert not conn.closed_by_server


async def test_idle_keep_alive_closed_after_timeout() -> None:
    limits = Limits(keep_alive_timeout=5.0)
    async with TestClient(hello_app, limits=limits) as client, client.raw_connection() as conn:
        await conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await conn.read_response()).status == 200
        await client.advance_time(6.0)
        assert await conn.read_until_closed() == b""
        assert conn.closed_by_server


async def test_keep_alive_and_pipelining_on_one_connection() -> None:
    async with TestClient(hello_app) as client, client.raw_connection() as conn:
        await conn.send(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /user/ann HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        first = await conn.read_response()
        second = await conn.read_response()
        third = await conn.read_response()
        assert [first.body, await second.json(), third.body] == [
            b"Hello, World!",
            {"message": "Hello, World!"},
            b"Hello, ann!",
        ]


def _streaming_app() -> Application:
    async def echo_stream(request: Request) -> StreamResponse:
        response = StreamResponse()
        await response.prepare(request)
        async for chunk in request.content.iter_chunked(4):
            await response.write(chunk.upper())
        await response.write_eof()
        return response

    async def size(request: Request) -> Response:
        return Response(text=str(len(await request.read())))

    app = Application()
    app.router.add_post("/echo", echo_stream)
    app.router.add_post("/size", size)
    return app


async def test_streamed_request_and_response_bodies() -> None:
    async def body() -> AsyncIterator[bytes]:
        for part in (b"abc", b"defgh", b"ij"):
            yield part

    async with TestClient(_streaming_app()) as client:
        async with client.stream("POST", "/echo", content=body()) as response:
            assert response.headers["Transfer-Encoding"] == "chunked"
            chunks = [chunk async for chunk in response.iter_chunks()]
        assert b"".join(chunks) == b"ABCDEFGHIJ"
        response = await client.post("/size", data=b"x" * 100_000)
        assert await response.text() == "100000"


async def test_error_responses_written_by_the_core_carry_date() -> None:
    async with TestClient(hello_app) as client:
        raw = await client.send_raw(b"GET / HTTP/1.1\r\n\r\n")
    head = raw.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 400 ")
    assert b"\r\ndate: " in head
    assert b"\r\nserver: sansketch" in head


async def test_pipelined_response_is_not_held_behind_a_slow_handler() -> None:
    import anyio

    release = anyio.Event()

    async def fast(request: Request) -> Response:
        return Response(text="fast")

    async def slow(request: Request) -> Response:
        await release.wait()  # set only once the client has the first response
        return Response(text="slow")

    app = Application()
    app.router.add_get("/fast", fast)
    app.router.add_get("/slow", slow)
    async with TestClient(app, timeout=5.0) as client, client.raw_connection() as conn:
        await conn.send(
            b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        first = await conn.read_response()
        assert first.body == b"fast"
        release.set()
        assert (await conn.read_response()).body == b"slow"
