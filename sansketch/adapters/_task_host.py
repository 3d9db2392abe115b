"""Run a coroutine's first step at once, inside a protocol callback.

Most handlers answer without ever waiting: creating an ``asyncio.Task`` for
each of them, scheduling it and coming back to it on the next turn of the
loop costs more than the handler itself. A ``TaskHost`` is one long-lived
task per connection that lends itself to the coroutines the connection
starts: ``start(coro)`` runs the first step right away with the host as the
current task (so ``asyncio.current_task()``, ``asyncio.timeout`` and anyio's
cancel scopes work as in any task) and in a fresh ``contextvars`` context.
A coroutine that finishes in that step never touches the loop; one that
suspends is handed to the host task, which runs the rest of it exactly as
its own task would, step by step in the same context.

This is what ``asyncio.eager_task_factory`` does on Python 3.12 and later,
for every supported Python, without a task per coroutine. One coroutine
runs at a time per host (the connection answers its requests in order).
"""

from __future__ import annotations

import asyncio
import contextvars
import types
from collections.abc import Coroutine, Generator
from typing import Any

# Entering and leaving the current task is how asyncio's own task steps
# (and 3.12's eager tasks) make current_task() right; these have existed
# with this meaning since Python 3.7.
_enter_task = asyncio.tasks._enter_task
_leave_task = asyncio.tasks._leave_task

# Python 3.10 to 3.13 keep each loop's current task in one dict, shared by
# asyncio's C and Python code; setting and deleting its entry is what
# _enter_task and _leave_task do, at a third of the cost of calling them.
# Where it is not that shared dict, the functions are called.
_current_tasks: dict[asyncio.AbstractEventLoop, asyncio.Task[Any]] | None = getattr(
    asyncio.tasks, "_current_tasks", None
)
try:
    import _asyncio

    if _current_tasks is not getattr(_asyncio, "_current_tasks", None):
        _current_tasks = None
except ImportError:  # no C accelerator: the Python functions use the dict
    pass

# What ``next(coro.__await__(), FINISHED)`` returns once a native coroutine
# has returned: that runs it one step like ``coro.send(None)``, but a
# coroutine that ends raises no StopIteration (none is even made).
FINISHED = object()

# The step of a handed-over coroutine that has not run yet.
_NOT_STARTED = object()

_Job = tuple[contextvars.Context, Coroutine[Any, Any, None], Any, BaseException | None]


class TaskHost:
    """One task that runs, in turn, the coroutines started through it."""

    __slots__ = ("_closed", "_job", "_loop", "_task", "_wake")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._job: _Job | None = None
        self._closed = False

    def start(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
        """Run ``coro`` up to its first suspension, now, as the host task.

        ``coro`` is a native coroutine (from an ``async def``). Returns the
        task that runs the rest of it, or ``None`` if it is already
        finished. Called from a loop callback (no task running); from
        inside a task it falls back to a task of its own.

        Raises:
            RuntimeError: the host was closed.
        """
        if self._closed:
            raise RuntimeError("the task host is closed")
        loop = self._loop
        task = self._task
        if task is None or task.done():
            # A new host task: the coroutine starts in the task's first step
            # (one trip through the loop, once per host). Only a task that
            # has started can hand a cancellation on to its coroutine.
            task = self._task = loop.create_task(self._serve())
            task.add_done_callback(self._ended)
            self._job = (contextvars.copy_context(), coro, _NOT_STARTED, None)
            return task
        # Make the host the current task, as asyncio's own task steps do.
        current = _current_tasks
        if current is not None:
            if loop in current:
                # Another task is running (we were called from inside it).
                return loop.create_task(coro)
            current[loop] = task  # _enter_task, at a third of its cost
        else:
            try:
                _enter_task(loop, task)
            except RuntimeError:
                return loop.create_task(coro)
        context = contextvars.copy_context()
        try:
            step = context.run(next, coro.__await__(), FINISHED)
        finally:
            if current is not None:
                del current[loop]  # _leave_task
            else:
                _leave_task(loop, task)
        if step is FINISHED:
            return None
        self._job = (context, coro, step, None)
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)
        return task

    def close(self) -> None:
        """End the host task once the coroutine it runs (if any) is done."""
        self._closed = True
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _ended(self, task: asyncio.Task[None]) -> None:
        job = self._job
        if job is not None and job[2] is _NOT_STARTED and task is self._task:
            # Cancelled before its first step: the coroutine never ran.
            self._job = None
            job[1].close()

    async def _serve(self) -> None:
        loop = self._loop
        while True:
            job = self._job
            if job is None:
                if self._closed:
                    return
                wake = self._wake = loop.create_future()
                try:
                    await wake
                except asyncio.CancelledError as exc:
                    # Cancelled between a hand-off and this task's turn: the
                    # cancellation is the handed-off coroutine's to receive.
                    job = self._job
                    if job is None:
                        raise
                    self._job = None
                    await finish_in_context(job[0], job[1], None, exc)
                    return  # a cancelled host is not reused
                continue
            self._job = None
            context, coro, step, _ = job
            if step is _NOT_STARTED:
                try:
                    step = context.run(coro.send, None)
                except StopIteration:
                    continue
            cancelled = await finish_in_context(context, coro, step, None)
            if cancelled:
                # Its cancellation count would leak into the next coroutine's
                # asyncio.timeout / anyio scopes; take a fresh task instead.
                return


@types.coroutine
def finish_in_context(
    context: contextvars.Context,
    coro: Coroutine[Any, Any, None],
    step: Any,
    error: BaseException | None = None,
) -> Generator[Any, Any, bool]:
    """Drive ``coro`` (suspended at ``step``) to its end, each step in ``context``.

    ``await`` it in the task that is to run the rest of ``coro``; with
    ``error``, that is thrown in first instead of waiting on ``step``.
    Returns whether a cancellation was thrown into it.
    """
    cancelled = False
    while True:
        if error is None:
            try:
                value = yield step
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # thrown into the task: a cancellation
                error = exc
                continue
            try:
                step = context.run(coro.send, value)
            except StopIteration:
                return cancelled
        else:
            cancelled = cancelled or isinstance(error, asyncio.CancelledError)
            thrown, error = error, None
            try:
                step = context.run(coro.throw, thrown)
            except StopIteration:
                return cancelled
