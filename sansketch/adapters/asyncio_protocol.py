"""The fast driver: an ``asyncio.Protocol`` (uvloop when asked) feeding the core.

Theory of operation
-------------------
Push style. ``data_received`` hands bytes to the core and dispatches the
events at once; there is no reader task. A request is answered by
``handle_request`` with a ``_ProtocolChannel``, started at once inside
``data_received`` through the connection's ``TaskHost`` (``_task_host.py``):
a handler that never waits answers before ``data_received`` returns, with no
task made and no trip through the loop; one that waits goes on in the
connection's long-lived host task. Requests on a connection are answered
strictly in order because the core holds pipelined requests back until the
current response ends (``conn.next_events``). The same run then answers the
next held request, if one is ready: no task per pipelined request.

Invariants:

- at most one handler task per connection (``_channel`` is its channel);
- body bytes of the in-flight request wait in the channel's buffer; when more
  than ``_HIGH_WATER`` bytes are unread, or the core says ``Action.PAUSE``,
  the transport stops reading; it resumes when the app catches up;
- writes are synchronous ``transport.write`` calls. A whole response (or
  the responses of a pipelined burst answered without suspending) smaller
  than ``_FLUSH_SIZE`` is held back in ``_out`` and written at the end of
  the loop turn (``_State.flush_all``, one ``call_soon`` per turn), so the
  responses of all the connections served in one turn leave back to back:
  a client waiting on many connections is woken once per turn, not once
  per connection, which saves the kernel most of its work of waking it. A
  held response goes out before anything else is written on its
  connection, before a handler waits for anything, and before a close, a
  sendfile or a protocol switch. A channel write awaits a drain only while
  the transport has called ``pause_writing``;
- one timer per connection, armed from ``conn.next_deadline()``. It is re-armed
  only when the deadline moves earlier: a timer that fires early finds the
  deadline moved and re-arms, which costs less than re-arming per request.

Shutdown (``AsyncioProtocolServer.shutdown``) stops listening, calls
``conn.start_shutdown`` on every connection (idle ones close at once), waits
for the rest up to a timeout, then aborts what is left and reports how many.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import socket
import types
from collections import deque
from collections.abc import Coroutine, Generator, Iterable
from typing import TYPE_CHECKING, Any, cast

from .._channel import ClientDisconnected, RawHeaders, UpgradedStream
from .._date import default_headers, with_default_headers
from .._framing import ResponseFraming
from .._server import (
    ConnectionSet,
    ServerConfig,
    _AbortConnection,
    _log_access,
    _run_handler,
    handle_request,
    lift_request_timeout,
    overload_response,
    server_logger,
)
from ..protocol import (
    Action,
    BodyData,
    DeadlineAction,
    Event,
    LocalProtocolError,
    RequestEnd,
    RequestHead,
    RequestRejected,
    ServerConnection,
    Upgrade,
)
from ._asyncio_server import AsyncioServerBase
from ._task_host import FINISHED, TaskHost, finish_in_context

if TYPE_CHECKING:
    from ..app import Application

__all__ = ["AsyncioProtocolServer", "HttpProtocol"]

_READ = Action.READ
_READ_SIZE = 65536
# Unread request body the driver buffers before it stops reading the socket.
_HIGH_WATER = 256 * 1024
_LOW_WATER = 64 * 1024
# Response bytes the driver holds back to coalesce into one write; more is
# written at once, so the transport's own flow control still applies.
_FLUSH_SIZE = 64 * 1024


class _State:
    """What every connection of one server shares."""

    __slots__ = ("app", "config", "connections", "loop", "unflushed")

    def __init__(
        self,
        app: Application,
        config: ServerConfig,
        connections: ConnectionSet,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.app = app
        self.config = config
        self.connections = connections
        self.loop = loop
        self.unflushed: list[HttpProtocol] = []

    def flush_all(self) -> None:
        """Write out what every connection held back during this loop turn."""
        unflushed = self.unflushed
        self.unflushed = []
        for proto in unflushed:
            proto._flush_due = False
            proto._flush()


class HttpProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection: socket events in, core events out."""

    __slots__ = (
        "_buffering",
        "_channel",
        "_closed",
        "_conn",
        "_context",
        "_drain_waiter",
        "_flush_due",
        "_host",
        "_loop",
        "_next",
        "_out",
        "_out_size",
        "_paused_for_body",
        "_paused_for_core",
        "_pending",
        "_running",
        "_send_backlog",
        "_send_timer",
        "_seq",
        "_state",
        "_task",
        "_timer",
        "_timer_when",
        "_transport",
        "_upgrade",
        "_write_paused",
        "remote",
        "scheme",
    )

    def __init__(self, state: _State) -> None:
        self._state = state
        self._loop = state.loop
        # ``now``: a connection that never sends a byte is idle from here.
        self._conn = ServerConnection(
            state.config.limits, now=state.loop.time(), counters=state.config.counters
        )
        # The context each request starts from (a copy of it), as if each
        # had a task of its own created when the connection was accepted.
        self._context = contextvars.copy_context()
        self._transport: asyncio.Transport | None = None
        self._channel: _ProtocolChannel | None = None
        self._task: asyncio.Task[None] | None = None
        self._host: TaskHost | None = None
        self._pending: deque[Event] = deque()
        self._out: list[bytes] = []
        self._out_size = 0
        self._flush_due = False
        self._buffering = False
        self._running = False
        self._next: _ProtocolChannel | None = None
        self._closed = False
        self._write_paused = False
        self._send_timer: asyncio.TimerHandle | None = None
        self._send_backlog = 0
        self._drain_waiter: asyncio.Future[None] | None = None
        self._paused_for_body = False
        self._paused_for_core = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._seq = 0
        self._upgrade: _UpgradedProtocolStream | None = None
        self.remote: tuple[str, int] | str | None = None
        self.scheme = "http"

    # -- asyncio.Protocol -----------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        if not self._state.connections.admit(self):
            self._closed = True
            transport.write(overload_response())
            transport.close()
            return
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.remote = (str(peer[0]), int(peer[1]))
        elif peer:
            self.remote = str(peer)
        if transport.get_extra_info("sslcontext") is not None:
            self.scheme = "https"
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self._update_timer()

    def data_received(self, data: bytes) -> None:
        if self._upgrade is not None:
            self._upgrade.feed(data)
            return
        if self._closed:
            return
        events = self._conn.receive_data(data, self._loop.time())
        if events:
            if (
                len(events) == 2
                and self._channel is None
                and type(events[0]) is RequestHead
                and type(events[1]) is RequestEnd
            ):
                # The common case: one whole request without a body.
                self._start(events[0], events[1].trailers)
                if self._channel is None:
                    # Answered at once: _finish_request has acted on the
                    # core's state and re-armed the timer.
                    return
            else:
                self._dispatch(events)
        if self._conn.action is _READ and not self._paused_for_core:
            if self._channel is None and not self._closed:
                self._update_timer()
        else:
            self._after_input()

    def eof_received(self) -> bool:
        if self._upgrade is not None:
            self._upgrade.feed(b"")
            return True
        if self._closed:
            return False
        events = self._conn.receive_data(b"", self._loop.time())
        if events:
            self._dispatch(events)
        if self._channel is not None:
            self._channel.peer_closed()
        self._after_input()
        # Keep the transport half-open: a handler in flight may still answer.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        self._state.connections.discard(self)
        if self._host is not None:
            self._host.close()
        if self._channel is not None:
            self._channel.peer_closed()
        if self._upgrade is not None:
            self._upgrade.feed(b"")
        self._wake_drain(ClientDisconnected("connection lost"))

    def pause_writing(self) -> None:
        self._write_paused = True
        timeout = self._state.config.send_timeout
        if timeout is not None and self._send_timer is None:
            self._arm_send_timer(timeout)

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        self._wake_drain(None)

    def _arm_send_timer(self, timeout: float) -> None:
        transport = self._transport
        self._send_backlog = transport.get_write_buffer_size() if transport is not None else 0
        self._send_timer = self._loop.call_later(timeout, self._on_send_timeout, timeout)

    def _on_send_timeout(self, timeout: float) -> None:
        # As nginx's send_timeout: only a wait without any progress counts,
        # so a slow but steady reader keeps its connection.
        self._send_timer = None
        transport = self._transport
        if self._closed or transport is None or not self._write_paused:
            return
        if transport.get_write_buffer_size() < self._send_backlog:
            self._arm_send_timer(timeout)
            return
        self._state.config.counters.add("send-timeout", 0)
        server_logger.info("dropping %s: it stopped reading (send timeout)", self.remote)
        self._abort()

    # -- writing ----------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Write to the transport; a closed one becomes ``ClientDisconnected``."""
        # _closed is set by _close/_abort and connection_lost; a transport
        # whose send failed (a reset) is closing before connection_lost runs,
        # and asyncio would drop each further write with a logged warning.
        if self._closed or self._transport.is_closing():  # type: ignore[union-attr]
            raise ClientDisconnected("client went away while we were writing")
        if self._buffering:
            self._out.append(data)
            self._out_size += len(data)
            if self._out_size >= _FLUSH_SIZE:
                self._flush()
            return
        if self._out:
            self._flush()
        self._transport.write(data)  # type: ignore[union-attr]

    def _flush(self) -> None:
        """Write out the response bytes held back by ``write`` (in order)."""
        out = self._out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            self._out_size = 0
            transport = self._transport
            if not self._closed and transport is not None and not transport.is_closing():
                transport.write(data)

    def _flush_later(self) -> None:
        """Write out what is held back at the end of this loop turn."""
        if not self._flush_due:
            self._flush_due = True
            state = self._state
            unflushed = state.unflushed
            if not unflushed:
                self._loop.call_soon(state.flush_all)
            unflushed.append(self)

    @types.coroutine
    def _flushing(self, coro: Coroutine[Any, Any, None]) -> Generator[Any, Any, None]:
        """``await coro``, writing out held-back bytes whenever it suspends.

        ``coro`` answers a burst of pipelined requests: while it runs
        without suspending, its writes are held back and go out in one
        ``transport.write``; once a handler waits for anything, what was
        written so far must not wait with it.
        """
        value: Any = None
        error: BaseException | None = None
        try:
            while True:
                # After a protocol switch (take_over) writes go straight out.
                self._buffering = self._upgrade is None
                try:
                    step = coro.send(value) if error is None else coro.throw(error)
                except StopIteration:
                    return
                self._buffering = False
                self._flush()
                try:
                    value = yield step
                    error = None
                except GeneratorExit:
                    coro.close()
                    raise
                except BaseException as exc:  # a cancellation, thrown into coro
                    value = None
                    error = exc
        finally:
            self._buffering = False

    async def wait_writable(self) -> None:
        """Wait while the transport's write buffer is over its high-water mark.

        The send timer armed in ``pause_writing`` drops a client that stops
        reading; the wait then ends with ``ClientDisconnected``.
        """
        while self._write_paused:
            if self._closed:
                raise ClientDisconnected("client went away while we were writing")
            if self._drain_waiter is None or self._drain_waiter.done():
                self._drain_waiter = self._loop.create_future()
            await self._drain_waiter

    async def write_file(self, fileno: int, offset: int, count: int) -> None:
        """Write ``count`` raw bytes of a file (already framed by the caller)."""
        loop = self._loop
        transport = self._transport
        self._flush()
        if transport is not None:
            # loop.sendfile seeks the file object; keep the caller's fd as is.
            with open(os.dup(fileno), "rb") as file:
                try:
                    # fallback=True: the loop reads and writes in pieces
                    # itself where sendfile(2) does not apply (e.g. TLS).
                    await loop.sendfile(transport, file, offset, count, fallback=True)
                    return
                except NotImplementedError:
                    pass  # uvloop: the loop has no sendfile at all; nothing was sent
                except (OSError, RuntimeError) as exc:
                    raise ClientDisconnected("client went away during sendfile") from exc
        while count > 0:
            chunk = await loop.run_in_executor(
                None, os.pread, fileno, min(count, _READ_SIZE), offset
            )
            if not chunk:
                raise LocalProtocolError("file shrank while being sent")
            offset += len(chunk)
            count -= len(chunk)
            self.write(chunk)
            if self._write_paused:
                await self.wait_writable()

    def _wake_drain(self, exc: Exception | None) -> None:
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)
                # Nobody may be waiting any more; do not warn about it.
                waiter.exception()
        self._drain_waiter = None

    # -- events -------------------------------------------------------------------
    def _dispatch(self, events: Iterable[Event]) -> None:
        for event in events:
            channel = self._channel
            if channel is not None:
                if isinstance(event, BodyData):
                    channel.feed(event.data)
                    continue
                if isinstance(event, RequestEnd):
                    channel.end(event.trailers)
                    continue
                if isinstance(event, RequestRejected) and not channel.body_done:
                    # The body broke mid-request: the handler sees a
                    # disconnect; the error is answered once it returns.
                    channel.peer_closed()
                self._pending.append(event)
                continue
            if isinstance(event, RequestHead):
                self._start(event)
            elif isinstance(event, BodyData | RequestEnd):
                pass  # unread body of a request already answered: dropped
            elif isinstance(event, RequestRejected):
                self._reject(event)
                return
            elif isinstance(event, Upgrade):
                # A protocol switch nobody took over.
                self._close()
                return

    def _start(self, head: RequestHead, trailers: RawHeaders | None = None) -> None:
        """Answer the request of ``head``; ``trailers``: it came whole, no body."""
        self._seq += 1
        channel = _ProtocolChannel(self, head, self._seq, trailers)
        self._channel = channel
        if self._running:
            # The handler task is finishing the previous request: it runs
            # this one next, with no new task and no trip through the loop.
            self._next = channel
            return
        host = self._host
        if host is None:
            host = self._host = TaskHost(self._loop)
        # Runs at once; a handler that never waits is answered right here.
        task = host.start(self._run(channel))
        if task is not None:
            self._task = task

    async def _run(self, channel: _ProtocolChannel | None) -> None:
        """Answer ``channel``'s request, then each pipelined one ready after it.

        Responses of requests answered without suspending are held back
        and written together at the end of the loop turn (at once when a
        handler waits for anything): one ``transport.write`` per burst.
        """
        state = self._state
        app = state.app
        config = state.config
        conn = self._conn
        first = True
        while channel is not None:
            if not self._buffering and (self._out or conn.has_pipelined()):
                # Requests follow this one: from here on every response is
                # held back, each request starts from a fresh context, and
                # the next one comes straight from the core (start_pipelined).
                await self._flushing(self._run(channel))
                return
            head = channel.head
            try:
                if config.request_timeout is None:
                    answer = handle_request(app, head, channel, channel.seq)
                else:
                    answer = _run_handler(app, head, channel, channel.seq, config)
                if first:
                    first = False
                    await answer
                else:
                    # A context of its own, as if it had its own task: a
                    # context variable one handler sets never reaches the
                    # next request. Most handlers end in their first step.
                    context = self._context.copy()
                    step = context.run(next, answer.__await__(), FINISHED)
                    if step is not FINISHED:
                        await finish_in_context(context, answer, step)
            except (ClientDisconnected, _AbortConnection):
                self._abort()
                return
            except asyncio.CancelledError:
                self._abort()
                raise
            except LocalProtocolError as exc:
                # Only reachable when even the 500 could not be framed.
                server_logger.error("could not answer %r: %s", head.target, exc)
                self._abort()
                return
            if config.access_log:
                _log_access(self.remote, head, channel.status)
            if channel.upgraded or not channel.response_ended:
                self._close()
                return
            if self._write_paused and not self._closed:
                self._flush()
                try:
                    await self.wait_writable()
                except ClientDisconnected:
                    self._abort()
                    return
            if self._buffering and not (
                self._pending or self._paused_for_body or self._paused_for_core or self._closed
            ):
                # The next request of a pipelined burst (this run holds its
                # responses back), in one call: when the core starts it,
                # reading goes on and no timer is due, which is what
                # _finish_request would find out.
                following = conn.start_pipelined()
                if following is not None:
                    self._seq += 1
                    channel = self._channel = _ProtocolChannel(self, following, self._seq, ())
                    continue
            self._running = True
            self._finish_request(channel)
            self._running = False
            channel = self._next
            self._next = None
        self._task = None
        if self._out and not self._flush_due:
            self._flush_later()

    def _finish_request(self, channel: _ProtocolChannel) -> None:
        self._channel = None
        if self._closed:
            return
        if self._paused_for_body:
            self._paused_for_body = False
            self._resume_reading()
        pending = self._pending
        if pending:
            events = list(pending)
            pending.clear()
            self._dispatch(events)
        conn = self._conn
        if self._channel is None and not self._closed:
            events, action, deadline = conn.after_response(self._loop.time())
            if not events:
                # _after_input, with its common case (keep reading) inlined.
                if action is _READ and not self._paused_for_core:
                    # _update_timer's common case inlined: the idle deadline
                    # after a response is later than the timer already armed.
                    if deadline is not None and (
                        self._timer is None or deadline < self._timer_when
                    ):
                        self._update_timer()
                    return
            elif (
                len(events) == 2
                and type(events[0]) is RequestHead
                and type(events[1]) is RequestEnd
                and self._channel is None
            ):
                # A whole pipelined request without a body, the common case.
                self._start(events[0], events[1].trailers)
                if action is _READ and not self._paused_for_core:
                    return  # a request in hand: no timer to arm
            else:
                self._dispatch(events)
        self._after_input()

    def _reject(self, event: RequestRejected) -> None:
        server_logger.info("rejected request from %s: %s", self.remote, event.reason)
        try:
            self.write(self._conn.send_error(event, default_headers()))
        except (ClientDisconnected, LocalProtocolError):
            pass
        self._close()

    def _after_input(self) -> None:
        """Act on ``conn.action`` and re-arm the timer after the core moved."""
        if self._closed:
            return
        action = self._conn.action
        if action is Action.CLOSE:
            if self._channel is None:
                self._close()
                return
        elif action is Action.PAUSE:
            if not self._paused_for_core:
                self._paused_for_core = True
                self._pause_reading()
        elif self._paused_for_core:
            self._paused_for_core = False
            self._resume_reading()
        if self._channel is None:
            # The core keeps deadlines only between requests (head, idle);
            # the shutdown drain is armed by begin_shutdown.
            self._update_timer()

    def _pause_reading(self) -> None:
        if self._transport is not None and self._transport.is_reading():
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._paused_for_body or self._paused_for_core or self._closed:
            return
        if self._transport is not None and not self._transport.is_reading():
            self._transport.resume_reading()

    def body_buffered(self, size: int) -> None:
        """The in-flight request's unread body grew to ``size`` bytes."""
        if size > _HIGH_WATER and not self._paused_for_body:
            self._paused_for_body = True
            self._pause_reading()

    def body_consumed(self, size: int) -> None:
        """The app read the body down to ``size`` unread bytes."""
        if self._paused_for_body and size < _LOW_WATER:
            self._paused_for_body = False
            self._resume_reading()

    # -- time ---------------------------------------------------------------------
    def _update_timer(self) -> None:
        deadline = self._conn.next_deadline()
        if deadline is None:
            return  # an armed timer fires harmlessly and finds nothing to do
        timer = self._timer
        if timer is not None:
            if self._timer_when <= deadline:
                return
            timer.cancel()
        self._timer_when = deadline
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed:
            return
        now = self._loop.time()
        deadline = self._conn.next_deadline()
        if deadline is None:
            return
        if deadline > now:
            self._update_timer()
            return
        action, out = self._conn.on_deadline(now, default_headers())
        if action is DeadlineAction.NOTHING:
            self._update_timer()
            return
        if out:
            try:
                self.write(out)
            except ClientDisconnected:
                pass
        if self._state.connections.shutting_down:
            self._state.connections.forced += 1  # the drain deadline passed
        if self._task is not None:
            self._task.cancel()
        self._close()

    # -- ending ---------------------------------------------------------------------
    def begin_shutdown(self) -> None:
        """Drain: idle connections close now, a request in flight finishes."""
        if self._closed:
            return
        self._conn.start_shutdown(self._loop.time())
        if self._upgrade is not None:
            return  # not HTTP any more: it ends with its handler or the timeout
        self._update_timer()
        self._after_input()

    def _close(self) -> None:
        if not self._closed:
            self._flush()
            self._closed = True
            if self._transport is not None:
                self._transport.close()

    def _abort(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.abort()

    def force_close(self) -> None:
        """Shutdown timed out: drop the connection and cancel its handler."""
        if self._task is not None:
            self._task.cancel()
        self._abort()

    # -- protocol switch ------------------------------------------------------------
    def take_over(self) -> tuple[UpgradedStream, bytes]:
        """Stop speaking HTTP; return the raw stream and the bytes that followed."""
        # The 101 goes out now, and the new protocol's writes go straight out.
        self._buffering = False
        self._flush()
        data = b""
        events = list(self._pending)
        self._pending.clear()
        events.extend(self._conn.next_events(self._loop.time()))
        for event in events:
            if isinstance(event, Upgrade):
                data += event.data
        self._paused_for_body = self._paused_for_core = False
        stream = _UpgradedProtocolStream(self)
        self._upgrade = stream
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._resume_reading()
        return stream, data


class _ProtocolChannel(ResponseFraming):
    """The ``Channel`` of the request in flight on an ``HttpProtocol``."""

    __slots__ = (
        "_accepted",
        "_body",
        "_buffered",
        "_proto",
        "_trailers",
        "_waiter",
        "body_done",
        "disconnected",
        "head",
        "seq",
        "upgraded",
    )

    def __init__(
        self, proto: HttpProtocol, head: RequestHead, seq: int, trailers: RawHeaders | None
    ) -> None:
        self._proto = proto
        self._conn = proto._conn
        self.head = head
        self.seq = seq
        self._body: deque[bytes] | None = None  # made when body bytes come
        self._buffered = 0
        # trailers: the request came whole, with no body (None: body to come).
        self._trailers: RawHeaders = trailers if trailers is not None else ()
        self._waiter: asyncio.Future[None] | None = None
        self._accepted = False
        self._head_bytes = b""
        self.body_done = trailers is not None
        self.disconnected = False
        self.response_started = False
        self.response_ended = False
        self.status = 0
        self.upgraded = False

    @property
    def remote(self) -> tuple[str, int] | str | None:
        """The connection's peer address."""
        return self._proto.remote

    @property
    def scheme(self) -> str:
        """The connection's scheme."""
        return self._proto.scheme

    # -- fed by the protocol --------------------------------------------------------
    def feed(self, data: bytes) -> None:
        if data:
            if self._body is None:
                self._body = deque()
            self._body.append(data)
            self._buffered += len(data)
            self._proto.body_buffered(self._buffered)
            self._wake()

    def end(self, trailers: RawHeaders) -> None:
        self.body_done = True
        self._trailers = trailers
        self._wake()

    def peer_closed(self) -> None:
        self.disconnected = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- Channel: request body ------------------------------------------------------
    async def receive_body(self) -> bytes:
        """Next piece of the body; ``b""`` when it is complete."""
        if not self._accepted:
            self._accepted = True
            if not self.response_started and not self.body_done:
                continue_bytes = self._conn.accept_body()
                if continue_bytes:
                    self._proto.write(continue_bytes)
        while True:
            body = self._body
            if body:
                data = body.popleft()
                self._buffered -= len(data)
                self._proto.body_consumed(self._buffered)
                return data
            if self.body_done:
                return b""
            if self.disconnected:
                raise ClientDisconnected("client closed the connection mid-body")
            waiter = self._proto._loop.create_future()
            self._waiter = waiter
            await waiter

    def trailers(self) -> RawHeaders:
        """Trailers of a chunked body, once it has been read to the end."""
        return self._trailers

    # -- Channel: response ------------------------------------------------------------
    async def send_body(self, data: bytes) -> None:
        """Write body bytes (coalesced with a pending head), minding flow control."""
        out = self._framed_body(data)
        if out:
            self._proto.write(out)
            if self._proto._write_paused:
                await self._proto.wait_writable()

    async def send_end(self, trailers: RawHeaders | None = None) -> None:
        """Finish the response."""
        out = self._framed_end(trailers)
        if out:
            self._proto.write(out)

    def send_response(
        self, status: int, headers: RawHeaders, body: bytes, reason: bytes | None
    ) -> None:
        """A whole response in one ``transport.write`` (or the burst's)."""
        proto = self._proto
        out = self._conn.send_response(status, with_default_headers(headers), body, reason)
        self.response_started = True
        self.response_ended = True
        self.status = status
        if proto._buffering or proto._out or proto._closed:
            proto.write(out)
            return
        # HttpProtocol.write's common case (nothing held back), inlined: it
        # runs once per request.
        transport = proto._transport
        if transport is None or transport.is_closing():
            raise ClientDisconnected("client went away while we were writing")
        size = len(out)
        if size >= _FLUSH_SIZE:
            transport.write(out)
            return
        # Held to the end of this loop turn (see the module's docstring);
        # _flush_later, inlined: it runs once per request.
        proto._out.append(out)
        proto._out_size = size
        if not proto._flush_due:
            proto._flush_due = True
            state = proto._state
            unflushed = state.unflushed
            if not unflushed:
                proto._loop.call_soon(state.flush_all)
            unflushed.append(proto)

    async def sendfile(self, fd: int | os.PathLike[str] | str, offset: int, count: int) -> None:
        """Write ``count`` bytes of a file from ``offset`` as body bytes.

        The core frames the whole range at once (``frame_body``); the bytes
        go out with ``loop.sendfile`` (``sendfile(2)``) where the loop has
        it, else in pieces read off the loop's thread.
        """
        proto = self._proto
        conn = self._conn
        if count <= 0 or not conn.response_has_body:
            if self._head_bytes:
                proto.write(self._head_bytes)
                self._head_bytes = b""
            return
        prefix, suffix = conn.frame_body(count)
        first = self._head_bytes + prefix
        self._head_bytes = b""
        if first:
            proto.write(first)
        opened = not isinstance(fd, int)
        fileno = os.open(fd, os.O_RDONLY) if not isinstance(fd, int) else fd
        try:
            await proto.write_file(fileno, offset, count)
        finally:
            if opened:
                os.close(fileno)
        if suffix:
            proto.write(suffix)
        if proto._write_paused:
            await proto.wait_writable()

    # -- protocol switch ----------------------------------------------------------------
    async def upgrade(self) -> tuple[UpgradedStream, bytes]:
        """Take over the connection after a 101 (or 2xx to CONNECT) response.

        Raises:
            RuntimeError: the response was not a completed protocol switch.
        """
        if self.upgraded or not self.response_ended or self._conn.action is not Action.UPGRADE:
            raise RuntimeError("upgrade() needs a completed 101 (or 2xx to CONNECT) response")
        self.upgraded = True
        lift_request_timeout()
        return self._proto.take_over()


class _UpgradedProtocolStream:
    """The raw connection of an ``HttpProtocol`` after a protocol switch."""

    __slots__ = ("_buffer", "_eof", "_loop", "_paused", "_proto", "_waiter")

    def __init__(self, proto: HttpProtocol) -> None:
        self._proto = proto
        self._loop = proto._loop
        self._buffer: deque[bytes] = deque()
        self._eof = False
        self._paused = False
        self._waiter: asyncio.Future[bytes] | None = None

    def feed(self, data: bytes) -> None:
        if not data:
            self._eof = True
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():  # else the reader was cancelled: keep the bytes
                waiter.set_result(data)
                return
        if data:
            self._buffer.append(data)
            if len(self._buffer) > 16:
                self._paused = True
                self._proto._pause_reading()

    def receive(self) -> asyncio.Future[bytes]:
        """Bytes from the peer; ``b""`` once it closed (await the result).

        A future rather than a coroutine: a waiting reader gets the bytes
        straight from ``feed``, a coroutine less per message.
        """
        waiter = self._loop.create_future()
        if self._buffer:
            waiter.set_result(self._buffer.popleft())
            if self._paused and not self._buffer:
                self._paused = False
                self._proto._resume_reading()
        elif self._eof or self._proto._closed:
            waiter.set_result(b"")
        else:
            self._waiter = waiter
        return waiter

    async def send(self, data: bytes) -> None:
        """Write all of ``data``, waiting while the transport is congested."""
        proto = self._proto
        proto.write(data)
        if proto._write_paused:  # a coroutine less per message otherwise
            await proto.wait_writable()

    def send_nowait(self, data: bytes) -> bool:
        """Write ``data`` now; ``False`` if the sender must then ``await wait_writable()``.

        ``send`` without its coroutine, for a WebSocket's messages.

        Raises:
            ClientDisconnected: the connection is closed.
        """
        proto = self._proto
        transport = proto._transport
        # HttpProtocol.write without its call: after take_over nothing is
        # held back (no buffering, the 101 flushed), so only the closed test.
        if proto._closed or transport is None or transport.is_closing():
            raise ClientDisconnected("client went away while we were writing")
        transport.write(data)
        return not proto._write_paused

    async def wait_writable(self) -> None:
        """Wait while the transport is congested (see ``send_nowait``)."""
        await self._proto.wait_writable()

    async def aclose(self) -> None:
        """Close the connection."""
        self._proto._close()


class AsyncioProtocolServer(AsyncioServerBase):
    """Serves an application on listening sockets with ``HttpProtocol``."""

    async def start(self, sockets: Iterable[socket.socket]) -> None:
        """Start accepting on ``sockets`` (already bound and listening)."""
        loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        state = _State(self.app, self.config, self.connections, loop)

        def factory() -> HttpProtocol:
            return HttpProtocol(state)

        for sock in sockets:
            server: Any
            if sock.family == socket.AF_UNIX:
                server = await loop.create_unix_server(factory, sock=sock)
            else:
                server = await loop.create_server(factory, sock=sock)
            self._servers.append(server)

    async def _force_close_remaining(self) -> int:
        forced = 0
        for proto in self.connections:
            assert isinstance(proto, HttpProtocol)
            forced += 1
            proto.force_close()
        # Let connection_lost and the cancelled handlers run.
        for _ in range(3):
            await asyncio.sleep(0)
        return forced
