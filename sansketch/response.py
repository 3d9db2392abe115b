"""Responses: streamed (``StreamResponse``) and whole-body (``Response``).

Theory of operation. A response is plain data until ``prepare(request)``: the
app may change status, headers and cookies freely. ``prepare`` runs the app's
``on_response_prepare`` signal, then (for a ``StreamResponse``) validates and
encodes the head and hands it to the request's channel; after that only body
bytes and the end (with optional trailers) can follow. ``Response`` keeps its
whole body in memory, so it defers sending to ``write_eof`` and sends status,
headers and body with one ``channel.send_response`` call: the hot path. The
server finishes such a response without a coroutine (``_send_at_once``) when
no ``on_response_prepare`` hook or trailer needs awaiting.

Framing is the core's job: a ``Content-Length`` header declares a length,
its absence means chunked on HTTP/1.1 (close-delimited on HTTP/1.0). HEAD,
204 and 304 bodylessness is also decided by the core.

Every header the app sets is checked when the head is encoded: a name must
be a token and a value must not contain CR, LF or NUL (ValueError).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING

from multidict import CIMultiDict

from ._headers_util import check_value, content_type_parts, encode_header, quote_param
from .cookies import EPOCH, SetCookie

if TYPE_CHECKING:
    from ._channel import Channel
    from .request import Request

__all__ = ["Response", "StreamResponse", "json_response"]

LooseHeaders = Mapping[str, str] | CIMultiDict[str] | None

_TEXT_PLAIN_UTF8 = "text/plain; charset=utf-8"
# Hop-by-hop framing fields: the core frames the body itself.
_FRAMING = frozenset({"content-length", "transfer-encoding"})
_TRANSFER_ENCODING = frozenset({"transfer-encoding"})
_SENTINEL: object = object()
# Whole encoded heads for responses whose only header is a common
# Content-Type (or none): shared, immutable, and equal from one response to
# the next, which lets the core reuse the head it built last time.
_CONTENT_TYPE_HEADS: dict[str | None, tuple[tuple[bytes, bytes], ...]] = {
    None: (),
    **{
        value: ((b"Content-Type", value.encode("latin-1")),)
        for value in (
            _TEXT_PLAIN_UTF8,
            "text/html; charset=utf-8",
            "application/json",
            "application/octet-stream",
        )
    },
}
_PLAIN_TEXT_HEAD = _CONTENT_TYPE_HEADS[_TEXT_PLAIN_UTF8]


class StreamResponse:
    """A response whose body is written piece by piece.

    Args:
        status: the status code (100-999).
        reason: the reason phrase; ``None`` for the standard one.
        headers: initial headers.
    """

    # Starting values. __init__ also sets them on the instance, except
    # those a plain response (see _plain_head) never reads: Python 3.11 does
    # not specialise reading a class-level default through an instance,
    # which costs several times a plain instance read.
    _prepared = False
    _status = 200
    _reason: str | None = None
    _cookies: dict[str, SetCookie] | None = None
    _keep_alive: bool | None = None
    _chunked = False
    _trailers: dict[str, str] | None = None
    _channel: Channel | None = None
    _req: Request | None = None
    _eof_sent = False
    # Headers are built lazily: until someone touches ``headers``, ``_hdrs``
    # is None and the only field is ``_ctype`` (the Content-Type value, if
    # any), which the hot path encodes without building a CIMultiDict.
    _hdrs: CIMultiDict[str] | None = None
    _ctype: str | None = None
    # The whole encoded head while the response is plain: no headers but a
    # common Content-Type, no cookies, trailers, reason or keep-alive
    # override. Whatever changes one of those sets it to None.
    _plain_head: tuple[tuple[bytes, bytes], ...] | None = None

    def __init__(
        self, *, status: int = 200, reason: str | None = None, headers: LooseHeaders = None
    ) -> None:
        self._init_fields()
        if headers is not None:
            self._hdrs = CIMultiDict(headers)
        if status != 200 or reason is not None:
            self.set_status(status, reason)

    def _init_fields(self) -> None:
        """The starting values, on the instance (see the class attributes)."""
        self._prepared = False
        self._status = 200
        self._reason = None
        self._cookies = None
        self._keep_alive = None
        self._trailers = None
        self._hdrs = None
        self._ctype = None
        self._plain_head = None

    # -- status -------------------------------------------------------------
    @property
    def status(self) -> int:
        """The status code."""
        return self._status

    @property
    def reason(self) -> str:
        """The reason phrase (the standard one unless set)."""
        if self._reason is not None:
            return self._reason
        try:
            return HTTPStatus(self._status).phrase
        except ValueError:
            return ""

    def set_status(self, status: int, reason: str | None = None) -> None:
        """Change the status (and reason) before the response is prepared.

        Raises:
            RuntimeError: the head was already sent.
            ValueError: status outside 100-999 or a reason with CR/LF/NUL.
        """
        if self._prepared:
            raise RuntimeError("cannot change the status after the response was prepared")
        status = int(status)
        if not 100 <= status <= 999:
            raise ValueError(f"status must be in 100-999: {status}")
        if reason is not None:
            check_value(reason, "reason")
        self._status = status
        self._reason = reason
        if reason is not None:
            self._plain_head = None

    # -- headers ------------------------------------------------------------
    @property
    def headers(self) -> CIMultiDict[str]:
        """Response headers (validated when the head is sent)."""
        return self._headers

    @property
    def _headers(self) -> CIMultiDict[str]:
        """The headers as a CIMultiDict, built on first use."""
        headers = self._hdrs
        if headers is None:
            headers = self._hdrs = CIMultiDict()
            self._plain_head = None  # the caller may change them
            if self._ctype is not None:
                headers["Content-Type"] = self._ctype
        return headers

    def _content_type_value(self) -> str | None:
        """The ``Content-Type`` value, without building the headers."""
        headers = self._hdrs
        return self._ctype if headers is None else headers.get("Content-Type")

    def _store_content_type(self, value: str) -> None:
        """Set the ``Content-Type`` value, without building the headers."""
        headers = self._hdrs
        if headers is None:
            self._ctype = value
            if self._plain_head is not None:
                self._plain_head = _CONTENT_TYPE_HEADS.get(value)
        else:
            headers["Content-Type"] = value

    @property
    def content_type(self) -> str:
        """The media type of ``Content-Type``, without parameters."""
        return content_type_parts(self._content_type_value())[0]

    @content_type.setter
    def content_type(self, value: str) -> None:
        self._set_content_type(value, self.charset)

    @property
    def charset(self) -> str | None:
        """The ``charset`` parameter of ``Content-Type``, if any."""
        return content_type_parts(self._content_type_value())[1].get("charset")

    @charset.setter
    def charset(self, value: str | None) -> None:
        ctype = self.content_type
        if ctype == "application/octet-stream" and value is not None:
            raise RuntimeError("setting charset for application/octet-stream makes no sense")
        self._set_content_type(ctype, value)

    def _set_content_type(self, ctype: str, charset: str | None) -> None:
        params = content_type_parts(self._content_type_value())[1]
        params.pop("charset", None)
        if charset is not None:
            params["charset"] = charset.lower()
        value = ctype
        for name, pvalue in params.items():
            value += f"; {name}={quote_param(pvalue)}"
        self._store_content_type(value)

    @property
    def content_length(self) -> int | None:
        """The declared ``Content-Length``, or ``None`` for a chunked body."""
        headers = self._hdrs
        value = headers.get("Content-Length") if headers is not None else None
        return int(value) if value is not None else None

    @content_length.setter
    def content_length(self, value: int | None) -> None:
        self._check_not_prepared()
        if value is None:
            if self._hdrs is not None:
                self._hdrs.pop("Content-Length", None)
            return
        if self._chunked:
            raise RuntimeError("content length cannot be set with chunked encoding")
        if int(value) < 0:
            raise ValueError("content length must not be negative")
        self._headers["Content-Length"] = str(int(value))

    def enable_chunked_encoding(self) -> None:
        """Send the body chunked (HTTP/1.1) instead of with a declared length.

        Raises:
            RuntimeError: a ``Content-Length`` was already set.
        """
        self._check_not_prepared()
        if self._hdrs is not None and "Content-Length" in self._hdrs:
            raise RuntimeError("chunked encoding cannot be used with a content length")
        self._chunked = True

    @property
    def chunked(self) -> bool:
        """Whether chunked encoding was asked for explicitly."""
        return self._chunked

    @property
    def keep_alive(self) -> bool | None:
        """``False`` after ``force_close()``; ``None`` lets the core decide."""
        return self._keep_alive

    def force_close(self) -> None:
        """Close the connection after this response (``Connection: close``)."""
        self._keep_alive = False
        self._plain_head = None

    @property
    def trailers(self) -> dict[str, str] | None:
        """Trailer fields to send after a chunked body."""
        return self._trailers

    @trailers.setter
    def trailers(self, value: Mapping[str, str] | None) -> None:
        if self._eof_sent:
            raise RuntimeError("the response already ended")
        self._trailers = dict(value) if value is not None else None
        self._plain_head = None

    # -- cookies ------------------------------------------------------------
    @property
    def cookies(self) -> Mapping[str, SetCookie]:
        """Cookies this response sets, by name."""
        return self._cookies if self._cookies is not None else {}

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        expires: str | datetime | None = None,
        domain: str | None = None,
        max_age: int | None = None,
        path: str = "/",
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = None,
    ) -> None:
        """Add a ``Set-Cookie`` header (replacing an earlier one of that name).

        Raises:
            ValueError: the name is not a token, or the value or an attribute
                contains ``;``, a control character or non-ASCII.
        """
        self._check_not_prepared()
        cookie = SetCookie(name, value, expires, domain, max_age, path, secure, httponly, samesite)
        if self._cookies is None:
            self._cookies = {}
            self._plain_head = None
        self._cookies[name] = cookie

    def del_cookie(self, name: str, *, domain: str | None = None, path: str = "/") -> None:
        """Ask the client to delete a cookie (empty value, expired, Max-Age 0)."""
        self.set_cookie(name, "", expires=EPOCH, max_age=0, domain=domain, path=path)

    # -- sending ------------------------------------------------------------
    @property
    def prepared(self) -> bool:
        """Whether ``prepare`` ran (the head is sent or, for Response, fixed)."""
        return self._prepared

    def _check_not_prepared(self) -> None:
        if self._prepared:
            raise RuntimeError("the response was already prepared")

    def _send_at_once(self, request: Request) -> bool:
        """Prepare and finish without awaiting, where nothing needs to wait.

        The server's fast path: ``False`` means the caller must go through
        ``prepare`` and ``write_eof``. A streamed response always must.
        """
        return False

    def _encoded_headers(self, *, with_length: bool) -> Sequence[tuple[bytes, bytes]]:
        """Validate and encode the head; framing fields only if ``with_length``."""
        headers = self._hdrs
        if headers is None:
            if not self._cookies and not self._trailers and self._keep_alive is None:
                # The common head: at most a Content-Type, often pre-encoded.
                head = _CONTENT_TYPE_HEADS.get(self._ctype)
                if head is not None:
                    return head
            headers = self._headers
        if "Transfer-Encoding" in headers or (not with_length and "Content-Length" in headers):
            skip = _TRANSFER_ENCODING if with_length else _FRAMING
            encoded = [
                encode_header(name, value)
                for name, value in headers.items()
                if name.lower() not in skip
            ]
        else:
            encoded = [encode_header(name, value) for name, value in headers.items()]
        if self._cookies:
            for cookie in self._cookies.values():
                encoded.append(encode_header("Set-Cookie", cookie.header_value()))
        if self._trailers and "Trailer" not in headers:
            # RFC 9110 §6.6.2: announce the trailer fields that will follow.
            encoded.append(encode_header("Trailer", ", ".join(self._trailers)))
        if self._keep_alive is False:
            encoded.append(encode_header("Connection", "close"))
        return encoded

    def _reason_bytes(self) -> bytes | None:
        return self._reason.encode("latin-1") if self._reason is not None else None

    async def _run_prepare_hooks(self, request: Request) -> None:
        self._req = request
        self._channel = request._channel
        app = request._app
        if app is not None and app.on_response_prepare:
            await app.on_response_prepare.send(request, self)

    async def prepare(self, request: Request) -> None:
        """Run ``on_response_prepare`` and send the head (once).

        Raises:
            ValueError: a header or cookie is invalid (nothing is sent).
        """
        if self._prepared:
            return
        await self._run_prepare_hooks(request)
        headers = self._encoded_headers(with_length=True)
        self._prepared = True
        assert self._channel is not None
        await self._channel.send_head(self._status, headers, self._reason_bytes())

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send body bytes (waits while the transport is congested).

        Raises:
            RuntimeError: before ``prepare`` or after ``write_eof``.
        """
        if self._channel is None or not self._prepared:
            raise RuntimeError("call prepare() before write()")
        if self._eof_sent:
            raise RuntimeError("cannot write after write_eof()")
        if data:
            await self._channel.send_body(bytes(data))

    async def write_eof(
        self, data: bytes = b"", *, trailers: Mapping[str, str] | None = None
    ) -> None:
        """Send the last bytes and end the response (idempotent).

        Args:
            data: final body bytes.
            trailers: trailer fields (chunked bodies only); overrides the
                ``trailers`` property.

        Raises:
            RuntimeError: before ``prepare``, or trailers with a declared length.
            ValueError: a trailer name or value is invalid.
        """
        if self._eof_sent:
            return
        if self._channel is None or not self._prepared:
            raise RuntimeError("call prepare() before write_eof()")
        if data:
            await self.write(data)
        if trailers is not None:
            self._trailers = dict(trailers)
        encoded = None
        if self._trailers:
            if self._hdrs is not None and "Content-Length" in self._hdrs:
                raise RuntimeError("trailers need a chunked body, not a content length")
            encoded = [encode_header(k, v) for k, v in self._trailers.items()]
        self._eof_sent = True
        await self._channel.send_end(encoded)

    def __repr__(self) -> str:
        state = "eof" if self._eof_sent else "prepared" if self._prepared else "not prepared"
        return f"<{type(self).__name__} {self._status} {self.reason} {state}>"


class Response(StreamResponse):
    """A response with its whole body in memory, sent in one write.

    Args:
        body: the body bytes.
        status: the status code.
        reason: the reason phrase; ``None`` for the standard one.
        text: a text body (encoded with ``charset``, utf-8 by default);
            exclusive with ``body``.
        headers: initial headers.
        content_type: media type (``text/plain`` for ``text``).
        charset: charset parameter for ``Content-Type``.

    Raises:
        ValueError: both ``body`` and ``text``, or a content type given both
            as an argument and in ``headers``.
        TypeError: ``body`` is not bytes-like or ``text`` is not a str.
    """

    # The encoded head, fixed by ``prepare``; the body, set by ``__init__``.
    _head: Sequence[tuple[bytes, bytes]] = ()
    _body = b""

    def __init__(
        self,
        body: bytes | bytearray | memoryview | None = None,
        *,
        status: int = 200,
        reason: str | None = None,
        text: str | None = None,
        headers: LooseHeaders = None,
        content_type: str | None = None,
        charset: str | None = None,
    ) -> None:
        self._prepared = False
        self._status = 200
        if headers is None and reason is None and charset is None:
            # A plain response: only the fields it reads go on the instance.
            if text is not None:
                if body is None and content_type is None and type(text) is str:
                    self._ctype = _TEXT_PLAIN_UTF8
                    self._plain_head = _PLAIN_TEXT_HEAD
                    self._body = text.encode("utf-8")
                    if status != 200:
                        self.set_status(status)
                    return
            elif type(body) is bytes and content_type is not None:
                # json_response's path: bytes and a content type.
                self._ctype = content_type
                self._plain_head = _CONTENT_TYPE_HEADS.get(content_type)
                self._body = body
                if status != 200:
                    self.set_status(status)
                return
        # StreamResponse.__init__, inlined.
        self._init_fields()
        if headers is not None:
            self._hdrs = CIMultiDict(headers)
        if status != 200 or reason is not None:
            self.set_status(status, reason)
        if text is not None:
            if body is not None:
                raise ValueError("body and text are not allowed together")
            if content_type is None and charset is None:
                if not isinstance(text, str):
                    raise TypeError(f"text must be str, not {type(text).__name__}")
                headers = self._hdrs
                if headers is None:
                    self._ctype = _TEXT_PLAIN_UTF8
                elif "Content-Type" not in headers:
                    headers["Content-Type"] = _TEXT_PLAIN_UTF8
                self._body = text.encode("utf-8")
                return
        self._init_slow(body, text, content_type, charset)

    def _init_slow(
        self,
        body: bytes | bytearray | memoryview | None,
        text: str | None,
        content_type: str | None,
        charset: str | None,
    ) -> None:
        """The rest of ``__init__``: explicit content types and charsets."""
        if content_type is not None and self._content_type_value() is not None:
            raise ValueError("content_type and the Content-Type header are exclusive")
        if content_type is not None and charset is not None and ";" in content_type:
            raise ValueError("charset must not be in content_type when given apart")
        if text is not None:
            if not isinstance(text, str):
                raise TypeError(f"text must be str, not {type(text).__name__}")
            charset = charset or "utf-8"
            if content_type is None and self._content_type_value() is None:
                content_type = "text/plain"
            if content_type is not None:
                self._store_content_type(f"{content_type}; charset={charset}")
            self._body = text.encode(charset)
            return
        if body is not None:
            if type(body) is bytes:
                self._body = body
            else:
                self.body = body
        if content_type is not None:
            value = content_type if charset is None else f"{content_type}; charset={charset}"
            self._store_content_type(value)
        elif charset is not None:
            self.charset = charset

    @property
    def body(self) -> bytes:
        """The body bytes."""
        return self._body

    @body.setter
    def body(self, value: bytes | bytearray | memoryview | None) -> None:
        self._check_not_prepared()
        if value is None:
            self._body = b""
        elif isinstance(value, (bytes, bytearray, memoryview)):
            self._body = bytes(value)
        else:
            raise TypeError(f"body must be bytes-like, not {type(value).__name__}")

    @property
    def text(self) -> str:
        """The body decoded with ``charset`` (utf-8 by default)."""
        return self._body.decode(self.charset or "utf-8")

    @text.setter
    def text(self, value: str) -> None:
        self._check_not_prepared()
        if not isinstance(value, str):
            raise TypeError(f"text must be str, not {type(value).__name__}")
        if self._content_type_value() is None:
            self._store_content_type(_TEXT_PLAIN_UTF8)
        self._body = value.encode(self.charset or "utf-8")

    @property
    def content_length(self) -> int | None:
        """The body length (the core sends it as ``Content-Length``)."""
        return len(self._body)

    @content_length.setter
    def content_length(self, value: int | None) -> None:
        raise RuntimeError("the content length of a Response is its body's length")

    def enable_chunked_encoding(self) -> None:
        """Not for whole-body responses (the length is known).

        Raises:
            RuntimeError: always.
        """
        raise RuntimeError("a Response has a known length; use StreamResponse to chunk")

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass that changes how a response is prepared or finished
        # must be driven through those methods, not the server's shortcut.
        cls._finishes_plainly = (
            cls.prepare is Response.prepare and cls.write_eof is Response.write_eof
        )

    # Whether ``_send_at_once`` may stand in for ``prepare`` + ``write_eof``.
    _finishes_plainly = True

    async def prepare(self, request: Request) -> None:
        """Run ``on_response_prepare``; the head goes out with the body in
        ``write_eof``. Headers are validated here, so a bad one raises before
        anything is sent.

        Raises:
            ValueError: a header or cookie is invalid.
        """
        if self._prepared:
            return
        # _run_prepare_hooks, inlined: most apps have no hooks. (Each
        # attribute written on a fresh response costs; _req is not needed.)
        self._channel = request._channel
        app = request._app
        if app is not None:
            hooks = app.on_response_prepare
            if hooks:
                await hooks.send(request, self)
        self._fix_head()

    def _fix_head(self) -> None:
        """Validate and encode the head; from here on it cannot change."""
        self._head = self._encoded_headers(with_length=False)
        self._prepared = True

    def _send_at_once(self, request: Request) -> bool:
        """``prepare`` + ``write_eof`` in one step when no hook or trailer waits.

        A whole body needs no waiting: the channel takes the response as
        it is (``send_response``) and the server applies flow control
        before its next request.

        Raises:
            ValueError: a header or cookie is invalid (nothing is sent).
        """
        head = self._plain_head
        if (
            head is not None
            and not self._prepared
            and (type(self) is Response or self._finishes_plainly)
        ):
            # A plain response: its head is known, nothing else to check.
            app = request._app
            if app is None or not app._on_response_prepare._items:
                # Prepared and ended: prepare() and write_eof() now return at
                # once, so the head and channel are not kept.
                self._prepared = self._eof_sent = True
                request._channel.send_response(self._status, head, self._body, None)
                return True
        if self._prepared or self._trailers is not None or not self._finishes_plainly:
            return False
        app = request._app
        if app is not None and app._on_response_prepare._items:
            return False
        channel = self._channel = request._channel
        # _fix_head with _encoded_headers' common case, inlined: this runs
        # for nearly every response.
        head = None
        if self._hdrs is None and self._cookies is None and self._keep_alive is None:
            head = _CONTENT_TYPE_HEADS.get(self._ctype)
        self._head = head if head is not None else self._encoded_headers(with_length=False)
        self._prepared = self._eof_sent = True
        reason = self._reason  # _reason_bytes(), inlined
        channel.send_response(
            self._status,
            self._head,
            self._body,
            reason.encode("latin-1") if reason is not None else None,
        )
        return True

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Not for whole-body responses.

        Raises:
            RuntimeError: always; set ``body`` or use StreamResponse.
        """
        raise RuntimeError("Response sends its body at once; use StreamResponse to stream")

    async def write_eof(
        self, data: bytes = b"", *, trailers: Mapping[str, str] | None = None
    ) -> None:
        """Send status, headers and body in one write (idempotent).

        With trailers the body goes out chunked instead.

        Raises:
            RuntimeError: before ``prepare``, or with ``data`` (set ``body``).
        """
        if self._eof_sent:
            return
        if self._channel is None or not self._prepared:
            raise RuntimeError("call prepare() before write_eof()")
        if data:
            raise RuntimeError("Response takes its body from .body, not write_eof(data)")
        if trailers is not None:
            self._trailers = dict(trailers)
        self._eof_sent = True
        if self._trailers:
            head = list(self._head)
            if not any(name.lower() == b"trailer" for name, _ in head):
                head.append(encode_header("Trailer", ", ".join(self._trailers)))
            await self._channel.send_head(self._status, head, self._reason_bytes())
            if self._body:
                await self._channel.send_body(self._body)
            await self._channel.send_end([encode_header(k, v) for k, v in self._trailers.items()])
            return
        self._channel.send_response(self._status, self._head, self._body, self._reason_bytes())


def _default_dumps() -> Callable[[object], str]:
    """``json.dumps`` with its default settings, minus its per-call setup.

    ``json.dumps(data)`` builds a C encoder on every call (a fresh
    circular-reference table, separators, flags); building just that from a
    default ``JSONEncoder``'s settings is what ``JSONEncoder.encode`` does
    for a non-string, at about half the cost. Falls back to ``json.dumps``
    where the C accelerator is missing or does not answer alike.
    """
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:
        return json.dumps
    defaults = json.JSONEncoder()
    settings = (
        defaults.default,
        json.encoder.encode_basestring_ascii,
        defaults.indent,
        defaults.key_separator,
        defaults.item_separator,
        defaults.sort_keys,
        defaults.skipkeys,
        defaults.allow_nan,
    )

    def dumps(data: object) -> str:
        # A fresh markers dict per call, as JSONEncoder.iterencode makes: a
        # shared one would keep stale ids after an error.
        return "".join(c_make_encoder({}, *settings)(data, 0))

    try:
        sample = {"a": [1, 2.5, None, True, "\u00e9\n"], "b": {"c": float("inf")}}
        if dumps(sample) != json.dumps(sample) or dumps("x") != json.dumps("x"):
            return json.dumps
    except Exception:
        return json.dumps
    return dumps


_dumps = _default_dumps()


def json_response(
    data: object = _SENTINEL,
    *,
    text: str | None = None,
    body: bytes | None = None,
    status: int = 200,
    reason: str | None = None,
    headers: LooseHeaders = None,
    content_type: str = "application/json",
    dumps: Callable[[object], str] = json.dumps,
) -> Response:
    """A ``Response`` carrying ``data`` serialised with ``dumps``.

    Raises:
        ValueError: ``data`` together with ``text`` or ``body``.
    """
    if data is not _SENTINEL:
        if text is not None or body is not None:
            raise ValueError("only one of data, text or body may be given")
        text = _dumps(data) if dumps is json.dumps else dumps(data)
    if text is not None:
        return Response(
            body=text.encode("utf-8"),
            status=status,
            reason=reason,
            headers=headers,
            content_type=content_type,
        )
    return Response(
        body=body, status=status, reason=reason, headers=headers, content_type=content_type
    )
