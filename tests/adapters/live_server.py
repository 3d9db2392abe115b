"""Live servers on 127.0.0.1 for every driver, and a small raw HTTP client.

A ``LiveServer`` runs ``sansketch.runner.serve`` in a background thread (its
own event loop) and is stopped through a ``ShutdownTrigger``; tests talk to it
with blocking sockets and httpx, so the same test covers every backend.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

import live_app

from sansketch.runner import ServeOptions, ServerThread

# (backend, loop) pairs: every driver, and the Protocol driver on both loops.
BACKENDS = [
    ("asyncio", "uvloop"),
    ("asyncio", "asyncio"),
    ("asyncio-streams", "asyncio"),
    ("trio", "auto"),
    ("anyio-asyncio", "asyncio"),
]
IDS = [f"{backend}-{loop}" if loop != "auto" else backend for backend, loop in BACKENDS]

TIMEOUT = 10.0  # seconds any single socket operation may take in a test


class LiveServer(ServerThread):
    """A server running in a thread; ``stop()`` shuts it down gracefully."""

    def __init__(
        self,
        backend: str,
        loop: str,
        *,
        unix: str | None = None,
        app: Any = None,
        **options: Any,
    ) -> None:
        super().__init__(
            app if app is not None else live_app.make_app(),
            ServeOptions(backend=backend, loop=loop, **options),
            unix=unix,
            timeout=TIMEOUT,
        )

    def connect(self) -> RawClient:
        """A new raw connection."""
        if isinstance(self.address, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT)
        sock.connect(self.address)
        return RawClient(sock)


@dataclass
class RawResponse:
    """A response parsed from the wire."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    informational: list[int] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The first value of ``name`` (case-insensitive)."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class RawClient:
    """A blocking socket with just enough HTTP/1.1 parsing for the tests."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.eof = False

    def send(self, data: bytes) -> None:
        """Write all of ``data``."""
        self.sock.sendall(data)

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buffer += chunk
        return True

    def read_until(self, marker: bytes) -> bytes:
        """Bytes up to and including ``marker``."""
        while True:
            index = self.buffer.find(marker)
            if index >= 0:
                end = index + len(marker)
                data = bytes(self.buffer[:end])
                del self.buffer[:end]
                return data
            if not self._fill():
                raise EOFError(f"closed before {marker!r}; got {bytes(self.buffer)!r}")

    def read_exactly(self, n: int) -> bytes:
        """Exactly ``n`` bytes."""
        while len(self.buffer) < n:
            if not self._fill():
                raise EOFError("closed early")
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def read_head(self) -> RawResponse:
        """A status line and headers (1xx included)."""
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.append((name, value.strip()))
        return RawResponse(status, headers)

    def read_response(self, method: str = "GET") -> RawResponse:
        """One final response, skipping 1xx, with its body."""
        informational = []
        while True:
            response = self.read_head()
            if 100 <= response.status < 200 and response.status != 101:
                informational.append(response.status)
                continue
            break
        response.informational = informational
        if method == "HEAD" or response.status in (101, 204, 304):
            return response
        length = response.header("content-length")
        if (response.header("transfer-encoding") or "").lower() == "chunked":
            body = bytearray()
            while True:
                size = int(self.read_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self.read_until(b"\r\n")  # no trailers in these tests
                    break
                body += self.read_exactly(size)
                self.read_until(b"\r\n")
            response.body = bytes(body)
        elif length is not None:
            response.body = self.read_exactly(int(length))
        else:
            while self._fill():
                pass
            response.body = bytes(self.buffer)
            self.buffer.clear()
        return response

    def at_eof(self) -> bool:
        """Whether the server closed the connection (waits for it)."""
        while not self.buffer and self._fill():
            pass
        return self.eof and not self.buffer

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()
