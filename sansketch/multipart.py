"""multipart/form-data: a push parser, a streaming reader, and the form builder.

Theory of operation. ``MultipartParser`` is Sans-I/O like the protocol core:
``feed(data)`` takes body bytes in any split and returns events
(``PartHeaders``, ``PartData``, ``PartEnd``); ``feed_eof()`` checks the body
was complete. It holds at most one part's header section and a delimiter's
length of body bytes, whatever the input, so a hostile body cannot make it
buffer more than ``max_header_size`` (RFC 7578 over RFC 2046 §5.1.1).

``MultipartReader`` pulls from the request's ``BodyStream`` and hands out one
``BodyPartReader`` at a time; ``read_form`` builds ``Request.post()``'s
result with the field-count, field-size and total-size limits, spooling file
parts to a temporary file past a threshold.

Malformed input raises ``HTTPBadRequest`` (400); a passed limit raises
``HTTPRequestEntityTooLarge`` (413).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from ._headers_util import content_type_parts, decode_ext_value, parse_header_params
from .exceptions import HTTPBadRequest, HTTPRequestEntityTooLarge

if TYPE_CHECKING:
    from .request import BodyStream, FileField

__all__ = [
    "BodyPartReader",
    "MultipartError",
    "MultipartParser",
    "MultipartReader",
    "PartData",
    "PartEnd",
    "PartHeaders",
    "parse_content_disposition",
    "read_form",
]


class MultipartError(ValueError):
    """A malformed multipart body (``status`` 400) or a passed limit (413)."""

    def __init__(self, message: str, status: int = 400, limit: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.limit = limit


@dataclass(frozen=True, slots=True)
class PartHeaders:
    """A part begins; its header fields, decoded."""

    headers: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class PartData:
    """Bytes of the current part's body."""

    data: bytes


@dataclass(frozen=True, slots=True)
class PartEnd:
    """The current part ended."""


PartEvent = PartHeaders | PartData | PartEnd

_PREAMBLE, _AFTER_DELIMITER, _HEADERS, _BODY, _DONE = range(5)
# RFC 2046 §5.1.1: transport padding (LWSP) may follow a delimiter; bound it.
_MAX_PADDING = 64


class MultipartParser:
    """Turn multipart body bytes into part events, in any split.

    Args:
        boundary: the boundary parameter (1-70 characters, RFC 2046 §5.1.1).
        max_header_size: largest header section of one part (413 past it).
        max_headers: most header fields in one part (413 past it).

    Raises:
        MultipartError: an invalid boundary.
    """

    def __init__(self, boundary: str, *, max_header_size: int = 8192, max_headers: int = 32):
        if not 1 <= len(boundary) <= 70 or not boundary.isascii():
            raise MultipartError("invalid multipart boundary")
        # The first delimiter may open the body without the CRLF before it.
        self._delimiter = b"\r\n--" + boundary.encode("ascii")
        self._buffer = bytearray(b"\r\n")
        self._state = _PREAMBLE
        self._max_header_size = max_header_size
        self._max_headers = max_headers

    @property
    def done(self) -> bool:
        """Whether the close delimiter was seen."""
        return self._state == _DONE

    def feed(self, data: bytes) -> list[PartEvent]:
        """Parse more bytes.

        Raises:
            MultipartError: malformed input or a passed limit.
        """
        if self._state == _DONE:
            return []  # the epilogue is ignored (RFC 2046 §5.1.1)
        self._buffer += data
        events: list[PartEvent] = []
        while self._step(events):
            pass
        return events

    def feed_eof(self) -> None:
        """The body ended.

        Raises:
            MultipartError: the close delimiter never came.
        """
        if self._state != _DONE:
            raise MultipartError("multipart body ended before its close delimiter")

    def _step(self, events: list[PartEvent]) -> bool:
        """Advance once; False when more bytes are needed."""
        buf = self._buffer
        delim = self._delimiter
        if self._state == _PREAMBLE:
            index = buf.find(delim)
            if index < 0:
                # Keep only what could be the start of a delimiter.
                keep = len(delim) - 1
                if len(buf) > keep:
                    del buf[: len(buf) - keep]
                return False
            del buf[: index + len(delim)]
            self._state = _AFTER_DELIMITER
            return True
        if self._state == _AFTER_DELIMITER:
            if len(buf) < 2:
                return False
            if buf[:2] == b"--":
                del buf[:]
                self._state = _DONE
                return False
            stripped = buf.lstrip(b" \t")
            padding = len(buf) - len(stripped)
            if padding > _MAX_PADDING:
                raise MultipartError("too much padding after a multipart delimiter")
            if len(stripped) < 2:
                return False
            if stripped[:2] != b"\r\n":
                raise MultipartError("malformed multipart delimiter")
            del buf[: padding + 2]
            self._state = _HEADERS
            return True
        if self._state == _HEADERS:
            if len(buf) < 2:
                return False
            if buf[:2] == b"\r\n":
                end, skip = 0, 2  # a part with no header fields
            else:
                end, skip = buf.find(b"\r\n\r\n"), 4
                if end < 0:
                    if len(buf) > self._max_header_size:
                        raise MultipartError(
                            "multipart part headers too large", 413, self._max_header_size
                        )
                    return False
            if end > self._max_header_size:
                raise MultipartError(
                    "multipart part headers too large", 413, self._max_header_size
                )
            headers = self._parse_headers(bytes(buf[:end]))
            del buf[: end + skip]
            events.append(PartHeaders(headers))
            self._state = _BODY
            return True
        if self._state == _BODY:
            index = buf.find(delim)
            if index < 0:
                # Everything except a possible delimiter prefix is body data.
                safe = len(buf) - (len(delim) - 1)
                if safe > 0:
                    events.append(PartData(bytes(buf[:safe])))
                    del buf[:safe]
                return False
            if index:
                events.append(PartData(bytes(buf[:index])))
            del buf[: index + len(delim)]
            events.append(PartEnd())
            self._state = _AFTER_DELIMITER
            return True
        return False

    def _parse_headers(self, raw: bytes) -> list[tuple[str, str]]:
        if not raw:
            return []
        lines = raw.split(b"\r\n")
        if len(lines) > self._max_headers:
            raise MultipartError("too many multipart part headers", 413, self._max_headers)
        headers: list[tuple[str, str]] = []
        for line in lines:
            name, sep, value = line.partition(b":")
            # RFC 9112 §5.2: obsolete line folding is refused, as are lines
            # without a colon or with whitespace before it.
            if not sep or not name or name != name.strip() or line[:1] in b" \t":
                raise MultipartError("malformed multipart part header")
            try:
                text = value.strip().decode("utf-8")
            except UnicodeDecodeError:
                text = value.strip().decode("latin-1")
            headers.append((name.decode("latin-1"), text))
        return headers


def parse_content_disposition(value: str | None) -> tuple[str, dict[str, str]]:
    """The disposition type and parameters; ``filename*`` (RFC 8187) wins
    over ``filename`` and is folded into it."""
    if not value:
        return "", {}
    disposition, params = parse_header_params(value)
    result: dict[str, str] = {}
    extended: dict[str, str] = {}
    for name, pvalue in params:
        if name.endswith("*"):
            decoded = decode_ext_value(pvalue)
            if decoded is not None:
                extended[name[:-1]] = decoded
        elif name not in result:
            result[name] = pvalue
    result.update(extended)
    return disposition, result


class BodyPartReader:
    """One part of a multipart body, read as it streams in."""

    def __init__(self, reader: MultipartReader, headers: list[tuple[str, str]]) -> None:
        self._reader = reader
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict(headers))
        disposition = parse_content_disposition(self.headers.get("Content-Disposition"))
        self.disposition: str = disposition[0]
        self._params = disposition[1]
        self._done = False

    @property
    def name(self) -> str | None:
        """The form field name (``Content-Disposition`` ``name``)."""
        return self._params.get("name")

    @property
    def filename(self) -> str | None:
        """The client's file name, if the part is a file (unsanitised)."""
        return self._params.get("filename")

    @property
    def content_type(self) -> str:
        """The part's media type (``text/plain`` by default, RFC 7578 §4.4)."""
        return content_type_parts(self.headers.get("Content-Type", "text/plain"))[0]

    def at_eof(self) -> bool:
        """Whether the part's body was read to its end."""
        return self._done

    async def read_chunk(self) -> bytes:
        """The next piece of the part's body (``b""`` at its end)."""
        if self._done:
            return b""
        chunk = await self._reader._next_data()
        if chunk is None:
            self._done = True
            return b""
        return chunk

    async def read(self) -> bytes:
        """The rest of the part's body (unbounded: prefer ``read_chunk``)."""
        parts = []
        while chunk := await self.read_chunk():
            parts.append(chunk)
        return b"".join(parts)

    async def text(self, encoding: str = "utf-8") -> str:
        """The rest of the body as text.

        Raises:
            HTTPBadRequest: not valid in ``encoding``.
        """
        data = await self.read()
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError) as exc:
            raise HTTPBadRequest(text="Multipart part is not valid text") from exc

    async def release(self) -> None:
        """Skip the rest of the part."""
        while await self.read_chunk():
            pass


class MultipartReader:
    """Iterate over the parts of a multipart body: ``async for part in reader``.

    Args:
        content_type: the request's ``Content-Type`` (must carry ``boundary``).
        stream: the body stream.

    Raises:
        HTTPBadRequest: not multipart, or a missing or invalid boundary.
    """

    def __init__(self, content_type: str, stream: BodyStream, *, max_header_size: int = 8192):
        ctype, params = content_type_parts(content_type)
        if not ctype.startswith("multipart/"):
            raise HTTPBadRequest(text="Expected a multipart body")
        boundary = params.get("boundary")
        if not boundary:
            raise HTTPBadRequest(text="Multipart body without a boundary")
        try:
            self._parser = MultipartParser(boundary, max_header_size=max_header_size)
        except MultipartError as exc:
            raise HTTPBadRequest(text="Invalid multipart boundary") from exc
        self._stream = stream
        self._events: list[PartEvent] = []
        self._pos = 0
        self._current: BodyPartReader | None = None
        self._eof = False

    async def _next_event(self) -> PartEvent | None:
        """The next parser event (``None`` at the end of the body)."""
        while self._pos >= len(self._events):
            if self._eof:
                return None
            self._events = []
            self._pos = 0
            chunk = await self._stream.readany()
            try:
                if chunk:
                    self._events = self._parser.feed(chunk)
                else:
                    self._parser.feed_eof()
                    self._eof = True
                if self._parser.done:
                    self._eof = True
            except MultipartError as exc:
                raise _http_error(exc) from exc
        event = self._events[self._pos]
        self._pos += 1
        return event

    async def _next_data(self) -> bytes | None:
        """The current part's next data (``None`` when the part ended)."""
        event = await self._next_event()
        if isinstance(event, PartData):
            return event.data
        if isinstance(event, PartEnd):
            return None
        raise HTTPBadRequest(text="Truncated multipart body")

    async def next(self) -> BodyPartReader | None:
        """The next part (the previous one is skipped if unread), or ``None``."""
        if self._current is not None and not self._current.at_eof():
            await self._current.release()
        event = await self._next_event()
        if event is None:
            self._current = None
            return None
        if not isinstance(event, PartHeaders):  # pragma: no cover - parser invariant
            raise HTTPBadRequest(text="Malformed multipart body")
        self._current = BodyPartReader(self, event.headers)
        return self._current

    async def __aiter__(self) -> AsyncIterator[BodyPartReader]:
        while (part := await self.next()) is not None:
            yield part


def _http_error(exc: MultipartError) -> HTTPBadRequest | HTTPRequestEntityTooLarge:
    if exc.status == 413:
        return HTTPRequestEntityTooLarge(max_size=exc.limit, actual_size=exc.limit + 1)
    return HTTPBadRequest(text=f"Malformed multipart body: {exc}")


async def read_form(
    reader: MultipartReader,
    *,
    max_size: int,
    max_fields: int,
    max_field_size: int,
    spool_threshold: int,
    default_charset: str = "utf-8",
) -> MultiDictProxy[str | FileField]:
    """Read a multipart/form-data body into fields and ``FileField``s.

    Args:
        reader: the reader over the body.
        max_size: most body bytes across all parts (0: unbounded).
        max_fields: most parts.
        max_field_size: largest non-file field in bytes.
        spool_threshold: file bytes kept in memory before spilling to disk.
        default_charset: charset of text fields without one (RFC 7578 §4.6).

    Raises:
        HTTPBadRequest: malformed body or a part without a name.
        HTTPRequestEntityTooLarge: a limit was passed.
    """
    from .request import FileField, _spooled_file

    form: MultiDict[str | FileField] = MultiDict()
    total = 0
    count = 0
    try:
        async for part in reader:
            count += 1
            if count > max_fields:
                raise HTTPRequestEntityTooLarge(max_size=max_fields, actual_size=count)
            name = part.name
            if name is None:
                raise HTTPBadRequest(text="Multipart form part without a name")
            filename = part.filename
            if filename is not None:
                file = _spooled_file(spool_threshold)
                form.add(
                    name,
                    FileField(name, filename, file, part.content_type, part.headers),
                )
                while chunk := await part.read_chunk():
                    total += len(chunk)
                    if 0 < max_size < total:
                        raise HTTPRequestEntityTooLarge(max_size=max_size, actual_size=total)
                    file.write(chunk)
                file.seek(0)
                continue
            pieces = []
            size = 0
            while chunk := await part.read_chunk():
                size += len(chunk)
                total += len(chunk)
                if size > max_field_size:
                    raise HTTPRequestEntityTooLarge(max_size=max_field_size, actual_size=size)
                if 0 < max_size < total:
                    raise HTTPRequestEntityTooLarge(max_size=max_size, actual_size=total)
                pieces.append(chunk)
            charset = content_type_parts(part.headers.get("Content-Type", "text/plain"))[1].get(
                "charset", default_charset
            )
            try:
                form.add(name, b"".join(pieces).decode(charset))
            except (LookupError, UnicodeDecodeError) as exc:
                raise HTTPBadRequest(text=f"Form field is not valid {charset}") from exc
    except BaseException:
        for value in form.values():
            if not isinstance(value, str):
                value.file.close()
        raise
    return MultiDictProxy(form)
