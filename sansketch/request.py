"""The request a handler receives: lazy views of the head, and the body readers.

Theory of operation. Building a ``Request`` stores the core's ``RequestHead``
and the driver's ``Channel`` and nothing else, so a plain GET costs a few
attribute writes. Everything else (URL, headers, query, cookies) is computed
on first access from the raw head and cached.

The body is never touched until the handler asks for it: the first read calls
``channel.receive_body()``, which is what makes the core send a lazy
``100 Continue`` (RFC 9110 §10.1.1). ``read``/``text``/``json``/``post`` buffer
the body and enforce the app's ``client_max_size`` (413), deciding from
``Content-Length`` before reading when the client declared one. ``content``
streams the body with no size limit: the handler decides how much to keep.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import IO, TYPE_CHECKING
from urllib.parse import parse_qsl

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from yarl import URL

from ._headers_util import content_type_parts
from .cookies import parse_cookie_header
from .exceptions import HTTPBadRequest, HTTPRequestEntityTooLarge

if TYPE_CHECKING:
    from ._channel import Channel
    from .app import Application
    from .multipart import MultipartReader
    from .protocol import RequestHead

__all__ = ["BodyStream", "FileField", "Request"]

_EMPTY_MATCH: Mapping[str, str] = MappingProxyType({})
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")}
_VERSIONS = {b"1.1": (1, 1), b"1.0": (1, 0)}
# A Host value that is safe to splice into a URL: reg-name or IP-literal, port.
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_~:[]%")


@dataclass(frozen=True)
class FileField:
    """A file part of a multipart form, as returned by ``Request.post()``.

    ``file`` is positioned at the start; it lives in memory up to the spool
    threshold and in a temporary file beyond. ``filename`` is what the client
    sent: never use it as a path without sanitising it.
    """

    name: str
    filename: str
    file: IO[bytes]
    content_type: str
    headers: CIMultiDictProxy[str]


class BodyStream:
    """The request body as an async stream of chunks (``request.content``).

    ``async for chunk in request.content`` yields chunks as they arrive.
    """

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._buffer = bytearray()
        self._eof = False
        self._total = 0

    @property
    def total_bytes(self) -> int:
        """Body bytes received from the channel so far."""
        return self._total

    def at_eof(self) -> bool:
        """Whether the whole body was received and consumed."""
        return self._eof and not self._buffer

    async def _receive(self) -> bytes:
        """The next chunk from the channel (``b""`` at the end)."""
        if self._eof:
            return b""
        chunk = await self._channel.receive_body()
        if chunk:
            self._total += len(chunk)
        else:
            self._eof = True
        return chunk

    async def readany(self) -> bytes:
        """Whatever is available next: buffered bytes or the next chunk
        (``b""`` at the end)."""
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            return data
        while not self._eof:
            chunk = await self._receive()
            if chunk:
                return chunk
        return b""

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (``-1``: everything to the end); ``b""`` at the end."""
        if n < 0:
            parts = [await self.readany()]
            while parts[-1]:
                parts.append(await self.readany())
            return b"".join(parts)
        if n == 0:
            return b""
        if not self._buffer:
            chunk = await self.readany()
            if len(chunk) <= n:
                return chunk
            self._buffer += memoryview(chunk)[n:]
            return chunk[:n]
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def readexactly(self, n: int) -> bytes:
        """Exactly ``n`` bytes.

        Raises:
            EOFError: the body ended first (nothing is consumed).
        """
        while len(self._buffer) < n and not self._eof:
            self._buffer += await self._receive()
        if len(self._buffer) < n:
            raise EOFError(f"body ended after {len(self._buffer)} of {n} bytes")
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        """Yield chunks of exactly ``n`` bytes (the last may be shorter)."""
        if n <= 0:
            raise ValueError("chunk size must be positive")
        while True:
            while len(self._buffer) < n and not self._eof:
                self._buffer += await self._receive()
            if not self._buffer:
                return
            data = bytes(self._buffer[:n])
            del self._buffer[:n]
            yield data

    async def iter_any(self) -> AsyncIterator[bytes]:
        """Yield chunks as they arrive."""
        while True:
            chunk = await self.readany()
            if not chunk:
                return
            yield chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.iter_any()


class Request(MutableMapping[str, object]):
    """One HTTP request, as the handler sees it; also a dict for per-request state.

    Args:
        head: the request head from the protocol core.
        channel: the driver's channel for this request.
        app: the application answering it.
        client_max_size: the largest body ``read``/``post`` accept (413 past it).
        seq: the 1-based position of this request on its connection.
    """

    # Class-level starting values: a request sets on itself only what it
    # uses, so building one for a plain GET costs a few attribute writes.
    _match_info: Mapping[str, str] = _EMPTY_MATCH
    _state: dict[str, object] | None = None
    _content: BodyStream | None = None
    _body: bytes | None = None
    _post: MultiDictProxy[str | FileField] | None = None
    # Views computed on first access from the raw head.
    _raw_path: str | None = None
    _rel_url: URL | None = None
    _url: URL | None = None
    _path: str | None = None
    _headers: CIMultiDictProxy[str] | None = None
    _cookies: Mapping[str, str] | None = None

    def __init__(
        self,
        head: RequestHead,
        channel: Channel,
        app: Application | None = None,
        client_max_size: int = 1024**2,
        seq: int = 1,
    ) -> None:
        self._seq = seq
        self._head = head
        self._channel = channel
        self._app = app
        self._client_max_size = client_max_size

    # -- per-request state (MutableMapping) ----------------------------------
    def __getitem__(self, key: str) -> object:
        if self._state is None:
            raise KeyError(key)
        return self._state[key]

    def __setitem__(self, key: str, value: object) -> None:
        if self._state is None:
            self._state = {}
        self._state[key] = value

    def __delitem__(self, key: str) -> None:
        if self._state is None:
            raise KeyError(key)
        del self._state[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._state or ())

    def __len__(self) -> int:
        return len(self._state) if self._state is not None else 0

    # Requests are distinct objects even when their state is equal.
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.raw_path}>"

    # -- routing and app -----------------------------------------------------
    @property
    def match_info(self) -> Mapping[str, str]:
        """Path parameters of the matched route."""
        return self._match_info

    @property
    def app(self) -> Application:
        """The application (or sub-application) answering the request.

        Raises:
            RuntimeError: the request is not bound to an application.
        """
        if self._app is None:
            raise RuntimeError("the request is not bound to an application")
        return self._app

    @property
    def client_max_size(self) -> int:
        """The largest body ``read()`` and ``post()`` accept."""
        return self._client_max_size

    # -- request line ---------------------------------------------------------
    @property
    def method(self) -> str:
        """The method, e.g. ``"GET"``."""
        method = self._head.method
        return _METHODS.get(method) or method.decode("ascii", "replace")

    @property
    def version(self) -> tuple[int, int]:
        """The HTTP version as ``(major, minor)``."""
        version = self._head.http_version
        found = _VERSIONS.get(version)
        if found is not None:
            return found
        major, _, minor = version.decode("ascii", "replace").partition(".")
        return int(major or 0), int(minor or 0)

    @property
    def seq(self) -> int:
        """The 1-based position of this request on its connection."""
        return self._seq

    @property
    def raw_target(self) -> bytes:
        """The request-target exactly as received, as bytes."""
        return self._head.target

    @property
    def raw_path(self) -> str:
        """The request-target as received (path and query, still encoded)."""
        cached = self._raw_path
        if cached is not None:
            return cached
        raw = self._head.target.decode("utf-8", "replace")
        self._raw_path = raw
        return raw

    @property
    def rel_url(self) -> URL:
        """The target as a relative URL (path and query)."""
        cached = self._rel_url
        if cached is not None:
            return cached
        raw = self.raw_path
        if raw.startswith("/"):
            path, _, query = raw.partition("?")
            url = URL.build(path=path, query_string=query, encoded=True)
        elif raw == "*":
            # RFC 9112 §3.2.4 asterisk-form (OPTIONS *).
            url = URL.build(path="*", encoded=True)
        else:
            # RFC 9112 §3.2.2 absolute-form: keep only path and query.
            absolute = URL(raw, encoded=True)
            url = URL.build(
                path=absolute.raw_path or "/", query_string=absolute.raw_query_string, encoded=True
            )
        self._rel_url = url
        return url

    @property
    def url(self) -> URL:
        """The absolute URL, from the scheme and ``Host``."""
        cached = self._url
        if cached is not None:
            return cached
        rel = self.rel_url
        url = URL.build(
            scheme=self.scheme,
            authority=self.host,
            path=rel.raw_path,
            query_string=rel.raw_query_string,
            encoded=True,
        )
        self._url = url
        return url

    @property
    def path(self) -> str:
        """The percent-decoded path."""
        cached = self._path
        if cached is not None:
            return cached
        raw = self.raw_path
        path = raw.partition("?")[0]
        if "%" in path or not path.startswith("/"):
            path = self.rel_url.path
        self._path = path
        return path

    @property
    def query_string(self) -> str:
        """The query string, still percent-encoded (``""`` when absent)."""
        return self.rel_url.raw_query_string

    @property
    def query(self) -> MultiDictProxy[str]:
        """Query parameters, decoded; duplicates kept."""
        return self.rel_url.query

    # -- headers --------------------------------------------------------------
    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """Request headers (latin-1 decoded), duplicates and arrival order kept."""
        cached = self._headers
        if cached is not None:
            return cached
        headers = CIMultiDictProxy(
            CIMultiDict(
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in self._head.headers
            )
        )
        self._headers = headers
        return headers

    @property
    def raw_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """Headers as the ``(name, value)`` byte pairs received."""
        return tuple(self._head.headers)

    @property
    def host(self) -> str:
        """The ``Host`` header (``localhost`` when absent or unusable)."""
        host = self.headers.get("Host", "")
        if not host or not _HOST_CHARS.issuperset(host):
            return "localhost"
        return host

    @property
    def scheme(self) -> str:
        """``"http"`` or ``"https"``, as the driver reports it."""
        return self._channel.scheme

    @property
    def secure(self) -> bool:
        """Whether the request came over TLS."""
        return self.scheme == "https"

    @property
    def remote(self) -> str | None:
        """The peer's address (IP, or the socket path for unix sockets)."""
        remote = self._channel.remote
        if isinstance(remote, tuple):
            return str(remote[0])
        return remote

    @property
    def keep_alive(self) -> bool:
        """Whether the connection may carry another request after this one."""
        return self._head.keep_alive

    @property
    def cookies(self) -> Mapping[str, str]:
        """Cookies from the ``Cookie`` header(s)."""
        cached = self._cookies
        if cached is not None:
            return cached
        cookies = parse_cookie_header(self.headers.getall("Cookie", []))
        self._cookies = cookies
        return cookies

    @property
    def content_type(self) -> str:
        """The media type of ``Content-Type`` (``application/octet-stream`` if absent)."""
        return content_type_parts(self.headers.get("Content-Type"))[0]

    @property
    def charset(self) -> str | None:
        """The ``charset`` parameter of ``Content-Type``, lower-cased."""
        charset = content_type_parts(self.headers.get("Content-Type"))[1].get("charset")
        return charset.lower() if charset else None

    @property
    def content_length(self) -> int | None:
        """The declared body length (``None`` when chunked or absent)."""
        return self._head.content_length

    # -- body -------------------------------------------------------------------
    @property
    def body_exists(self) -> bool:
        """Whether the request carries a body at all."""
        head = self._head
        return head.chunked or bool(head.content_length)

    @property
    def can_read_body(self) -> bool:
        """Whether body bytes remain to be read."""
        if not self.body_exists:
            return False
        return self._content is None or not self._content.at_eof()

    @property
    def content(self) -> BodyStream:
        """The body as an async stream (no size limit; nothing read until used)."""
        if self._content is None:
            self._content = BodyStream(self._channel)
        return self._content

    def trailers(self) -> CIMultiDictProxy[str]:
        """Trailer fields of a chunked body (empty until the body was read)."""
        return CIMultiDictProxy(
            CIMultiDict(
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in self._channel.trailers()
            )
        )

    def _check_declared_size(self) -> None:
        declared = self._head.content_length
        max_size = self._client_max_size
        if declared is not None and 0 < max_size < declared:
            # Refuse before reading (and before any 100 Continue goes out).
            raise HTTPRequestEntityTooLarge(max_size=max_size, actual_size=declared)

    async def read(self) -> bytes:
        """The whole body (cached; ``b""`` when there is none).

        Raises:
            HTTPRequestEntityTooLarge: the body passes ``client_max_size``.
        """
        if self._body is not None:
            return self._body
        if not self.body_exists:
            self._body = b""
            return b""
        self._check_declared_size()
        max_size = self._client_max_size
        content = self.content
        parts: list[bytes] = []
        size = 0
        while True:
            chunk = await content.readany()
            if not chunk:
                break
            size += len(chunk)
            if 0 < max_size < size:
                raise HTTPRequestEntityTooLarge(max_size=max_size, actual_size=size)
            parts.append(chunk)
        self._body = b"".join(parts)
        return self._body

    async def text(self) -> str:
        """The body decoded with its charset (utf-8 by default).

        Raises:
            HTTPBadRequest: the body is not valid in that charset.
            HTTPRequestEntityTooLarge: the body passes ``client_max_size``.
        """
        body = await self.read()
        charset = self.charset or "utf-8"
        try:
            return body.decode(charset)
        except (LookupError, UnicodeDecodeError) as exc:
            raise HTTPBadRequest(text=f"Request body is not valid {charset}") from exc

    async def json(self, *, loads: Callable[[str], object] = json.loads) -> object:
        """The body parsed as JSON.

        Raises:
            HTTPBadRequest: the body is not valid JSON.
            HTTPRequestEntityTooLarge: the body passes ``client_max_size``.
        """
        text = await self.text()
        try:
            return loads(text)
        except ValueError as exc:
            raise HTTPBadRequest(text="Request body is not valid JSON") from exc

    async def multipart(self) -> MultipartReader:
        """A streaming reader over a ``multipart/*`` body (no size limit).

        Raises:
            HTTPBadRequest: not multipart, or no boundary.
        """
        from .multipart import MultipartReader

        return MultipartReader(self.headers.get("Content-Type", ""), self.content)

    async def post(
        self,
        *,
        max_fields: int = 1000,
        max_field_size: int = 512 * 1024,
        spool_threshold: int = 1024 * 1024,
    ) -> MultiDictProxy[str | FileField]:
        """Form fields of an urlencoded or multipart/form-data body (cached).

        Other content types give an empty result. The whole body is bounded
        by ``client_max_size``.

        Args:
            max_fields: most fields (413 past it).
            max_field_size: largest non-file field in bytes (413 past it).
            spool_threshold: file parts larger than this go to a temporary
                file instead of memory.

        Raises:
            HTTPBadRequest: a malformed body.
            HTTPRequestEntityTooLarge: a limit was passed.
        """
        if self._post is not None:
            return self._post
        ctype = self.content_type
        if ctype == "application/x-www-form-urlencoded":
            self._post = await self._post_urlencoded(max_fields, max_field_size)
        elif ctype == "multipart/form-data":
            from .multipart import read_form

            self._check_declared_size()
            self._post = await read_form(
                await self.multipart(),
                max_size=self._client_max_size,
                max_fields=max_fields,
                max_field_size=max_field_size,
                spool_threshold=spool_threshold,
                default_charset=self.charset or "utf-8",
            )
        else:
            self._post = MultiDictProxy(MultiDict())
        return self._post

    async def _post_urlencoded(
        self, max_fields: int, max_field_size: int
    ) -> MultiDictProxy[str | FileField]:
        body = await self.read()
        charset = self.charset or "utf-8"
        # Count separators first: parse_qsl's own limit raises a bare ValueError.
        if body and body.count(b"&") + body.count(b";") + 1 > max_fields:
            raise HTTPRequestEntityTooLarge(max_size=max_fields, actual_size=body.count(b"&") + 1)
        try:
            pairs = parse_qsl(
                body.decode("ascii"), keep_blank_values=True, encoding=charset, errors="strict"
            )
        except (UnicodeError, LookupError) as exc:
            raise HTTPBadRequest(text="Form body is not valid") from exc
        form: MultiDict[str | FileField] = MultiDict()
        for name, value in pairs:
            if len(value) > max_field_size:
                raise HTTPRequestEntityTooLarge(max_size=max_field_size, actual_size=len(value))
            form.add(name, value)
        return MultiDictProxy(form)


def _spooled_file(threshold: int) -> IO[bytes]:
    """A file that stays in memory up to ``threshold`` bytes, then on disk."""
    return tempfile.SpooledTemporaryFile(max_size=threshold, mode="w+b")
