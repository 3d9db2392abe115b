"""The application every driver test serves (also loaded by the CLI tests)."""

from __future__ import annotations

import hashlib
import os
import threading

import anyio

from sansketch.app import Application
from sansketch.fileresponse import FileResponse
from sansketch.request import Request
from sansketch.response import Response, StreamResponse

# Set by /wait once its handler runs: lets a test act while it is in flight.
handler_started = threading.Event()
# /wait finishes once this is set (or after its own bound).
release = threading.Event()


async def hello(request: Request) -> Response:
    """Plain text."""
    return Response(text="Hello, World!")


async def echo(request: Request) -> Response:
    """The request body back, with its trailers in a header."""
    body = await request.read()
    trailers = ", ".join(f"{name}={value}" for name, value in request.trailers().items())
    return Response(
        body=body, content_type="application/octet-stream", headers={"x-trailers": trailers}
    )


async def digest(request: Request) -> Response:
    """Length and SHA-256 of the body, read piece by piece."""
    hasher = hashlib.sha256()
    size = 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            break
        size += len(chunk)
        hasher.update(chunk)
    return Response(text=f"{size} {hasher.hexdigest()}")


async def big(request: Request) -> Response:
    """``n`` bytes of a repeating pattern, in one body."""
    n = int(request.query.get("n", "1000000"))
    return Response(body=(b"0123456789" * (n // 10 + 1))[:n])


async def chunks(request: Request) -> StreamResponse:
    """A chunked response written in ``count`` pieces."""
    count = int(request.query.get("count", "5"))
    response = StreamResponse()
    response.enable_chunked_encoding()
    response.content_type = "text/plain"
    await response.prepare(request)
    for i in range(count):
        await response.write(b"piece %d\n" % i)
    await response.write_eof()
    return response


async def wait(request: Request) -> Response:
    """Signal that it started, then wait for ``release`` (at most 10 s)."""
    handler_started.set()
    with anyio.move_on_after(10):
        while not release.is_set():
            await anyio.sleep(0.01)
    return Response(text="waited")


async def forever(request: Request) -> Response:
    """Never answers on its own (bounded at 60 s)."""
    handler_started.set()
    await anyio.sleep(60)
    return Response(text="late")


async def fail(request: Request) -> Response:
    """A handler bug."""
    raise RuntimeError("secret detail")


async def pid(request: Request) -> Response:
    """The serving process."""
    return Response(text=str(os.getpid()))


async def echo_upgrade(request: Request) -> Response:
    """Switch to a toy protocol that echoes bytes upper-cased until EOF."""
    channel = request._channel
    channel.send_response(101, [(b"upgrade", b"echo"), (b"connection", b"upgrade")], b"", None)
    stream, leftover = await channel.upgrade()  # type: ignore[attr-defined]
    if leftover:
        await stream.send(leftover.upper())
    while True:
        data = await stream.receive()
        if not data:
            break
        await stream.send(data.upper())
    return Response(text="unused: the connection was taken over")


# Where /file/{name} serves from (a test sets it).
files_dir = "."


async def serve_file(request: Request) -> FileResponse:
    """A file through the driver's ``sendfile``."""
    return FileResponse(os.path.join(files_dir, request.match_info["name"]))


def make_app() -> Application:
    """A fresh application (an app runs its lifecycle once)."""
    app = Application(client_max_size=64 * 1024 * 1024)
    router = app.router
    router.add_route("GET", "/", hello)
    router.add_route("POST", "/echo", echo)
    router.add_route("POST", "/digest", digest)
    router.add_route("GET", "/big", big)
    router.add_route("GET", "/chunks", chunks)
    router.add_route("GET", "/wait", wait)
    router.add_route("GET", "/forever", forever)
    router.add_route("GET", "/fail", fail)
    router.add_route("GET", "/pid", pid)
    router.add_route("GET", "/upgrade", echo_upgrade)
    router.add_get("/file/{name}", serve_file)  # and HEAD
    return app


app = make_app()
