"""Middlewares: order, HTTP exceptions seen as responses, composition once."""

from __future__ import annotations

import pytest

from sansketch.app import Application
from sansketch.exceptions import HTTPForbidden, HTTPNotFound, HTTPTooManyRequests
from sansketch.request import Request
from sansketch.response import Response, StreamResponse
from sansketch.router import Handler
from sansketch.testing import TestClient

pytestmark = pytest.mark.anyio


def tracing(tag: str, log: list[str]):  # type: ignore[no-untyped-def]
    async def middleware(request: Request, handler: Handler) -> StreamResponse:
        log.append(f"{tag} in")
        response = await handler(request)
        log.append(f"{tag} out {response.status}")
        response.headers.add("X-Trace", tag)
        return response

    return middleware


async def test_first_middleware_is_outermost() -> None:
    log: list[str] = []

    async def handler(request: Request) -> Response:
        log.append("handler")
        return Response(text="ok")

    app = Application(middlewares=[tracing("a", log), tracing("b", log)])
    app.middlewares.append(tracing("c", log))
    app.router.add_get("/", handler)
    async with TestClient(app) as client:
        resp = await client.get("/")
    assert resp.status == 200
    assert log == ["a in", "b in", "c in", "handler", "c out 200", "b out 200", "a out 200"]
    assert resp.headers.getall("X-Trace") == ["c", "b", "a"]


async def test_raised_http_exception_reaches_middleware_as_a_response() -> None:
    seen: list[object] = []

    async def handler(request: Request) -> Response:
        raise HTTPNotFound(text="gone fishing")

    async def replace_404(request: Request, handler: Handler) -> StreamResponse:
        response = await handler(request)  # does not raise
        seen.append(response)
        if response.status == 404:
            return Response(status=404, text="custom not found")
        return response

    app = Application(middlewares=[replace_404])
    app.router.add_get("/", handler)
    async with TestClient(app) as client:
        resp = await client.get("/")
        assert resp.status == 404
        assert await resp.text() == "custom not found"
        # Router misses go through the same middlewares.
        resp = await client.get("/missing")
        assert await resp.text() == "custom not found"
        resp = await client.post("/")
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert isinstance(seen[0], HTTPNotFound)


async def test_exception_raised_by_an_inner_middleware_is_a_response_outside() -> None:
    statuses: list[int] = []

    async def outer(request: Request, handler: Handler) -> StreamResponse:
        response = await handler(request)
        statuses.append(response.status)
        return response

    async def guard(request: Request, handler: Handler) -> StreamResponse:
        if request.headers.get("X-Token") != "secret":
            raise HTTPForbidden()
        return await handler(request)

    async def handler(request: Request) -> Response:
        return Response(text="in")

    app = Application(middlewares=[outer, guard])
    app.router.add_get("/", handler)
    async with TestClient(app) as client:
        assert (await client.get("/")).status == 403
        resp = await client.get("/", headers={"X-Token": "secret"})
        assert await resp.text() == "in"
    assert statuses == [403, 200]


async def test_middleware_may_short_circuit_and_return_exception() -> None:
    async def handler(request: Request) -> Response:
        raise AssertionError("never reached")

    async def limiter(request: Request, handler: Handler) -> StreamResponse:
        return HTTPTooManyRequests()

    app = Application(middlewares=[limiter])
    app.router.add_get("/", handler)
    async with TestClient(app) as client:
        assert (await client.get("/")).status == 429


async def test_middlewares_are_composed_once_at_startup() -> None:
    calls: list[str] = []

    async def handler(request: Request) -> Response:
        return Response(text="x")

    async def mw(request: Request, handler: Handler) -> StreamResponse:
        calls.append("mw")
        return await handler(request)

    app = Application(middlewares=[mw])
    [route, _] = app.router.add_get("/", handler)
    async with TestClient(app) as client:
        composed = route._composed
        assert composed is not handler
        for _ in range(3):
            await client.get("/")
        # The same composed callable serves every request.
        assert route._composed is composed
    assert calls == ["mw"] * 3
    with pytest.raises(RuntimeError, match="frozen"):
        app.middlewares.append(mw)


async def test_non_http_exception_propagates_through_middlewares() -> None:
    caught: list[BaseException] = []

    async def handler(request: Request) -> Response:
        raise KeyError("boom")

    async def catcher(request: Request, handler: Handler) -> StreamResponse:
        try:
            return await handler(request)
        except KeyError as exc:
            caught.append(exc)
            return Response(status=503, text="handled")

    app = Application(middlewares=[catcher])
    app.router.add_get("/", handler)
    async with TestClient(app) as client:
        resp = await client.get("/")
        assert resp.status == 503
        assert await resp.text() == "handled"
    assert len(caught) == 1


async def test_normalize_path_via_redirect_slashes() -> None:
    async def handler(request: Request) -> Response:
        return Response(text=request.path)

    app = Application(redirect_slashes=True)
    app.router.add_get("/docs/", handler)
    app.router.add_route("*", "/api", handler)
    async with TestClient(app) as client:
        resp = await client.get("/docs", params={"q": "1"})
        assert resp.status == 301
        assert resp.headers["Location"] == "/docs/?q=1"
        resp = await client.post("/api/", data=b"x")
        assert resp.status == 308
        assert resp.headers["Location"] == "/api"
        # Only when the other form exists.
        assert (await client.get("/nothing/")).status == 404
        # Never an open redirect: "//evil.com/" must not become "//evil.com".
        app_raw = await client.send_raw(b"GET //evil.com/ HTTP/1.1\r\nHost: x\r\n\r\n")
        assert app_raw.startswith(b"HTTP/1.1 404 ")
        assert b"evil.com" not in app_raw.lower().split(b"\r\n\r\n")[0]


async def test_redirect_never_targets_another_host() -> None:
    async def handler(request: Request) -> Response:
        return Response(text="caught-all")

    app = Application(redirect_slashes=True)
    app.router.add_get("/{anything:.*}/", handler)  # would accept "//evil.com/"
    async with TestClient(app) as client:
        for target in (b"//evil.com", b"/\\evil.com", b"///evil.com", b"//evil.com?x=/"):
            raw = await client.send_raw(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            head = raw.split(b"\r\n\r\n")[0].lower()
            assert b"location:" not in head, (target, head)
