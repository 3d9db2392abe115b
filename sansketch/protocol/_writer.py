"""Response heads and body framing.

The core always answers ``HTTP/1.1`` (RFC 9110 §2.5: a server sends its
highest conformant version). Status lines for known codes are encoded once.
Header names and values from the app are checked against injection here:
CR, LF and NUL anywhere, and non-token bytes in names, raise
``LocalProtocolError`` (RFC 9110 §5.1, §5.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

from ._errors import LocalProtocolError
from ._headers import is_token

STATUS_LINES: dict[int, bytes] = {
    s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode("ascii")) for s in HTTPStatus
}

# What the core needs to know about a response field name.
PLAIN, CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION = 0, 1, 2, 3
_SPECIAL = {
    b"content-length": CONTENT_LENGTH,
    b"transfer-encoding": TRANSFER_ENCODING,
    b"connection": CONNECTION,
}
# Names already validated; apps use a small set, so this stays tiny. Bounded
# so that an app echoing client-chosen names cannot grow it without end.
_NAME_KINDS: dict[bytes, int] = {}
_NAME_CACHE_MAX = 1024


def status_line(status: int, reason: bytes | None) -> bytes:
    """``HTTP/1.1 <status> <reason>\\r\\n``.

    Raises:
        LocalProtocolError: status outside 100-999, or CR/LF/NUL in reason.
    """
    if reason is None:
        line = STATUS_LINES.get(status)
        if line is not None:
            return line
        reason = b""
    if type(status) is not int or not 100 <= status <= 999:
        raise LocalProtocolError(f"invalid status code {status!r}")
    if b"\r" in reason or b"\n" in reason or b"\0" in reason:
        raise LocalProtocolError("CR, LF or NUL in reason phrase")
    return b"HTTP/1.1 %d %s\r\n" % (status, reason)


def name_kind(name: bytes) -> int:
    """Classify a response field name, validating it as a token once."""
    kind = _NAME_KINDS.get(name)
    if kind is not None:
        return kind
    if type(name) is not bytes or not is_token(name):
        raise LocalProtocolError(f"invalid header name {name!r}")
    kind = _SPECIAL.get(name.lower(), PLAIN)
    if len(_NAME_KINDS) < _NAME_CACHE_MAX:
        _NAME_KINDS[name] = kind
    return kind


class HeadFields:
    """What ``scan`` learnt from the app's headers."""

    __slots__ = ("chunked", "close", "content_length", "lines")

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.content_length: int | None = None
        self.chunked = False
        self.close = False


def scan(headers: Sequence[tuple[bytes, bytes]], keep_connection: bool) -> HeadFields:
    """Validate the app's headers and pull out the framing ones.

    ``Transfer-Encoding`` and (unless ``keep_connection``) ``Connection``
    are left out of ``lines``: the core writes its own.

    Raises:
        LocalProtocolError: injection, a bad Content-Length, or a transfer
            coding other than chunked.
    """
    fields = HeadFields()
    lines = fields.lines
    values = []
    for name, value in headers:
        kind = name_kind(name)
        values.append(value)
        if kind == PLAIN:
            lines += (name, b": ", value, b"\r\n")
        elif kind == CONTENT_LENGTH:
            if not value.isdigit() or (
                fields.content_length is not None and int(value) != fields.content_length
            ):
                raise LocalProtocolError("invalid Content-Length")
            if fields.content_length is None:
                fields.content_length = int(value)
                lines += (name, b": ", value, b"\r\n")
        elif kind == TRANSFER_ENCODING:
            if value.strip(b" \t").lower() != b"chunked":
                # We frame bodies; any other coding is the app's to apply
                # (as Content-Encoding) and would break our framing.
                raise LocalProtocolError("Transfer-Encoding other than chunked")
            fields.chunked = True
        else:
            tokens = [t.strip(b" \t").lower() for t in value.split(b",")]
            if b"close" in tokens:
                fields.close = True
            if keep_connection:
                lines += (name, b": ", value, b"\r\n")
    joined = b"".join(values)
    if b"\r" in joined or b"\n" in joined or b"\0" in joined:
        raise LocalProtocolError("CR, LF or NUL in a header value")
    return fields


def check_trailers(trailers: Sequence[tuple[bytes, bytes]]) -> bytes:
    """Encode trailer fields (each line ending CRLF), checked like headers."""
    lines: list[bytes] = []
    for name, value in trailers:
        name_kind(name)
        if b"\r" in value or b"\n" in value or b"\0" in value:
            raise LocalProtocolError("CR, LF or NUL in a trailer value")
        lines += (name, b": ", value, b"\r\n")
    return b"".join(lines)
