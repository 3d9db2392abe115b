"""The application's fast paths answer exactly as the general ones do.

Plain paths are found by the raw target and method token in one table built
at freeze; everything else goes through ``Router.resolve``. Responses keep
their headers unbuilt until touched. These tests pin both to the general
behaviour.
"""

from __future__ import annotations

import json

import pytest

from sansketch.app import Application
from sansketch.request import Request
from sansketch.response import Response, StreamResponse, json_response
from sansketch.router import Handler, Router
from sansketch.testing import TestClient


def answer(label: str) -> Handler:
    async def handler(request: Request) -> StreamResponse:
        params = ",".join(f"{k}={v}" for k, v in request.match_info.items())
        return Response(text=f"{label} {request.method} {request.query_string} {params}".strip())

    return handler


def dispatch_app() -> Application:
    sub = Application()
    sub.router.add_get("/inner", answer("sub-inner"))

    async def tag(request: Request, handler: Handler) -> StreamResponse:
        response = await handler(request)
        response.headers["X-Sub"] = "yes"
        return response

    sub.middlewares.append(tag)

    app = Application()
    app.router.add_get("/", answer("root"))
    app.router.add_get("/a", answer("a"))
    app.router.add_post("/a", answer("a-post"))
    app.router.add_route("*", "/any", answer("any"))
    # Two resources with one path: the second answers what the first lacks.
    app.router.add_get("/twice", answer("first"))
    app.router.add_get("/x", answer("x"))
    app.router.add_put("/twice", answer("second"))
    app.router.add_get("/caf\u00e9", answer("cafe"))
    app.router.add_get("/user/{name}", answer("user"))
    app.router.add_get("/%41b", answer("escaped"))
    app.add_subapp("/sub", sub)
    return app


def test_static_table_entries_are_resolve_hits() -> None:
    app = dispatch_app()
    app.freeze()
    router: Router = app.router
    table = app._static_routes
    # "*" answers any method and "%" needs decoding: only resolve knows those.
    assert set(table) == {b"/", b"/a", b"/twice", b"/x", b"/caf\xc3\xa9", b"/sub/inner"}
    assert set(table[b"/a"]) == {b"GET", b"HEAD", b"POST"}
    assert set(table[b"/twice"]) == {b"GET", b"HEAD", b"PUT"}
    for target, by_method in table.items():
        for method, route in by_method.items():
            found = router.resolve(method.decode(), target.decode())
            assert found.route is route
            assert found.status == 200
            assert len(found) == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "target", "status", "body"),
    [
        ("GET", "/", 200, "root GET"),
        ("GET", "/a", 200, "a GET"),
        ("GET", "/a?x=1&y", 200, "a GET x=1&y"),
        ("GET", "/a?", 200, "a GET"),
        ("POST", "/a?q", 200, "a-post POST q"),
        ("HEAD", "/a", 200, ""),
        # Percent-encoded form of a plain path: found by the general path.
        ("GET", "/%61", 200, "a GET"),
        ("GET", "/caf%C3%A9", 200, "cafe GET"),
        ("PATCH", "/any?z", 200, "any PATCH z"),
        ("PUT", "/twice", 200, "second PUT"),
        ("GET", "/twice", 200, "first GET"),
        ("DELETE", "/a", 405, None),
        ("GET", "/user/bob?k=v", 200, "user GET k=v name=bob"),
        # A '%' in a registered path is literal: the client sends "%25".
        ("GET", "/%2541b", 200, "escaped GET"),
        ("GET", "/%41b", 404, None),
        ("GET", "/Ab", 404, None),
        ("GET", "/A", 404, None),
        ("GET", "/a/", 404, None),
        ("GET", "/sub/inner?s", 200, "sub-inner GET s"),
    ],
)
async def test_fast_and_general_paths_agree(
    method: str, target: str, status: int, body: str | None
) -> None:
    async with TestClient(dispatch_app()) as client:
        resp = await client.request(method, target)
        text = await resp.text()
    assert resp.status == status
    if body is not None:
        assert text == body
    if status == 405:
        assert set(resp.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST", "OPTIONS"}
    if target.startswith("/sub/"):
        assert resp.headers["X-Sub"] == "yes"


@pytest.mark.anyio
async def test_fast_path_errors_are_handled_like_the_general_path() -> None:
    async def wrong(request: Request) -> Response:
        return "not a response"  # type: ignore[return-value]

    async def crash(request: Request) -> Response:
        raise RuntimeError("boom")

    app = Application()
    app.router.add_get("/wrong", wrong)
    app.router.add_get("/crash", crash)
    app.router.add_get("/wrong/{x}", wrong)
    async with TestClient(app) as client:
        for target in ("/wrong", "/crash", "/wrong/1"):
            resp = await client.get(target)
            assert resp.status == 500
            assert await resp.text() == "500 Internal Server Error"


# -- lazy response headers ---------------------------------------------------------


def test_text_response_headers_appear_when_touched() -> None:
    resp = Response(text="hi")
    assert resp.content_type == "text/plain"
    assert resp.charset == "utf-8"
    assert resp.content_length == 2
    assert dict(resp.headers) == {"Content-Type": "text/plain; charset=utf-8"}
    resp.headers["X-A"] = "1"
    resp.charset = "latin-1"
    assert list(resp.headers.items()) == [
        ("Content-Type", "text/plain; charset=latin-1"),
        ("X-A", "1"),
    ]


def test_content_type_set_before_headers_are_built() -> None:
    resp = Response(body=b"{}", content_type="application/json")
    resp.content_type = "application/problem+json"
    assert resp.headers["Content-Type"] == "application/problem+json"
    empty = Response()
    assert empty.content_type == "application/octet-stream"
    assert empty.charset is None
    assert len(empty.headers) == 0
    assert json_response([1]).headers["Content-Type"] == "application/json"


@pytest.mark.anyio
async def test_headers_touched_after_construction_are_sent() -> None:
    async def handler(request: Request) -> Response:
        resp = Response(text="hi")
        resp.headers["X-Late"] = "1"
        resp.set_cookie("c", "v")
        return resp

    async def odd_type(request: Request) -> Response:
        return Response(text="<b>", content_type="text/x-custom")

    app = Application()
    app.router.add_get("/", handler)
    app.router.add_get("/odd", odd_type)
    async with TestClient(app) as client:
        resp = await client.get("/")
        assert resp.headers["X-Late"] == "1"
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert resp.headers["Set-Cookie"].startswith("c=v")
        odd = await client.get("/odd")
        assert odd.headers["Content-Type"] == "text/x-custom; charset=utf-8"
        assert await odd.text() == "<b>"


# -- json_response's default serialiser ---------------------------------------------


class Tagged(str):
    pass


@pytest.mark.parametrize(
    "data",
    [
        {"message": "Hello, World!"},
        [1, 2.5, -0.0, 10**30, None, True, False],
        {"nested": {"list": [{"a": ()}], "é": "ü\n\u2028\x00"}},
        {1: "int key", 2.5: "float key", None: "none", False: "bool"},
        "top-level string",
        Tagged("str subclass"),
        float("nan"),
        float("-inf"),
        3,
        None,
    ],
)
def test_json_response_serialises_as_json_dumps(data: object) -> None:
    assert json_response(data).body == json.dumps(data).encode("utf-8")


def test_json_response_errors_as_json_dumps() -> None:
    circular: list[object] = []
    circular.append(circular)
    bad = {"ok": 1, "bad": object()}
    for data in (circular, bad):
        with pytest.raises((ValueError, TypeError)) as ours:
            json_response(data)
        with pytest.raises((ValueError, TypeError)) as theirs:
            json.dumps(data)
        assert type(ours.value) is type(theirs.value)
        assert str(ours.value) == str(theirs.value)
    # An error leaves nothing behind: the same objects serialise afterwards.
    del bad["bad"]
    circular.clear()
    assert json_response(bad).body == b'{"ok": 1}'
    assert json_response([circular, circular]).body == b"[[], []]"
