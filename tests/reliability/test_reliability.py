"""Reliability under load, faults and hostile clients, on every backend.

Fast versions of the scenarios ``bench/stress.py`` runs at full size: many
idle keep-alive connections, slowloris, slow readers, vanishing clients,
handler faults, SIGTERM under load, response injection and an end-to-end
fuzz. Everything runs on 127.0.0.1 with bounded durations.
"""

from __future__ import annotations

import gc
import os
import random
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from rel_support import (
    TIMEOUT,
    ThreadServer,
    backend_id,
    backends,
    open_fds,
    parse_response,
    read_all,
    read_response,
    reset,
    wait_until,
)

from sansketch.protocol import Limits

BACKENDS = backends()
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
GET = b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.fixture(params=BACKENDS, ids=[backend_id(p) for p in BACKENDS])
def pair(request: pytest.FixtureRequest) -> tuple[str, str]:
    """A (backend, loop) pair."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def start(pair: tuple[str, str]) -> Iterator[object]:
    """Start a ``ThreadServer`` on the current backend; stopped afterwards."""
    servers: list[ThreadServer] = []

    def run(**options: object) -> ThreadServer:
        server = ThreadServer(*pair, **options).start()  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield run
    for server in servers:
        if server.alive:
            server.stop()


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def timed_gets(sock: socket.socket, n: int) -> list[float]:
    """``n`` keep-alive GETs on ``sock``; their latencies in seconds."""
    buffer = bytearray()
    latencies = []
    for _ in range(n):
        t0 = time.perf_counter()
        sock.sendall(GET % b"/")
        status, _, body = read_response(sock, buffer)
        latencies.append(time.perf_counter() - t0)
        assert (status, body) == (200, b"Hello, World!")
    return latencies


# -- idle keep-alive connections ---------------------------------------------------
def test_idle_keep_alive_connections_do_not_slow_new_requests(start) -> None:  # type: ignore[no-untyped-def]
    server = start(limits=Limits(keep_alive_timeout=30.0))
    fds_before = open_fds()
    idle = []
    for _ in range(300):
        sock = server.connect()
        sock.sendall(GET % b"/")
        assert read_response(sock, bytearray())[0] == 200
        idle.append(sock)  # now idle, kept alive by the server
    fresh = server.connect()
    latencies = timed_gets(fresh, 50)
    assert p99(latencies) < 0.1, f"p99 {p99(latencies) * 1000:.1f} ms with 300 idle"
    # Every idle connection is still open and still served.
    for sock in idle[::30]:
        sock.sendall(GET % b"/")
        assert read_response(sock, bytearray())[0] == 200
    for sock in [*idle, fresh]:
        sock.close()
    assert wait_until(lambda: open_fds() <= fds_before), "server kept descriptors"


# -- slowloris ---------------------------------------------------------------------
def test_slowloris_gets_408_at_the_head_deadline_while_others_are_served(start) -> None:  # type: ignore[no-untyped-def]
    head_timeout = 0.5
    server = start(limits=Limits(request_head_timeout=head_timeout))
    n = 30
    slow = [server.connect() for _ in range(n)]
    began = time.monotonic()
    for sock in slow:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        sock.setblocking(False)
    answers: dict[int, bytes] = {}
    closed_at: dict[int, float] = {}
    normal = server.connect()
    latencies: list[float] = []
    # A byte every 50 ms per connection (a slowloris at 20x speed), with a
    # normal request between rounds, until every slow connection is closed.
    while len(closed_at) < n and time.monotonic() - began < head_timeout + 3:
        for i, sock in enumerate(slow):
            if i in closed_at:
                continue
            try:
                chunk = sock.recv(4096)
            except BlockingIOError:
                try:
                    sock.send(b"X")
                except OSError:
                    pass
                continue
            except OSError:
                chunk = b""
            answers[i] = answers.get(i, b"") + chunk
            if not chunk:
                closed_at[i] = time.monotonic() - began
        latencies.extend(timed_gets(normal, 1))
        time.sleep(0.05)  # the attacker's pace, not a wait for the server
    assert len(closed_at) == n, "some slow connections were never closed"
    for i in range(n):
        assert answers[i].startswith(b"HTTP/1.1 408 "), answers[i][:40]
        assert head_timeout * 0.9 <= closed_at[i] <= head_timeout + 1.5
    assert p99(latencies) < 0.1
    assert server.app.counters[("head-timeout", 408)] == n
    for sock in [*slow, normal]:
        sock.close()


# -- slow readers ------------------------------------------------------------------
def test_reader_that_stops_reading_is_dropped_with_bounded_buffers(start) -> None:  # type: ignore[no-untyped-def]
    server = start(send_timeout=0.5)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.settimeout(TIMEOUT)
    sock.connect(server.address)
    sock.sendall(GET % b"/stream?mb=100")
    assert sock.recv(16)  # the response started
    # The client reads nothing more: the handler must stall, then end.
    assert server.stats.stream_ended.wait(TIMEOUT), "stalled writer never dropped"
    streamed = server.stats.streamed
    # Backpressure: what left the handler fits in a few socket and driver
    # buffers, not in 100 MiB.
    assert streamed < 16 * 1024 * 1024, f"{streamed} bytes buffered for one slow reader"
    assert server.app.counters[("send-timeout", 0)] == 1
    received = len(read_all(sock)) + 16
    assert received < 100 * 1024 * 1024  # cut short: the server dropped it
    sock.close()
    status, _, body = server.get("/")
    assert (status, body) == (200, b"Hello, World!")


def test_slow_but_steady_reader_gets_the_whole_body(start) -> None:  # type: ignore[no-untyped-def]
    server = start(send_timeout=0.3)
    sock = server.connect()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    sock.sendall(GET % b"/stream?mb=2")
    total = 0
    while True:
        chunk = sock.recv(16 * 1024)
        if not chunk:
            break
        total += len(chunk)
        if b"\r\n\r\n" in chunk and total < 1024:
            continue
        time.sleep(0.002)  # the reader's pace: slow, but never idle for long
        if total >= 2 * 1024 * 1024:
            break
    sock.close()
    assert total >= 2 * 1024 * 1024
    assert server.app.counters[("send-timeout", 0)] == 0


# -- vanishing clients -------------------------------------------------------------
def library_objects() -> Counter[str]:
    """Objects of sansketch's own types alive in this process, by type."""
    gc.collect()
    return Counter(
        type(o).__qualname__
        for o in gc.get_objects()
        if str(getattr(type(o), "__module__", "")).startswith("sansketch")
    )


def test_vanishing_clients_leak_no_descriptors_or_tasks(  # type: ignore[no-untyped-def]
    start, caplog: pytest.LogCaptureFixture
) -> None:
    server = start(limits=Limits(request_head_timeout=2.0))
    server.get("/")
    fds_before = open_fds()
    tasks_before = server.tasks()
    objects_before = library_objects()
    for i in range(250):
        kind = i % 5
        sock = server.connect()
        try:
            if kind == 0:  # reset mid-head
                sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Partial: ab")
                reset(sock)
            elif kind == 1:  # reset mid-body
                sock.sendall(
                    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"
                    + b"z" * 1000
                )
                reset(sock)
            elif kind == 2:  # reset mid-response
                sock.sendall(GET % b"/stream?mb=4")
                sock.recv(1024)
                reset(sock)
            elif kind == 3:  # half-close mid-head: the server closes too
                sock.sendall(b"GET / HTTP/1.1\r\nHo")
                sock.shutdown(socket.SHUT_WR)
                read_all(sock)
                sock.close()
            else:  # whole request, then half-close: answered, then closed
                sock.sendall(GET % b"/")
                sock.shutdown(socket.SHUT_WR)
                assert parse_response(read_all(sock))[0] == 200
                sock.close()
        except OSError:
            sock.close()
    assert wait_until(lambda: open_fds() <= fds_before), (
        f"descriptors: {fds_before} before, {open_fds()} after"
    )
    assert wait_until(lambda: server.tasks() <= tasks_before), "tasks leaked"
    # Memory: no connection, channel, request or core object outlives its
    # client (counted by type after a collection, so the allocator keeping
    # its peak, which RSS would show, does not blur the answer).
    assert wait_until(lambda: library_objects() <= objects_before), (
        f"objects left behind: {library_objects() - objects_before}"
    )
    # No log flood either: writes to a reset connection stop at once.
    spam = [r for r in caplog.records if "socket.send() raised" in r.getMessage()]
    assert not spam, f"{len(spam)} warnings about writes to dead sockets"
    assert server.get("/")[0] == 200


# -- handler faults ----------------------------------------------------------------
def test_handler_faults_are_contained(start) -> None:  # type: ignore[no-untyped-def]
    server = start(request_timeout=0.3)
    status, head, body = server.get("/fail")
    assert status == 500
    assert b"secret" not in head + body and b"Traceback" not in body
    # A handler that never returns: 503 at the request timeout, while
    # another connection is served normally.
    stuck = server.connect()
    stuck.sendall(GET % b"/forever")
    other = server.connect()
    assert max(timed_gets(other, 5)) < 0.2
    t0 = time.monotonic()
    assert read_response(stuck, bytearray())[0] == 503
    assert 0.25 <= time.monotonic() - t0 < 2.0
    assert server.app.counters[("handler-timeout", 503)] == 1
    # A handler still writing after its client left: the write fails inside
    # the handler, the server carries on.
    gone = server.connect()
    gone.sendall(GET % b"/after-leave")
    assert gone.recv(64).startswith(b"HTTP/1.1 200")
    reset(gone)
    assert wait_until(lambda: bool(server.stats.write_after_leave))
    assert max(timed_gets(other, 5)) < 0.2
    for sock in (stuck, other):
        sock.close()


# -- response injection ------------------------------------------------------------
@pytest.mark.parametrize("where", ["value", "name", "nul"])
def test_injected_headers_never_reach_the_wire(start, where: str) -> None:  # type: ignore[no-untyped-def]
    server = start()
    status, head, body = server.get(f"/inject?where={where}")
    assert status == 500
    assert b"Injected" not in head + body and b"\x00" not in head + body


# -- SIGTERM under load ------------------------------------------------------------
def test_sigterm_under_load_loses_no_accepted_request(pair: tuple[str, str]) -> None:
    backend, loop = pair
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    args = ["--port", "0", "--backend", backend, "--loop", loop]
    args += ["--shutdown-timeout", "5", "--log-counters", "0.05"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sansketch", "rel_support:make_app", *args],
        cwd=HERE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline().decode()
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
        log: list[str] = []
        reader = threading.Thread(
            target=lambda: log.extend(x.decode() for x in proc.stderr),
            daemon=True,  # type: ignore[union-attr]
        )
        reader.start()
        address = ("127.0.0.1", port)
        bad = socket.create_connection(address, timeout=TIMEOUT)
        bad.sendall(b"GET / HTTP/9.9\r\n\r\n")
        assert read_all(bad).startswith(b"HTTP/1.1 505")
        bad.close()
        slow = []
        for i in range(20):
            sock = socket.create_connection(address, timeout=TIMEOUT)
            sock.sendall(GET % b"/slow?s=0.5&id=%d" % i)
            slow.append(sock)

        def inflight() -> int:
            with socket.create_connection(address, timeout=TIMEOUT) as probe:
                probe.sendall(b"GET /inflight HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                return int(parse_response(read_all(probe))[2] or 0)

        assert wait_until(lambda: inflight() == 20)
        # Keep-alive hammering from two threads across the signal.
        stop = threading.Event()
        partial: list[bytes] = []
        served = [0, 0]

        def hammer(k: int) -> None:
            with socket.create_connection(address, timeout=TIMEOUT) as sock:
                buffer = bytearray()
                while not stop.is_set():
                    try:
                        sock.sendall(GET % b"/")
                        read_response(sock, buffer)
                        served[k] += 1
                    except (EOFError, OSError):
                        if buffer:
                            partial.append(bytes(buffer))
                        return

        threads = [threading.Thread(target=hammer, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        assert wait_until(lambda: min(served) > 0)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        for i, sock in enumerate(slow):
            status, head, body = parse_response(read_all(sock))
            assert status == 200 and body == b"slow done %d" % i, (head, body)
            assert b"connection: close" in head.lower()
            sock.close()
        assert proc.wait(timeout=8) == 0
        assert time.monotonic() - t0 < 5 + 1
        stop.set()
        for t in threads:
            t.join(TIMEOUT)
        assert not partial, partial[:1]
        reader.join(TIMEOUT)
        assert any("counters: bad-version/505=1" in line for line in log), log[-5:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- fuzzing end to end ------------------------------------------------------------
CORPUS = [
    b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /missing?q=1 HTTP/1.1\r\nHost: t\r\nAccept: */*\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET http://t/ HTTP/1.0\r\nHost: t\r\n\r\n",
]
TOKENS = [b"\r\n", b"\n", b"\r", b"\x00", b" ", b":", b"chunked", b"Content-Length: 99999\r\n",
          b"Transfer-Encoding: chunked\r\n", b"\xff", b"HTTP/1.1", b"%", b"0\r\n\r\n",
          b"Host: u\r\n", b";", b"ffffffffffffffff"]  # fmt: skip


def mutate(rng: random.Random, data: bytes) -> bytes:
    """A few random byte-level edits of ``data``."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        at = rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            out[at:at] = rng.choice(TOKENS)
        elif op == 2:
            del out[at : at + rng.randint(1, 8)]
        elif op == 3:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
        elif op == 4:
            out = out[:at]
        else:
            out[at:at] = out[: rng.randint(0, len(out))]
    return bytes(out)


def test_fuzzed_requests_never_get_a_server_error(start) -> None:  # type: ignore[no-untyped-def]
    server = start(limits=Limits(request_head_timeout=0.5, keep_alive_timeout=0.5))
    fds_before = open_fds()
    rng = random.Random(0xC0FFEE)
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + 1.5
    cases = 0
    while time.monotonic() < deadline:
        batch = []
        for _ in range(20):
            data = mutate(rng, rng.choice(CORPUS))
            sock = server.connect()
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, (data, bytearray()))
            batch.append(sock)
        # Every connection must end on its own, well within its deadlines.
        open_ = set(batch)
        end = time.monotonic() + 3.0
        while open_ and time.monotonic() < end:
            for key, _ in sel.select(0.2):
                sock = key.fileobj  # type: ignore[assignment]
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    key.data[1].extend(chunk)
                    continue
                sel.unregister(sock)
                open_.discard(sock)
                data, raw = key.data
                statuses = re.findall(rb"(?:^|\r\n)HTTP/1\.[01] (\d{3}) ", bytes(raw))
                # 501 (unknown method, RFC 9110 §9.1) and 505 (version) answer
                # the client's bytes; any other 5xx would be the server failing.
                assert all(int(s) < 500 or s in (b"501", b"505") for s in statuses), (
                    data,
                    bytes(raw)[:200],
                )
                sock.close()
                cases += 1
        assert not open_, "a fuzzed connection hung"
    assert cases >= 40
    assert server.get("/")[0] == 200
    assert wait_until(lambda: open_fds() <= fds_before + 1)
    sel.close()
