"""Request body readers: read/text/json/post, the content stream, size limits.

These drive ``Request`` through a fake channel that counts ``receive_body``
calls; the end-to-end ``100 Continue`` behaviour is in ``test_body_e2e``
below, through the in-memory client.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from test_request import FakeChannel, make_request

from sansketch.exceptions import HTTPBadRequest, HTTPRequestEntityTooLarge
from sansketch.request import Request

pytestmark = pytest.mark.anyio


def body_request(
    chunks: Sequence[bytes],
    *,
    content_type: bytes | None = None,
    declared: bool = True,
    client_max_size: int = 1024**2,
) -> tuple[Request, FakeChannel]:
    channel = FakeChannel(chunks, trailers=[(b"X-Checksum", b"abc")])
    headers = [(b"Host", b"h")]
    if content_type is not None:
        headers.append((b"Content-Type", content_type))
    size = sum(map(len, chunks))
    req = make_request(
        method=b"POST",
        headers=headers,
        channel=channel,
        content_length=size if declared else None,
        chunked=not declared,
    )
    req._client_max_size = client_max_size
    return req, channel


async def test_read_joins_chunks_and_caches() -> None:
    req, channel = body_request([b"hel", b"lo"])
    assert await req.read() == b"hello"
    calls = channel.receive_calls
    assert await req.read() == b"hello"
    assert channel.receive_calls == calls
    assert not req.can_read_body


async def test_read_without_body_does_not_touch_channel() -> None:
    channel = FakeChannel([b"x"])
    req = make_request(channel=channel)
    assert await req.read() == b""
    assert channel.receive_calls == 0


async def test_text_uses_charset() -> None:
    req, _ = body_request(["é".encode("latin-1")], content_type=b"text/plain; charset=latin-1")
    assert await req.text() == "é"


async def test_text_invalid_encoding_is_400() -> None:
    req, _ = body_request([b"\xff\xfe"], content_type=b"text/plain")
    with pytest.raises(HTTPBadRequest):
        await req.text()


async def test_json() -> None:
    req, _ = body_request([b'{"a": ', b"[1, 2]}"], content_type=b"application/json")
    assert await req.json() == {"a": [1, 2]}


async def test_json_custom_loads_and_invalid_json() -> None:
    req, _ = body_request([b"[1]"])
    assert await req.json(loads=lambda s: ("custom", s)) == ("custom", "[1]")
    bad, _ = body_request([b"{nope"])
    with pytest.raises(HTTPBadRequest) as info:
        await bad.json()
    assert info.value.status == 400
    assert info.value.text == "Request body is not valid JSON"


async def test_client_max_size_refuses_declared_length_before_reading() -> None:
    req, channel = body_request([b"x" * 100], client_max_size=10)
    with pytest.raises(HTTPRequestEntityTooLarge) as info:
        await req.read()
    assert info.value.status == 413
    assert (info.value.max_size, info.value.actual_size) == (10, 100)
    assert channel.receive_calls == 0  # never asked for the body: no 100 Continue


async def test_client_max_size_stops_a_chunked_body_midway() -> None:
    req, channel = body_request([b"x" * 6, b"x" * 6, b"x" * 6], declared=False, client_max_size=10)
    with pytest.raises(HTTPRequestEntityTooLarge) as info:
        await req.read()
    assert info.value.actual_size == 12
    assert channel.receive_calls == 2


async def test_content_read_n_and_readany() -> None:
    req, _ = body_request([b"abcdef", b"gh"])
    content = req.content
    assert await content.read(2) == b"ab"
    assert await content.readany() == b"cdef"
    assert await content.read(10) == b"gh"
    assert await content.read(1) == b""
    assert content.at_eof()


async def test_content_iter_chunked_regroups() -> None:
    req, _ = body_request([b"abc", b"de", b"fghij", b"k"])
    chunks = [chunk async for chunk in req.content.iter_chunked(4)]
    assert chunks == [b"abcd", b"efgh", b"ijk"]


async def test_content_async_for_yields_chunks_as_they_arrive() -> None:
    req, _ = body_request([b"one", b"two"])
    assert [chunk async for chunk in req.content] == [b"one", b"two"]
    req2, _ = body_request([b"one", b"two"])
    assert [chunk async for chunk in req2.content.iter_any()] == [b"one", b"two"]


async def test_content_readexactly() -> None:
    req, _ = body_request([b"ab", b"cd"])
    assert await req.content.readexactly(3) == b"abc"
    with pytest.raises(EOFError):
        await req.content.readexactly(2)


async def test_read_after_partial_stream_returns_the_rest() -> None:
    req, _ = body_request([b"abc", b"def"])
    assert await req.content.read(1) == b"a"
    assert await req.read() == b"bcdef"


async def test_trailers_after_chunked_body() -> None:
    req, _ = body_request([b"abc"], declared=False)
    await req.read()
    assert req.trailers()["x-checksum"] == "abc"


async def test_post_urlencoded() -> None:
    req, _ = body_request(
        [b"a=1&b=%C3%A9+x&a=2&empty="], content_type=b"application/x-www-form-urlencoded"
    )
    form = await req.post()
    assert form.getall("a") == ["1", "2"]
    assert form["b"] == "é x"
    assert form["empty"] == ""
    assert await req.post() is form


async def test_post_urlencoded_limits() -> None:
    ctype = b"application/x-www-form-urlencoded"
    many, _ = body_request([b"&".join(b"f%d=1" % i for i in range(20))], content_type=ctype)
    with pytest.raises(HTTPRequestEntityTooLarge):
        await many.post(max_fields=10)
    big, _ = body_request([b"f=" + b"x" * 100], content_type=ctype)
    with pytest.raises(HTTPRequestEntityTooLarge):
        await big.post(max_field_size=50)


async def test_post_other_content_type_is_empty() -> None:
    req, channel = body_request([b"{}"], content_type=b"application/json")
    assert dict(await req.post()) == {}
    assert channel.receive_calls == 0
