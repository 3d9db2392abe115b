"""Request parsing: the only module that touches httptools.

Theory of operation
-------------------
``RequestParser.feed(data)`` runs llhttp once over everything that arrived
and appends events for *every* request in it to ``self.events`` (the
connection decides which of them the driver may see yet). llhttp runs in
strict mode; ``_headers.py`` adds the rules it lets through. The first
protocol error appends one ``RequestRejected`` after the events of every
request completed before the bad bytes, and parsing stops for good.

Chunked bodies are not llhttp's: it refuses valid whitespace in chunk
extensions and hides their length. llhttp is stopped at every chunked head
(a callback raises), the body goes to ``ChunkedDecoder`` (``_chunked.py``),
and a fresh llhttp takes the bytes after it. Finding where the body starts
never trusts bytes a body could contain: see ``_start_chunked``.

Limits are enforced in two ways. When llhttp hands over a piece (URL span,
header field, body) its size is checked exactly. While a head is incomplete
at the end of a read the bytes it has used are estimated from the raw input,
so a head that never ends is cut once it passes the limits by at most one
read, whatever the split.

Clients repeat themselves, and the same input in the same state gives the
same events, so three shortcuts keep every rule while skipping work:

- A head learnt byte for byte (``_learn``: llhttp made exactly these bytes
  into one bodyless keep-alive request, from a request boundary to the
  next) is recognised at a boundary by comparison alone and never reaches
  llhttp again (``_replay_or_learn``; the connection does the same for a
  read that is exactly that head).
- A head whose method, version and fields equal the previous head's reuses
  the previous event, or, with another target, its derived facts once the
  target passes its own rule.
- A head whose fields differ from the previous head's only in fields the
  core does not interpret (``_changed_size``) likewise, with the header
  section size kept exact and no OWS to strip.
"""

from __future__ import annotations

import re
from dataclasses import replace
from itertools import compress, count
from operator import ne

from httptools import (
    HttpParserCallbackError,
    HttpParserError,
    HttpParserInvalidMethodError,
    HttpParserInvalidURLError,
    HttpParserUpgrade,
    HttpRequestParser,
)

from ._chunked import ChunkedDecoder
from ._errors import RemoteProtocolError
from ._events import (
    BodyData,
    Event,
    Headers,
    RequestEnd,
    RequestHead,
    RequestRejected,
    new_request_head,
)
from ._headers import build_request_head, check_target, field_kind, version_of
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
# Stands for "no head learnt yet" (``_known`` is None then).
_NO_HEAD = RequestHead(b"", b"", b"", [])


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
    # Those read for every request are set by __init__ instead.
    upgraded = False
    in_head = False
    _error: RemoteProtocolError | None = None
    _url = b""
    _head_partial = 0
    _prev_head: RequestHead | None = None
    _prev_raw: Headers = []  # replaced per head, never mutated
    _prev_version = ""
    _prev_size = 0  # the header section size of _prev_raw, as limited
    _version_by_keep_alive = False
    _keep_alive = True
    _body_bytes = 0
    _last_host: bytes | None = None
    _skip_head = False
    _heads = 0
    _start_body = False
    _head_carry = b""
    _prime: bytes | None = b""
    _content_length = 0
    _method_text: bytes | None = b""
    _body_in_feed = 0
    _decoder: ChunkedDecoder | None = None
    # The last head learnt (see ``_learn``) and its events; the connection
    # reads these too, for a keep-alive read that holds exactly that head.
    _known: bytes | None = None
    _known_head = _NO_HEAD
    _seen = b""  # the last read that was one whole head, before learning
    _known_events: list[Event] = []  # replaced when learnt, never mutated

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.events: list[Event] = []
        # Read for every request (also by the connection): on the instance,
        # since Python 3.11 does not specialise reading a class-level default
        # through an instance, which then costs several plain reads.
        self.stopped = False
        self.tail = b""
        self.in_message = False
        self._pending_method: bytes | None = None
        self._headers: Headers = []
        self._llhttp = HttpRequestParser(self)
        self._max_target = limits.max_request_line - _LINE_OVERHEAD
        self._max_head = limits.max_request_line + limits.max_header_bytes

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
        """httptools: one complete header field line.

        Only collects: the checks run once per head in
        ``on_headers_complete``, and a head that keeps growing is bounded by
        the partial-head count in ``feed``.
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
            # The synthetic head that resumes the Content-Length body of an
            # upgrade request (see ``_on_upgrade``): no event, no checks.
            self._skip_head = False
            self._body_bytes = 0
            headers.clear()
            return
        llhttp = self._llhttp
        method = llhttp.get_method()
        prev = self._prev_head
        if prev is not None and method == prev.method:
            # A keep-alive client repeating its previous method, version and
            # interpreted fields (the common case): the facts derived from
            # them stand; only the target's own rule may differ.
            prev_raw = self._prev_raw
            size = -1
            fields: Headers | None = None
            if headers == prev_raw:
                fields = prev.headers
            elif len(headers) == len(prev_raw) and prev.headers is prev_raw:
                # (The previous head had no values to strip.)
                size = self._changed_size(headers, prev_raw)
                if size >= 0:
                    fields = headers
            if fields is not None and (
                # Without a Connection field, llhttp's keep-alive verdict is
                # true for HTTP/1.1 only: a cheap stand-in for the version,
                # which httptools formats as a string on every call.
                (self._version_by_keep_alive and llhttp.should_keep_alive())
                or llhttp.get_http_version() == self._prev_version
            ):
                if size < 0:
                    headers.clear()  # reused for the next head
                else:
                    self._prev_raw = headers
                    self._prev_size = size
                    self._headers = []
                self._body_bytes = 0
                if url != prev.target or fields is not prev.headers:
                    # The same test as in build_request_head.
                    if not (url[:1] == b"/" and b"#" not in url and method != b"CONNECT"):
                        try:
                            check_target(method, url)
                        except RemoteProtocolError as exc:
                            self._error = exc
                            raise _Stop from exc
                    prev = self._prev_head = new_request_head(
                        method,
                        url,
                        prev.http_version,
                        fields,
                        prev.keep_alive,
                        prev.expects_continue,
                        prev.upgrade,
                        prev.content_length,
                        prev.chunked,
                    )
                self.events.append(prev)
                if prev.chunked:
                    self._start_body = True  # as the first time (see below)
                    raise _Stop
                return
        self._headers = []
        try:
            if method in _RTSP_ONLY:
                # llhttp takes these only with an "RTSP/" version, which is
                # not HTTP (RFC 9112 §2.3). It also takes "GET / RTSP/1.1",
                # which looks like HTTP/1.1 from here: httptools does not
                # expose the protocol name, and scanning every read for it
                # costs more than the whole rest of the head.
                raise RemoteProtocolError("not an HTTP request", 505)
            limits = self.limits
            count = len(headers)
            if count > limits.max_header_count:
                raise RemoteProtocolError("too many header fields", 431)
            raw = headers
            size = _FIELD_OVERHEAD * count
            trailing_ows = False
            for name, value in headers:
                size += len(name) + len(value)
                if value[-1:] in _OWS:
                    trailing_ows = True
            if size > limits.max_header_bytes:
                raise RemoteProtocolError("header section too large", 431)
            self._prev_size = size
            if trailing_ows:
                # RFC 9112 §5.1: OWS around a value is not part of it; llhttp
                # strips only the leading side.
                headers = [(n, v.rstrip(b" \t")) for n, v in headers]
            version = llhttp.get_http_version()
            head, self._last_host, has_connection = build_request_head(
                method,
                url,
                version_of(version),
                headers,
                limits.max_body_bytes,
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
        self._content_length = head.content_length or 0
        self._body_bytes = 0
        self.events.append(head)
        if head.chunked:
            # Stop llhttp: the body is ChunkedDecoder's (see _start_chunked).
            self._start_body = True
            raise _Stop

    def _changed_size(self, headers: Headers, prev_raw: Headers) -> int:
        """The header section size of ``headers`` (as many as ``prev_raw``)
        if they differ from ``prev_raw`` only in fields the core does not
        interpret, stay within the size limit and end in no OWS; else -1
        (check the head in full)."""
        size = self._prev_size
        for i in compress(count(), map(ne, headers, prev_raw)):
            name, value = headers[i]
            old_name, old_value = prev_raw[i]
            if value[-1:] in _OWS or field_kind(name) or field_kind(old_name):
                return -1
            size += len(name) + len(value) - len(old_name) - len(old_value)
        # Over the limit: the full check rejects it, with its message.
        return size if size <= self.limits.max_header_bytes else -1

    def on_body(self, body: bytes) -> None:
        """llhttp: a piece of a Content-Length body (checked against the
        limit before it started)."""
        self._body_bytes += len(body)
        self._body_in_feed += len(body)
        self.events.append(BodyData(body))

    def on_message_complete(self) -> None:
        """llhttp: the request ended."""
        self.in_message = False
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

    def _replay_or_learn(self, data: bytes) -> bytes:
        """At a request boundary: events of the learnt head for each copy
        of it that ``data`` starts with, and learning a new head when it
        pays. Returns the bytes left for llhttp."""
        pos = 0
        size = len(data)
        learn = True
        while not (self.in_message or self.stopped or self._pending_method is not None):
            known = self._known
            if known is not None and (
                (size - pos > len(known) and data.startswith(known, pos))
                or (not pos and data == known)
            ):
                n = len(known)
                start = pos
                pos += n
                more = (size - pos) // n
                # One comparison for a burst of copies (startswith costs more
                # per call than a memcmp of a few hundred bytes), else one
                # copy at a time.
                if more > 1 and data.startswith(known * more, pos):
                    pos += more * n
                while data.startswith(known, pos):
                    pos += n
                count = (pos - start) // n
                if _END.trailers:  # as in on_message_complete
                    _END.trailers.clear()
                self.events += self._known_events * count
                self._heads += count
                if pos == size:
                    return b""
            if not learn or data[pos : pos + 1] in b"\r\n":
                break
            # The first empty line after a head that starts this piece ends
            # it: a request line and field lines hold no empty line.
            end = data.find(b"\r\n\r\n", pos) + 4
            if end < 4 or end - pos > self._max_head:
                break  # (what is remembered stays within the head limits)
            if end == size:
                # A read that is one whole head (keep-alive): learnt the
                # second time it comes, so that heads seen once pay only a
                # comparison for it.
                head = data[pos:] if pos else data
                if head != self._seen:
                    self._seen = head
                    break
            else:
                head = data[pos:end]
                if not data.startswith(head, end):
                    # Learning pays only when the next head repeats it.
                    # Reads like this one (a head and its body, say) are
                    # shorter than two such heads: they stop trying.
                    self._seen = head
                    break
            before = len(self.events)
            self.feed(head, False)
            learn = self._learn(head, before)
            pos = end
            if pos == size:
                return b""
        return data[pos:] if pos else data

    def _learn(self, head: bytes, before: int) -> bool:
        """Remember ``head`` if llhttp, fed exactly these bytes at a request
        boundary, made of them one complete bodyless keep-alive request and
        stopped at a boundary again. Returns whether it did."""
        events = self.events
        if len(events) != before + 2 or events[-1] is not _END:
            return False
        event = events[-2]
        if (
            type(event) is not RequestHead
            or self.in_message
            or self.stopped
            or self._pending_method is not None
            or event.chunked
            or event.content_length
            or event.upgrade is not None
            or not event.keep_alive
        ):
            return False
        # bytes() so that a driver reusing a bytearray cannot change it.
        self._known = bytes(head)
        self._known_head = event
        self._known_events = [event, _END]
        return True

    def feed(self, data: bytes, replay: bool = True) -> None:
        """Parse ``data``, appending events; never raises for peer errors.

        At a request boundary, a head that repeats byte for byte the last
        one learnt (see ``_learn``) is not handed to llhttp again: the same
        bytes in the same state give the same events. A keep-alive client
        repeating its request, or a pipelined burst of one request, then
        costs a byte comparison per request. ``replay=False`` runs llhttp
        whatever the bytes.
        """
        if self._pending_method is not None:
            self._classify_method(self._pending_method + data)
            return
        if self.stopped:
            if self.upgraded:
                self.tail += data
            return
        if self._decoder is not None:
            data = self._decode(data)
            if not data:
                return
        at_start = self.in_message
        if (
            replay
            and not at_start
            and (
                self._known is not None
                # Learning is tried on a read seen before, or long enough to
                # hold two heads like the last one: other reads pay nothing.
                or data == self._seen
                or len(data) >= 2 * len(self._seen)
            )
        ):
            rest = self._replay_or_learn(data)
            if rest:
                self.feed(rest, False)
            return
        head_was_open = self.in_head
        heads = self._heads
        events_before = len(self.events)
        self._body_in_feed = 0
        if not at_start:
            self._prime = b""  # between requests (the keep-alive case)
        elif head_was_open:
            self._prime = None  # mid-head: _start_chunked uses _head_carry
        else:
            # In a Content-Length body: a synthetic head replays the state.
            self._prime = _synthetic_head(self._content_length - self._body_bytes)
        try:
            self._llhttp.feed_data(data)
        except HttpParserUpgrade as exc:
            self._on_upgrade(data, exc.args[0])
            return
        except HttpParserCallbackError:
            # One of our callbacks raised _Stop: a rule broke (``_error``), a
            # request ended with "close" (bytes after it are ignored), or a
            # chunked body starts (``_start_body``).
            err = self._error
            if err is not None:
                self._error = None
                self.reject(str(err), err.status_hint)
            elif self._start_body:
                self._start_chunked(data, head_was_open, heads, events_before)
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
        if self.in_head:
            # The empty line ending a head may straddle reads (_start_chunked).
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

    def _start_chunked(self, data: bytes, head_was_open: bool, heads: int, events: int) -> None:
        """Hand the body of the chunked head that just ended to a
        ``ChunkedDecoder``; a fresh llhttp takes what follows it.

        The body starts right after the empty line that ends the head. When
        the head is the first thing in this read, that is the first empty
        line (after any CRLFs a client may send between requests, RFC 9112
        §2.2). Otherwise no byte search is trusted (a body before it could
        hold anything): a throwaway llhttp, put in the state the real one
        had at a known point of this read, is fed until it has completed as
        many heads. Every head before ours in this read had a
        Content-Length body or none (llhttp stops at each chunked one), so
        such a point always exists.
        """
        self._start_body = False
        todo = self._heads - heads  # heads completed in this read, ours last
        prime = self._prime
        base = 0
        if head_was_open:
            carry = self._head_carry
            base = (carry + data).find(b"\r\n\r\n") + 4 - len(carry)
            todo -= 1
            if todo:
                first = next(e for e in self.events[events:] if isinstance(e, RequestHead))
                prime = _synthetic_head(first.content_length or 0)
        if not todo:
            end = base
        elif prime == b"" and todo == 1:
            skip = len(data) - len(data.lstrip(b"\r\n"))
            end = data.find(b"\r\n\r\n", skip) + 4
        else:
            assert prime is not None  # mid-head reads take the branch above
            found = _bytes_to_complete(prime + data[base:], todo + (1 if prime else 0))
            if found < 0:  # pragma: no cover - the real llhttp just did it
                self.reject("cannot locate the chunked body")
                return
            end = base + found - len(prime)
        self._restart()
        self.in_message = True  # for EOF: a body is in progress
        self._decoder = ChunkedDecoder(self.limits)
        rest = self._decode(data[end:])
        if rest:
            self.feed(rest)

    def _decode(self, data: bytes) -> bytes:
        """Feed the chunked body in progress; returns the bytes after its
        end (``b""`` while it goes on, or after an error)."""
        decoder = self._decoder
        assert decoder is not None
        try:
            used = decoder.feed(data, self.events)
        except RemoteProtocolError as exc:
            self.reject(str(exc), exc.status_hint)
            return b""
        if not decoder.done:
            return b""
        self._decoder = None
        self.in_message = False
        if not self._keep_alive:
            self.stopped = True  # RFC 9112 §9.6, as in on_message_complete
            return b""
        return data[used:]

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

    def _count_partial_head(self, data: bytes, same_head: bool) -> None:
        if same_head:
            self._head_partial += len(data)
        else:
            # The head started in this read, after the empty line that ended
            # the previous head and its Content-Length body, if any (a chunked
            # body never shares llhttp's input with the next head).
            end = data.rfind(b"\r\n\r\n")
            tail = len(data) - (end + 4 if end >= 0 else 0) - self._body_in_feed
            self._head_partial = max(tail, 0)
        limits = self.limits
        if self._head_partial > limits.max_request_line + limits.max_header_bytes:
            self.reject("header section too large", 431)

    def _on_upgrade(self, data: bytes, offset: int) -> None:
        events = self.events
        head = events[-2] if len(events) >= 2 else None
        if (
            isinstance(head, RequestHead)
            and head.method != b"CONNECT"
            and (head.chunked or (head.content_length or 0) > 0)
        ):
            # llhttp skips the body of an upgrade request (and says exactly
            # where it stopped). One with a body is served as a plain request
            # (RFC 9110 §7.8 lets a server ignore Upgrade): drop the early
            # RequestEnd and parse the body.
            events.pop()
            events[-1] = replace(head, upgrade=None)
            self._keep_alive = head.keep_alive
            self._restart()
            if head.chunked:
                self.in_message = True
                self._decoder = ChunkedDecoder(self.limits)
                rest = self._decode(data[offset:])
                if rest:
                    self.feed(rest)
                return
            # Behind a synthetic head of the same length, whose event is
            # suppressed.
            self._skip_head = True
            self._llhttp.feed_data(_synthetic_head(head.content_length or 0, head.keep_alive))
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


# RFC 9112 §3: method = token, then SP.
_METHOD_AND_SPACE = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+ ")
_TOKEN_SO_FAR = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]*")
_METHOD_MAX = 64


class _HeadCounter:
    """llhttp callbacks that only count completed heads."""

    def __init__(self) -> None:
        self.heads = 0

    def on_headers_complete(self) -> None:
        """llhttp: a head ended."""
        self.heads += 1


def _synthetic_head(length: int, keep_alive: bool = True) -> bytes:
    """A request head that leaves llhttp expecting ``length`` body bytes."""
    close = b"" if keep_alive else b"Connection: close\r\n"
    return b"POST / HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n" % (close, length)


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
