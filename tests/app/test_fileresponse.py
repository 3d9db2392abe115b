"""FileResponse through the in-memory client: validators, conditionals, ranges."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path

import pytest

from sansketch.app import Application
from sansketch.fileresponse import FileResponse, parse_range
from sansketch.request import Request
from sansketch.response import StreamResponse
from sansketch.testing import TestClient

pytestmark = pytest.mark.anyio

DATA = bytes(range(256)) * 40  # 10240 bytes
MTIME = 1_700_000_000


@pytest.fixture
def files(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    os.utime(path, (MTIME, MTIME))
    (tmp_path / "page.html").write_text("<h1>hi</h1>")
    (tmp_path / "archive.tar.gz").write_bytes(b"\x1f\x8b")
    (tmp_path / "empty.txt").write_bytes(b"")
    return tmp_path


@pytest.fixture
async def client(files: Path) -> AsyncIterator[TestClient]:
    async def serve(request: Request) -> StreamResponse:
        return FileResponse(files / request.match_info["name"])

    app = Application()
    app.router.add_route("*", "/{name}", serve)
    async with TestClient(app) as client:
        yield client


def validators(files: Path) -> tuple[str, str]:
    st = (files / "data.bin").stat()
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"', formatdate(MTIME, usegmt=True)


async def test_full_file(client: TestClient, files: Path) -> None:
    resp = await client.get("/data.bin")
    etag, last_modified = validators(files)
    assert resp.status == 200
    assert await resp.read() == DATA
    assert resp.headers["Content-Length"] == str(len(DATA))
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["ETag"] == etag
    assert resp.headers["Last-Modified"] == last_modified
    assert resp.headers["Accept-Ranges"] == "bytes"


async def test_content_type_from_mimetypes(client: TestClient) -> None:
    page = await client.get("/page.html")
    assert page.headers["Content-Type"] == "text/html"
    assert await page.text() == "<h1>hi</h1>"
    archive = await client.get("/archive.tar.gz")
    assert archive.headers["Content-Type"] == "application/gzip"
    assert "Content-Encoding" not in archive.headers


async def test_head_sends_headers_only(client: TestClient) -> None:
    resp = await client.head("/data.bin")
    assert resp.status == 200
    assert resp.headers["Content-Length"] == str(len(DATA))
    assert await resp.read() == b""


async def test_missing_file_and_directory_are_404(client: TestClient) -> None:
    assert (await client.get("/nope.txt")).status == 404
    empty = await client.get("/empty.txt")
    assert (empty.status, await empty.read()) == (200, b"")


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-99", 0, 99), ("bytes=10000-", 10000, 10239), ("bytes=-40", 10200, 10239),
     ("bytes=100-99999", 100, 10239), ("BYTES = 5-5", 5, 5)],
)  # fmt: skip
async def test_single_range_is_206(client: TestClient, header: str, first: int, last: int) -> None:
    resp = await client.get("/data.bin", headers={"Range": header})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert resp.headers["Content-Length"] == str(last - first + 1)
    assert await resp.read() == DATA[first : last + 1]


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
async def test_unsatisfiable_range_is_416(client: TestClient, header: str) -> None:
    resp = await client.get("/data.bin", headers={"Range": header})
    assert resp.status == 416
    assert resp.headers["Content-Range"] == f"bytes */{len(DATA)}"
    assert await resp.read() == b""


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=5-1", "items=0-1", "bytes=x-y"])
async def test_multi_or_invalid_range_gives_the_whole_file(
    client: TestClient, header: str
) -> None:
    resp = await client.get("/data.bin", headers={"Range": header})
    assert resp.status == 200
    assert await resp.read() == DATA


async def test_range_is_ignored_for_head_and_post(client: TestClient) -> None:
    head = await client.head("/data.bin", headers={"Range": "bytes=0-1"})
    assert head.status == 200
    post = await client.post("/data.bin", headers={"Range": "bytes=0-1"})
    assert post.status == 200


async def test_if_none_match_gives_304(client: TestClient, files: Path) -> None:
    etag, last_modified = validators(files)
    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        resp = await client.get("/data.bin", headers={"If-None-Match": value})
        assert resp.status == 304, value
        assert resp.headers["ETag"] == etag
        assert resp.headers["Last-Modified"] == last_modified
        assert await resp.read() == b""
    assert (await client.get("/data.bin", headers={"If-None-Match": '"other"'})).status == 200
    # RFC 9110 §13.1.2: a failed If-None-Match on an unsafe method is 412.
    assert (await client.post("/data.bin", headers={"If-None-Match": etag})).status == 412


async def test_if_modified_since(client: TestClient) -> None:
    same = await client.get(
        "/data.bin", headers={"If-Modified-Since": formatdate(MTIME, usegmt=True)}
    )
    assert same.status == 304
    older = formatdate(MTIME - 60, usegmt=True)
    assert (await client.get("/data.bin", headers={"If-Modified-Since": older})).status == 200
    bogus = await client.get("/data.bin", headers={"If-Modified-Since": "not a date"})
    assert bogus.status == 200


async def test_if_none_match_takes_precedence_over_if_modified_since(client: TestClient) -> None:
    headers = {"If-None-Match": '"other"', "If-Modified-Since": formatdate(MTIME, usegmt=True)}
    assert (await client.get("/data.bin", headers=headers)).status == 200


async def test_if_match_and_if_unmodified_since(client: TestClient, files: Path) -> None:
    etag, _ = validators(files)
    assert (await client.get("/data.bin", headers={"If-Match": etag})).status == 200
    assert (await client.get("/data.bin", headers={"If-Match": '"other"'})).status == 412
    assert (await client.get("/data.bin", headers={"If-Match": f"W/{etag}"})).status == 412
    before = formatdate(MTIME - 60, usegmt=True)
    assert (await client.get("/data.bin", headers={"If-Unmodified-Since": before})).status == 412


async def test_if_range(client: TestClient, files: Path) -> None:
    etag, last_modified = validators(files)
    for validator in (etag, last_modified):
        hit = await client.get("/data.bin", headers={"Range": "bytes=0-3", "If-Range": validator})
        assert hit.status == 206
        assert await hit.read() == DATA[:4]
    for stale in ('"other"', f"W/{etag}", formatdate(MTIME - 1, usegmt=True)):
        miss = await client.get("/data.bin", headers={"Range": "bytes=0-3", "If-Range": stale})
        assert miss.status == 200
        assert await miss.read() == DATA


def test_parse_range_unit() -> None:
    assert parse_range("bytes=0-0", 10) == (0, 0)
    assert parse_range("bytes=-20", 10) == (0, 9)
    assert parse_range("bytes=0-", 0) is False
    assert parse_range("bytes=", 10) is None
    assert parse_range("bytes=-", 10) is None
    assert parse_range("bytes=1", 10) is None
