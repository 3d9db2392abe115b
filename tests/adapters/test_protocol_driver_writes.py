"""How the asyncio Protocol driver writes responses: pipelined bursts coalesce.

``HttpProtocol`` runs against a fake transport that records each
``transport.write``, on the stdlib loop and on uvloop: responses to
pipelined requests answered without suspending go out in one write, in
order; a handler that waits never holds back the responses before it.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from sansketch._server import ConnectionSet, ServerConfig
from sansketch.adapters.asyncio_protocol import HttpProtocol, _State
from sansketch.app import Application
from sansketch.request import Request
from sansketch.response import Response, StreamResponse

LOOPS = ["asyncio", "uvloop"]


class FakeTransport:
    """Records writes; enough of ``asyncio.Transport`` for ``HttpProtocol``."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.reading = True

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.writes.append(bytes(data))

    @property
    def data(self) -> bytes:
        return b"".join(self.writes)

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = self.aborted = True


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Iterator[Callable[[Coroutine[Any, Any, None]], None]]:
    """Run a coroutine to completion on a fresh loop of each kind."""
    if request.param == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()


def make_app(big: int = 0) -> tuple[Application, dict[str, asyncio.Event]]:
    """``/n/{i}`` answers ``n{i}``; ``/wait`` waits for its event first."""
    app = Application()
    events: dict[str, asyncio.Event] = {}

    async def number(request: Request) -> Response:
        return Response(text="n" + request.match_info["i"])

    async def wait(request: Request) -> Response:
        await events["wait"].wait()
        return Response(text="waited")

    async def large(request: Request) -> Response:
        return Response(body=b"x" * big)

    async def stream(request: Request) -> StreamResponse:
        response = StreamResponse()
        await response.prepare(request)
        for part in (b"a", b"b", b"c"):
            await response.write(part)
        await response.write_eof()
        return response

    app.router.add_get("/n/{i}", number)
    app.router.add_get("/wait", wait)
    app.router.add_get("/large", large)
    app.router.add_get("/stream", stream)
    return app, events


def connect(app: Application) -> tuple[HttpProtocol, FakeTransport]:
    """A connected ``HttpProtocol`` on the running loop."""
    state = _State(app, ServerConfig(), ConnectionSet(), asyncio.get_running_loop())
    proto = HttpProtocol(state)
    transport = FakeTransport()
    proto.connection_made(transport)  # type: ignore[arg-type]
    return proto, transport


def get(path: str) -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n"


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition`` holds (bounded)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def bodies(data: bytes) -> list[bytes]:
    """The bodies of the Content-Length responses in ``data``, in order."""
    out = []
    for match in re.finditer(rb"HTTP/1\.1 200 OK\r\n(.*?)\r\n\r\n", data, re.S | re.I):
        length = int(re.search(rb"content-length: (\d+)", match.group(1), re.I).group(1))  # type: ignore[union-attr]
        out.append(data[match.end() : match.end() + length])
    return out


def test_pipelined_burst_is_one_write(run: Callable[..., None]) -> None:
    async def main() -> None:
        app, _ = make_app()
        proto, transport = connect(app)
        proto.data_received(b"".join(get(f"/n/{i}") for i in range(16)))
        await until(lambda: len(bodies(transport.data)) == 16)
        await until(lambda: proto._task is None)
        assert len(transport.writes) == 1
        assert bodies(transport.data) == [b"n%d" % i for i in range(16)]
        # The connection stays usable: a plain request afterwards.
        proto.data_received(get("/n/99"))
        await until(lambda: len(bodies(transport.data)) == 17)
        assert bodies(transport.writes[-1]) == [b"n99"]
        assert not transport.closed

    run(main())


def test_single_request_is_one_write(run: Callable[..., None]) -> None:
    async def main() -> None:
        app, _ = make_app()
        proto, transport = connect(app)
        for i in range(3):
            proto.data_received(get(f"/n/{i}"))
            await until(lambda n=i + 1: len(transport.writes) == n)
        assert [bodies(w) for w in transport.writes] == [[b"n0"], [b"n1"], [b"n2"]]

    run(main())


def test_waiting_handler_does_not_hold_back_earlier_responses(run: Callable[..., None]) -> None:
    async def main() -> None:
        app, events = make_app()
        events["wait"] = asyncio.Event()
        proto, transport = connect(app)
        proto.data_received(get("/n/1") + get("/n/2") + get("/wait") + get("/n/3"))
        # The two answered before /wait are on the wire while it waits.
        await until(lambda: len(bodies(transport.data)) == 2)
        for _ in range(20):
            await asyncio.sleep(0)
        assert bodies(transport.data) == [b"n1", b"n2"]
        events["wait"].set()
        await until(lambda: len(bodies(transport.data)) == 4)
        assert bodies(transport.data) == [b"n1", b"n2", b"waited", b"n3"]
        assert not transport.closed

    run(main())


def test_large_responses_are_flushed_as_they_grow(run: Callable[..., None]) -> None:
    big = 40_000

    async def main() -> None:
        app, _ = make_app(big)
        proto, transport = connect(app)
        proto.data_received(get("/large") * 5)
        await until(lambda: len(bodies(transport.data)) == 5)
        assert bodies(transport.data) == [b"x" * big] * 5
        # Held-back bytes stay bounded: written once they pass 64 KiB.
        assert 2 <= len(transport.writes) < 5
        assert max(len(w) for w in transport.writes) < 64 * 1024 + big + 1024

    run(main())


def test_streamed_response_in_a_pipeline(run: Callable[..., None]) -> None:
    async def main() -> None:
        app, _ = make_app()
        proto, transport = connect(app)
        proto.data_received(get("/n/1") + get("/stream") + get("/n/2"))
        await until(lambda: transport.data.endswith(b"n2"))
        data = transport.data
        assert data.index(b"n1") < data.index(b"1\r\na\r\n") < data.index(b"0\r\n\r\n")
        assert data.index(b"0\r\n\r\n") < data.index(b"n2")
        assert len(transport.writes) == 1

    run(main())


def test_bad_request_after_good_ones_is_answered_in_order(run: Callable[..., None]) -> None:
    async def main() -> None:
        app, _ = make_app()
        proto, transport = connect(app)
        proto.data_received(get("/n/1") + get("/n/2") + b"GARBAGE\r\n\r\n")
        await until(lambda: transport.closed)
        data = transport.data
        assert bodies(data) == [b"n1", b"n2"]
        assert data.index(b"n2") < data.index(b"HTTP/1.1 400")
        assert not transport.aborted

    run(main())


def test_force_close_while_a_pipelined_handler_waits(run: Callable[..., None]) -> None:
    async def main() -> None:
        app, events = make_app()
        events["wait"] = asyncio.Event()
        proto, transport = connect(app)
        proto.data_received(get("/n/1") + get("/wait") + get("/n/2"))
        await until(lambda: len(bodies(transport.data)) == 1)
        task = proto._task
        assert task is not None
        proto.force_close()
        await until(task.done)
        assert transport.aborted
        assert bodies(transport.data) == [b"n1"]

    run(main())


_REQUEST_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("_REQUEST_VAR", default="unset")


def test_keep_alive_requests_do_not_share_context_variables(run: Callable[..., None]) -> None:
    # Each request on a keep-alive connection starts from the context the
    # connection started in: a value a handler sets does not reach the next.
    async def main() -> None:
        app = Application()

        async def remember(request: Request) -> Response:
            before = _REQUEST_VAR.get()
            _REQUEST_VAR.set(request.match_info["i"])
            return Response(text=before)

        app.router.add_get("/set/{i}", remember)
        proto, transport = connect(app)
        for i in range(3):
            proto.data_received(get(f"/set/{i}"))
            await until(lambda n=i + 1: len(bodies(transport.data)) == n)
        assert bodies(transport.data) == [b"unset"] * 3
        assert _REQUEST_VAR.get() == "unset"

    run(main())


def test_pipelined_requests_do_not_share_context_variables(run: Callable[..., None]) -> None:
    # Requests of one pipelined burst are answered in one task, yet each
    # starts from the connection's context, as if it had its own task.
    async def main() -> None:
        app = Application()

        async def remember(request: Request) -> Response:
            before = _REQUEST_VAR.get()
            _REQUEST_VAR.set(request.match_info["i"])
            return Response(text=before)

        app.router.add_get("/set/{i}", remember)
        proto, transport = connect(app)
        proto.data_received(b"".join(get(f"/set/{i}") for i in range(4)))
        await until(lambda: len(bodies(transport.data)) == 4)
        assert bodies(transport.data) == [b"unset"] * 4
        assert _REQUEST_VAR.get() == "unset"

    run(main())


def test_a_pipelined_handler_that_waits_keeps_its_own_context(run: Callable[..., None]) -> None:
    # Each step of a pipelined handler after its first runs in the same
    # context as the first: what it set before waiting is there after, and
    # what it sets after waiting does not reach the next request.
    async def main() -> None:
        app = Application()

        async def wait_and_remember(request: Request) -> Response:
            before = _REQUEST_VAR.get()
            _REQUEST_VAR.set("early-" + request.match_info["i"])
            await asyncio.sleep(0)
            early = _REQUEST_VAR.get()
            _REQUEST_VAR.set("late-" + request.match_info["i"])
            await asyncio.sleep(0)
            return Response(text=f"{before}/{early}/{_REQUEST_VAR.get()}")

        app.router.add_get("/w/{i}", wait_and_remember)
        proto, transport = connect(app)
        proto.data_received(b"".join(get(f"/w/{i}") for i in range(3)))
        await until(lambda: len(bodies(transport.data)) == 3)
        assert bodies(transport.data) == [b"unset/early-%d/late-%d" % (i, i) for i in range(3)]
        assert _REQUEST_VAR.get() == "unset"

    run(main())


# -- held to the end of the loop turn ------------------------------------------
async def delivered(proto: HttpProtocol, data: bytes, look: Callable[[], object]) -> object:
    """``data_received(data)`` as the loop calls it; what ``look()`` saw
    right after, in the same turn."""
    loop = asyncio.get_running_loop()
    seen: list[object] = []
    loop.call_soon(proto.data_received, data)
    loop.call_soon(lambda: seen.append(look()))
    await until(lambda: bool(seen))
    return seen[0]


async def started(proto: HttpProtocol, transport: FakeTransport) -> None:
    """Answer one request, which starts the connection's host task; forget it."""
    proto.data_received(get("/n/0"))
    await until(lambda: len(transport.writes) == 1)
    transport.writes.clear()


def test_responses_of_one_loop_turn_leave_together(run: Callable[..., None]) -> None:
    # Each connection's response waits for the end of the turn in which it
    # was answered, then all go out back to back, one write each.
    async def main() -> None:
        app, _ = make_app()
        connections = [connect(app) for _ in range(3)]
        for proto, transport in connections:
            await started(proto, transport)
        loop = asyncio.get_running_loop()
        seen: list[list[bytes]] = []
        # As the loop delivers reads: three callbacks in one turn, then a
        # look at the transports before the turn ends.
        for i, (proto, _transport) in enumerate(connections):
            loop.call_soon(proto.data_received, get(f"/n/{i}"))
        loop.call_soon(lambda: seen.extend(list(t.writes) for _, t in connections))
        await until(lambda: all(t.writes for _, t in connections))
        assert seen == [[], [], []]
        assert [bodies(b"".join(t.writes)) for _, t in connections] == [[b"n0"], [b"n1"], [b"n2"]]
        assert [len(t.writes) for _, t in connections] == [1, 1, 1]

    run(main())


def test_a_pipelined_burst_waits_for_the_end_of_the_turn(run: Callable[..., None]) -> None:
    async def main() -> None:
        app, _ = make_app()
        proto, transport = connect(app)
        await started(proto, transport)
        seen = await delivered(proto, get("/n/1") + get("/n/2"), lambda: list(transport.writes))
        assert seen == []
        await until(lambda: len(transport.writes) == 1)
        assert bodies(transport.data) == [b"n1", b"n2"]

    run(main())


def test_a_held_response_goes_out_before_the_close(run: Callable[..., None]) -> None:
    async def main() -> None:
        app, _ = make_app()
        proto, transport = connect(app)
        await started(proto, transport)
        close = b"GET /n/7 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        # Closed within the same turn, with the response written first.
        seen = await delivered(proto, close, lambda: (transport.closed, transport.data))
        assert seen == (True, transport.data)
        assert bodies(transport.data) == [b"n7"]
        assert not transport.aborted

    run(main())


def test_a_held_response_goes_out_before_a_later_write(run: Callable[..., None]) -> None:
    # A streamed response right behind a held one, on the same connection
    # and in the same turn: the held bytes are written first.
    async def main() -> None:
        app, _ = make_app()
        proto, transport = connect(app)
        await started(proto, transport)
        loop = asyncio.get_running_loop()
        loop.call_soon(proto.data_received, get("/n/1"))
        loop.call_soon(proto.data_received, get("/stream"))
        await until(lambda: transport.data.endswith(b"0\r\n\r\n"))
        data = transport.data
        assert bodies(data[: data.index(b"HTTP/1.1", 1)]) == [b"n1"]
        assert data.endswith(b"1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n")

    run(main())


def test_a_large_response_is_written_at_once(run: Callable[..., None]) -> None:
    async def main() -> None:
        app, _ = make_app(100_000)
        proto, transport = connect(app)
        await started(proto, transport)
        # Nothing to gain by holding it: on its way before the turn ends.
        seen = await delivered(proto, get("/large"), lambda: bodies(transport.data))
        assert seen == [b"x" * 100_000]

    run(main())
