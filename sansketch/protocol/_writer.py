"""Response heads and body framing.

The core always answers ``HTTP/1.1`` (RFC 9110 §2.5: a server sends its
highest conformant version). Status lines for known codes are encoded once.
Header names and values from the app are checked against injection here:
CR, LF and NUL anywhere, and non-token bytes in names, raise
``LocalProtocolError`` (RFC 9110 §5.1, §5.5).
"""

from __future__ import annotations

from collections.abc import Sequence

from ._errors import LocalProtocolError
from ._headers import is_token

# RFC 9110 §15 reason phrases (plus the registered extras). Spelled out
# rather than taken from ``http.HTTPStatus`` so that the core imports nothing
# a script directory could shadow.
REASONS: dict[int, bytes] = {
    100: b"Continue",
    101: b"Switching Protocols",
    102: b"Processing",
    103: b"Early Hints",
    200: b"OK",
    201: b"Created",
    202: b"Accepted",
    203: b"Non-Authoritative Information",
    204: b"No Content",
    205: b"Reset Content",
    206: b"Partial Content",
    207: b"Multi-Status",
    208: b"Already Reported",
    226: b"IM Used",
    300: b"Multiple Choices",
    301: b"Moved Permanently",
    302: b"Found",
    303: b"See Other",
    304: b"Not Modified",
    305: b"Use Proxy",
    307: b"Temporary Redirect",
    308: b"Permanent Redirect",
    400: b"Bad Request",
    401: b"Unauthorized",
    402: b"Payment Required",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    406: b"Not Acceptable",
    407: b"Proxy Authentication Required",
    408: b"Request Timeout",
    409: b"Conflict",
    410: b"Gone",
    411: b"Length Required",
    412: b"Precondition Failed",
    413: b"Request Entity Too Large",
    414: b"Request-URI Too Long",
    415: b"Unsupported Media Type",
    416: b"Requested Range Not Satisfiable",
    417: b"Expectation Failed",
    418: b"I'm a Teapot",
    421: b"Misdirected Request",
    422: b"Unprocessable Entity",
    423: b"Locked",
    424: b"Failed Dependency",
    425: b"Too Early",
    426: b"Upgrade Required",
    428: b"Precondition Required",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    451: b"Unavailable For Legal Reasons",
    500: b"Internal Server Error",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
    505: b"HTTP Version Not Supported",
    506: b"Variant Also Negotiates",
    507: b"Insufficient Storage",
    508: b"Loop Detected",
    510: b"Not Extended",
    511: b"Network Authentication Required",
}
STATUS_LINES: dict[int, bytes] = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, phrase) for code, phrase in REASONS.items()
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
