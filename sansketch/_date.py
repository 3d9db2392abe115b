"""The ``Date`` response header, formatted at most once a second.

RFC 9110 §6.6.1: an origin server with a clock MUST send ``Date``. Formatting
an HTTP date costs microseconds, so every driver shares one cached value,
refreshed when the wall-clock second changes.

Who refreshes it: while a server runs, ``keep_date_fresh`` (a task of the
server's) does, at the start of every second, and the per-response path
then reads the cached value without looking at the clock. With no such
task running (the in-memory test client, a driver embedded by hand) every
response checks the clock itself, so the value is never stale either way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from email.utils import formatdate

import anyio

_cached_second = -1
_cached_value = b""

# The running keep_date_fresh tasks (one per server; a set, so that servers
# in several threads add and remove themselves without a lock).
_tickers: set[object] = set()


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


async def keep_date_fresh() -> None:
    """Refresh the cached Date at the start of every second, until cancelled.

    Runs on asyncio and trio. While one runs, ``with_default_headers``
    trusts the cache instead of reading the clock for every response.
    """
    token = object()
    date_header_value()
    _tickers.add(token)
    try:
        while True:
            # Just past the next whole second of the wall clock.
            await anyio.sleep(1.0005 - time.time() % 1.0)
            date_header_value()
    finally:
        _tickers.discard(token)


SERVER_HEADER = (b"server", b"sansketch")

# with_default_headers' last result: (Date value, the app's immutable header
# tuple, the list returned). One tuple, read and replaced whole, so that
# servers in several threads never see the parts of two different results.
_last: tuple[bytes, object, list[tuple[bytes, bytes]]] = (b"", (), [])


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
    global _last
    last = _last
    # The cache is current: refreshed by a running keep_date_fresh, or,
    # with none running, checked against the clock here.
    if (
        headers is last[1]
        and last[0] is _cached_value
        and (_tickers or int(time.time()) == _cached_second)
    ):
        return last[2]
    date = date_header_value()
    if headers is last[1] and date is last[0]:
        return last[2]
    combined = [*headers, (b"date", date), SERVER_HEADER]
    if type(headers) is tuple:
        _last = (date, headers, combined)
    return combined
