"""multipart/form-data: the push parser, the streaming reader, post() forms."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_request import FakeChannel, make_request

from sansketch.exceptions import HTTPBadRequest, HTTPRequestEntityTooLarge
from sansketch.multipart import (
    MultipartError,
    MultipartParser,
    PartData,
    PartEnd,
    PartEvent,
    PartHeaders,
    parse_content_disposition,
)
from sansketch.request import FileField, Request

BOUNDARY = "----sansketchBoundary7MA4YWxk"

BODY = (
    b"preamble to ignore\r\n"
    b"------sansketchBoundary7MA4YWxk\r\n"
    b'Content-Disposition: form-data; name="title"\r\n'
    b"\r\n"
    b"Hello\r\nworld\r\n"
    b"------sansketchBoundary7MA4YWxk  \r\n"
    b'Content-Disposition: form-data; name="upload"; filename="a.txt"\r\n'
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"--not a boundary\r\n-- still data"
    b"\r\n------sansketchBoundary7MA4YWxk--\r\n"
    b"epilogue to ignore"
)


def collect(events: list[PartEvent]) -> list[tuple[list[tuple[str, str]], bytes]]:
    """Fold parser events into (headers, body) per part."""
    parts: list[tuple[list[tuple[str, str]], bytes]] = []
    body = b""
    headers: list[tuple[str, str]] = []
    for event in events:
        if isinstance(event, PartHeaders):
            headers, body = event.headers, b""
        elif isinstance(event, PartData):
            body += event.data
        else:
            assert isinstance(event, PartEnd)
            parts.append((headers, body))
    return parts


def parse_in_pieces(body: bytes, cuts: list[int]) -> list[tuple[list[tuple[str, str]], bytes]]:
    parser = MultipartParser(BOUNDARY)
    events: list[PartEvent] = []
    last = 0
    for cut in [*sorted(cuts), len(body)]:
        events += parser.feed(body[last:cut])
        last = cut
    parser.feed_eof()
    return collect(events)


EXPECTED = [
    ([("Content-Disposition", 'form-data; name="title"')], b"Hello\r\nworld"),
    (
        [
            ("Content-Disposition", 'form-data; name="upload"; filename="a.txt"'),
            ("Content-Type", "text/plain"),
        ],
        b"--not a boundary\r\n-- still data",
    ),
]


def test_parser_whole_and_byte_by_byte() -> None:
    assert parse_in_pieces(BODY, []) == EXPECTED
    assert parse_in_pieces(BODY, list(range(1, len(BODY)))) == EXPECTED


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(BODY)), max_size=12))
def test_parser_any_split_gives_the_same_parts(cuts: list[int]) -> None:
    assert parse_in_pieces(BODY, cuts) == EXPECTED


def test_parser_part_without_headers_and_empty_form() -> None:
    body = b"--b\r\n\r\nraw\r\n--b--"
    parser = MultipartParser("b")
    parts = collect(parser.feed(body))
    parser.feed_eof()
    assert parts == [([], b"raw")]
    empty = MultipartParser("b")
    assert empty.feed(b"--b--\r\n") == []
    empty.feed_eof()


def test_parser_rejects_truncated_body() -> None:
    parser = MultipartParser("b")
    parser.feed(b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\nvalue")
    with pytest.raises(MultipartError) as info:
        parser.feed_eof()
    assert info.value.status == 400


def test_parser_bounds_header_section() -> None:
    parser = MultipartParser("b", max_header_size=100)
    with pytest.raises(MultipartError) as info:
        parser.feed(b"--b\r\nX: " + b"a" * 200)  # no end of headers in sight
    assert info.value.status == 413


def test_parser_bounds_header_count() -> None:
    parser = MultipartParser("b", max_headers=3)
    with pytest.raises(MultipartError) as info:
        parser.feed(b"--b\r\n" + b"X: 1\r\n" * 4 + b"\r\n")
    assert info.value.status == 413


@pytest.mark.parametrize(
    "body",
    [
        b"--b\r\nno colon here\r\n\r\n",
        b"--b\r\nX: 1\r\n folded\r\n\r\n",
        b"--bGARBAGE\r\n\r\n",
        b"--b" + b" " * 100 + b"\r\n",
    ],
)
def test_parser_rejects_malformed(body: bytes) -> None:
    with pytest.raises(MultipartError):
        MultipartParser("b").feed(body)


def test_parser_preamble_is_not_buffered() -> None:
    parser = MultipartParser("b")
    for _ in range(100):
        parser.feed(b"x" * 10_000)
    assert len(parser._buffer) < 10


@pytest.mark.parametrize("boundary", ["", "x" * 71, "bé"])
def test_invalid_boundary(boundary: str) -> None:
    with pytest.raises(MultipartError):
        MultipartParser(boundary)


def test_content_disposition_filename_star_wins() -> None:
    kind, params = parse_content_disposition(
        'form-data; name="f"; filename="fallback.txt"; filename*=UTF-8\'\'%E2%82%AC%20rates.txt'
    )
    assert kind == "form-data"
    assert params == {"name": "f", "filename": "€ rates.txt"}
    _, quoted = parse_content_disposition(r'form-data; name="a\"b; c"')
    assert quoted == {"name": 'a"b; c'}


# -- through Request.post() / Request.multipart() ------------------------------


def form_request(body: bytes, ctype: bytes, *, chunk: int = 7, max_size: int = 1024**2) -> Request:
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    req = make_request(
        method=b"POST",
        headers=[(b"Content-Type", ctype)],
        channel=FakeChannel(chunks),
        content_length=len(body),
    )
    req._client_max_size = max_size
    return req


CTYPE = f"multipart/form-data; boundary={BOUNDARY}".encode()


@pytest.mark.anyio
async def test_post_multipart_fields_and_file() -> None:
    form = await form_request(BODY, CTYPE).post()
    assert form["title"] == "Hello\r\nworld"
    upload = form["upload"]
    assert isinstance(upload, FileField)
    assert (upload.name, upload.filename, upload.content_type) == ("upload", "a.txt", "text/plain")
    assert upload.headers["Content-Type"] == "text/plain"
    assert upload.file.read() == b"--not a boundary\r\n-- still data"


def file_body(size: int) -> bytes:
    return (
        b"--b\r\n"
        b'Content-Disposition: form-data; name="big"; filename="big.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
        + bytes(range(256)) * (size // 256)
        + b"\r\n--b--\r\n"
    )


@pytest.mark.anyio
async def test_large_file_part_is_spooled_to_disk() -> None:
    body = file_body(256 * 1024)
    form = await form_request(body, b"multipart/form-data; boundary=b", chunk=65536).post(
        spool_threshold=64 * 1024
    )
    big = form["big"]
    assert isinstance(big, FileField)
    assert big.file._rolled  # type: ignore[attr-defined]  # on disk, not in memory
    assert big.file.read() == bytes(range(256)) * 1024


@pytest.mark.anyio
async def test_small_file_part_stays_in_memory() -> None:
    form = await form_request(file_body(1024), b"multipart/form-data; boundary=b").post()
    big = form["big"]
    assert isinstance(big, FileField)
    assert not big.file._rolled  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_multipart_total_size_is_bounded_by_client_max_size() -> None:
    body = file_body(64 * 1024)
    req = make_request(  # chunked: no Content-Length to refuse up front
        method=b"POST",
        headers=[(b"Content-Type", b"multipart/form-data; boundary=b")],
        channel=FakeChannel([body[i : i + 4096] for i in range(0, len(body), 4096)]),
        chunked=True,
    )
    req._client_max_size = 10_000
    with pytest.raises(HTTPRequestEntityTooLarge):
        await req.post()


@pytest.mark.anyio
async def test_multipart_field_count_and_field_size_limits() -> None:
    part = b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\nvalue\r\n'
    many = part * 5 + b"--b--\r\n"
    with pytest.raises(HTTPRequestEntityTooLarge):
        await form_request(many, b"multipart/form-data; boundary=b").post(max_fields=4)
    assert (
        len((await form_request(many, b"multipart/form-data; boundary=b").post()).getall("f")) == 5
    )
    big = b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\n' + b"x" * 100 + b"\r\n--b--"
    with pytest.raises(HTTPRequestEntityTooLarge):
        await form_request(big, b"multipart/form-data; boundary=b").post(max_field_size=50)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        (b"multipart/form-data", b"--b\r\n\r\nx\r\n--b--"),  # no boundary
        (b"multipart/form-data; boundary=b", b"--b\r\n\r\nunterminated"),
        (b"multipart/form-data; boundary=b", b"--b\r\nContent-Type: x\r\n\r\nno name\r\n--b--"),
        (b"multipart/form-data; boundary=b", b"--b\r\nbroken header\r\n\r\nx\r\n--b--"),
    ],
)
async def test_hostile_multipart_is_400(ctype: bytes, body: bytes) -> None:
    with pytest.raises(HTTPBadRequest):
        await form_request(body, ctype).post()


@pytest.mark.anyio
async def test_part_header_flood_is_413() -> None:
    body = b"--b\r\nX: " + b"a" * 20_000 + b"\r\n\r\nx\r\n--b--"
    with pytest.raises(HTTPRequestEntityTooLarge):
        await form_request(body, b"multipart/form-data; boundary=b").post()


@pytest.mark.anyio
async def test_multipart_reader_streams_parts() -> None:
    reader = await form_request(BODY, CTYPE, chunk=3).multipart()
    seen = []
    async for part in reader:
        if part.filename:
            chunks = []
            while chunk := await part.read_chunk():
                chunks.append(chunk)
            seen.append((part.name, part.filename, b"".join(chunks)))
        else:
            seen.append((part.name, None, (await part.text()).encode()))
    assert seen == [
        ("title", None, b"Hello\r\nworld"),
        ("upload", "a.txt", b"--not a boundary\r\n-- still data"),
    ]


@pytest.mark.anyio
async def test_multipart_reader_skips_unread_parts() -> None:
    reader = await form_request(BODY, CTYPE).multipart()
    first = await reader.next()
    assert first is not None and first.name == "title"
    second = await reader.next()  # the first part's body is skipped
    assert second is not None and second.name == "upload"
    assert await second.read() == b"--not a boundary\r\n-- still data"
    assert await reader.next() is None


@pytest.mark.anyio
async def test_multipart_on_non_multipart_body_is_400() -> None:
    with pytest.raises(HTTPBadRequest):
        await form_request(b"{}", b"application/json").multipart()
