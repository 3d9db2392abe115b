"""WebSockets through the in-memory client: handshake, messages, limits, close.

The Autobahn-style cases write hand-made frames (RFC 6455 §5.2) and check the
close code the server answers with.
"""

from __future__ import annotations

import base64
import importlib.util
import random
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest

from sansketch._testing_ws import TestWebSocket, WSServerHandshakeError
from sansketch._ws_frames import INCOMPLETE, SLOW, TOO_BIG, split_frame, unmask
from sansketch._ws_handshake import HandshakeError, accept_key, negotiate
from sansketch.app import Application
from sansketch.request import Request
from sansketch.testing import TestClient
from sansketch.websocket import (
    WebSocketError,
    WebSocketResponse,
    WSCloseCode,
    WSMsgType,
    shutdown_websockets,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


class EchoServer:
    """An app with an echo socket at /ws that remembers how each one ended."""

    def __init__(self, **ws_kwargs: Any) -> None:
        self.app = Application()
        self.app.router.add_get("/ws", self.handler)
        self.sockets: list[WebSocketResponse] = []
        self.errors: list[BaseException] = []
        self.done = anyio.Event()
        self.ws_kwargs = ws_kwargs

    async def handler(self, request: Request) -> WebSocketResponse:
        ws = WebSocketResponse(**self.ws_kwargs)
        await ws.prepare(request)
        self.sockets.append(ws)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await ws.send_str(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
                elif msg.type is WSMsgType.ERROR:
                    self.errors.append(msg.data)
        finally:
            self.done.set()
        return ws


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = True
) -> bytes:
    """One client frame, built by hand (RFC 6455 §5.2)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    size = len(payload)
    mask_bit = 0x80 if mask else 0
    if size < 126:
        head = bytes([first, mask_bit | size])
    elif size < 65536:
        head = bytes([first, mask_bit | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([first, mask_bit | 127]) + size.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = b"\x37\xfa\x21\x3d"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


async def close_code_after(ws: TestWebSocket, data: bytes) -> tuple[list[Any], int | None]:
    """Write raw frames; return the data messages seen and the server's close code."""
    await ws.send_frame(data)
    seen: list[Any] = []
    while True:
        msg = await ws.receive()
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED):
            return seen, ws.close_code
        seen.append(msg.data if msg.type is not WSMsgType.PONG else ("pong", msg.data))


# -- handshake, as a pure function -----------------------------------------------


def headers(**extra: str) -> list[tuple[str, str]]:
    base = {
        "Host": "x",
        "Upgrade": "websocket",
        "Connection": "keep-alive, Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    }
    base.update({k.replace("_", "-"): v for k, v in extra.items()})
    return [(k, v) for k, v in base.items() if v != ""]


def test_accept_key_matches_rfc_6455_example() -> None:
    # RFC 6455 §1.3.
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_negotiate_accepts_a_good_handshake() -> None:
    result = negotiate("GET", (1, 1), headers())
    assert ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") in result.headers
    assert result.protocol is None
    assert result.deflate is None


@pytest.mark.parametrize(
    ("method", "version", "hdrs", "status"),
    [
        ("POST", (1, 1), headers(), 405),
        ("GET", (1, 0), headers(), 400),
        ("GET", (1, 1), headers(Upgrade=""), 400),
        ("GET", (1, 1), headers(Upgrade="h2c"), 400),
        ("GET", (1, 1), headers(Connection="keep-alive"), 400),
        ("GET", (1, 1), headers(Sec_WebSocket_Version="8"), 426),
        ("GET", (1, 1), headers(Sec_WebSocket_Version=""), 426),
        ("GET", (1, 1), headers(Sec_WebSocket_Key=""), 400),
        ("GET", (1, 1), headers(Sec_WebSocket_Key="not base64!"), 400),
        ("GET", (1, 1), headers(Sec_WebSocket_Key=base64.b64encode(b"x" * 15).decode()), 400),
        ("GET", (1, 1), [*headers(), ("Sec-WebSocket-Key", KEY)], 400),
    ],
)
def test_negotiate_rejects_bad_handshakes(
    method: str, version: tuple[int, int], hdrs: list[tuple[str, str]], status: int
) -> None:
    with pytest.raises(HandshakeError) as info:
        negotiate(method, version, hdrs)
    assert info.value.status == status
    if status == 426:
        assert ("Sec-WebSocket-Version", "13") in info.value.headers


def test_subprotocol_is_the_servers_first_choice_among_offers() -> None:
    hdrs = [*headers(), ("Sec-WebSocket-Protocol", "v1, v2"), ("Sec-WebSocket-Protocol", "v3")]
    assert negotiate("GET", (1, 1), hdrs, protocols=["v3", "v2"]).protocol == "v3"
    assert negotiate("GET", (1, 1), hdrs, protocols=["v9"]).protocol is None


@pytest.mark.parametrize(
    ("offer", "answer"),
    [
        ("permessage-deflate", "permessage-deflate"),
        (
            "permessage-deflate; client_max_window_bits; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover",
        ),
        (
            "permessage-deflate; server_max_window_bits=8, permessage-deflate",
            "permessage-deflate",
        ),
        (
            "permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=10",
        ),
        ("permessage-deflate; bogus=1", None),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", None),
        ("permessage-deflate; client_max_window_bits=99", None),
        ("x-webkit-deflate-frame", None),
    ],
)
def test_deflate_offers_are_judged_one_by_one(offer: str, answer: str | None) -> None:
    result = negotiate("GET", (1, 1), [*headers(), ("Sec-WebSocket-Extensions", offer)])
    got = dict(result.headers).get("Sec-WebSocket-Extensions")
    assert got == answer
    assert (
        negotiate(
            "GET", (1, 1), [*headers(), ("Sec-WebSocket-Extensions", offer)], compress=False
        ).deflate
        is None
    )


# -- handshake over HTTP ---------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"Sec-WebSocket-Version": "8"}, 426),
        ({"Sec-WebSocket-Key": "short"}, 400),
    ],
)
async def test_bad_handshake_gets_an_http_error_and_no_upgrade(
    extra: dict[str, str], status: int
) -> None:
    server = EchoServer()
    hdrs = dict(headers())
    hdrs.update(extra)
    async with TestClient(server.app) as client:
        resp = await client.get("/ws", headers=hdrs)
        # The connection is still HTTP: a second request on it is answered.
        async with client.raw_connection() as raw:
            head = "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
            await raw.send(f"GET /ws HTTP/1.1\r\n{head}\r\n".encode())
            first = await raw.read_response()
            await raw.send(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
            second = await raw.read_response()
    assert resp.status == status
    assert str(status) in await resp.text()
    if status == 426:
        assert resp.headers["Sec-WebSocket-Version"] == "13"
    assert first.status == status
    assert second.status == 404
    assert server.sockets == []


@pytest.mark.anyio
async def test_plain_get_and_post_are_refused() -> None:
    server = EchoServer()
    async with TestClient(server.app) as client:
        resp = await client.get("/ws")
        assert resp.status == 400
        with pytest.raises(WSServerHandshakeError) as info:
            await client.ws_connect("/nowhere")
        assert info.value.status == 404


# -- messages ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_echo_text_binary_json_with_and_without_compression() -> None:
    for compress in (True, False):
        server = EchoServer()
        async with TestClient(server.app) as client:
            async with client.ws_connect("/ws", compress=compress) as ws:
                assert ("Sec-WebSocket-Extensions" in ws.response_headers) is compress
                await ws.send_str("héllo")
                assert await ws.receive_str() == "héllo"
                await ws.send_bytes(b"\x00\xff" * 40000)
                assert await ws.receive_bytes() == b"\x00\xff" * 40000
                await ws.send_json({"a": [1, 2]})
                assert await ws.receive_json() == {"a": [1, 2]}
            await server.done.wait()
        assert server.sockets[0].compress is compress
        assert server.sockets[0].close_code == 1000


@pytest.mark.anyio
async def test_subprotocol_negotiated_end_to_end() -> None:
    server = EchoServer(protocols=["v2.chat", "v1.chat"])
    async with TestClient(server.app) as client:
        async with client.ws_connect("/ws", protocols=["v1.chat", "v2.chat"]) as ws:
            assert ws.protocol == "v2.chat"
            assert server.sockets[0].ws_protocol == "v2.chat"
        async with client.ws_connect("/ws", protocols=["other"]) as ws:
            assert ws.protocol is None
            assert "Sec-WebSocket-Protocol" not in ws.response_headers


@pytest.mark.anyio
async def test_leftover_bytes_after_the_handshake_are_not_lost() -> None:
    server = EchoServer()
    async with TestClient(server.app) as client, client.raw_connection() as raw:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers())
        # The first frame rides in the same write as the request head.
        await raw.send(f"GET /ws HTTP/1.1\r\n{head}\r\n".encode() + frame(TEXT, b"early"))
        resp = await raw.read_response_head()
        assert resp.status == 101
        assert resp.headers["Sec-WebSocket-Accept"] == accept_key(KEY)
        while len(raw._buffer) < 7:
            assert await raw._fill()
        assert bytes(raw._buffer[:7]) == b"\x81\x05early"


@pytest.mark.anyio
async def test_server_close_with_code_and_reason() -> None:
    async def handler(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("bye soon")
        assert await ws.close(code=4000, message=b"done here")
        assert ws.closed
        with pytest.raises(ConnectionResetError):
            await ws.send_str("too late")
        assert not await ws.close()
        return ws

    app = Application()
    app.router.add_get("/ws", handler)
    async with TestClient(app) as client:
        ws = await client.ws_connect("/ws")
        assert await ws.receive_str() == "bye soon"
        msg = await ws.receive()
        assert (msg.type, msg.data, msg.extra) == (WSMsgType.CLOSE, 4000, "done here")
        assert ws.closed and ws.close_code == 4000


@pytest.mark.anyio
async def test_returning_an_unprepared_socket_prepares_and_closes_it() -> None:
    async def handler(request: Request) -> WebSocketResponse:
        return WebSocketResponse()

    app = Application()
    app.router.add_get("/ws", handler)
    async with TestClient(app) as client:
        ws = await client.ws_connect("/ws")
        msg = await ws.receive()
        assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1000)


@pytest.mark.anyio
async def test_concurrent_receive_and_bad_argument_types_raise() -> None:
    outcome: list[str] = []

    async def handler(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        with pytest.raises(TypeError):
            await ws.send_str(b"bytes")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await ws.send_bytes("text")  # type: ignore[arg-type]
        async with anyio.create_task_group() as tg:
            tg.start_soon(ws.receive)
            await anyio.wait_all_tasks_blocked()
            try:
                await ws.receive()
            except RuntimeError as exc:
                outcome.append(str(exc))
            await ws.send_str("go")
        return ws

    app = Application()
    app.router.add_get("/ws", handler)
    async with TestClient(app) as client, client.ws_connect("/ws") as ws:
        assert await ws.receive_str() == "go"
        await ws.send_str("unblock")
    assert outcome == ["concurrent call to receive() is not allowed"]


@pytest.mark.anyio
async def test_receive_timeout_raises_and_the_socket_stays_usable() -> None:
    async def handler(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse(receive_timeout=0.02)
        await ws.prepare(request)
        with pytest.raises(TimeoutError):
            await ws.receive()
        await ws.send_str("timed out")
        assert await ws.receive_str(timeout=5) == "still here"
        return ws

    app = Application()
    app.router.add_get("/ws", handler)
    async with TestClient(app) as client, client.ws_connect("/ws") as ws:
        assert await ws.receive_str() == "timed out"
        await ws.send_str("still here")
        msg = await ws.receive()
        assert msg.type is WSMsgType.CLOSE


@pytest.mark.anyio
async def test_client_that_vanishes_frees_the_socket() -> None:
    server = EchoServer()
    async with TestClient(server.app) as client:
        ws = await client.ws_connect("/ws")
        await ws.send_str("x")
        assert await ws.receive_str() == "x"
        await ws.raw.send_eof()  # no close frame: the TCP connection just ends
        with anyio.fail_after(5):
            await server.done.wait()
        sock = server.sockets[0]
        assert sock.closed
        assert sock.close_code == WSCloseCode.ABNORMAL_CLOSURE
        # Nothing left to close at shutdown.
        await shutdown_websockets(server.app)


@pytest.mark.anyio
async def test_ping_is_answered_and_pong_payload_echoed() -> None:
    server = EchoServer()
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=False) as ws:
        await ws.ping(b"are you there")
        msg = await ws.receive()
        assert (msg.type, msg.data) == (WSMsgType.PONG, b"are you there")


@pytest.mark.anyio
async def test_autoping_off_returns_pings_and_pongs() -> None:
    server = EchoServer(autoping=False)
    got: list[Any] = []

    async def handler(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse(autoping=False)
        await ws.prepare(request)
        got.append(await ws.receive())
        await ws.ping(b"1")
        got.append(await ws.receive())
        return ws

    server.app.router.add_get("/manual", handler)
    async with TestClient(server.app) as client, client.ws_connect("/manual") as ws:
        await ws.ping(b"p")
        assert (await ws.receive()).data == b"p"  # still answered
        assert (await ws.receive()).type is WSMsgType.PING
    assert [(m.type, m.data) for m in got] == [(WSMsgType.PING, b"p"), (WSMsgType.PONG, b"1")]


@pytest.mark.anyio
async def test_heartbeat_pings_a_silent_peer_and_drops_a_dead_one() -> None:
    server = EchoServer(heartbeat=0.05)
    async with TestClient(server.app) as client:
        ws = await client.ws_connect("/ws", compress=False)
        # A live peer: it reads, so it answers the heartbeat pings.
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.PING
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.PING
        assert not server.sockets[0].closed
        # A dead peer: stops reading; no pong within heartbeat / 2 -> 1006.
        with anyio.fail_after(5):
            await server.done.wait()
        sock = server.sockets[0]
        assert sock.close_code == WSCloseCode.ABNORMAL_CLOSURE
        assert isinstance(sock.exception(), TimeoutError)
        assert server.errors and isinstance(server.errors[0], TimeoutError)
        # No close frame was sent: the client just sees the end of the stream
        # (after the ping it never answered).
        while (msg := await ws.receive()).type is WSMsgType.PING:
            pass
        assert msg.type is WSMsgType.CLOSED
        assert ws.close_code == WSCloseCode.ABNORMAL_CLOSURE


# -- Autobahn-style protocol cases (uncompressed) --------------------------------------

OK_CASES: list[tuple[str, bytes, list[Any]]] = [
    (
        "fragmented text",
        frame(TEXT, b"fra", fin=False) + frame(CONT, b"gme", fin=False) + frame(CONT, b"nted"),
        ["fragmented"],
    ),
    (
        "ping between fragments",
        frame(BINARY, b"ab", fin=False) + frame(PING, b"mid") + frame(CONT, b"cd"),
        [("pong", b"mid"), b"abcd"],
    ),
    (
        "utf-8 code point split across fragments",
        frame(TEXT, "κό".encode()[:3], fin=False) + frame(CONT, "κό".encode()[3:]),
        ["κό"],
    ),
    ("empty text", frame(TEXT, b""), [""]),
    ("unsolicited pong is ignored", frame(PONG, b"x") + frame(TEXT, b"after"), ["after"]),
    ("16-bit length", frame(BINARY, b"z" * 300), [b"z" * 300]),
    ("64-bit length", frame(BINARY, b"z" * 70000), [b"z" * 70000]),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "data", "expected"), OK_CASES, ids=[c[0] for c in OK_CASES])
async def test_valid_frames_are_understood(name: str, data: bytes, expected: list[Any]) -> None:
    server = EchoServer()
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=False) as ws:
        seen, code = await close_code_after(ws, data + frame(CLOSE, close_payload(1000)))
    assert seen == expected
    assert code == 1000


BAD_CASES: list[tuple[str, bytes, int]] = [
    ("reserved opcode 3", frame(0x3, b"x"), 1002),
    ("reserved control opcode 0xB", frame(0xB, b""), 1002),
    ("rsv1 without extension", frame(TEXT, b"x", rsv=4), 1002),
    ("rsv2", frame(TEXT, b"x", rsv=2), 1002),
    ("rsv3", frame(TEXT, b"x", rsv=1), 1002),
    ("unmasked client frame", frame(TEXT, b"x", mask=False), 1002),
    ("continuation without start", frame(CONT, b"x"), 1002),
    ("new message inside fragmented one", frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), 1002),
    ("fragmented ping", frame(PING, b"a", fin=False) + frame(CONT, b"b"), 1002),
    ("ping payload over 125 bytes", frame(PING, b"p" * 126), 1002),
    ("16-bit length for a short payload", b"\x81\xfe\x00\x05" + b"k" * 9, 1002),
    (
        "64-bit length for a 16-bit payload",
        b"\x82\xff" + (300).to_bytes(8, "big") + b"k" * 304,
        1002,
    ),
    ("invalid utf-8", frame(TEXT, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xed\xa0\x80edited"), 1007),
    (
        "invalid utf-8 in a later fragment",
        frame(TEXT, b"ok", fin=False) + frame(CONT, b"\xff"),
        1007,
    ),
    ("truncated utf-8 at message end", frame(TEXT, b"\xce"), 1007),
    ("close with one-byte payload", frame(CLOSE, b"\x03"), 1002),
    ("close code 999", frame(CLOSE, close_payload(999)), 1002),
    ("close code 1005 on the wire", frame(CLOSE, close_payload(1005)), 1002),
    ("close code 1004 (reserved)", frame(CLOSE, close_payload(1004)), 1002),
    ("close code 5000", frame(CLOSE, close_payload(5000)), 1002),
    ("close reason not utf-8", frame(CLOSE, close_payload(1000, b"\xff")), 1007),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "data", "code"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
async def test_protocol_violations_close_with_the_right_code(
    name: str, data: bytes, code: int
) -> None:
    server = EchoServer()
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=False) as ws:
        seen, got = await close_code_after(ws, data)
        with anyio.fail_after(5):
            await server.done.wait()
    assert got == code
    assert seen == []
    sock = server.sockets[0]
    assert sock.close_code == code
    assert isinstance(sock.exception(), WebSocketError)
    assert sock.exception().code == code  # type: ignore[union-attr]


@pytest.mark.anyio
@pytest.mark.parametrize("code", [1000, 1001, 1003, 1011, 3000, 4999])
async def test_peer_close_code_is_echoed(code: int) -> None:
    server = EchoServer()
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=False) as ws:
        _, got = await close_code_after(ws, frame(CLOSE, close_payload(code, b"why")))
        with anyio.fail_after(5):
            await server.done.wait()
    assert got == code
    assert server.sockets[0].close_code == code


@pytest.mark.anyio
async def test_empty_close_frame_is_answered_with_an_empty_close() -> None:
    server = EchoServer()
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=False) as ws:
        _, got = await close_code_after(ws, frame(CLOSE, b""))
    assert got == 1005  # "no status received" (RFC 6455 §7.1.5)


# -- size limits ---------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "data",
    [
        frame(BINARY, b"x" * 1025),
        frame(TEXT, b"x" * 600, fin=False) + frame(CONT, b"x" * 600),
        frame(TEXT, "é".encode() * 513),  # 513 code points, 1026 bytes
    ],
    ids=["one frame", "fragments", "multi-byte text"],
)
async def test_oversize_message_closes_with_1009(data: bytes) -> None:
    server = EchoServer(max_msg_size=1024)
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=False) as ws:
        await ws.send_bytes(b"y" * 1024)  # exactly the limit is fine
        assert await ws.receive_bytes() == b"y" * 1024
        _, got = await close_code_after(ws, data)
    assert got == WSCloseCode.MESSAGE_TOO_BIG
    assert server.sockets[0].close_code == 1009


@pytest.mark.anyio
async def test_deflate_bomb_closes_with_1009_without_inflating_it_all() -> None:
    server = EchoServer(max_msg_size=64 * 1024)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(b"\x00" * (16 * 1024 * 1024)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    bomb = bomb[:-4]  # RFC 7692 §7.2.1: drop the 00 00 ff ff tail
    assert len(bomb) < 20000
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=True) as ws:
        assert ws.response_headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
        await ws.send_bytes(b"small" * 100)  # compressed by the client, inflated fine
        assert await ws.receive_bytes() == b"small" * 100
        _, got = await close_code_after(ws, frame(BINARY, bomb, rsv=4))
    assert got == WSCloseCode.MESSAGE_TOO_BIG


@pytest.mark.anyio
async def test_compressed_message_fragmented_around_a_ping() -> None:
    server = EchoServer()
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    body = compressor.compress(b"hello hello hello") + compressor.flush(zlib.Z_SYNC_FLUSH)
    body = body[:-4]
    data = (
        frame(TEXT, body[:5], fin=False, rsv=4)
        + frame(PING, b"m")
        + frame(CONT, body[5:])
        + frame(CLOSE, close_payload(1000))
    )
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=True) as ws:
        seen, got = await close_code_after(ws, data)
    assert seen == [("pong", b"m"), "hello hello hello"]
    assert got == 1000


# -- the fast path: whole frames read without wsproto ----------------------------------


def deflate(compressor: Any, payload: bytes) -> bytes:
    """One message compressed with a running context (RFC 7692 §7.2.1)."""
    return (compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def plain_stream() -> tuple[bytes, list[Any]]:
    """Simple frames mixed with frames only wsproto reads, and what they carry."""
    data = (
        frame(TEXT, b"plain")
        + frame(BINARY, bytes(range(256)) * 2)  # 16-bit length
        + frame(PING, b"p1")
        + frame(TEXT, "κόσμε".encode())
        + frame(TEXT, b"frag", fin=False)
        + frame(CONT, b"mented")
        + frame(TEXT, b"")
        + frame(BINARY, b"after fragments")
        + frame(PONG, b"unsolicited")
        + frame(TEXT, b"last")
    )
    expected = [
        "plain",
        bytes(range(256)) * 2,
        ("pong", b"p1"),
        "κόσμε",
        "fragmented",
        "",
        b"after fragments",
        "last",
    ]
    return data, expected


def compressed_stream() -> tuple[bytes, list[Any]]:
    """Deflated one-frame messages around a deflated fragmented one.

    One client context compresses them all, so the server must carry one
    inflate context across both of its paths.
    """
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    first = deflate(compressor, b"hello hello")
    fragmented = deflate(compressor, b"fragmented and compressed")
    data = (
        frame(TEXT, first, rsv=4)
        # RFC 7692 §6: a message may go uncompressed on a deflate connection.
        + frame(BINARY, b"raw bytes")
        + frame(PING, b"p")
        + frame(TEXT, fragmented[:4], fin=False, rsv=4)
        + frame(CONT, fragmented[4:])
        + frame(TEXT, deflate(compressor, b"hello hello again"), rsv=4)
        + frame(BINARY, deflate(compressor, b"\x00" * 5000), rsv=4)
    )
    expected = [
        "hello hello",
        b"raw bytes",
        ("pong", b"p"),
        "fragmented and compressed",
        "hello hello again",
        b"\x00" * 5000,
    ]
    return data, expected


def chunks(data: bytes, how: str) -> list[bytes]:
    if how == "whole":
        return [data]
    if how == "every byte":
        return [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(how)
    pieces, pos = [], 0
    while pos < len(data):
        step = rng.randint(1, 40)
        pieces.append(data[pos : pos + step])
        pos += step
    return pieces


SPLITS = ["whole", "every byte", "random 1", "random 2", "random 3"]


@pytest.mark.anyio
@pytest.mark.parametrize("how", SPLITS)
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "deflate"])
async def test_frames_split_anywhere_give_the_same_messages(how: str, compress: bool) -> None:
    data, expected = compressed_stream() if compress else plain_stream()
    server = EchoServer()
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=compress) as ws:
        for piece in chunks(data, how):
            await ws.send_frame(piece)
        seen, code = await close_code_after(ws, frame(CLOSE, close_payload(1000)))
    assert seen == expected
    assert code == 1000


@pytest.mark.anyio
async def test_fast_path_waits_while_wsproto_holds_an_unfinished_message() -> None:
    server = EchoServer()
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=False) as ws:
        # Each frame in its own read: the simple frames must not overtake
        # (or slip into) the fragmented message wsproto is assembling.
        for piece in (
            frame(TEXT, b"one, ", fin=False),
            frame(CONT, b"two, ", fin=False),
            frame(PING, b"between"),
            frame(CONT, b"three"),
            frame(TEXT, b"simple again"),
        ):
            await ws.send_frame(piece)
        assert (await ws.receive()).data == b"between"  # the pong
        assert await ws.receive_str() == "one, two, three"
        assert await ws.receive_str() == "simple again"
        # A ping cut inside its header: wsproto holds two bytes, and the rest
        # (masking key 81 82 00 00, then payload) reads like a text frame.
        key, payload = b"\x81\x82\x00\x00", b"ping data"
        await ws.send_frame(bytes([0x80 | PING, 0x80 | len(payload)]))
        await ws.send_frame(key + bytes(b ^ key[i % 4] for i, b in enumerate(payload)))
        assert (await ws.receive()).data == payload
        await ws.send_frame(frame(TEXT, b"a", fin=False))
        _, code = await close_code_after(ws, frame(TEXT, b"new message inside"))
    assert code == WSCloseCode.PROTOCOL_ERROR  # RFC 6455 §5.4


@pytest.mark.anyio
@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 65535, 65536])
async def test_payloads_of_every_length_class_are_unmasked(size: int) -> None:
    payload = bytes((i * 7 + 3) % 256 for i in range(size))
    text = bytes((i * 7 + 3) % 95 + 32 for i in range(size))
    server = EchoServer()
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=False) as ws:
        await ws.send_frame(frame(BINARY, payload))
        assert await ws.receive_bytes() == payload
        await ws.send_frame(frame(TEXT, text))
        assert await ws.receive_str() == text.decode()


def test_unmask_matches_the_rfc_definition() -> None:
    rng = random.Random(6455)
    for size in [*range(10), 125, 1000, 4099]:
        data = rng.randbytes(size)
        key = rng.randbytes(4)
        # RFC 6455 §5.3: octet i XOR masking-key octet i MOD 4.
        assert unmask(data, key) == bytes(b ^ key[i % 4] for i, b in enumerate(data))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", (INCOMPLETE, 6, b"")),
        (b"\x81", (INCOMPLETE, 6, b"")),
        (frame(TEXT, b"abc")[:5], (INCOMPLETE, 9, b"")),
        (frame(TEXT, b"x" * 300)[:3], (INCOMPLETE, 8, b"")),
        (frame(TEXT, b"x" * 300)[:9], (INCOMPLETE, 308, b"")),
        (frame(BINARY, b"x" * 70000)[:9], (INCOMPLETE, 14, b"")),
        (frame(TEXT, b"abc"), (0x81, 9, b"abc")),
        (frame(BINARY, b"abc") + b"more", (0x82, 9, b"abc")),
        (frame(TEXT, b"abc", mask=False), (SLOW, 0, b"")),
        (frame(TEXT, b"abc", fin=False), (SLOW, 0, b"")),
        (frame(CONT, b"abc"), (SLOW, 0, b"")),
        (frame(PING, b""), (SLOW, 0, b"")),
        (frame(TEXT, b"abc", rsv=4), (SLOW, 0, b"")),  # no deflate negotiated
        (frame(TEXT, b"abc", rsv=2), (SLOW, 0, b"")),
        (b"\x81\xfe\x00\x05" + b"k" * 9, (SLOW, 0, b"")),  # 16-bit length for 5
        (b"\x82\xff" + (300).to_bytes(8, "big") + b"k" * 304, (SLOW, 0, b"")),
        (b"\x82\xff" + (1 << 63 | 70000).to_bytes(8, "big"), (SLOW, 0, b"")),
        (frame(BINARY, b"x" * 1025)[:8], (TOO_BIG, 1025, b"")),
    ],
)
def test_split_frame_takes_only_simple_frames(data: bytes, expected: tuple[Any, ...]) -> None:
    assert split_frame(data, 0, 1024, False) == expected
    # The same frame further into a buffer reads the same.
    first, end, payload = split_frame(b"junk" + data, 4, 1024, False)
    assert (first, end - 4 if first > TOO_BIG else end, payload) == expected


def test_split_frame_leaves_big_compressed_frames_to_wsproto() -> None:
    big = frame(TEXT, b"x" * 2000, rsv=4)
    assert split_frame(big, 0, 1024, True) == (SLOW, 0, b"")
    assert split_frame(frame(TEXT, b"x" * 20, rsv=4), 0, 1024, True)[0] == 0xC1


@pytest.mark.anyio
async def test_oversize_frame_is_refused_from_its_header_alone() -> None:
    server = EchoServer(max_msg_size=1024)
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=False) as ws:
        # Header and masking key only: the payload is never sent, nor waited for.
        _, code = await close_code_after(ws, frame(BINARY, b"x" * 5000)[:8])
    assert code == WSCloseCode.MESSAGE_TOO_BIG
    assert server.sockets[0].close_code == 1009


@pytest.mark.anyio
@pytest.mark.parametrize("first", [b"1234", "κό".encode()])
async def test_tiny_limit_applies_to_the_smallest_frames(first: bytes) -> None:
    server = EchoServer(max_msg_size=4)
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=False) as ws:
        await ws.send_frame(frame(TEXT, first))
        assert await ws.receive_str() == first.decode()
        _, code = await close_code_after(ws, frame(TEXT, b"12345"))
    assert code == WSCloseCode.MESSAGE_TOO_BIG


@pytest.mark.anyio
async def test_compressed_frames_within_and_past_the_limit() -> None:
    server = EchoServer(max_msg_size=1024)
    noise = random.Random(7).randbytes(1024)
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    squeezed = deflate(compressor, noise)
    assert len(squeezed) > 1024  # noise does not compress: wsproto's path
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=True) as ws:
        await ws.send_frame(frame(BINARY, squeezed, rsv=4))
        assert await ws.receive_bytes() == noise
        await ws.send_frame(frame(TEXT, deflate(compressor, b"fits"), rsv=4))
        assert await ws.receive_str() == "fits"
        _, code = await close_code_after(
            ws, frame(BINARY, deflate(compressor, b"y" * 1025), rsv=4)
        )
    assert code == WSCloseCode.MESSAGE_TOO_BIG


@pytest.mark.anyio
@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe\xfd", deflate(zlib.compressobj(-1, zlib.DEFLATED, -15), b"\xce\xba\xff")],
    ids=["not deflate data", "inflates to invalid utf-8"],
)
async def test_bad_compressed_text_closes_with_1007(payload: bytes) -> None:
    server = EchoServer()
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=True) as ws:
        _, code = await close_code_after(ws, frame(TEXT, payload, rsv=4))
    assert code == WSCloseCode.INVALID_TEXT


@pytest.mark.anyio
async def test_close_behind_a_message_in_the_same_read_comes_after_the_echo() -> None:
    server = EchoServer()
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=False) as ws:
        data = frame(TEXT, b"first") + frame(TEXT, b"second") + frame(CLOSE, close_payload(1000))
        seen, code = await close_code_after(ws, data)
    assert seen == ["first", "second"]
    assert code == 1000


# -- shutdown ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_shutdown_closes_open_sockets_with_1001() -> None:
    # No hook needed: the application closes its open sockets on shutdown.
    server = EchoServer()
    async with TestClient(server.app) as client:
        ws1 = await client.ws_connect("/ws")
        ws2 = await client.ws_connect("/ws")
        await ws1.send_str("a")
        assert await ws1.receive_str() == "a"
        codes: list[int | None] = []

        async def wait_close(ws: TestWebSocket) -> None:
            msg = await ws.receive()
            assert msg.type is WSMsgType.CLOSE
            codes.append(msg.data)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_close, ws1)
            tg.start_soon(wait_close, ws2)
            await client.app.shutdown()
    assert codes == [1001, 1001]
    assert [s.close_code for s in server.sockets] == [1001, 1001]


# -- the chat example --------------------------------------------------------------------


def load_chat() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "examples" / "chat.py"
    spec = importlib.util.spec_from_file_location("example_chat", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.anyio
async def test_chat_example_with_three_clients() -> None:
    chat = load_chat()
    async with TestClient(chat.make_app()) as client:
        alice = await client.ws_connect("/chat?name=alice")
        assert await alice.receive_str() == "welcome, alice; here: alice"
        bob = await client.ws_connect("/chat?name=bob")
        assert await bob.receive_str() == "welcome, bob; here: alice, bob"
        assert await alice.receive_str() == "bob joined"
        carol = await client.ws_connect("/chat?name=carol")
        assert await carol.receive_str() == "welcome, carol; here: alice, bob, carol"
        assert await alice.receive_str() == "carol joined"
        assert await bob.receive_str() == "carol joined"

        await alice.send_str("hi all")
        assert await bob.receive_str() == "alice: hi all"
        assert await carol.receive_str() == "alice: hi all"
        await carol.send_str("hi alice")
        assert await alice.receive_str() == "carol: hi alice"
        assert await bob.receive_str() == "carol: hi alice"

        await bob.close()
        assert await alice.receive_str() == "bob left"
        assert await carol.receive_str() == "bob left"

        impostor = await client.ws_connect("/chat?name=alice")
        msg = await impostor.receive()
        assert (msg.type, msg.data, msg.extra) == (WSMsgType.CLOSE, 4000, "name taken")

        # Shutdown says goodbye with 1001 to whoever is still there.
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.app.shutdown)
            for ws in (alice, carol):
                msg = await ws.receive()
                assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1001)


@pytest.mark.anyio
async def test_request_timeout_does_not_cut_a_websocket() -> None:
    server = EchoServer()
    async with TestClient(server.app, request_timeout=0.05) as client:
        async with client.ws_connect("/ws") as ws:
            # Outlive the request timeout: an HTTP handler would be cut here.
            await anyio.sleep(0.15)
            await ws.send_str("still open")
            assert await ws.receive_str() == "still open"
        await server.done.wait()
    assert server.sockets[0].close_code == 1000


class CongestedStream:
    """A driver stream that writes without a coroutine and is congested on demand."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.congested = False
        self.drained = anyio.Event()
        self.waits = 0

    def send_nowait(self, data: bytes) -> bool:
        self.frames.append(data)
        return not self.congested

    async def wait_writable(self) -> None:
        self.waits += 1
        await self.drained.wait()

    async def send(self, data: bytes) -> None:
        raise AssertionError("send_nowait is used when the stream has it")

    async def receive(self) -> bytes:
        await anyio.sleep_forever()
        return b""

    async def aclose(self) -> None:
        pass


@pytest.mark.anyio
async def test_sends_without_a_coroutine_wait_their_turn_behind_congestion() -> None:
    stream = CongestedStream()
    ws = WebSocketResponse(compress=False)
    ws._attach(stream, b"", [])  # type: ignore[arg-type]
    await ws.send_str("a")
    await ws.send_bytes(b"\x01\x02")
    assert stream.frames == [b"\x81\x01a", b"\x82\x02\x01\x02"]
    assert stream.waits == 0
    long_text = "é" * 70  # 140 bytes in UTF-8: a 16-bit length
    await ws.send_str(long_text)
    assert stream.frames[-1] == b"\x81\x7e\x00\x8c" + long_text.encode()

    # Congested: the first sender waits for the drain holding the turn, so a
    # second sender queues and writes only after it, in order.
    stream.congested = True
    done: list[str] = []

    async def send(text: str) -> None:
        await ws.send_str(text)
        done.append(text)

    async with anyio.create_task_group() as tg:
        tg.start_soon(send, "first")
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(send, "second")
        await anyio.wait_all_tasks_blocked()
        assert stream.frames[-1] == b"\x81\x05first"
        assert done == [] and stream.waits == 1
        stream.congested = False
        stream.drained.set()
    assert done == ["first", "second"]
    assert stream.frames[-1] == b"\x81\x06second"
    await ws._abort()
    with pytest.raises(ConnectionResetError):
        await ws.send_str("late")


@pytest.mark.anyio
async def test_every_small_text_frame_size_is_unmasked_with_any_key() -> None:
    # Whole small text frames are unmasked inline with one multiplication of
    # the key: every size under 126 bytes, keys with high and zero bytes.
    rng = random.Random(7692)
    server = EchoServer()
    async with TestClient(server.app) as client, client.ws_connect("/ws", compress=False) as ws:
        for size in range(126):
            text = "".join(rng.choice("aé€z ") for _ in range(size)).encode()[:size]
            text = text.decode("utf-8", "ignore").encode()
            for key in (rng.randbytes(4), b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"):
                masked = bytes(b ^ key[i % 4] for i, b in enumerate(text))
                await ws.send_frame(bytes([0x81, 0x80 | len(text)]) + key + masked)
                assert await ws.receive_str() == text.decode()
        # A bad UTF-8 byte still fails the connection with 1007 (RFC 6455 §8.1).
        messages, code = await close_code_after(ws, frame(TEXT, b"ok\xff"))
        assert messages == []
        assert code == WSCloseCode.INVALID_TEXT


@pytest.mark.anyio
async def test_async_for_applies_the_receive_timeout() -> None:
    outcome: list[str] = []

    async def handler(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse(receive_timeout=0.02)
        await ws.prepare(request)
        try:
            async for msg in ws:
                outcome.append(msg.data)
        except TimeoutError:
            outcome.append("timeout")
        return ws

    app = Application()
    app.router.add_get("/ws", handler)
    async with TestClient(app) as client, client.ws_connect("/ws") as ws:
        await ws.send_str("first")
        msg = await ws.receive()
        assert msg.type is WSMsgType.CLOSE
    assert outcome == ["first", "timeout"]
