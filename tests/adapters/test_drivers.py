"""Every driver over real sockets on 127.0.0.1: one suite, parametrised by backend."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import struct
import tempfile
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import live_app
import pytest
from live_server import TIMEOUT, LiveServer

from sansketch.protocol import Limits

GET = b"GET %s HTTP/1.1\r\nHost: test\r\n\r\n"


def get(path: bytes) -> bytes:
    return GET % path


# -- basics --------------------------------------------------------------------
def test_hello_with_date_and_server(server: LiveServer) -> None:
    response = httpx.get(server.url + "/", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.text == "Hello, World!"
    # RFC 9110 §6.6.1: an origin server with a clock sends Date.
    assert response.headers["date"].endswith(" GMT")
    assert response.headers["server"] == "sansketch"


def test_date_follows_the_clock_second_by_second(server: LiveServer) -> None:
    def served_date(client: httpx.Client) -> float:
        value = client.get(server.url + "/").headers["date"]
        return parsedate_to_datetime(value).timestamp()

    with httpx.Client(timeout=TIMEOUT) as client:
        first = served_date(client)
        assert abs(first - time.time()) <= 1
        # Just past the next second of the wall clock: a new Date.
        time.sleep(1.05 - time.time() % 1.0)
        second = served_date(client)
        assert second == int(time.time()) and second > first


def test_keep_alive_serves_many_requests_on_one_connection(server: LiveServer) -> None:
    client = server.connect()
    for _ in range(5):
        client.send(get(b"/"))
        response = client.read_response()
        assert response.status == 200
        assert response.body == b"Hello, World!"
        assert response.header("connection") is None
    client.close()


def test_pipelined_requests_are_answered_in_order(server: LiveServer) -> None:
    client = server.connect()
    client.send(
        get(b"/big?n=20")
        + b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
        + get(b"/")
        + get(b"/chunks?count=2")
    )
    assert client.read_response().body == b"01234567890123456789"
    assert client.read_response().body == b"hello"
    assert client.read_response().body == b"Hello, World!"
    assert client.read_response().body == b"piece 0\npiece 1\n"
    client.close()


def test_chunked_request_and_chunked_response(server: LiveServer) -> None:
    client = server.connect()
    client.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n\r\n"
    )
    assert client.read_response().body == b"hello world"
    client.send(get(b"/chunks?count=3"))
    response = client.read_response()
    assert response.header("transfer-encoding") == "chunked"
    assert response.body == b"piece 0\npiece 1\npiece 2\n"
    client.close()


def test_request_trailers_reach_the_handler(server: LiveServer) -> None:
    client = server.connect()
    head = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    client.send(head + b"3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n")
    response = client.read_response()
    assert (response.body, response.header("x-trailers")) == (b"abc", "X-Sum=1")
    # No body at all: the request is whole when its head is parsed; the
    # trailers come with its end all the same.
    client.send(head + b"0\r\nX-Sum: 2\r\n\r\n")
    response = client.read_response()
    assert (response.body, response.header("x-trailers")) == (b"", "X-Sum=2")
    # The same behind another request (pipelined).
    client.send(get(b"/") + head + b"0\r\nX-Sum: 3\r\n\r\n")
    assert client.read_response().body == b"Hello, World!"
    assert client.read_response().header("x-trailers") == "X-Sum=3"
    client.close()


def test_large_bodies_both_ways(server: LiveServer) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    with httpx.Client(timeout=TIMEOUT) as client:
        response = client.post(server.url + "/digest", content=payload)
        assert response.text == f"{len(payload)} {hashlib.sha256(payload).hexdigest()}"
        streamed = client.post(
            server.url + "/digest", content=iter([payload[:1000], payload[1000:]])
        )
        assert streamed.text == response.text
        echoed = client.post(server.url + "/echo", content=payload)
        assert echoed.content == payload
        big = client.get(server.url + "/big", params={"n": str(5 * 1024 * 1024)})
        assert len(big.content) == 5 * 1024 * 1024
        assert big.content[:10] == b"0123456789"


def test_files_are_sent_whole_and_in_ranges(server: LiveServer, tmp_path: Path) -> None:
    content = os.urandom(1024 * 1024 + 3)
    (tmp_path / "data.bin").write_bytes(content)
    live_app.files_dir = str(tmp_path)
    with httpx.Client(timeout=TIMEOUT) as client:
        url = server.url + "/file/data.bin"
        assert client.get(url).content == content
        partial = client.get(url, headers={"range": "bytes=1000-200999"})
        assert partial.status_code == 206
        assert partial.content == content[1000:201000]
        head = client.head(url)
        assert head.headers["content-length"] == str(len(content))
        assert head.content == b""
        # The connection is still in step after all three.
        assert client.get(server.url + "/").text == "Hello, World!"


def test_100_continue_is_sent_before_the_body(server: LiveServer) -> None:
    client = server.connect()
    client.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    )
    # A real client waits for the interim response before sending the body.
    interim = client.read_head()
    assert interim.status == 100
    client.send(b"hello")
    response = client.read_response()
    assert response.status == 200
    assert response.body == b"hello"
    client.close()


def test_upgrade_hands_over_the_connection_with_the_bytes_after_the_head(
    server: LiveServer,
) -> None:
    client = server.connect()
    client.send(
        b"GET /upgrade HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nearly"
    )
    head = client.read_head()
    assert head.status == 101
    assert client.read_exactly(5) == b"EARLY"
    client.send(b"more bytes")
    assert client.read_exactly(10) == b"MORE BYTES"
    client.sock.shutdown(socket.SHUT_WR)
    assert client.at_eof()
    client.close()


# -- timeouts ------------------------------------------------------------------------
def test_slow_client_gets_408(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(limits=Limits(request_head_timeout=0.3))
    client = server.connect()
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n")  # and never the blank line
    started = time.monotonic()
    response = client.read_response()
    assert response.status == 408
    assert client.at_eof()
    assert time.monotonic() - started < 5
    client.close()


def test_idle_keep_alive_connection_is_closed(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(limits=Limits(keep_alive_timeout=0.3))
    client = server.connect()
    client.send(get(b"/"))
    assert client.read_response().status == 200
    started = time.monotonic()
    assert client.at_eof()
    assert 0.2 < time.monotonic() - started < 5
    client.close()


def test_a_busy_keep_alive_connection_outlives_its_first_idle_deadline(
    start_server: Callable[..., LiveServer],
) -> None:
    # Drivers arm the idle deadline lazily: a timer armed after the first
    # response fires while later requests have moved the deadline on. It
    # must re-arm, not close; the connection closes only once really idle.
    server = start_server(limits=Limits(keep_alive_timeout=0.4))
    client = server.connect()
    started = time.monotonic()
    while True:  # 2.5 idle periods, never idle for long
        client.send(get(b"/"))
        assert client.read_response().status == 200
        idle_from = time.monotonic()
        if idle_from - started > 1.0:
            break
        time.sleep(0.1)
    assert client.at_eof()
    assert 0.3 < time.monotonic() - idle_from < 5
    client.close()


def test_a_silent_connection_is_closed(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(limits=Limits(keep_alive_timeout=0.3, request_head_timeout=0.3))
    client = server.connect()  # and never a byte
    started = time.monotonic()
    assert client.at_eof()
    assert time.monotonic() - started < 5
    client.close()


# -- connection cap and isolation ---------------------------------------------------
def test_connections_beyond_the_cap_get_503(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(max_connections=2)
    first, second = server.connect(), server.connect()
    for client in (first, second):
        client.send(get(b"/"))
        assert client.read_response().status == 200
    third = server.connect()
    response = third.read_response()
    assert response.status == 503
    assert response.header("connection") == "close"
    assert third.at_eof()
    third.close()
    # Once a slot frees up, new connections are served again.
    first.close()
    deadline = time.monotonic() + TIMEOUT
    while True:
        client = server.connect()
        client.send(get(b"/"))
        status = client.read_response().status
        client.close()
        if status == 200 or time.monotonic() > deadline:
            break
    assert status == 200
    second.close()


def test_a_faulty_connection_does_not_reach_the_others(server: LiveServer) -> None:
    healthy = server.connect()
    healthy.send(get(b"/"))
    assert healthy.read_response().status == 200
    # A handler error becomes a 500 without the exception's text.
    crashing = server.connect()
    crashing.send(get(b"/fail"))
    response = crashing.read_response()
    assert response.status == 500
    assert b"secret detail" not in response.body
    # A reset in the middle of a request body.
    reset = server.connect()
    reset.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\npartial")
    reset.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    reset.close()
    # A half-close after a complete request still gets its answer.
    half = server.connect()
    half.send(get(b"/"))
    half.sock.shutdown(socket.SHUT_WR)
    assert half.read_response().body == b"Hello, World!"
    assert half.at_eof()
    half.close()
    # Garbage gets a 400 and a close.
    garbage = server.connect()
    garbage.send(b"GET / HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n")
    assert garbage.read_response().status == 400
    garbage.close()
    healthy.send(get(b"/"))
    assert healthy.read_response().body == b"Hello, World!"
    healthy.close()


def test_access_log_is_off_by_default_and_on_with_the_flag(
    start_server: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sansketch.access")
    quiet = start_server()
    assert httpx.get(quiet.url + "/", timeout=TIMEOUT).status_code == 200
    assert not [r for r in caplog.records if r.name == "sansketch.access"]
    quiet.stop()
    logged = start_server(access_log=True)
    with httpx.Client(timeout=TIMEOUT) as client:
        assert client.get(logged.url + "/big?n=3").status_code == 200
        # The line is logged after the response is written; the connection's
        # next request is served only after that.
        assert client.get(logged.url + "/").status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "sansketch.access"]
    assert any('"GET /big?n=3 HTTP/1.1" 200' in line for line in lines), lines


# -- graceful shutdown -------------------------------------------------------------------
def test_shutdown_closes_idle_connections_and_finishes_the_one_in_flight(
    server: LiveServer,
) -> None:
    idle = server.connect()
    idle.send(get(b"/"))
    assert idle.read_response().status == 200
    busy = server.connect()
    busy.send(get(b"/wait"))
    assert live_app.handler_started.wait(TIMEOUT)
    server.trigger.set()
    # The idle keep-alive connection closes at once, before the busy one ends.
    assert idle.at_eof()
    assert server.running
    live_app.release.set()
    response = busy.read_response()
    assert response.status == 200
    assert response.body == b"waited"
    assert response.header("connection") == "close"
    assert busy.at_eof()
    assert server.stop() == 0


def test_shutdown_timeout_closes_the_rest_and_counts_them(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(shutdown_timeout=0.3)
    stuck = server.connect()
    stuck.send(get(b"/forever"))
    assert live_app.handler_started.wait(TIMEOUT)
    started = time.monotonic()
    assert server.stop() == 1
    assert time.monotonic() - started < 5
    assert stuck.at_eof()
    stuck.close()


def test_new_connections_are_refused_after_shutdown(server: LiveServer) -> None:
    address = server.address
    server.stop()
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=TIMEOUT).recv(1)
        raise ConnectionRefusedError  # an accepted-then-closed socket also counts


# -- Unix socket ---------------------------------------------------------------------------
def test_unix_socket(start_server: Callable[..., LiveServer]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s.sock")
        server = start_server(unix=path)
        assert server.url == f"unix:{path}"
        transport = httpx.HTTPTransport(uds=path)
        with httpx.Client(transport=transport, timeout=TIMEOUT) as client:
            assert client.get("http://localhost/").text == "Hello, World!"
            assert client.post("http://localhost/echo", content=b"x" * 100_000).content == (
                b"x" * 100_000
            )
        server.stop()
