"""Static files: served when inside the directory, never when outside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sansketch.app import Application
from sansketch.static import safe_relative_parts
from sansketch.testing import TestClient

pytestmark = pytest.mark.anyio

SECRET = b"TOP-SECRET-CONTENT"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """public/ (served) next to secret.txt (not served)."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "public-evil").mkdir()
    (tmp_path / "public-evil" / "x.txt").write_bytes(SECRET)
    public = tmp_path / "public"
    public.mkdir()
    (public / "index.txt").write_bytes(b"hello static")
    (public / "sub").mkdir()
    (public / "sub" / "a.txt").write_bytes(b"in sub")
    (public / "<b>&.txt").write_bytes(b"odd name")
    os.symlink(tmp_path / "secret.txt", public / "link-out")
    os.symlink(tmp_path, public / "dir-out")
    os.symlink(public / "index.txt", public / "alias.txt")
    return tmp_path


def static_app(tree: Path, **kwargs: bool) -> Application:
    app = Application()
    app.router.add_static("/static", tree / "public", name="static", **kwargs)
    return app


HOSTILE_TARGETS = [
    b"/static/../secret.txt",
    b"/static/%2e%2e/secret.txt",
    b"/static/%2E%2E%2Fsecret.txt",
    b"/static/..%2fsecret.txt",
    b"/static/..%5csecret.txt",
    b"/static/.%2e/secret.txt",
    b"/static/sub/../../secret.txt",
    b"/static/sub/%2e%2e/%2e%2e/secret.txt",
    b"/static/sub/..%2F..%2Fsecret.txt",
    b"/static/%2fetc%2fpasswd",
    b"/static//etc/passwd",
    b"/static/%00../secret.txt",
    b"/static/index.txt%00.png",
    b"/static/C:/Windows/win.ini",
    b"/static/C%3A%5CWindows%5Cwin.ini",
    b"/static/link-out",
    b"/static/dir-out/secret.txt",
    b"/static/%252e%252e/secret.txt",
    b"/static/%c0%ae%c0%ae/secret.txt",
    b"/static/..%c0%afsecret.txt",
    b"/static/../public-evil/x.txt",
    b"/static/./../secret.txt",
    b"/static/sub/./../../secret.txt",
    b"/static/%2e%2e%5c%2e%2e%5csecret.txt",
    b"http://x/static/../secret.txt",
]


@pytest.mark.parametrize("target", HOSTILE_TARGETS)
async def test_hostile_paths_are_refused(tree: Path, target: bytes) -> None:
    async with TestClient(static_app(tree)) as client:
        raw = await client.send_raw(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    status = int(raw.split(b" ", 2)[1])
    assert status in (400, 403, 404), raw[:200]
    assert SECRET not in raw
    assert b"root:" not in raw


@pytest.mark.parametrize("target", [b"/static/dir-out/secret.txt", b"/static/link-out"])
async def test_follow_symlinks_is_an_explicit_opt_in(tree: Path, target: bytes) -> None:
    async with TestClient(static_app(tree, follow_symlinks=True)) as client:
        raw = await client.send_raw(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert raw.endswith(SECRET)
    # Even then, '..' never walks out.
    async with TestClient(static_app(tree, follow_symlinks=True)) as client:
        raw = await client.send_raw(b"GET /static/../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    assert SECRET not in raw


async def test_files_inside_are_served(tree: Path) -> None:
    async with TestClient(static_app(tree)) as client:
        resp = await client.get("/static/index.txt")
        assert resp.status == 200
        assert await resp.read() == b"hello static"
        assert resp.headers["Content-Type"].startswith("text/plain")
        resp = await client.get("/static/sub/a.txt")
        assert await resp.read() == b"in sub"
        # A symlink that stays inside the directory is fine.
        resp = await client.get("/static/alias.txt")
        assert await resp.read() == b"hello static"
        resp = await client.get("/static/%3Cb%3E%26.txt")
        assert await resp.read() == b"odd name"
        resp = await client.request("HEAD", "/static/index.txt")
        assert resp.status == 200
        assert await resp.read() == b""
        assert resp.headers["Content-Length"] == "12"
        resp = await client.post("/static/index.txt")
        assert resp.status == 405
        assert (await client.get("/static/missing.txt")).status == 404


async def test_directories_are_forbidden_without_show_index(tree: Path) -> None:
    async with TestClient(static_app(tree)) as client:
        assert (await client.get("/static/")).status == 403
        assert (await client.get("/static/sub")).status == 403
        assert (await client.get("/static/sub/")).status == 403


async def test_show_index_lists_and_escapes_names(tree: Path) -> None:
    async with TestClient(static_app(tree, show_index=True)) as client:
        resp = await client.get("/static/")
        body = await resp.text()
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    assert 'href="/static/index.txt"' in body
    assert 'href="/static/sub"' in body
    assert "&lt;b&gt;&amp;.txt" in body
    assert "<b>&" not in body


def test_static_url_for_and_bad_directory(tree: Path) -> None:
    app = static_app(tree)
    assert str(app.router.url_for("static", filename="sub/a b.txt")) == "/static/sub/a%20b.txt"
    with pytest.raises(ValueError, match="inside"):
        app.router.url_for("static", filename="../secret.txt")
    with pytest.raises(ValueError, match="does not exist"):
        Application().router.add_static("/s", tree / "nope")
    with pytest.raises(ValueError, match="not a directory"):
        Application().router.add_static("/s", tree / "secret.txt")


@pytest.mark.parametrize(
    ("tail", "parts"),
    [
        ("a/b.txt", ["a", "b.txt"]),
        ("dir/", ["dir"]),
        ("", []),
        ("../x", None),
        ("a/./b", None),
        ("a//b", None),
        ("/etc/passwd", None),
        ("a\\b", None),
        ("c:x", None),
        ("a\x00b", None),
        ("a\nb", None),
    ],
)
def test_safe_relative_parts(tail: str, parts: list[str] | None) -> None:
    assert safe_relative_parts(tail) == parts
