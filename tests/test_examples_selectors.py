"""The selectors example serves keep-alive and pipelined requests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import h11
import pytest

ROOT = Path(__file__).resolve().parents[1]
GET = b"GET /%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "selectors_server.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()  # "listening on http://127.0.0.1:PORT"
        assert line.startswith("listening on http://127.0.0.1:"), line
        yield "127.0.0.1", int(line.rsplit(":", 1)[1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def read_responses(sock: socket.socket, n: int) -> list[bytes]:
    """Read ``n`` complete responses (parsed by h11); returns their bodies."""
    bodies: list[bytes] = []
    pending = b""
    for _ in range(n):
        client = h11.Connection(h11.CLIENT)
        client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
        client.send(h11.EndOfMessage())
        if pending:  # b"" would mean EOF to h11
            client.receive_data(pending)
        body = b""
        while True:
            event = client.next_event()
            if event is h11.NEED_DATA:
                data = sock.recv(65536)
                assert data, "server closed early"
                client.receive_data(data)
            elif isinstance(event, h11.Response):
                assert event.status_code == 200
                assert (b"connection", b"close") not in event.headers
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        bodies.append(body)
        pending = client.trailing_data[0]
    assert pending == b""
    return bodies


def test_keep_alive_and_pipelining(server: tuple[str, int]) -> None:
    with socket.create_connection(server, timeout=10) as sock:
        # Keep-alive: two requests, one after the other, on one connection.
        for i in range(2):
            sock.sendall(GET % i)
            assert read_responses(sock, 1) == [b"Hello, World!\n"]
        # Pipelining: five requests in one write, five responses in order.
        sock.sendall(b"".join(GET % i for i in range(5)))
        assert read_responses(sock, 5) == [b"Hello, World!\n"] * 5


def test_bad_request_gets_400_and_close(server: tuple[str, int]) -> None:
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert b"Connection: close\r\n" in data
