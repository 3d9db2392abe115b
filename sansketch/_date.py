"""The ``Date`` response header, formatted at most once a second.

RFC 9110 §6.6.1: an origin server with a clock MUST send ``Date``. Formatting
an HTTP date costs microseconds, so every driver shares this cache and
refreshes it when the wall-clock second changes.
"""

from __future__ import annotations

import time
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
