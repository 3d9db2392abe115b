"""A driver on anyio listeners: runs on trio and on asyncio.

Each accepted ``SocketStream`` is served by the shared pull loop
(``serve_connection``). Accepting runs in one task group and connections in
another, so shutdown can stop the first at once and give the second until
the timeout before cancelling it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import sniffio
from anyio.abc import SocketAttribute, SocketListener, SocketStream, TaskGroup, TaskStatus

from .._date import keep_date_fresh
from .._server import (
    ConnectionSet,
    ServerConfig,
    serve_connection,
    server_logger,
    with_loop_clock,
)

if TYPE_CHECKING:
    from ..app import Application

__all__ = ["AnyioByteStream", "AnyioServer"]

_READ_SIZE = 65536


class AnyioByteStream:
    """A ``ByteStream`` over an anyio ``SocketStream``."""

    __slots__ = (
        "_checkpoint",
        "_closed_error",
        "_not_ready",
        "_socket",
        "_stream",
        "_transport",
        "_wait_readable",
        "call_later",
        "receive_ready",
    )

    def __init__(self, stream: SocketStream) -> None:
        self._stream = stream
        # What send_nowait writes to, looked up once: the socket itself on
        # trio (non-blocking; trio keeps no write buffer of its own), the
        # transport on asyncio, where the socket belongs to the transport.
        self._socket: socket.socket | None = None
        self._transport: asyncio.WriteTransport | None = None
        # ``ReceiveReady.receive_ready`` for the serve loop, on trio only:
        # anyio's asyncio stream reads from its protocol's queue instead.
        self.receive_ready: Callable[[], Awaitable[bytes | None]] | None = None
        # The last receive_ready found no bytes: receive waits before reading.
        self._not_ready = False
        # ``CallLater.call_later`` on asyncio (its timers are cheap to arm
        # and a scope deadline moved per read is not); trio's deadlines are.
        self.call_later: Callable[[float, Callable[[], None]], asyncio.TimerHandle] | None = None
        if sniffio.current_async_library() == "trio":
            sock = stream.extra(SocketAttribute.raw_socket, None)
            if sock is not None and not sock.getblocking():
                import trio  # the running library, so installed

                self._socket = sock
                self._checkpoint = trio.lowlevel.checkpoint
                self._wait_readable = trio.lowlevel.wait_readable
                self._closed_error: type[Exception] = trio.ClosedResourceError
                self.receive_ready = self._receive_ready
        else:
            # anyio's asyncio SocketStream keeps its transport private;
            # without one of the expected type, every write takes ``send``.
            transport = getattr(stream, "_transport", None)
            if isinstance(transport, asyncio.WriteTransport):
                self._transport = transport
            self.call_later = asyncio.get_running_loop().call_later

    async def receive(self) -> bytes | None:
        """Up to 64 KiB from the peer; ``b""`` at end of stream."""
        sock = self._socket
        if sock is None:
            try:
                return await self._stream.receive(_READ_SIZE)
            except anyio.EndOfStream:
                return b""
        # trio: what trio's own ``recv`` does (read, else wait until
        # readable), without its wrappers and anyio's; a read that
        # receive_ready just found empty is not tried again before waiting.
        if self._not_ready:
            self._not_ready = False
        else:
            await self._checkpoint()
            try:
                return sock.recv(_READ_SIZE)
            except BlockingIOError:
                pass
        while True:
            try:
                await self._wait_readable(sock)
            except self._closed_error as exc:  # closed by another task meanwhile
                raise anyio.ClosedResourceError from exc
            try:
                return sock.recv(_READ_SIZE)
            except BlockingIOError:
                continue

    async def _receive_ready(self) -> bytes | None:
        """A checkpoint, then the bytes already received (``None``: none yet).

        Raises:
            OSError: the connection is broken.
        """
        await self._checkpoint()
        assert self._socket is not None
        try:
            return self._socket.recv(_READ_SIZE)
        except BlockingIOError:
            self._not_ready = True
            return None

    def send_nowait(self, data: bytes) -> int:
        """Write what the socket takes at once; the number of bytes taken.

        Raises:
            OSError: the connection is broken.
        """
        sock = self._socket
        if sock is not None:
            try:
                return sock.send(data)
            except BlockingIOError:
                return 0
        transport = self._transport
        if transport is None or transport.is_closing():
            return 0
        if transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]:
            return 0
        transport.write(data)
        return len(data)

    async def send(self, data: bytes) -> None:
        """Write all of ``data``."""
        await self._stream.send(data)

    async def aclose(self) -> None:
        """Close the connection."""
        await self._stream.aclose()


def _loop_clock() -> Callable[[], float]:
    """The running event loop's clock: what ``anyio.current_time`` reads."""
    if sniffio.current_async_library() == "trio":
        import trio  # only on trio, which may not be installed otherwise

        return trio.current_time
    return asyncio.get_running_loop().time


class AnyioServer:
    """Serves an application on listening sockets through anyio.

    Args:
        app: the application.
        config: limits, access log, request timeout.
        max_connections: connections served at once; one accepted beyond
            it is answered ``503`` and closed (``None``: no cap).
    """

    def __init__(
        self, app: Application, config: ServerConfig, *, max_connections: int | None = None
    ) -> None:
        self.app = app
        self.config = config
        # ``config`` with the running loop's own clock, set when serving starts.
        self._serve_config = config
        self.connections = ConnectionSet(max_connections)
        self._accept_scope: anyio.CancelScope | None = None
        self._conn_scope: anyio.CancelScope | None = None
        self._stopped = anyio.Event()

    async def run(
        self,
        sockets: Iterable[socket.socket],
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve ``sockets`` (bound and listening) until ``shutdown`` ends.

        Signals ``task_status.started()`` once accepting.
        """
        self._serve_config = with_loop_clock(self.config, _loop_clock())
        listeners = [await SocketListener.from_socket(sock) for sock in sockets]
        try:
            async with anyio.create_task_group() as date_tg:
                # The Date the responses carry, refreshed once a second.
                date_tg.start_soon(keep_date_fresh)
                async with anyio.create_task_group() as conn_tg:
                    self._conn_scope = conn_tg.cancel_scope
                    async with anyio.create_task_group() as accept_tg:
                        self._accept_scope = accept_tg.cancel_scope
                        for listener in listeners:
                            accept_tg.start_soon(self._accept, listener, conn_tg)
                        task_status.started()
                date_tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                for listener in listeners:
                    await listener.aclose()
            self._stopped.set()

    async def _accept(self, listener: SocketListener, conn_tg: TaskGroup) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                # EMFILE and friends: back off instead of spinning.
                if exc.errno is None:
                    raise
                await anyio.sleep(0.1)
                continue
            conn_tg.start_soon(self._serve, stream)

    async def _serve(self, stream: SocketStream) -> None:
        peer = stream.extra(SocketAttribute.remote_address, None)
        remote: tuple[str, int] | str | None
        if isinstance(peer, tuple):
            remote = (str(peer[0]), int(peer[1]))
        else:
            remote = str(peer) if peer else None
        try:
            await serve_connection(
                AnyioByteStream(stream),
                self.app,
                self._serve_config,
                remote=remote,
                connections=self.connections,
            )
        except Exception:
            # A bug in one connection must not end the task group, and with
            # it every other connection of the server.
            server_logger.exception("connection from %s failed", remote)

    async def shutdown(self, timeout: float) -> int:
        """Stop accepting, drain connections, and return how many were forced."""
        if self._accept_scope is not None:
            self._accept_scope.cancel()
        empty = anyio.Event()
        self.connections.on_empty = empty.set
        self.connections.start_shutdown()
        forced = 0
        if len(self.connections):
            with anyio.move_on_after(timeout):
                await empty.wait()
            forced = len(self.connections)
            if forced and self._conn_scope is not None:
                self._conn_scope.cancel()
        await self._stopped.wait()
        return forced + self.connections.forced
