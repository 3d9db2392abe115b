"""Bounded fuzzing: random and mutated request bytes never make the core
raise anything but its own errors, loop, or hold more than its limits."""

from __future__ import annotations

import random
import time

from sansketch.protocol import (
    Action,
    BodyData,
    Limits,
    ProtocolError,
    RequestEnd,
    RequestHead,
    RequestRejected,
    ServerConnection,
    State,
    Upgrade,
)

SEEDS = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /x?y=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;e=1\r\nabc\r\n0\r\nT: 1\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nxyz",
    b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    b"GET http://a/b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
]
SPICE = [b"\r", b"\n", b"\r\n", b"\x00", b" ", b":", b";", b",", b"\t", b"0", b"f", b"\xff", b"-"]
LIMITS = Limits(
    max_request_line=200,
    max_header_bytes=400,
    max_header_count=10,
    max_body_bytes=300,
    max_buffered_bytes=500,
    max_chunk_extension_bytes=50,
    max_discard_bytes=100,
)
READ_SIZE = 64


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randint(0, len(buf))
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 1:
            buf[pos:pos] = rng.choice(SPICE)
        elif op == 2 and buf:
            del buf[pos : pos + rng.randint(1, 4)]
        elif op == 3:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 4:
            buf[pos:pos] = rng.choice(SEEDS)
        else:
            buf[pos:pos] = rng.choice([b"a", b"1", b" "]) * rng.randint(50, 900)
    return bytes(buf)


def drive(rng: random.Random, data: bytes) -> None:
    """Feed ``data`` in random reads like a driver, answering everything."""
    conn = ServerConnection(LIMITS, now=0.0)
    parser = conn._parser
    pos = 0
    steps = 0
    now = 0.0
    while True:
        steps += 1
        assert steps < 10_000, "no progress"
        action = conn.action
        if action is Action.CLOSE or action is Action.UPGRADE:
            return
        events: list[object] = []
        if action is Action.READ:
            size = rng.randint(1, READ_SIZE)
            chunk = data[pos : pos + size]
            pos += len(chunk)
            now += 0.01
            events = list(conn.receive_data(chunk, now))  # b"" at the end: EOF
        events += conn.next_events(now)
        for event in events:
            assert isinstance(
                event, RequestHead | BodyData | RequestEnd | RequestRejected | Upgrade
            )
            if isinstance(event, RequestRejected):
                assert event.status in (400, 408, 413, 414, 417, 431, 501, 505)
                conn.send_error(event)
                assert conn.action is Action.CLOSE
                return
            if isinstance(event, RequestHead) and rng.random() < 0.3:
                conn.accept_body()
            answer_now = isinstance(event, RequestEnd) or (
                isinstance(event, RequestHead) and rng.random() < 0.2
            )
            if answer_now and conn.state is State.RECV_REQUEST:
                try:
                    conn.send_response(rng.choice([200, 101, 204, 404]), [], b"ok")
                except ProtocolError:
                    conn.send_response(200, [], b"ok")
        # The bounds the limits promise, whatever the input and split.
        assert conn._held_bytes <= LIMITS.max_buffered_bytes + 2 * READ_SIZE
        assert len(parser.tail) <= LIMITS.max_buffered_bytes + 2 * READ_SIZE
        assert (
            parser._head_partial <= LIMITS.max_request_line + LIMITS.max_header_bytes + READ_SIZE
        )
        assert len(parser._url) <= LIMITS.max_request_line
        assert len(parser._headers) <= LIMITS.max_header_bytes // 4 + READ_SIZE
        if action is not Action.READ and not events and conn.next_events(now) == []:
            # Paused with nothing to answer: only time can move it on.
            conn.on_deadline(now + 1000.0)
            if conn.action is not Action.CLOSE:
                return


def test_fuzz_mutated_requests() -> None:
    rng = random.Random(20240611)
    started = time.monotonic()
    for i in range(2500):
        seed = b"".join(rng.choice(SEEDS) for _ in range(rng.randint(1, 3)))
        data = mutate(rng, seed) if i % 10 else seed
        drive(rng, data)
    assert time.monotonic() - started < 10


def test_fuzz_random_bytes() -> None:
    rng = random.Random(7)
    for _ in range(500):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
        drive(rng, data)
