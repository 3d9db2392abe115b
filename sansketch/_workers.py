"""Several worker processes on one port, supervised.

With ``SO_REUSEPORT`` (Linux, the BSDs) the parent binds the address without
listening, which reserves the port, and each worker binds its own listening
socket to it: the kernel spreads connections over the workers. Without it,
or for a Unix socket, the workers inherit the parent's listening socket and
take turns accepting.

The parent only supervises: a worker that dies is restarted (after a pause
if it died young, so a crashing app does not spin), and SIGINT / SIGTERM
are passed on as SIGTERM to every worker, each of which shuts down
gracefully; the parent waits for all of them, killing any that outlive the
shutdown timeout by more than a grace period.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    from .app import Application
    from .runner import ServeOptions

logger = logging.getLogger("sansketch.server")

_RESTART_PAUSE = 1.0  # a worker younger than this at death is restarted after a pause
_READY_TIMEOUT = 60.0  # how long the parent waits for every worker to listen
_KILL_GRACE = 5.0  # past shutdown_timeout, before SIGKILL


def uses_reuse_port(sock: socket.socket) -> bool:
    """Whether workers should each bind their own socket to ``sock``'s address.

    True for a TCP socket with ``SO_REUSEPORT`` that is bound but not
    listening (a listening one would take connections nobody accepts).
    """
    if sock.family == socket.AF_UNIX or not hasattr(socket, "SO_REUSEPORT"):
        return False
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT):
        return False
    accepting = getattr(socket, "SO_ACCEPTCONN", None)
    return accepting is not None and not sock.getsockopt(socket.SOL_SOCKET, accepting)


def _worker_socket(template: socket.socket) -> socket.socket:
    sock = socket.socket(template.family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if template.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(template.getsockname())
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _worker_main(
    app: Application,
    sockets: list[socket.socket],
    options: ServeOptions,
    ready: Queue[int],
    index: int,
    own_socket: bool,
    say: Callable[[str], object],
) -> None:
    from .runner import serve, stopped_message

    # The supervisor's handlers were inherited by the fork; serve installs its own.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if own_socket:
        template = sockets[0]
        sockets = [_worker_socket(template)]
        template.close()
    forced = serve(app, sockets, options, on_ready=lambda: ready.put(index))
    if forced:
        say(f"worker {os.getpid()}: {stopped_message(forced, options.shutdown_timeout)}")


def supervise(
    app: Application,
    sockets: list[socket.socket],
    options: ServeOptions,
    workers: int,
    *,
    announce: Callable[[], object],
    say: Callable[[str], object],
) -> int:
    """Run ``workers`` processes serving ``app`` until SIGINT / SIGTERM.

    Returns:
        The exit status for the parent: 0 after a graceful stop.

    Raises:
        RuntimeError: the platform cannot fork.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        raise RuntimeError("workers > 1 needs the 'fork' start method")
    ctx = multiprocessing.get_context("fork")
    own_socket = uses_reuse_port(sockets[0])
    ready: Queue[int] = ctx.Queue()
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    stopping = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        with contextlib.suppress(OSError):
            wake_w.send(b"\0")

    previous = {
        signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)
    }

    def start(index: int) -> BaseProcess:
        process = ctx.Process(
            target=_worker_main,
            args=(app, sockets, options, ready, index, own_socket, say),
            name=f"sansketch-worker-{index}",
            daemon=False,
        )
        process.start()
        return process

    procs: dict[int, BaseProcess] = {}
    born: dict[int, float] = {}
    restart_at: dict[int, float] = {}
    try:
        for index in range(workers):
            procs[index] = start(index)
            born[index] = time.monotonic()
        _wait_ready(ready, workers, lambda: stopping)
        if not stopping:
            announce()
        while not stopping:  # set by on_signal
            now = time.monotonic()
            timeout = min((t - now for t in restart_at.values()), default=1.0)
            wait([p.sentinel for p in procs.values()] + [wake_r], timeout=max(0.0, timeout))
            with contextlib.suppress(OSError):
                wake_r.recv(64)
            now = time.monotonic()
            for index, process in list(procs.items()):
                if index in restart_at:
                    if now >= restart_at[index]:
                        del restart_at[index]
                        procs[index] = start(index)
                        born[index] = now
                    continue
                if process.is_alive():
                    continue
                process.join()
                logger.warning("worker %d exited with %s; restarting", index, process.exitcode)
                say(f"sansketch worker {index} exited ({process.exitcode}); restarting")
                pause = _RESTART_PAUSE if now - born[index] < _RESTART_PAUSE else 0.0
                restart_at[index] = now + pause
    finally:
        _stop_all(procs, options.shutdown_timeout + _KILL_GRACE)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        wake_r.close()
        wake_w.close()
        ready.close()
    return 0


def _wait_ready(ready: Queue[int], count: int, stopping: Callable[[], bool]) -> None:
    import queue

    deadline = time.monotonic() + _READY_TIMEOUT
    seen = 0
    while seen < count and not stopping():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            logger.warning("only %d of %d workers are listening", seen, count)
            return
        try:
            ready.get(timeout=min(remaining, 0.2))
        except queue.Empty:
            continue
        seen += 1


def _stop_all(procs: dict[int, BaseProcess], timeout: float) -> None:
    for process in procs.values():
        if process.is_alive() and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in procs.values():
        process.join(max(0.0, deadline - time.monotonic()))
    for process in procs.values():
        if process.is_alive():
            logger.warning("worker %s outlived the shutdown timeout; killing it", process.pid)
            process.kill()
            process.join(5.0)
