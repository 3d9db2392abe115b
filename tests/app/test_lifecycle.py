"""Lifecycle: startup/shutdown/cleanup order, cleanup contexts, failure unwinding."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sansketch.app import AppKey, Application
from sansketch.request import Request
from sansketch.response import Response
from sansketch.testing import TestClient

pytestmark = pytest.mark.anyio


def hook(log: list[str], name: str):  # type: ignore[no-untyped-def]
    async def run(app: Application) -> None:
        log.append(name)

    return run


def ctx(log: list[str], name: str, *, fail_enter: bool = False, fail_exit: bool = False):  # type: ignore[no-untyped-def]
    async def context(app: Application) -> AsyncIterator[None]:
        log.append(f"{name} enter")
        if fail_enter:
            raise RuntimeError(f"{name} failed to start")
        yield
        log.append(f"{name} exit")
        if fail_exit:
            raise RuntimeError(f"{name} failed to stop")

    return context


async def test_full_order_with_subapp() -> None:
    log: list[str] = []
    app = Application()
    app.cleanup_ctx.append(ctx(log, "ctx1"))
    app.cleanup_ctx.append(ctx(log, "ctx2"))
    app.on_startup.append(hook(log, "startup"))
    app.on_shutdown.append(hook(log, "shutdown"))
    app.on_cleanup.append(hook(log, "cleanup"))
    sub = Application()
    sub.cleanup_ctx.append(ctx(log, "sub ctx"))
    sub.on_startup.append(hook(log, "sub startup"))
    sub.on_shutdown.append(hook(log, "sub shutdown"))
    sub.on_cleanup.append(hook(log, "sub cleanup"))
    app.add_subapp("/sub", sub)

    async with TestClient(app):
        assert log == ["ctx1 enter", "ctx2 enter", "startup", "sub ctx enter", "sub startup"]
        log.clear()
    assert log == [
        "shutdown",
        "sub shutdown",
        "sub cleanup",
        "sub ctx exit",
        "cleanup",
        "ctx2 exit",
        "ctx1 exit",
    ]


async def test_failed_startup_unwinds_what_was_entered() -> None:
    log: list[str] = []
    app = Application()
    app.cleanup_ctx.append(ctx(log, "db"))
    app.cleanup_ctx.append(ctx(log, "cache"))
    app.cleanup_ctx.append(ctx(log, "broken", fail_enter=True))
    app.cleanup_ctx.append(ctx(log, "never"))
    app.on_cleanup.append(hook(log, "cleanup hook"))
    with pytest.raises(RuntimeError, match="broken failed to start"):
        async with TestClient(app):
            raise AssertionError("not reached")
    assert log == ["db enter", "cache enter", "broken enter", "cache exit", "db exit"]


async def test_failed_subapp_startup_unwinds_parent_and_started_siblings() -> None:
    log: list[str] = []
    app = Application()
    app.cleanup_ctx.append(ctx(log, "parent"))
    first = Application()
    first.cleanup_ctx.append(ctx(log, "first"))
    second = Application()
    second.on_startup.append(hook(log, "second startup"))
    second.cleanup_ctx.append(ctx(log, "second", fail_enter=True))
    app.add_subapp("/one", first)
    app.add_subapp("/two", second)
    with pytest.raises(RuntimeError, match="second failed to start"):
        await app.startup()
    assert log == ["parent enter", "first enter", "second enter", "first exit", "parent exit"]


async def test_on_startup_hook_failure_unwinds_contexts() -> None:
    log: list[str] = []

    async def bad(app: Application) -> None:
        raise ValueError("no config")

    app = Application()
    app.cleanup_ctx.append(ctx(log, "pool"))
    app.on_startup.append(bad)
    with pytest.raises(ValueError, match="no config"):
        await app.startup()
    assert log == ["pool enter", "pool exit"]


async def test_cleanup_runs_every_step_and_raises_the_first_error() -> None:
    log: list[str] = []

    async def bad_cleanup(app: Application) -> None:
        log.append("bad cleanup")
        raise OSError("disk gone")

    app = Application()
    app.cleanup_ctx.append(ctx(log, "a"))
    app.cleanup_ctx.append(ctx(log, "b", fail_exit=True))
    app.on_cleanup.append(bad_cleanup)
    await app.startup()
    with pytest.raises(OSError, match="disk gone"):
        await app.cleanup()
    assert log == ["a enter", "b enter", "bad cleanup", "b exit", "a exit"]


async def test_context_that_yields_twice_or_never_is_an_error() -> None:
    async def never(app: Application) -> AsyncIterator[None]:
        return
        yield  # pragma: no cover

    app = Application()
    app.cleanup_ctx.append(never)
    with pytest.raises(RuntimeError, match="did not yield"):
        await app.startup()

    async def twice(app: Application) -> AsyncIterator[None]:
        yield
        yield

    app = Application()
    app.cleanup_ctx.append(twice)
    await app.startup()
    with pytest.raises(RuntimeError, match="more than once"):
        await app.cleanup()


async def test_hooks_and_routes_are_frozen_after_startup() -> None:
    async def handler(request: Request) -> Response:
        return Response(text="x")

    app = Application()
    app.router.add_get("/", handler)
    async with TestClient(app):
        assert app.frozen
        with pytest.raises(RuntimeError):
            app.router.add_get("/late", handler)
        with pytest.raises(RuntimeError):
            app.on_startup.append(hook([], "late"))
        with pytest.raises(RuntimeError):
            app.cleanup_ctx.append(ctx([], "late"))
        with pytest.raises(RuntimeError):
            app.add_subapp("/late", Application())


async def test_cleanup_context_state_is_visible_to_handlers() -> None:
    pool_key = AppKey("pool", list[str])

    async def pool(app: Application) -> AsyncIterator[None]:
        app[pool_key] = ["conn"]
        yield
        app[pool_key].clear()

    async def handler(request: Request) -> Response:
        return Response(text=",".join(request.app[pool_key]))

    app = Application()
    app.cleanup_ctx.append(pool)
    app.router.add_get("/", handler)
    async with TestClient(app) as client:
        assert await (await client.get("/")).text() == "conn"
    assert app[pool_key] == []


async def test_response_prepare_signal_can_edit_headers() -> None:
    async def add_header(request: Request, response: object) -> None:
        assert hasattr(response, "headers")
        response.headers["X-Prepared"] = request.method

    async def handler(request: Request) -> Response:
        return Response(text="x")

    app = Application()
    app.on_response_prepare.append(add_header)
    app.router.add_get("/", handler)
    async with TestClient(app) as client:
        assert (await client.get("/")).headers["X-Prepared"] == "GET"
        # Error responses are prepared too.
        assert (await client.get("/nope")).headers["X-Prepared"] == "GET"


async def test_response_subclass_overriding_prepare_or_write_eof_is_honoured() -> None:
    # The server finishes a plain Response without awaiting prepare and
    # write_eof; a subclass that changes either must still have it called.
    calls: list[str] = []

    class Stamped(Response):
        async def prepare(self, request: Request) -> None:
            calls.append("prepare")
            self.headers["X-Stamp"] = "1"
            await super().prepare(request)

    class Counted(Response):
        async def write_eof(self, data: bytes = b"", *, trailers: object = None) -> None:
            calls.append("write_eof")
            await super().write_eof()

    async def stamped(request: Request) -> Response:
        return Stamped(text="s")

    async def counted(request: Request) -> Response:
        return Counted(text="c")

    async def plain(request: Request) -> Response:
        return Response(text="p")

    app = Application()
    app.router.add_get("/stamped", stamped)
    app.router.add_get("/counted", counted)
    app.router.add_get("/plain", plain)
    async with TestClient(app) as client:
        reply = await client.get("/stamped")
        assert reply.headers["X-Stamp"] == "1" and await reply.text() == "s"
        assert await (await client.get("/counted")).text() == "c"
        assert await (await client.get("/plain")).text() == "p"
    assert calls == ["prepare", "write_eof"]
