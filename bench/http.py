"""HTTP benchmark: sansketch's backends against peer servers, in one run.

What it does
------------
Starts every server below on 127.0.0.1, each pinned to CPU 0 with
``taskset -c 0``, checks that each one answers ``GET /`` correctly (also when
three requests are pipelined), then drives them with ``wrk`` pinned to CPU 1:

* plaintext ``GET /``: ``wrk -t1 -c64 -d8s``;
* the same, pipelined 16 deep (a wrk Lua script sends 16 requests per write).

Rounds are interleaved (round-robin over the servers, several rounds) and the
median of the rounds is reported. For every run the server's CPU time is read
from ``/proc/PID/stat`` (utime + stime of the server process and of all its
descendants, plus the reaped children's cutime + cstime) before and after, so
the report gives both req/s and server CPU microseconds per request, each also
as a ratio against uvicorn measured in the same run.

Servers
-------
sansketch (``python -m sansketch examples.hello:app``, the full app layer):

* ``sansketch-uvloop``   asyncio Protocol driver on uvloop
* ``sansketch-asyncio``  asyncio Protocol driver on the stdlib loop
* ``sansketch-streams``  asyncio-streams driver on uvloop
* ``sansketch-anyio``    anyio driver on asyncio (uvloop)
* ``sansketch-trio``     anyio driver on trio

peers (every one answers ``Hello, World!`` as ``text/plain; charset=utf-8``):

* ``uvicorn``            uvicorn, httptools + uvloop, raw ASGI app (the reference)
* ``aiohttp``            aiohttp.web on uvloop
* ``hypercorn-asyncio``  hypercorn, asyncio worker, raw ASGI app
* ``hypercorn-trio``     hypercorn, trio worker, raw ASGI app
* ``ceiling``            bare uvloop ``asyncio.Protocol`` + httptools, fixed response
* ``ceiling-streams``    the same on asyncio streams (``start_server``): the floor
                         of any streams-based server, for the asyncio-streams driver

Installing the tools (benchmark machine only; not runtime dependencies)
------------------------------------------------------------------------
::

    apt-get update && apt-get install -y wrk      # util-linux provides taskset
    python -m pip install -e '.[dev]' uvicorn hypercorn aiohttp
    python -m pip install py-spy                  # optional, for profiling

Usage
-----
From the repository root (two or more CPUs; run on an otherwise idle machine)::

    python bench/http.py                        # full run, writes bench/RESULTS.md
    python bench/http.py --quick                # 2 s, 1 round, prints only
    python bench/http.py --only sansketch-trio,hypercorn-trio --rounds 5
    python bench/http.py --duration 4 --rounds 3 --output /tmp/results.md

uvicorn is always measured, because every ratio is against it. Every server
the script starts is killed (by PID, with its process group) when it exits,
also on Ctrl-C.
"""

from __future__ import annotations

import os
import sys

# This file is named like the stdlib ``http`` package; when run as a script its
# directory comes first on sys.path and would shadow it for every import below.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import atexit  # noqa: E402
import contextlib  # noqa: E402
import datetime  # noqa: E402
import importlib.metadata  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

ROOT = os.path.dirname(_HERE)
HOST = "127.0.0.1"
BODY = b"Hello, World!"
CONTENT_TYPE = b"text/plain; charset=utf-8"
REFERENCE = "uvicorn"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Sends ``depth`` requests in one write; wrk counts every response.
PIPELINE_LUA = """\
init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format(nil, "/")
  end
  req = table.concat(r)
end

request = function()
  return req
end
"""


# -- servers -------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server: a name and its command for a given port."""

    name: str
    kind: str  # "sansketch", "peer" or "ceiling"
    argv: Callable[[int], list[str]]
    note: str


def _sansketch(backend: str, loop: str) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "sansketch",
            "examples.hello:app",
            "--backend",
            backend,
            "--loop",
            loop,
            "--host",
            HOST,
            "--port",
            str(port),
        ]

    return argv


def _uvicorn(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.peers.asgi_hello:app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def _hypercorn(worker: str) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        # Default of one worker: hypercorn runs it as a child process, which
        # is why CPU time is summed over the server's descendants.
        return [
            sys.executable,
            "-m",
            "hypercorn",
            "--worker-class",
            worker,
            "--bind",
            f"{HOST}:{port}",
            "--log-level",
            "warning",
            "bench.peers.asgi_hello:app",
        ]

    return argv


def _module(module: str) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        return [sys.executable, "-m", module, "--host", HOST, "--port", str(port)]

    return argv


SERVERS: list[ServerSpec] = [
    ServerSpec(
        "sansketch-uvloop",
        "sansketch",
        _sansketch("asyncio", "uvloop"),
        "asyncio Protocol driver, uvloop",
    ),
    ServerSpec(
        "sansketch-asyncio",
        "sansketch",
        _sansketch("asyncio", "asyncio"),
        "asyncio Protocol driver, stdlib loop",
    ),
    ServerSpec(
        "sansketch-streams",
        "sansketch",
        _sansketch("asyncio-streams", "uvloop"),
        "asyncio-streams driver, uvloop",
    ),
    ServerSpec(
        "sansketch-anyio",
        "sansketch",
        _sansketch("anyio-asyncio", "uvloop"),
        "anyio driver on asyncio, uvloop",
    ),
    ServerSpec(
        "sansketch-trio",
        "sansketch",
        _sansketch("trio", "auto"),
        "anyio driver on trio",
    ),
    ServerSpec(REFERENCE, "peer", _uvicorn, "uvicorn, httptools + uvloop, raw ASGI"),
    ServerSpec("aiohttp", "peer", _module("bench.peers.aiohttp_hello"), "aiohttp.web on uvloop"),
    ServerSpec(
        "hypercorn-asyncio",
        "peer",
        _hypercorn("asyncio"),
        "hypercorn, asyncio worker, raw ASGI",
    ),
    ServerSpec("hypercorn-trio", "peer", _hypercorn("trio"), "hypercorn, trio worker, raw ASGI"),
    ServerSpec(
        "ceiling",
        "ceiling",
        _module("bench.ceiling"),
        "bare uvloop Protocol + httptools, fixed response",
    ),
    ServerSpec(
        "ceiling-streams",
        "ceiling",
        lambda port: [*_module("bench.ceiling")(port), "--streams"],
        "bare asyncio streams on uvloop + httptools, fixed response (the streams floor)",
    ),
]


@dataclass
class Running:
    """A started server and what the run learned about it."""

    spec: ServerSpec
    port: int
    proc: subprocess.Popen[bytes]
    log_path: str
    failed: str | None = None


class ServerPool:
    """Starts servers and guarantees that each one is killed, by PID."""

    def __init__(self, workdir: str, server_cpu: str | None) -> None:
        self._workdir = workdir
        self._server_cpu = server_cpu
        self.running: list[Running] = []

    def start(self, spec: ServerSpec) -> Running:
        """Start ``spec`` on a free port in its own process group."""
        port = _free_port()
        argv = spec.argv(port)
        if self._server_cpu is not None:
            argv = ["taskset", "-c", self._server_cpu, *argv]
        log_path = os.path.join(self._workdir, f"{spec.name}.log")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Running(spec, port, proc, log_path)
        self.running.append(server)
        return server

    def stop_all(self) -> None:
        """SIGTERM each server and its descendants, then SIGKILL what is left."""
        victims: list[tuple[Running, list[int]]] = []
        for server in self.running:
            if server.proc.poll() is None:
                victims.append((server, [server.proc.pid, *_descendants(server.proc.pid)]))
        for _server, pids in victims:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        for server, pids in victims:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.proc.wait(timeout=2.0)
        self.running.clear()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def wait_ready(server: Running, timeout: float = 20.0) -> None:
    """Wait until the server accepts connections, or mark it failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            server.failed = f"exited with status {server.proc.returncode}"
            return
        try:
            with socket.create_connection((HOST, server.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    server.failed = f"not accepting connections after {timeout:.0f} s"


def log_tail(server: Running, lines: int = 15) -> str:
    """The last lines the server printed."""
    try:
        with open(server.log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# -- correctness check ---------------------------------------------------------


def check_server(port: int, pipelined: int = 3, timeout: float = 5.0) -> str | None:
    """Send ``pipelined`` requests in one write; return a problem or None.

    Each response must be 200 with ``Content-Type: text/plain; charset=utf-8``,
    ``Content-Length`` framing and the body ``Hello, World!``.
    """
    request = b"GET / HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n\r\n"
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(request * pipelined)
            buf = b""
            for index in range(pipelined):
                while b"\r\n\r\n" not in buf:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return f"connection closed before response {index + 1}"
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                status_line, *header_lines = head.split(b"\r\n")
                parts = status_line.split(b" ", 2)
                if len(parts) < 2 or parts[0] != b"HTTP/1.1" or parts[1] != b"200":
                    return f"response {index + 1}: status line {status_line!r}"
                headers: dict[bytes, bytes] = {}
                for line in header_lines:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                if headers.get(b"content-type") != CONTENT_TYPE:
                    return f"response {index + 1}: content-type {headers.get(b'content-type')!r}"
                if b"content-length" not in headers:
                    return f"response {index + 1}: no content-length"
                length = int(headers[b"content-length"])
                while len(buf) < length:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return f"connection closed inside body {index + 1}"
                    buf += chunk
                body, buf = buf[:length], buf[length:]
                if body != BODY:
                    return f"response {index + 1}: body {body!r}"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


# -- CPU accounting --------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from field 3 (state) on; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses.
    return raw[raw.rindex(")") + 2 :].split()


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def cpu_seconds(root: int) -> float:
    """CPU time of ``root`` and its descendants, from /proc/PID/stat.

    utime + stime (fields 14, 15) of every live process in the tree, plus
    cutime + cstime (16, 17) of each, which hold the children already reaped.
    """
    ticks = 0
    for pid in [root, *_descendants(root)]:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += sum(int(v) for v in fields[11:15])
    return ticks / CLK_TCK


def parse_cpu_list(text: str) -> list[int]:
    """``"0"``, ``"0-2"`` or ``"0,3"`` (taskset syntax) as CPU numbers."""
    cpus: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.extend(range(int(low), int(high or low) + 1))
    return cpus


def busy_seconds(cpus: list[int]) -> float:
    """Time ``cpus`` spent busy (anything but idle and iowait), from /proc/stat."""
    wanted = {f"cpu{n}" for n in cpus}
    ticks = 0
    with open("/proc/stat") as f:
        for line in f:
            name, *values = line.split()
            if name in wanted:
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, values[:8])
                ticks += user + nice + system + irq + softirq + steal
    return ticks / CLK_TCK


# -- load generation -------------------------------------------------------------


@dataclass
class Sample:
    """One wrk run against one server."""

    requests: int
    seconds: float
    cpu_seconds: float
    errors: str
    other_load: float  # largest share of the server's or wrk's CPUs used by other work

    @property
    def rps(self) -> float:
        """Responses per second, as wrk counted them."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        """Server CPU microseconds per response."""
        return self.cpu_seconds * 1e6 / self.requests if self.requests else float("inf")


_REQUESTS_RE = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b")
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def parse_wrk(output: str) -> tuple[int, float, str]:
    """Total requests, elapsed seconds and any error lines from wrk's output."""
    match = _REQUESTS_RE.search(output)
    if match is None:
        raise RuntimeError(f"cannot read wrk output:\n{output}")
    errors = [
        line.strip()
        for line in output.splitlines()
        if line.strip().startswith(("Socket errors", "Non-2xx"))
    ]
    return int(match[1]), float(match[2]) * _UNIT[match[3]], "; ".join(errors)


@dataclass
class Wrk:
    """How to run wrk: pinning, connections, duration, pipelining script."""

    client_cpu: str | None
    connections: int
    lua_path: str
    server_cpus: list[int]

    def run(self, server: Running, seconds: float, depth: int) -> Sample:
        """One run; ``depth`` > 1 pipelines that many requests per write."""
        argv = [
            "wrk",
            "-t1",
            f"-c{self.connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "2s",
        ]
        if depth > 1:
            argv += ["-s", self.lua_path]
        argv.append(f"http://{HOST}:{server.port}/")
        if depth > 1:
            argv += ["--", str(depth)]
        if self.client_cpu is not None:
            argv = ["taskset", "-c", self.client_cpu, *argv]
        client_cpus = parse_cpu_list(self.client_cpu) if self.client_cpu is not None else []
        busy_before = busy_seconds(self.server_cpus)
        client_busy_before = busy_seconds(client_cpus)
        wrk_before = _children_cpu()
        before = cpu_seconds(server.proc.pid)
        started = time.monotonic()
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
        wall = time.monotonic() - started
        after = cpu_seconds(server.proc.pid)
        busy = busy_seconds(self.server_cpus) - busy_before
        client_busy = busy_seconds(client_cpus) - client_busy_before
        wrk_cpu = _children_cpu() - wrk_before
        if done.returncode != 0:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
        requests, elapsed, errors = parse_wrk(done.stdout)
        # Other work on either side depresses req/s: on the server's CPUs it
        # competes with the server, on the client's it slows wrk down.
        other = _share(busy - (after - before), wall * len(self.server_cpus))
        if client_cpus:
            other = max(other, _share(client_busy - wrk_cpu, wall * len(client_cpus)))
        return Sample(requests, elapsed, after - before, errors, other)


def _children_cpu() -> float:
    """CPU time of this process's children that have been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _share(part: float, whole: float) -> float:
    return max(0.0, part) / whole if whole > 0 else 0.0


# -- the run ---------------------------------------------------------------------


@dataclass
class Results:
    """Samples per mode ("plain", "pipelined") and server name."""

    samples: dict[str, dict[str, list[Sample]]] = field(default_factory=dict)

    def add(self, mode: str, name: str, sample: Sample) -> None:
        """Record one sample."""
        self.samples.setdefault(mode, {}).setdefault(name, []).append(sample)

    def median_rps(self, mode: str, name: str) -> float | None:
        """Median req/s over the rounds, None if never measured."""
        got = self.samples.get(mode, {}).get(name)
        return statistics.median(s.rps for s in got) if got else None

    def median_cpu(self, mode: str, name: str) -> float | None:
        """Median CPU µs per request over the rounds, None if never measured."""
        got = self.samples.get(mode, {}).get(name)
        return statistics.median(s.cpu_us for s in got) if got else None


def measure(
    servers: list[Running],
    wrk: Wrk,
    modes: list[tuple[str, int]],
    rounds: int,
    seconds: float,
    warmup: float,
    max_other_load: float = 1.0,
    retries: int = 0,
) -> Results:
    """Interleaved rounds: each round visits every live server once per mode."""
    results = Results()
    if warmup > 0:
        for server in servers:
            _progress(f"warm-up {server.spec.name}")
            _guarded(server, lambda s=server: wrk.run(s, warmup, 1))
    for mode, depth in modes:
        for round_no in range(rounds):
            # Rotating the start spreads any drift (heat, background work)
            # over all servers instead of always hitting the same one.
            order = servers[round_no % len(servers) :] + servers[: round_no % len(servers)]
            for server in order:
                if server.failed:
                    continue
                sample = _guarded(server, lambda s=server, d=depth: wrk.run(s, seconds, d))
                # On a shared machine another process may take the server's
                # CPU for a while: measure again (a bounded number of times)
                # and keep the quietest run.
                for _retry in range(retries):
                    if sample is None or sample.other_load <= max_other_load:
                        break
                    _progress(
                        f"{server.spec.name}: other load {sample.other_load:.0%}, measuring again"
                    )
                    again = _guarded(server, lambda s=server, d=depth: wrk.run(s, seconds, d))
                    if again is None or again.other_load < sample.other_load:
                        sample = again
                if sample is None:
                    continue
                results.add(mode, server.spec.name, sample)
                _progress(
                    f"{mode:9} round {round_no + 1}/{rounds} {server.spec.name:18} "
                    f"{sample.rps:10.0f} req/s {sample.cpu_us:7.1f} µs/req "
                    f"(other load {sample.other_load:.0%})"
                    + (f"  [{sample.errors}]" if sample.errors else "")
                )
    return results


def _guarded(server: Running, run: Callable[[], Sample]) -> Sample | None:
    try:
        sample = run()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        server.failed = str(exc)
        _progress(f"{server.spec.name}: {exc}")
        return None
    if server.proc.poll() is not None:
        server.failed = f"exited with status {server.proc.returncode} under load"
        _progress(f"{server.spec.name}: {server.failed}\n{log_tail(server)}")
        return None
    return sample


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- report ----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A goal from the issue: ``name`` must reach ``factor`` x ``against``."""

    label: str
    mode: str
    name: str
    against: str
    factor: float
    metric: str = "rps"  # "rps": higher is better; "cpu": lower is better


TARGETS = [
    Target("uvloop driver >= 2x uvicorn req/s", "plain", "sansketch-uvloop", REFERENCE, 2.0),
    Target(
        "uvloop driver <= 0.5x uvicorn CPU/request",
        "plain",
        "sansketch-uvloop",
        REFERENCE,
        0.5,
        "cpu",
    ),
    Target("uvloop driver within 2x of the ceiling", "plain", "sansketch-uvloop", "ceiling", 0.5),
    Target(
        "pipelined 16 deep: uvloop driver >= 5x uvicorn",
        "pipelined",
        "sansketch-uvloop",
        REFERENCE,
        5.0,
    ),
    Target(
        "trio backend >= 10x hypercorn on trio", "plain", "sansketch-trio", "hypercorn-trio", 10
    ),
    Target(
        "asyncio-streams backend >= 2x aiohttp.web", "plain", "sansketch-streams", "aiohttp", 2
    ),
]


def evaluate(target: Target, results: Results) -> tuple[float | None, bool | None]:
    """The measured ratio and whether it meets the target (None: not measured)."""
    if target.metric == "cpu":
        mine = results.median_cpu(target.mode, target.name)
        theirs = results.median_cpu(target.mode, target.against)
    else:
        mine = results.median_rps(target.mode, target.name)
        theirs = results.median_rps(target.mode, target.against)
    if not mine or not theirs:
        return None, None
    ratio = mine / theirs
    met = ratio <= target.factor if target.metric == "cpu" else ratio >= target.factor
    return ratio, met


def _verdict(met: bool | None) -> str:
    return "not measured" if met is None else ("yes" if met else "**no**")


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _ratio(mine: float | None, ref: float | None) -> str:
    return "n/a" if not mine or not ref else f"{mine / ref:.2f}x"


def _table(results: Results, mode: str, servers: list[Running]) -> list[str]:
    ref_rps = results.median_rps(mode, REFERENCE)
    ref_cpu = results.median_cpu(mode, REFERENCE)
    lines = [
        "| server | req/s | x uvicorn | CPU µs/req | x uvicorn | rounds | other load | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for server in servers:
        name = server.spec.name
        got = results.samples.get(mode, {}).get(name, [])
        rps = results.median_rps(mode, name)
        cpu = results.median_cpu(mode, name)
        errors = sorted({s.errors for s in got if s.errors})
        other = f"{max(s.other_load for s in got):.0%}" if got else "n/a"
        if server.failed:
            errors.append(f"failed: {server.failed}")
        lines.append(
            f"| {name} | {_fmt(rps, ',.0f')} | {_ratio(rps, ref_rps)} | {_fmt(cpu, '.1f')} "
            f"| {_ratio(cpu, ref_cpu)} | {len(got)} | {other} | {'; '.join(errors) or '-'} |"
        )
    return lines


def machine_lines() -> list[str]:
    """CPU model, cores, memory and kernel."""
    model = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
    return [
        f"- machine: {model}, {os.cpu_count()} CPUs{memory}",
        f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
    ]


def version_lines() -> list[str]:
    """Python, wrk, the packages involved and the sansketch commit."""
    versions = [f"Python {platform.python_version()}"]
    for package in ("httptools", "uvloop", "anyio", "trio", "uvicorn", "hypercorn", "aiohttp"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    first = (wrk.stdout or wrk.stderr or "wrk (unknown version)").splitlines()[0]
    versions.append(first.split(" [")[0])
    commit = subprocess.run(
        ["git", "-C", ROOT, "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return [f"- versions: {', '.join(versions)}", f"- sansketch commit: {commit or 'unknown'}"]


def render(
    results: Results,
    servers: list[Running],
    args: argparse.Namespace,
    modes: list[tuple[str, int]],
    started: datetime.datetime,
) -> str:
    """The Markdown report."""
    command = "python bench/http.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    out = [
        "# HTTP benchmark results",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC",
        *machine_lines(),
        *version_lines(),
        f"- command: `{command.strip()}`",
        f"- method: each server pinned to CPU {args.server_cpu}, wrk pinned to CPU "
        f"{args.client_cpu}; `wrk -t1 -c{args.connections} -d{args.duration:g}s`, "
        f"{args.rounds} interleaved rounds (round-robin over the servers), median "
        f"reported; a run during which other work used more than {args.max_other_load:.0%} "
        f"of the server CPU is measured again (up to {args.retries} times, the quietest "
        "kept); CPU per request = server utime+stime (with descendants) from "
        "/proc/PID/stat over the run / responses counted by wrk; ratios against "
        'uvicorn in this same run. "other load" is the largest share of the server '
        "CPU, or of wrk's CPU, busy with anything but the server (or wrk) during a run "
        "(from /proc/stat; it includes kernel network work not charged to either "
        "process, a few per cent): well above that, other processes competed for the "
        "CPUs and depressed that run's req/s; CPU µs/req is much less affected.",
        "",
        "Servers:",
        "",
        *[f"- `{s.spec.name}`: {s.spec.note}" for s in servers],
        "",
    ]
    titles = {
        "plain": "Plaintext `GET /`",
        "pipelined": f"Pipelined {args.pipeline} deep (one write per {args.pipeline} requests)",
    }
    for mode, _depth in modes:
        out += [f"## {titles[mode]}", "", *_table(results, mode, servers), ""]
    out += [
        "## Targets",
        "",
        '"by CPU" is the req/s ratio both servers would reach if each had a whole '
        "CPU to itself (the inverse ratio of their CPU µs/req): on a machine where other "
        "work competes for the CPUs it is the steadier figure.",
        "",
        "| target | measured | met | by CPU | met by CPU |",
        "|---|---:|---|---:|---|",
    ]
    for target in TARGETS:
        ratio, met = evaluate(target, results)
        what = "CPU/req" if target.metric == "cpu" else "req/s"
        measured = "n/a" if ratio is None else f"{ratio:.2f}x {target.against} {what}"
        by_cpu, met_cpu = "-", None
        if target.metric == "rps":
            cpu_ratio, _ = evaluate(
                Target(target.label, target.mode, target.name, target.against, 0, "cpu"), results
            )
            if cpu_ratio:
                by_cpu = f"{1 / cpu_ratio:.2f}x"
                met_cpu = 1 / cpu_ratio >= target.factor
        out.append(
            f"| {target.label} | {measured} | {_verdict(met)} | {by_cpu} "
            f"| {_verdict(met_cpu) if met_cpu is not None else '-'} |"
        )
    out += ["", "## Every round", ""]
    for mode, _depth in modes:
        for name, samples in results.samples.get(mode, {}).items():
            figures = ", ".join(
                f"{s.rps:,.0f} req/s @ {s.cpu_us:.1f} µs (other {s.other_load:.0%})"
                for s in samples
            )
            out.append(f"- {mode} `{name}`: {figures}")
    return "\n".join(out) + "\n"


# -- main ------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(
        description="Benchmark sansketch's backends against peer servers.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    names = ", ".join(s.name for s in SERVERS)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per mode")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated servers to run (uvicorn is always added); from: {names}",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 s runs, 1 round, no warm-up; prints the report unless --output is given",
    )
    parser.add_argument("--connections", type=int, default=64, help="wrk -c")
    parser.add_argument("--pipeline", type=int, default=16, help="requests per write")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the pipelined runs")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per server")
    parser.add_argument(
        "--max-other-load",
        type=float,
        default=0.15,
        help="measure a run again when other work used more than this share of the server CPU",
    )
    parser.add_argument("--retries", type=int, default=2, help="at most this many times per run")
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list for the servers")
    parser.add_argument("--client-cpu", default="1", help="taskset CPU list for wrk")
    parser.add_argument(
        "--output",
        default=None,
        help="Markdown report path (default: bench/RESULTS.md for a full run of every server)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.warmup = 2.0, 1, 0.0
    if args.rounds < 1 or args.duration <= 0:
        parser.error("--rounds must be >= 1 and --duration > 0")
    return args


def select(only: str) -> list[ServerSpec]:
    """The servers named by ``--only`` (all when empty), uvicorn included."""
    if not only:
        return list(SERVERS)
    wanted = {name.strip() for name in only.split(",") if name.strip()}
    unknown = wanted - {s.name for s in SERVERS}
    if unknown:
        raise SystemExit(f"unknown server(s): {', '.join(sorted(unknown))}")
    wanted.add(REFERENCE)
    return [s for s in SERVERS if s.name in wanted]


@contextlib.contextmanager
def _killed_on_exit(pool: ServerPool) -> Iterator[None]:
    """Stop the servers on return, exception, SIGTERM and interpreter exit."""

    def on_signal(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_signal)
    atexit.register(pool.stop_all)
    try:
        yield
    finally:
        pool.stop_all()
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 if a server failed its check."""
    args = parse_args(argv)
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found; see this script's docstring to install it")
    if (os.cpu_count() or 1) < 2:
        _progress("warning: fewer than 2 CPUs; server and wrk will share one")
    specs = select(args.only)
    modes = [("plain", 1)] + ([] if args.no_pipeline else [("pipelined", args.pipeline)])
    started = datetime.datetime.now(datetime.timezone.utc)
    status = 0
    with tempfile.TemporaryDirectory(prefix="sansketch-bench-") as workdir:
        lua_path = os.path.join(workdir, "pipeline.lua")
        with open(lua_path, "w") as f:
            f.write(PIPELINE_LUA)
        pool = ServerPool(workdir, args.server_cpu)
        with _killed_on_exit(pool):
            servers = [pool.start(spec) for spec in specs]
            for server in servers:
                wait_ready(server)
                if server.failed is None:
                    problem = check_server(server.port)
                    if problem is not None:
                        server.failed = f"wrong answer: {problem}"
                if server.failed:
                    status = 1
                    _progress(f"{server.spec.name}: {server.failed}\n{log_tail(server)}")
                else:
                    _progress(f"{server.spec.name}: ok on port {server.port}")
            live = [s for s in servers if not s.failed]
            server_cpus = parse_cpu_list(args.server_cpu) if args.server_cpu else [0]
            wrk = Wrk(args.client_cpu, args.connections, lua_path, server_cpus)
            results = measure(
                live,
                wrk,
                modes,
                args.rounds,
                args.duration,
                args.warmup,
                args.max_other_load,
                args.retries,
            )
            report = render(results, servers, args, modes, started)
    output = args.output
    if output is None and not args.quick and not args.only:
        output = os.path.join(_HERE, "RESULTS.md")
    if output:
        kept = _kept_sections(output)  # read before "w" empties the file
        with open(output, "w", encoding="utf-8") as f:
            f.write(report + kept)
        _progress(f"wrote {output}")
    print(report)
    return status


# Sections of the report file other scripts own (bench/ws.py): kept as they are.
_FOREIGN_HEADINGS = ("## WebSocket",)


def _kept_sections(path: str) -> str:
    """The sections of ``path`` this script does not write, to keep them."""
    try:
        with open(path, encoding="utf-8") as f:
            old = f.read()
    except FileNotFoundError:
        return ""
    starts = [old.find("\n" + heading + "\n") for heading in _FOREIGN_HEADINGS]
    found = [start for start in starts if start >= 0]
    return "\n" + old[min(found) + 1 :] if found else ""


if __name__ == "__main__":
    sys.exit(main())
