"""The client end of an in-memory WebSocket, for ``TestClient.ws_connect``.

The handshake is written as real HTTP/1.1 bytes on an in-memory connection
and the 101 answer is checked as a browser would (status, ``Upgrade``,
``Connection``, ``Sec-WebSocket-Accept``, subprotocol, extensions); frames
are then made and read by wsproto's client side, masked as RFC 6455 §5.3
demands. ``send_frame`` writes raw bytes so a test can break the protocol on
purpose and watch the server's answer.
"""

from __future__ import annotations

import base64
import json
import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
from multidict import CIMultiDictProxy
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.extensions import Extension, PerMessageDeflate

from ._ws_handshake import accept_key
from .websocket import WS_CLOSED_MESSAGE, WSCloseCode, WSMessage, WSMsgType

if TYPE_CHECKING:
    from .testing import RawConnection, TestClient

__all__ = ["TestWebSocket", "WSConnectContext", "WSServerHandshakeError"]


class WSServerHandshakeError(Exception):
    """The server did not switch to WebSocket.

    Attributes:
        status: the response status.
        headers: the response headers.
        body: the response body.
    """

    def __init__(
        self, message: str, status: int, headers: CIMultiDictProxy[str], body: bytes
    ) -> None:
        super().__init__(f"{message} (status {status})")
        self.status = status
        self.headers = headers
        self.body = body


class TestWebSocket:
    """The client end of a WebSocket served by a ``TestClient``."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        raw: RawConnection,
        conn: Connection,
        leftover: bytes,
        protocol: str | None,
        headers: CIMultiDictProxy[str],
        on_close: Callable[[], None],
    ) -> None:
        self.raw = raw
        """The in-memory connection underneath (for raw bytes)."""
        self.protocol = protocol
        """The subprotocol the server chose."""
        self.response_headers = headers
        """Headers of the 101 response."""
        self._conn = conn
        self._pending: deque[WSMessage] = deque()
        self._fragments: list[Any] = []
        self._close_code: int | None = None
        self._closed = False
        self._on_close = on_close
        self._replies = b""
        if leftover:
            conn.receive_data(leftover)
            self._process()

    @property
    def closed(self) -> bool:
        """Whether the closing handshake happened or the server went away."""
        return self._closed

    @property
    def close_code(self) -> int | None:
        """The code of the server's close frame (1006 when there was none)."""
        return self._close_code

    async def _write(self, data: bytes) -> None:
        await self.raw.send(data)

    async def send_str(self, data: str) -> None:
        """Send a text message."""
        await self._write(self._conn.send(TextMessage(data=data)))

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        await self._write(self._conn.send(BytesMessage(data=data)))

    async def send_json(self, data: Any) -> None:
        """Send ``data`` as JSON text."""
        await self.send_str(json.dumps(data))

    async def ping(self, payload: bytes = b"") -> None:
        """Send a ping."""
        await self._write(self._conn.send(Ping(payload=payload)))

    async def send_frame(self, data: bytes) -> None:
        """Write raw bytes (crafted frames) to the server."""
        await self._write(data)

    def _process(self) -> None:
        """Turn wsproto events into queued messages (replies are queued too)."""
        replies: list[bytes] = []
        for event in self._conn.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                self._fragments.append(event.data)
                if event.message_finished:
                    if isinstance(event, TextMessage):
                        text = "".join(self._fragments)
                        self._pending.append(WSMessage(WSMsgType.TEXT, text, ""))
                    else:
                        data = b"".join(self._fragments)
                        self._pending.append(WSMessage(WSMsgType.BINARY, data, ""))
                    self._fragments = []
            elif isinstance(event, Ping):
                if self._conn.state is ConnectionState.OPEN:
                    replies.append(self._conn.send(event.response()))
                self._pending.append(WSMessage(WSMsgType.PING, bytes(event.payload), ""))
            elif isinstance(event, Pong):
                self._pending.append(WSMessage(WSMsgType.PONG, bytes(event.payload), ""))
            elif isinstance(event, CloseConnection):
                self._close_code = event.code
                if self._conn.state is ConnectionState.REMOTE_CLOSING:
                    replies.append(self._conn.send(event.response()))
                self._pending.append(WSMessage(WSMsgType.CLOSE, event.code, event.reason or ""))
                break
        self._replies = b"".join(replies)

    async def receive(self, timeout: float | None = None) -> WSMessage:
        """The next message, pings and pongs included (pings are answered).

        Args:
            timeout: real seconds to wait (default: the client's timeout).

        Raises:
            TimeoutError: nothing arrived in time.
        """
        with anyio.fail_after(timeout if timeout is not None else self.raw.timeout):
            while not self._pending:
                if self._closed:
                    return WS_CLOSED_MESSAGE
                data = await self.raw.receive_some()
                if not data:
                    await self._finish(WSCloseCode.ABNORMAL_CLOSURE)
                    return WS_CLOSED_MESSAGE
                self._conn.receive_data(data)
                self._process()
                if self._replies:
                    replies, self._replies = self._replies, b""
                    try:
                        await self._write(replies)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        pass
            msg = self._pending.popleft()
        if msg.type is WSMsgType.CLOSE:
            await self._finish(msg.data)
        return msg

    async def receive_str(self, timeout: float | None = None) -> str:
        """The next data message, which must be text (control frames skipped)."""
        msg = await self._receive_data(timeout)
        if msg.type is not WSMsgType.TEXT:
            raise TypeError(f"expected a TEXT message, got {msg.type.name}: {msg.data!r}")
        text: str = msg.data
        return text

    async def receive_bytes(self, timeout: float | None = None) -> bytes:
        """The next data message, which must be binary (control frames skipped)."""
        msg = await self._receive_data(timeout)
        if msg.type is not WSMsgType.BINARY:
            raise TypeError(f"expected a BINARY message, got {msg.type.name}: {msg.data!r}")
        data: bytes = msg.data
        return data

    async def receive_json(self, timeout: float | None = None) -> Any:
        """The next text message parsed as JSON."""
        return json.loads(await self.receive_str(timeout))

    async def _receive_data(self, timeout: float | None) -> WSMessage:
        while True:
            msg = await self.receive(timeout)
            if msg.type not in (WSMsgType.PING, WSMsgType.PONG):
                return msg

    async def close(self, *, code: int = WSCloseCode.OK, message: bytes = b"") -> bool:
        """Send a close frame and wait for the server's (bounded by the timeout).

        Returns:
            ``False`` if the socket was already closed.
        """
        if self._closed:
            return False
        if self._conn.state is ConnectionState.OPEN:
            reason = message.decode("utf-8") or None
            try:
                await self._write(self._conn.send(CloseConnection(code=code, reason=reason)))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass
        with anyio.move_on_after(self.raw.timeout):
            while not self._closed:
                msg = await self.receive()
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED):
                    break
        await self._finish(self._close_code or WSCloseCode.ABNORMAL_CLOSURE)
        return True

    async def _finish(self, code: int) -> None:
        if self._close_code is None:
            self._close_code = code
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            await self.raw.send_eof()
        self._on_close()

    def __aiter__(self) -> TestWebSocket:
        return self

    async def __anext__(self) -> WSMessage:
        msg = await self._receive_data(None)
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            raise StopAsyncIteration
        return msg


class WSConnectContext:
    """What ``TestClient.ws_connect`` returns: await it or ``async with`` it."""

    def __init__(
        self,
        client: TestClient,
        path: str,
        protocols: Iterable[str],
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
        compress: bool,
    ) -> None:
        self._client = client
        self._path = path
        self._protocols = list(protocols)
        self._headers = headers
        self._compress = compress
        self._ws: TestWebSocket | None = None

    def __await__(self) -> Generator[Any, None, TestWebSocket]:
        return self._connect().__await__()

    async def __aenter__(self) -> TestWebSocket:
        self._ws = await self._connect()
        return self._ws

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ws is not None:
            with anyio.CancelScope(shield=True):
                await self._ws.close()

    async def _connect(self) -> TestWebSocket:
        client = self._client
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        lines = [
            f"GET {self._path} HTTP/1.1",
            f"Host: {client.host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if self._protocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(self._protocols))
        deflate = PerMessageDeflate() if self._compress else None
        if deflate is not None:
            lines.append(f"Sec-WebSocket-Extensions: permessage-deflate; {deflate.offer()}")
        if self._headers is not None:
            items = self._headers.items() if isinstance(self._headers, Mapping) else self._headers
            lines.extend(f"{name}: {value}" for name, value in items)
        raw = client.open_connection()

        def forget() -> None:
            if raw in client._connections:
                client._connections.remove(raw)

        try:
            await raw.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            response = await raw.read_response_head()
            if response.status != 101:
                body = await response.read()
                raise WSServerHandshakeError(
                    "the server did not switch protocols", response.status, response.headers, body
                )
            headers = response.headers
            if headers.get("Upgrade", "").lower() != "websocket":
                raise WSServerHandshakeError("bad Upgrade header", 101, headers, b"")
            if "upgrade" not in headers.get("Connection", "").lower():
                raise WSServerHandshakeError("bad Connection header", 101, headers, b"")
            if headers.get("Sec-WebSocket-Accept") != accept_key(key):
                raise WSServerHandshakeError("bad Sec-WebSocket-Accept", 101, headers, b"")
            protocol = headers.get("Sec-WebSocket-Protocol")
            if protocol is not None and protocol not in self._protocols:
                raise WSServerHandshakeError("unrequested subprotocol", 101, headers, b"")
            extensions: list[Extension] = []
            accepted = headers.get("Sec-WebSocket-Extensions")
            if accepted is not None:
                if deflate is None or not accepted.startswith("permessage-deflate"):
                    raise WSServerHandshakeError("unrequested extension", 101, headers, b"")
                deflate.finalize(accepted)
                extensions.append(deflate)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await raw.send_eof()
            forget()
            raise
        leftover = bytes(raw._buffer)
        raw._buffer.clear()
        conn = Connection(ConnectionType.CLIENT, extensions=extensions)
        return TestWebSocket(raw, conn, leftover, protocol, headers, forget)
