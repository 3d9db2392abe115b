"""WebSocket benchmark: echo round trips per second, sansketch against peers.

What it does
------------
Starts each server below on 127.0.0.1 (pinned to CPU 0 with ``taskset`` when
there are two CPUs or more), checks that it echoes, then runs a lean client
(pinned to CPU 1): ``--connections`` WebSockets, each sending one small text
message (``--size`` bytes, masked) and waiting for its echo before sending the
next. Rounds are interleaved over the servers and the median of the rounds is
reported as round trips per second, with the server's CPU microseconds per
round trip (utime + stime from ``/proc/PID/stat``).

Two modes, each its own table:

* ``deflate``: the client offers ``permessage-deflate; client_max_window_bits``
  as the ``websockets`` and aiohttp clients do by default, every server
  accepts it, so each message is inflated and each echo deflated (RFC 7692).
  The client sends one frame compressed on its own (valid in any inflate
  context) again and again, and reads the replies' lengths from their headers.
* ``plain``: the client offers no extension; nothing is compressed.

Every server runs the same echo: a text message comes back as text.

* ``sansketch-uvloop``   asyncio Protocol driver on uvloop
* ``sansketch-asyncio``  asyncio Protocol driver on the stdlib loop
* ``sansketch-trio``     anyio driver on trio
* ``aiohttp``            aiohttp.web ``WebSocketResponse`` on uvloop
* ``uvicorn``            uvicorn (httptools, uvloop) with its ``websockets`` protocol

Usage (from the repository root; needs ``pip install aiohttp uvicorn websockets``)::

    python bench/ws.py                      # full run, updates bench/RESULTS.md
    python bench/ws.py --quick              # 2 s, 1 round, prints only
    python bench/ws.py --cpu [TREE ...]     # in-process CPU µs per message, no sockets

``--cpu`` runs the sansketch echo (uvloop, asyncio Protocol driver) on fake
transports: ``--connections`` sockets each get one ``--size``-byte masked text
frame per sweep and the sweep ends when every echo was written. It reports the
best of ``--rounds`` rounds of CPU time per message, rounds interleaved over
the given source trees (each a directory holding a ``sansketch`` package, e.g.
an export of an earlier commit), so one change can be measured A/B in-process.

The "WebSocket" section of ``bench/RESULTS.md`` is replaced (or appended);
the rest of the file is left as it is. Every server started is killed, by
PID, when the script exits.
"""

from __future__ import annotations

import os
import sys

# bench/http.py would shadow the standard library's ``http`` package.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse
import asyncio
import base64
import contextlib
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SERVERS = ["sansketch-uvloop", "sansketch-asyncio", "sansketch-trio", "aiohttp", "uvicorn"]
HEADING = "## WebSocket"
MODES = ["deflate", "plain"]


# -- servers (run in a subprocess: ``python bench/ws.py --serve NAME --port N``) ---------


def serve(name: str, port: int) -> None:
    """Run the echo server ``name`` on ``port`` until killed."""
    if name.startswith("sansketch"):
        sys.path.insert(0, ROOT)
        from sansketch.app import Application
        from sansketch.request import Request
        from sansketch.runner import run_app
        from sansketch.websocket import WebSocketResponse, WSMsgType

        async def echo(request: Request) -> WebSocketResponse:
            ws = WebSocketResponse()
            await ws.prepare(request)
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await ws.send_str(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
            return ws

        app = Application()
        app.router.add_get("/ws", echo)
        backend, loop = {
            "sansketch-uvloop": ("asyncio", "uvloop"),
            "sansketch-asyncio": ("asyncio", "asyncio"),
            "sansketch-trio": ("trio", "auto"),
        }[name]
        run_app(app, host="127.0.0.1", port=port, backend=backend, loop=loop)
    elif name == "aiohttp":
        import uvloop
        from aiohttp import WSMsgType as AioType
        from aiohttp import web

        async def aio_echo(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for msg in ws:
                if msg.type == AioType.TEXT:
                    await ws.send_str(msg.data)
                elif msg.type == AioType.BINARY:
                    await ws.send_bytes(msg.data)
            return ws

        aio_app = web.Application()
        aio_app.router.add_get("/ws", aio_echo)
        uvloop.install()
        web.run_app(aio_app, host="127.0.0.1", port=port, print=None, access_log=None)
    elif name == "uvicorn":
        import uvicorn

        async def asgi(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def, type-arg]
            if scope["type"] != "websocket":
                return
            await receive()
            await send({"type": "websocket.accept"})
            while True:
                event = await receive()
                if event["type"] != "websocket.receive":
                    return
                if event.get("text") is not None:
                    await send({"type": "websocket.send", "text": event["text"]})
                else:
                    await send({"type": "websocket.send", "bytes": event["bytes"]})

        uvicorn.run(
            asgi,
            host="127.0.0.1",
            port=port,
            loop="uvloop",
            http="httptools",
            ws="websockets",
            lifespan="off",
            log_level="warning",
        )
    else:
        raise SystemExit(f"unknown server {name!r}")


# -- the client ------------------------------------------------------------------------


def _frame(payload: bytes, deflate: bool) -> bytes:
    """A masked text frame (RFC 6455 §5.2), built once and sent again and again.

    Compressed (RSV1, RFC 7692 §6) with a fresh context: its back-references
    stay inside the message, so any inflate context reads it.
    """
    first = 0x81
    if deflate:
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        payload = (compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
        first |= 0x40
    key = b"\x12\x34\x56\x78"
    size = len(payload)
    head = (
        bytes([first, 0x80 | size])
        if size < 126
        else bytes([first, 0xFE]) + size.to_bytes(2, "big")
    )
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def _frame_length(buf: bytearray) -> int:
    """The length of the unmasked server frame at the start of ``buf`` (0: incomplete)."""
    if len(buf) < 2:
        return 0
    size = buf[1] & 0x7F
    head = 2
    if size == 126:
        if len(buf) < 4:
            return 0
        size, head = int.from_bytes(buf[2:4], "big"), 4
    elif size == 127:
        if len(buf) < 10:
            return 0
        size, head = int.from_bytes(buf[2:10], "big"), 10
    return head + size if len(buf) >= head + size else 0


class _EchoClient(asyncio.Protocol):
    """One connection: handshake, then send / wait for the echo / repeat."""

    def __init__(self, frame: bytes, deflate: bool, ready: asyncio.Future[None]) -> None:
        self.frame = frame
        self.deflate = deflate
        self.ready = ready
        self.count = 0
        self.running = True
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses.
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        offer = (
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            if self.deflate
            else ""
        )
        transport.write(  # type: ignore[attr-defined]
            (
                "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n{offer}\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            if not head.startswith(b"http/1.1 101"):
                self.ready.set_exception(RuntimeError(bytes(self.buffer[:80]).decode()))
                return
            if (b"permessage-deflate" in head) is not self.deflate:
                self.ready.set_exception(RuntimeError("permessage-deflate not as offered"))
                return
            del self.buffer[: end + 4]
            self.upgraded = True
            self.ready.set_result(None)
        while size := _frame_length(self.buffer):
            del self.buffer[:size]
            self.count += 1
            if self.running and self.transport is not None:
                self.transport.write(self.frame)

    def start(self) -> None:
        assert self.transport is not None
        self.transport.write(self.frame)


async def _drive(
    port: int, connections: int, size: int, deflate: bool, warmup: float, duration: float
) -> int:
    loop = asyncio.get_running_loop()
    # A chat-like message: compressible, but not a single repeated byte.
    payload = (b"hello, websocket " * (size // 17 + 1))[:size]
    frame = _frame(payload, deflate)
    clients: list[_EchoClient] = []
    for _ in range(connections):
        ready: asyncio.Future[None] = loop.create_future()
        client = _EchoClient(frame, deflate, ready)
        await loop.create_connection(lambda c=client: c, "127.0.0.1", port)  # type: ignore[misc]
        await asyncio.wait_for(ready, 10)
        clients.append(client)
    for client in clients:
        client.start()
    await asyncio.sleep(warmup)
    before = sum(c.count for c in clients)
    await asyncio.sleep(duration)
    after = sum(c.count for c in clients)
    for client in clients:
        client.running = False
        if client.transport is not None:
            client.transport.close()
    return after - before


def client_main(
    port: int, connections: int, size: int, deflate: bool, warmup: float, duration: float
) -> None:
    """Print the round trips counted during ``duration`` (run in a subprocess)."""
    import uvloop

    print(uvloop.run(_drive(port, connections, size, deflate, warmup, duration)))


# -- in-process CPU per message (no sockets) ---------------------------------------------


class _FakeTransport:
    """Enough of ``asyncio.Transport`` for ``HttpProtocol``; counts writes."""

    def __init__(self) -> None:
        self.written = 0
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_reading(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        self.closing = True

    abort = close


async def _cpu_round(connections: int, size: int, messages: int) -> float:
    """CPU µs per echoed message: ``connections`` sockets on fake transports."""
    import gc

    from sansketch._server import ConnectionSet, ServerConfig
    from sansketch.adapters import asyncio_protocol
    from sansketch.app import Application
    from sansketch.websocket import WebSocketResponse, WSMsgType

    async def echo(request):  # type: ignore[no-untyped-def]
        ws = WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
        return ws

    app = Application()
    app.router.add_get("/ws", echo)
    loop = asyncio.get_running_loop()
    state = asyncio_protocol._State(app, ServerConfig(), ConnectionSet(), loop)
    head = (
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    frame = _frame((b"hello, websocket " * (size // 17 + 1))[:size], False)
    echo_size = 2 + size
    pairs = []
    for _ in range(connections):
        proto = asyncio_protocol.HttpProtocol(state)
        transport = _FakeTransport()
        proto.connection_made(transport)
        proto.data_received(head)
        pairs.append((proto, transport))
    for _ in range(100):
        if all(t.written for _, t in pairs):
            break
        await asyncio.sleep(0)
    base = [t.written for _, t in pairs]
    sweeps = messages // connections
    gc.collect()
    start = time.process_time()
    for i in range(1, sweeps + 1):
        for proto, _ in pairs:
            proto.data_received(frame)
        target = i * echo_size
        for _ in range(100):
            if all(t.written - b >= target for (_, t), b in zip(pairs, base, strict=True)):
                break
            await asyncio.sleep(0)
        else:
            raise RuntimeError("the echo stalled")
    elapsed = time.process_time() - start
    for proto, _ in pairs:
        proto.connection_lost(None)
    await asyncio.sleep(0)
    return elapsed / (sweeps * connections) * 1e6


def cpu_main(connections: int, size: int, messages: int, rounds: int) -> None:
    """Print the best of ``rounds`` in-process rounds, CPU µs per message (uvloop)."""
    import uvloop

    print(min(uvloop.run(_cpu_round(connections, size, messages)) for _ in range(rounds)))


def cpu_compare(trees: list[str], args: argparse.Namespace) -> None:
    """Interleave in-process rounds over source trees (each a subprocess); print the best."""
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for tree in trees:
            argv = [sys.executable, __file__, "--cpu-round", "--connections"]
            argv += [str(args.connections), "--size", str(args.size)]
            argv += ["--messages", str(args.messages)]
            env = dict(os.environ, PYTHONPATH=tree)
            out = subprocess.run(argv, env=env, cwd=tree, check=True, capture_output=True)
            us = float(out.stdout.decode().strip())
            best[tree] = min(best.get(tree, us), us)
    for tree in trees:
        print(f"{tree}: {best[tree]:.2f} µs CPU per message (best of {args.rounds})")


# -- orchestration ---------------------------------------------------------------------


@dataclass
class Running:
    name: str
    port: int
    proc: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pinned(argv: list[str], cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if cpu is not None else argv


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its threads, in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("server did not start listening")


def _stop(servers: list[Running]) -> None:
    for server in servers:
        if server.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.proc.pid, signal.SIGTERM)
    for server in servers:
        try:
            server.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(timeout=5)


def _busy_seconds(cpu: str | None) -> float:
    """Time ``cpu`` (all CPUs when ``None``) spent busy, from /proc/stat."""
    wanted = f"cpu{cpu}" if cpu is not None else "cpu"
    with open("/proc/stat") as f:
        for line in f:
            name, *values = line.split()
            if name == wanted:
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, values[:8])
                return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measure(
    server: Running,
    mode: str,
    args: argparse.Namespace,
    server_cpu: str | None,
    client_cpu: str | None,
) -> tuple[float, float, float]:
    """(round trips per second, server CPU µs per round trip, other load).

    Other load: the larger share of the server's or the client's CPU that
    other processes used meanwhile (from /proc/stat; it includes some kernel
    network work charged to neither process).
    """
    argv = [sys.executable, __file__, "--client", "--port", str(server.port)]
    argv += ["--connections", str(args.connections), "--size", str(args.size)]
    argv += ["--modes", mode]
    argv += ["--warmup", str(args.warmup), "--duration", str(args.duration)]
    # CPU time is sampled around the whole client run; the warm-up share is
    # removed by scaling with the measured window only.
    cpu_before = _cpu_seconds(server.proc.pid)
    busy_before = (_busy_seconds(server_cpu), _busy_seconds(client_cpu))
    client_before = _children_cpu()
    started = time.monotonic()
    out = subprocess.run(
        _pinned(argv, client_cpu), capture_output=True, check=True, timeout=120
    ).stdout
    wall = time.monotonic() - started
    cpu_after = _cpu_seconds(server.proc.pid)
    server_busy = _busy_seconds(server_cpu) - busy_before[0]
    client_busy = _busy_seconds(client_cpu) - busy_before[1]
    client_used = _children_cpu() - client_before
    count = int(out.strip())
    rate = count / args.duration
    total_window = args.warmup + args.duration
    cpu_us = (cpu_after - cpu_before) * 1e6 * (args.duration / total_window) / max(count, 1)
    if server_cpu is None:  # one CPU for everything: other work is what is left
        other = (server_busy - (cpu_after - cpu_before) - client_used) / wall
        return rate, cpu_us, max(0.0, other) / (os.cpu_count() or 1)
    other_server = (server_busy - (cpu_after - cpu_before)) / wall
    other_client = (client_busy - client_used) / wall
    return rate, cpu_us, max(0.0, other_server, other_client)


def render(
    results: dict[str, dict[str, list[tuple[float, float, float]]]], args: argparse.Namespace
) -> str:
    """The markdown section: one table per mode."""
    lines = [
        HEADING,
        "",
        f"Echo round trips per second: {args.connections} connections, one "
        f"{args.size}-byte text message in flight on each; median of "
        f"{args.rounds} interleaved round(s) of {args.duration:g} s after "
        f"{args.warmup:g} s warm-up. Server on CPU 0, client on CPU 1. "
        f"Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs. Produced by `python bench/ws.py`.",
        "",
        "\"other load\" is the largest share of the server's or the client's CPU that "
        "other processes took during a run (from /proc/stat, a few per cent of it "
        "kernel network work); a run above "
        f"{args.max_other_load:.0%} is measured again (twice at most, the least "
        "disturbed kept). Round trips/s suffer from such load much more than "
        "server CPU µs per round trip, the steadier figure of the two.",
        "",
    ]
    titles = {
        "deflate": "permessage-deflate, as the `websockets` and aiohttp clients offer by default",
        "plain": "no compression (the client offers no extension)",
    }
    for mode, by_server in results.items():
        median = {
            name: (
                statistics.median(r for r, _, _ in runs),
                statistics.median(c for _, c, _ in runs),
                max(o for _, _, o in runs),
            )
            for name, runs in by_server.items()
            if runs
        }
        ref = median.get("aiohttp", (0.0, 0.0, 0.0))[0]
        lines += [
            f"### {titles[mode]}",
            "",
            "| server | round trips/s | vs aiohttp | server CPU µs / round trip | other load |",
            "|---|---:|---:|---:|---:|",
        ]
        for name in sorted(median, key=lambda n: -median[n][0]):
            rate, cpu, other = median[name]
            ratio = f"{rate / ref:.2f}" if ref else "-"
            lines.append(f"| {name} | {rate:,.0f} | {ratio} | {cpu:.1f} | {other:.0%} |")
        lines.append("")
    return "\n".join(lines)


def write_section(path: str, section: str) -> None:
    """Replace the WebSocket section of ``path`` (or append it)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Benchmark results\n"
    start = text.find(HEADING + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(HEADING))
        rest = text[end + 1 :] if end >= 0 else ""
        text = text[:start] + section + ("\n" + rest if rest else "")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--only", help="comma-separated server names")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--size", type=int, default=32, help="message size in bytes")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES), help="deflate, plain or both")
    parser.add_argument(
        "--max-other-load",
        type=float,
        default=0.25,
        help="measure a run again when other work took more than this share of a CPU",
    )
    parser.add_argument("--quick", action="store_true", help="2 s, 1 round, print only")
    parser.add_argument("--output", help="markdown file to update (default bench/RESULTS.md)")
    parser.add_argument(
        "--cpu",
        nargs="*",
        metavar="TREE",
        help="in-process CPU µs per message on fake transports (uvloop), interleaved"
        " over source trees (default: this one)",
    )
    parser.add_argument("--cpu-round", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--messages", type=int, default=32000, help="per in-process round")
    args = parser.parse_args()
    if args.cpu_round:
        sys.path.insert(0, os.getcwd())
        cpu_main(args.connections, args.size, args.messages, 1)
        return 0
    if args.cpu is not None:
        cpu_compare(args.cpu or [ROOT], args)
        return 0
    if args.serve:
        serve(args.serve, args.port)
        return 0
    if args.client:
        deflate = args.modes == "deflate"
        client_main(args.port, args.connections, args.size, deflate, args.warmup, args.duration)
        return 0
    if args.quick:
        args.duration, args.rounds, args.warmup = 2.0, 1, 0.5
    names = args.only.split(",") if args.only else SERVERS
    two_cpus = (os.cpu_count() or 1) >= 2
    server_cpu, client_cpu = ("0", "1") if two_cpus else (None, None)
    servers: list[Running] = []
    modes = args.modes.split(",")
    if set(modes) - set(MODES):
        parser.error(f"--modes: choose among {', '.join(MODES)}")
    results: dict[str, dict[str, list[tuple[float, float, float]]]] = {
        mode: {name: [] for name in names} for mode in modes
    }
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    )
    try:
        for name in names:
            port = _free_port()
            argv = [sys.executable, __file__, "--serve", name, "--port", str(port)]
            proc = subprocess.Popen(
                _pinned(argv, server_cpu),
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            servers.append(Running(name, port, proc))
            _wait_listening(port, proc)
        for round_no in range(args.rounds):
            for mode in modes:
                for server in servers:
                    # Other processes on the server's or the client's CPU
                    # depress round trips/s: measure such a run again (twice
                    # at most) and keep the least disturbed one.
                    sample = _measure(server, mode, args, server_cpu, client_cpu)
                    for _ in range(2):
                        if sample[2] <= args.max_other_load:
                            break
                        again = _measure(server, mode, args, server_cpu, client_cpu)
                        sample = min(sample, again, key=lambda x: x[2])
                    results[mode][server.name].append(sample)
                    rate, cpu, other = sample
                    print(
                        f"round {round_no + 1}: {mode:7} {server.name:18} "
                        f"{rate:10,.0f} rt/s {cpu:6.1f} µs  other load {other:.0%}",
                        file=sys.stderr,
                    )
    finally:
        _stop(servers)
    section = render(results, args)
    print(section)
    if not args.quick and not args.only and modes == MODES:
        write_section(args.output or os.path.join(HERE, "RESULTS.md"), section)
    elif args.output:
        write_section(args.output, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
