"""The WebSocket frames common enough to bypass wsproto, as plain functions.

Theory of operation
-------------------
Almost every frame a chat or an API sees is a whole message in one frame:
FIN set, opcode text or binary, masked (RFC 6455 §5.3: a client always
masks), no reserved bits, or only RSV1 when permessage-deflate compresses it
(RFC 7692 §6). wsproto parses such a frame with several objects and
generators per frame; ``split_frame`` reads it with a few integer operations
and unmasks the payload in one big-integer XOR.

Anything else (control frames, fragments, other reserved bits, an unmasked
frame, a length in more bytes than needed, a compressed frame larger than
the message limit) is reported as ``SLOW`` and left to wsproto, which judges
it exactly as it always did. The caller only takes this path while wsproto
holds no partial input and no unfinished message, so wsproto's state is the
same as if it had parsed the frame itself.

Nothing here does I/O or keeps state. Compression goes through the
extension object wsproto also uses (``CappedDeflate``), so both paths share
one deflate context each way, as RFC 7692 §7.2.3 requires when a message may
refer to the ones before it.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._ws_handshake import CappedDeflate

__all__ = [
    "INCOMPLETE",
    "KEY_REPEAT",
    "LOW_BYTES",
    "SLOW",
    "TEXT_HEADS",
    "TOO_BIG",
    "data_frame",
    "split_frame",
    "unmask",
]

# Statuses of split_frame besides a first byte (which is always >= 0x80).
INCOMPLETE = 0
SLOW = 1
TOO_BIG = 2

# FIN + opcode, with RSV1 for a compressed message (RFC 6455 §5.2, RFC 7692 §6).
_PLAIN = frozenset((0x81, 0x82))
_ANY = frozenset((0x81, 0x82, 0xC1, 0xC2))


# Byte i of _XOR_TABLE[k] is i ^ k: bytes.translate XORs a whole slice with k.
_XOR_TABLE = [bytes(i ^ k for i in range(256)) for k in range(256)]
# Up to about this size one big-integer XOR is faster; past it, four
# translates over strided slices (as wsproto does) win, twice over at 64 KiB.
_INT_XOR_LIMIT = 512


def unmask(data: bytes, key: bytes) -> bytes:
    """``data`` XOR the 4-byte masking ``key`` repeated (RFC 6455 §5.3)."""
    size = len(data)
    if not size:
        return b""
    if size <= _INT_XOR_LIMIT:
        stream = (key * ((size + 3) >> 2))[:size]
        value = int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")
        return value.to_bytes(size, "little")
    out = bytearray(data)
    for i in range(4):
        out[i::4] = out[i::4].translate(_XOR_TABLE[key[i]])
    return bytes(out)


def split_frame(buf: bytes, pos: int, max_size: int, deflate: bool) -> tuple[int, int, bytes]:
    """Read one simple client frame at ``buf[pos:]``.

    Args:
        buf: received bytes; ``pos`` is a frame boundary in them.
        pos: where the frame starts.
        max_size: the largest message accepted (0: no limit).
        deflate: whether permessage-deflate was negotiated (RSV1 allowed).

    Returns:
        ``(first_byte, end, payload)`` for a simple frame: its first byte
        (0x81 text, 0x82 binary, 0xC1/0xC2 compressed), the offset in
        ``buf`` just past it and its unmasked payload. Otherwise
        ``(INCOMPLETE, need, b"")`` with the bytes from ``pos`` needed
        before another try can succeed, ``(SLOW, 0, b"")`` for a frame
        wsproto must judge, or ``(TOO_BIG, size, b"")`` for a plain frame
        over ``max_size``.
    """
    have = len(buf) - pos
    if have < 2:
        return INCOMPLETE, 6, b""
    first = buf[pos]
    second = buf[pos + 1]
    if first not in (_ANY if deflate else _PLAIN) or second < 0x80:
        return SLOW, 0, b""
    size = second & 0x7F
    if size < 126:
        start = 6
    elif size == 126:
        if have < 4:
            return INCOMPLETE, 8, b""
        size = (buf[pos + 2] << 8) | buf[pos + 3]
        if size < 126:  # RFC 6455 §5.2: the minimal number of bytes
            return SLOW, 0, b""
        start = 8
    else:
        if have < 10:
            return INCOMPLETE, 14, b""
        (size,) = struct.unpack_from("!Q", buf, pos + 2)
        if size < 65536 or size >> 63:
            return SLOW, 0, b""
        start = 14
    if max_size and size > max_size:
        if first & 0x40:
            # A compressed frame may be a little larger than its message;
            # wsproto's path applies the limit to the inflated bytes.
            return SLOW, 0, b""
        return TOO_BIG, size, b""
    if have < start + size:
        return INCOMPLETE, start + size, b""
    start += pos
    end = start + size
    return first, end, unmask(buf[start:end], buf[start - 4 : start])


# For one-XOR unmasking of a payload of n < 126 bytes read as an integer
# (little-endian): the 32-bit key times KEY_REPEAT[n] repeats it over the
# payload's words, and LOW_BYTES[n] cuts that to the payload's n bytes.
KEY_REPEAT = tuple(sum(1 << (32 * i) for i in range((n + 3) >> 2)) for n in range(126))
LOW_BYTES = tuple((1 << (8 * n)) - 1 for n in range(126))

# The 2-byte heads of small unmasked data frames, by payload length: a frame
# is then one concatenation (RFC 6455 §5.2: FIN, opcode, 7-bit length).
TEXT_HEADS = tuple(bytes((0x81, size)) for size in range(126))
_BINARY_HEADS = tuple(bytes((0x82, size)) for size in range(126))


def data_frame(data: str | bytes, compressor: CappedDeflate | None = None) -> bytes:
    """One unfragmented, unmasked data frame (RFC 6455 §5.2).

    With ``compressor`` the payload is deflated and RSV1 set (RFC 7692 §6).
    """
    if isinstance(data, str):
        first, payload = 0x81, data.encode("utf-8")
    else:
        first, payload = 0x82, data
    if compressor is None and len(payload) < 126:
        return (TEXT_HEADS if first == 0x81 else _BINARY_HEADS)[len(payload)] + payload
    if compressor is not None:
        first |= 0x40
        payload = compressor.deflate_whole(payload)
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload
