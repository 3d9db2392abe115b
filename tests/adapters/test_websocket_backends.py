"""WebSockets on every driver, over real sockets on 127.0.0.1.

The client is the ``websockets`` package (its blocking client) or a raw
socket writing hand-made frames, so the same test covers every backend.
"""

from __future__ import annotations

import base64
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_server import TIMEOUT, LiveServer
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from sansketch.app import Application
from sansketch.request import Request
from sansketch.websocket import WebSocketResponse, WSMsgType


class WSApp:
    """An echo app whose handlers report, across threads, how sockets ended."""

    def __init__(self) -> None:
        self.app = Application()
        self.app.router.add_get("/ws", self.echo)
        self.app.router.add_get("/small", self.small)
        self.close_codes: list[int | None] = []
        self.ended = threading.Event()

    async def echo(self, request: Request, **kwargs: Any) -> WebSocketResponse:
        ws = WebSocketResponse(protocols=["v2", "v1"], **kwargs)
        await ws.prepare(request)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await ws.send_str(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
        finally:
            self.close_codes.append(ws.close_code)
            self.ended.set()
        return ws

    async def small(self, request: Request) -> WebSocketResponse:
        return await self.echo(request, max_msg_size=1024)


def ws_url(server: LiveServer, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


def open_client(server: LiveServer, path: str = "/ws", **kwargs: Any) -> ClientConnection:
    return connect(ws_url(server, path), open_timeout=TIMEOUT, close_timeout=TIMEOUT, **kwargs)


# -- a raw client -------------------------------------------------------------------------


def raw_handshake(server: LiveServer, path: str = "/ws") -> tuple[socket.socket, bytearray]:
    sock = socket.create_connection(server.address, timeout=TIMEOUT)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "server closed during the handshake"
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock, bytearray(rest)


def read_frame(sock: socket.socket, buf: bytearray) -> tuple[int, bytes] | None:
    """One server frame (unmasked, RFC 6455 §5.1); ``None`` at end of stream."""

    def need(n: int) -> bool:
        while len(buf) < n:
            chunk = sock.recv(65536)
            if not chunk:
                return False
            buf.extend(chunk)
        return True

    if not need(2):
        return None
    opcode, size = buf[0] & 0x0F, buf[1] & 0x7F
    offset = 2
    if size == 126:
        assert need(4)
        size, offset = int.from_bytes(buf[2:4], "big"), 4
    elif size == 127:
        assert need(10)
        size, offset = int.from_bytes(buf[2:10], "big"), 10
    assert need(offset + size)
    payload = bytes(buf[offset : offset + size])
    del buf[: offset + size]
    return opcode, payload


def masked(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    key = b"\x0a\x0b\x0c\x0d"
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    size = len(payload)
    if size < 126:
        head = bytes([first, 0x80 | size])
    else:
        head = bytes([first, 0x80 | 126]) + size.to_bytes(2, "big")
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_code_of(sock: socket.socket, buf: bytearray) -> tuple[list[tuple[int, bytes]], int]:
    """Frames before the server's close frame, and its code."""
    frames = []
    while (frame := read_frame(sock, buf)) is not None:
        opcode, payload = frame
        if opcode == 0x8:
            return frames, int.from_bytes(payload[:2], "big")
        frames.append(frame)
    raise AssertionError("connection ended without a close frame")


# -- tests ------------------------------------------------------------------------


def test_echo_with_the_websockets_client(start_server: Callable[..., LiveServer]) -> None:
    wsapp = WSApp()
    server = start_server(app=wsapp.app)
    with open_client(server, subprotocols=["v1", "v2"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "v2"
        assert ws.response is not None
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        ws.send("héllo")
        assert ws.recv() == "héllo"
        blob = os.urandom(1000) * 200
        ws.send(blob)
        assert ws.recv() == blob
        for i in range(50):
            ws.send(f"m{i}")
        assert [ws.recv() for _ in range(50)] == [f"m{i}" for i in range(50)]
        ws.ping(b"beat").wait(TIMEOUT)
    assert wsapp.ended.wait(TIMEOUT)
    assert wsapp.close_codes == [1000]


def test_echo_without_compression(start_server: Callable[..., LiveServer]) -> None:
    wsapp = WSApp()
    server = start_server(app=wsapp.app)
    with open_client(server, compression=None) as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        ws.send(b"\x00" * 70000)
        assert ws.recv() == b"\x00" * 70000


def test_bad_handshakes_get_http_errors(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(app=WSApp().app)
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(b"k" * 16).decode(),
        "Sec-WebSocket-Version": "8",
    }
    resp = httpx.get(server.url + "/ws", headers=headers, timeout=TIMEOUT)
    assert resp.status_code == 426
    assert resp.headers["Sec-WebSocket-Version"] == "13"
    headers.update({"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "too-short"})
    assert httpx.get(server.url + "/ws", headers=headers, timeout=TIMEOUT).status_code == 400


CASES = [
    ("invalid utf-8", "/ws", masked(0x1, b"\xce\xba\xed\xa0\x80"), 1007),
    ("reserved opcode", "/ws", masked(0x3, b""), 1002),
    ("rsv1 without deflate", "/ws", masked(0x1, b"x", rsv=4), 1002),
    ("oversize", "/small", masked(0x2, b"x" * 1025), 1009),
    (
        "fragments around a ping, then close",
        "/ws",
        masked(0x1, b"ab", fin=False)
        + masked(0x9, b"p")
        + masked(0x0, b"cd")
        + masked(0x8, (1000).to_bytes(2, "big")),
        1000,
    ),
]


def test_autobahn_style_cases_over_sockets(start_server: Callable[..., LiveServer]) -> None:
    wsapp = WSApp()
    server = start_server(app=wsapp.app)
    for name, path, data, code in CASES:
        sock, buf = raw_handshake(server, path)
        with sock:
            sock.sendall(data)
            frames, got = close_code_of(sock, buf)
            assert got == code, name
            if code == 1000:
                assert frames == [(0xA, b"p"), (0x1, b"abcd")], name
            # The server closes TCP after the close frame (RFC 6455 §7.1.1).
            assert read_frame(sock, buf) is None, name


def test_frames_in_one_write_and_split_over_many(start_server: Callable[..., LiveServer]) -> None:
    wsapp = WSApp()
    server = start_server(app=wsapp.app)
    sock, buf = raw_handshake(server)
    with sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Whole simple frames and frames only wsproto reads, in one write.
        sock.sendall(
            masked(0x1, b"one")
            + masked(0x9, b"ping")
            + masked(0x2, b"\x00" * 300)
            + masked(0x1, b"fr", fin=False)
            + masked(0x0, b"ag")
            + masked(0x1, "κό".encode())
        )
        expected = [(0x1, b"one"), (0xA, b"ping"), (0x2, b"\x00" * 300), (0x1, b"frag")]
        expected.append((0x1, "κό".encode()))
        assert [read_frame(sock, buf) for _ in expected] == expected
        # One frame dribbled out a few bytes per write.
        data = masked(0x1, b"slowly, " * 40)
        for i in range(0, len(data), 7):
            sock.sendall(data[i : i + 7])
        assert read_frame(sock, buf) == (0x1, b"slowly, " * 40)
        sock.sendall(masked(0x8, (1000).to_bytes(2, "big")))
        assert read_frame(sock, buf) == (0x8, (1000).to_bytes(2, "big"))
    assert wsapp.ended.wait(TIMEOUT)
    assert wsapp.close_codes == [1000]


def test_client_that_vanishes_frees_the_handler(start_server: Callable[..., LiveServer]) -> None:
    wsapp = WSApp()
    server = start_server(app=wsapp.app)
    sock, buf = raw_handshake(server)
    sock.sendall(masked(0x1, b"hi"))
    assert read_frame(sock, buf) == (0x1, b"hi")
    sock.close()
    assert wsapp.ended.wait(TIMEOUT)
    assert wsapp.close_codes == [1006]
    assert server.stop() == 0


def test_graceful_shutdown_closes_with_1001(start_server: Callable[..., LiveServer]) -> None:
    wsapp = WSApp()
    server = start_server(app=wsapp.app)
    with open_client(server) as ws:
        ws.send("x")
        assert ws.recv() == "x"
        forced = server.stop()
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=TIMEOUT)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    assert forced == 0
    assert wsapp.close_codes == [1001]


def test_chat_example_with_real_clients(start_server: Callable[..., LiveServer]) -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "examples" / "chat.py"
    spec = importlib.util.spec_from_file_location("example_chat_live", path)
    assert spec is not None and spec.loader is not None
    chat = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chat)
    server = start_server(app=chat.make_app())
    with (
        open_client(server, "/chat?name=ann") as ann,
        open_client(server, "/chat?name=ben") as ben,
    ):
        assert ann.recv(TIMEOUT) == "welcome, ann; here: ann"
        assert ben.recv(TIMEOUT) == "welcome, ben; here: ann, ben"
        assert ann.recv(TIMEOUT) == "ben joined"
        ann.send("hello ben")
        assert ben.recv(TIMEOUT) == "ann: hello ben"
        ben.close()
        assert ann.recv(TIMEOUT) == "ben left"


class _Transport:
    """Just enough of an asyncio transport for the Protocol driver's upgraded stream."""

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.data.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return sum(map(len, self.data))

    def close(self) -> None:
        self.closing = True

    abort = close


def test_protocol_driver_stream_writes_without_a_coroutine_and_reports_congestion() -> None:
    import asyncio

    from sansketch._channel import ClientDisconnected
    from sansketch._server import ConnectionSet, ServerConfig
    from sansketch.adapters import asyncio_protocol

    async def main() -> None:
        loop = asyncio.get_running_loop()
        state = asyncio_protocol._State(Application(), ServerConfig(), ConnectionSet(), loop)
        proto = asyncio_protocol.HttpProtocol(state)
        transport = _Transport()
        proto.connection_made(transport)  # type: ignore[arg-type]
        stream = asyncio_protocol._UpgradedProtocolStream(proto)
        assert stream.send_nowait(b"one") is True
        assert transport.data == [b"one"]

        # Over the high-water mark: written all the same, and the sender is
        # told to wait; the wait ends when the transport drains.
        proto.pause_writing()
        assert stream.send_nowait(b"two") is False
        assert transport.data == [b"one", b"two"]
        waiting = asyncio.ensure_future(stream.wait_writable())
        await asyncio.sleep(0)
        assert not waiting.done()
        proto.resume_writing()
        await asyncio.wait_for(waiting, TIMEOUT)

        transport.closing = True
        with pytest.raises(ClientDisconnected):
            stream.send_nowait(b"three")
        assert transport.data == [b"one", b"two"]
        proto.connection_lost(None)

    asyncio.run(main())
