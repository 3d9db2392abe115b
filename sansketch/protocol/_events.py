"""Events the connection hands to its driver.

Every event is a frozen, slotted dataclass: cheap to build, impossible to
mutate after the core has handed it out. Headers are kept exactly as they
arrived (name case preserved, duplicates kept, arrival order) as
``(name, value)`` pairs of ``bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class RequestHead:
    """The request line and header section of one request.

    Attributes:
        method: the method token, e.g. ``b"GET"``.
        target: the request-target exactly as received (origin-, absolute-,
            authority- or asterisk-form).
        http_version: ``b"1.0"`` or ``b"1.1"``.
        headers: ``(name, value)`` pairs in arrival order, duplicates kept,
            names in the case the client sent.
        keep_alive: whether the connection may carry another request after
            this one, judged from the version and ``Connection``.
        expects_continue: the request carries ``Expect: 100-continue`` and is
            HTTP/1.1, so the core will send ``100 Continue`` lazily.
        upgrade: the lower-cased ``Upgrade`` protocol list (``b"websocket"``)
            when the request asks to switch protocols, ``b"CONNECT"`` for a
            CONNECT tunnel, else ``None``.
        content_length: the declared body length, ``None`` when the body is
            chunked or absent.
        chunked: the body uses the chunked transfer coding.
    """

    method: bytes
    target: bytes
    http_version: bytes
    headers: Headers
    keep_alive: bool = True
    expects_continue: bool = False
    upgrade: bytes | None = None
    content_length: int | None = None
    chunked: bool = False


if TYPE_CHECKING:

    def new_request_head(
        method: bytes,
        target: bytes,
        http_version: bytes,
        headers: Headers,
        keep_alive: bool,
        expects_continue: bool,
        upgrade: bytes | None,
        content_length: int | None,
        chunked: bool,
    ) -> RequestHead:
        """``RequestHead(...)`` with every field given, built faster."""

else:

    class new_request_head(RequestHead):  # named as the function it stands for
        """``RequestHead(...)`` with every field given, built faster.

        A frozen dataclass assigns each field through ``object.__setattr__``,
        which makes ``RequestHead(...)`` cost about four times a plain slotted
        ``__init__`` (the parser builds one per request head). This subclass
        adds no slots and assigns plainly, then turns the object into an
        ordinary ``RequestHead``: what comes out is exactly as frozen as one
        built the slow way. (The type checker sees a function returning a
        ``RequestHead``, which is what this is.)
        """

        __slots__ = ()
        # Both, or Python falls back to the slow generic slot for either.
        __setattr__ = object.__setattr__
        __delattr__ = object.__delattr__

        def __init__(
            self,
            method: bytes,
            target: bytes,
            http_version: bytes,
            headers: Headers,
            keep_alive: bool,
            expects_continue: bool,
            upgrade: bytes | None,
            content_length: int | None,
            chunked: bool,
        ) -> None:
            self.method = method
            self.target = target
            self.http_version = http_version
            self.headers = headers
            self.keep_alive = keep_alive
            self.expects_continue = expects_continue
            self.upgrade = upgrade
            self.content_length = content_length
            self.chunked = chunked
            self.__class__ = RequestHead


@dataclass(frozen=True, slots=True)
class BodyData:
    """A piece of the request body, in order, with transfer framing removed."""

    data: bytes


@dataclass(frozen=True, slots=True)
class RequestEnd:
    """The current request is complete; ``trailers`` holds chunked trailers."""

    trailers: Headers = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Upgrade:
    """The connection has switched protocols (101, or 2xx to CONNECT).

    ``data`` holds the bytes that followed the request head, untouched. After
    this event the core parses nothing more: the driver hands the socket and
    these bytes to whoever speaks the new protocol.
    """

    data: bytes


@dataclass(frozen=True, slots=True)
class RequestRejected:
    """The peer broke the protocol (or a limit, or a deadline).

    The driver answers with ``conn.send_error(event)`` and closes. ``status``
    is the status to answer with (400, 408, 413, 414, 417, 431, 501 or 505) and
    ``reason`` a short description for logs; it is not sent to the client.
    """

    status: int
    reason: str


Event = RequestHead | BodyData | RequestEnd | Upgrade | RequestRejected
