"""Response framing, keep-alive signalling and header safety."""

from __future__ import annotations

import pytest
from proto_helpers import GET, started

from sansketch.protocol import (
    Action,
    LocalProtocolError,
    RequestEnd,
    RequestHead,
    RequestRejected,
    State,
)

GET10 = b"GET / HTTP/1.0\r\n\r\n"
GET10_KA = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"


def test_send_response_adds_content_length() -> None:
    conn, _ = started()
    out = conn.send_response(200, [(b"Content-Type", b"text/plain")], b"hello")
    assert out == b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
    assert conn.action is Action.READ and conn.state is State.IDLE


def test_send_response_same_bytes_on_repeat() -> None:
    # The second response reuses a cached head: it must be identical.
    conn, _ = started(GET + GET)
    first = conn.send_response(200, [(b"X", b"1")], b"ab")
    conn.next_events(0.0)
    assert conn.send_response(200, [(b"X", b"1")], b"ab") == first
    conn, _ = started(GET)
    assert conn.send_response(200, [(b"X", b"2")], b"ab") != first


def test_custom_reason_and_unknown_status() -> None:
    conn, _ = started()
    assert conn.send_response(299, [], b"", reason=b"Fine").startswith(b"HTTP/1.1 299 Fine\r\n")
    conn, _ = started()
    with pytest.raises(LocalProtocolError):
        conn.send_response(200, [], b"", reason=b"OK\r\nX: y")
    with pytest.raises(LocalProtocolError):
        conn.send_response(1000, [], b"")
    # A refused head changes nothing: the app can still answer.
    assert conn.send_response(500, [], b"").startswith(b"HTTP/1.1 500 ")


def test_chunked_when_no_length() -> None:
    conn, _ = started()
    head = conn.send_head(200, [(b"Content-Type", b"text/plain")])
    assert (
        head
        == b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    assert conn.send_body(b"hello") == b"5\r\nhello\r\n"
    assert conn.send_body(b"") == b""
    assert conn.send_end([(b"X-T", b"1")]) == b"0\r\nX-T: 1\r\n\r\n"
    assert conn.state is State.IDLE


def test_app_chunked_header_is_not_duplicated() -> None:
    conn, _ = started()
    head = conn.send_head(200, [(b"transfer-encoding", b"Chunked")])
    assert head.lower().count(b"transfer-encoding") == 1
    assert conn.send_end() == b"0\r\n\r\n"


@pytest.mark.parametrize("value", [b"gzip", b"gzip, chunked", b"identity"])
def test_other_transfer_codings_refused(value: bytes) -> None:
    conn, _ = started()
    with pytest.raises(LocalProtocolError):
        conn.send_head(200, [(b"Transfer-Encoding", value)])


def test_content_length_enforced() -> None:
    conn, _ = started()
    conn.send_head(200, [(b"Content-Length", b"5")])
    assert conn.send_body(b"abc") == b"abc"
    with pytest.raises(LocalProtocolError):
        conn.send_body(b"def")
    assert conn.action is Action.CLOSE
    conn, _ = started()
    conn.send_head(200, [(b"Content-Length", b"5")])
    conn.send_body(b"abc")
    with pytest.raises(LocalProtocolError):
        conn.send_end()
    assert conn.action is Action.CLOSE
    conn, _ = started()
    with pytest.raises(LocalProtocolError):
        conn.send_response(200, [(b"Content-Length", b"3")], b"hello")


def test_close_delimited_for_http10() -> None:
    conn, _ = started(GET10_KA)
    head = conn.send_head(200, [])
    assert b"Transfer-Encoding" not in head and b"Connection: close\r\n" in head
    assert conn.send_body(b"raw") == b"raw"
    assert conn.send_end() == b""
    assert conn.action is Action.CLOSE


def test_http10_keep_alive_with_length() -> None:
    conn, _ = started(GET10_KA + GET10_KA)
    out = conn.send_response(200, [], b"x")
    assert b"Connection: keep-alive\r\n" in out
    assert conn.action is Action.READ
    assert isinstance(conn.next_events(0.0)[0], RequestHead)


def test_http10_without_keep_alive_closes() -> None:
    conn, _ = started(GET10)
    out = conn.send_response(200, [], b"x")
    assert b"Connection: close\r\n" in out and conn.action is Action.CLOSE


def test_request_close_gets_close() -> None:
    conn, _ = started(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert b"Connection: close\r\n" in conn.send_response(200, [], b"")
    assert conn.action is Action.CLOSE


def test_app_connection_close_honoured() -> None:
    conn, _ = started()
    out = conn.send_response(200, [(b"Connection", b"close")], b"")
    assert out.count(b"Connection") == 1 and conn.action is Action.CLOSE


def test_head_keeps_content_length_without_body() -> None:
    conn, _ = started(HEAD)
    assert conn.send_response(200, [], b"hello") == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
    conn, _ = started(HEAD)
    head = conn.send_head(200, [(b"Content-Length", b"1234")])
    assert b"Content-Length: 1234" in head
    assert conn.send_body(b"x" * 10) == b""
    assert conn.send_end() == b""
    assert conn.state is State.IDLE


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status: int) -> None:
    conn, _ = started()
    out = conn.send_response(status, [], b"ignored")
    assert out.endswith(b"\r\n\r\n") and b"ignored" not in out
    assert b"Content-Length" not in out
    conn, _ = started()
    head = conn.send_head(status, [])
    assert b"Transfer-Encoding" not in head
    assert conn.send_body(b"x") == b""
    assert conn.send_end() == b""


def test_content_length_refused_with_204_and_1xx() -> None:
    conn, _ = started()
    with pytest.raises(LocalProtocolError):
        conn.send_head(204, [(b"Content-Length", b"0")])
    with pytest.raises(LocalProtocolError):
        conn.send_head(103, [(b"Content-Length", b"0")])


def test_interim_response() -> None:
    conn, _ = started()
    assert conn.send_head(103, [(b"Link", b"</a>; rel=preload")]) == (
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"
    )
    assert conn.state is State.RECV_REQUEST
    assert conn.send_response(200, [], b"").startswith(b"HTTP/1.1 200")
    conn, _ = started(GET10)
    assert conn.send_head(103, []) == b""  # RFC 9110 §15.2: not to HTTP/1.0


@pytest.mark.parametrize(
    "headers",
    [
        [(b"X", b"a\r\nInjected: yes")],
        [(b"X", b"a\nb")],
        [(b"X", b"a\rb")],
        [(b"X", b"a\x00b")],
        [(b"X-A", b"ok"), (b"X", b"\r\n")],
        [(b"X\r\nY", b"v")],
        [(b"X Y", b"v")],
        [(b"X:", b"v")],
        [(b"", b"v")],
        [(b"X\x00", b"v")],
    ],
)
def test_header_injection_refused(headers: list[tuple[bytes, bytes]]) -> None:
    for send in ("response", "head"):
        conn, _ = started()
        with pytest.raises(LocalProtocolError):
            if send == "response":
                conn.send_response(200, headers, b"")
            else:
                conn.send_head(200, headers)
        assert conn.state is State.RECV_REQUEST


def test_trailer_injection_refused() -> None:
    conn, _ = started()
    conn.send_head(200, [])
    with pytest.raises(LocalProtocolError):
        conn.send_end([(b"X", b"a\r\nb")])


def test_send_in_wrong_state() -> None:
    conn, _ = started(b"")
    with pytest.raises(LocalProtocolError):
        conn.send_response(200, [], b"")
    with pytest.raises(LocalProtocolError):
        conn.send_body(b"x")
    conn, _ = started()
    with pytest.raises(LocalProtocolError):
        conn.send_end()
    conn.send_response(200, [], b"")
    with pytest.raises(LocalProtocolError):
        conn.send_head(200, [])


def test_frame_body() -> None:
    conn, _ = started()
    conn.send_head(200, [])
    assert conn.response_has_body
    assert conn.frame_body(10) == (b"a\r\n", b"\r\n")
    assert conn.frame_body(0) == (b"", b"")
    conn, _ = started()
    conn.send_head(200, [(b"Content-Length", b"10")])
    assert conn.frame_body(6) == (b"", b"")
    assert conn.frame_body(4) == (b"", b"")
    with pytest.raises(LocalProtocolError):
        conn.frame_body(1)
    assert conn.action is Action.CLOSE
    conn, _ = started()
    conn.send_head(200, [(b"Content-Length", b"10")])
    conn.frame_body(6)
    with pytest.raises(LocalProtocolError):
        conn.send_end()
    conn, _ = started(HEAD)
    conn.send_head(200, [(b"Content-Length", b"10")])
    assert not conn.response_has_body
    with pytest.raises(LocalProtocolError):
        conn.frame_body(10)


def test_send_error() -> None:
    conn, events = started(b"GET / HTTP/1.1\r\nHost: a\r\nX : <script>\r\n\r\n")
    (error,) = events
    assert isinstance(error, RequestRejected) and error.status == 400
    assert conn.action is Action.PAUSE
    out = conn.send_error(error)
    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Connection: close\r\n" in out and b"script" not in out
    assert b"\r\n\r\nBad Request\n" in out
    assert conn.action is Action.CLOSE
    # Sticky: nothing more is parsed or sent.
    assert conn.receive_data(GET, 1.0) == []
    with pytest.raises(LocalProtocolError):
        conn.send_response(200, [], b"")


@pytest.mark.parametrize("status", [400, 408, 413, 414, 417, 431, 501, 505])
def test_error_statuses(status: int) -> None:
    conn, _ = started(b"GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n")
    out = conn.send_error(RequestRejected(status, "why"))
    assert out.startswith(b"HTTP/1.1 %d " % status) and b"why" not in out


def test_error_after_response_started_is_silent_close() -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    conn, _ = started(data)
    conn.send_head(200, [])
    (error,) = conn.receive_data(b"zz\r\n", 0.0)
    assert isinstance(error, RequestRejected)
    assert conn.send_error(error) == b""
    assert conn.action is Action.CLOSE


def test_pipelined_responses_in_order() -> None:
    conn, events = started(GET.replace(b"/ ", b"/1 ") + GET.replace(b"/ ", b"/2 "))
    assert isinstance(events[0], RequestHead) and events[0].target == b"/1"
    assert events[1:] == [RequestEnd()]
    assert conn.next_events(0.0) == []  # held until the response ends
    conn.send_response(200, [], b"1")
    (head, end) = conn.next_events(0.0)
    assert isinstance(head, RequestHead) and head.target == b"/2"
    assert end == RequestEnd()


def test_error_after_streamed_response_to_previous_request() -> None:
    conn, _ = started(GET + b"GET / HTTP/1.1\r\nX : y\r\n\r\n")
    conn.send_head(200, [])
    conn.send_end()
    (error,) = conn.next_events(0.0)
    assert isinstance(error, RequestRejected)
    assert conn.send_error(error).startswith(b"HTTP/1.1 400 ")


def test_slow_path_response_then_request_with_body_in_flight() -> None:
    # A response through the general path must not leave the next request
    # (whose body is still arriving) on the hot path: it must drain or close.
    post = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\nab"
    conn, _ = started(GET + post)
    conn.send_response(200, [(b"Content-Length", b"0")], b"")
    conn.next_events(0.0)
    out = conn.send_response(200, [], b"early")
    assert b"Connection: close\r\n" in out and conn.action is Action.CLOSE
