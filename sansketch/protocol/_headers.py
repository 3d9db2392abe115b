"""Header validation and the RFC 9112 framing rules for requests.

llhttp (through httptools, strict mode) already rejects most malformed heads:
bad tokens, whitespace before the colon (RFC 9112 §5.1), obs-fold (§5.2),
CTL and NUL bytes in values (RFC 9110 §5.5), bare CR or LF line endings
(§2.2), Content-Length with Transfer-Encoding (§6.1), non-digit or
duplicated Content-Length (§6.3), chunked not last (§6.3), bad chunk sizes
and missing CRLF after chunk data (§7.1). This module adds what it lets
through: Host (§3.2), request-target forms (§3.2.1-§3.2.4), versions (505),
transfer codings other than chunked (501) and on HTTP/1.0 (§6.1), Expect
(RFC 9110 §10.1.1) and the derived connection options.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._errors import RemoteProtocolError
from ._events import Headers, RequestHead, new_request_head

# RFC 9110 §5.6.2: tchar.
TOKEN_CHARS = frozenset(
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_TOKEN_BYTES = bytes(sorted(TOKEN_CHARS))

# RFC 3986 §3.2.2 reg-name / IPv4 / IP-literal characters plus ":" for the
# port (RFC 9110 §7.2). "@" (userinfo) and whitespace are not among them.
_HOST_BYTES = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:[]"
_SCHEMES = frozenset((b"http", b"https"))

_VERSIONS = {"1.1": b"1.1", "1.0": b"1.0"}

# The fields the core interprets, by lower-cased name.
_HOST, _CONTENT_LENGTH, _TRANSFER_ENCODING, _CONNECTION, _EXPECT, _UPGRADE = range(1, 7)
_KINDS = {
    b"host": _HOST,
    b"content-length": _CONTENT_LENGTH,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"connection": _CONNECTION,
    b"expect": _EXPECT,
    b"upgrade": _UPGRADE,
}
# Only names of these lengths can be one of them; checking the length first
# spares a lower() on most fields.
_SPECIAL_LENGTHS = frozenset(map(len, _KINDS))
# Names as clients usually spell them, looked up as sent (no lower()): the
# fields above, and common fields whose length is one of theirs (kind 0).
_KINDS_AS_SENT = {
    **_KINDS,
    **{name.title(): kind for name, kind in _KINDS.items()},
    **dict.fromkeys(
        (
            name
            for common in (
                b"accept",
                b"accept-charset",
                b"cookie",
                b"origin",
                b"pragma",
                b"referer",
                b"sec-fetch-dest",
                b"sec-fetch-mode",
                b"sec-fetch-site",
                b"sec-fetch-user",
                b"user-agent",
            )
            for name in (common, common.title())
        ),
        0,
    ),
}
# Connection values as clients usually send them, split in advance.
_CONNECTION_TOKENS: dict[bytes, tuple[bytes, ...]] = {
    value: tuple(t.strip(b" \t").lower() for t in value.split(b","))
    for value in (
        b"keep-alive",
        b"Keep-Alive",
        b"close",
        b"Close",
        b"upgrade",
        b"Upgrade",
        b"keep-alive, Upgrade",
        b"Upgrade, HTTP2-Settings",
    )
}


def field_kind(name: bytes) -> int:
    """Which interpreted field ``name`` is (0: none the core interprets)."""
    kind = _KINDS_AS_SENT.get(name)
    if kind is None:
        kind = _KINDS.get(name.lower(), 0) if len(name) in _SPECIAL_LENGTHS else 0
    return kind


def is_token(value: bytes) -> bool:
    """Whether ``value`` is a non-empty RFC 9110 §5.6.2 token."""
    return bool(value) and not value.translate(None, _TOKEN_BYTES)


def check_host(value: bytes) -> bool:
    """Whether ``value`` is a valid ``Host`` (RFC 9112 §3.2, RFC 9110 §7.2):
    uri-host [":" port], no userinfo, no whitespace, numeric port."""
    if value.translate(None, _HOST_BYTES):
        return False
    if value[:1] == b"[":
        end = value.find(b"]")
        if end < 0 or b"[" in value[1:] or b"]" in value[end + 1 :]:
            return False
        rest = value[end + 1 :]
        return not rest or (rest[:1] == b":" and rest[1:].isdigit())
    if b"[" in value or b"]" in value:
        return False
    host, colon, port = value.partition(b":")
    if colon:
        return port.isdigit() and bool(host)
    return True


def version_of(raw: str) -> bytes:
    """Map llhttp's version string to ours; others get 505 (RFC 9110 §15.6.6)."""
    version = _VERSIONS.get(raw)
    if version is None:
        raise RemoteProtocolError(f"unsupported HTTP version {raw}", 505)
    return version


def _split_tokens(value: bytes) -> list[bytes]:
    return [t.strip(b" \t").lower() for t in value.split(b",")]


def check_target(method: bytes, target: bytes) -> None:
    """Check the request-target form against the method (RFC 9112 §3.2).

    Raises:
        RemoteProtocolError: 400 when the form does not fit the method, or
            the target carries a fragment or userinfo.
    """
    first = target[:1]
    if method == b"CONNECT":
        # §3.2.3: authority-form (uri-host ":" port) is for CONNECT only,
        # and CONNECT takes nothing else.
        if first == b"/" or b"/" in target or b":" not in target or not check_host(target):
            raise RemoteProtocolError("CONNECT needs an authority-form target")
        return
    if first == b"/":
        # §3.2.1: origin-form = absolute-path [ "?" query ]; no fragment.
        if b"#" in target:
            raise RemoteProtocolError("fragment in request-target")
        return
    if target == b"*":
        # §3.2.4: asterisk-form is for a server-wide OPTIONS only.
        if method != b"OPTIONS":
            raise RemoteProtocolError("asterisk-form target needs OPTIONS")
        return
    # §3.2.2: absolute-form. Its authority takes precedence: the origin
    # server MUST ignore Host (RFC 9112 §3.2.2), so a differing Host is not
    # an error; whoever reads the head uses the target's authority.
    scheme, sep, rest = target.partition(b"://")
    if not sep or scheme.lower() not in _SCHEMES or b"#" in target:
        raise RemoteProtocolError("invalid request-target")
    end = len(rest)
    for stop in (b"/", b"?"):
        i = rest.find(stop)
        if 0 <= i < end:
            end = i
    authority = rest[:end]
    if not authority or not check_host(authority):
        raise RemoteProtocolError("invalid authority in request-target")


def build_request_head(
    method: bytes,
    target: bytes,
    version: bytes,
    headers: Headers,
    max_body: int | None,
    last_host: bytes | None,
) -> tuple[RequestHead, bytes | None, bool]:
    """Apply the framing rules to a parsed head and derive its options.

    ``last_host`` is a Host value already validated on this connection (a
    keep-alive client repeats it; skipping the re-check is measurable).

    Returns:
        The head, its (valid) Host value if any, and whether it has a
        ``Connection`` field.

    Raises:
        RemoteProtocolError: with the status to answer (400, 413, 417, 501).
    """
    host: bytes | None = None
    hosts = 0
    content_length: int | None = None
    te: bytes | None = None
    connection: Sequence[bytes] | None = None
    expect: bytes | None = None
    upgrade: bytes | None = None
    as_sent = _KINDS_AS_SENT
    for name, value in headers:
        kind = as_sent.get(name)
        if kind is None:
            if len(name) not in _SPECIAL_LENGTHS:
                continue
            kind = _KINDS.get(name.lower())
        if not kind:
            continue
        if kind == _HOST:
            hosts += 1
            host = value
        elif kind == _CONTENT_LENGTH:
            # llhttp already refused signs, spaces, lists and duplicates
            # (RFC 9112 §6.3 item 5); we therefore also refuse "5, 5".
            content_length = int(value)
        elif kind == _TRANSFER_ENCODING:
            te = value if te is None else te + b"," + value
        elif kind == _CONNECTION:
            tokens: Sequence[bytes] | None = _CONNECTION_TOKENS.get(value)
            if tokens is None:
                tokens = _split_tokens(value)
            connection = tokens if connection is None else [*connection, *tokens]
        elif kind == _EXPECT:
            expect = value
        else:
            upgrade = value
    # RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in HTTP/1.0.
    if hosts > 1 or (hosts == 0 and version == b"1.1"):
        raise RemoteProtocolError("missing or repeated Host")
    if host is not None and host != last_host and not check_host(host):
        raise RemoteProtocolError("invalid Host")
    if not (target[:1] == b"/" and b"#" not in target and method != b"CONNECT"):
        check_target(method, target)

    chunked = False
    if te is not None:
        if content_length is not None:
            # RFC 9112 §6.1: a server MAY reject both; we do (smuggling).
            raise RemoteProtocolError("Content-Length with Transfer-Encoding")
        if version == b"1.0":
            # RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
            raise RemoteProtocolError("Transfer-Encoding in an HTTP/1.0 request")
        codings = _split_tokens(te)
        if codings[-1] != b"chunked":
            # RFC 9112 §6.3 item 4: chunked must be the final coding.
            raise RemoteProtocolError("chunked is not the final transfer coding")
        if len(codings) > 1:
            # RFC 9112 §7.1: chunked only once; RFC 9112 §6.1: unknown
            # codings get 501 (we decode none but chunked).
            if b"chunked" in codings[:-1]:
                raise RemoteProtocolError("chunked applied twice")
            raise RemoteProtocolError("unsupported transfer coding", 501)
        chunked = True
    if max_body is not None and content_length is not None and content_length > max_body:
        raise RemoteProtocolError("request body too large", 413)

    if version == b"1.1":
        keep_alive = connection is None or b"close" not in connection
    else:
        # RFC 9112 §9.3: HTTP/1.0 persists only with "keep-alive".
        keep_alive = (
            connection is not None and b"keep-alive" in connection and b"close" not in connection
        )

    expects_continue = False
    if expect is not None:
        if expect.strip(b" \t").lower() != b"100-continue":
            # RFC 9110 §10.1.1: a server MAY answer 417 to an expectation it
            # does not support; we do rather than ignore it silently.
            raise RemoteProtocolError("unsupported expectation", 417)
        # RFC 9110 §10.1.1: ignore 100-continue from an HTTP/1.0 client.
        expects_continue = version == b"1.1"

    wants: bytes | None = None
    if method == b"CONNECT":
        wants = b"CONNECT"
    elif upgrade is not None and connection is not None and b"upgrade" in connection:
        # RFC 9110 §7.8: Upgrade only counts with the "upgrade" option.
        wants = upgrade.lower()

    head = new_request_head(
        method,
        target,
        version,
        headers,
        keep_alive,
        expects_continue,
        wants,
        content_length,
        chunked,
    )
    return head, host, connection is not None
