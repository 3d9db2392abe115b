"""Serving one connection: the glue between the protocol core and an app.

Theory of operation
-------------------
``handle_request`` is the one place where a request head becomes a
``Request``, the application answers it and the answer is finished on the
channel. Every driver calls it, push-style or pull-style.

``serve_connection`` is the pull-style loop, written once against the tiny
``ByteStream`` interface (receive, send, aclose), as httpcore does with its
network streams. The asyncio-streams driver, the anyio driver (trio and
asyncio) and the in-memory test client only provide a ``ByteStream``. The loop
runs in a single task: it reads only when it needs bytes, i.e. between
requests, or inside the handler when the app asks for body bytes
(``StreamChannel.receive_body``). So a slow app applies backpressure to its
client for free, and pipelined requests wait in the core, not here.

Deadlines come only from ``conn.next_deadline()``: before each read the loop
bounds the wait by it and calls ``conn.on_deadline(now)`` when it passes.
The loop runs in one cancel scope per connection whose deadline it moves
before and after each read between requests (a new scope per read costs
several times more); only a deadline or shutdown that cancels it makes the
loop take a fresh one. Body reads inside a handler get a scope of their own.

Shutdown: a server keeps its live connections in a ``ConnectionSet``. Its
``start_shutdown`` calls ``conn.start_shutdown(now)`` on each and wakes any
loop blocked in a read (by cancelling the scope of that read), so an idle
keep-alive connection closes at once while a request in flight is finished
with ``Connection: close``.

Upgrade: after a 101 (or a 2xx to CONNECT) the handler calls
``channel.upgrade()`` and gets the raw stream plus the bytes that followed the
request head; the loop speaks no more HTTP and closes the stream once the
handler returns.
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

import anyio

from ._channel import Channel, ClientDisconnected, RawHeaders, UpgradedStream
from ._date import date_header_value, default_headers, with_default_headers
from ._framing import ResponseFraming
from .exceptions import HTTPException
from .protocol import (
    Action,
    BodyData,
    DeadlineAction,
    Event,
    LocalProtocolError,
    RejectionCounters,
    RequestEnd,
    RequestHead,
    RequestRejected,
    ServerConnection,
    Upgrade,
)
from .protocol import Limits as Limits
from .request import Request
from .response import StreamResponse

if TYPE_CHECKING:
    from .app import Application

access_logger = logging.getLogger("sansketch.access")
server_logger = logging.getLogger("sansketch.server")

_READ_SIZE = 65536
# The request_timeout scope of the handler running in this task: a handler
# that takes the connection over (a WebSocket) is long-lived by design.
_handler_scope: ContextVar[anyio.CancelScope | None] = ContextVar("_handler_scope", default=None)


def lift_request_timeout() -> None:
    """The handler in this task took its connection over: no request timeout."""
    scope = _handler_scope.get()
    if scope is not None:
        scope.deadline = math.inf


class ByteStream(Protocol):
    """What a pull-style driver provides for one connection."""

    def receive(self) -> Awaitable[bytes | None]:
        """Bytes from the peer, once awaited; ``b""`` at end of stream;
        ``None`` means "no bytes, but wake up and look at the clock" (fake
        clocks only). An ``async def`` does; so does a method returning
        another coroutine (one frame less per read)."""
        ...

    async def send(self, data: bytes) -> None:
        """Write all of ``data``."""
        ...

    async def aclose(self) -> None:
        """Close the connection."""
        ...


class SendNowait(Protocol):
    """Optional extra of a ``ByteStream``: a write that never waits.

    The loop tries it first and bounds only the rest of a write that would
    wait (a full socket buffer) by the send timeout: a timer per write costs
    more than the write itself.
    """

    def send_nowait(self, data: bytes) -> int:
        """Write what can go out of ``data`` at once; the number of bytes taken.

        Raises:
            OSError: the connection is broken (as ``send`` would).
        """
        ...


class ReceiveReady(Protocol):
    """Optional extra of a ``ByteStream``: a read that never waits for bytes.

    Between requests the loop tries it first and bounds only a read that
    must wait by the core's deadline: moving a cancel scope's deadline
    there and back costs more than the read itself, and on a loaded server
    the next request is usually there already.
    """

    async def receive_ready(self) -> bytes | None:
        """A scheduling checkpoint, then the bytes already received.

        Returns ``None`` when no byte is there yet (``receive`` would wait),
        ``b""`` at end of stream.

        Raises:
            OSError: the connection is broken (as ``receive`` would).
        """
        ...


class TimerHandle(Protocol):
    """What ``CallLater.call_later`` returns: a timer that can be called off."""

    def cancel(self) -> None:
        """Call the timer off (harmless once it ran)."""
        ...


class CallLater(Protocol):
    """Optional extra of a ``ByteStream``: the event loop's callback timer.

    With it, the deadline of a read between requests is a timer the loop
    arms only when the core's deadline moves earlier, and that wakes the
    read (by cancelling the connection's scope) only if the deadline has
    really passed: moving a cancel scope's deadline before and after every
    read costs more than the read itself (asyncio's ``loop.call_later``).
    """

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` (in the loop, outside any task) after ``delay`` seconds."""
        ...


@dataclass(slots=True)
class ServerConfig:
    """Settings shared by every connection a server accepts.

    Attributes:
        limits: the protocol core's limits and timeouts.
        access_log: log one line per response on ``sansketch.access``.
        clock: monotonic seconds, read only by drivers (never by the core).
        timeout_for: how long to wait for a deadline given the clock's now;
            the in-memory client returns ``math.inf`` and wakes the loop itself.
        request_timeout: seconds a handler may take before it is cancelled
            and answered 503 (``None``: no limit).
        send_timeout: seconds one write may wait for a client that does not
            read before the connection is dropped (nginx ``send_timeout``:
            60 s; ``None``: wait forever).
        counters: security counters shared by every connection (rejections
            by reason, handler and send timeouts).
    """

    limits: Limits = field(default_factory=Limits)
    access_log: bool = False
    clock: Callable[[], float] = anyio.current_time
    timeout_for: Callable[[float, float], float] = lambda deadline, now: deadline - now
    request_timeout: float | None = None
    send_timeout: float | None = 60.0
    counters: RejectionCounters = field(default_factory=RejectionCounters)


def with_loop_clock(config: ServerConfig, loop_time: Callable[[], float]) -> ServerConfig:
    """``config`` with ``loop_time`` as its clock if it reads anyio's default.

    ``anyio.current_time`` looks up the running backend on every call (about
    0.3 µs), and the loop reads the clock several times per request; a
    driver that knows its event loop passes the loop's own clock (the same
    time, e.g. ``trio.current_time``) once per server. A custom clock is kept.

    Args:
        config: the server's settings.
        loop_time: the running event loop's clock, in anyio's time.

    Returns:
        ``config`` itself, or a copy sharing its limits and counters.
    """
    if config.clock is not anyio.current_time:
        return config
    return replace(config, clock=loop_time)


class Drainable(Protocol):
    """A live connection as its server sees it during shutdown."""

    def begin_shutdown(self) -> None:
        """Stop taking requests: close if idle, else finish the one in flight."""
        ...


class ConnectionSet:
    """The live connections of one server: the connection cap and shutdown.

    Loop-agnostic bookkeeping; each driver waits for ``on_empty`` its own way.

    Args:
        max_connections: connections served at once; a connection accepted
            beyond it is answered ``503`` and closed at once (``None``: no cap).
    """

    __slots__ = ("_live", "forced", "max_connections", "on_empty", "rejected", "shutting_down")

    def __init__(self, max_connections: int | None = None) -> None:
        self._live: set[Drainable] = set()
        self.max_connections = max_connections
        self.shutting_down = False
        self.rejected = 0
        # Connections the core's drain deadline closed during shutdown; the
        # driver adds those still open at its own timeout.
        self.forced = 0
        self.on_empty: Callable[[], None] | None = None

    def __len__(self) -> int:
        return len(self._live)

    def __iter__(self) -> Iterator[Drainable]:
        return iter(list(self._live))

    def admit(self, connection: Drainable) -> bool:
        """Register ``connection``; False (and nothing registered) when full.

        A connection admitted during shutdown is told to drain at once.
        """
        if self.max_connections is not None and len(self._live) >= self.max_connections:
            self.rejected += 1
            return False
        self._live.add(connection)
        if self.shutting_down:
            connection.begin_shutdown()
        return True

    def discard(self, connection: Drainable) -> None:
        """Forget a connection that ended; may fire ``on_empty``."""
        self._live.discard(connection)
        if not self._live and self.shutting_down and self.on_empty is not None:
            self.on_empty()

    def start_shutdown(self) -> None:
        """Tell every live connection to drain (idle ones close at once)."""
        self.shutting_down = True
        for connection in list(self._live):
            connection.begin_shutdown()
        if not self._live and self.on_empty is not None:
            self.on_empty()


def overload_response() -> bytes:
    """The ``503`` written to a connection accepted beyond the cap.

    Built by hand: no request has been read, so the core has nothing to
    answer yet. ``Connection: close`` because the socket closes right after.
    """
    body = b"503 Service Unavailable"
    return b"".join(
        (
            b"HTTP/1.1 503 Service Unavailable\r\n",
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
            b"retry-after: 1\r\n",
            b"date: " + date_header_value() + b"\r\n",
            b"server: sansketch\r\n\r\n",
            body,
        )
    )


class _AbortConnection(Exception):
    """The response cannot be completed; the connection must be dropped."""


async def handle_request(
    app: Application, head: RequestHead, channel: HandlerChannel, seq: int = 1
) -> None:
    """Answer one request with ``app`` through ``channel``.

    Builds the ``Request``, routes it, awaits the handler chain (an HTTP
    exception it raises is the response), and finishes the response: a
    whole-body one without another coroutine (``_send_at_once``). A failure
    before the response head was sent becomes a 500 (details only when
    debug is on); a failure after it leaves no way to tell the client, so
    the connection is aborted.

    Raises:
        ClientDisconnected: the client went away.
        _AbortConnection: the response was started and could not be finished.
    """
    request = Request(head, channel, app, app.client_max_size, seq)
    response: object
    try:
        handler = app._route(request)
        try:
            response = await handler(request)
        except HTTPException as exc:
            response = exc
        except ClientDisconnected:
            raise
        except Exception as exc:
            response = app._handler_error(request, exc)
        if not isinstance(response, StreamResponse):
            response = app._wrong_type(request, response)
        if channel.upgraded:
            # The connection speaks another protocol now; a response that
            # took it over (WebSocketResponse) ends that protocol itself.
            if getattr(response, "takes_over_connection", False):
                await response.write_eof()
            return
        if not response._send_at_once(request):
            if not response.prepared:
                await response.prepare(request)
            await response.write_eof()
    except ClientDisconnected:
        raise
    except Exception as exc:
        server_logger.error("Error finishing response to %s", head.target, exc_info=exc)
        if channel.response_started:
            raise _AbortConnection from exc
        channel.send_response(
            500,
            [(b"content-type", b"text/plain; charset=utf-8")],
            b"500 Internal Server Error",
            None,
        )


class HandlerChannel(Channel, Protocol):
    """What ``handle_request`` needs of a driver's channel."""

    status: int
    """The status of the response sent (0 until then)."""

    response_ended: bool
    """Whether the response was finished."""

    upgraded: bool
    """Whether the handler took the connection over (``upgrade()``)."""


class StreamChannel(ResponseFraming):
    """The ``Channel`` of one request on a pull-style connection.

    Body events of the current request come first from ``pending`` (already
    parsed), then from the stream, read only when the app asks. The response
    head is held back and written together with the first body bytes.
    """

    __slots__ = (
        "_body_done",
        "_loop",
        "_trailers",
        "remote",
        "scheme",
        "upgraded",
    )

    def __init__(self, loop: _ConnectionLoop) -> None:
        self._loop = loop
        self._conn = loop.conn
        self._body_done = False
        self._trailers: RawHeaders = ()
        self._head_bytes = b""
        self.remote = loop.remote
        self.scheme = loop.scheme
        self.response_started = False
        self.response_ended = False
        self.status = 0
        self.upgraded = False

    # -- request body -------------------------------------------------------
    async def receive_body(self) -> bytes:
        """Next piece of the body; ``b""`` when it is complete."""
        if self._body_done:
            return b""
        loop = self._loop
        if not self.response_started:
            continue_bytes = self._conn.accept_body()
            if continue_bytes:
                await loop.send(continue_bytes)
        while True:
            while loop.pending:
                event = loop.pending[0]
                if isinstance(event, BodyData):
                    loop.pending.popleft()
                    if event.data:
                        return event.data
                elif isinstance(event, RequestEnd):
                    loop.pending.popleft()
                    self._body_done = True
                    self._trailers = event.trailers
                    return b""
                else:
                    # A RequestRejected in the middle of the body: the body is
                    # broken; the loop answers the error after this handler.
                    self._body_done = True
                    raise ClientDisconnected(
                        f"request body was malformed: {getattr(event, 'reason', event)}"
                    )
            if not await loop.read_more():
                self._body_done = True
                raise ClientDisconnected("client closed the connection mid-body")

    def trailers(self) -> RawHeaders:
        """Trailers of a chunked body, once it has been read to the end."""
        return self._trailers

    # -- response -----------------------------------------------------------
    async def send_body(self, data: bytes) -> None:
        """Write body bytes (coalesced with a pending head)."""
        out = self._framed_body(data)
        if out:
            await self._loop.send(out)

    async def send_end(self, trailers: RawHeaders | None = None) -> None:
        """Finish the response."""
        out = self._framed_end(trailers)
        if out:
            self._loop.queue(out)

    def send_response(
        self, status: int, headers: RawHeaders, body: bytes, reason: bytes | None
    ) -> None:
        """A whole response, queued: it leaves with the loop's next flush."""
        out = self._conn.send_response(status, with_default_headers(headers), body, reason)
        self.response_started = True
        self.response_ended = True
        self.status = status
        self._loop.queue(out)

    async def sendfile(self, fd: int | os.PathLike[str] | str, offset: int, count: int) -> None:
        """Write part of a file as body bytes, read in pieces."""
        opened = not isinstance(fd, int)
        fileno = os.open(fd, os.O_RDONLY) if not isinstance(fd, int) else fd
        try:
            remaining = count
            while remaining > 0:
                chunk = await anyio.to_thread.run_sync(
                    os.pread, fileno, min(remaining, _READ_SIZE), offset
                )
                if not chunk:
                    raise LocalProtocolError("file shrank while being sent")
                offset += len(chunk)
                remaining -= len(chunk)
                await self.send_body(chunk)
        finally:
            if opened:
                os.close(fileno)

    # -- protocol switch ------------------------------------------------------
    async def upgrade(self) -> tuple[UpgradedStream, bytes]:
        """Take over the connection after a 101 (or 2xx to CONNECT) response.

        Returns the raw stream and the bytes that followed the request head.

        Raises:
            RuntimeError: the response was not a completed protocol switch.
        """
        if self.upgraded or not self.response_ended or self._conn.action is not Action.UPGRADE:
            raise RuntimeError("upgrade() needs a completed 101 (or 2xx to CONNECT) response")
        self.upgraded = True
        lift_request_timeout()
        loop = self._loop
        await loop.flush()  # the 101 goes out before the new protocol's bytes
        data = b""
        events = list(loop.pending)
        loop.pending.clear()
        events.extend(self._conn.next_events(loop.config.clock()))
        for event in events:
            if isinstance(event, Upgrade):
                data += event.data
        return _UpgradedPullStream(loop.stream), data


class _UpgradedPullStream:
    """The raw ``ByteStream`` after a protocol switch, as an ``UpgradedStream``."""

    __slots__ = ("_stream",)

    def __init__(self, stream: ByteStream) -> None:
        self._stream = stream

    async def receive(self) -> bytes:
        """Bytes from the peer; ``b""`` once it closed."""
        while True:
            try:
                data = await self._stream.receive()
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                return b""
            if data is not None:
                return data

    async def send(self, data: bytes) -> None:
        """Write all of ``data``."""
        try:
            await self._stream.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise ClientDisconnected("peer went away") from exc

    async def aclose(self) -> None:
        """Close the connection."""
        await self._stream.aclose()


class _ConnectionLoop:
    """State of one pull-style connection: core, stream and pending events."""

    def __init__(
        self,
        stream: ByteStream,
        config: ServerConfig,
        remote: tuple[str, int] | str | None,
        scheme: str,
    ) -> None:
        self.stream = stream
        self.config = config
        # ``now``: a connection that never sends a byte is idle from here.
        self.conn = ServerConnection(config.limits, now=config.clock(), counters=config.counters)
        self.pending: deque[Event] = deque()
        self.remote = remote
        self.scheme = scheme
        self.closed = False
        self.connections: ConnectionSet | None = None
        # The scope the serve loop runs in; a fresh one after each time a
        # deadline or shutdown cancelled it (cancellation is sticky).
        self.scope: anyio.CancelScope | None = None
        # The scope of a read in progress, which shutdown cancels to wake it.
        self._read_scope: anyio.CancelScope | None = None
        # ``scope`` was cancelled (shutdown, or a deadline during a read):
        # tracked here because trio's ``cancel_called`` reads the clock.
        self.scope_cancelled = False
        # Whole responses not written yet: those of pipelined requests go
        # out together (see ``queue``).
        self._out: list[bytes] = []
        # ``SendNowait.send_nowait`` if the stream has it.
        self._send_nowait: Callable[[bytes], int] | None = getattr(stream, "send_nowait", None)
        # ``ReceiveReady.receive_ready`` if the stream has it.
        self._receive_ready: Callable[[], Awaitable[bytes | None]] | None = getattr(
            stream, "receive_ready", None
        )
        # ``CallLater.call_later`` if the stream has it, and the timer armed
        # with it for the deadline (in ``config.clock`` time) of idle reads.
        self._call_later: Callable[[float, Callable[[], None]], TimerHandle] | None = getattr(
            stream, "call_later", None
        )
        self._alarm: TimerHandle | None = None
        self._alarm_at = math.inf

    def begin_shutdown(self) -> None:
        """Drain: the core decides; a blocked read wakes to look again."""
        self.conn.start_shutdown(self.config.clock())
        if self._read_scope is not None:
            if self._read_scope is self.scope:
                self.scope_cancelled = True
            self._read_scope.cancel()

    def _arm_alarm(self, deadline: float, wait: float) -> None:
        """Have ``_on_alarm`` run by ``deadline``; an earlier alarm stands."""
        if deadline < self._alarm_at:
            assert self._call_later is not None
            if self._alarm is not None:
                self._alarm.cancel()
            self._alarm_at = deadline
            self._alarm = self._call_later(wait, self._on_alarm)

    def _on_alarm(self) -> None:
        """The deadline armed for idle reads came: wake the read if it is due."""
        self._alarm = None
        self._alarm_at = math.inf
        if self.closed:
            return
        deadline = self.conn.next_deadline()
        if deadline is None:
            return  # a request is in flight; the next idle read re-arms
        wait = self.config.timeout_for(deadline, self.config.clock())
        if wait > 0:
            self._arm_alarm(deadline, wait)  # it moved later since it was armed
            return
        scope = self._read_scope
        if scope is not None and scope is self.scope:
            # The read wakes cancelled; the loop answers the deadline in a
            # fresh scope (read_more finds it passed).
            self.scope_cancelled = True
            scope.cancel()

    def cancel_alarm(self) -> None:
        """Call off the idle-read timer (the connection is over)."""
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm = None

    def queue(self, data: bytes) -> None:
        """Hold the end of a response until the next write, flush or read.

        The end of a response then shares a write with whatever follows it
        on this connection. Before any read (``read_more``), the next
        handler (a slow one must not delay an earlier response), the
        handler's next partial write (``send``), a protocol switch and the
        end of the connection, the held bytes go out, so nothing waits.
        """
        self._out.append(data)

    async def flush(self) -> None:
        """Write the held responses, if any."""
        out = self._out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            await self.send(data)

    async def send(self, data: bytes) -> None:
        """Write held responses and ``data``; a dead peer becomes ``ClientDisconnected``.

        A client that stops reading is dropped once a write has waited
        ``config.send_timeout`` seconds (also ``ClientDisconnected``).
        """
        out = self._out
        if out:
            out.append(data)
            data = b"".join(out)
            out.clear()
        nowait = self._send_nowait
        try:
            if nowait is not None:
                sent = nowait(data)
                if sent >= len(data):
                    return
                if sent:
                    data = data[sent:]
            timeout = self.config.send_timeout
            if timeout is None:
                await self.stream.send(data)
                return
            with anyio.move_on_after(timeout) as scope:
                await self.stream.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self.closed = True
            raise ClientDisconnected("client went away while we were writing") from exc
        if scope.cancelled_caught:
            self.closed = True
            self.config.counters.add("send-timeout", 0)
            raise ClientDisconnected("client stopped reading (send timeout)")

    async def read_more(
        self, idle: bool = False, known: tuple[Action, float | None] | None = None
    ) -> bool:
        """Read once (bounded by the core's deadline) and queue the events.

        Args:
            idle: the caller is the serve loop between requests, running in
                the connection's scope (``self.scope``): that scope bounds
                the read instead of a fresh one. A deadline or shutdown
                interrupting it raises ``Cancelled`` out to the loop, which
                restarts in a new scope; a read that completed while the
                scope was cancelled returns normally and the loop must leave
                the scope before it awaits anything (``scope_cancelled``).
            known: the core's action and next deadline, just asked (as
                ``after_response`` gives them); used unless sending what
                is queued has to wait first.

        Returns False when the connection is over (EOF handled, deadline
        fired and answered, shutdown of an idle connection, or an error event
        queued).
        """
        conn = self.conn
        clock = self.config.clock
        queued = self._out
        if queued:
            # ``flush`` inlined: this runs once per request.
            held = queued[0] if len(queued) == 1 else b"".join(queued)
            queued.clear()
            nowait = self._send_nowait
            try:
                # ``send``'s first try inlined: the write that never waits.
                sent = nowait(held) if nowait is not None else 0
            except OSError:
                self.closed = True
                return False
            if sent < len(held):
                known = None  # the state may move while the send waits
                try:
                    await self.send(held[sent:])
                except ClientDisconnected:
                    return False
        while True:
            if known is not None:
                state, deadline = known
                known = None
            else:
                state = conn.action
                deadline = conn.next_deadline()
            if state is Action.CLOSE or (idle and state is Action.UPGRADE):
                # UPGRADE between requests: the app switched protocols but
                # did not take the connection; nothing sensible can follow.
                return False
            data: bytes | None = None
            wait = math.inf if deadline is None else self.config.timeout_for(deadline, clock())
            if wait > 0:
                if idle and self._receive_ready is not None:
                    # Bytes already there need no deadline (see ReceiveReady);
                    # shutdown still wakes the checkpoint through the scope.
                    self._read_scope = self.scope
                    try:
                        data = await self._receive_ready()
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                        data = b""
                    finally:
                        self._read_scope = None
                    if data is None and deadline is not None:
                        # Other tasks ran at the checkpoint: wait from now.
                        wait = self.config.timeout_for(deadline, clock())
                if data is not None or wait <= 0:
                    pass
                elif idle:
                    # The connection's scope bounds the read: with a loop
                    # timer the stream offers (CallLater), armed only when
                    # the deadline moves earlier; else with the scope's own
                    # deadline moved there and back (a fraction of the cost
                    # of a new scope; untouched without a deadline).
                    scope = self.scope
                    assert scope is not None
                    timed = False
                    if self._call_later is not None:
                        # _arm_alarm's own test, ahead of the call: an armed
                        # alarm nearly always stands (once per request).
                        if deadline is not None and deadline < self._alarm_at:
                            self._arm_alarm(deadline, wait)
                    elif wait != math.inf:
                        timed = True
                        scope.deadline = anyio.current_time() + wait
                    self._read_scope = scope
                    try:
                        data = await self.stream.receive()
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                        data = b""
                    finally:
                        self._read_scope = None
                        if timed:
                            # The handler that follows runs in this scope.
                            scope.deadline = math.inf
                    if scope.cancel_called:
                        self.scope_cancelled = True
                else:
                    # A fresh scope per body read: shutdown cancels it to
                    # wake us, and the deadline bounds it (math.inf: no timer).
                    scope = anyio.CancelScope(
                        deadline=anyio.current_time() + wait if wait != math.inf else math.inf
                    )
                    self._read_scope = scope
                    try:
                        with scope:
                            data = await self._receive()
                    finally:
                        self._read_scope = None
                    if scope.cancel_called and data is None and not _deadline_due(conn, clock()):
                        continue  # woken by shutdown: look at the state again
            if data is None:
                action, out = conn.on_deadline(clock(), default_headers())
                if action is DeadlineAction.NOTHING:
                    continue
                if self.connections is not None and self.connections.shutting_down:
                    self.connections.forced += 1
                if out:
                    try:
                        await self.send(out)
                    except ClientDisconnected:
                        pass
                return False
            if _closing(conn):
                # The read completed just as shutdown closed this idle
                # connection (asyncio may deliver both): drop the bytes.
                return False
            self.pending.extend(conn.receive_data(data, clock()))
            return bool(data)

    async def _receive(self) -> bytes | None:
        try:
            return await self.stream.receive()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return b""


def _closing(conn: ServerConnection) -> bool:
    # A function, so the type checker does not carry a narrowing of
    # ``conn.action`` across the await that may change it.
    return conn.action is Action.CLOSE


def _deadline_due(conn: ServerConnection, now: float) -> bool:
    deadline = conn.next_deadline()
    return deadline is not None and deadline <= now


async def serve_connection(
    stream: ByteStream,
    app: Application,
    config: ServerConfig,
    *,
    remote: tuple[str, int] | str | None = None,
    scheme: str = "http",
    connections: ConnectionSet | None = None,
) -> None:
    """Serve HTTP/1.1 on ``stream`` until the connection ends.

    Args:
        stream: the connection's bytes.
        app: the application answering requests.
        config: settings shared by the server's connections.
        remote: the peer address, for ``request.remote`` and the access log.
        scheme: ``"http"`` or ``"https"``.
        connections: the server's live connections; this one joins it (for
            the cap and shutdown) and leaves when it ends. Beyond the cap it
            is answered ``503`` and closed without reading a byte.

    Never raises for anything the peer does; the stream is closed on return.
    """
    loop = _ConnectionLoop(stream, config, remote, scheme)
    conn = loop.conn
    loop.connections = connections
    if connections is not None and not connections.admit(loop):
        with anyio.CancelScope(shield=True):
            try:
                await stream.send(overload_response())
            except Exception:
                pass
            try:
                await stream.aclose()
            except Exception:
                pass
        return
    seq = 0
    # The core's action and deadline as after_response gave them, for the
    # read that follows a response (read_more asks the core otherwise).
    known: tuple[Action, float | None] | None = None
    try:
        running = True
        while running:
            scope = loop.scope = anyio.CancelScope()
            loop.scope_cancelled = False
            with scope:
                while True:
                    if not loop.pending:
                        # read_more returns False at once when the core says
                        # CLOSE, or UPGRADE without a taker.
                        # Taken before the read: a shutdown cancelling it
                        # brings the loop back here to ask the core afresh.
                        asked, known = known, None
                        more = await loop.read_more(True, asked)
                        if not more and not loop.pending:
                            running = False
                            break
                        if loop.scope_cancelled:
                            # A deadline or shutdown hit as the read completed:
                            # the scope would cancel the handler; take a new one.
                            break
                        continue
                    event = loop.pending.popleft()
                    if isinstance(event, RequestHead):
                        seq += 1
                        channel = StreamChannel(loop)
                        try:
                            if loop._out:
                                # Earlier responses leave before this handler
                                # runs: a slow handler must not hold them back.
                                await loop.flush()
                            if config.request_timeout is None:
                                # ``_run_handler`` inlined: one coroutine less per request.
                                await handle_request(app, event, channel, seq)
                            else:
                                await _run_handler(app, event, channel, seq, config)
                        except (ClientDisconnected, _AbortConnection):
                            running = False
                            break
                        if config.access_log:
                            _log_access(remote, event, channel.status)
                        if channel.upgraded or not channel.response_ended:
                            running = False
                            break
                        pending = loop.pending
                        if pending and type(pending[0]) is RequestEnd:
                            pending.popleft()  # the common case of the call below
                        else:
                            _discard_current_request(loop)
                        events, action, deadline = conn.after_response(config.clock())
                        if events:
                            pending.extend(events)
                        elif not pending:
                            known = (action, deadline)
                    elif isinstance(event, RequestRejected):
                        server_logger.info("rejected request from %s: %s", remote, event.reason)
                        try:
                            await loop.send(conn.send_error(event, default_headers()))
                        except ClientDisconnected:
                            pass
                        running = False
                        break
                    elif isinstance(event, Upgrade):
                        # The app switched protocols but did not take the connection.
                        running = False
                        break
                    # Stray BodyData / RequestEnd of a request already answered are
                    # dropped by _discard_current_request; nothing else to do here.
        if not loop.closed:
            try:
                await loop.flush()
            except ClientDisconnected:
                pass
    finally:
        if connections is not None:
            connections.discard(loop)
        loop.closed = True
        loop.cancel_alarm()
        with anyio.CancelScope(shield=True):
            try:
                await stream.aclose()
            except Exception:
                pass


async def _run_handler(
    app: Application, head: RequestHead, channel: HandlerChannel, seq: int, config: ServerConfig
) -> None:
    if config.request_timeout is None:
        await handle_request(app, head, channel, seq)
        return
    with anyio.move_on_after(config.request_timeout) as scope:
        token = _handler_scope.set(scope)
        try:
            await handle_request(app, head, channel, seq)
        finally:
            _handler_scope.reset(token)
    if scope.cancelled_caught:
        server_logger.error("handler for %r timed out", head.target)
        config.counters.add("handler-timeout", 503)
        if channel.response_started:
            raise _AbortConnection
        channel.send_response(
            503,
            [(b"content-type", b"text/plain; charset=utf-8")],
            b"503 Service Unavailable",
            None,
        )


def _discard_current_request(loop: _ConnectionLoop) -> None:
    """Drop already-parsed body events the app did not read; stop at its end."""
    pending = loop.pending
    while pending and isinstance(pending[0], BodyData | RequestEnd):
        event = pending.popleft()
        if isinstance(event, RequestEnd):
            break


def _log_access(remote: tuple[str, int] | str | None, head: RequestHead, status: int) -> None:
    peer = remote[0] if isinstance(remote, tuple) else (remote or "-")
    access_logger.info(
        '%s "%s %s HTTP/%s" %d',
        peer,
        head.method.decode("ascii", "replace"),
        head.target.decode("latin-1"),
        head.http_version.decode("ascii", "replace"),
        status,
    )
