"""Request parsing: the only module that touches httptools.

Theory of operation
-------------------
``RequestParser.feed(data)`` runs llhttp once over everything that arrived
and appends events for *every* request in it to ``self.events`` (the
connection decides which of them the driver may see yet). llhttp runs in
strict mode; ``_headers.py`` adds the rules it lets through. The first
protocol error appends one ``RequestRejected`` after the events of every
request completed before the bad bytes, and parsing stops for good.

Limits are enforced in two ways. When llhttp hands over a piece (URL span,
header field, body) its size is checked exactly. While a head is incomplete
at the end of a read the bytes it has used are estimated from the raw input,
so a head that never ends is cut once it passes the limits by at most one
read, whatever the split.
"""

from __future__ import annotations

import re
from dataclasses import replace

from httptools import (
    HttpParserCallbackError,
    HttpParserError,
    HttpParserInvalidMethodError,
    HttpParserInvalidURLError,
    HttpParserUpgrade,
    HttpRequestParser,
)

from ._errors import RemoteProtocolError
from ._events import BodyData, Event, Headers, RequestEnd, RequestHead, RequestRejected
from ._headers import build_request_head, version_of
from ._limits import Limits

# "GET " + " HTTP/1.1\r\n": what a request line costs beyond its target.
_LINE_OVERHEAD = 16
# ": " and CRLF around each field line (RFC 9112 §5).
_FIELD_OVERHEAD = 4
_OWS = (b" ", b"\t")
_RTSP_ONLY = frozenset(
    (
        b"ANNOUNCE",
        b"DESCRIBE",
        b"FLUSH",
        b"GET_PARAMETER",
        b"PAUSE",
        b"PLAY",
        b"RECORD",
        b"REDIRECT",
        b"SETUP",
        b"SET_PARAMETER",
        b"TEARDOWN",
    )
)
# The RequestEnd of every request without trailers: events are immutable,
# so one instance serves all (its empty list is checked before each reuse).
_END = RequestEnd()
# Chunk-size digits and CRLFs that may surround an extension (RFC 9112 §7.1).
_CHUNK_LINE_SLACK = 64


class _Stop(Exception):
    """Raised inside a callback to abort llhttp; the cause is in ``_error``."""


class RequestParser:
    """Feeds llhttp and turns its callbacks into events.

    Attributes:
        events: events parsed and not yet taken by the connection.
        stopped: no more bytes will be parsed (error, close, or upgrade).
        upgraded: the last request asked to switch protocols; ``tail`` holds
            the bytes that followed its head.
    """

    # Immutable starting values live on the class: a connection only pays
    # for the fields it changes (one parser per connection, so it counts).
    stopped = False
    upgraded = False
    tail = b""
    in_message = False
    in_head = False
    _error: RemoteProtocolError | None = None
    _url = b""
    _head_partial = 0
    _prev_head: RequestHead | None = None
    _prev_raw: Headers = []  # replaced per head, never mutated
    _prev_version = ""
    _version_by_keep_alive = False
    _keep_alive = True
    _chunked = False
    _body_bytes = 0
    _framing_run = 0
    _chunk_activity = False
    _last_host: bytes | None = None
    _skip_head = False
    _heads = 0
    _chunk_cut = -1
    _resume_body = False
    _head_carry = b""
    _prime: bytes | None = b""
    _fresh_chunked = False
    _content_length = 0
    _prev_resume = False
    _method_text: bytes | None = b""
    _pending_method: bytes | None = None
    _line_len = 0
    _line_start = b""
    _body_in_feed = 0
    _last_chunked = False
    _fields_before = 0

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.events: list[Event] = []
        self._headers: Headers = []
        self._llhttp = HttpRequestParser(self)
        self._long_extension = _long_extension(limits.max_chunk_extension_bytes)
        self._max_target = limits.max_request_line - _LINE_OVERHEAD

    # -- llhttp callbacks ---------------------------------------------------
    def on_message_begin(self) -> None:
        """llhttp: a new request starts."""
        # Per-head fields are reset where the previous head was consumed
        # (on_headers_complete): this runs for every pipelined request.
        self.in_message = self.in_head = True

    def on_url(self, url: bytes) -> None:
        """llhttp: a span of the request-target (may come in pieces)."""
        if self._url:
            url = self._url + url
        self._url = url
        if len(url) > self._max_target:
            self._fail("request line too long", 414)

    def on_header(self, name: bytes, value: bytes) -> None:
        """httptools: one complete field line (header or trailer).

        Only collects: the checks run once per head in
        ``on_headers_complete`` (and once per trailer section), and a head
        that keeps growing is bounded by the partial-head count in ``feed``.
        """
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        """llhttp: the head ended; validate it and emit ``RequestHead``."""
        self.in_head = False
        self._heads += 1
        self._head_partial = 0
        headers = self._headers
        url = self._url
        self._url = b""
        if self._skip_head:
            # The synthetic head that resumes the body of an upgrade request
            # with a body (see ``_on_upgrade``): no event, no checks.
            self._skip_head = False
            self._body_bytes = 0
            headers.clear()
            return
        llhttp = self._llhttp
        method = llhttp.get_method()
        prev = self._prev_head
        if (
            prev is not None
            and headers == self._prev_raw
            and url == prev.target
            and method == prev.method
            and (
                # Without a Connection field, llhttp's keep-alive verdict is
                # true for HTTP/1.1 only: a cheap stand-in for the version,
                # which httptools formats as a string on every call.
                (self._version_by_keep_alive and llhttp.should_keep_alive())
                or llhttp.get_http_version() == self._prev_version
            )
        ):
            # A keep-alive client repeating its previous head exactly (the
            # common pipelined case): same checks, same outcome, same event.
            headers.clear()  # the list now collects this request's trailers
            self._body_bytes = 0
            self._framing_run = 0
            self.events.append(prev)
            if self._prev_resume:
                self._resume_body = True  # as the first time (see below)
                raise _Stop
            return
        self._headers = []  # trailers, if any, collect here
        try:
            if method in _RTSP_ONLY:
                # llhttp takes these only with an "RTSP/" version, which is
                # not HTTP (RFC 9112 §2.3). It also takes "GET / RTSP/1.1",
                # which looks like HTTP/1.1 from here: httptools does not
                # expose the protocol name, and scanning every read for it
                # costs more than the whole rest of the head.
                raise RemoteProtocolError("not an HTTP request", 505)
            # One pass for what the head needs besides _headers.py's rules.
            size = 0
            trailing_ows = has_connection = False
            for name, value in headers:
                size += len(name) + len(value) + _FIELD_OVERHEAD
                if value[-1:] in _OWS:
                    trailing_ows = True
                if len(name) == 10 and name.lower() == b"connection":
                    has_connection = True
            if len(headers) > self.limits.max_header_count:
                raise RemoteProtocolError("too many header fields", 431)
            if size > self.limits.max_header_bytes:
                raise RemoteProtocolError("header section too large", 431)
            version = llhttp.get_http_version()
            raw = headers
            if trailing_ows:
                # RFC 9112 §5.1: OWS around a value is not part of it; llhttp
                # strips only the leading side.
                headers = [(n, v.rstrip(b" \t")) for n, v in headers]
            head, self._last_host = build_request_head(
                method,
                url,
                version_of(version),
                headers,
                self.limits.max_body_bytes,
                self._last_host,
            )
        except RemoteProtocolError as exc:
            self._error = exc
            raise _Stop from exc
        self._prev_head = head
        self._prev_raw = raw
        self._prev_version = version
        self._version_by_keep_alive = head.http_version == b"1.1" and not has_connection
        self._keep_alive = head.keep_alive
        self._chunked = head.chunked
        self._content_length = head.content_length or 0
        self._body_bytes = 0
        self._framing_run = 0
        self.events.append(head)
        if head.chunked and self._chunk_cut < 0:
            self._chunk_cut = len(self.events)
        self._prev_resume = (
            trailing_ows
            and head.chunked
            and any(
                len(name) == 17 and b"\t" in value[len(value.rstrip(b" \t")) :]
                for name, value in raw
            )
        )
        if self._prev_resume:
            # llhttp refuses "chunked<HTAB>" although OWS is not part of the
            # value (RFC 9112 §5.1); stop it here and resume the body behind
            # a clean head (see _resume_chunked).
            self._resume_body = True
            raise _Stop

    def _check_fields(self, fields: Headers, head: bool) -> None:
        """Header (or trailer) section count and size limits: 431."""
        limits = self.limits
        if len(fields) > limits.max_header_count:
            raise RemoteProtocolError("too many header fields", 431)
        size = 0
        for name, value in fields:
            size += len(name) + len(value) + _FIELD_OVERHEAD
        if size > limits.max_header_bytes:
            raise RemoteProtocolError("header section too large", 431)

    def on_body(self, body: bytes) -> None:
        """llhttp: a piece of body with framing removed."""
        self._body_bytes += len(body)
        self._body_in_feed += len(body)
        max_body = self.limits.max_body_bytes
        if max_body is not None and self._body_bytes > max_body:
            # Only a chunked body can get here: Content-Length was checked
            # against the limit before the body started. Hand out what fits
            # so that the events do not depend on how the bytes were split.
            fits = len(body) - (self._body_bytes - max_body)
            if fits > 0:
                self.events.append(BodyData(body[:fits]))
            self._fail("request body too large", 413)
        self._chunk_activity = True
        self.events.append(BodyData(body))

    def on_chunk_header(self) -> None:
        """llhttp: a chunk-size line ended."""
        self._chunk_activity = True

    def on_chunk_complete(self) -> None:
        """llhttp: a chunk's data and CRLF ended."""
        self._chunk_activity = True

    def on_message_complete(self) -> None:
        """llhttp: the request ended."""
        self.in_message = False
        self._last_chunked = self._chunked
        self._chunked = False
        trailers = self._headers
        if trailers:
            # RFC 9110 §6.5: trailer fields, bounded like the header section.
            self._headers = []
            try:
                self._check_fields(trailers, False)
            except RemoteProtocolError as exc:
                self._error = exc
                raise _Stop from exc
            if any(v[-1:] in _OWS for _, v in trailers):
                trailers = [(n, v.rstrip(b" \t")) for n, v in trailers]
            self.events.append(RequestEnd(trailers))
        else:
            end = _END
            if end.trailers:  # someone wrote into the shared empty list
                end.trailers.clear()
            self.events.append(end)
        if not self._keep_alive:
            # RFC 9112 §9.6: after a request with "close" (or an HTTP/1.0
            # one without keep-alive) the server reads no further requests.
            self.stopped = True
            raise _Stop

    # -- driving llhttp -------------------------------------------------------
    def _fail(self, message: str, status: int) -> None:
        self._error = RemoteProtocolError(message, status)
        raise _Stop

    def reject(self, message: str, status: int = 400) -> None:
        """Stop for good, appending ``RequestRejected``."""
        self.stopped = True
        self._pending_method = None
        self.events.append(RequestRejected(status, message))

    def feed(self, data: bytes) -> None:
        """Parse ``data``, appending events; never raises for peer errors."""
        if self._pending_method is not None:
            self._classify_method(self._pending_method + data)
            return
        if self.stopped:
            if self.upgraded:
                self.tail += data
            return
        at_start = self.in_message
        head_was_open = self.in_head
        heads = self._heads
        events_before = len(self.events)
        self._body_in_feed = 0
        self._chunk_activity = False
        if at_start:
            self._read_started_in_message()
        else:
            # Between requests (the keep-alive case): a clean start.
            self._prime = b""
            self._chunk_cut = -1
            self._line_len = self._fields_before = 0
        try:
            self._llhttp.feed_data(data)
        except HttpParserUpgrade as exc:
            self._on_upgrade(data, exc.args[0])
            return
        except HttpParserCallbackError:
            # One of our callbacks raised _Stop: a rule broke (``_error``), a
            # request ended with "close" (bytes after it are ignored), or a
            # chunked body must be resumed (``_resume_body``).
            err = self._error
            if err is not None:
                self._error = None
                self.reject(str(err), err.status_hint)
            elif self._resume_body:
                self._resume_chunked(data, head_was_open, heads, events_before)
            return
        except HttpParserInvalidMethodError:
            # RFC 9110 §9.1: 501 for a well-formed method we do not know;
            # RFC 9112 §3: 400 for a malformed request line. llhttp reports
            # both alike and httptools gives no position, so we look at the
            # message's first bytes when we know where it started: no request
            # ended earlier in this read. Else (garbage after pipelined
            # requests) 400.
            carry = self._method_text if at_start else b""
            if heads == self._heads and carry is not None:
                self._classify_method(carry + (data if at_start else data.lstrip(b"\r\n")))
            else:
                self.reject("invalid method")
            return
        except HttpParserInvalidURLError:
            self.reject("invalid request-target")
            return
        except HttpParserError as exc:
            self.reject(*_classify(str(exc)))
            return
        if self._chunk_cut >= 0 and self._long_chunk_line(data):
            del self.events[self._chunk_cut :]
            self.reject("chunk extension too long")
            return
        if self.in_head:
            # The empty line ending a head may straddle reads (_resume_chunked).
            self._head_carry = ((self._head_carry if head_was_open else b"") + data)[-3:]
            if not self._url:
                # Still in the method: keep its bytes in case llhttp refuses
                # it in a later read (see the InvalidMethod case above).
                if heads != self._heads:
                    self._method_text = None  # its start is not known
                else:
                    base = self._method_text if at_start else b""
                    if base is not None:
                        more = data if at_start else data.lstrip(b"\r\n")
                        self._method_text = (base + more)[:_METHOD_MAX]
            self._count_partial_head(data, head_was_open and heads == self._heads)
        elif self._chunked and self.in_message:
            if len(self._headers) != self._fields_before:
                self._chunk_activity = True  # a trailer field line ended
            self._count_chunk_framing(len(data))

    def _read_started_in_message(self) -> None:
        """Bookkeeping for a read that continues a request (not the
        keep-alive hot path): what ``_resume_chunked`` and the chunk-line
        limits need to know about the state at the start of the read."""
        # The llhttp state at the start of this read, as a synthetic prefix a
        # throwaway parser can replay (None: not reproducible).
        if self._fresh_chunked:
            self._prime = _synthetic_head(0, True)
        elif not self.in_head and not self._chunked:
            self._prime = _synthetic_head(self._content_length - self._body_bytes, False)
        else:
            self._prime = None
        self._fresh_chunked = False
        self._fields_before = len(self._headers)
        if self._chunked and not self.in_head:
            self._chunk_cut = len(self.events)
        else:
            self._chunk_cut = -1
            self._line_len = 0

    def _resume_chunked(self, data: bytes, head_was_open: bool, heads: int, events: int) -> None:
        """Parse the chunked body of the head that just ended with a fresh
        llhttp, primed with a synthetic head (whose event is suppressed).

        The body starts right after the empty line that ends the head. To
        find that offset without trusting anything a body could contain, a
        throwaway llhttp is put in the state the real one had at a known
        point of this read (its start, or the end of a head that was open)
        and fed until it has completed as many heads. A read that began in
        the middle of a chunked body has no such point: refuse.
        """
        self._resume_body = False
        todo = self._heads - heads  # heads completed in this read, ours last
        prime = self._prime
        base = 0
        if head_was_open:
            carry = self._head_carry
            base = (carry + data).find(b"\r\n\r\n") + 4 - len(carry)
            todo -= 1
            if todo:
                first = next(e for e in self.events[events:] if isinstance(e, RequestHead))
                prime = _synthetic_head(first.content_length or 0, first.chunked)
        end = base
        if todo:
            found = -1
            if prime is not None:
                found = _bytes_to_complete(prime + data[base:], todo + (1 if prime else 0))
            end = base + found - len(prime or b"") if found >= 0 else -1
        if end < 0:
            self.reject("Transfer-Encoding with a tab where its head cannot be located")
            return
        keep_alive = self._keep_alive
        self._restart()
        self._skip_head = True
        self._llhttp.feed_data(_synthetic_head(0, True, keep_alive))
        self._keep_alive = keep_alive
        self._chunked = True
        self._chunk_cut = len(self.events)
        self._fresh_chunked = True
        if end < len(data):
            self.feed(data[end:])

    def _classify_method(self, text: bytes) -> None:
        """Reject an unknown method: 501 if well formed, else 400; wait for
        more bytes while ``text`` is all token characters so far."""
        self._pending_method = None
        if _METHOD_AND_SPACE.match(text) is not None:
            self.reject("unknown method", 501)
        elif len(text) < _METHOD_MAX and _TOKEN_SO_FAR.fullmatch(text) is not None:
            self._pending_method = text
        else:
            self.reject("invalid method")

    def _long_chunk_line(self, data: bytes) -> bool:
        """Whether a chunk-size line in a chunked body read so far carries an
        extension longer than the limit (RFC 9112 §7.1.1; Go's
        CVE-2023-39326).

        llhttp skips extensions without a callback, so we look at the lines
        themselves, whatever the split: the line continued from the previous
        read, the lines inside this one, and the one left open at its end. A
        body line would have to start with hex digits and ";" and run that
        long without CR or LF to be mistaken for one.
        """
        limit = self.limits.max_chunk_extension_bytes + _CHUNK_LINE_SLACK
        first_nl = data.find(b"\n")
        if self._line_len:
            start = self._line_start + data[:_LINE_START]
            length = self._line_len + (len(data) if first_nl < 0 else first_nl)
            if length > limit and _SIZE_LINE.match(start) is not None:
                return True
            if first_nl < 0:
                self._line_len = length
                self._line_start = start[:_LINE_START]
                return False
        if self._long_extension.search(data) is not None:
            return True
        last_nl = data.rfind(b"\n")
        self._line_len = len(data) - last_nl - 1
        self._line_start = data[last_nl + 1 : last_nl + 1 + _LINE_START]
        return False

    def _count_partial_head(self, data: bytes, same_head: bool) -> None:
        if same_head:
            self._head_partial += len(data)
        else:
            # The head started in this read, after the empty line that ended
            # the previous head (then its Content-Length body, if any) or the
            # previous chunked body.
            end = data.rfind(b"\r\n\r\n")
            tail = len(data) - (end + 4 if end >= 0 else 0)
            if not self._last_chunked:
                tail -= self._body_in_feed
            self._head_partial = max(tail, 0)
        limits = self.limits
        if self._head_partial > limits.max_request_line + limits.max_header_bytes:
            self.reject("header section too large", 431)

    def _count_chunk_framing(self, size: int) -> None:
        # llhttp keeps no chunk extensions and httptools exposes none, so we
        # bound the bytes that arrive with no chunk event: an endless
        # extension or trailer line is cut within one read (RFC 9112 §7.1.1).
        if self._chunk_activity:
            self._framing_run = 0
            return
        self._framing_run += size
        if self._framing_run > self.limits.max_chunk_extension_bytes + _CHUNK_LINE_SLACK:
            self.reject("chunk extension too long")

    def _on_upgrade(self, data: bytes, offset: int) -> None:
        events = self.events
        head = events[-2] if len(events) >= 2 else None
        if (
            isinstance(head, RequestHead)
            and head.method != b"CONNECT"
            and (head.chunked or (head.content_length or 0) > 0)
        ):
            # llhttp skips the body of an upgrade request. One with a body is
            # served as a plain request (RFC 9110 §7.8 lets a server ignore
            # Upgrade): drop the early RequestEnd and resume parsing the body
            # behind a synthetic head of the same framing, whose event is
            # suppressed.
            events.pop()
            events[-1] = replace(head, upgrade=None)
            self._restart()
            framing = (
                b"Transfer-Encoding: chunked"
                if head.chunked
                else b"Content-Length: %d" % (head.content_length or 0)
            )
            conn = b"" if head.keep_alive else b"Connection: close\r\n"
            self._skip_head = True
            self._llhttp.feed_data(b"POST / HTTP/1.1\r\nHost: x\r\n%s%s\r\n\r\n" % (conn, framing))
            self._keep_alive = head.keep_alive
            self._chunked = head.chunked
            self.feed(data[offset:])
            return
        self.stopped = True
        self.upgraded = True
        self.tail = data[offset:]

    def _restart(self) -> None:
        self._llhttp = HttpRequestParser(self)
        self.in_message = False
        self.in_head = False

    def feed_eof(self) -> None:
        """The peer closed: a request cut short becomes ``RequestRejected``."""
        if self.stopped:
            return
        if self.in_message or self._pending_method is not None:
            self.reject("connection closed mid-request")
        else:
            self.stopped = True

    def resume(self) -> None:
        """The app declined an upgrade: parse the held bytes as HTTP again."""
        tail = self.tail
        self.tail = b""
        self.upgraded = False
        self.stopped = False
        self._restart()
        if tail:
            self.feed(tail)


_EXTENSION_PATTERNS: dict[int, re.Pattern[bytes]] = {}
_SIZE_LINE = re.compile(rb"[0-9A-Fa-f]*[ \t]*;")
_LINE_START = 32
# RFC 9112 §3: method = token, then SP.
_METHOD_AND_SPACE = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+ ")
_TOKEN_SO_FAR = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]*")
_METHOD_MAX = 64


def _long_extension(limit: int) -> re.Pattern[bytes]:
    """A chunk-size line (RFC 9112 §7.1) whose extension exceeds ``limit``."""
    pattern = _EXTENSION_PATTERNS.get(limit)
    if pattern is None:
        pattern = re.compile(
            rb"(?:\A[0-9A-Fa-f]*|\n[0-9A-Fa-f]+)[ \t]*;[^\r\n]{%d}" % (limit + _CHUNK_LINE_SLACK)
        )
        _EXTENSION_PATTERNS[limit] = pattern
    return pattern


class _HeadCounter:
    """llhttp callbacks that only count completed heads."""

    def __init__(self) -> None:
        self.heads = 0

    def on_headers_complete(self) -> None:
        """llhttp: a head ended."""
        self.heads += 1


def _synthetic_head(length: int, chunked: bool, keep_alive: bool = True) -> bytes:
    """A request head that leaves llhttp expecting the given body."""
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % length
    close = b"" if keep_alive else b"Connection: close\r\n"
    return b"POST / HTTP/1.1\r\nHost: x\r\n%s%s\r\n\r\n" % (close, framing)


def _bytes_to_complete(data: bytes, heads: int) -> int:
    """The fewest leading bytes of ``data`` in which a fresh llhttp completes
    ``heads`` heads (binary search; -1 if it never does)."""
    lo, hi = 0, len(data) + 1
    while lo < hi:
        mid = (lo + hi) // 2
        counter = _HeadCounter()
        try:
            HttpRequestParser(counter).feed_data(data[:mid])
        except (HttpParserError, HttpParserUpgrade):
            pass  # what follows the head does not matter here
        if counter.heads >= heads:
            hi = mid
        else:
            lo = mid + 1
    return lo if lo <= len(data) else -1


def _classify(message: str) -> tuple[str, int]:
    """Status for an llhttp error message (httptools gives no error codes)."""
    if message.startswith(("Invalid HTTP version", "Invalid major version", "Pause on PRI")):
        # RFC 9110 §15.6.6: 505 for a version we do not speak (HTTP/2's
        # preface "PRI * HTTP/2.0" included).
        return message, 505
    return message, 400


__all__ = ["RequestParser"]
