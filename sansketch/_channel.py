"""The contract between the app layer and a driver, for one request.

A driver (or the in-memory test client) gives each request a ``Channel``. The
app layer reads the body and writes the response only through it, so it never
learns which event loop or socket is underneath. Every method but
``send_response`` and ``trailers`` is awaited in the handler's task; a driver
implements them with whatever its loop offers.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Sequence
from typing import Protocol

RawHeaders = Sequence[tuple[bytes, bytes]]


class ClientDisconnected(ConnectionError):
    """The client went away; the request cannot be read or answered."""


class Channel(Protocol):
    """Body in, response out, for the request being handled.

    Body reading: the first ``receive_body`` call is what makes the core send
    a lazy ``100 Continue``. Response writing: ``send_head`` then any number
    of ``send_body`` then ``send_end``; or ``send_response`` once for a whole
    response (the fast path: one write). Drivers may coalesce the head with
    the first body write.
    """

    @property
    def remote(self) -> tuple[str, int] | str | None:
        """Peer address as the socket reports it (``None`` when unknown)."""

    @property
    def scheme(self) -> str:
        """``"http"`` or ``"https"``."""

    response_started: bool
    """Whether the response head has been handed to the core."""

    async def receive_body(self) -> bytes:
        """Next piece of the request body; ``b""`` once it is complete.

        Raises:
            ClientDisconnected: the client closed before the body ended.
        """
        ...

    def trailers(self) -> RawHeaders:
        """Trailer fields of a chunked body (empty until the body ended)."""
        ...

    async def send_head(self, status: int, headers: RawHeaders, reason: bytes | None) -> None:
        """Start the response (framing comes from the headers)."""
        ...

    async def send_body(self, data: bytes) -> None:
        """Write body bytes, waiting while the transport is congested."""
        ...

    async def send_end(self, trailers: RawHeaders | None = None) -> None:
        """Finish the response (trailers only when chunked)."""
        ...

    def send_response(
        self, status: int, headers: RawHeaders, body: bytes, reason: bytes | None
    ) -> None:
        """Hand over a whole response at once; adds ``Content-Length``.

        Not a coroutine: the response is already in memory, so there is
        nothing to wait for. The driver writes it (or queues it with the
        responses of pipelined requests) and applies write flow control
        before it starts the next request.

        Raises:
            ClientDisconnected: the client went away.
        """
        ...

    async def sendfile(self, fd: int | os.PathLike[str] | str, offset: int, count: int) -> None:
        """Write ``count`` bytes of a file from ``offset`` as body bytes.

        After ``send_head``. Drivers that can use ``sendfile(2)`` do; others
        read and write in pieces.
        """
        ...


class UpgradedStream(Protocol):
    """The raw connection after a switch of protocols (e.g. to WebSocket)."""

    def receive(self) -> Awaitable[bytes]:
        """Bytes from the peer; ``b""`` once the peer closed (await the result)."""
        ...

    async def send(self, data: bytes) -> None:
        """Write all of ``data``."""
        ...

    async def aclose(self) -> None:
        """Close the connection."""
        ...


class UpgradableChannel(Channel, Protocol):
    """A channel whose connection can be taken over after a 101 response."""

    async def upgrade(self) -> tuple[UpgradedStream, bytes]:
        """Take over the connection once a 101 response has been sent.

        Returns the raw stream and the bytes the client sent after the
        request head (already part of the new protocol). The driver stops
        speaking HTTP on this connection and closes it when the handler
        returns.

        Raises:
            RuntimeError: no 101 response was sent, or the driver cannot
                hand over the connection.
        """
        ...
