"""Exceptions raised by the protocol core.

``RemoteProtocolError`` means the peer broke HTTP; it carries the status to
answer with. ``LocalProtocolError`` means the code driving the core misused it
(a response that breaks framing, a header with CR/LF, a call in the wrong
state). Both derive from ``ProtocolError``.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class of every error the protocol core raises."""


class LocalProtocolError(ProtocolError, ValueError):
    """The caller asked the core to do something HTTP/1.1 does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something HTTP/1.1 does not allow.

    Args:
        message: what was wrong, for logs (never sent to the client).
        status_hint: the status code to answer with (400 by default).
    """

    def __init__(self, message: str, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint
