"""CPU cost of the app layer for one request, in process, with no sockets.

Each iteration does what the server does for one request once the core has
parsed its head: ``handle_request`` (build a ``Request``, route it, await
the handler, finish the response) against a channel whose methods do
nothing. Coroutines are driven with ``send(None)`` (nothing here ever
suspends), so no event loop's cost is counted.

Cases: ``examples/hello.py`` ``GET /`` (text), ``GET /json`` and
``GET /user/{name}``, each without middlewares and with two pass-through
middlewares. Rounds are interleaved across cases; the best round per case is
reported in microseconds of process CPU time per request.

Run: ``python bench/app_cpu.py [--requests N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

# Run as a script, this directory comes first on sys.path, and its http.py
# would shadow the standard library's http; import from the repository root.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from sansketch._server import handle_request  # noqa: E402
from sansketch.app import Application  # noqa: E402
from sansketch.protocol import RequestHead  # noqa: E402
from sansketch.request import Request  # noqa: E402
from sansketch.response import StreamResponse  # noqa: E402
from sansketch.router import Handler  # noqa: E402

HEADERS = [
    (b"Host", b"server.example.com"),
    (b"User-Agent", b"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"),
    (b"Accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    (b"Accept-Encoding", b"gzip, deflate, br"),
    (b"Connection", b"keep-alive"),
]


class NullChannel:
    """A channel that accepts everything and sends nothing."""

    remote = ("127.0.0.1", 40000)
    scheme = "http"
    response_started = False
    upgraded = False

    def __init__(self) -> None:
        self.responses = 0

    async def receive_body(self) -> bytes:
        return b""

    def trailers(self) -> list[tuple[bytes, bytes]]:
        return []

    async def send_head(self, status: int, headers: Any, reason: bytes | None) -> None:
        self.response_started = True

    async def send_body(self, data: bytes) -> None:
        pass

    async def send_end(self, trailers: Any = None) -> None:
        self.responses += 1

    def send_response(self, status: int, headers: Any, body: bytes, reason: bytes | None) -> None:
        self.responses += 1

    async def sendfile(self, fd: Any, offset: int, count: int) -> None:
        pass


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Drive a coroutine that never suspends to its result."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("the coroutine suspended")


def load_app(middlewares: int) -> Application:
    """A fresh ``examples/hello.py`` application with pass-through middlewares."""
    spec = importlib.util.spec_from_file_location(
        f"hello_{middlewares}", _HERE.parent / "examples" / "hello.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app: Application = module.app
    for _ in range(middlewares):

        async def passthrough(request: Request, handler: Handler) -> StreamResponse:
            return await handler(request)

        app.middlewares.append(passthrough)
    app.freeze()
    return app


def make_case(app: Application, target: bytes) -> Callable[[int], float]:
    """A timed loop answering ``GET target`` ``n`` times; returns µs/request."""
    head = RequestHead(b"GET", target, b"1.1", HEADERS)
    channel = NullChannel()

    async def one() -> None:
        await handle_request(app, head, channel, 1)

    async def loop(n: int) -> None:
        for _ in range(n):
            await one()

    def timed(n: int) -> float:
        channel.responses = 0
        start = time.process_time()
        _run(loop(n))
        elapsed = time.process_time() - start
        assert channel.responses == n, channel.responses
        return elapsed / n * 1e6

    return timed


CASES = [("GET /", b"/"), ("GET /json", b"/json"), ("GET /user/{name}", b"/user/alice")]


def main() -> None:
    """Run the interleaved rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    args = parser.parse_args()

    runs: list[tuple[str, int, Callable[[int], float]]] = []
    for middlewares in (0, 2):
        app = load_app(middlewares)
        for label, target in CASES:
            runs.append((label, middlewares, make_case(app, target)))
    for _, _, timed in runs:
        timed(1000)  # warm caches
    best = [float("inf")] * len(runs)
    for round_no in range(args.rounds):
        order = list(range(len(runs)))
        shift = round_no % len(order)
        for i in order[shift:] + order[:shift]:
            best[i] = min(best[i], runs[i][2](args.requests))

    print(f"app layer CPU per request (best of {args.rounds} x {args.requests})")
    print(f"{'case':<20} {'middlewares':>11} {'us/request':>11}")
    for (label, middlewares, _), value in zip(runs, best, strict=True):
        print(f"{label:<20} {middlewares:>11} {value:>11.2f}")


if __name__ == "__main__":
    main()
