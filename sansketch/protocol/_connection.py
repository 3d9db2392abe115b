"""The server side of one HTTP/1.1 connection.  (API contract; the
implementation replaces the bodies below.)"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from ._events import Event, Headers, RequestRejected
from ._limits import Limits


class Action(enum.Enum):
    """What the driver should do with the socket next (``conn.action``)."""

    READ = "read"  # keep reading and feeding receive_data()
    PAUSE = "pause"  # stop reading until a response completes (buffer full)
    CLOSE = "close"  # write what you hold, then close the socket
    UPGRADE = "upgrade"  # stop HTTP; hand the socket to the new protocol


class DeadlineAction(enum.Enum):
    """What ``on_deadline(now)`` asks the driver to do."""

    NOTHING = "nothing"  # the deadline moved; ask next_deadline() again
    SEND_408_AND_CLOSE = "send_408_and_close"  # write the returned bytes, close
    CLOSE = "close"  # idle keep-alive or drain expired: close silently


class ServerConnection:
    """State of one HTTP/1.1 server connection: bytes in, events out.

    Args:
        limits: the bounds to enforce (``Limits()`` by default).
    """

    def __init__(self, limits: Limits | None = None) -> None:
        raise NotImplementedError

    # -- receiving ----------------------------------------------------------
    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Feed bytes read from the socket; ``b""`` means the peer closed.

        Returns the events of the request currently being answered (further
        pipelined requests are held until its response ends; fetch them with
        ``next_events``). After a ``RequestRejected`` nothing more is parsed.
        """
        raise NotImplementedError

    def next_events(self, now: float) -> list[Event]:
        """Events that became available without new bytes.

        Call after a response ends: returns the held pipelined request(s),
        or ``[Upgrade(data)]`` once a 101 / CONNECT 2xx response was sent.
        """
        raise NotImplementedError

    def accept_body(self) -> bytes:
        """The app wants the request body: returns ``100 Continue`` bytes to
        write if the client asked for them and none were sent, else ``b""``."""
        raise NotImplementedError

    # -- sending ------------------------------------------------------------
    def send_head(
        self, status: int, headers: Sequence[tuple[bytes, bytes]], reason: bytes | None = None
    ) -> bytes:
        """Start the response to the oldest unanswered request.

        Framing comes from ``headers``: ``Content-Length`` if given, else
        chunked on HTTP/1.1, else close-delimited. Adds ``Connection: close``
        when the connection will close.

        Raises:
            LocalProtocolError: bad status, header injection, wrong state.
        """
        raise NotImplementedError

    def send_body(self, data: bytes) -> bytes:
        """Frame a piece of response body (``b""`` for HEAD/204/304)."""
        raise NotImplementedError

    def send_end(self, trailers: Headers | None = None) -> bytes:
        """End the response; raises LocalProtocolError if fewer bytes than
        the declared Content-Length were sent."""
        raise NotImplementedError

    def send_response(
        self,
        status: int,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes = b"",
        reason: bytes | None = None,
    ) -> bytes:
        """A whole response in one bytes object (adds Content-Length)."""
        raise NotImplementedError

    def send_error(self, error: RequestRejected) -> bytes:
        """The error response for ``error``; the connection will close."""
        raise NotImplementedError

    # -- state, time, shutdown ----------------------------------------------
    @property
    def action(self) -> Action:
        """What the driver should do with the socket now."""
        raise NotImplementedError

    def next_deadline(self) -> float | None:
        """When the driver must call ``on_deadline`` (``None``: no timer)."""
        raise NotImplementedError

    def on_deadline(self, now: float) -> tuple[DeadlineAction, bytes]:
        """A deadline passed: what to do and the bytes to write first."""
        raise NotImplementedError

    def start_shutdown(self, now: float) -> None:
        """Stop taking new requests: close if idle, else finish the one in
        flight (its response gets ``Connection: close``), then close."""
        raise NotImplementedError
