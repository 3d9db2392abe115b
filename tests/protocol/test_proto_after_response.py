"""after_response: the same answers as next_events, action and next_deadline.

Each scenario is played on two connections fed the same bytes at the same
times: one asks ``after_response(now)``, the other the three calls in turn.
The answers, and everything the connections do afterwards, must agree.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from proto_helpers import GET

from sansketch.protocol import Action, Limits, RequestHead, ServerConnection, State

LIMITS = Limits(
    request_head_timeout=10.0,
    keep_alive_timeout=5.0,
    shutdown_timeout=30.0,
    max_buffered_bytes=64,
)
POST = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"
CLOSE = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
UPGRADE = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"

Answer = Callable[[ServerConnection], bytes]


def ok(conn: ServerConnection) -> bytes:
    return conn.send_response(200, [(b"content-type", b"text/plain")], b"hi")


def switch(conn: ServerConnection) -> bytes:
    return conn.send_head(101, [(b"upgrade", b"websocket"), (b"connection", b"upgrade")])


# (reads before the response, how it is answered, what happens before asking)
SCENARIOS: dict[str, tuple[list[bytes], Answer, Callable[[ServerConnection], object]]] = {
    "keep-alive, nothing more": ([GET], ok, lambda conn: None),
    "keep-alive, learnt head": ([GET, GET], ok, lambda conn: None),
    "pipelined request held": ([GET + GET], ok, lambda conn: None),
    "part of the next head": ([GET + b"GET / HT"], ok, lambda conn: None),
    "too much pipelined": ([GET + GET * 8], ok, lambda conn: None),
    "unread body to discard": ([POST + b"ab"], ok, lambda conn: None),
    "body read": ([POST + b"abcde"], ok, lambda conn: None),
    "Connection: close": ([CLOSE], ok, lambda conn: None),
    "peer closed after the request": ([GET, b""], ok, lambda conn: None),
    "shutdown while answering": ([GET], ok, lambda conn: conn.start_shutdown(2.0)),
    "upgrade": ([UPGRADE + b"tail"], switch, lambda conn: None),
}


def play(
    reads: list[bytes],
    answer: Answer,
    before: Callable[[ServerConnection], object],
    kind: type[ServerConnection] = ServerConnection,
    limits: Limits = LIMITS,
) -> ServerConnection:
    conn = kind(limits, now=0.0)
    # The head is learnt the second time it comes: answer a first request.
    if reads[0] == GET and len(reads) > 1 and reads[1] == GET:
        conn.receive_data(GET, 0.5)
        ok(conn)
        conn.next_events(0.5)
        reads = reads[1:]
    for data in reads:
        conn.receive_data(data, 1.0)
    answer(conn)
    before(conn)
    return conn


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_after_response_gives_what_the_three_calls_give(name: str) -> None:
    reads, answer, before = SCENARIOS[name]
    fused = play(reads, answer, before)
    apart = play(reads, answer, before)
    events, action, deadline = fused.after_response(3.0)
    assert events == apart.next_events(3.0)
    assert action is apart.action
    assert deadline == apart.next_deadline()
    # And they go on alike: same state, same answer to the next read.
    assert fused.state is apart.state
    assert fused.receive_data(GET, 4.0) == apart.receive_data(GET, 4.0)
    assert fused.next_deadline() == apart.next_deadline()


def test_keep_alive_answer() -> None:
    conn = ServerConnection(LIMITS, now=0.0)
    conn.receive_data(GET, 1.0)
    ok(conn)
    assert conn.after_response(3.0) == ([], Action.READ, 8.0)
    assert conn.state is State.IDLE


def test_pipelined_request_comes_out() -> None:
    conn = ServerConnection(LIMITS, now=0.0)
    conn.receive_data(GET + GET, 1.0)
    ok(conn)
    events, action, deadline = conn.after_response(3.0)
    assert [type(event) for event in events] == [RequestHead, type(events[1])]
    assert action is Action.READ
    assert deadline is None  # a request is in hand: no timer


# -- start_pipelined: the next held request started, or nothing changed ----
class WithoutShortcut(ServerConnection):
    """The oracle: next_events through its general path only."""

    def start_pipelined(self) -> RequestHead | None:
        return None


ROOMY = Limits(request_head_timeout=10.0, keep_alive_timeout=5.0, shutdown_timeout=30.0)
TRAILERS = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-A: 1\r\n\r\n"
PIPELINED: dict[str, tuple[list[bytes], Answer, Callable[[ServerConnection], object]]] = {
    **SCENARIOS,
    "pipelined, learnt head": ([GET, GET + GET + GET], ok, lambda conn: None),
    "pipelined request with a body": ([GET + POST + b"abcde"], ok, lambda conn: None),
    "pipelined request with trailers": ([GET + TRAILERS], ok, lambda conn: None),
    "pipelined, then the peer closed": ([GET + GET, b""], ok, lambda conn: None),
    "pipelined, shutdown while answering": (
        [GET + GET],
        ok,
        lambda conn: conn.start_shutdown(2.0),
    ),
    "pipelined after an upgrade request": ([UPGRADE + GET], switch, lambda conn: None),
    "pipelined after a declined upgrade": ([UPGRADE + GET], ok, lambda conn: None),
    "pipelined after an unread body": ([POST + b"ab", b"cde" + GET], ok, lambda conn: None),
    "pipelined upgrade, long tail": ([GET + UPGRADE + b"x" * 100], ok, lambda conn: None),
    "asked before answering": ([GET + GET], lambda conn: b"", lambda conn: None),
}


@pytest.mark.parametrize("limits", [LIMITS, ROOMY], ids=["small buffer", "roomy buffer"])
@pytest.mark.parametrize("name", list(PIPELINED))
def test_start_pipelined_starts_what_next_events_would(name: str, limits: Limits) -> None:
    reads, answer, before = PIPELINED[name]
    fast = play(reads, answer, before, limits=limits)
    slow = play(reads, answer, before, WithoutShortcut, limits)
    head = fast.start_pipelined()
    if head is None:
        # Nothing changed: the usual questions get the usual answers.
        assert fast.after_response(3.0) == slow.after_response(3.0)
    else:
        events = slow.next_events(3.0)
        assert events == [head, events[1]]
        assert events[1].trailers == []  # type: ignore[union-attr]
        # What the driver may assume without asking.
        assert slow.action is fast.action is Action.READ
        assert slow.next_deadline() is fast.next_deadline() is None
    assert fast.state is slow.state
    # Both answer the request in hand alike and go on alike.
    if fast.state is State.RECV_REQUEST:
        assert ok(fast) == ok(slow)
        assert fast.after_response(4.0) == slow.after_response(4.0)
    assert fast.receive_data(GET, 5.0) == slow.receive_data(GET, 5.0)
    assert fast.next_deadline() == slow.next_deadline()


def test_start_pipelined_runs_through_a_burst() -> None:
    conn = ServerConnection(ROOMY, now=0.0)
    conn.receive_data(GET * 3, 1.0)
    answered = 1
    ok(conn)
    while conn.start_pipelined() is not None:
        assert conn.state is State.RECV_REQUEST
        ok(conn)
        answered += 1
    assert answered == 3
    assert not conn.has_pipelined()
    # The burst is over: idle, timed from the next call that passes now.
    assert conn.after_response(2.0) == ([], Action.READ, 7.0)


def test_start_pipelined_declines_past_the_buffer_limit() -> None:
    # Held input over max_buffered_bytes means PAUSE: the driver must ask.
    conn = ServerConnection(LIMITS, now=0.0)
    conn.receive_data(GET * 4, 1.0)
    assert conn.action is Action.PAUSE
    ok(conn)
    assert conn.start_pipelined() is None
    events, action, _ = conn.after_response(2.0)
    assert isinstance(events[0], RequestHead)
    assert action is Action.PAUSE  # the rest of the burst is still held


def test_start_pipelined_declines_an_upgrade_with_a_long_tail() -> None:
    # Bytes after a held upgrade request wait unparsed; past the buffer
    # limit they mean PAUSE, which only the usual questions tell.
    limits = Limits(max_buffered_bytes=128)
    fast = play([GET + UPGRADE, b"x" * 200], ok, lambda conn: None, limits=limits)
    slow = play([GET + UPGRADE, b"x" * 200], ok, lambda conn: None, WithoutShortcut, limits)
    assert fast.start_pipelined() is None
    assert fast.after_response(3.0) == slow.after_response(3.0)
    assert fast.action is Action.PAUSE
