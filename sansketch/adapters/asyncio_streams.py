"""A driver on ``asyncio.start_server`` streams, using the shared pull loop.

Each accepted connection becomes a ``ByteStream`` over its ``StreamReader`` /
``StreamWriter`` and is served by ``serve_connection``; this module only moves
bytes, tracks the connection tasks and shuts them down.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING

from .._server import ServerConfig, serve_connection, with_loop_clock
from ._asyncio_server import AsyncioServerBase

if TYPE_CHECKING:
    from ..app import Application

__all__ = ["AsyncioStreamsServer", "StreamsByteStream"]

_READ_SIZE = 65536


class StreamsByteStream:
    """A ``ByteStream`` over an asyncio reader/writer pair."""

    __slots__ = ("_high_water", "_reader", "_transport", "_writer", "call_later")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._transport = writer.transport
        # The loop's timer bounds reads between requests (CallLater).
        self.call_later = asyncio.get_running_loop().call_later
        try:
            self._high_water = self._transport.get_write_buffer_limits()[1]
        except (AttributeError, NotImplementedError):
            self._high_water = 0  # unknown: send_nowait takes data only when empty

    def receive(self) -> Awaitable[bytes]:
        """Up to 64 KiB from the peer; ``b""`` at end of stream (await it).

        The reader's own coroutine, not one wrapping it: a coroutine frame
        less to start and to resume on every read.
        """
        return self._reader.read(_READ_SIZE)

    def send_nowait(self, data: bytes) -> int:
        """Hand ``data`` to the transport unless it is congested or closing.

        Returns ``len(data)``, or 0 (nothing written) when ``send`` must wait
        for flow control or report the lost connection.
        """
        transport = self._transport
        if transport.is_closing() or transport.get_write_buffer_size() > self._high_water:
            return 0
        transport.write(data)
        return len(data)

    async def send(self, data: bytes) -> None:
        """Write ``data`` and wait while the transport is congested."""
        self._writer.write(data)
        await self._writer.drain()

    async def aclose(self) -> None:
        """Close the connection."""
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass


class AsyncioStreamsServer(AsyncioServerBase):
    """Serves an application on listening sockets with asyncio streams."""

    def __init__(
        self, app: Application, config: ServerConfig, *, max_connections: int | None = None
    ) -> None:
        super().__init__(app, config, max_connections=max_connections)
        # ``config`` with the loop's own clock, set when serving starts.
        self._serve_config = config
        self._tasks: set[asyncio.Task[None]] = set()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            peer = writer.get_extra_info("peername")
            remote: tuple[str, int] | str | None
            if isinstance(peer, tuple):
                remote = (str(peer[0]), int(peer[1]))
            else:
                remote = str(peer) if peer else None
            sock = writer.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    pass
            scheme = "https" if writer.get_extra_info("sslcontext") is not None else "http"
            await serve_connection(
                StreamsByteStream(reader, writer),
                self.app,
                self._serve_config,
                remote=remote,
                scheme=scheme,
                connections=self.connections,
            )
        finally:
            self._tasks.discard(task)

    async def start(self, sockets: Iterable[socket.socket]) -> None:
        """Start accepting on ``sockets`` (already bound and listening)."""
        self._stopped = asyncio.Event()
        self._serve_config = with_loop_clock(self.config, asyncio.get_running_loop().time)
        for sock in sockets:
            server: asyncio.AbstractServer
            if sock.family == socket.AF_UNIX:
                server = await asyncio.start_unix_server(self._client, sock=sock)
            else:
                server = await asyncio.start_server(self._client, sock=sock)
            self._servers.append(server)

    async def _force_close_remaining(self) -> int:
        forced = len(self.connections)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        return forced
