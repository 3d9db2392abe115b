"""Reliability under load, faults and hostile clients, measured per backend.

Usage::

    python bench/stress.py                    # every backend, full size; writes bench/STRESS.md
    python bench/stress.py --quick            # small sizes, a few seconds per scenario
    python bench/stress.py --backends asyncio-uvloop trio --scenarios idle flood

Each scenario starts a fresh server process (``python bench/stress.py serve``,
which serves the app of ``tests/reliability/rel_support.py`` with
``run_app``) and measures it from the outside: RSS and open descriptors from
``/proc/<pid>``, the server's own task count and heap from ``GET /tasks``
and ``GET /memory``, latencies from an asyncio client in this process (for
slowloris, from a blocking client in a process of its own), throughput and
errors from ``wrk``.
Everything is on 127.0.0.1. Targets and the figures measured go to
``bench/STRESS.md``.

Scenarios:

- idle: N idle keep-alive connections (10,000), then 1,000 sequential
  requests on a fresh connection; RSS per idle connection (target < 10 KiB on
  the asyncio Protocol driver) and latency.
- slowloris: 1,000 connections, opened over 1 s, each sending a request head
  a byte a second; each must get 408 and be closed at the head deadline
  (10 s) while a normal client (``stress.py probe``, its own process, a
  keep-alive request every 10 ms) keeps a p99 under 50 ms.
  ``--set slowloris_ramp=0`` opens them all at once (deadlines expire together).
- slowread: 20 clients stream 100 MB bodies and read slowly; server RSS must
  stay bounded; one client that stops reading is dropped at the send timeout.
- vanish: rounds of 10,000 clients that reset or half-close mid-head,
  mid-body or mid-response; descriptors, tasks, GC-tracked objects and RSS
  after each round. The first round grows the heap to its working size; "no
  leaked memory" is RSS growth under 5 % between the last two rounds.
  ``--tracemalloc`` traces the server's allocations and reports what grew.
- flood: wrk at full speed for 60 s; RSS growth after warm-up under 5 %, no
  errors.
- sigterm: SIGTERM while wrk runs and 50 slow requests are in flight; none of
  the accepted requests is lost or cut short; exit code 0 within the timeout.
- fuzz: mutated requests for a fixed time; no 5xx but 501/505, no hang.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SUPPORT = ROOT / "tests" / "reliability"
# Run as a script, this directory comes first on sys.path and its http.py
# would shadow the standard library's http: import from the repository root
# (the app the servers run lives with the reliability tests).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path[:0] = [str(ROOT), str(SUPPORT)]
GET = b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n"

BACKENDS = {
    "asyncio-uvloop": ("asyncio", "uvloop"),
    "asyncio": ("asyncio", "asyncio"),
    "asyncio-streams": ("asyncio-streams", "asyncio"),
    "trio": ("trio", "auto"),
    "anyio-asyncio": ("anyio-asyncio", "asyncio"),
}


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE to its hard limit where allowed; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    except (ValueError, OSError):
        return soft


# -- the server process ---------------------------------------------------------------
def serve_main(args: argparse.Namespace) -> None:
    """``stress.py serve``: run the reliability app with the given limits."""
    raise_fd_limit()
    from rel_support import make_app

    from sansketch.protocol import Limits
    from sansketch.runner import run_app

    if args.tracemalloc:
        tracemalloc.start(1)
    limits = Limits(
        request_head_timeout=args.head_timeout,
        keep_alive_timeout=args.keep_alive,
    )
    app = make_app()
    app.router.add_route("GET", "/memory", memory_report)
    run_app(
        app,
        host="127.0.0.1",
        port=args.port,
        backend=args.backend,
        loop=args.loop,
        limits=limits,
        max_connections=args.max_connections,
        send_timeout=args.send_timeout,
        shutdown_timeout=args.shutdown_timeout,
        log_counters=args.log_counters,
    )


_last_snapshot: list[tracemalloc.Snapshot] = []


def short_path(filename: str) -> str:
    """``sansketch/...`` for the library's files, the bare name for others."""
    parts = Path(filename).parts
    if "sansketch" in parts:
        return "/".join(parts[len(parts) - 1 - parts[::-1].index("sansketch") :])
    return parts[-1] if parts else filename


async def memory_report(request: object) -> object:
    """``GET /memory`` on the stress server: what its heap holds after a collection.

    JSON with the number of objects the collector tracks, the commonest
    types, and with ``--tracemalloc`` the traced size and the lines whose
    allocations grew most since the previous call.
    """
    from sansketch.response import json_response

    gc.collect()
    objects = gc.get_objects()
    types = Counter(type(o).__qualname__ for o in objects)
    report: dict[str, object] = {
        "objects": len(objects),
        "types": dict(types.most_common(12)),
    }
    del objects
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        report["traced"], report["peak"] = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        if _last_snapshot:
            diff = snapshot.compare_to(_last_snapshot[0], "lineno")
            report["grown"] = [
                f"{short_path(d.traceback[0].filename)}:{d.traceback[0].lineno}"
                f" {d.size_diff:+} B ({d.count_diff:+} blocks)"
                for d in diff[:8]
            ]
        _last_snapshot[:] = [snapshot]
    return json_response(report)


class Server:
    """A server subprocess and what /proc says about it."""

    def __init__(self, name: str, **opts: float) -> None:
        backend, loop = BACKENDS[name]
        self.port = free_port()
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "serve",
            "--backend",
            backend,
            "--loop",
            loop,
            "--port",
            str(self.port),
        ]
        for key, value in opts.items():
            cmd += [f"--{key.replace('_', '-')}", str(value)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        # The server's log goes to a file: a pipe nobody reads would block it.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self.log, env=env, cwd=ROOT
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if "listening" not in line:
            raise RuntimeError(f"server did not start: {line!r}")
        self.address = ("127.0.0.1", self.port)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss(self) -> int:
        """Resident set size in bytes."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self, timeout: float = 40.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def warnings(self) -> int:
        """Lines the server logged at WARNING or above (log spam is a DoS too)."""
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        return len(
            re.findall(r"(?m)^(?:WARNING|ERROR|CRITICAL|.*(?:Traceback|socket\.send))", text)
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- client helpers -----------------------------------------------------------------------
async def request(
    address: tuple[str, int], path: bytes, timeout: float = 10.0
) -> tuple[int, bytes]:
    """One request on a fresh connection with ``Connection: close``."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), timeout)
    writer.write(b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % path)
    raw = await asyncio.wait_for(reader.read(), timeout)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return (int(head.split(b" ")[1]) if head else 0), body


async def read_one(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One Content-Length response from a keep-alive connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    body = await reader.readexactly(int(match.group(1))) if match else b""
    return int(head.split(b" ")[1]), body


async def latencies(address: tuple[str, int], n: int, pause: float = 0.0) -> list[float]:
    """``n`` sequential keep-alive GETs; their latencies in seconds."""
    reader, writer = await asyncio.open_connection(*address)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        writer.write(GET % b"/")
        status, _ = await read_one(reader)
        out.append(time.perf_counter() - t0)
        assert status == 200
        if pause:
            await asyncio.sleep(pause)
    writer.close()
    return out


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def mib(x: float) -> str:
    return f"{x / 1024 / 1024:.1f} MiB"


async def gather_limited(coros: list[Callable[[], Awaitable[object]]], limit: int) -> list[object]:
    sem = asyncio.Semaphore(limit)

    async def one(make: Callable[[], Awaitable[object]]) -> object:
        async with sem:
            try:
                return await make()
            except Exception as exc:
                return exc

    return await asyncio.gather(*(one(c) for c in coros))


@dataclass
class Result:
    """One scenario on one backend."""

    scenario: str
    backend: str
    figures: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.failed.append(what)


# -- scenarios ------------------------------------------------------------------------------
async def idle(name: str, size: dict[str, float]) -> Result:
    result = Result("idle", name)
    n = int(size["idle"])
    server = Server(name, keep_alive=600, max_connections=n + 100)
    try:
        await latencies(server.address, 20)
        base_lat = await latencies(server.address, 1000)
        rss0, fds0 = server.rss(), server.fds()
        conns = []

        async def open_idle() -> None:
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(GET % b"/")
            await read_one(reader)
            conns.append(writer)

        errors = [
            r for r in await gather_limited([open_idle] * n, 200) if isinstance(r, Exception)
        ]
        rss1, fds1 = server.rss(), server.fds()
        lat = await latencies(server.address, 1000)
        per_conn = (rss1 - rss0) / max(1, len(conns))
        result.figures.update(
            {
                "idle connections": f"{len(conns)} (errors {len(errors)})",
                "server fds": f"{fds0} -> {fds1}",
                "RSS": f"{mib(rss0)} -> {mib(rss1)}",
                "RSS per idle connection": f"{per_conn / 1024:.2f} KiB",
                "latency p50/p99 before": f"{ms(pct(base_lat, 0.5))} / {ms(pct(base_lat, 0.99))}",
                "latency p50/p99 with idle": f"{ms(pct(lat, 0.5))} / {ms(pct(lat, 0.99))}",
            }
        )
        result.check(not errors and len(conns) == n, f"{len(errors)} idle connections failed")
        result.check(pct(lat, 0.99) < 0.05, "p99 with idle connections >= 50 ms")
        if name.startswith("asyncio") and BACKENDS[name][0] == "asyncio":
            result.check(per_conn < 10 * 1024, "RSS per idle connection >= 10 KiB")
        for writer in conns:
            writer.close()
    finally:
        server.stop()
    return result


def probe_main(args: argparse.Namespace) -> None:
    """``stress.py probe``: timed keep-alive GETs from a process of its own.

    Plain blocking sockets and ``time.perf_counter``, so no event loop shared
    with the attacking connections adds to the figures. Prints one latency in
    seconds per line, after ``--seconds`` of requests ``--pause`` apart.
    """
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request_bytes = GET % b"/"
    buffer = bytearray()
    out: list[float] = []
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        sock.sendall(request_bytes)
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("probe: server closed the connection")
            buffer += chunk
        head_end = buffer.index(b"\r\n\r\n") + 4
        match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", bytes(buffer[:head_end]))
        total = head_end + (int(match.group(1)) if match else 0)
        while len(buffer) < total:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("probe: server closed the connection")
            buffer += chunk
        out.append(time.perf_counter() - t0)
        if not buffer.startswith(b"HTTP/1.1 200 "):
            raise SystemExit(f"probe: unexpected answer {bytes(buffer[:40])!r}")
        del buffer[:total]
        time.sleep(args.pause)
    sock.close()
    sys.stdout.write("".join(f"{x!r}\n" for x in out))


async def probe(address: tuple[str, int], seconds: float, pause: float) -> list[float]:
    """Run ``stress.py probe`` against ``address``; its latencies in seconds."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).resolve()),
        "probe",
        "--port",
        str(address[1]),
        "--seconds",
        str(seconds),
        "--pause",
        str(pause),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"latency probe failed ({proc.returncode})")
    return [float(line) for line in out.split()]


def loadavg() -> str:
    """The machine's 1-minute load average (other processes share the CPUs)."""
    return Path("/proc/loadavg").read_text().split()[0]


async def slowloris(name: str, size: dict[str, float]) -> Result:
    result = Result("slowloris", name)
    n = int(size["slowloris"])
    head_timeout = size["head_timeout"]
    byte_every = size["byte_every"]
    ramp = size["slowloris_ramp"]
    server = Server(name, head_timeout=head_timeout, max_connections=n + 100)
    loop = asyncio.get_running_loop()
    try:
        outcomes: list[tuple[bytes, float]] = []
        payload = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 10_000

        async def loris(i: int) -> None:
            # Connections open evenly over ``ramp`` seconds and each sends a
            # byte every ``byte_every`` seconds from its own start, so the
            # server sees a steady trickle, never 1,000 bytes at one instant.
            await asyncio.sleep(i * ramp / n)
            reader, writer = await asyncio.open_connection(*server.address)
            t0 = loop.time()
            answer = asyncio.ensure_future(reader.read(4096))
            sent = 0
            while not answer.done() and sent < len(payload):
                writer.write(payload[sent : sent + 1])
                sent += 1
                await asyncio.wait([answer], timeout=t0 + sent * byte_every - loop.time())
            try:
                first = await answer
            except ConnectionError:
                first = b""
            closed = not first
            if first:
                # The server must also close after its 408.
                try:
                    first += await asyncio.wait_for(reader.read(), 5)
                    closed = True
                except ConnectionError:
                    closed = True
                except asyncio.TimeoutError:
                    pass
            outcomes.append((first if closed else b"not closed", loop.time() - t0))
            writer.close()

        load0 = loadavg()
        tasks = [asyncio.create_task(loris(i)) for i in range(n)]
        # The probe covers the ramp, the trickle and the moment the head
        # deadlines expire (they are spread over the ramp, as the opens are).
        lat = await probe(server.address, ramp + head_timeout + 1.5, size["probe_pause"])
        await asyncio.gather(*tasks)
        load1 = loadavg()
        got_408 = sum(1 for answer, _ in outcomes if answer.startswith(b"HTTP/1.1 408 "))
        times = [t for _, t in outcomes]
        result.figures.update(
            {
                "slow connections": f"{n}, opened over {ramp:g} s, a byte every {byte_every:g} s",
                "answered 408 and closed": str(got_408),
                "closed after (min/median/max)": f"{min(times):.2f} / "
                f"{statistics.median(times):.2f} / {max(times):.2f} s "
                f"(deadline {head_timeout:g} s)",
                "probe requests": f"{len(lat)}, one every {size['probe_pause'] * 1000:g} ms",
                "normal client p50/p99/max": f"{ms(pct(lat, 0.5))} / {ms(pct(lat, 0.99))}"
                f" / {ms(max(lat))}",
                "load average before/after": f"{load0} / {load1}",
            }
        )
        result.check(got_408 == n, f"only {got_408}/{n} got 408")
        result.check(max(times) < head_timeout + 2, "a slow connection outlived the deadline")
        result.check(pct(lat, 0.99) < 0.05, "normal client p99 >= 50 ms")
    finally:
        server.stop()
    return result


async def slowread(name: str, size: dict[str, float]) -> Result:
    result = Result("slowread", name)
    n = int(size["slow_readers"])
    send_timeout = size["send_timeout"]
    server = Server(name, send_timeout=send_timeout)
    try:
        await latencies(server.address, 20)
        rss0 = server.rss()
        peak = rss0
        received = [0] * n
        stop = asyncio.Event()

        async def reader_task(i: int) -> None:
            reader, writer = await asyncio.open_connection(*server.address)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            writer.write(GET % b"/stream?mb=100")
            while not stop.is_set():
                data = await reader.read(64 * 1024)
                if not data:
                    break
                received[i] += len(data)
                await asyncio.sleep(0.05)  # ~1.3 MB/s: slow, but reading
            writer.close()

        tasks = [asyncio.create_task(reader_task(i)) for i in range(n)]
        # One more that stops reading after the head.
        r, w = await asyncio.open_connection(*server.address)
        w.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        w.write(GET % b"/stream?mb=100")
        await r.read(1024)
        t_stop = time.monotonic()
        end = time.monotonic() + size["slowread_seconds"]
        dropped_after = None
        while time.monotonic() < end:
            await asyncio.sleep(0.25)
            peak = max(peak, server.rss())
        # The stalled reader: drain what is buffered and see whether it was cut.
        total = 0
        while True:
            try:
                data = await asyncio.wait_for(r.read(1 << 20), 5)
            except (asyncio.TimeoutError, ConnectionError):
                break
            if not data:
                dropped_after = time.monotonic() - t_stop
                break
            total += len(data)
        w.close()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        result.figures.update(
            {
                "slow readers": f"{n} x 100 MB streamed, reading ~1.3 MB/s for "
                f"{size['slowread_seconds']:g} s",
                "received per reader (median)": mib(statistics.median(received)),
                "server RSS baseline / peak": f"{mib(rss0)} / {mib(peak)}",
                "RSS growth per slow reader": f"{(peak - rss0) / n / 1024:.0f} KiB",
                "stalled reader": (
                    f"dropped after {total / 1024:.0f} KiB (within {size['slowread_seconds']:g}"
                    f" s run, send timeout {send_timeout:g} s)"
                    if dropped_after is not None
                    else "NOT dropped"
                ),
            }
        )
        result.check(dropped_after is not None, "stalled reader not dropped")
        result.check(peak - rss0 < n * 1024 * 1024, "RSS grew by more than 1 MiB per reader")
    finally:
        server.stop()
    return result


async def vanish(name: str, size: dict[str, float]) -> Result:
    result = Result("vanish", name)
    n = int(size["vanish"])
    rounds = int(size["vanish_rounds"])
    traced = bool(size.get("tracemalloc"))
    opts: dict[str, float] = {"head_timeout": 2}
    if traced:
        opts["tracemalloc"] = 1
    server = Server(name, **opts)
    try:
        for _ in range(200):
            await request(server.address, b"/")
        await asyncio.sleep(0.5)

        async def memory() -> dict[str, object]:
            _, body = await request(server.address, b"/memory", timeout=60)
            return json.loads(body)  # type: ignore[no-any-return]

        mem0 = await memory()
        fds0, rss0 = server.fds(), server.rss()
        _, tasks0 = await request(server.address, b"/tasks")

        async def one(i: int) -> None:
            reader, writer = await asyncio.open_connection(*server.address)
            sock = writer.get_extra_info("socket")
            kind = i % 5
            if kind == 0:
                writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nX-Partial: ab")
            elif kind == 1:
                writer.write(
                    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"
                    + b"z" * 999
                )
            elif kind == 2:
                writer.write(GET % b"/stream?mb=4")
                await reader.read(1024)
            elif kind == 3:
                writer.write(b"GET / HTTP/1.1\r\nHo")
                writer.write_eof()
                await reader.read()
            else:
                writer.write(GET % b"/")
                writer.write_eof()
                await reader.read()
            await writer.drain()
            if kind < 3:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            writer.close()

        # Several rounds: the first one grows the heap to its working size
        # (100 connections at once, each streaming 4 MiB responses, leave the
        # allocator holding arenas); a leak keeps growing round after round.
        rows: list[tuple[float, int, int, int, int]] = []
        traced_sizes: list[int] = []
        traced_peaks: list[int] = []
        errors = 0
        grown: list[str] = []
        load0 = loadavg()
        for _ in range(rounds):
            t0 = time.monotonic()
            errors += sum(
                isinstance(r, Exception)
                for r in await gather_limited([lambda i=i: one(i) for i in range(n)], 100)
            )
            elapsed = time.monotonic() - t0
            deadline = time.monotonic() + 10
            while server.fds() > fds0 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            _, tasks = await request(server.address, b"/tasks")
            mem = await memory()
            grown = list(mem.get("grown", []))  # type: ignore[call-overload]
            traced_sizes.append(int(mem.get("traced", 0)))  # type: ignore[call-overload]
            traced_peaks.append(int(mem.get("peak", 0)))  # type: ignore[call-overload]
            rows.append((elapsed, server.fds(), int(tasks), server.rss(), int(mem["objects"])))  # type: ignore[call-overload]
        fds_last, tasks_last, rss_last = rows[-1][1], rows[-1][2], rows[-1][3]
        rss_steady = rows[-2][3] if rounds > 1 else rss0
        objects_steady = rows[-2][4] if rounds > 1 else int(mem0["objects"])  # type: ignore[call-overload]
        result.figures.update(
            {
                "vanishing clients": f"{rounds} rounds x {n} in "
                + " / ".join(f"{r[0]:.1f}" for r in rows)
                + f" s (client-side errors {errors})",
                "server fds before / after each round": f"{fds0} / "
                + " / ".join(str(r[1]) for r in rows),
                "server tasks before / after each round": f"{int(tasks0)} / "
                + " / ".join(str(r[2]) for r in rows),
                "RSS before / after each round": f"{mib(rss0)} / "
                + " / ".join(mib(r[3]) for r in rows),
                "GC-tracked objects before / after each round": f"{mem0['objects']} / "
                + " / ".join(str(r[4]) for r in rows),
                f"RSS growth, last {'two rounds' if rounds > 1 else 'round'}": (
                    f"{(rss_last - rss_steady) / 1024:+.0f} KiB"
                ),
                "load average before/after": f"{load0} / {loadavg()}",
            }
        )
        if traced:
            heap = zip(traced_sizes, traced_peaks, strict=True)
            result.figures["traced Python heap after each round (peak during it)"] = " / ".join(
                f"{mib(x)} ({mib(peak)})" for x, peak in heap
            )
            result.figures["tracemalloc, top growth in the last round"] = "<br>".join(grown[:5])
        result.figures["server warnings logged"] = str(server.warnings())
        result.check(fds_last <= fds0, "descriptors leaked")
        result.check(tasks_last <= int(tasks0), "tasks leaked")
        # "No leaked memory": once the heap has reached its working size, a
        # further round of n connections must not grow it (5 %: the noise of
        # the allocator and of RSS accounting).
        result.check(
            rss_last - rss_steady < 0.05 * rss_steady, "RSS grew by 5 % or more in the last round"
        )
        result.check(
            rows[-1][4] - objects_steady < n // 100,
            "GC-tracked objects grew by 1 per 100 connections or more in the last round",
        )
    finally:
        server.stop()
    return result


def wrk(address: tuple[str, int], seconds: float, conns: int = 100) -> subprocess.Popen[bytes]:
    url = f"http://{address[0]}:{address[1]}/"
    return subprocess.Popen(
        ["wrk", "-t2", f"-c{conns}", f"-d{int(seconds)}s", "--latency", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wrk_summary(out: str) -> tuple[float, int, str]:
    rps = float(m.group(1)) if (m := re.search(r"Requests/sec:\s+([\d.]+)", out)) else 0.0
    errors = 0
    if m := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    ):
        errors += sum(int(x) for x in m.groups())
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    p99 = m.group(1) if (m := re.search(r"99%\s+(\S+)", out)) else "?"
    return rps, errors, p99


async def flood(name: str, size: dict[str, float]) -> Result:
    result = Result("flood", name)
    seconds = size["flood_seconds"]
    server = Server(name)
    try:
        proc = wrk(server.address, seconds)
        samples: list[tuple[float, int]] = []
        t0 = time.monotonic()
        while proc.poll() is None:
            await asyncio.sleep(1.0)
            samples.append((time.monotonic() - t0, server.rss()))
        out = proc.stdout.read().decode() if proc.stdout else ""
        rps, errors, p99 = wrk_summary(out)
        warm = [rss for t, rss in samples if t >= min(10.0, seconds / 4)] or [samples[-1][1]]
        growth = (warm[-1] - warm[0]) / warm[0]
        result.figures.update(
            {
                "duration": f"{seconds:g} s, wrk -t2 -c100",
                "requests/s": f"{rps:,.0f}",
                "wrk p99": p99,
                "errors (socket + non-2xx)": str(errors),
                "RSS after warm-up -> end": f"{mib(warm[0])} -> {mib(warm[-1])} "
                f"({growth * 100:+.1f} %)",
            }
        )
        result.check(errors == 0, "wrk saw errors")
        result.check(growth < 0.05, "RSS grew by 5 % or more after warm-up")
    finally:
        server.stop()
    return result


async def sigterm(name: str, size: dict[str, float]) -> Result:
    result = Result("sigterm", name)
    server = Server(name, shutdown_timeout=10)
    try:
        proc = wrk(server.address, 30)
        await asyncio.sleep(1.0)
        n = 50
        conns = []
        for i in range(n):
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(GET % b"/slow?s=1&id=%d" % i)
            conns.append((reader, writer))
        while True:
            _, body = await request(server.address, b"/inflight")
            if int(body or 0) >= n:
                break
            await asyncio.sleep(0.01)
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        complete = 0
        for i, (reader, writer) in enumerate(conns):
            raw = await asyncio.wait_for(reader.read(), 15)
            if raw.endswith(b"slow done %d" % i):
                complete += 1
            writer.close()
        code = await asyncio.to_thread(server.proc.wait, 15)
        exit_after = time.monotonic() - t0
        proc.send_signal(signal.SIGINT)
        out = proc.communicate()[0].decode()
        result.figures.update(
            {
                "in-flight slow requests at SIGTERM": str(n),
                "answered in full": str(complete),
                "exit code / after": f"{code} / {exit_after:.2f} s (timeout 10 s)",
                # wrk counts the keep-alive connections the server closed
                # (with Connection: close) as read/write errors.
                "wrk during shutdown": (
                    m.group(0) if (m := re.search(r"Socket errors.*", out)) else "no errors"
                ),
            }
        )
        result.check(complete == n, f"{n - complete} accepted requests lost")
        result.check(code == 0 and exit_after < 10, "did not exit 0 within the timeout")
    finally:
        server.stop()
    return result


async def fuzz(name: str, size: dict[str, float]) -> Result:
    from test_reliability import CORPUS, mutate

    result = Result("fuzz", name)
    server = Server(name, head_timeout=1, keep_alive=1)
    rng = random.Random(7)
    statuses: dict[int, int] = {}
    bad: list[bytes] = []
    hung = 0

    async def one(data: bytes) -> None:
        nonlocal hung
        reader, writer = await asyncio.open_connection(*server.address)
        writer.write(data)
        writer.write_eof()
        try:
            raw = await asyncio.wait_for(reader.read(), 5)
        except asyncio.TimeoutError:
            hung += 1
            raw = b""
        except ConnectionError:
            raw = b""
        writer.close()
        for s in re.findall(rb"(?:^|\r\n)HTTP/1\.[01] (\d{3}) ", raw):
            statuses[int(s)] = statuses.get(int(s), 0) + 1
            if int(s) >= 500 and int(s) not in (501, 505):
                bad.append(data)

    try:
        end = time.monotonic() + size["fuzz_seconds"]
        cases = 0
        while time.monotonic() < end:
            batch = [mutate(rng, rng.choice(CORPUS)) for _ in range(50)]
            await gather_limited([lambda d=d: one(d) for d in batch], 50)
            cases += len(batch)
        status, _ = await request(server.address, b"/")
        result.figures.update(
            {
                "mutated requests": f"{cases} in {size['fuzz_seconds']:g} s",
                "statuses": ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())),
                "hung": str(hung),
                "server alive after": "yes" if status == 200 else "NO",
            }
        )
        result.check(not bad, f"{len(bad)} server errors, e.g. {bad[:1]!r}")
        result.check(hung == 0 and status == 200, "hang or dead server")
    finally:
        server.stop()
    return result


SCENARIOS = {
    "idle": idle,
    "slowloris": slowloris,
    "slowread": slowread,
    "vanish": vanish,
    "flood": flood,
    "sigterm": sigterm,
    "fuzz": fuzz,
}
FULL = {
    "idle": 10_000,
    "slowloris": 1_000,
    "head_timeout": 10.0,
    "byte_every": 1.0,
    "slowloris_ramp": 1.0,
    "probe_pause": 0.01,
    "slow_readers": 20,
    "send_timeout": 5.0,
    "slowread_seconds": 10.0,
    "vanish": 10_000,
    "vanish_rounds": 3,
    "flood_seconds": 60.0,
    "fuzz_seconds": 10.0,
}
QUICK = {
    "idle": 500,
    "slowloris": 100,
    "head_timeout": 2.0,
    "byte_every": 0.2,
    "slowloris_ramp": 0.5,
    "probe_pause": 0.01,
    "slow_readers": 5,
    "send_timeout": 1.0,
    "slowread_seconds": 3.0,
    "vanish": 500,
    "vanish_rounds": 2,
    "flood_seconds": 5.0,
    "fuzz_seconds": 2.0,
}


def read_sections(path: Path) -> dict[str, list[str]]:
    """The ``## `` sections of an existing report, by title (empty if none)."""
    sections: dict[str, list[str]] = {}
    if not path.exists():
        return sections
    current: list[str] | None = None
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    return sections


def write_report(results: list[Result], size: dict[str, float], path: Path, label: str) -> None:
    """Write the report, keeping the sections of scenarios not run this time.

    Each scenario section says which run it comes from (``label``, the date
    and the sizes), so a report can combine runs; the ``Notes`` section,
    written by hand, is kept as it is.
    """
    old = read_sections(path)
    ran = {r.scenario for r in results}
    lines = [
        "# Stress figures",
        "",
        "Measured by `python bench/stress.py` (this file is generated; the method is in",
        "the script's docstring). One server process per scenario on 127.0.0.1,",
        f"clients on the same machine; {os.cpu_count()} CPUs, Python"
        f" {sys.version.split()[0]}. Each section names the run it comes from;",
        "other processes shared the CPUs, so sections show the load average.",
        "",
    ]
    # Failed targets: this run's, and those of kept sections.
    kept_failures = [
        line
        for line in old.get("Targets", [])
        if line.startswith("- **FAILED** ") and line.split()[2] not in ran
    ]
    failed = kept_failures + [
        f"- **FAILED** {r.scenario} on {r.backend}: {f}" for r in results for f in r.failed
    ]
    lines += ["## Targets", ""]
    lines += failed or ["- every target met on every backend measured"]
    lines.append("")
    sizes = ", ".join(f"{k}={v:g}" for k, v in size.items())
    for scenario in SCENARIOS:
        rows = [r for r in results if r.scenario == scenario]
        if not rows:
            if scenario in old:
                lines += [f"## {scenario}", *old[scenario]]
            continue
        keys = list(dict.fromkeys(k for r in rows for k in r.figures))
        lines += [
            f"## {scenario}",
            "",
            f"Run: {label}, {time.strftime('%Y-%m-%d')}; sizes: {sizes}.",
            "",
            "| | " + " | ".join(r.backend for r in rows) + " |",
        ]
        lines.append("|---" * (len(rows) + 1) + "|")
        for key in keys:
            lines.append(f"| {key} | " + " | ".join(r.figures.get(key, "") for r in rows) + " |")
        lines.append(
            "| target met | "
            + " | ".join("yes" if not r.failed else "**no**" for r in rows)
            + " |"
        )
        lines.append("")
    for title, body in old.items():
        if title != "Targets" and title not in SCENARIOS:
            lines += [f"## {title}", *body]
    path.write_text("\n".join(lines).rstrip("\n") + "\n")


def run_label() -> str:
    """The commit measured, and whether the library had local changes."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "sansketch"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"commit {sha}" + (" with local changes to sansketch/" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve")
    serve.add_argument("--backend", default="asyncio")
    serve.add_argument("--loop", default="asyncio")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--head-timeout", type=float, default=10.0)
    serve.add_argument("--keep-alive", type=float, default=5.0)
    serve.add_argument("--send-timeout", type=float, default=60.0)
    serve.add_argument("--shutdown-timeout", type=float, default=30.0)
    serve.add_argument("--max-connections", type=int, default=20_000)
    serve.add_argument("--log-counters", type=float, default=None)
    serve.add_argument("--tracemalloc", type=int, default=0)
    probe_cmd = sub.add_parser("probe")
    probe_cmd.add_argument("--port", type=int, required=True)
    probe_cmd.add_argument("--seconds", type=float, default=10.0)
    probe_cmd.add_argument("--pause", type=float, default=0.01)
    parser.add_argument("--quick", action="store_true", help="small sizes, seconds per scenario")
    parser.add_argument("--backends", nargs="*", default=list(BACKENDS), choices=list(BACKENDS))
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="vanish: trace the server's allocations (slow) and report what grew",
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="override a size, e.g. slowloris_ramp=0 (all slow connections at once)",
    )
    parser.add_argument("--label", help="the run's name in the report (default: the commit)")
    parser.add_argument("--out", type=Path, default=HERE / "STRESS.md")
    args = parser.parse_args()
    if args.command == "serve":
        serve_main(args)
        return
    if args.command == "probe":
        probe_main(args)
        return
    raise_fd_limit()
    if "flood" in args.scenarios and shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for the flood and sigterm scenarios")
    size = dict(QUICK if args.quick else FULL)
    if args.tracemalloc:
        size["tracemalloc"] = 1
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in size:
            raise SystemExit(f"unknown size {key!r}; known: {', '.join(size)}")
        size[key] = float(value)
    try:
        import uvloop

        runner: Callable[[Awaitable[None]], None] = uvloop.run  # type: ignore[assignment]
    except ImportError:
        runner = asyncio.run  # type: ignore[assignment]
    results: list[Result] = []
    label = args.label or run_label()

    async def run_all() -> None:
        for scenario in args.scenarios:
            for backend in args.backends:
                t0 = time.monotonic()
                try:
                    result = await SCENARIOS[scenario](backend, size)
                except Exception as exc:
                    result = Result(scenario, backend, failed=[f"crashed: {exc!r}"])
                results.append(result)
                status = "ok" if not result.failed else "FAILED " + "; ".join(result.failed)
                print(f"{scenario:10} {backend:16} {time.monotonic() - t0:6.1f} s  {status}")
                for key, value in result.figures.items():
                    print(f"    {key}: {value}")
                write_report(results, size, args.out, label)

    runner(run_all())  # type: ignore[arg-type]
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
