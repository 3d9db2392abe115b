"""Servers, an app and raw clients for the reliability tests (and bench/stress.py).

``ThreadServer`` runs ``sansketch.runner.serve`` in a thread of this process,
so a test can count this process's file descriptors before and after, read
``app.counters`` and ask the server for its own task count (``/tasks``).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import sniffio

from sansketch.app import Application
from sansketch.request import Request
from sansketch.response import Response, StreamResponse
from sansketch.runner import ServeOptions, ServerThread

TIMEOUT = 10.0  # bound on any single socket operation in a test
CHUNK = 64 * 1024


def backends() -> list[tuple[str, str]]:
    """Every (backend, loop) pair; the Protocol driver on uvloop when installed."""
    pairs = [
        ("asyncio", "asyncio"),
        ("asyncio-streams", "asyncio"),
        ("trio", "auto"),
        ("anyio-asyncio", "asyncio"),
    ]
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return pairs
    return [("asyncio", "uvloop"), *pairs]


def backend_id(pair: tuple[str, str]) -> str:
    """A short test id for a (backend, loop) pair."""
    backend, loop = pair
    return backend if loop in ("auto", "asyncio") and backend != "asyncio" else f"{backend}-{loop}"


class Stats:
    """What the app saw; written from the server thread, read by the test."""

    def __init__(self) -> None:
        self.streamed = 0  # body bytes handed to the channel by /stream
        self.stream_ended = threading.Event()
        self.write_after_leave: list[str] = []
        self.inflight = 0  # /slow handlers running now


def task_count() -> int:
    """Tasks alive in the running event loop (asyncio or trio)."""
    if sniffio.current_async_library() == "trio":
        import trio

        def walk(task: Any) -> int:
            return 1 + sum(walk(child) for n in task.child_nurseries for child in n.child_tasks)

        return walk(trio.lowlevel.current_root_task())
    import asyncio

    return len(asyncio.all_tasks())


def make_app(stats: Stats | None = None) -> Application:
    """The app the reliability tests and the stress script serve."""
    stats = stats if stats is not None else Stats()
    app = Application(client_max_size=1024 * 1024)

    async def hello(request: Request) -> Response:
        return Response(text="Hello, World!")

    async def stream(request: Request) -> StreamResponse:
        # ``mb`` MiB in 64 KiB writes: each write waits for the socket
        # (backpressure), so a slow reader holds the handler, not memory.
        size = int(float(request.query.get("mb", "100")) * 1024 * 1024)
        response = StreamResponse()
        response.content_length = size
        await response.prepare(request)
        block = b"x" * CHUNK
        sent = 0
        try:
            while sent < size:
                piece = block[: min(CHUNK, size - sent)]
                await response.write(piece)
                sent += len(piece)
                stats.streamed += len(piece)
            await response.write_eof()
        finally:
            stats.stream_ended.set()
        return response

    async def slow(request: Request) -> Response:
        stats.inflight += 1
        try:
            await anyio.sleep(float(request.query.get("s", "0.2")))
        finally:
            stats.inflight -= 1
        return Response(text="slow done " + request.query.get("id", ""))

    async def inflight(request: Request) -> Response:
        return Response(text=str(stats.inflight))

    async def fail(request: Request) -> Response:
        raise RuntimeError("secret detail /etc/passwd")

    async def forever(request: Request) -> Response:
        await anyio.sleep(60)
        return Response(text="late")

    async def after_leave(request: Request) -> StreamResponse:
        # Keeps writing after the client is gone: the write must fail cleanly.
        response = StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for _ in range(10_000):
                await response.write(b"y" * 1024)
                await anyio.sleep(0.001)
        except Exception as exc:
            stats.write_after_leave.append(type(exc).__name__)
            raise
        return response

    async def inject(request: Request) -> Response:
        where = request.query.get("where", "value")
        if where == "name":
            return Response(text="x", headers={"X-A\r\nInjected": "1"})
        if where == "nul":
            return Response(text="x", headers={"X-A": "a\x00b"})
        return Response(text="x", headers={"X-A": "a\r\nInjected: 1"})

    async def tasks(request: Request) -> Response:
        return Response(text=str(task_count()))

    async def echo(request: Request) -> Response:
        return Response(body=await request.read())

    router = app.router
    router.add_route("GET", "/", hello)
    router.add_route("GET", "/stream", stream)
    router.add_route("GET", "/slow", slow)
    router.add_route("GET", "/fail", fail)
    router.add_route("GET", "/forever", forever)
    router.add_route("GET", "/after-leave", after_leave)
    router.add_route("GET", "/inject", inject)
    router.add_route("GET", "/tasks", tasks)
    router.add_route("GET", "/inflight", inflight)
    router.add_route("POST", "/echo", echo)
    return app


class ThreadServer(ServerThread):
    """A server on 127.0.0.1 in a background thread; ``stop()`` drains it."""

    def __init__(self, backend: str, loop: str, **options: Any) -> None:
        self.stats = Stats()
        super().__init__(
            make_app(self.stats),
            ServeOptions(backend=backend, loop=loop, **options),
            timeout=TIMEOUT,
        )

    @property
    def alive(self) -> bool:
        """Whether the server thread still runs."""
        return self.running

    def connect(self, timeout: float = TIMEOUT) -> socket.socket:
        """A new blocking client socket."""
        sock = socket.create_connection(self.address, timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def get(self, path: str) -> tuple[int, bytes, bytes]:
        """One GET on a fresh connection: (status, head, body)."""
        sock = self.connect()
        try:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
            return parse_response(read_all(sock))
        finally:
            sock.close()

    def tasks(self) -> int:
        """The server loop's task count, as the server itself reports it.

        Includes the task answering this request (and on trio the loop's own
        system tasks), so compare counts, not absolute numbers.
        """
        status, _, body = self.get("/tasks")
        assert status == 200
        return int(body)


def read_all(sock: socket.socket) -> bytes:
    """Everything until the peer closes (or resets)."""
    data = bytearray()
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, bytes, bytes]:
    """One Content-Length response from a keep-alive connection."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(bytes(buffer))
        buffer += chunk
    end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:end])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(buffer) < end + length:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(bytes(buffer))
        buffer += chunk
    body = bytes(buffer[end : end + length])
    del buffer[: end + length]
    return int(head.split(b" ", 2)[1]), head, body


def parse_response(raw: bytes) -> tuple[int, bytes, bytes]:
    """(status, head, body) of the first response in ``raw`` (0 if none)."""
    if not raw.startswith(b"HTTP/1."):
        return 0, b"", raw
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body


def open_fds() -> int:
    """File descriptors open in this process."""
    return len(os.listdir("/proc/self/fd"))


def wait_until(
    condition: Callable[[], bool], timeout: float = TIMEOUT, step: float = 0.02
) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return condition()
        time.sleep(step)


def reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN (SO_LINGER 0): a vanishing client."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
