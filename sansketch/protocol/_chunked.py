"""Chunked request bodies (RFC 9112 §7.1), decoded here rather than by llhttp.

llhttp refuses valid bad whitespace around chunk extensions (RFC 9112
§7.1.1: ``5 ; name = value``) and hands no callback for extensions, so their
length could not be bounded exactly. The parser stops llhttp at every
chunked head and feeds the body here; llhttp takes over again after the
last chunk and trailer section.

Rules kept: a chunk-size is 1*HEXDIG (below 2**63); each line ends in CRLF
(no bare CR or LF, RFC 9112 §2.2); chunk data is followed by CRLF; an
extension is ``*( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )``
and its line is bounded by ``max_chunk_extension_bytes``; trailer fields are
field lines without obs-fold (RFC 9112 §5.2), bounded like a header section.
"""

from __future__ import annotations

import re

from ._errors import RemoteProtocolError
from ._events import BodyData, Event, Headers, RequestEnd
from ._limits import Limits

_TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]+)(?:[ \t]*;[ \t]*%s(?:[ \t]*=[ \t]*(?:%s|%s))?)*" % (_TOKEN, _TOKEN, _QUOTED)
)
_VCHAR = rb"[\x21-\x7e\x80-\xff]"
_FIELD_LINE = re.compile(
    rb"(%s):[ \t]*(%s(?:[ \t]*%s)*)?[ \t]*" % (_TOKEN, _VCHAR, _VCHAR)  # RFC 9110 §5.5
)
_MAX_SIZE = 2**63
_HEX = b"0123456789abcdefABCDEF"

_SIZE, _DATA, _DATA_CRLF, _TRAILER = 0, 1, 2, 3
# A size line may carry this much around its extension: digits, BWS, CRLF.
_LINE_SLACK = 64
_FIELD_OVERHEAD = 4


class ChunkedDecoder:
    """Decodes one chunked body, fed in pieces.

    Attributes:
        done: the last chunk and the trailer section have been read.
    """

    def __init__(self, limits: Limits) -> None:
        self.done = False
        self._limits = limits
        self._state = _SIZE
        self._line = b""
        self._left = 0
        self._body = 0
        self._trailers: Headers = []
        self._trailer_bytes = 0

    def feed(self, data: bytes, events: list[Event]) -> int:
        """Decode from ``data``, appending ``BodyData`` and, at the end,
        ``RequestEnd`` to ``events``.

        Returns:
            How many bytes of ``data`` belonged to the body (all of them
            unless ``done``).

        Raises:
            RemoteProtocolError: bad framing (400), a body over the limit
                (413, after the bytes that fit), trailers too large (431).
        """
        pos = 0
        end = len(data)
        while pos < end and not self.done:
            state = self._state
            if state == _SIZE and not self._line:
                # Fast path: a whole plain chunk (hex size, no extension)
                # inside this read. Anything else takes the general path.
                nl = data.find(b"\n", pos, pos + 18)
                if nl > pos + 1 and data[nl - 1] == 13:
                    text = data[pos : nl - 1]
                    if not text.translate(None, _HEX):
                        size = int(text, 16)
                        stop = nl + 1 + size
                        if size and data[stop : stop + 2] == b"\r\n":
                            self._add_body(data[nl + 1 : stop], events)
                            pos = stop + 2
                            continue
            if state == _DATA:
                take = min(self._left, end - pos)
                self._left -= take
                piece = data[pos : pos + take]
                pos += take
                self._add_body(piece, events)
                if not self._left:
                    self._state = _DATA_CRLF
            elif state == _DATA_CRLF:
                # RFC 9112 §7.1: chunk data is followed by CRLF.
                got = self._line + data[pos : pos + 2 - len(self._line)]
                pos += len(got) - len(self._line)
                if not b"\r\n".startswith(got):
                    raise RemoteProtocolError("chunk data not followed by CRLF")
                self._line = got if len(got) < 2 else b""
                if len(got) == 2:
                    self._state = _SIZE
            else:
                pos = self._line_step(data, pos, events)
        return pos

    def _add_body(self, piece: bytes, events: list[Event]) -> None:
        self._body += len(piece)
        max_body = self._limits.max_body_bytes
        if max_body is not None and self._body > max_body:
            # Hand out what fits so that events do not depend on the split.
            fits = len(piece) - (self._body - max_body)
            if fits > 0:
                events.append(BodyData(piece[:fits]))
            raise RemoteProtocolError("request body too large", 413)
        events.append(BodyData(piece))

    def _line_step(self, data: bytes, pos: int, events: list[Event]) -> int:
        """Consume one (possibly partial) size or trailer line."""
        limits = self._limits
        sizing = self._state == _SIZE
        limit = (
            limits.max_chunk_extension_bytes + _LINE_SLACK if sizing else limits.max_header_bytes
        )
        nl = data.find(b"\n", pos)
        if nl < 0:
            self._line += data[pos:]
            self._check_length(len(self._line), limit, sizing)
            return len(data)
        line = self._line + data[pos : nl + 1]
        self._line = b""
        self._check_length(len(line) - 2, limit, sizing)
        if line[-2:] != b"\r\n" or b"\r" in line[:-2]:
            # RFC 9112 §2.2: no bare CR or LF.
            raise RemoteProtocolError("chunk line not ended by CRLF")
        text = line[:-2]
        if sizing:
            self._size_line(text)
        else:
            self._trailer_line(text, events)
        return nl + 1

    @staticmethod
    def _check_length(length: int, limit: int, sizing: bool) -> None:
        if length > limit:
            if sizing:
                # RFC 9112 §7.1.1: a server ought to limit extensions (Go's
                # CVE-2023-39326: unbounded extensions as an amplifier).
                raise RemoteProtocolError("chunk extension too long")
            raise RemoteProtocolError("trailer section too large", 431)

    def _size_line(self, text: bytes) -> None:
        match = _CHUNK_LINE.fullmatch(text)
        if match is None:
            raise RemoteProtocolError("invalid chunk size line")
        size = int(match.group(1), 16)
        if size >= _MAX_SIZE:
            raise RemoteProtocolError("chunk size too large")
        if size:
            self._left = size
            self._state = _DATA
        else:
            self._state = _TRAILER  # RFC 9112 §7.1: last-chunk, then trailers

    def _trailer_line(self, text: bytes, events: list[Event]) -> None:
        if not text:
            self.done = True
            trailers = self._trailers
            events.append(RequestEnd(trailers) if trailers else RequestEnd())
            return
        match = _FIELD_LINE.fullmatch(text)
        if match is None:
            # Also refuses obs-fold (a line starting with SP or HTAB).
            raise RemoteProtocolError("invalid trailer field")
        name, value = match.group(1), match.group(2) or b""
        self._trailers.append((name, value))
        self._trailer_bytes += len(name) + len(value) + _FIELD_OVERHEAD
        limits = self._limits
        if (
            len(self._trailers) > limits.max_header_count
            or self._trailer_bytes > limits.max_header_bytes
        ):
            raise RemoteProtocolError("trailer section too large", 431)
