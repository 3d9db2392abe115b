"""CPU per request of the pull-style serve loop, in-process, no sockets.

``serve_connection`` (the loop behind the asyncio-streams and anyio drivers
and the test client) serves ``examples/hello.py`` ``GET /`` over a fake
``ByteStream`` that hands out prepared request bytes and counts what is
written back. Two workloads, on asyncio and on trio:

- keep-alive: one request per ``receive``;
- pipelined: 16 requests per ``receive``.

Like the drivers' streams, the fake offers ``send_nowait`` (a write that
never waits), which the loop tries before ``send``, and, like the trio
driver's, ``receive_ready`` (a read of bytes already there), which the loop
tries between requests before a read bounded by the keep-alive deadline: the
fake's next request is always there, as on a loaded server.
``--no-ready`` leaves it out to measure the bounded read, as the
asyncio-streams driver makes it (on asyncio, with the loop's ``call_later``).

Each ``receive`` passes through the event loop once (a checkpoint), as a real
socket read does; ``--no-yield`` skips that to see the Python cost alone.
The figure is process CPU time per request (``time.process_time``); rounds
are interleaved across the cases and the best round is reported, which is
the least disturbed by other work on a shared machine.

Run: ``python bench/pull_cpu.py [--requests N] [--rounds R] [--backends B] [--no-ready]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

# Run as a script, this directory comes first on sys.path, and its http.py
# would shadow the standard library's http; import from the repository root.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import anyio  # noqa: E402
import anyio.lowlevel  # noqa: E402
import sniffio  # noqa: E402

from examples.hello import app  # noqa: E402
from sansketch._server import ServerConfig, serve_connection, with_loop_clock  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
EXPECTED = b"Hello, World!"


class FakeStream:
    """A ``ByteStream`` that hands out ``chunks`` in order, then end of stream."""

    __slots__ = (
        "_chunks",
        "_index",
        "_yield",
        "call_later",
        "receive_ready",
        "responses",
        "sends",
    )

    def __init__(self, chunks: list[bytes], yield_per_receive: bool, ready: bool) -> None:
        self._chunks = chunks
        self._index = 0
        self._yield = yield_per_receive
        self.sends = 0
        self.responses = 0
        # ``ReceiveReady``: the prepared chunk is always there already.
        self.receive_ready: Callable[[], Awaitable[bytes | None]] | None = (
            self.receive if ready else None
        )
        # ``CallLater`` where the asyncio drivers' streams offer it (every
        # read between requests is then bounded by a lazily armed timer).
        self.call_later: Callable[..., Any] | None = None
        if not ready and sniffio.current_async_library() == "asyncio":
            self.call_later = asyncio.get_running_loop().call_later

    async def receive(self) -> bytes | None:
        """The next prepared chunk; ``b""`` once they are used up."""
        if self._yield:
            await anyio.lowlevel.checkpoint()
        index = self._index
        if index >= len(self._chunks):
            return b""
        self._index = index + 1
        return self._chunks[index]

    def send_nowait(self, data: bytes) -> int:
        """Count the write and the responses it carries (never waits)."""
        self.sends += 1
        self.responses += data.count(EXPECTED)
        return len(data)

    async def send(self, data: bytes) -> None:
        """Count the write and the responses it carries."""
        self.send_nowait(data)

    async def aclose(self) -> None:
        """Nothing to close."""


def _loop_clock() -> Callable[[], float]:
    # The event loop's own clock, as the anyio and asyncio-streams drivers
    # pass it (``with_loop_clock``).
    if sniffio.current_async_library() == "trio":
        import trio

        return trio.current_time
    return asyncio.get_running_loop().time


async def _serve(
    chunks: list[bytes], yield_per_receive: bool, ready: bool, expected: int
) -> tuple[float, int]:
    config = with_loop_clock(ServerConfig(), _loop_clock())
    stream = FakeStream(chunks, yield_per_receive, ready)
    start = time.process_time()
    await serve_connection(stream, app, config, remote=("127.0.0.1", 40000))
    elapsed = time.process_time() - start
    if stream.responses != expected:
        raise SystemExit(f"expected {expected} responses, got {stream.responses}")
    return elapsed, stream.sends


async def _main(
    cases: list[tuple[str, int]], requests: int, yield_: bool, ready: bool
) -> list[tuple[float, float]]:
    await app.startup()
    out: list[tuple[float, float]] = []
    for _, depth in cases:
        chunks = [REQUEST * depth] * (requests // depth)
        n = depth * len(chunks)
        elapsed, sends = await _serve(chunks, yield_, ready, n)
        out.append((elapsed * 1e6 / n, sends / n))
    await app.shutdown()
    await app.cleanup()
    return out


def main() -> None:
    """Measure and print µs of CPU per request for each backend and workload."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8000, help="requests per case and round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--backends", default="asyncio,trio")
    parser.add_argument("--no-yield", action="store_true", help="receive never suspends")
    parser.add_argument(
        "--no-ready", action="store_true", help="no receive_ready: every read is bounded"
    )
    args = parser.parse_args()
    cases = [("keep-alive", 1), ("pipelined 16", 16)]
    backends = args.backends.split(",")
    best: dict[tuple[str, str], float] = {}
    writes: dict[tuple[str, str], float] = {}
    for _ in range(args.rounds):
        for backend in backends:
            figures = anyio.run(
                _main, cases, args.requests, not args.no_yield, not args.no_ready, backend=backend
            )
            for (name, _depth), (us, per_request) in zip(cases, figures, strict=True):
                key = (backend, name)
                best[key] = min(best.get(key, us), us)
                writes[key] = per_request
    print(f"{'backend':<10} {'workload':<14} {'µs CPU/request':>15} {'writes/request':>15}")
    for backend in backends:
        for name, _ in cases:
            key = (backend, name)
            print(f"{backend:<10} {name:<14} {best[key]:>15.2f} {writes[key]:>15.3f}")


if __name__ == "__main__":
    main()
