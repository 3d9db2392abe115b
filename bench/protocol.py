"""Pipelined keep-alive GETs: the protocol core against h11 and bare httptools.

Each round parses and answers the same stream of pipelined requests with
(a) ``sansketch.protocol.ServerConnection`` (receive_data + send_response +
next_events), (b) h11's server-side ``Connection`` doing the same work, and
(c) a bare ``httptools.HttpRequestParser`` with empty callbacks (the floor:
parsing only, no response). Rounds are interleaved; the median per engine is
reported in microseconds per request, with ratios. A second table does the
same without pipelining (one request per read on one connection).

Three kinds of traffic, each pipelined and one request per read:
"the same GET" repeated byte for byte (the core recognises such a head
without parsing it again); "distinct targets", the same fields with a
target of its own per request (the core parses the head and checks the
target, and reuses what it derived from the same fields); "distinct heads",
where a field differs too, so every head is parsed and checked in full.

Run: ``python bench/protocol.py [--requests N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script, this directory comes first on sys.path, and its http.py
# would shadow the standard library's http; import from the repository root.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import h11  # noqa: E402
import httptools  # noqa: E402

from sansketch.protocol import RequestEnd, ServerConnection  # noqa: E402

REQUEST = (
    b"GET /plaintext HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n"
)
BODY = b"Hello, World!"
HEADERS = [(b"Content-Type", b"text/plain")]


def distinct(n: int, fields: bool = False) -> list[bytes]:
    """``n`` requests like ``REQUEST``, each with its own target (and, with
    ``fields``, its own request id field)."""
    out = [REQUEST.replace(b"/plaintext", b"/plaintext/%d" % i) for i in range(n)]
    if fields:
        out = [
            r.replace(b"\r\n\r\n", b"\r\nX-Request-Id: %d\r\n\r\n" % i) for i, r in enumerate(out)
        ]
    return out


def run_core(stream: bytes, n: int) -> int:
    """Answer every request of ``stream`` with the core; returns bytes out."""
    conn = ServerConnection()
    out = 0
    answered = 0
    events = conn.receive_data(stream, 0.0)
    while events:
        if type(events[-1]) is RequestEnd:
            out += len(conn.send_response(200, HEADERS, BODY))
            answered += 1
        events = conn.next_events(0.0)
    assert answered == n, answered
    return out


def run_h11(stream: bytes, n: int) -> int:
    """The same work with h11."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(stream)
    out = 0
    answered = 0
    headers = [*HEADERS, (b"Content-Length", b"%d" % len(BODY))]
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA or event is h11.PAUSED:
            break
        if type(event) is h11.EndOfMessage:
            out += len(conn.send(h11.Response(status_code=200, headers=headers)) or b"")
            out += len(conn.send(h11.Data(data=BODY)) or b"")
            out += len(conn.send(h11.EndOfMessage()) or b"")
            conn.start_next_cycle()
            answered += 1
    assert answered == n, answered
    return out


class _Empty:
    def on_url(self, url: bytes) -> None:
        pass

    def on_header(self, name: bytes, value: bytes) -> None:
        pass

    def on_headers_complete(self) -> None:
        pass

    def on_message_complete(self) -> None:
        pass


def run_httptools(stream: bytes, n: int) -> int:
    """Parse only: the floor any httptools-based server sits on."""
    parser = httptools.HttpRequestParser(_Empty())
    parser.feed_data(stream)
    return 0


def keep_alive_core(reads: list[bytes]) -> None:
    """One connection, one request per read (no pipelining)."""
    conn = ServerConnection()
    for data in reads:
        conn.receive_data(data, 0.0)
        conn.send_response(200, HEADERS, BODY)
        conn.next_events(0.0)


def keep_alive_h11(reads: list[bytes]) -> None:
    """The same with h11."""
    conn = h11.Connection(h11.SERVER)
    headers = [*HEADERS, (b"Content-Length", b"%d" % len(BODY))]
    for data in reads:
        conn.receive_data(data)
        while type(conn.next_event()) is not h11.EndOfMessage:
            pass
        conn.send(h11.Response(status_code=200, headers=headers))
        conn.send(h11.Data(data=BODY))
        conn.send(h11.EndOfMessage())
        conn.start_next_cycle()


def keep_alive_httptools(reads: list[bytes]) -> None:
    """The floor: one parser fed one request per call."""
    parser = httptools.HttpRequestParser(_Empty())
    for data in reads:
        parser.feed_data(data)


def report(title: str, times: dict[str, list[float]]) -> None:
    """Print medians, bests and the two target ratios."""
    med = {name: statistics.median(ts) for name, ts in times.items()}
    best = {name: min(ts) for name, ts in times.items()}
    print(title)
    for name in times:
        print(f"  {name:10} median {med[name]:7.3f} us/request   best {best[name]:7.3f}")
    print(f"  h11 / sansketch         {med['h11'] / med['sansketch']:6.1f}x  (target >= 12)")
    print(
        f"  sansketch / httptools   {med['sansketch'] / med['httptools']:6.2f}x  (target <= 2.5)"
    )


def main() -> None:
    """Run the interleaved rounds and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=100, help="pipelined requests per stream")
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    n = args.requests
    stream = REQUEST * n  # for the warm-up
    engines: dict[str, Callable[[bytes, int], int]] = {
        "sansketch": run_core,
        "h11": run_h11,
        "httptools": run_httptools,
    }
    keep: dict[str, Callable[[list[bytes]], None]] = {
        "sansketch": keep_alive_core,
        "h11": keep_alive_h11,
        "httptools": keep_alive_httptools,
    }
    for fn in engines.values():  # warm-up
        fn(stream, n)
    traffic = {
        "the same GET": [REQUEST] * n,
        "distinct targets": distinct(n),
        "distinct heads": distinct(n, fields=True),
    }
    for label, reads in traffic.items():
        data = b"".join(reads)
        times: dict[str, list[float]] = {name: [] for name in engines}
        for _ in range(args.rounds):
            for name, fn in engines.items():
                t0 = time.perf_counter()
                fn(data, n)
                times[name].append((time.perf_counter() - t0) / n * 1e6)
        report(
            f"{n} pipelined requests per read, {label}, {args.rounds} interleaved rounds", times
        )

    # Keep-alive without pipelining, one request per read.
    for label, reads in traffic.items():
        ktimes: dict[str, list[float]] = {name: [] for name in keep}
        for _ in range(args.rounds):
            for name, kfn in keep.items():
                t0 = time.perf_counter()
                kfn(reads)
                ktimes[name].append((time.perf_counter() - t0) / n * 1e6)
        report(f"keep-alive, one request per read, {label}, {n} per connection", ktimes)


if __name__ == "__main__":
    main()
