"""The response half of a driver's channel, up to the bytes to write.

Both channel kinds (the Protocol driver's and the pull loop's) frame a
response the same way: the core turns status, headers, body pieces and the
end into bytes, the ``Date`` and ``Server`` fields are added, and the head
waits to go out together with the first body bytes (one write instead of
two). Only how the bytes are written differs, so that is all each channel
adds on top of ``ResponseFraming``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._channel import RawHeaders
from ._date import with_default_headers

if TYPE_CHECKING:
    from .protocol import ServerConnection


class ResponseFraming:
    """Head held back until the first body bytes; the rest framed by the core."""

    # Set by the channel's __init__.
    __slots__ = ("_conn", "_head_bytes", "response_ended", "response_started", "status")
    _conn: ServerConnection
    _head_bytes: bytes
    response_started: bool
    response_ended: bool
    status: int

    async def send_head(self, status: int, headers: RawHeaders, reason: bytes | None) -> None:
        """Start the response; the head goes out with the first body bytes."""
        self._head_bytes = self._conn.send_head(status, with_default_headers(headers), reason)
        self.response_started = True
        self.status = status

    def _framed_body(self, data: bytes) -> bytes:
        """``data`` as the core frames it, after the held head if any."""
        out = self._conn.send_body(data)
        if self._head_bytes:
            out = self._head_bytes + out
            self._head_bytes = b""
        return out

    def _framed_end(self, trailers: RawHeaders | None) -> bytes:
        """The end of the body (and trailers), after the held head if any."""
        out = self._conn.send_end(list(trailers) if trailers else None)
        if self._head_bytes:
            out = self._head_bytes + out
            self._head_bytes = b""
        self.response_ended = True
        return out
