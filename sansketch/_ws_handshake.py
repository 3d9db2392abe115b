"""The server side of the WebSocket opening handshake, as plain functions.

Theory of operation
-------------------
The HTTP part of the handshake is ours, not wsproto's: the protocol core has
already parsed the request, so ``negotiate`` only judges its method, version
and headers (RFC 6455 §4.2.1) and computes the 101 response headers
(§4.2.2). Nothing here does I/O; a bad request becomes a ``HandshakeError``
that carries the status and headers to answer with, so the caller can turn
it into an HTTP error response without upgrading.

Extensions: only permessage-deflate (RFC 7692) is understood. Offers are
judged one by one in the client's order and the first acceptable one wins;
an offer with an unknown, repeated or out-of-range parameter is declined
(RFC 7692 §5), never answered with an error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits

__all__ = ["Handshake", "HandshakeError", "accept_key", "negotiate"]

# RFC 6455 §1.3: the GUID appended to the key before hashing.
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_SUPPORTED_VERSION = "13"
_DEFLATE_TAIL = b"\x00\x00\xff\xff"


class HandshakeError(Exception):
    """The request is not an acceptable WebSocket handshake.

    Attributes:
        status: the HTTP status to answer with (400, 405 or 426).
        headers: extra response headers (``Allow``, ``Sec-WebSocket-Version``).
    """

    def __init__(self, status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.headers = list(headers)


@dataclass(frozen=True, slots=True)
class Handshake:
    """An accepted handshake.

    Attributes:
        headers: the 101 response headers (besides ``Date``/``Server``).
        protocol: the chosen subprotocol, or ``None``.
        deflate: the negotiated permessage-deflate parameters, or ``None``.
    """

    headers: list[tuple[str, str]]
    protocol: str | None
    deflate: DeflateParams | None


@dataclass(frozen=True, slots=True)
class DeflateParams:
    """Accepted permessage-deflate parameters (RFC 7692 §7.1)."""

    server_no_context_takeover: bool = False
    server_max_window_bits: int | None = None

    def response_value(self) -> str:
        """The ``Sec-WebSocket-Extensions`` value answering the offer."""
        parts = ["permessage-deflate"]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.server_max_window_bits is not None:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        return "; ".join(parts)


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1(key.encode("ascii") + _WS_GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def _tokens(values: Iterable[str]) -> list[str]:
    """Comma-separated list elements across repeated fields (RFC 9110 §5.6.1)."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def negotiate(
    method: str,
    http_version: tuple[int, int],
    headers: Sequence[tuple[str, str]],
    protocols: Sequence[str] = (),
    compress: bool = True,
) -> Handshake:
    """Judge a WebSocket opening handshake and build the 101 answer.

    Args:
        method: the request method.
        http_version: ``(major, minor)`` of the request.
        headers: the request headers as ``(name, value)`` strings.
        protocols: the subprotocols the server speaks, preferred first.
        compress: whether permessage-deflate may be accepted.

    Returns:
        The response headers and what was negotiated.

    Raises:
        HandshakeError: 405 for a method other than GET, 426 for a missing or
            unsupported ``Sec-WebSocket-Version``, 400 for anything else.
    """
    fields: dict[str, list[str]] = {}
    for name, value in headers:
        fields.setdefault(name.lower(), []).append(value)

    # RFC 6455 §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
    if method != "GET":
        raise HandshakeError(405, "a WebSocket handshake must use GET", [("Allow", "GET")])
    if http_version < (1, 1):
        raise HandshakeError(400, "a WebSocket handshake needs HTTP/1.1")
    # §4.2.1 items 3 and 4.
    if "websocket" not in (t.lower() for t in _tokens(fields.get("upgrade", []))):
        raise HandshakeError(400, "missing 'Upgrade: websocket'")
    if "upgrade" not in (t.lower() for t in _tokens(fields.get("connection", []))):
        raise HandshakeError(400, "missing 'Connection: upgrade'")
    # §4.2.1 item 6 and §4.2.2: answer an unknown version with 426 and the
    # versions we speak.
    versions = fields.get("sec-websocket-version", [])
    if len(versions) != 1 or versions[0].strip() != _SUPPORTED_VERSION:
        raise HandshakeError(
            426,
            "unsupported WebSocket version",
            [("Sec-WebSocket-Version", _SUPPORTED_VERSION)],
        )
    # §4.2.1 item 5: a base64 nonce of exactly 16 bytes, sent once.
    keys = fields.get("sec-websocket-key", [])
    if len(keys) != 1:
        raise HandshakeError(400, "missing or repeated Sec-WebSocket-Key")
    key = keys[0].strip()
    try:
        nonce = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise HandshakeError(400, "Sec-WebSocket-Key is not base64") from None
    if len(nonce) != 16:
        raise HandshakeError(400, "Sec-WebSocket-Key must encode 16 bytes")

    response = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(key)),
    ]
    # §4.2.2 item 5: the first protocol *we* prefer among those offered.
    chosen: str | None = None
    offered = _tokens(fields.get("sec-websocket-protocol", []))
    for protocol in protocols:
        if protocol in offered:
            chosen = protocol
            response.append(("Sec-WebSocket-Protocol", protocol))
            break
    deflate = None
    if compress:
        deflate = _accept_deflate(_tokens(fields.get("sec-websocket-extensions", [])))
        if deflate is not None:
            response.append(("Sec-WebSocket-Extensions", deflate.response_value()))
    return Handshake(response, chosen, deflate)


def _window_bits(value: str) -> int | None:
    # RFC 7692 §7.1.2: 1*DIGIT in 8..15; zlib cannot make raw deflate with an
    # 8-bit window, so 8 is declined as the reference implementations do.
    value = value.strip().strip('"')
    if not value.isdigit() or len(value) > 2:
        return None
    bits = int(value)
    return bits if 9 <= bits <= 15 else None


def _accept_deflate(offers: Sequence[str]) -> DeflateParams | None:
    """The first acceptable permessage-deflate offer, or ``None``."""
    for offer in offers:
        name, *raw_params = (part.strip() for part in offer.split(";"))
        if name.lower() != "permessage-deflate":
            continue
        seen: set[str] = set()
        server_no_takeover = False
        server_bits: int | None = None
        acceptable = True
        for raw in raw_params:
            pname, has_value, pvalue = raw.partition("=")
            pname = pname.strip().lower()
            if pname in seen:
                acceptable = False
                break
            seen.add(pname)
            if pname == "server_no_context_takeover" and not has_value:
                server_no_takeover = True
            elif pname == "client_no_context_takeover" and not has_value:
                # We keep our inflate context anyway; harmless either way.
                pass
            elif pname == "server_max_window_bits" and has_value:
                server_bits = _window_bits(pvalue)
                if server_bits is None:
                    acceptable = False
                    break
            elif pname == "client_max_window_bits":
                # We inflate with a 15-bit window, which reads any smaller one.
                if has_value and _window_bits(pvalue) is None:
                    acceptable = False
                    break
            else:
                acceptable = False
                break
        if acceptable:
            return DeflateParams(server_no_takeover, server_bits)
    return None


class CappedDeflate(PerMessageDeflate):
    """permessage-deflate that refuses to inflate a message past ``max_size``.

    wsproto inflates each frame's payload in one call, so a few kilobytes of
    crafted input could expand to gigabytes before any size check ran. Here
    each inflate call is bounded by what is left of the message budget; going
    past it fails the connection with 1009 (RFC 6455 §7.4.1).

    Args:
        params: the negotiated parameters.
        max_size: the largest inflated message, in bytes (0: no limit).
    """

    def __init__(self, params: DeflateParams, max_size: int) -> None:
        super().__init__(
            server_no_context_takeover=params.server_no_context_takeover,
            server_max_window_bits=params.server_max_window_bits,
        )
        self._max_size = max_size
        self._inflated = 0
        self._control = False

    def enabled(self) -> bool:
        """Negotiation already happened: the extension is on."""
        return True

    def offer(self) -> bool | str:
        """Server side only: never offers."""
        return False

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        """Start counting at the first frame of each message."""
        # A control frame may sit between the fragments of a compressed
        # message (RFC 6455 §5.4); wsproto would forget that the message is
        # compressed when the control frame ends, so control frames bypass
        # the message state here.
        self._control = opcode.iscontrol()
        if self._control:
            if rsv.rsv1:
                return CloseReason.PROTOCOL_ERROR
            return RsvBits(True, False, False)
        if self._inbound_compressed is None:
            self._inflated = 0
        return super().frame_inbound_header(proto, opcode, rsv, payload_length)

    def _inflate(self, data: bytes) -> bytes | CloseReason:
        assert self._decompressor is not None
        budget = self._max_size - self._inflated if self._max_size else 0
        try:
            # max_length=budget+1 lets us see an overflow without producing
            # more than one byte past the limit.
            out = self._decompressor.decompress(data, budget + 1 if self._max_size else 0)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        if self._max_size and (len(out) > budget or self._decompressor.unconsumed_tail):
            return CloseReason.MESSAGE_TOO_BIG
        self._inflated += len(out)
        return out

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        """Inflate a piece of a compressed message within the budget."""
        if self._control or not self._inbound_compressed or not self._inbound_is_compressible:
            return data
        return self._inflate(bytes(data))

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        """Flush the inflater at the end of a compressed message (RFC 7692 §7.2.2)."""
        if self._control:
            return None
        if not fin or not self._inbound_is_compressible or not self._inbound_compressed:
            return super().frame_inbound_complete(proto, fin)
        out = self._inflate(b"\x00\x00\xff\xff")
        self._inbound_compressed = None
        return out

    def inflate_whole(self, payload: bytes) -> bytes | None:
        """Inflate a compressed message that came in one frame.

        Only for a message wsproto did not start: it shares wsproto's
        inflate context, which carries over from message to message.

        Returns:
            The message, or ``None`` when it inflates past the limit.

        Raises:
            zlib.error: the payload is not valid deflate data.
        """
        decompressor = self._decompressor
        if decompressor is None:
            decompressor = zlib.decompressobj(-self.client_max_window_bits)
            self._decompressor = decompressor
        limit = self._max_size
        # RFC 7692 §7.2.2: append the tail the sender removed.
        out = decompressor.decompress(payload + _DEFLATE_TAIL, limit + 1 if limit else 0)
        if limit and (len(out) > limit or decompressor.unconsumed_tail):
            return None
        if self.client_no_context_takeover:
            self._decompressor = None
        return out

    def deflate_whole(self, payload: bytes) -> bytes:
        """``payload`` compressed as one message (RFC 7692 §7.2.1), tail removed.

        Shares wsproto's deflate context, as ``frame_outbound`` would use it.
        """
        compressor = self._compressor
        if compressor is None:
            compressor = zlib.compressobj(
                zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self.server_max_window_bits
            )
            self._compressor = compressor
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if self.server_no_context_takeover:
            self._compressor = None
        return data[:-4]


def make_extensions(deflate: DeflateParams | None, max_size: int) -> list[Extension]:
    """The wsproto extensions for a negotiated handshake."""
    return [CappedDeflate(deflate, max_size)] if deflate is not None else []
