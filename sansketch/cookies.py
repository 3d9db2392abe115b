"""Cookies: parse the request's ``Cookie`` header, build ``Set-Cookie`` values.

Building follows RFC 6265 §4.1 strictly. A cookie name must be a token. A value
made of cookie-octets goes out as is; one with spaces, commas, double quotes or
backslashes is sent as a quoted string (the form browsers and
``http.cookies`` accept). Anything that could end the header or start another
attribute (CR, LF, NUL, other controls, ``;``) or is not ASCII is refused with
ValueError, so a cookie can never inject a header or an attribute.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from types import MappingProxyType

from ._headers_util import is_token

# RFC 6265 §4.1.1: cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
_COOKIE_OCTETS_RE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
# What quoting can carry: printable ASCII and space, but never ';'.
_QUOTABLE_RE = re.compile(r"[\x20-\x3a\x3c-\x7e]*")
# Attribute values (Domain, Path, Expires) end at ';' and must not break the line.
_ATTR_VALUE_RE = re.compile(r"[\x20-\x3a\x3c-\x7e]*")

_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}

EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"


def quote_cookie_value(value: str) -> str:
    """The wire form of a cookie value.

    Raises:
        ValueError: the value holds ``;``, a control character or non-ASCII.
    """
    if _COOKIE_OCTETS_RE.fullmatch(value) is not None:
        return value
    if _QUOTABLE_RE.fullmatch(value) is None:
        raise ValueError(f"cookie value must be printable ASCII without ';': {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_attr(name: str, value: str) -> str:
    if _ATTR_VALUE_RE.fullmatch(value) is None:
        raise ValueError(f"cookie {name} must be printable ASCII without ';': {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class SetCookie:
    """One cookie the response sets (or deletes), validated on creation.

    Raises:
        ValueError: a bad name, value or attribute (see the module docstring).
    """

    name: str
    value: str
    expires: str | datetime | None = None
    domain: str | None = None
    max_age: int | None = None
    path: str | None = "/"
    secure: bool = False
    httponly: bool = False
    samesite: str | None = None

    def __post_init__(self) -> None:
        if not is_token(self.name):
            raise ValueError(f"cookie name must be a token: {self.name!r}")
        quote_cookie_value(self.value)
        if isinstance(self.expires, str):
            _check_attr("expires", self.expires)
        if self.domain is not None:
            _check_attr("domain", self.domain)
        if self.path is not None:
            _check_attr("path", self.path)
        if self.max_age is not None and not isinstance(self.max_age, int):
            raise ValueError(f"max_age must be an int: {self.max_age!r}")
        if self.samesite is not None and self.samesite.lower() not in _SAMESITE:
            raise ValueError(f"samesite must be Lax, Strict or None: {self.samesite!r}")

    def header_value(self) -> str:
        """The ``Set-Cookie`` field value (RFC 6265 §4.1.1)."""
        parts = [f"{self.name}={quote_cookie_value(self.value)}"]
        if self.expires is not None:
            expires = self.expires
            if isinstance(expires, datetime):
                if expires.tzinfo is None:
                    expires = expires.replace(tzinfo=timezone.utc)
                expires = format_datetime(expires.astimezone(timezone.utc), usegmt=True)
            parts.append(f"Expires={expires}")
        if self.domain is not None:
            parts.append(f"Domain={self.domain}")
        if self.max_age is not None:
            parts.append(f"Max-Age={self.max_age}")
        if self.path is not None:
            parts.append(f"Path={self.path}")
        if self.secure:
            parts.append("Secure")
        if self.httponly:
            parts.append("HttpOnly")
        if self.samesite is not None:
            parts.append(f"SameSite={_SAMESITE[self.samesite.lower()]}")
        return "; ".join(parts)


def parse_cookie_header(values: list[str]) -> Mapping[str, str]:
    """Parse ``Cookie`` header values into a read-only name -> value mapping.

    Lenient like browsers (RFC 6265 §5.4 leaves parsing to the server): pieces
    without ``=`` are skipped, surrounding double quotes are removed, the first
    occurrence of a name wins.
    """
    cookies: dict[str, str] = {}
    for header in values:
        for piece in header.split(";"):
            name, sep, value = piece.partition("=")
            if not sep:
                continue
            name = name.strip()
            value = value.strip()
            if not name or name in cookies:
                continue
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            cookies[name] = value
    return MappingProxyType(cookies)
