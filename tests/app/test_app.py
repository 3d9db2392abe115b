"""The application: errors without leaks, typed state, sub-applications."""

from __future__ import annotations

import logging

import pytest

from sansketch.app import AppKey, Application, NotAppKeyWarning
from sansketch.exceptions import HTTPFound
from sansketch.request import Request
from sansketch.response import Response, StreamResponse
from sansketch.router import Handler
from sansketch.testing import TestClient

SECRET = "s3cr3t-detail-from-/etc/app/config.py"


async def crash(request: Request) -> Response:
    raise RuntimeError(SECRET)


def crashing_app(*, debug: bool) -> Application:
    app = Application(debug=debug)
    app.router.add_get("/crash", crash)
    return app


# -- errors ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_uncaught_exception_is_a_bare_500_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="sansketch.app")
    async with TestClient(crashing_app(debug=False)) as client:
        resp = await client.get("/crash")
        body = await resp.text()
    assert resp.status == 500
    assert body == "500 Internal Server Error"
    raw = "".join(f"{k}: {v}" for k, v in resp.headers.items()) + body
    for leak in (SECRET, "Traceback", "RuntimeError", ".py", "crash"):
        assert leak not in raw
    # The server side keeps the whole story.
    [record] = [r for r in caplog.records if r.name == "sansketch.app"]
    assert record.exc_info is not None
    assert SECRET in str(record.exc_info[1])
    assert "/crash" in record.getMessage()


@pytest.mark.anyio
async def test_debug_mode_shows_the_traceback() -> None:
    async with TestClient(crashing_app(debug=True)) as client:
        resp = await client.get("/crash")
        body = await resp.text()
    assert resp.status == 500
    assert "Traceback" in body
    assert SECRET in body
    assert "in crash" in body


@pytest.mark.anyio
async def test_handler_returning_a_non_response_is_a_500() -> None:
    async def bad(request: Request) -> Response:
        return "not a response"  # type: ignore[return-value]

    app = Application()
    app.router.add_get("/", bad)
    async with TestClient(app) as client:
        resp = await client.get("/")
        assert resp.status == 500
        assert await resp.text() == "500 Internal Server Error"


@pytest.mark.anyio
async def test_http_exceptions_can_be_raised_or_returned() -> None:
    async def raising(request: Request) -> Response:
        raise HTTPFound("/elsewhere")

    async def returning(request: Request) -> Response:
        return HTTPFound("/there")

    app = Application()
    app.router.add_get("/r", raising)
    app.router.add_get("/t", returning)
    async with TestClient(app) as client:
        resp = await client.get("/r")
        assert (resp.status, resp.headers["Location"]) == (302, "/elsewhere")
        resp = await client.get("/t")
        assert (resp.status, resp.headers["Location"]) == (302, "/there")


# -- state -----------------------------------------------------------------------


def test_app_key_state_is_typed_and_identity_based() -> None:
    app = Application()
    counter = AppKey("counter", int)
    other_counter = AppKey("counter", int)
    app[counter] = 1
    assert app[counter] == 1
    assert other_counter not in app
    assert app.get(other_counter) is None
    assert app.get(other_counter, 5) == 5
    del app[counter]
    assert len(app) == 0
    assert bool(app)  # an application is truthy even without state
    assert "counter" in repr(counter)


def test_string_keys_work_but_warn() -> None:
    app = Application()
    with pytest.warns(NotAppKeyWarning, match="AppKey"):
        app["plain"] = 1
    assert app["plain"] == 1
    assert list(app) == ["plain"]


def test_applications_compare_by_identity() -> None:
    a, b = Application(), Application()
    assert a != b
    assert len({a, b}) == 2


# -- sub-applications --------------------------------------------------------------


def tagging(tag: str, log: list[str]):  # type: ignore[no-untyped-def]
    async def middleware(request: Request, handler: Handler) -> StreamResponse:
        log.append(tag)
        response = await handler(request)
        response.headers.add("X-Via", tag)
        return response

    return middleware


def make_tree(log: list[str]) -> tuple[Application, Application]:
    async def home(request: Request) -> Response:
        return Response(text="home")

    async def admin_user(request: Request) -> Response:
        owner = "admin" if request.app is admin else "root"
        return Response(text=f"{owner}:{request.match_info['name']}")

    async def admin_index(request: Request) -> Response:
        url = request.app.router["user"].url_for(name="x y")
        return Response(text=str(url))

    app = Application(middlewares=[tagging("root", log)])
    app.router.add_get("/", home)
    admin = Application(middlewares=[tagging("admin", log)])
    admin.router.add_get("/", admin_index)
    admin.router.add_get("/users/{name}", admin_user, name="user")
    app.add_subapp("/admin/", admin)
    return app, admin


@pytest.mark.anyio
async def test_subapp_routes_middlewares_and_url_for() -> None:
    log: list[str] = []
    app, admin = make_tree(log)
    async with TestClient(app) as client:
        resp = await client.get("/admin/users/bob")
        assert await resp.text() == "admin:bob"
        assert resp.headers.getall("X-Via") == ["admin", "root"]
        assert log == ["root", "admin"]
        log.clear()

        resp = await client.get("/")
        assert resp.headers.getall("X-Via") == ["root"]
        assert log == ["root"]

        resp = await client.get("/admin/")
        assert await resp.text() == "/admin/users/x%20y"

        # A miss under the prefix goes through the sub-app's middlewares too.
        log.clear()
        resp = await client.get("/admin/nothing")
        assert resp.status == 404
        assert log == ["root", "admin"]
        log.clear()
        resp = await client.get("/administrator")
        assert resp.status == 404
        assert log == ["root"]
    assert str(admin.router.url_for("user", name="a/b")) == "/admin/users/a%2Fb"


def test_subapp_rules() -> None:
    app = Application()
    sub = Application()
    with pytest.raises(ValueError, match="prefix"):
        app.add_subapp("admin", sub)
    with pytest.raises(ValueError, match="prefix"):
        app.add_subapp("/{x}", sub)
    with pytest.raises(ValueError, match="itself"):
        app.add_subapp("/self", app)
    app.add_subapp("/sub", sub)
    with pytest.raises(RuntimeError, match="already"):
        Application().add_subapp("/again", sub)
    with pytest.raises(RuntimeError, match="frozen"):
        sub.router.add_get("/late", crash)


@pytest.mark.anyio
async def test_nested_subapps() -> None:
    async def leaf(request: Request) -> Response:
        return Response(text=f"leaf {request.match_info['id']}")

    root, middle, inner = Application(), Application(), Application()
    inner.router.add_get("/items/{id:\\d+}", leaf, name="item")
    middle.add_subapp("/b", inner)
    root.add_subapp("/a", middle)
    async with TestClient(root) as client:
        assert await (await client.get("/a/b/items/7")).text() == "leaf 7"
        assert (await client.get("/b/items/7")).status == 404
    assert str(inner.router.url_for("item", id=7)) == "/a/b/items/7"
