"""An in-memory test client that drives the real protocol core with bytes.

``TestClient(app)`` serves ``app`` through ``serve_connection`` (the same
loop the streams and anyio drivers use) over in-memory byte pipes instead of
sockets. Requests are written as real HTTP/1.1 bytes and responses are parsed
back by a small strict parser here, so a test sees what a socket client would
see: framing, ``100 Continue``, ``Connection: close``, error responses.

The core's clock is fake: ``advance_time(seconds)`` moves it and wakes every
connection, so timeout tests step time instead of sleeping. Runs on asyncio
and trio (anything anyio supports).
"""

from __future__ import annotations

import json as jsonlib
import math
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from multidict import CIMultiDict, CIMultiDictProxy

from ._server import ServerConfig, serve_connection
from .protocol import Limits

if TYPE_CHECKING:
    from ._testing_ws import WSConnectContext
    from .app import Application

__all__ = ["RawConnection", "TestClient", "TestResponse"]

_Tick = None  # an item on the server's inbound pipe meaning "look at the clock"


class _ServerSide:
    """The server's end of an in-memory connection (a ``ByteStream``)."""

    def __init__(
        self,
        inbound: MemoryObjectReceiveStream[bytes | None],
        outbound: MemoryObjectSendStream[bytes],
    ) -> None:
        self._inbound = inbound
        self._outbound = outbound

    async def receive(self) -> bytes | None:
        try:
            return await self._inbound.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return b""

    async def send(self, data: bytes) -> None:
        await self._outbound.send(data)

    async def aclose(self) -> None:
        await self._outbound.aclose()
        await self._inbound.aclose()


class RawConnection:
    """The client's end of one in-memory connection: raw bytes both ways.

    Every read is bounded by ``timeout`` seconds of real time, so a test that
    expects bytes that never come fails instead of hanging.
    """

    def __init__(
        self,
        outbound: MemoryObjectSendStream[bytes | None],
        inbound: MemoryObjectReceiveStream[bytes],
        timeout: float,
    ) -> None:
        self._outbound = outbound
        self._inbound = inbound
        self._buffer = bytearray()
        self._eof = False
        self.timeout = timeout

    async def send(self, data: bytes) -> None:
        """Write bytes to the server."""
        await self._outbound.send(data)

    async def send_eof(self) -> None:
        """Half-close: the server sees end of stream."""
        await self._outbound.aclose()

    def tick(self) -> None:
        """Wake the server side so it re-reads the clock."""
        try:
            self._outbound.send_nowait(_Tick)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.WouldBlock):
            pass

    async def _fill(self) -> bool:
        if self._eof:
            return False
        with anyio.fail_after(self.timeout):
            try:
                chunk = await self._inbound.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                self._eof = True
                return False
        self._buffer += chunk
        return True

    async def receive_some(self) -> bytes:
        """Whatever bytes are buffered, waiting for at least one (``b""`` at EOF)."""
        if not self._buffer:
            await self._fill()
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    async def read_until_closed(self) -> bytes:
        """Everything until the server closes the connection."""
        while await self._fill():
            pass
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    @property
    def closed_by_server(self) -> bool:
        """Whether the server has closed its side (seen by a read)."""
        return self._eof

    async def _read_exactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            if not await self._fill():
                raise ValueError("connection closed before the response was complete")
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def _read_line(self, limit: int = 65536) -> bytes:
        while True:
            index = self._buffer.find(b"\r\n")
            if index >= 0:
                line = bytes(self._buffer[:index])
                del self._buffer[: index + 2]
                return line
            if len(self._buffer) > limit:
                raise ValueError("response line too long")
            if not await self._fill():
                raise ValueError("connection closed in the middle of a line")

    async def read_response(self, method: str = "GET") -> TestResponse:
        """Read one whole final response (skipping 1xx) and parse its framing."""
        response = await self.read_response_head(method)
        await response.read()
        return response

    async def read_response_head(self, method: str = "GET") -> TestResponse:
        """Read a final response head; the body is read on demand."""
        informational: list[int] = []
        while True:
            status_line = await self._read_line()
            parts = status_line.split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
                raise ValueError(f"malformed status line: {status_line!r}")
            status = int(parts[1])
            reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
            raw_headers: list[tuple[bytes, bytes]] = []
            while True:
                line = await self._read_line()
                if not line:
                    break
                name, sep, value = line.partition(b":")
                if not sep or not name or name != name.strip():
                    raise ValueError(f"malformed header line: {line!r}")
                raw_headers.append((name, value.strip(b" \t")))
            if 100 <= status < 200 and status != 101:
                informational.append(status)
                continue
            return TestResponse(
                self,
                status,
                reason,
                parts[0].decode("ascii"),
                raw_headers,
                method,
                informational,
            )


class TestResponse:
    """A response parsed from the bytes the server wrote."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        connection: RawConnection,
        status: int,
        reason: str,
        version: str,
        raw_headers: list[tuple[bytes, bytes]],
        method: str,
        informational: list[int],
    ) -> None:
        self._connection = connection
        self.status = status
        self.reason = reason
        self.version = version
        self.raw_headers = raw_headers
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(
            CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers)
        )
        self.informational = informational
        """Statuses of the 1xx responses that came before this one."""
        self.trailers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
        self._method = method
        self._body: bytes | None = None
        self._body_done = False
        self._remaining: int | None = None
        self._chunked = False
        self._until_close = False
        self._setup_framing()

    def _setup_framing(self) -> None:
        # RFC 9112 §6.3: the order in which a client decides the body length.
        if self._method == "HEAD" or self.status in (204, 304) or self.status < 200:
            self._body_done = True
            return
        te = self.headers.get("transfer-encoding")
        if te is not None:
            if te.lower() != "chunked":
                raise ValueError(f"unexpected transfer-encoding {te!r}")
            self._chunked = True
            return
        lengths = self.headers.getall("content-length", [])
        if lengths:
            if len(set(lengths)) != 1 or not lengths[0].isdigit():
                raise ValueError(f"bad content-length {lengths!r}")
            self._remaining = int(lengths[0])
            self._body_done = self._remaining == 0
            return
        self._until_close = True

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, framing removed."""
        conn = self._connection
        while not self._body_done:
            if self._remaining is not None:
                if not conn._buffer and not await conn._fill():
                    raise ValueError("connection closed before Content-Length bytes arrived")
                take = min(self._remaining, len(conn._buffer))
                data = bytes(conn._buffer[:take])
                del conn._buffer[:take]
                self._remaining -= take
                self._body_done = self._remaining == 0
                if data:
                    yield data
            elif self._chunked:
                size_line = await conn._read_line()
                size_text = size_line.split(b";", 1)[0].strip()
                size = int(size_text, 16)
                if size == 0:
                    trailers: list[tuple[str, str]] = []
                    while line := await conn._read_line():
                        name, _, value = line.partition(b":")
                        trailers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
                    self.trailers = CIMultiDictProxy(CIMultiDict(trailers))
                    self._body_done = True
                else:
                    data = await conn._read_exactly(size)
                    if await conn._read_exactly(2) != b"\r\n":
                        raise ValueError("chunk data not followed by CRLF")
                    yield data
            else:
                if not conn._buffer and not await conn._fill():
                    self._body_done = True
                    break
                data = bytes(conn._buffer)
                conn._buffer.clear()
                yield data

    async def read(self) -> bytes:
        """The whole body."""
        if self._body is None:
            parts = [chunk async for chunk in self.iter_chunks()]
            self._body = b"".join(parts)
        return self._body

    async def text(self, encoding: str = "utf-8") -> str:
        """The body decoded as text."""
        return (await self.read()).decode(encoding)

    async def json(self) -> Any:
        """The body parsed as JSON."""
        return jsonlib.loads(await self.read())

    @property
    def body(self) -> bytes:
        """The body, once ``read()`` has been awaited."""
        if self._body is None:
            raise RuntimeError("await response.read() first")
        return self._body


HeadersArg = Mapping[str, str] | Iterable[tuple[str, str]] | None
DataArg = bytes | str | Mapping[str, str] | None


class TestClient:
    """Serve ``app`` in memory and talk to it with real HTTP/1.1 bytes.

    Use as ``async with TestClient(app) as client``: entering runs the app's
    startup hooks, leaving runs shutdown and cleanup. Each request opens its
    own connection; ``raw_connection()`` gives full control of one.

    Args:
        app: the application to serve.
        limits: the core's limits (timeouts count against the fake clock).
        timeout: real seconds any single read may wait before failing.
        remote: the peer address the app sees.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: Application,
        *,
        limits: Limits | None = None,
        timeout: float = 10.0,
        remote: tuple[str, int] = ("127.0.0.1", 40000),
        host: str = "testserver",
        request_timeout: float | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self.timeout = timeout
        self._remote = remote
        self._now = 0.0
        self._config = ServerConfig(
            limits=limits or Limits(),
            clock=self._clock,
            timeout_for=lambda deadline, now: 0.0 if deadline <= now else math.inf,
            request_timeout=request_timeout,
            counters=app.counters,
        )
        self._connections: list[RawConnection] = []
        self._task_group: TaskGroup | None = None

    def _clock(self) -> float:
        return self._now

    @property
    def now(self) -> float:
        """The fake clock the core sees, in seconds."""
        return self._now

    async def advance_time(self, seconds: float) -> None:
        """Move the core's clock forward and wake every connection.

        First lets every server task settle, so bytes already sent are
        received at the old time; then steps the clock and lets the servers
        react (a 408 or a close is written before this returns).
        """
        await anyio.wait_all_tasks_blocked()
        self._now += seconds
        for conn in self._connections:
            conn.tick()
        await anyio.wait_all_tasks_blocked()

    async def __aenter__(self) -> TestClient:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        try:
            await self.app.startup()
        except BaseException:
            self._task_group.cancel_scope.cancel()
            await self._task_group.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task_group is not None
        try:
            await self.app.shutdown()
            await self.app.cleanup()
        finally:
            self._task_group.cancel_scope.cancel()
            await self._task_group.__aexit__(exc_type, exc, tb)

    def open_connection(self) -> RawConnection:
        """Open a new in-memory connection served by the app."""
        if self._task_group is None:
            raise RuntimeError("use 'async with TestClient(app) as client'")
        to_server_send, to_server_recv = anyio.create_memory_object_stream[bytes | None](math.inf)
        to_client_send, to_client_recv = anyio.create_memory_object_stream[bytes](64)
        server_side = _ServerSide(to_server_recv, to_client_send)
        self._task_group.start_soon(self._serve, server_side)
        conn = RawConnection(to_server_send, to_client_recv, self.timeout)
        self._connections.append(conn)
        return conn

    async def _serve(self, stream: _ServerSide) -> None:
        await serve_connection(stream, self.app, self._config, remote=self._remote)

    @asynccontextmanager
    async def raw_connection(self) -> AsyncIterator[RawConnection]:
        """A connection to write raw bytes to and read raw bytes from."""
        conn = self.open_connection()
        try:
            yield conn
        finally:
            await conn.send_eof()
            await conn._inbound.aclose()
            self._connections.remove(conn)

    async def send_raw(self, data: bytes) -> bytes:
        """Write ``data``, half-close, and return every byte the server wrote."""
        async with self.raw_connection() as conn:
            await conn.send(data)
            await conn.send_eof()
            return await conn.read_until_closed()

    def ws_connect(
        self,
        path: str,
        *,
        protocols: Iterable[str] = (),
        headers: HeadersArg = None,
        compress: bool = True,
    ) -> WSConnectContext:
        """Open a WebSocket to ``path`` on a new connection.

        Use ``async with client.ws_connect(path) as ws`` (closed on exit) or
        ``ws = await client.ws_connect(path)``. ``compress`` offers
        permessage-deflate.

        Raises:
            WSServerHandshakeError: the server did not answer 101 properly.
        """
        from ._testing_ws import WSConnectContext

        return WSConnectContext(self, path, protocols, headers, compress)

    # -- requests -----------------------------------------------------------
    def _encode_request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        headers: HeadersArg,
        data: DataArg,
        json: Any,
        streamed: bool,
    ) -> tuple[bytes, bytes]:
        target = path
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        header_list: list[tuple[str, str]] = []
        if headers is not None:
            items = headers.items() if isinstance(headers, Mapping) else headers
            header_list.extend((str(k), str(v)) for k, v in items)
        names = {k.lower() for k, _ in header_list}
        body = b""
        content_type: str | None = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            content_type = "application/json"
        elif isinstance(data, bytes):
            body = data
        elif isinstance(data, str):
            body = data.encode()
            content_type = "text/plain; charset=utf-8"
        elif data is not None:
            body = urlencode(dict(data)).encode()
            content_type = "application/x-www-form-urlencoded"
        if "host" not in names:
            header_list.insert(0, ("Host", self.host))
        if content_type and "content-type" not in names:
            header_list.append(("Content-Type", content_type))
        if streamed:
            if "transfer-encoding" not in names and "content-length" not in names:
                header_list.append(("Transfer-Encoding", "chunked"))
        elif (body or method in ("POST", "PUT", "PATCH")) and "content-length" not in names:
            header_list.append(("Content-Length", str(len(body))))
        lines = [f"{method} {target} HTTP/1.1"]
        lines.extend(f"{k}: {v}" for k, v in header_list)
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head, body

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: HeadersArg = None,
        data: DataArg = None,
        json: Any = None,
        content: AsyncIterable[bytes] | None = None,
    ) -> TestResponse:
        """Send one request on a new connection and read the whole response."""
        async with self.stream(
            method, path, params=params, headers=headers, data=data, json=json, content=content
        ) as response:
            await response.read()
        return response

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: HeadersArg = None,
        data: DataArg = None,
        json: Any = None,
        content: AsyncIterable[bytes] | None = None,
    ) -> AsyncIterator[TestResponse]:
        """Send a request; yield the response once its head has arrived."""
        head, body = self._encode_request(
            method,
            path,
            params=params,
            headers=headers,
            data=data,
            json=json,
            streamed=content is not None,
        )
        async with self.raw_connection() as conn:
            await conn.send(head + body)
            if content is not None:
                async for chunk in content:
                    if chunk:
                        await conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await conn.send(b"0\r\n\r\n")
            yield await conn.read_response_head(method)

    async def get(self, path: str, **kwargs: Any) -> TestResponse:
        """``GET path``."""
        return await self.request("GET", path, **kwargs)

    async def head(self, path: str, **kwargs: Any) -> TestResponse:
        """``HEAD path``."""
        return await self.request("HEAD", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> TestResponse:
        """``POST path``."""
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> TestResponse:
        """``PUT path``."""
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> TestResponse:
        """``PATCH path``."""
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> TestResponse:
        """``DELETE path``."""
        return await self.request("DELETE", path, **kwargs)

    async def options(self, path: str, **kwargs: Any) -> TestResponse:
        """``OPTIONS path``."""
        return await self.request("OPTIONS", path, **kwargs)
