"""The Date/Server fields every response gets, cached per second."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import anyio
import pytest

from sansketch import _date


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A settable wall clock for the module (starts at a fixed instant)."""
    now = [784111777.25]  # Sun, 06 Nov 1994 08:49:37 GMT
    monkeypatch.setattr(_date.time, "time", lambda: now[0])
    return now


def test_date_is_an_http_date_of_the_current_second(clock: list[float]) -> None:
    assert _date.date_header_value() == b"Sun, 06 Nov 1994 08:49:37 GMT"
    parsed = parsedate_to_datetime(_date.date_header_value().decode())
    assert parsed.timestamp() == 784111777


def test_headers_get_date_and_server_and_the_list_is_reused_within_a_second(
    clock: list[float],
) -> None:
    head = ((b"content-type", b"text/plain"),)
    first = _date.with_default_headers(head)
    assert first == [
        (b"content-type", b"text/plain"),
        (b"date", b"Sun, 06 Nov 1994 08:49:37 GMT"),
        (b"server", b"sansketch"),
    ]
    clock[0] += 0.5
    assert _date.with_default_headers(head) is first
    clock[0] += 1
    later = _date.with_default_headers(head)
    assert later is not first
    assert later[1] == (b"date", b"Sun, 06 Nov 1994 08:49:38 GMT")


def test_a_date_refreshed_elsewhere_is_not_served_stale(clock: list[float]) -> None:
    head = ((b"content-type", b"text/html"),)
    assert _date.with_default_headers(head)[1][1].endswith(b"08:49:37 GMT")
    clock[0] += 1
    # Another caller (an error response, another head) moves the cache on...
    assert _date.default_headers()[0] == (b"date", b"Sun, 06 Nov 1994 08:49:38 GMT")
    # ...and the same head in the new second must carry the new date.
    assert _date.with_default_headers(head)[1] == (b"date", b"Sun, 06 Nov 1994 08:49:38 GMT")


def test_a_list_of_headers_is_not_cached(clock: list[float]) -> None:
    head = [(b"x", b"1")]
    assert _date.with_default_headers(head) is not _date.with_default_headers(head)


# -- refreshed by the server once a second --------------------------------------
@pytest.fixture
def clock_reads(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The real wall clock, counting how often the module reads it."""
    reads: list[float] = []
    real = time.time

    def counted() -> float:
        reads.append(real())
        return reads[-1]

    monkeypatch.setattr(_date.time, "time", counted)
    return reads


@pytest.mark.anyio
async def test_while_a_ticker_runs_responses_do_not_read_the_clock(
    clock_reads: list[float],
) -> None:
    head = ((b"content-type", b"text/plain"),)
    _date.with_default_headers(head)
    clock_reads.clear()
    for _ in range(10):
        _date.with_default_headers(head)
    assert len(clock_reads) == 10  # no ticker: one look at the clock each
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_date.keep_date_fresh)
        await anyio.sleep(0.01)
        clock_reads.clear()
        first = _date.with_default_headers(head)
        for _ in range(10):
            assert _date.with_default_headers(head) is first
        assert clock_reads == []
        tasks.cancel_scope.cancel()
    assert not _date._tickers  # and once it stopped, the clock again
    _date.with_default_headers(head)
    assert len(clock_reads) == 1


@pytest.mark.anyio
async def test_the_ticker_moves_the_date_on_each_second(clock_reads: list[float]) -> None:
    head = ((b"content-type", b"text/plain"),)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_date.keep_date_fresh)
        await anyio.sleep(0.01)
        before = _date.with_default_headers(head)[1][1]
        # Until just past the next second: the ticker has refreshed it by then.
        await anyio.sleep(1.05 - time.time() % 1.0)
        after = _date.with_default_headers(head)[1][1]
        tasks.cancel_scope.cancel()
    assert parsedate_to_datetime(after.decode()).timestamp() == int(time.time())
    assert after != before
