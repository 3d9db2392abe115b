"""Header helpers shared by requests, responses and multipart parts.

Parsing here is lenient (clients send odd but harmless things); building is
strict: whatever the app hands us on its way to the wire is checked for the
bytes that would let one header smuggle in another (CR, LF, NUL).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import unquote

# RFC 9110 §5.6.2: token = 1*tchar.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 §5.5: field values never carry CR, LF or NUL.
_FORBIDDEN_VALUE_RE = re.compile(r"[\r\n\x00]")

# Pre-encoded header pairs the hot path sends again and again.
_ENCODED: dict[tuple[str, str], tuple[bytes, bytes]] = {
    (name, value): (name.encode("latin-1"), value.encode("latin-1"))
    for name, value in (
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Type", "application/json"),
        ("Content-Type", "application/octet-stream"),
        ("Connection", "close"),
        ("Accept-Ranges", "bytes"),
    )
}


def is_token(value: str) -> bool:
    """Whether ``value`` is an RFC 9110 §5.6.2 token (e.g. a field name)."""
    return _TOKEN_RE.fullmatch(value) is not None


def check_value(value: str, what: str = "header value") -> None:
    """Raise ValueError when ``value`` holds CR, LF or NUL (header injection)."""
    if _FORBIDDEN_VALUE_RE.search(value) is not None:
        raise ValueError(f"{what} must not contain CR, LF or NUL: {value!r}")


def encode_header(name: str, value: str) -> tuple[bytes, bytes]:
    """Validate one header set by the app and encode it as latin-1 bytes.

    Raises:
        ValueError: the name is not a token, the value holds CR/LF/NUL, or
            either is not latin-1 encodable.
    """
    cached = _ENCODED.get((name, value))
    if cached is not None:
        return cached
    if _TOKEN_RE.fullmatch(name) is None:
        raise ValueError(f"invalid header name: {name!r}")
    check_value(value)
    try:
        return name.encode("latin-1"), value.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ValueError(f"header {name!r} is not latin-1 encodable") from exc


def encode_headers(items: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Encode many headers with :func:`encode_header`."""
    return [encode_header(name, value) for name, value in items]


def _unquote_string(value: str) -> str:
    """Undo an RFC 9110 §5.6.4 quoted-string (the quotes already stripped)."""
    if "\\" not in value:
        return value
    return re.sub(r"\\(.)", r"\1", value)


# A parameter: name = token / quoted-string (RFC 9110 §5.6.6).
_PARAM_RE = re.compile(
    r"""\s*;\s*([^\s=;]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;]*))?""",
    re.DOTALL,
)


@lru_cache(maxsize=256)
def parse_header_params(value: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Split ``type/sub; a=1; b="x"`` into the lower-cased main value and params.

    Parameter names are lower-cased, quoted values unquoted. Malformed pieces
    are skipped rather than rejected: these headers only inform, the caller
    decides what is required.
    """
    main, sep, rest = value.partition(";")
    params: list[tuple[str, str]] = []
    if sep:
        pos = 0
        rest = ";" + rest
        while pos < len(rest):
            match = _PARAM_RE.match(rest, pos)
            if match is None:
                # Skip to the next ';' and carry on.
                nxt = rest.find(";", pos + 1)
                if nxt < 0:
                    break
                pos = nxt
                continue
            pname, pvalue = match.group(1), match.group(2) or ""
            pvalue = pvalue.strip()
            if len(pvalue) >= 2 and pvalue[0] == '"' and pvalue[-1] == '"':
                pvalue = _unquote_string(pvalue[1:-1])
            params.append((pname.lower(), pvalue))
            pos = match.end()
    return main.strip().lower(), tuple(params)


def content_type_parts(value: str | None) -> tuple[str, dict[str, str]]:
    """Media type and parameters of a Content-Type value (default octet-stream)."""
    if not value:
        return "application/octet-stream", {}
    main, params = parse_header_params(value)
    return main or "application/octet-stream", dict(params)


def decode_ext_value(value: str) -> str | None:
    """Decode an RFC 8187 ext-value (``UTF-8''%E2%82%AC.txt``); None if malformed."""
    charset, sep, rest = value.partition("'")
    if not sep:
        return None
    _lang, sep, encoded = rest.partition("'")
    if not sep:
        return None
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="strict")
    except (LookupError, UnicodeDecodeError):
        return None


def quote_param(value: str) -> str:
    """A parameter value as a token if it is one, else a quoted-string."""
    if is_token(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
