"""Running an application: sockets, event loop, signals, graceful shutdown.

``run_app`` binds the listening socket(s), then either serves them in this
process or forks ``workers`` processes that share the port (``_workers``).
Serving one process means: pick the event loop, run the app's startup hooks,
start the chosen driver, print where it listens, wait for SIGINT / SIGTERM
(or a ``ShutdownTrigger``), then shut down gracefully:

1. stop accepting; every connection gets ``conn.start_shutdown(now)``, so
   idle keep-alive connections close at once and requests in flight finish
   with ``Connection: close``;
2. run the app's ``on_shutdown`` hooks;
3. wait for the connections up to ``shutdown_timeout``; close the rest and
   report how many;
4. run the cleanup hooks.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import stat
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import anyio
from anyio.abc import TaskStatus

from ._server import ServerConfig
from .protocol import Limits

if TYPE_CHECKING:
    from typing_extensions import Self

    from .app import Application

__all__ = [
    "BACKENDS",
    "ServeOptions",
    "ServerThread",
    "ShutdownTrigger",
    "bind_sockets",
    "describe",
    "run_app",
    "serve",
]

Backend = Literal["asyncio", "asyncio-streams", "trio", "anyio-asyncio"]
LoopName = Literal["auto", "asyncio", "uvloop"]
BACKENDS: tuple[str, ...] = ("asyncio", "asyncio-streams", "trio", "anyio-asyncio")
LOOPS: tuple[str, ...] = ("auto", "asyncio", "uvloop")

# Connections one process serves at once (gunicorn's worker_connections is
# 1000, nginx's 512-1024 per worker; a keep-alive benchmark wants more). The
# process's file descriptor limit may be the tighter bound.
DEFAULT_MAX_CONNECTIONS = 10_000

logger = logging.getLogger("sansketch.server")


class _Server(Protocol):
    async def run(
        self, sockets: Iterable[socket.socket], *, task_status: TaskStatus[None]
    ) -> None: ...

    async def shutdown(self, timeout: float) -> int: ...


@dataclass(frozen=True)
class ServeOptions:
    """How one process serves: backend, loop and the server's settings.

    Attributes:
        backend: ``"asyncio"`` (Protocol driver, the fast path),
            ``"asyncio-streams"``, ``"trio"`` or ``"anyio-asyncio"`` (the
            anyio driver on trio or asyncio).
        loop: ``"auto"`` (uvloop when installed), ``"asyncio"`` or
            ``"uvloop"``; ignored by ``"trio"``.
        shutdown_timeout: seconds in-flight requests get after a shutdown
            signal before their connections are closed.
        access_log: log one line per response on ``sansketch.access``.
        max_connections: connections served at once; one accepted beyond it
            is answered ``503`` and closed.
        limits: the protocol core's limits (``Limits()`` by default).
        request_timeout: seconds a handler may run before it is answered 503.
        send_timeout: seconds a write may wait on a client that does not
            read before the connection is dropped (``None``: no limit).
        log_counters: log the security counters every this many seconds on
            ``sansketch.server`` (``None``: never).
    """

    backend: str = "asyncio"
    loop: str = "auto"
    shutdown_timeout: float = 30.0
    access_log: bool = False
    max_connections: int | None = DEFAULT_MAX_CONNECTIONS
    limits: Limits | None = None
    request_timeout: float | None = None
    send_timeout: float | None = 60.0
    log_counters: float | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; choose one of {BACKENDS}")
        if self.loop not in LOOPS:
            raise ValueError(f"unknown loop {self.loop!r}; choose one of {LOOPS}")
        if self.loop == "uvloop" and self.backend == "trio":
            raise ValueError("loop 'uvloop' needs an asyncio backend, not trio")
        if self.shutdown_timeout < 0:
            raise ValueError("shutdown_timeout must be >= 0")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError("max_connections must be >= 1 (or None for no cap)")
        for name in ("request_timeout", "send_timeout", "log_counters"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 (or None)")

    def resolved_loop(self) -> str:
        """The event loop that will actually run: asyncio, uvloop or trio."""
        if self.backend == "trio":
            return "trio"
        if self.loop == "auto":
            try:
                import uvloop  # noqa: F401
            except ImportError:
                return "asyncio"
            return "uvloop"
        return self.loop

    def server_config(self) -> ServerConfig:
        """The drivers' ``ServerConfig``; the core drains for ``shutdown_timeout``."""
        limits = self.limits or Limits()
        limits = dataclasses.replace(limits, shutdown_timeout=self.shutdown_timeout)
        return ServerConfig(
            limits=limits,
            access_log=self.access_log,
            request_timeout=self.request_timeout,
            send_timeout=self.send_timeout,
        )


class ShutdownTrigger:
    """Asks a running ``serve`` to shut down gracefully, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requested = False
        self._wake: Callable[[], None] | None = None

    @property
    def requested(self) -> bool:
        """Whether shutdown was asked for."""
        return self._requested

    def set(self) -> None:
        """Ask for a graceful shutdown (idempotent, thread-safe)."""
        with self._lock:
            self._requested = True
            wake = self._wake
        if wake is not None:
            try:
                wake()
            except RuntimeError:
                pass  # the loop already ended

    def _attach(self, wake: Callable[[], None] | None) -> None:
        with self._lock:
            self._wake = wake
            requested = self._requested
        if requested and wake is not None:
            wake()


def _threadsafe_setter(event: anyio.Event) -> Callable[[], None]:
    """A callable that sets ``event`` from any thread, without blocking."""
    import sniffio

    if sniffio.current_async_library() == "trio":
        import trio

        token = trio.lowlevel.current_trio_token()

        def wake_trio() -> None:
            token.run_sync_soon(event.set)

        return wake_trio
    import asyncio

    loop = asyncio.get_running_loop()

    def wake_asyncio() -> None:
        loop.call_soon_threadsafe(event.set)

    return wake_asyncio


def bind_sockets(
    host: str | None = "127.0.0.1",
    port: int = 8080,
    *,
    unix: str | None = None,
    reuse_port: bool = False,
    backlog: int = 2048,
    listen: bool = True,
) -> list[socket.socket]:
    """Bind and listen: a TCP socket on ``host:port`` or a Unix socket at ``unix``.

    A stale Unix socket file is replaced; any other file at that path is an
    error. ``port=0`` picks a free port (read it back with ``describe``).
    ``listen=False`` only binds a TCP socket: it reserves the port for
    workers that bind their own ``SO_REUSEPORT`` sockets to it.

    Raises:
        OSError: the address is in use or not available.
        ValueError: ``reuse_port`` on a platform without ``SO_REUSEPORT``.
    """
    if unix is not None:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.stat(unix).st_mode):
                os.unlink(unix)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(unix)
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
        sock.setblocking(False)
        return [sock]
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("reuse_port needs SO_REUSEPORT, which this platform lacks")
    infos = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        if listen:
            sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return [sock]


def describe(sock: socket.socket) -> str:
    """Where ``sock`` listens, as a URL (``http://127.0.0.1:8080``, ``unix:/p``)."""
    address = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{address if isinstance(address, str) else address.decode()}"
    host, port = address[0], address[1]
    if sock.family == socket.AF_INET6:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _make_server(app: Application, options: ServeOptions) -> _Server:
    config = options.server_config()
    config.counters = app.counters  # what the app reads is what the server counts
    if options.backend == "asyncio":
        from .adapters.asyncio_protocol import AsyncioProtocolServer

        return AsyncioProtocolServer(app, config, max_connections=options.max_connections)
    if options.backend == "asyncio-streams":
        from .adapters.asyncio_streams import AsyncioStreamsServer

        return AsyncioStreamsServer(app, config, max_connections=options.max_connections)
    from .adapters.anyio import AnyioServer

    return AnyioServer(app, config, max_connections=options.max_connections)


class ServerThread:
    """``serve`` in a background thread, for tests that talk over sockets.

    Binds at once (``port=0``: a free port; ``unix``: a Unix socket), so
    ``address`` and ``url`` are known before ``start``; ``stop`` shuts the
    server down gracefully, as SIGTERM would. Also a context manager.

    Args:
        app: the application to serve.
        options: backend, loop and settings (defaults: ``ServeOptions()``).
        host: address to bind.
        port: port to bind (0: any free one).
        unix: a Unix socket path instead of ``host``/``port``.
        timeout: seconds ``start`` and ``stop`` wait for the server.
    """

    def __init__(
        self,
        app: Application,
        options: ServeOptions | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        unix: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.app = app
        self.options = options if options is not None else ServeOptions()
        self.sockets = bind_sockets(host, port, unix=unix)
        self.url = describe(self.sockets[0])
        # (host, port) or (host, port, flowinfo, scope_id); a path for unix.
        self.address: Any = self.sockets[0].getsockname()
        self.trigger = ShutdownTrigger()
        self.timeout = timeout
        self.forced: int | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.forced = serve(
                self.app,
                self.sockets,
                self.options,
                trigger=self.trigger,
                handle_signals=False,
                on_ready=self._ready.set,
            )
        except BaseException as exc:
            self.error = exc
            self._ready.set()

    def start(self) -> Self:
        """Start serving; returns once the server accepts connections.

        Raises:
            RuntimeError: the server did not start within ``timeout``.
            BaseException: what made the server fail to start.
        """
        self._thread.start()
        if not self._ready.wait(self.timeout):
            raise RuntimeError("the server did not start")
        if self.error is not None:
            self._thread.join(self.timeout)
            self._close_sockets()
            raise self.error
        return self

    def stop(self) -> int:
        """Shut down gracefully; the number of connections forced closed.

        Raises:
            RuntimeError: the server did not stop within twice ``timeout``.
            BaseException: what made the server fail.
        """
        self.trigger.set()
        self._thread.join(self.timeout * 2)
        if self._thread.is_alive():
            raise RuntimeError("the server did not stop")
        self._close_sockets()
        if self.error is not None:
            raise self.error
        return self.forced or 0

    @property
    def running(self) -> bool:
        """Whether the server thread is still alive."""
        return self._thread.is_alive()

    def _close_sockets(self) -> None:
        for sock in self.sockets:
            sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve(
    app: Application,
    sockets: list[socket.socket],
    options: ServeOptions,
    *,
    trigger: ShutdownTrigger | None = None,
    handle_signals: bool = True,
    on_ready: Callable[[], object] | None = None,
) -> int:
    """Serve ``app`` on bound ``sockets`` in this thread until told to stop.

    Args:
        app: the application (its startup, shutdown and cleanup hooks run).
        sockets: listening sockets from ``bind_sockets``.
        options: backend, loop and settings.
        trigger: stops the server when set (from any thread).
        handle_signals: SIGINT and SIGTERM start a graceful shutdown (main
            thread only).
        on_ready: called once the server accepts connections.

    Returns:
        How many connections were still open at the shutdown timeout.
    """
    trigger = trigger or ShutdownTrigger()
    resolved = options.resolved_loop()
    backend_options: dict[str, Any] = {}
    backend = "trio" if options.backend == "trio" else "asyncio"
    if resolved == "uvloop":
        import uvloop

        backend_options["loop_factory"] = uvloop.new_event_loop
    forced: int = anyio.run(
        _serve_async,
        app,
        sockets,
        options,
        trigger,
        handle_signals,
        on_ready,
        backend=backend,
        backend_options=backend_options,
    )
    return forced


async def _serve_async(
    app: Application,
    sockets: list[socket.socket],
    options: ServeOptions,
    trigger: ShutdownTrigger,
    handle_signals: bool,
    on_ready: Callable[[], object] | None,
) -> int:
    server = _make_server(app, options)
    stop = anyio.Event()
    trigger._attach(_threadsafe_setter(stop))
    forced = 0
    try:
        await app.startup()
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(server.run, sockets)
                if handle_signals:
                    await tg.start(_watch_signals, stop)
                if on_ready is not None:
                    on_ready()
                if options.log_counters is not None:
                    tg.start_soon(_log_counters, app, options.log_counters)
                await stop.wait()
                forced = await _shutdown(app, server, options.shutdown_timeout)
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await app.cleanup()
    finally:
        trigger._attach(None)
    return forced


async def _shutdown(app: Application, server: _Server, timeout: float) -> int:
    """Drain the server while the app's on_shutdown hooks run."""
    forced = 0

    async def drain() -> None:
        nonlocal forced
        forced = await server.shutdown(timeout)

    async with anyio.create_task_group() as tg:
        tg.start_soon(drain)
        # Let the drain stop accepting and close idle connections first.
        await anyio.sleep(0)
        with anyio.CancelScope(shield=True):
            await app.shutdown()
    return forced


async def _log_counters(app: Application, every: float) -> None:
    """Log the security counters every ``every`` seconds while they change."""
    last: dict[tuple[str, int], int] | None = None
    while True:
        await anyio.sleep(every)
        snapshot = app.counters.snapshot()
        if snapshot != last:
            logger.info("counters: %s", app.counters.format())
            last = snapshot


async def _watch_signals(
    stop: anyio.Event, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            if stop.is_set():
                logger.info("already shutting down (signal %d)", signum)
            else:
                logger.info("signal %d: shutting down gracefully", signum)
                stop.set()


def run_app(
    app: Application | Callable[[], Application],
    *,
    host: str | None = "127.0.0.1",
    port: int = 8080,
    backend: str = "asyncio",
    loop: str = "auto",
    workers: int = 1,
    reuse_port: bool = False,
    unix: str | None = None,
    sock: socket.socket | None = None,
    shutdown_timeout: float = 30.0,
    access_log: bool = False,
    max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
    limits: Limits | None = None,
    request_timeout: float | None = None,
    send_timeout: float | None = 60.0,
    log_counters: float | None = None,
    print: Callable[[str], object] | None = builtins.print,
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then shut down gracefully.

    Args:
        app: the application, or a zero-argument factory returning one.
        host: address to listen on (``127.0.0.1``: this machine only).
        port: TCP port; ``0`` picks a free one (the printed line shows it).
        backend: ``"asyncio"`` (the fast Protocol driver),
            ``"asyncio-streams"``, ``"trio"`` or ``"anyio-asyncio"``.
        loop: ``"auto"`` (uvloop when installed), ``"asyncio"`` or ``"uvloop"``.
        workers: processes sharing the port; a dead one is restarted.
        reuse_port: set ``SO_REUSEPORT`` on the listening socket.
        unix: listen on this Unix socket path instead of TCP.
        sock: an already bound, listening socket to serve instead.
        shutdown_timeout: seconds in-flight requests get to finish.
        access_log: log one line per response on ``sansketch.access``.
        max_connections: connections one process serves at once; beyond
            it new ones are answered ``503`` and closed.
        limits: the protocol core's limits and timeouts.
        request_timeout: seconds a handler may run before a 503.
        send_timeout: seconds a write may wait on a client that stopped reading.
        log_counters: log the security counters every this many seconds.
        print: where the "listening" and "stopped" lines go (``None``: nowhere).

    Raises:
        ValueError: a bad option.
        OSError: the address cannot be bound.
    """
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if not _is_application(app):
        if not callable(app):
            raise TypeError(f"expected an Application or a factory, got {app!r}")
        app = app()
    options = ServeOptions(
        backend=backend,
        loop=loop,
        shutdown_timeout=shutdown_timeout,
        access_log=access_log,
        max_connections=max_connections,
        limits=limits,
        request_timeout=request_timeout,
        send_timeout=send_timeout,
        log_counters=log_counters,
    )
    if access_log:
        _enable_access_log()
    say: Callable[[str], object] = _flushing(print) if print is not None else (lambda _: None)
    if sock is not None:
        sock.setblocking(False)
        sockets = [sock]
    else:
        # Workers bind their own SO_REUSEPORT sockets where the platform has
        # it; the parent's socket then only reserves the port.
        per_worker = workers > 1 and unix is None and hasattr(socket, "SO_REUSEPORT")
        sockets = bind_sockets(
            host, port, unix=unix, reuse_port=reuse_port or per_worker, listen=not per_worker
        )
    where = describe(sockets[0])
    detail = f"backend {options.backend}, loop {options.resolved_loop()}"
    try:
        if workers > 1:
            from ._workers import supervise

            exit_code = supervise(
                app,  # type: ignore[arg-type]
                sockets,
                options,
                workers,
                announce=lambda: say(
                    f"sansketch listening on {where} ({detail}, workers {workers})"
                ),
                say=say,
            )
            if exit_code:
                raise SystemExit(exit_code)
            say("sansketch stopped")
            return
        forced = serve(
            app,  # type: ignore[arg-type]
            sockets,
            options,
            on_ready=lambda: say(f"sansketch listening on {where} ({detail})"),
        )
        say(stopped_message(forced, shutdown_timeout))
    finally:
        for s in sockets:
            s.close()
        if unix is not None and sock is None:
            with contextlib.suppress(OSError):
                os.unlink(unix)


def stopped_message(forced: int, timeout: float) -> str:
    """The last line a server prints."""
    if forced:
        return (
            f"sansketch stopped: closed {forced} connection{'s' if forced != 1 else ''} "
            f"still open after the {timeout:g} s shutdown timeout"
        )
    return "sansketch stopped"


def _is_application(obj: object) -> bool:
    from .app import Application

    return isinstance(obj, Application)


def _flushing(print_: Callable[[str], object]) -> Callable[[str], object]:
    if print_ is builtins.print:

        def say(line: str) -> None:
            builtins.print(line, flush=True)

        return say
    return print_


def _enable_access_log() -> None:
    access = logging.getLogger("sansketch.access")
    access.setLevel(logging.INFO)
    if not access.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        access.addHandler(handler)
