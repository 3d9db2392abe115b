"""Deadlines and graceful shutdown: time is stepped, never slept."""

from __future__ import annotations

from proto_helpers import GET

from sansketch.protocol import (
    Action,
    DeadlineAction,
    Limits,
    RequestHead,
    ServerConnection,
    State,
)

LIMITS = Limits(request_head_timeout=10.0, keep_alive_timeout=5.0, shutdown_timeout=30.0)


def test_idle_fresh_connection_closes_silently() -> None:
    conn = ServerConnection(LIMITS, now=100.0)
    assert conn.next_deadline() == 105.0
    assert conn.on_deadline(104.9) == (DeadlineAction.NOTHING, b"")
    assert conn.on_deadline(105.0) == (DeadlineAction.CLOSE, b"")
    assert conn.action is Action.CLOSE


def test_slow_head_gets_408() -> None:
    conn = ServerConnection(LIMITS, now=0.0)
    assert conn.receive_data(b"GET / HTTP/1.1\r\nHo", 1.0) == []
    assert conn.next_deadline() == 11.0
    # Trickling more bytes does not move the deadline (slowloris).
    for t in range(2, 11):
        assert conn.receive_data(b"s", float(t)) == []
        assert conn.next_deadline() == 11.0
    assert conn.on_deadline(10.5) == (DeadlineAction.NOTHING, b"")
    action, out = conn.on_deadline(11.0)
    assert action is DeadlineAction.SEND_408_AND_CLOSE
    assert out.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"Connection: close" in out
    assert conn.action is Action.CLOSE
    assert conn.receive_data(b"t: a\r\n\r\n", 12.0) == []


def test_keep_alive_idle_after_response() -> None:
    conn = ServerConnection(LIMITS, now=0.0)
    conn.receive_data(GET, 1.0)
    assert conn.next_deadline() is None  # the app is working: no timer
    conn.send_response(200, [], b"")
    assert conn.next_events(3.0) == []
    assert conn.next_deadline() == 8.0
    assert conn.on_deadline(8.0) == (DeadlineAction.CLOSE, b"")


def test_head_deadline_counts_from_when_connection_was_free() -> None:
    conn = ServerConnection(LIMITS, now=0.0)
    conn.receive_data(GET + b"GET / HT", 1.0)
    assert conn.next_deadline() is None
    conn.send_response(200, [], b"")
    assert conn.next_events(20.0) == []
    assert conn.next_deadline() == 30.0
    assert conn.on_deadline(29.0)[0] is DeadlineAction.NOTHING
    assert conn.on_deadline(30.0)[0] is DeadlineAction.SEND_408_AND_CLOSE


def test_complete_head_clears_head_deadline() -> None:
    conn = ServerConnection(LIMITS, now=0.0)
    conn.receive_data(b"GET / HTTP/1.1\r\n", 1.0)
    events = conn.receive_data(b"Host: a\r\n\r\n", 2.0)
    assert isinstance(events[0], RequestHead)
    assert conn.next_deadline() is None


def test_shutdown_idle_closes_at_once() -> None:
    conn = ServerConnection(LIMITS, now=0.0)
    conn.start_shutdown(1.0)
    assert conn.action is Action.CLOSE


def test_shutdown_finishes_request_in_flight_then_closes() -> None:
    conn = ServerConnection(LIMITS, now=0.0)
    conn.receive_data(GET + GET, 1.0)
    conn.start_shutdown(2.0)
    assert conn.next_deadline() == 32.0
    out = conn.send_response(200, [], b"bye")
    assert b"Connection: close\r\n" in out
    # The held pipelined request is not started (the client was told close).
    assert conn.next_events(3.0) == []
    assert conn.action is Action.CLOSE


def test_shutdown_after_head_sent() -> None:
    conn = ServerConnection(LIMITS, now=0.0)
    conn.receive_data(GET, 1.0)
    conn.send_head(200, [])
    conn.start_shutdown(2.0)
    conn.send_body(b"x")
    conn.send_end()
    assert conn.action is Action.CLOSE


def test_shutdown_drain_expires() -> None:
    conn = ServerConnection(LIMITS, now=0.0)
    conn.receive_data(GET, 1.0)
    conn.start_shutdown(2.0)
    assert conn.on_deadline(31.0) == (DeadlineAction.NOTHING, b"")
    assert conn.on_deadline(32.0) == (DeadlineAction.CLOSE, b"")
    assert conn.state is State.CLOSED and conn.action is Action.CLOSE
