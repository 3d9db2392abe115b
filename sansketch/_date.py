"""The ``Date`` response header, formatted at most once a second.

RFC 9110 §6.6.1: an origin server with a clock MUST send ``Date``. Formatting
an HTTP date costs microseconds, so every driver shares this cache and
refreshes it when the wall-clock second changes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from email.utils import formatdate

_cached_second = -1
_cached_value = b""


def date_header_value(now: float | None = None) -> bytes:
    """The current HTTP-date as bytes, e.g. ``b"Sun, 06 Nov 1994 08:49:37 GMT"``."""
    global _cached_second, _cached_value
    if now is None:
        now = time.time()
    second = int(now)
    if second != _cached_second:
        _cached_value = formatdate(second, usegmt=True).encode("ascii")
        _cached_second = second
    return _cached_value


SERVER_HEADER = (b"server", b"sansketch")

# with_default_headers' last result, reused while the Date value and the
# app's (immutable) header tuple stay the same.
_last_date = b""
_last_headers: object = ()
_last_combined: list[tuple[bytes, bytes]] = []


def default_headers() -> list[tuple[bytes, bytes]]:
    """``Date`` and ``Server``: the fields every response gets (RFC 9110 §6.6.1)."""
    return [(b"date", date_header_value()), SERVER_HEADER]


def with_default_headers(
    headers: Sequence[tuple[bytes, bytes]],
) -> list[tuple[bytes, bytes]]:
    """``headers`` plus ``Date`` and ``Server``.

    The result must not be changed: for the same tuple of headers within
    the same second it is the very list returned last time, which also lets
    the core's head cache match at once.
    """
    global _last_date, _last_headers, _last_combined
    # date_header_value(), inlined for the same headers in the same second.
    if (
        headers is _last_headers
        and int(time.time()) == _cached_second
        and _last_date is _cached_value
    ):
        return _last_combined
    date = date_header_value()
    if headers is _last_headers and date is _last_date:
        return _last_combined
    combined = [*headers, (b"date", date), SERVER_HEADER]
    if type(headers) is tuple:
        _last_date, _last_headers, _last_combined = date, headers, combined
    return combined
