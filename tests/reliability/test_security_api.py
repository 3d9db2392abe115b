"""Security in the API: injection is refused, counters count, with no server."""

from __future__ import annotations

import logging

import anyio
import pytest

from sansketch import exceptions
from sansketch.app import Application
from sansketch.protocol import (
    LocalProtocolError,
    RejectionCounters,
    RequestHead,
    RequestRejected,
    ServerConnection,
)
from sansketch.protocol._counters import reason_slug
from sansketch.response import Response
from sansketch.runner import _log_counters


def answering() -> ServerConnection:
    conn = ServerConnection()
    events = conn.receive_data(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", 0.0)
    assert isinstance(events[0], RequestHead)
    return conn


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-a", b"a\r\nInjected: 1")],
        [(b"x-a", b"a\nb")],
        [(b"x-a", b"a\x00b")],
        [(b"x-a\r\nInjected", b"1")],
        [(b"x a", b"1")],
        [(b"", b"1")],
    ],
)
def test_core_refuses_injected_header_fields(headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(LocalProtocolError):
        answering().send_head(200, headers)


@pytest.mark.parametrize("reason", [b"OK\r\nInjected: 1", b"O\x00K", b"OK\n"])
def test_core_refuses_injected_reason(reason: bytes) -> None:
    with pytest.raises(LocalProtocolError):
        answering().send_response(200, [], b"", reason)


def test_app_api_refuses_injection() -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        Response(text="x", reason="OK\r\nX: y")
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        exceptions.HTTPFound("/x\r\nSet-Cookie: a=b")
    response = Response(text="x")
    with pytest.raises(ValueError):
        response.set_cookie("a", "b\r\nX: y")
    with pytest.raises(ValueError):
        response.set_cookie("a b", "v")
    with pytest.raises(ValueError):
        response.set_cookie("a", "v", path="/;x")


def test_cookie_and_redirect_helpers_quote_what_they_must() -> None:
    response = Response(text="x")
    response.set_cookie("a", 'hello world, "q"')
    assert response.cookies["a"].header_value().startswith('a="hello world, \\"q\\""')
    # RFC 9110 §10.2.2: Location is a URI reference; what cannot appear in
    # one is percent-encoded, escapes and reserved characters are kept.
    assert exceptions.HTTPFound("/é?q=a b&x=%20#f").location == "/%C3%A9?q=a%20b&x=%20#f"


def test_counter_slugs_are_a_fixed_vocabulary() -> None:
    # Client text inside a reason never becomes a key.
    assert reason_slug("unsupported HTTP version 9.9xyz", 505) == "bad-version"
    assert reason_slug("Invalid header value char", 400) == "malformed"
    assert reason_slug("anything at all", 431) == "headers-too-large"
    counters = RejectionCounters()
    for version in range(100):
        counters.record(RequestRejected(505, f"unsupported HTTP version {version}"))
    assert counters.snapshot() == {("bad-version", 505): 100}
    assert len(counters) == 1 and counters.total() == 100


def test_core_counts_every_rejection_it_answers() -> None:
    counters = RejectionCounters()
    cases = [
        (
            b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X: y\r\n" * 200 + b"\r\n",
            ("headers-too-many", 431),
        ),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", ("line-too-long", 414)),
        (b"BREW / HTTP/1.1\r\nHost: t\r\n\r\n", ("unknown-method", 501)),
        (b"GET / HTTP/1.1\r\n\r\n", ("bad-host", 400)),
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            ("unknown-coding", 501),
        ),
    ]
    for data, key in cases:
        conn = ServerConnection(counters=counters)
        events = conn.receive_data(data, 0.0)
        rejected = events[-1]
        assert isinstance(rejected, RequestRejected), (data[:30], events)
        assert conn.send_error(rejected).startswith(b"HTTP/1.1 %d " % key[1])
        assert counters[key] == 1, (key, counters)
    # A head deadline is counted when on_deadline answers it.
    conn = ServerConnection(counters=counters)
    conn.receive_data(b"GET / HTTP/1.1\r\nHo", 0.0)
    conn.on_deadline(100.0)
    assert counters[("head-timeout", 408)] == 1
    assert counters.total() == len(cases) + 1


def test_app_exposes_the_counters_and_the_runner_logs_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Application()
    app.counters.add("send-timeout", 0)

    async def main() -> None:
        with anyio.move_on_after(0.05):
            await _log_counters(app, 0.01)

    with caplog.at_level(logging.INFO, logger="sansketch.server"):
        anyio.run(main)
    lines = [r.getMessage() for r in caplog.records if "counters:" in r.getMessage()]
    # Logged once, then only when something changes.
    assert lines == ["counters: send-timeout/0=1"]
