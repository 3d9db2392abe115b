"""What the two asyncio drivers' servers share: listening, running, shutdown.

A subclass accepts connections its own way (``start``) and knows how to end
the connections still open when the shutdown timeout passes
(``_force_close_remaining``); the order of a graceful shutdown lives here.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskStatus

from .._date import keep_date_fresh
from .._server import ConnectionSet, ServerConfig

if TYPE_CHECKING:
    from ..app import Application


class AsyncioServerBase:
    """An application served on listening sockets by an asyncio driver.

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
        self.connections = ConnectionSet(max_connections)
        self._servers: list[asyncio.AbstractServer] = []
        self._stopped: asyncio.Event | None = None

    async def start(self, sockets: Iterable[socket.socket]) -> None:
        """Start accepting on ``sockets`` (already bound and listening)."""
        raise NotImplementedError

    async def _force_close_remaining(self) -> int:
        """End the connections still open after the drain; how many there were."""
        raise NotImplementedError

    async def run(
        self,
        sockets: Iterable[socket.socket],
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve ``sockets`` until ``shutdown`` ends; ``started()`` once accepting.

        Meanwhile the ``Date`` the responses carry is refreshed once a second.
        """
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(keep_date_fresh)
            await self.start(sockets)
            task_status.started()
            await self.wait_stopped()
            tasks.cancel_scope.cancel()

    async def wait_stopped(self) -> None:
        """Wait until ``shutdown`` has finished."""
        assert self._stopped is not None
        await self._stopped.wait()

    async def shutdown(self, timeout: float) -> int:
        """Stop accepting, drain connections, and return how many were forced."""
        for server in self._servers:
            server.close()
        empty = asyncio.Event()
        self.connections.on_empty = empty.set
        self.connections.start_shutdown()
        forced = 0
        if len(self.connections):
            try:
                await asyncio.wait_for(empty.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            forced = await self._force_close_remaining()
        if self._stopped is not None:
            self._stopped.set()
        return forced + self.connections.forced
