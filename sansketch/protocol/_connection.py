"""The server side of one HTTP/1.1 connection.

Theory of operation
-------------------
Bytes go to ``RequestParser`` (``_parser.py``), which parses eagerly and
yields events for every request that arrived. The connection releases only
the events of the request being answered: once that request's
``RequestEnd`` was released, later events are *held* (in ``_held``) until
the response ends, then handed out by ``next_events``. ``_held_bytes``
counts the input that produced held events; past
``limits.max_buffered_bytes`` the driver is told to PAUSE reading.

The answering side follows the table in ``_state.py``; ``_transition`` is
the only place that assigns ``_state``, apart from the per-request hot paths
named there. A response that ends before its
request body arrived either drains the rest of the body silently (when the
remaining length is known and at most ``max_discard_bytes``, flag
``_discarding``) or closes the connection. Time only enters through ``now``
arguments; deadlines are plain numbers derived from the fields at the end
of ``__init__``.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Sequence

from ._counters import RejectionCounters
from ._errors import LocalProtocolError
from ._events import BodyData, Event, Headers, RequestEnd, RequestHead, RequestRejected, Upgrade
from ._limits import Limits
from ._parser import _END, RequestParser
from ._state import TRANSITIONS, State, Trigger
from ._writer import _NAME_KINDS, PLAIN, REASONS, STATUS_LINES, check_trailers, scan, status_line


class Action(enum.Enum):
    """What the driver should do with the socket next (``conn.action``)."""

    READ = "read"  # keep reading and feeding receive_data()
    PAUSE = "pause"  # stop reading until a response completes (buffer full)
    CLOSE = "close"  # write what you hold, then close the socket
    UPGRADE = "upgrade"  # stop HTTP; hand the socket to the new protocol


class DeadlineAction(enum.Enum):
    """What ``on_deadline(now)`` asks the driver to do."""

    NOTHING = "nothing"  # the deadline moved; ask next_deadline() again
    SEND_408_AND_CLOSE = "send_408_and_close"  # write the returned bytes, close
    CLOSE = "close"  # idle keep-alive or drain expired: close silently


# How the body of the response in progress is framed.
_NO_BODY, _LENGTH, _CHUNKED, _UNTIL_CLOSE = 0, 1, 2, 3

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_CLOSE_LINE = b"Connection: close\r\n"
_KEEP_ALIVE_LINE = b"Connection: keep-alive\r\n"
_CHUNKED_LINE = b"Transfer-Encoding: chunked\r\n"
_LAST_CHUNK = b"0\r\n\r\n"
# Final statuses whose response carries a body (RFC 9110 §6.4.1).
_PLAIN_STATUS_LINES = {
    code: line for code, line in STATUS_LINES.items() if code >= 200 and code not in (204, 304)
}
_DEFAULT_LIMITS = Limits()
# States, triggers and actions as module names: reading a member through its
# Enum class costs several times a global lookup, on every per-request path.
_IDLE, _RECV_REQUEST, _SEND_BODY = State.IDLE, State.RECV_REQUEST, State.SEND_BODY
_MUST_CLOSE, _SWITCHED, _ERROR, _CLOSED = (
    State.MUST_CLOSE,
    State.SWITCHED,
    State.ERROR,
    State.CLOSED,
)
_HEAD, _SEND_HEAD, _SWITCH = Trigger.REQUEST_HEAD, Trigger.SEND_HEAD, Trigger.SWITCH
_DONE, _DONE_CLOSE = Trigger.RESPONSE_DONE, Trigger.RESPONSE_DONE_CLOSE
_PEER_ERROR, _CLOSE, _LOCAL_ERROR = Trigger.PEER_ERROR, Trigger.CLOSE, Trigger.LOCAL_ERROR
_READ, _PAUSE, _CLOSE_SOCKET, _UPGRADE = Action.READ, Action.PAUSE, Action.CLOSE, Action.UPGRADE
# The two hot-path transitions, looked up in the table once.
_RECEIVING = TRANSITIONS[_IDLE, _HEAD]
_ANSWERED = TRANSITIONS[_RECV_REQUEST, _DONE]
_DEAD = frozenset((_ERROR, _CLOSED, _MUST_CLOSE))
# (status, headers, body length, head bytes) of the last hot-path response.
_last_head: tuple[int, Sequence[tuple[bytes, bytes]], int, bytes] = (0, [], -1, b"")
_ERROR_STATUSES = (400, 408, 413, 414, 417, 431, 501, 505)


def _error_response(status: int) -> bytes:
    # A fixed text per status: never the client's input, never a traceback.
    body = REASONS.get(status, b"Error") + b"\n"
    return b"%sContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n%s\r\n%s" % (
        status_line(status, None),
        len(body),
        _CLOSE_LINE,
        body,
    )


_ERROR_RESPONSES = {status: _error_response(status) for status in _ERROR_STATUSES}


def _with_extra_headers(
    status: int, response: bytes, headers: Sequence[tuple[bytes, bytes]]
) -> bytes:
    fields = scan(headers, keep_connection=False)
    if fields.content_length is not None or fields.chunked:
        raise LocalProtocolError("an error response frames its own body")
    line = status_line(status, None)
    return line + b"".join(fields.lines) + response[len(line) :]


class ServerConnection:
    """State of one HTTP/1.1 server connection: bytes in, events out.

    Args:
        limits: the bounds to enforce (``Limits()`` by default).
        now: when the connection was accepted; starts the idle timer of a
            connection that never sends a byte. Without it the timer starts
            at the first call that passes ``now``.
        counters: shared security counters; ``send_error`` counts each
            rejection it answers there (``None``: not counted).
    """

    def __init__(
        self,
        limits: Limits | None = None,
        now: float | None = None,
        counters: RejectionCounters | None = None,
    ) -> None:
        self.limits = limits = limits if limits is not None else _DEFAULT_LIMITS
        self.counters = counters
        self._parser = RequestParser(limits)
        # Instance attributes, all set here: reads on the per-request paths
        # are measurably faster than falling back to class-level defaults.
        self._state = _IDLE
        self._held: deque[Event] = deque()
        self._held_bytes = 0
        self._holding = False
        # The request being answered.
        self._req: RequestHead | None = None
        self._req_complete = False
        self._simple = False
        self._fast = False  # _simple, fully received, response not started
        self._received = 0
        self._continue_sent = False
        # The response in progress.
        self._head_sent = False
        self._framing = _NO_BODY
        self._body_ok = False
        self._remaining = 0
        self._will_close = False
        self._discarding = False
        self._upgrade_pending = False
        # Peer, shutdown and time.
        self._peer_closed = False
        self._shutting_down = False
        self._drain_deadline: float | None = None
        self._idle_since: float | None = now
        self._head_started: float | None = None

    def _transition(self, trigger: Trigger) -> None:
        new = TRANSITIONS.get((self._state, trigger))
        if new is None:
            raise LocalProtocolError(f"cannot {trigger.value} in state {self._state.value}")
        self._state = new

    @property
    def state(self) -> State:
        """The answering side's state (see ``_state.py``); for tests and logs."""
        return self._state

    # -- receiving ----------------------------------------------------------
    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Feed bytes read from the socket; ``b""`` means the peer closed.

        Args:
            data: the bytes read, or ``b""`` at end of input.
            now: the driver's monotonic clock.

        Returns:
            The events of the request currently being answered (further
            pipelined requests are held until its response ends; fetch them
            with ``next_events``). After a ``RequestRejected`` nothing more is
            parsed.
        """
        parser = self._parser
        if (
            data == parser._known
            and self._state is _IDLE
            and not self._holding
            and not self._held
            and not self._discarding
            and not (parser.in_message or parser.stopped or parser._pending_method is not None)
        ):
            # Hottest path: a keep-alive read holding exactly the head the
            # parser learnt (see RequestParser.feed), so its events are known.
            # What receive_data and _start_request would do, inlined.
            head = parser._known_head
            if _END.trailers:  # as in RequestParser.on_message_complete
                _END.trailers.clear()
            parser._heads += 1
            self._head_started = self._idle_since = None
            self._state = _RECEIVING
            self._received = 0
            self._continue_sent = False
            if head is not self._req:
                self._req = head
                self._simple = _is_simple(head)
            self._req_complete = self._holding = True
            self._fast = self._simple and not self._shutting_down
            return [head, _END]
        if self._state in _DEAD:
            # Sticky: after an error, or once the connection must close, no
            # more requests are read (RFC 9112 §9.6).
            if not data:
                self._peer_closed = True
            return []
        if not data:
            self._peer_closed = True
            parser.feed_eof()
        else:
            head_was_open = parser.in_head
            parser.feed(data)
            if parser.in_head:
                if not head_was_open:
                    self._head_started = now
            else:
                self._head_started = None
        if self._idle_since is None and self._state is _IDLE:
            self._idle_since = now
        events = parser.events
        if not events:
            return []
        parser.events = []
        if self._holding or self._held:
            self._held.extend(events)
            self._held_bytes += len(data)
            return []
        if (
            len(events) == 2
            and type(events[1]) is RequestEnd
            and type(events[0]) is RequestHead
            and self._state is _IDLE
            and not self._discarding
        ):
            # Hot path: one complete bodyless request (keep-alive).
            # _start_request, inlined (the state is known to be IDLE).
            head = events[0]
            self._state = _RECEIVING
            self._received = 0
            self._continue_sent = False
            self._idle_since = None
            if head is not self._req:
                self._req = head
                self._simple = _is_simple(head)
            self._req_complete = self._holding = True
            self._fast = self._simple and not self._shutting_down
            return events
        return self._release(events, len(data))

    def _release(self, events: list[Event], size: int) -> list[Event]:
        """Hand out events up to the end of the current request; hold the rest."""
        out: list[Event] = []
        for i, event in enumerate(events):
            kind = type(event)
            if self._discarding:
                # The answered request's unread body, drained (RFC 9112 §9.3).
                if kind is BodyData or kind is RequestEnd:
                    if kind is RequestEnd:
                        self._discarding = False
                    continue
                self._discarding = False
            if kind is RequestHead:
                self._start_request(event)  # type: ignore[arg-type]
            elif kind is BodyData:
                self._received += len(event.data)  # type: ignore[union-attr]
            elif kind is RequestEnd:
                self._req_complete = True
                self._holding = True
                self._fast = self._simple and not self._shutting_down
                out.append(event)
                if i + 1 < len(events):
                    self._held.extend(events[i + 1 :])
                    self._held_bytes += size
                return out
            elif kind is RequestRejected:
                self._transition(_PEER_ERROR)
                self._holding = True
                out.append(event)
                return out
            out.append(event)
        return out

    def _start_request(self, head: RequestHead) -> None:
        self._transition(_HEAD)
        self._fast = self._req_complete = False
        self._received = 0
        self._continue_sent = False
        self._idle_since = None
        if head is self._req:
            return  # the parser reused the previous head: same facts
        self._req = head
        self._simple = _is_simple(head)

    def next_events(self, now: float) -> list[Event]:
        """Events that became available without new bytes.

        Call after a response ends: returns the held pipelined request(s),
        or ``[Upgrade(data)]`` once a 101 / CONNECT 2xx response was sent.
        """
        held = self._held
        if len(held) > 1:
            end = held[1]
            head = self.start_pipelined()
            if head is not None:
                return [head, end]
        state = self._state
        if state is _SWITCHED:
            if self._upgrade_pending:
                self._upgrade_pending = False
                parser = self._parser
                data, parser.tail = parser.tail, b""
                return [Upgrade(data)]
            return []
        if state is _IDLE and self._idle_since is None:
            self._idle_since = now
        if self._holding or not held or state is not _IDLE:
            return []
        # Release the held events as if they had just arrived; what follows
        # the next request's end is held again, with the same byte count.
        events = list(held)
        held.clear()
        size, self._held_bytes = self._held_bytes, 0
        return self._release(events, size)

    def start_pipelined(self) -> RequestHead | None:
        """Start the next held request if it is whole, without body or
        trailers, and nothing else is due; return its head.

        A driver's per-request step between pipelined requests: a head
        returned is a request started just as ``next_events`` starts it
        (its ``RequestEnd`` consumed with it), and while it is answered
        the action stays ``READ`` and there is no deadline, so the driver
        need not ask. ``None`` changes nothing: ask ``after_response`` (or
        ``next_events``) as usual.
        """
        held = self._held
        # Held input always starts with a request head, and in IDLE the
        # connection is neither holding, nor discarding a body (that body
        # would come before anything held), nor shutting down (which
        # leaves IDLE at once): the state answers for all of those.
        if (
            len(held) < 2
            or held[1] is not _END
            or self._state is not _IDLE
            or self._peer_closed
            or self._held_bytes > self.limits.max_buffered_bytes
            or self._parser.tail  # bytes after an upgrade request: see _action
        ):
            return None
        head: RequestHead = held.popleft()  # type: ignore[assignment]
        held.popleft()
        if not held:
            self._held_bytes = 0
        # _start_request, inlined: this runs once per pipelined request.
        self._state = _RECEIVING
        self._received = 0
        self._continue_sent = False
        self._idle_since = None
        if head is not self._req:
            self._req = head
            self._simple = _is_simple(head)
        self._req_complete = self._holding = True
        self._fast = self._simple
        return head

    def after_response(self, now: float) -> tuple[list[Event], Action, float | None]:
        """``next_events(now)``, then ``action`` and ``next_deadline()``.

        The three things a driver asks after every response, in one call:
        the events now available, what to do with the socket, and when to
        call ``on_deadline``. The action and deadline are as they stand
        before the driver acts on the events; after starting a request from
        them it asks again.
        """
        if (
            not self._held
            and self._state is _IDLE
            and not self._holding
            and not self._peer_closed
            and not self._discarding
            and self._head_started is None
            and self._drain_deadline is None
            and not self._parser.tail
        ):
            # Keep-alive with nothing pipelined, the common case: what the
            # three calls give, idle from now until the next request.
            idle = self._idle_since
            if idle is None:
                idle = self._idle_since = now
            return [], _READ, idle + self.limits.keep_alive_timeout
        return self.next_events(now), self._action(), self.next_deadline()

    def accept_body(self) -> bytes:
        """The app wants the request body.

        Returns:
            ``100 Continue`` bytes to write the first time this is called for
            an HTTP/1.1 request with ``Expect: 100-continue`` whose body has
            not arrived, before any response head; else ``b""``.
        """
        req = self._req
        if (
            self._state is _RECV_REQUEST
            and req is not None
            and req.expects_continue
            and not self._continue_sent
            and not self._req_complete
        ):
            self._continue_sent = True
            return _CONTINUE
        return b""

    # -- sending ------------------------------------------------------------
    def _head(
        self,
        status: int,
        headers: Sequence[tuple[bytes, bytes]],
        reason: bytes | None,
        body: bytes | None,
    ) -> bytes:
        """Build a final response head and set up the body framing."""
        if self._state is not _RECV_REQUEST:
            raise LocalProtocolError(f"no response expected in state {self._state.value}")
        req = self._req
        assert req is not None
        line = status_line(status, reason)
        method = req.method
        switching = (status == 101 and req.upgrade is not None and method != b"CONNECT") or (
            method == b"CONNECT" and 200 <= status < 300
        )
        if status == 101 and not switching:
            raise LocalProtocolError("101 answers only a request that asked to upgrade")
        fields = scan(headers, switching)
        length = fields.content_length
        if length is not None and (status < 200 or status == 204 or switching):
            # RFC 9110 §8.6: no Content-Length in 1xx / 204 or 2xx to CONNECT.
            raise LocalProtocolError(f"Content-Length not allowed with status {status}")
        # RFC 9110 §6.4.1: HEAD, 1xx, 204, 304 (and a tunnel) carry no body;
        # HEAD keeps the Content-Length a GET would have had.
        no_body = method == b"HEAD" or status == 204 or status == 304 or switching
        will_close = not req.keep_alive or fields.close or self._shutting_down
        lines = fields.lines
        if body is not None:
            if length is None:
                if not (status == 204 or status == 304 or switching):
                    lines += (b"Content-Length: %d\r\n" % len(body),)
            elif length != len(body) and not no_body:
                raise LocalProtocolError("Content-Length does not match the body")
            framing = _NO_BODY
        elif no_body:
            framing = _NO_BODY
        elif length is not None:
            framing = _LENGTH
            self._remaining = length
        elif req.http_version == b"1.1":
            framing = _CHUNKED
            lines.append(_CHUNKED_LINE)
        else:
            # RFC 9112 §6.3 item 8: an HTTP/1.0 client cannot do chunked, so
            # the body ends when the connection closes.
            framing = _UNTIL_CLOSE
            will_close = True
        if not self._req_complete and not switching and not will_close:
            # The response starts before the request body ended: RFC 9110
            # §10.1.1 / RFC 9112 §9.3 - read and discard the rest, or close.
            # A client still waiting for 100 Continue may never send it.
            remaining = None if req.content_length is None else req.content_length - self._received
            if (req.expects_continue and not self._continue_sent) or (
                remaining is None or remaining > self.limits.max_discard_bytes
            ):
                will_close = True
        if not switching:
            if will_close:
                lines.append(_CLOSE_LINE)
            elif req.http_version == b"1.0":
                # RFC 9112 §9.3: say so, or an HTTP/1.0 client assumes close.
                lines.append(_KEEP_ALIVE_LINE)
        self._framing = framing
        self._body_ok = not no_body
        self._will_close = will_close
        if switching:
            self._transition(_SWITCH)
            self._upgrade_pending = True
        return b"".join([line, *lines, b"\r\n"])

    def send_head(
        self, status: int, headers: Sequence[tuple[bytes, bytes]], reason: bytes | None = None
    ) -> bytes:
        """Start the response to the oldest unanswered request.

        Framing comes from ``headers``: ``Content-Length`` if given, else
        chunked on HTTP/1.1, else close-delimited. Adds ``Connection: close``
        when the connection will close. A 1xx status (other than 101) sends
        an interim response and leaves the final one to come.

        Returns:
            The bytes to write.

        Raises:
            LocalProtocolError: bad status, header injection, wrong state.
        """
        if 100 <= status < 200 and status != 101:
            return self._interim(status, headers, reason)
        head = self._head(status, headers, reason, None)
        self._head_sent = True
        self._fast = False
        if self._state is _RECV_REQUEST:
            self._transition(_SEND_HEAD)
        return head

    def _interim(
        self, status: int, headers: Sequence[tuple[bytes, bytes]], reason: bytes | None
    ) -> bytes:
        if self._state is not _RECV_REQUEST:
            raise LocalProtocolError("interim response after the final one started")
        req = self._req
        assert req is not None
        fields = scan(headers, False)
        if fields.content_length is not None or fields.chunked:
            raise LocalProtocolError("framing headers in a 1xx response")
        if req.http_version == b"1.0":
            # RFC 9110 §15.2: no 1xx to an HTTP/1.0 client.
            return b""
        if status == 100:
            if self._continue_sent:
                return b""
            self._continue_sent = True
        return b"".join([status_line(status, reason), *fields.lines, b"\r\n"])

    def send_body(self, data: bytes) -> bytes:
        """Frame a piece of response body.

        Returns:
            The bytes to write: ``b""`` for HEAD/204/304 and for empty data.

        Raises:
            LocalProtocolError: no response head was sent, or more bytes than
                the declared Content-Length (the connection will close).
        """
        if self._state is not _SEND_BODY:
            raise LocalProtocolError(f"no response body expected in state {self._state.value}")
        framing = self._framing
        if framing == _LENGTH:
            if len(data) > self._remaining:
                self._transition(_LOCAL_ERROR)
                raise LocalProtocolError("body longer than the declared Content-Length")
            self._remaining -= len(data)
            return data
        if framing == _CHUNKED:
            if not data:
                return b""  # an empty chunk would end the body
            return b"%x\r\n%s\r\n" % (len(data), data)
        if framing == _UNTIL_CLOSE:
            return data
        return b""

    def frame_body(self, n: int) -> tuple[bytes, bytes]:
        """Framing for ``n`` body bytes the driver writes itself (sendfile).

        Returns:
            ``(prefix, suffix)`` to write around the ``n`` raw bytes; counts
            them against a declared Content-Length.

        Raises:
            LocalProtocolError: the response carries no body (check
                ``response_has_body``), or ``n`` passes Content-Length.
        """
        if self._state is not _SEND_BODY:
            raise LocalProtocolError(f"no response body expected in state {self._state.value}")
        framing = self._framing
        if framing == _NO_BODY:
            raise LocalProtocolError("this response carries no body")
        if n < 0:
            raise ValueError("negative length")
        if framing == _LENGTH:
            if n > self._remaining:
                self._transition(_LOCAL_ERROR)
                raise LocalProtocolError("body longer than the declared Content-Length")
            self._remaining -= n
        elif framing == _CHUNKED and n:
            return b"%x\r\n" % n, b"\r\n"
        return b"", b""

    @property
    def response_has_body(self) -> bool:
        """Whether the response in progress may carry body bytes."""
        return self._state is _SEND_BODY and self._framing != _NO_BODY

    def send_end(self, trailers: Headers | None = None) -> bytes:
        """End the response.

        Args:
            trailers: trailer fields; sent only with a chunked body, else
                dropped (RFC 9110 §6.5.1 lets a recipient discard them).

        Returns:
            The bytes to write.

        Raises:
            LocalProtocolError: fewer bytes than the declared Content-Length
                (the connection will close), or wrong state.
        """
        if self._state is not _SEND_BODY:
            raise LocalProtocolError(f"no response to end in state {self._state.value}")
        out = b""
        framing = self._framing
        if framing == _LENGTH and self._remaining:
            self._transition(_LOCAL_ERROR)
            raise LocalProtocolError("body shorter than the declared Content-Length")
        if framing == _CHUNKED:
            out = b"0\r\n%s\r\n" % check_trailers(trailers) if trailers else _LAST_CHUNK
        self._end_response()
        return out

    def send_response(
        self,
        status: int,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes = b"",
        reason: bytes | None = None,
    ) -> bytes:
        """A whole response in one bytes object (adds Content-Length).

        Returns:
            Head and body, to be written at once.

        Raises:
            LocalProtocolError: as ``send_head``, or a Content-Length that
                disagrees with ``body``.
        """
        if self._fast and reason is None:
            # Hot path: a keep-alive HTTP/1.1 GET-like request, fully read,
            # answered with a final status that carries a body. The general
            # path below gives the same bytes.
            global _last_head
            last = _last_head
            size = len(body)
            if last[0] == status and last[2] == size and last[1] == headers:
                # Apps answer with the same status and headers again and
                # again: reuse the head built (and checked) last time.
                self._state = _ANSWERED
                self._holding = self._fast = False
                return last[3] + body if body else last[3]
            line = _PLAIN_STATUS_LINES.get(status)
            if line is not None:
                parts = [line]
                for name, value in headers:
                    if _NAME_KINDS.get(name) != PLAIN:
                        break
                    parts += (name, b": ", value, b"\r\n")
                else:
                    parts.append(b"Content-Length: %d\r\n\r\n" % size)
                    head = b"".join(parts)
                    # Names and the status line are known good, so every CR
                    # or LF beyond one per line, or any NUL, came from a value.
                    lines = len(headers) + 3
                    if head.count(b"\n") != lines or head.count(b"\r") != lines or b"\0" in head:
                        raise LocalProtocolError("CR, LF or NUL in a header value")
                    _last_head = (status, list(headers), size, head)
                    self._transition(_DONE)
                    self._holding = self._fast = False
                    return head + body if body else head
        if status < 200 and status != 101:
            raise LocalProtocolError("send_response needs a final status")
        head = self._head(status, headers, reason, body)
        if self._state is _SWITCHED:
            return head
        self._end_response()
        return head + body if body and self._body_ok else head

    def _end_response(self) -> None:
        parser = self._parser
        self._head_sent = self._fast = False
        if self._will_close or self._shutting_down:
            self._transition(_DONE_CLOSE)
            return
        self._transition(_DONE)
        self._holding = False
        if not self._req_complete:
            self._discarding = True
        if parser.upgraded and not self._held:
            # The app declined the upgrade: the bytes after that head are
            # HTTP again (RFC 9110 §7.8: the server MAY ignore Upgrade).
            # (With requests still held, the upgrade request is the last of
            # them and not answered yet: its tail waits.)
            size = len(parser.tail)
            parser.resume()
            if parser.events:
                self._held.extend(parser.events)
                self._held_bytes += size
                parser.events = []

    def send_error(
        self, error: RequestRejected, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> bytes:
        """The error response for ``error``; the connection will close.

        ``headers`` are extra fields for the response, e.g. the driver's
        ``Date`` (RFC 9110 §6.6.1); they may not frame the body.

        Returns:
            A short fixed ``text/plain`` response with ``Connection: close``
            (it never echoes client input), or ``b""`` when a response was
            already under way and the connection can only be closed.
        """
        if self.counters is not None:
            self.counters.record(error)
        state = self._state
        self._fast = False
        if self._head_sent and state is not _IDLE:
            # A response is under way: an error response now would corrupt it.
            if state is not _CLOSED:
                self._transition(_CLOSE)
            return b""
        if state is _ERROR or state is _IDLE or state is _RECV_REQUEST:
            if state is not _ERROR:
                self._transition(_PEER_ERROR)
            self._transition(_CLOSE)
            response = _ERROR_RESPONSES.get(error.status)
            if response is None:
                response = _error_response(error.status)
            return _with_extra_headers(error.status, response, headers) if headers else response
        if state is not _CLOSED:
            self._transition(_CLOSE)
        return b""

    # -- state, time, shutdown ----------------------------------------------
    def has_pipelined(self) -> bool:
        """Whether input after the current request is held (pipelining).

        A driver may hold the current response back to write it together
        with the responses to the requests that follow. Also the property
        ``pipelined``; drivers asking once per request call this method,
        which Python 3.11 calls at a fraction of a property's cost.
        """
        return bool(self._held)

    pipelined = property(has_pipelined)

    def _action(self) -> Action:
        state = self._state
        if state is _IDLE or state is _RECV_REQUEST or state is _SEND_BODY:
            if self._peer_closed:
                if state is _IDLE and not self._held:
                    return _CLOSE_SOCKET
                return _PAUSE
            limit = self.limits.max_buffered_bytes
            if self._held_bytes > limit or len(self._parser.tail) > limit:
                return _PAUSE
            return _READ
        if state is _SWITCHED:
            return _UPGRADE
        if state is _ERROR:
            return _CLOSE_SOCKET if self._peer_closed else _PAUSE
        return _CLOSE_SOCKET

    # A property over a method, so that after_response calls it plainly.
    action = property(_action, doc="What the driver should do with the socket now.")

    def _head_deadline(self) -> float | None:
        """Slowloris bound: a head must end ``request_head_timeout`` after
        it started, counted from when the connection was free to read it."""
        if self._state is not _IDLE or self._held or self._peer_closed:
            return None
        started = self._head_started
        idle = self._idle_since
        if started is None:
            return None
        if idle is not None and idle > started:
            started = idle
        return started + self.limits.request_head_timeout

    def next_deadline(self) -> float | None:
        """When the driver must call ``on_deadline`` (``None``: no timer)."""
        deadline = None
        idle = self._idle_since
        if self._state is _IDLE and not self._held and not self._peer_closed:
            # _head_deadline, inlined (asked after every response).
            started = self._head_started
            if started is not None:
                if idle is not None and idle > started:
                    started = idle
                deadline = started + self.limits.request_head_timeout
            elif idle is not None:
                timeout = (
                    self.limits.request_head_timeout
                    if self._discarding
                    else self.limits.keep_alive_timeout
                )
                deadline = idle + timeout
        drain = self._drain_deadline
        if drain is not None and (deadline is None or drain < deadline):
            deadline = drain
        return deadline

    def on_deadline(
        self, now: float, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> tuple[DeadlineAction, bytes]:
        """A deadline may have passed: what to do and the bytes to write first.

        ``headers`` go into a 408 response, as for ``send_error``.

        Returns:
            ``(NOTHING, b"")`` if nothing is due yet; ``(SEND_408_AND_CLOSE,
            bytes)`` for a request head that took too long; ``(CLOSE, b"")``
            for an idle keep-alive connection or an expired shutdown drain.
        """
        drain = self._drain_deadline
        if drain is not None and now >= drain:
            self._force_close()
            return DeadlineAction.CLOSE, b""
        head_deadline = self._head_deadline()
        if head_deadline is not None and now >= head_deadline and self._parser.in_head:
            self._parser.reject("request head timeout", 408)
            self._parser.events.clear()
            self._transition(_PEER_ERROR)
            return DeadlineAction.SEND_408_AND_CLOSE, self.send_error(
                RequestRejected(408, "request head timeout"), headers
            )
        deadline = self.next_deadline()
        if deadline is not None and now >= deadline:
            self._force_close()
            return DeadlineAction.CLOSE, b""
        return DeadlineAction.NOTHING, b""

    def _force_close(self) -> None:
        self._fast = False
        self._transition(_CLOSE)

    def start_shutdown(self, now: float) -> None:
        """Stop taking new requests.

        Idle: the action becomes CLOSE at once. A request in flight is
        finished (its response gets ``Connection: close`` if its head is not
        out yet), then CLOSE. Held pipelined requests are not started: the
        client was told the connection closes and RFC 9112 §9.3.1 / §9.6
        lets it retry them; answering them could outlast the drain.
        """
        self._shutting_down = True
        self._fast = False
        self._drain_deadline = now + self.limits.shutdown_timeout
        if self._state is _IDLE:
            self._transition(_CLOSE)


def _is_simple(head: RequestHead) -> bool:
    """Whether a fully read ``head`` may be answered on the hot path: a
    keep-alive HTTP/1.1 request whose response carries its body."""
    return (
        head.keep_alive
        and head.http_version == b"1.1"
        and head.method != b"HEAD"
        and head.method != b"CONNECT"
        and head.upgrade is None
    )
