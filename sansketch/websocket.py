"""WebSocket server responses, in aiohttp's style, over any driver.

Theory of operation
-------------------
``WebSocketResponse.prepare(request)`` judges the opening handshake itself
(``_ws_handshake``: RFC 6455 §4.2.1), answers ``101 Switching Protocols``
through the request's channel and takes the connection over with
``channel.upgrade()``, which hands back the raw byte stream and the bytes the
client already sent after its request head. From then on wsproto's
``Connection`` turns bytes into frames and back; the driver only moves bytes.

The common frame, a whole text or binary message in one masked frame, is
read here (``_ws_frames.split_frame``) without wsproto, but only while
wsproto holds no partial input and no unfinished message, so that its state
is what it would be had it read the frame. Everything else goes to wsproto.
Data messages are framed here too; control frames are wsproto's.

Reading is pull-style, like the HTTP serve loop: bytes are read only inside
``receive()`` (and ``close()`` while it waits for the peer's close frame),
in the task that calls it. Automatic replies (pong to a ping, the echo of a
peer's close) and the heartbeat happen there too, so an application that
wants them reads the socket, typically with ``async for msg in ws``. Every
deadline (heartbeat ping, missing pong, ``receive_timeout``) is data checked
around one bounded read, never a background timer.

Writing may happen from any task (a chat room broadcasts from one client's
handler to every other socket). Frames are encoded and written under one lock
so that compressed frames reach the peer in the order their deflate context
produced them.

Invariants: one reader at a time (a second concurrent ``receive`` raises);
after ``_closed`` is set the transport is closed and nothing is written; a
closed socket leaves the registry used by ``shutdown_websockets``.
"""

from __future__ import annotations

import enum
import json
import weakref
import zlib
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

import anyio
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    TextMessage,
)

from ._channel import UpgradedStream
from ._ws_frames import INCOMPLETE, TOO_BIG, data_frame, split_frame
from ._ws_frames import KEY_REPEAT as _KEY_REPEAT
from ._ws_frames import LOW_BYTES as _LOW_BYTES
from ._ws_frames import TEXT_HEADS as _TEXT_HEADS
from ._ws_handshake import CappedDeflate, HandshakeError, negotiate
from ._ws_handshake import make_extensions as _make_extensions
from .exceptions import HTTPBadRequest, HTTPMethodNotAllowed, HTTPUpgradeRequired
from .response import LooseHeaders, StreamResponse

if TYPE_CHECKING:
    from .app import Application
    from .request import Request

__all__ = [
    "WSCloseCode",
    "WSMessage",
    "WSMsgType",
    "WebSocketError",
    "WebSocketReady",
    "WebSocketResponse",
    "shutdown_websockets",
]


class WSMsgType(enum.IntEnum):
    """The type of a ``WSMessage`` (aiohttp's values)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    PING = 0x9
    PONG = 0xA
    CLOSE = 0x8
    CLOSING = 0x100
    CLOSED = 0x101
    ERROR = 0x102


class WSCloseCode(enum.IntEnum):
    """Close codes (RFC 6455 §7.4.1)."""

    OK = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    ABNORMAL_CLOSURE = 1006
    INVALID_TEXT = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014


class WSMessage(NamedTuple):
    """One message (or state change) read from a WebSocket.

    ``data`` is the text (str) or bytes of a data message, the close code of
    a CLOSE, the exception of an ERROR; ``extra`` is the close reason.
    """

    type: WSMsgType
    data: Any
    extra: Any

    def json(self, *, loads: Callable[[Any], Any] = json.loads) -> Any:
        """The data parsed as JSON."""
        return loads(self.data)


WS_CLOSED_MESSAGE = WSMessage(WSMsgType.CLOSED, None, None)
WS_CLOSING_MESSAGE = WSMessage(WSMsgType.CLOSING, None, None)

# The hot path builds messages with tuple.__new__: NamedTuple's own __new__
# is a Python function, a frame more per message.
_new_message = tuple.__new__
_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_ERROR = WSMsgType.ERROR
_END_TYPES = frozenset((WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED))
# Who reads (WebSocketResponse._receive): close(), receive(), async for.
_INTERNAL, _CALL, _ITER = 0, 1, 2


class _Default(enum.Enum):
    """``_receive``'s timeout when ``async for`` calls it: ``receive_timeout``."""

    RECEIVE_TIMEOUT = enum.auto()


# A global: a member looked up through an Enum class costs ~0.1 µs on 3.11.
_RECEIVE_TIMEOUT = _Default.RECEIVE_TIMEOUT


class WebSocketError(Exception):
    """The peer broke the WebSocket protocol; ``code`` is the close code sent."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class WebSocketReady(NamedTuple):
    """Result of ``can_prepare``: whether the handshake is acceptable."""

    ok: bool
    protocol: str | None


_STREAM_ERRORS = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    ConnectionError,
    OSError,
)
# After this many reads of an already closed socket, assume a busy loop.
_MAX_CLOSED_READS = 5

_open_sockets: weakref.WeakSet[WebSocketResponse] = weakref.WeakSet()


async def shutdown_websockets(
    app: Application | None = None,
    *,
    code: int = WSCloseCode.GOING_AWAY,
    message: bytes | str = b"Server shutdown",
) -> None:
    """Close every open WebSocket (of ``app``, or of all apps) with ``code``.

    Meant for graceful shutdown (RFC 6455 §7.4.1: 1001 "going away"); each
    close waits for the peer's answer at most the socket's ``timeout``.
    """
    targets = [ws for ws in list(_open_sockets) if app is None or ws._app is app]
    if not targets:
        return
    async with anyio.create_task_group() as tg:
        for ws in targets:
            tg.start_soon(_close_quietly, ws, code, message)


async def _close_quietly(ws: WebSocketResponse, code: int, message: bytes | str) -> None:
    try:
        await ws.close(code=code, message=message)
    except Exception:  # a peer that vanished mid-close must not stop the others
        pass


class WebSocketResponse(StreamResponse):
    """The server end of a WebSocket, answered from a handler.

    Args:
        timeout: seconds ``close()`` waits for the peer's close frame.
        receive_timeout: default seconds ``receive()`` waits (``None``: forever).
        autoping: answer pings and swallow pongs (else they are returned).
        heartbeat: send a ping every ``heartbeat`` seconds of silence; no
            answer within ``heartbeat / 2`` closes with 1006.
        protocols: subprotocols this endpoint speaks, preferred first.
        compress: accept permessage-deflate when the client offers it.
        max_msg_size: the largest message accepted, in bytes (also after
            inflating); larger ones close with 1009. ``0`` means no limit.
        headers: extra headers for the 101 response.
    """

    takes_over_connection = True
    """The serve loop calls ``write_eof`` (the closing handshake) after the
    handler returns, even though the connection no longer speaks HTTP."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        receive_timeout: float | None = None,
        autoping: bool = True,
        heartbeat: float | None = None,
        protocols: tuple[str, ...] | list[str] = (),
        compress: bool = True,
        max_msg_size: int = 4 * 1024 * 1024,
        headers: LooseHeaders = None,
    ) -> None:
        super().__init__(status=101, headers=headers)
        if heartbeat is not None and heartbeat <= 0:
            raise ValueError("heartbeat must be positive")
        if max_msg_size < 0:
            raise ValueError("max_msg_size must not be negative")
        self._timeout = timeout
        self._receive_timeout = receive_timeout
        self._autoping = autoping
        self._heartbeat = heartbeat
        self._protocols = tuple(protocols)
        self._compress = compress
        self._max_msg_size = max_msg_size
        self._ws_protocol: str | None = None
        self._compressed = False
        self._app: Application | None = None

        self._conn: Connection | None = None
        self._deflate: CappedDeflate | None = None
        self._stream: UpgradedStream | None = None
        self._send_nowait: Callable[[bytes], bool] | None = None
        # Bytes for the fast path, read from _rpos on (always a frame
        # boundary). An incomplete frame waits in _rparts until _rneed
        # bytes are there, so a big frame is joined once, not per read.
        self._rbuf = b""
        self._rpos = 0
        self._rparts: list[bytes] = []
        self._rsize = 0
        self._rneed = 0
        # True from handing bytes to wsproto until it holds none again.
        self._slow = False
        self._clock: Callable[[], float] = anyio.current_time
        # A hand-off lock: uncontended sends cost one flag test (see _send_data).
        self._sending = False
        self._send_queue: deque[anyio.Event] = deque()
        self._unparsed = False
        self._reading = False
        self._closing = False
        self._closed = False
        self._closed_reads = 0
        self._close_code: int | None = None
        self._close_received = anyio.Event()
        self._exception: BaseException | None = None
        self._pending: deque[WSMessage] = deque()
        self._fragments: list[Any] = []
        self._fragment_size = 0
        self._next_ping: float | None = None
        self._pong_deadline: float | None = None

    # -- state --------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """Whether a close was started (by either side) or the peer is gone."""
        return self._closing or self._closed

    @property
    def close_code(self) -> int | None:
        """The close code once the socket closed (1006: no close frame)."""
        return self._close_code

    @property
    def ws_protocol(self) -> str | None:
        """The negotiated subprotocol, if any."""
        return self._ws_protocol

    @property
    def compress(self) -> bool:
        """Whether permessage-deflate was negotiated."""
        return self._compressed

    def exception(self) -> BaseException | None:
        """The error that ended the socket, if any."""
        return self._exception

    # -- handshake ----------------------------------------------------------
    def can_prepare(self, request: Request) -> WebSocketReady:
        """Whether ``request`` is an acceptable handshake, and the protocol."""
        try:
            handshake = negotiate(
                request.method,
                request.version,
                list(request.headers.items()),
                self._protocols,
                self._compress,
            )
        except HandshakeError:
            return WebSocketReady(False, None)
        return WebSocketReady(True, handshake.protocol)

    async def prepare(self, request: Request) -> None:
        """Answer the handshake with 101 and take over the connection.

        Raises:
            HTTPMethodNotAllowed: the request is not a GET (405).
            HTTPUpgradeRequired: unsupported ``Sec-WebSocket-Version`` (426).
            HTTPBadRequest: any other bad handshake (400); nothing is upgraded.
            RuntimeError: the driver cannot hand over the connection.
        """
        if self._prepared:
            return
        try:
            handshake = negotiate(
                request.method,
                request.version,
                list(request.headers.items()),
                self._protocols,
                self._compress,
            )
        except HandshakeError as exc:
            raise _http_error(exc) from None
        channel = request._channel
        upgrade = getattr(channel, "upgrade", None)
        if upgrade is None:
            raise RuntimeError("this server cannot switch protocols on the connection")
        for name, value in handshake.headers:
            self._headers[name] = value
        await self._run_prepare_hooks(request)
        head = self._encoded_headers(with_length=False)
        self._prepared = True
        self._ws_protocol = handshake.protocol
        self._compressed = handshake.deflate is not None
        self._app = request._app
        channel.send_response(101, head, b"", None)
        stream, leftover = await upgrade()
        self._attach(stream, leftover, _make_extensions(handshake.deflate, self._max_msg_size))

    def _attach(self, stream: UpgradedStream, leftover: bytes, extensions: list[Any]) -> None:
        """Start speaking WebSocket on ``stream`` (``leftover``: bytes already read)."""
        self._stream = stream
        # A driver's stream may write without a coroutine (asyncio Protocol).
        self._send_nowait = getattr(stream, "send_nowait", None)
        self._conn = Connection(ConnectionType.SERVER, extensions=extensions)
        for ext in extensions:
            if isinstance(ext, CappedDeflate):
                self._deflate = ext
        self._rbuf = leftover
        self._reset_heartbeat()
        _open_sockets.add(self)

    # -- sending ------------------------------------------------------------
    async def _send_event(self, event: Event) -> None:
        """Send a wsproto event (a control frame)."""
        conn = self._conn
        stream = self._stream
        if conn is None or stream is None:
            raise RuntimeError("call prepare() first")
        if self._sending:
            await self._wait_send_turn()
        else:
            self._sending = True
        try:
            if self._closed:
                raise ConnectionResetError("the WebSocket is closed")
            frame = conn.send(event)
            try:
                await stream.send(frame)
            except _STREAM_ERRORS as exc:
                await self._lost_while_sending(exc)
        finally:
            if self._send_queue:
                self._send_queue.popleft().set()  # hand the turn over, still held
            else:
                self._sending = False

    async def _send_data(self, data: str | bytes) -> None:
        """Send a data message, framed (and compressed) here under the send turn.

        wsproto's event path costs several microseconds more per message;
        the deflate context is order-dependent (RFC 7692 §7.2.3), hence the
        framing under the turn.
        """
        stream = self._stream
        if stream is None:
            raise RuntimeError("call prepare() first")
        # Every way out of OPEN sets _closing first (or _closed).
        if self._closing or self._closed:
            raise ConnectionResetError("cannot send on a closing WebSocket")
        send_nowait = self._send_nowait
        if not self._sending and send_nowait is not None:
            # Nobody holds the turn and framing plus writing cannot suspend:
            # the frame goes out before any other sender runs, no turn needed
            # unless the transport is congested.
            if type(data) is str and self._deflate is None:
                # The commonest message, a small text: a precomputed head.
                payload = data.encode("utf-8")
                size = len(payload)
                frame = _TEXT_HEADS[size] + payload if size < 126 else data_frame(data)
            else:
                frame = self._frame(data)
            try:
                if send_nowait(frame):
                    return
            except _STREAM_ERRORS as exc:
                await self._lost_while_sending(exc)
            # Written, but congested: wait as send() would, holding the turn
            # (nothing ran since it was found free) so later frames queue.
            self._sending = True
            try:
                await stream.wait_writable()  # type: ignore[attr-defined]
            except _STREAM_ERRORS as exc:
                await self._lost_while_sending(exc)
            finally:
                self._pass_turn()
            return
        if self._sending:
            await self._wait_send_turn()
        else:
            self._sending = True
        try:
            if self._closing or self._closed:
                raise ConnectionResetError("cannot send on a closing WebSocket")
            frame = self._frame(data)
            try:
                if send_nowait is None:
                    await stream.send(frame)
                elif not send_nowait(frame):
                    await stream.wait_writable()  # type: ignore[attr-defined]
            except _STREAM_ERRORS as exc:
                await self._lost_while_sending(exc)
        finally:
            self._pass_turn()

    def _frame(self, data: str | bytes) -> bytes:
        """The frame of a data message (compressed if negotiated)."""
        if type(data) is str and self._deflate is None:
            # The commonest message, a small text: a precomputed head.
            payload = data.encode("utf-8")
            size = len(payload)
            return _TEXT_HEADS[size] + payload if size < 126 else data_frame(data)
        return data_frame(data, self._deflate)

    def _pass_turn(self) -> None:
        """Release the send turn: hand it to the next waiting sender, if any."""
        if self._send_queue:
            self._send_queue.popleft().set()  # handed over, still held
        else:
            self._sending = False

    async def _lost_while_sending(self, exc: BaseException) -> NoReturn:
        self._lost(exc)
        await self._abort()
        raise ConnectionResetError("the peer went away") from exc

    async def _wait_send_turn(self) -> None:
        """Wait until a sender hands over the turn (FIFO)."""
        turn = anyio.Event()
        self._send_queue.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn.is_set():
                # Handed the turn but cancelled: pass it on.
                if self._send_queue:
                    self._send_queue.popleft().set()
                else:
                    self._sending = False
            else:
                self._send_queue.remove(turn)
            raise

    # send_str and send_bytes hand back the sending coroutine itself, one
    # coroutine less per message; they are awaited like coroutine functions.
    def send_str(self, data: str) -> Coroutine[Any, Any, None]:
        """Send a text message (await the result).

        Raises:
            TypeError: ``data`` is not a str (at the call).
            ConnectionResetError: the socket is closing or the peer is gone.
        """
        if not isinstance(data, str):
            raise TypeError(f"data argument must be str ({type(data)!r})")
        return self._send_data(data)

    def send_bytes(self, data: bytes | bytearray | memoryview) -> Coroutine[Any, Any, None]:
        """Send a binary message (await the result).

        Raises:
            TypeError: ``data`` is not bytes-like (at the call).
            ConnectionResetError: the socket is closing or the peer is gone.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be byte-ish ({type(data)!r})")
        return self._send_data(bytes(data))

    async def send_json(self, data: Any, *, dumps: Callable[[Any], str] = json.dumps) -> None:
        """Send ``data`` serialised as JSON in a text message."""
        await self.send_str(dumps(data))

    async def ping(self, message: bytes = b"") -> None:
        """Send a ping (at most 125 bytes, RFC 6455 §5.5)."""
        if len(message) > 125:
            raise ValueError("a ping payload is at most 125 bytes")
        await self._send_event(Ping(payload=bytes(message)))

    async def pong(self, message: bytes = b"") -> None:
        """Send an unsolicited pong (at most 125 bytes)."""
        if len(message) > 125:
            raise ValueError("a pong payload is at most 125 bytes")
        await self._send_event(Pong(payload=bytes(message)))

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Not for WebSockets.

        Raises:
            RuntimeError: always; use ``send_str`` / ``send_bytes``.
        """
        raise RuntimeError("a WebSocketResponse sends messages: use send_str() or send_bytes()")

    async def write_eof(self, data: bytes = b"", *, trailers: Any = None) -> None:
        """Close the socket (1000) if still open; called when the handler returns it."""
        if self._eof_sent:
            return
        if not self._prepared:
            raise RuntimeError("call prepare() before write_eof()")
        self._eof_sent = True
        await self.close()
        await self._abort()

    # -- closing ------------------------------------------------------------
    async def close(self, *, code: int = WSCloseCode.OK, message: bytes | str = b"") -> bool:
        """Start the closing handshake and wait (``timeout``) for the peer's answer.

        Returns:
            ``True`` if this call closed the socket, ``False`` if it was
            already closed or closing.
        """
        if self._conn is None:
            raise RuntimeError("call prepare() first")
        if self._closed or self._closing:
            return False
        reason = message.decode("utf-8") if isinstance(message, bytes) else message
        self._closing = True
        try:
            await self._send_event(CloseConnection(code=code, reason=reason or None))
        except ConnectionResetError:
            return True
        with anyio.move_on_after(self._timeout):
            if self._reading:
                # Another task is inside receive(): it will see the answer.
                await self._close_received.wait()
            else:
                self._reading = True
                try:
                    while not self._close_received.is_set() and not self._closed:
                        await self._receive(None, _INTERNAL)
                finally:
                    self._reading = False
        if self._close_code is None:
            self._close_code = code
        await self._abort()
        return True

    def _lost(self, exc: BaseException | None = None) -> None:
        if self._close_code is None:
            self._close_code = WSCloseCode.ABNORMAL_CLOSURE
        if exc is not None and self._exception is None:
            self._exception = exc

    async def _abort(self) -> None:
        """Close the transport (idempotent); the socket is over."""
        if self._closed:
            return
        self._closed = True
        self._close_received.set()
        _open_sockets.discard(self)
        self._fragments = []
        self._rbuf = b""
        self._rparts = []
        self._rneed = 0
        if self._stream is not None:
            with anyio.CancelScope(shield=True):
                try:
                    await self._stream.aclose()
                except Exception:
                    pass

    async def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 §7.1.7): close frame, then drop it."""
        error = WebSocketError(code, reason)
        self._exception = error
        self._close_code = code
        self._closing = True
        conn = self._conn
        if conn is not None and conn.state is ConnectionState.OPEN:
            try:
                await self._send_event(CloseConnection(code=code))
            except ConnectionResetError:
                pass
        await self._abort()
        self._pending.append(WSMessage(WSMsgType.ERROR, error, None))

    # -- receiving ----------------------------------------------------------
    def receive(self, timeout: float | None = None) -> Coroutine[Any, Any, WSMessage]:
        """The next message (answering pings and heartbeats meanwhile); await it.

        Args:
            timeout: seconds to wait; default ``receive_timeout``.

        Returns:
            A TEXT, BINARY, (PING, PONG without autoping), CLOSE, ERROR or
            CLOSED message.

        Raises:
            TimeoutError: nothing arrived within the timeout.
            RuntimeError: before ``prepare``, a concurrent ``receive``, or
                reading a closed socket again and again.
        """
        # The coroutine of _receive itself: one coroutine less per message.
        return self._receive(timeout if timeout is not None else self._receive_timeout, _CALL)

    async def _receive(
        self, timeout: float | _Default | None = _Default.RECEIVE_TIMEOUT, mode: int = _ITER
    ) -> WSMessage:
        """Read until there is a message to return.

        The body of ``receive()`` (``_CALL``), of ``close()`` (``_INTERNAL``:
        no reader checks; the caller holds ``_reading``) and, called without
        arguments, ``__anext__`` itself (``_ITER``: a close ends the
        iteration; the default timeout is ``receive_timeout``): no coroutine
        or call in between.
        """
        if timeout is _RECEIVE_TIMEOUT:
            timeout = self._receive_timeout
        if mode:
            if self._conn is None:
                raise RuntimeError("call prepare() first")
            if self._reading:
                raise RuntimeError("concurrent call to receive() is not allowed")
            if self._pending:
                return _deliver(self._pending.popleft(), mode)
            if self._closed:
                self._closed_reads += 1
                if self._closed_reads > _MAX_CLOSED_READS:
                    raise RuntimeError("the WebSocket is closed")
                return _deliver(WS_CLOSED_MESSAGE, mode)
            self._reading = True
        try:
            clock = self._clock
            until = None if timeout is None else clock() + timeout
            stream = self._stream
            assert stream is not None
            while True:
                if self._pending:
                    return _deliver(self._pending.popleft(), mode)
                if self._closed:
                    return _deliver(WS_CLOSED_MESSAGE, mode)
                # Parse what is buffered first, one message at a time, so that
                # a close frame behind a data message is seen only after the app
                # had the chance to answer that message.
                if self._rbuf:
                    msg = self._take_frame()
                    if msg is not None:
                        if msg[0] is _ERROR:
                            await self._fail(msg.data.code, str(msg.data))
                            continue
                        return msg
                if self._unparsed:
                    await self._process()
                    if self._pending or self._closed:
                        continue
                data: bytes | None
                if until is None and self._heartbeat is None:
                    # No deadline to watch: skip _read's timer.
                    try:
                        data = await stream.receive()
                    except _STREAM_ERRORS:
                        data = b""
                else:
                    deadline = until
                    for other in (self._next_ping, self._pong_deadline):
                        if other is not None and (deadline is None or other < deadline):
                            deadline = other
                    data = await self._read(deadline)
                if data is None:
                    now = clock()
                    if self._pong_deadline is not None and now >= self._pong_deadline:
                        await self._heartbeat_failed()
                    elif self._next_ping is not None and now >= self._next_ping:
                        await self._send_heartbeat(now)
                    elif until is not None and now >= until:
                        raise TimeoutError("no WebSocket message within the receive timeout")
                    continue
                if not data:
                    self._lost()
                    await self._abort()
                    return _deliver(WS_CLOSED_MESSAGE, mode)
                if self._heartbeat is not None:
                    self._reset_heartbeat()
                if self._rneed or self._slow:
                    self._received(data)
                    continue
                size = len(data) - 6
                first = data[0]
                if (
                    0 <= size < 126
                    and (first == 0x81 or (first == 0xC1 and self._deflate is not None))
                    and data[1] == 0x80 | size
                    and (size <= self._max_msg_size or not self._max_msg_size)
                ):
                    # The commonest read, inline: one whole masked text frame of
                    # under 126 bytes (deflated or not), unmasked as
                    # _ws_frames.unmask does. _take_frame reads every other frame.
                    # The whole frame as one integer: the payload above byte
                    # 6, the key in bytes 2-5, repeated over the payload by
                    # one multiplication (RFC 6455 §5.3).
                    whole = int.from_bytes(data, "little")
                    key = (whole >> 16 & 0xFFFFFFFF) * _KEY_REPEAT[size] & _LOW_BYTES[size]
                    payload = (whole >> 48 ^ key).to_bytes(size, "little")
                    if first == 0xC1:
                        assert self._deflate is not None
                        try:
                            inflated = self._deflate.inflate_whole(payload)
                        except zlib.error:
                            await self._fail(WSCloseCode.INVALID_TEXT, "invalid compressed data")
                            continue
                        if inflated is None:
                            await self._fail(WSCloseCode.MESSAGE_TOO_BIG, "message too big")
                            continue
                        payload = inflated
                    try:
                        return _new_message(WSMessage, (_TEXT, payload.decode(), ""))
                    except UnicodeDecodeError:
                        # RFC 6455 §8.1: invalid UTF-8 fails the connection with 1007.
                        await self._fail(
                            WSCloseCode.INVALID_TEXT, "invalid UTF-8 in a text message"
                        )
                        continue
                self._rbuf = data
                self._rpos = 0
        finally:
            if mode:
                self._reading = False

    def _received(self, data: bytes) -> None:
        """Queue bytes read while a frame is incomplete or wsproto is busy."""
        if self._rneed:
            # The rest of an incomplete simple frame.
            self._rparts.append(data)
            self._rsize += len(data)
            if self._rsize >= self._rneed:
                self._rbuf = b"".join(self._rparts)
                self._rpos = 0
                self._rparts = []
                self._rneed = 0
            return
        if self._slow and not self._unparsed and self._wsproto_idle():
            self._slow = False
        if self._slow:
            conn = self._conn
            assert conn is not None
            conn.receive_data(data)
            self._unparsed = True
        else:
            self._rbuf = data
            self._rpos = 0

    def _wsproto_idle(self) -> bool:
        """Whether wsproto holds no input and no unfinished frame or message.

        Reads wsproto's private parser state: there is no public way to ask.
        Should it ever change shape, the answer is "no" and every frame
        takes wsproto's path, slower but just as correct.
        """
        conn = self._conn
        assert conn is not None
        try:
            proto = conn._proto
            decoder = proto._frame_decoder
            return (
                not decoder.buffer.buffer
                and decoder.header is None
                and proto._message_decoder.opcode is None
                and conn.state is ConnectionState.OPEN
            )
        except AttributeError:
            return False

    def _take_frame(self) -> WSMessage | None:
        """The message of the simple frame at ``_rpos``, if it is one.

        Returns ``None`` when more bytes are needed (kept in ``_rparts``) or
        when the frame is not simple (then the rest of the buffer goes to
        wsproto, to be parsed by ``_process``). A frame the fast path must
        refuse comes back as an ERROR message carrying a ``WebSocketError``
        with the close code to send.
        """
        buf = self._rbuf
        pos = self._rpos
        first, end, payload = split_frame(buf, pos, self._max_msg_size, self._deflate is not None)
        if first == TOO_BIG:
            # Refused from its header, before its payload is buffered.
            return _error(WSCloseCode.MESSAGE_TOO_BIG, "message too big")
        if first > TOO_BIG:
            if end < len(buf):
                self._rpos = end
            else:
                self._rbuf = b""
            if first & 0x40:
                assert self._deflate is not None
                try:
                    inflated = self._deflate.inflate_whole(payload)
                except zlib.error:
                    return _error(WSCloseCode.INVALID_TEXT, "invalid compressed data")
                if inflated is None:
                    return _error(WSCloseCode.MESSAGE_TOO_BIG, "message too big")
                payload = inflated
            if first & 0x01:
                try:
                    text = payload.decode("utf-8")
                except UnicodeDecodeError:
                    # RFC 6455 §8.1: invalid UTF-8 fails the connection with 1007.
                    return _error(WSCloseCode.INVALID_TEXT, "invalid UTF-8 in a text message")
                return _new_message(WSMessage, (_TEXT, text, ""))
            return _new_message(WSMessage, (_BINARY, payload, ""))
        rest = buf[pos:] if pos else buf
        self._rbuf = b""
        if first == INCOMPLETE:
            self._rparts = [rest]
            self._rsize = len(rest)
            self._rneed = end
            return None
        conn = self._conn
        assert conn is not None
        conn.receive_data(rest)
        self._slow = True
        self._unparsed = True
        return None

    async def _read(self, deadline: float | None) -> bytes | None:
        """Bytes, ``b""`` at end of stream, ``None`` when a deadline may be due."""
        stream = self._stream
        assert stream is not None
        try:
            if deadline is None:
                return await stream.receive()
            wait = deadline - self._clock()
            if wait <= 0:
                return None
            result = None
            with anyio.move_on_after(wait):
                result = await stream.receive()
            return result
        except _STREAM_ERRORS:
            return b""

    def _reset_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._next_ping = self._clock() + self._heartbeat
            self._pong_deadline = None

    async def _send_heartbeat(self, now: float) -> None:
        assert self._heartbeat is not None
        self._next_ping = None
        self._pong_deadline = now + self._heartbeat / 2
        try:
            await self._send_event(Ping(payload=b""))
        except ConnectionResetError:
            self._pending.append(WS_CLOSED_MESSAGE)

    async def _heartbeat_failed(self) -> None:
        # No pong: the peer (or the path to it) is dead. No close frame can be
        # expected, so the close code is 1006 (RFC 6455 §7.1.5).
        error = TimeoutError("no PONG received within the heartbeat")
        self._exception = error
        self._close_code = WSCloseCode.ABNORMAL_CLOSURE
        self._closing = True
        await self._abort()
        self._pending.append(WSMessage(WSMsgType.ERROR, error, None))

    async def _process(self) -> None:
        """Parse buffered bytes until one message is queued (or none is left).

        wsproto parses lazily: leaving the event loop early keeps the rest of
        the bytes buffered in the connection for the next call.
        """
        conn = self._conn
        assert conn is not None
        for event in conn.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                if not self._data_event(event):
                    await self._fail(WSCloseCode.MESSAGE_TOO_BIG, "message too big")
            elif isinstance(event, Ping):
                if conn.state is ConnectionState.OPEN:
                    try:
                        await self._send_event(event.response())
                    except ConnectionResetError:
                        self._pending.append(WS_CLOSED_MESSAGE)
                if not self._autoping:
                    self._pending.append(WSMessage(WSMsgType.PING, bytes(event.payload), ""))
            elif isinstance(event, Pong):
                self._pong_deadline = None
                if not self._autoping:
                    self._pending.append(WSMessage(WSMsgType.PONG, bytes(event.payload), ""))
            elif isinstance(event, CloseConnection):
                await self._on_close_event(conn, event)
            if self._pending or self._closed:
                return
        self._unparsed = False

    def _data_event(self, event: TextMessage | BytesMessage) -> bool:
        """Collect a message piece; ``False`` when the message is too big."""
        piece = event.data
        if self._max_msg_size:
            if isinstance(piece, str) and not piece.isascii():
                size = len(piece.encode())
            else:
                size = len(piece)
            self._fragment_size += size
            if self._fragment_size > self._max_msg_size:
                return False
        if not event.message_finished:
            self._fragments.append(piece)
            return True
        if self._fragments:
            self._fragments.append(piece)
            joiner = "" if isinstance(piece, str) else b""
            piece = joiner.join(self._fragments)
            self._fragments = []
        self._fragment_size = 0
        if isinstance(piece, str):
            self._pending.append(WSMessage(WSMsgType.TEXT, piece, ""))
        else:
            self._pending.append(WSMessage(WSMsgType.BINARY, bytes(piece), ""))
        return True

    async def _on_close_event(self, conn: Connection, event: CloseConnection) -> None:
        state = conn.state
        if state is ConnectionState.REMOTE_CLOSING:
            # The peer starts the closing handshake: echo its code
            # (RFC 6455 §5.5.1) and, as the server, close TCP first (§7.1.1).
            self._close_code = event.code
            self._closing = True
            self._close_received.set()
            try:
                await self._send_event(event.response())
            except ConnectionResetError:
                pass
            await self._abort()
            self._pending.append(WSMessage(WSMsgType.CLOSE, event.code, event.reason or ""))
        elif state is ConnectionState.CLOSED:
            # The answer to our own close frame.
            self._close_code = event.code
            self._close_received.set()
            await self._abort()
            self._pending.append(WSMessage(WSMsgType.CLOSE, event.code, event.reason or ""))
        else:
            # wsproto reports a protocol violation as a CloseConnection
            # without changing state: 1002, 1007 (bad UTF-8), 1009 ...
            await self._fail(event.code, event.reason or "protocol error")

    def __aiter__(self) -> WebSocketResponse:
        return self

    __anext__ = _receive

    async def receive_str(self, *, timeout: float | None = None) -> str:
        """The next message, which must be text.

        Raises:
            TypeError: the message was not TEXT.
        """
        msg = await self.receive(timeout)
        if msg.type is not WSMsgType.TEXT:
            raise TypeError(f"Received message {msg.type}:{msg.data!r} is not WSMsgType.TEXT")
        data: str = msg.data
        return data

    async def receive_bytes(self, *, timeout: float | None = None) -> bytes:
        """The next message, which must be binary.

        Raises:
            TypeError: the message was not BINARY.
        """
        msg = await self.receive(timeout)
        if msg.type is not WSMsgType.BINARY:
            raise TypeError(f"Received message {msg.type}:{msg.data!r} is not WSMsgType.BINARY")
        data: bytes = msg.data
        return data

    async def receive_json(
        self, *, loads: Callable[[Any], Any] = json.loads, timeout: float | None = None
    ) -> Any:
        """The next text message parsed as JSON."""
        return loads(await self.receive_str(timeout=timeout))

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open" if self._conn is not None else "not prepared"
        return f"<{type(self).__name__} {state}>"


def _deliver(msg: WSMessage, mode: int) -> WSMessage:
    if mode == _ITER and msg[0] in _END_TYPES:
        raise StopAsyncIteration
    return msg


def _error(code: int, reason: str) -> WSMessage:
    return WSMessage(WSMsgType.ERROR, WebSocketError(code, reason), None)


def _http_error(exc: HandshakeError) -> Exception:
    text = f"{exc.status} {exc}"
    if exc.status == 405:
        return HTTPMethodNotAllowed("", ["GET"], text=text)
    if exc.status == 426:
        return HTTPUpgradeRequired(headers=dict(exc.headers), text=text)
    return HTTPBadRequest(text=text)
