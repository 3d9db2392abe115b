"""100-continue, early responses, upgrades, back-pressure and peer EOF."""

from __future__ import annotations

from proto_helpers import GET, started

from sansketch.protocol import (
    Action,
    BodyData,
    Limits,
    RequestEnd,
    RequestHead,
    RequestRejected,
    ServerConnection,
    State,
    Upgrade,
)

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
EXPECT = b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"


def test_lazy_100_continue() -> None:
    conn, (head,) = started(EXPECT)
    assert isinstance(head, RequestHead) and head.expects_continue
    assert conn.accept_body() == CONTINUE
    assert conn.accept_body() == b""  # only once
    assert conn.receive_data(b"hello", 0.0) == [BodyData(b"hello"), RequestEnd()]
    out = conn.send_response(200, [], b"ok")
    assert b"Connection: close" not in out and conn.action is Action.READ


def test_no_100_to_http10_or_without_expect() -> None:
    conn, _ = started(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
    assert conn.accept_body() == b""
    conn, _ = started(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n")
    assert conn.accept_body() == b""


def test_no_100_once_body_arrived_or_response_started() -> None:
    conn, _ = started(EXPECT + b"hello")
    assert conn.accept_body() == b""
    conn, _ = started(EXPECT)
    conn.send_head(200, [(b"Content-Length", b"0")])
    assert conn.accept_body() == b""


def test_answer_before_100_closes() -> None:
    # The client may still be waiting for 100 and never send the body.
    conn, _ = started(EXPECT)
    out = conn.send_response(417, [], b"")
    assert b"Connection: close\r\n" in out
    assert conn.action is Action.CLOSE


def test_early_response_discards_known_small_body() -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"
    conn, events = started(data)
    assert events[-1] == BodyData(b"abc")
    out = conn.send_response(413, [], b"no")
    assert b"Connection: close" not in out
    assert conn.action is Action.READ
    # The rest of the body is drained without events, then the next request.
    # (the response has ended, so the next request comes out directly).
    events = conn.receive_data(b"defghij" + GET, 0.0)
    assert isinstance(events[0], RequestHead) and events[1:] == [RequestEnd()]


def test_early_response_discard_in_pieces() -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"
    conn, _ = started(data)
    conn.send_response(200, [], b"")
    assert conn.receive_data(b"01234", 0.0) == []
    events = conn.receive_data(b"56789" + GET, 0.0)
    assert isinstance(events[0], RequestHead)


def test_early_response_large_or_unknown_body_closes() -> None:
    limits = Limits(max_discard_bytes=100)
    conn, _ = started(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n", limits)
    assert b"Connection: close" in conn.send_response(200, [], b"")
    assert conn.action is Action.CLOSE
    chunked = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    conn, _ = started(chunked, limits)
    assert b"Connection: close" in conn.send_response(200, [], b"")


def test_held_pipeline_pauses_reading() -> None:
    limits = Limits(max_buffered_bytes=1000)
    conn, events = started(GET, limits)
    assert len(events) == 2
    for _ in range(60):
        assert conn.receive_data(GET, 0.0) == []
    assert conn.action is Action.PAUSE
    conn.send_response(200, [], b"")
    answered = 1
    while events := conn.next_events(0.0):
        assert isinstance(events[0], RequestHead)
        conn.send_response(200, [], b"")
        answered += 1
    assert answered == 61
    assert conn.action is Action.READ


def test_held_body_of_later_request() -> None:
    body_req = b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc"
    conn, _ = started(GET + body_req)
    assert conn.receive_data(b"def", 0.0) == []
    conn.send_response(200, [], b"")
    events = conn.next_events(0.0)
    assert events[1:] == [BodyData(b"abc"), BodyData(b"def"), RequestEnd()]


def test_partial_held_request_continues_directly() -> None:
    conn, _ = started(GET + b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc")
    conn.send_response(200, [], b"")
    events = conn.next_events(0.0)
    assert events[1:] == [BodyData(b"abc")]
    assert conn.receive_data(b"def", 0.0) == [BodyData(b"def"), RequestEnd()]


def test_peer_eof_after_complete_requests_still_answered() -> None:
    conn, _ = started(GET + GET)
    assert conn.receive_data(b"", 0.0) == []
    assert conn.action is Action.PAUSE  # nothing more to read, answers pending
    conn.send_response(200, [], b"")
    assert len(conn.next_events(0.0)) == 2
    conn.send_response(200, [], b"")
    assert conn.next_events(0.0) == []
    assert conn.action is Action.CLOSE


def test_peer_eof_mid_body() -> None:
    conn, _ = started(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc")
    (error,) = conn.receive_data(b"", 0.0)
    assert isinstance(error, RequestRejected) and error.status == 400
    assert conn.action is Action.CLOSE


UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def test_upgrade_accepted() -> None:
    conn, (head, end) = started(UPGRADE + b"\x81\x05hello")
    assert isinstance(head, RequestHead) and head.upgrade == b"websocket"
    assert end == RequestEnd()
    conn.receive_data(b"more", 0.0)
    out = conn.send_response(101, [(b"Connection", b"Upgrade"), (b"Upgrade", b"websocket")])
    assert out.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Connection: Upgrade\r\n" in out and b"Content-Length" not in out
    assert conn.action is Action.UPGRADE
    assert conn.next_events(0.0) == [Upgrade(b"\x81\x05hellomore")]
    assert conn.state is State.SWITCHED


def test_upgrade_declined_parses_http_again() -> None:
    conn, _ = started(UPGRADE + GET)
    conn.send_response(426, [], b"no")
    assert conn.action is Action.READ
    events = conn.next_events(0.0)
    assert isinstance(events[0], RequestHead) and events[0].upgrade is None


def test_upgrade_behind_a_pipelined_request_keeps_its_tail() -> None:
    # Answering the request before it must not touch the bytes after the
    # upgrade head: they belong to the new protocol if the switch happens.
    conn, _ = started(GET + UPGRADE + b"\x81\x05hello")
    # A reason phrase: the general path, which ends the response in full.
    conn.send_response(200, [], b"first", b"Fine")
    head, _end = conn.next_events(0.0)
    assert isinstance(head, RequestHead) and head.upgrade == b"websocket"
    conn.send_response(101, [(b"Connection", b"Upgrade"), (b"Upgrade", b"websocket")])
    assert conn.next_events(0.0) == [Upgrade(b"\x81\x05hello")]


def test_upgrade_behind_a_pipelined_request_declined() -> None:
    conn, _ = started(GET + UPGRADE + GET)
    conn.send_response(200, [], b"first", b"Fine")
    head, _end = conn.next_events(0.0)
    assert isinstance(head, RequestHead) and head.upgrade == b"websocket"
    conn.send_response(426, [], b"no")
    events = conn.next_events(0.0)
    assert isinstance(events[0], RequestHead) and events[0].upgrade is None
    assert events[0].target == b"/"


def test_upgrade_with_body_served_as_plain_request() -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
        b"Content-Length: 3\r\n\r\nabc" + GET
    )
    conn, events = started(data)
    assert isinstance(events[0], RequestHead) and events[0].upgrade is None
    assert events[1:] == [BodyData(b"abc"), RequestEnd()]
    conn.send_response(200, [], b"")
    assert isinstance(conn.next_events(0.0)[0], RequestHead)


def test_connect_tunnel() -> None:
    conn, (head, _) = started(b"CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:443\r\n\r\nTLS")
    assert isinstance(head, RequestHead) and head.upgrade == b"CONNECT"
    out = conn.send_response(200, [])
    assert b"Content-Length" not in out and b"Transfer-Encoding" not in out
    assert conn.action is Action.UPGRADE
    assert conn.next_events(0.0) == [Upgrade(b"TLS")]


def test_101_without_upgrade_request_refused() -> None:
    import pytest

    from sansketch.protocol import LocalProtocolError

    conn, _ = started()
    with pytest.raises(LocalProtocolError):
        conn.send_response(101, [])


def test_upgrade_tail_pauses() -> None:
    conn, _ = started(UPGRADE, Limits(max_buffered_bytes=10))
    conn.receive_data(b"x" * 11, 0.0)
    assert conn.action is Action.PAUSE


def test_fresh_connection_state() -> None:
    conn = ServerConnection()
    assert conn.action is Action.READ and conn.state is State.IDLE
    assert conn.next_deadline() is None


# A keep-alive read holding exactly a head the parser learnt skips the parser
# (RequestParser.feed, ServerConnection.receive_data); only at a boundary.
def _learnt() -> ServerConnection:
    conn, events = started(GET)
    assert [type(e) for e in events] == [RequestHead, RequestEnd]
    conn.send_response(200, [], b"")
    return conn


def test_learnt_head_read_again_is_a_request() -> None:
    conn = _learnt()
    for i in range(3):
        assert conn.next_events(i) == [] and conn.state is State.IDLE
        # The keep-alive timer runs from the end of the last response.
        assert conn.next_deadline() == i + conn.limits.keep_alive_timeout
        events = conn.receive_data(GET, i + 0.5)
        assert events == [RequestHead(b"GET", b"/", b"1.1", [(b"Host", b"a")]), RequestEnd()]
        assert conn.state is State.RECV_REQUEST and conn.next_deadline() is None
        conn.send_response(200, [], b"")


def test_learnt_head_is_held_while_a_request_is_answered() -> None:
    conn = _learnt()
    assert len(conn.receive_data(GET, 0.0)) == 2
    assert conn.receive_data(GET, 0.0) == []  # pipelined behind the first
    conn.send_head(200, [(b"Content-Length", b"2")])
    assert conn.receive_data(GET, 0.0) == []
    conn.send_body(b"ok")
    conn.send_end()
    assert [type(e) for e in conn.next_events(0.0)] == [RequestHead, RequestEnd]
    conn.send_response(200, [], b"")
    assert [type(e) for e in conn.next_events(0.0)] == [RequestHead, RequestEnd]


def test_learnt_head_bytes_mid_message_are_not_a_request() -> None:
    # After a partial head, an unknown method whose verdict waits for more
    # bytes, a body being drained, or the peer's EOF, the same bytes mean
    # something else.
    conn = _learnt()
    assert conn.receive_data(b"GET /x HTTP/1.1\r\nHo", 0.0) == []
    events = conn.receive_data(GET, 0.0)
    assert [type(e) for e in events] == [RequestRejected]

    conn = _learnt()
    assert conn.receive_data(b"XYZ", 0.0) == []
    assert conn.receive_data(GET, 0.0) == [RequestRejected(501, "unknown method")]

    conn = _learnt()
    post = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % (len(GET) + 1)
    assert [type(e) for e in conn.receive_data(post, 0.0)] == [RequestHead]
    conn.send_response(200, [], b"")  # early: the body is drained
    assert conn.receive_data(GET, 0.0) == []
    assert [type(e) for e in conn.receive_data(b"x" + GET, 0.0)] == [RequestHead, RequestEnd]

    conn = _learnt()
    assert conn.receive_data(b"", 0.0) == []
    assert conn.receive_data(GET, 0.0) == []
    assert conn.action is Action.CLOSE
