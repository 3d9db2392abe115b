"""CPU per request of the asyncio Protocol driver, in-process, no sockets.

One ``HttpProtocol`` serves ``examples/hello.py`` (``GET /``, the whole app
layer) through a fake transport that only counts what it is given, so the
figures are the Python cost of driver + core + app layer + the event loop's
scheduling, without syscalls or a peer competing for the CPU. Two loads:

- ``plain``: keep-alive, one request per ``data_received`` (wrk's pattern),
  one connection: each request has a loop turn to itself;
- ``plain, 16 connections a turn``: the same on 16 connections, each read
  in every turn, as a busy server's turns go (what a turn costs is shared);
- ``pipelined``: 16 requests per ``data_received`` (wrk with a pipeline
  script).

Each load runs ``--requests`` requests per round, ``--rounds`` rounds,
interleaved between loops (uvloop, stdlib asyncio) and, with
``--baseline FILE``, between this driver and another version of
``sansketch/adapters/asyncio_protocol.py`` (e.g. one written out with
``git show HEAD~1:sansketch/adapters/asyncio_protocol.py > /tmp/old.py``).
The best round is reported in CPU µs per request (``time.process_time``),
with ``transport.write`` calls per request.

Run from the repository root: ``python bench/driver_cpu.py [--requests N]
[--rounds R] [--loop uvloop|asyncio|both] [--baseline FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

# Run as a script, this directory comes first on sys.path, and its http.py
# would shadow the standard library's http; import from the repository root.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from examples.hello import app  # noqa: E402
from sansketch._date import keep_date_fresh  # noqa: E402
from sansketch._server import ConnectionSet, ServerConfig  # noqa: E402
from sansketch.adapters import asyncio_protocol  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
PIPELINE = 16
# Connections served in one loop turn for the "busy" plain load: a server
# under wrk -c64 finds about this many or more ready at each turn.
BUSY = 16


class FakeTransport:
    """Enough of ``asyncio.Transport`` for ``HttpProtocol``; counts writes."""

    def __init__(self) -> None:
        self.written = 0
        self.writes = 0
        self.reading = True
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += len(data)
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return ("127.0.0.1", 40000)
        return default

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True


def _load(path: str | None) -> ModuleType:
    """The driver module: this tree's, or another version of its file."""
    if path is None:
        return asyncio_protocol
    name = "sansketch.adapters._baseline_protocol"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


async def _serve(
    module: ModuleType, requests: int, per_read: int, connections: int = 1
) -> tuple[float, float]:
    """CPU µs per request and writes per request for one round.

    Each loop turn, every one of ``connections`` connections reads
    ``per_read`` requests, as a busy server's turns do.
    """
    loop = asyncio.get_running_loop()
    # What a server runs beside its connections: the Date refresher.
    ticker = asyncio.ensure_future(keep_date_fresh())
    state = module._State(app, ServerConfig(), ConnectionSet(), loop)
    pairs = []
    for _ in range(connections):
        proto = module.HttpProtocol(state)
        transport = FakeTransport()
        proto.connection_made(transport)
        pairs.append((proto, transport))
    data = REQUEST * per_read
    # One response's size, from a warm-up request on each connection (it
    # starts the connection's host task). Bytes arrive in a loop callback,
    # as from a socket (not inside this task).
    for proto, _ in pairs:
        loop.call_soon(proto.data_received, REQUEST)
    for _ in range(100):
        if all(transport.written for _, transport in pairs):
            break
        await asyncio.sleep(0)
    size = pairs[0][1].written
    assert size, "no response"
    for _, transport in pairs:
        transport.written = transport.writes = 0
    turns = requests // (per_read * connections)
    gc.collect()
    start = time.process_time()
    for i in range(1, turns + 1):
        for proto, _ in pairs:
            loop.call_soon(proto.data_received, data)
        # One trip through the loop per read, as a server makes.
        await asyncio.sleep(0)
        target = i * per_read * size
        spins = 0
        while any(transport.written < target for _, transport in pairs):
            spins += 1
            if spins > 10 * per_read:
                raise RuntimeError(f"stalled after {pairs[0][1].written} bytes")
            await asyncio.sleep(0)
    elapsed = time.process_time() - start
    total = turns * per_read * connections
    writes = 0
    for proto, transport in pairs:
        assert transport.written == turns * per_read * size
        assert not transport.closing
        writes += transport.writes
        proto.connection_lost(None)
    ticker.cancel()
    return elapsed / total * 1e6, writes / total


def _run_on(loop_name: str, coro: Any) -> Any:
    """Run ``coro`` to completion on a fresh loop of the given kind."""
    if loop_name == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--loop", choices=("uvloop", "asyncio", "both"), default="both")
    parser.add_argument("--baseline", help="another version of asyncio_protocol.py")
    args = parser.parse_args()
    loops = ("uvloop", "asyncio") if args.loop == "both" else (args.loop,)
    drivers = {"this tree": _load(None)}
    if args.baseline:
        drivers["baseline"] = _load(args.baseline)
    # name: (requests per read, connections read in each loop turn)
    loads = {
        "plain": (1, 1),
        f"plain, {BUSY} connections a turn": (1, BUSY),
        f"pipelined {PIPELINE}": (PIPELINE, 1),
    }
    best: dict[tuple[str, str, str], tuple[float, float]] = {}
    for _ in range(args.rounds):
        for loop_name in loops:
            for load, (per_read, connections) in loads.items():
                for driver, module in drivers.items():
                    serve = _serve(module, args.requests, per_read, connections)
                    us, writes = _run_on(loop_name, serve)
                    key = (loop_name, load, driver)
                    if key not in best or us < best[key][0]:
                        best[key] = (us, writes)
    print(f"best of {args.rounds} rounds, {args.requests} requests each, CPU µs per request\n")
    print("| loop | load | driver | µs/req | writes/req |")
    print("|---|---|---|---:|---:|")
    for (loop_name, load, driver), (us, writes) in best.items():
        print(f"| {loop_name} | {load} | {driver} | {us:.2f} | {writes:.3f} |")
    if args.baseline:
        print()
        for loop_name in loops:
            for load in loads:
                new = best[(loop_name, load, "this tree")][0]
                old = best[(loop_name, load, "baseline")][0]
                print(f"{loop_name} {load}: {old:.2f} -> {new:.2f} µs/req ({old / new:.2f}x)")


if __name__ == "__main__":
    main()
