"""The CLI in a subprocess: listening line, signals, graceful exit, workers."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from live_server import BACKENDS, IDS, TIMEOUT, RawClient

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


class CliServer:
    """``python -m sansketch`` running in a subprocess."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sansketch", *args],
            cwd=HERE,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.line = self.read_line()
        assert self.line.startswith("sansketch listening on http://127.0.0.1:"), self.line
        self.port = int(self.line.split("127.0.0.1:")[1].split(" ")[0])

    def read_line(self, timeout: float = TIMEOUT) -> str:
        """The next stdout line, waiting at most ``timeout`` seconds."""
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.proc.kill()
                raise AssertionError("no output from the server in time")
        return self.proc.stdout.readline().decode().rstrip("\n")

    def connect(self) -> RawClient:
        """A raw connection to the server."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        return RawClient(sock)

    def wait(self) -> tuple[int, str]:
        """Exit status and the rest of stdout."""
        out, err = self.proc.communicate(timeout=TIMEOUT * 2)
        return self.proc.returncode, out.decode() + err.decode()

    def kill(self) -> None:
        """Make sure the process is gone."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=TIMEOUT)


@contextmanager
def cli(*args: str) -> Iterator[CliServer]:
    server = CliServer(*args)
    try:
        yield server
    finally:
        server.kill()


@pytest.mark.parametrize(("backend", "loop"), BACKENDS, ids=IDS)
def test_sigterm_lets_the_request_in_flight_finish(backend: str, loop: str) -> None:
    with cli("live_app:app", "--port", "0", "--backend", backend, "--loop", loop) as server:
        assert f"(backend {backend}, loop " in server.line
        idle = server.connect()
        idle.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert idle.read_response().status == 200
        busy = server.connect()
        busy.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        # 100 Continue means the handler is running and reading the body.
        assert busy.read_head().status == 100
        server.proc.send_signal(signal.SIGTERM)
        # The idle connection closing shows the shutdown has begun.
        assert idle.at_eof()
        busy.send(b"hello")
        response = busy.read_response()
        assert response.status == 200
        assert response.body == b"hello"
        assert response.header("connection") == "close"
        assert busy.at_eof()
        status, output = server.wait()
        assert status == 0, output
        assert "sansketch stopped" in output


def test_sigint_and_the_shutdown_timeout_report() -> None:
    with cli("live_app:app", "--port", "0", "--shutdown-timeout", "0.3") as server:
        stuck = server.connect()
        stuck.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        # In flight, waiting for a body that never comes.
        assert stuck.read_head().status == 100
        server.proc.send_signal(signal.SIGINT)
        status, output = server.wait()
        assert status == 0, output
        assert "closed 1 connection still open after the 0.3 s shutdown timeout" in output
        assert stuck.at_eof()


def test_factory_and_bad_specs(tmp_path: Path) -> None:
    with cli("live_app:make_app", "--port", "0", "--backend", "trio") as server:
        response = httpx.get(f"http://127.0.0.1:{server.port}/", timeout=TIMEOUT)
        assert response.text == "Hello, World!"
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait()[0] == 0
    for spec in ("live_app", "live_app:missing", "no_such_module:app", "live_app:TIMEOUT_"):
        result = subprocess.run(
            [sys.executable, "-m", "sansketch", spec, "--port", "0"],
            cwd=HERE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            timeout=TIMEOUT,
        )
        assert result.returncode != 0
        assert b"cannot load" in result.stderr


def test_workers_share_the_port_and_are_restarted() -> None:
    with cli("live_app:app", "--port", "0", "--workers", "2") as server:
        assert "workers 2" in server.line

        def serving_pid() -> int:
            # A new connection each time, so the kernel may pick any worker.
            response = httpx.get(
                f"http://127.0.0.1:{server.port}/pid",
                timeout=TIMEOUT,
                headers={"connection": "close"},
            )
            return int(response.text)

        pids = {serving_pid() for _ in range(20)}
        assert server.proc.pid not in pids
        victim = pids.pop()
        os.kill(victim, signal.SIGKILL)
        # The port keeps being served, and a fresh worker replaces the dead one.
        deadline = time.monotonic() + TIMEOUT
        seen: set[int] = set()
        while time.monotonic() < deadline:
            pid = serving_pid()
            seen.add(pid)
            if pid not in pids and pid != victim:
                break
        assert victim not in seen
        server.proc.send_signal(signal.SIGTERM)
        status, output = server.wait()
        assert status == 0, output
        assert "restarting" in output
        assert "sansketch stopped" in output
        for pid in seen:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
