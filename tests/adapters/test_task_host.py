"""TaskHost: coroutines started at once in a loop callback, as a real task."""

from __future__ import annotations

import asyncio
import contextvars
import sys
import warnings
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest

from sansketch.adapters import _task_host
from sansketch.adapters._task_host import TaskHost

LOOPS = ["asyncio"]
try:
    import uvloop

    LOOPS.append("uvloop")
except ImportError:  # pragma: no cover - uvloop is a dev dependency
    uvloop = None  # type: ignore[assignment]


@pytest.fixture(params=["current-task dict", "enter and leave"], autouse=True)
def current_task_switch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test both ways TaskHost can make its task the current one."""
    mode: str = request.param
    if mode == "enter and leave":
        monkeypatch.setattr(_task_host, "_current_tasks", None)
    elif _task_host._current_tasks is None:
        pytest.skip("this Python keeps no shared current-task dict")
    return mode


def test_the_shared_current_task_dict_is_used_where_python_has_one(
    current_task_switch: str,
) -> None:
    # CPython 3.10 to 3.13: asyncio's C and Python code share the dict.
    if current_task_switch != "current-task dict" or sys.version_info >= (3, 14):
        pytest.skip("checks the dict where this Python shares one")
    assert _task_host._current_tasks is asyncio.tasks._current_tasks  # type: ignore[attr-defined]


request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


@contextmanager
def warnings_as_errors() -> Iterator[None]:
    """Turn warnings (e.g. a coroutine never awaited) into failures."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def run(loop_name: str, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main`` on a fresh loop of the given kind, bounded in time."""
    loop = uvloop.new_event_loop() if loop_name == "uvloop" else asyncio.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(main(), 10))
    finally:
        loop.close()


async def in_callback(fn: Callable[[], Any]) -> Any:
    """Call ``fn`` from a plain loop callback (no task running) and return its result."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()

    def call() -> None:
        try:
            done.set_result(fn())
        except BaseException as exc:
            done.set_exception(exc)

    loop.call_soon(call)
    return await done


async def warm_host() -> TaskHost:
    """A host whose task has started (its first coroutine runs in that task)."""
    host = TaskHost(asyncio.get_running_loop())
    ran: list[object] = []

    async def first() -> None:
        ran.append(asyncio.current_task())

    task = await in_callback(lambda: host.start(first()))
    assert task is not None  # a new host: the coroutine starts in its task's first step
    for _ in range(10):
        if ran:
            break
        await asyncio.sleep(0)
    assert ran == [task]
    return host


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_coroutine_that_never_waits_finishes_inside_start_as_the_host_task(
    loop_name: str,
) -> None:
    seen: list[object] = []

    async def handler() -> None:
        seen.append(asyncio.current_task())

    async def main() -> None:
        host = await warm_host()
        assert await in_callback(lambda: host.start(handler())) is None
        assert len(seen) == 1 and isinstance(seen[0], asyncio.Task)
        # The host's own task, the same for the next coroutine.
        assert await in_callback(lambda: host.start(handler())) is None
        assert seen[1] is seen[0]
        assert asyncio.current_task() is not seen[0]
        host.close()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert seen[0].done()  # type: ignore[attr-defined]

    run(loop_name, main)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_coroutine_that_waits_goes_on_in_the_same_task_and_context(loop_name: str) -> None:
    trace: list[tuple[str, object, str]] = []

    async def handler(name: str) -> None:
        request_id.set(name)
        trace.append(("before", asyncio.current_task(), request_id.get()))
        await asyncio.sleep(0.01)
        trace.append(("after", asyncio.current_task(), request_id.get()))

    async def main() -> None:
        host = await warm_host()
        task = await in_callback(lambda: host.start(handler("a")))
        assert isinstance(task, asyncio.Task)
        assert [step for step, _, _ in trace] == ["before"]
        await asyncio.sleep(0.05)
        assert trace[1] == ("after", trace[0][1], "a")
        assert trace[0][1] is task
        # The next coroutine starts from a fresh context: "a" did not leak.
        names: list[str] = []

        async def reader() -> None:
            names.append(request_id.get())

        assert await in_callback(lambda: host.start(reader())) is None
        assert names == ["-"]
        assert request_id.get() == "-"
        host.close()

    run(loop_name, main)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is new in 3.11")
@pytest.mark.parametrize("loop_name", LOOPS)
def test_asyncio_timeout_and_anyio_scopes_work_in_the_first_step(loop_name: str) -> None:
    outcomes: list[str] = []

    async def with_asyncio_timeout() -> None:
        try:
            async with asyncio.timeout(0.01):  # type: ignore[attr-defined,unused-ignore]
                await asyncio.sleep(5)
        except TimeoutError:
            outcomes.append("asyncio timed out")

    async def with_anyio_scope() -> None:
        with anyio.move_on_after(0.01) as scope:
            await anyio.sleep(5)
        outcomes.append(f"anyio cancelled={scope.cancelled_caught}")

    async def quick_scope() -> None:
        with anyio.fail_after(5):
            outcomes.append("no wait")

    async def main() -> None:
        host = await warm_host()
        assert await in_callback(lambda: host.start(quick_scope())) is None
        task = await in_callback(lambda: host.start(with_asyncio_timeout()))
        while not outcomes[1:]:
            await asyncio.sleep(0.01)
        task = await in_callback(lambda: host.start(with_anyio_scope()))
        assert task is not None
        while not outcomes[2:]:
            await asyncio.sleep(0.01)
        host.close()

    run(loop_name, main)
    assert outcomes == ["no wait", "asyncio timed out", "anyio cancelled=True"]


@pytest.mark.parametrize("loop_name", LOOPS)
@pytest.mark.parametrize("when", ["before the host's turn", "while waiting"])
def test_cancelling_the_returned_task_reaches_the_coroutine(loop_name: str, when: str) -> None:
    caught: list[str] = []

    async def handler() -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            caught.append("cancelled")
            raise

    async def follower() -> None:
        caught.append(f"next ran in a fresh task: {asyncio.current_task() is not first}")

    first: object = None

    async def main() -> None:
        nonlocal first
        host = await warm_host()

        def start_and_maybe_cancel() -> asyncio.Task[None] | None:
            task = host.start(handler())
            if when == "before the host's turn":
                assert task is not None
                task.cancel()
            return task

        task = await in_callback(start_and_maybe_cancel)
        assert task is not None
        first = task
        if when == "while waiting":
            await asyncio.sleep(0.01)
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert caught == ["cancelled"]
        # A cancelled host is not reused: its cancel count must not leak.
        fresh = await in_callback(lambda: host.start(follower()))
        assert fresh is not None and fresh is not first
        for _ in range(10):
            if caught[1:]:
                break
            await asyncio.sleep(0)
        host.close()

    run(loop_name, main)
    assert caught == ["cancelled", "next ran in a fresh task: True"]


@pytest.mark.parametrize("loop_name", LOOPS)
def test_started_from_inside_a_task_it_falls_back_to_a_task_of_its_own(loop_name: str) -> None:
    ran_in: list[object] = []

    async def handler() -> None:
        ran_in.append(asyncio.current_task())

    async def main() -> None:
        host = await warm_host()
        task = host.start(handler())  # called in main's task
        assert task is not None and not task.done()
        await task
        assert ran_in == [task]
        host.close()

    run(loop_name, main)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_close_ends_an_idle_host_and_refuses_new_work(loop_name: str) -> None:
    async def handler() -> None:
        pass

    async def main() -> None:
        others = asyncio.all_tasks()
        host = await warm_host()
        assert await in_callback(lambda: host.start(handler())) is None
        hosts = asyncio.all_tasks() - others
        assert len(hosts) == 1
        host.close()
        for _ in range(5):
            await asyncio.sleep(0)
        assert all(t.done() for t in hosts)
        coro = handler()
        with pytest.raises(RuntimeError, match="closed"):
            host.start(coro)
        coro.close()

    run(loop_name, main)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_new_host_cancelled_before_its_first_step_closes_the_unstarted_coroutine(
    loop_name: str,
) -> None:
    ran: list[str] = []

    async def handler() -> None:
        ran.append("ran")

    async def main() -> None:
        host = TaskHost(asyncio.get_running_loop())
        coro = handler()

        def start_and_cancel() -> asyncio.Task[None] | None:
            task = host.start(coro)
            assert task is not None
            task.cancel()
            return task

        task = await in_callback(start_and_cancel)
        assert task is not None
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        assert coro.cr_frame is None  # closed, never run: no "never awaited" warning
        host.close()

    with warnings_as_errors():
        run(loop_name, main)
    assert ran == []
