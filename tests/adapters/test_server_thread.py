"""ServerThread: a real server in a background thread, for socket tests."""

from __future__ import annotations

import httpx
import pytest

from examples.hello import app as hello_app
from sansketch.app import Application
from sansketch.runner import ServeOptions, ServerThread


def test_serves_over_a_socket_and_stops_gracefully() -> None:
    with ServerThread(hello_app) as server:
        assert server.running
        assert server.url.startswith("http://127.0.0.1:")
        assert server.address[0] == "127.0.0.1" and server.address[1] > 0
        reply = httpx.get(server.url + "/user/ann", timeout=10)
        assert (reply.status_code, reply.text) == (200, "Hello, ann!")
    assert not server.running
    assert server.forced == 0


def test_stop_reports_connections_forced_closed() -> None:
    server = ServerThread(hello_app, ServeOptions(shutdown_timeout=0.0)).start()
    with httpx.Client(timeout=10) as client:
        assert client.get(server.url + "/").status_code == 200
        # The keep-alive connection is idle: closed at once, not forced.
        assert server.stop() == 0


def test_a_server_that_cannot_start_raises_from_start() -> None:
    app = Application()

    async def refuse(app: Application) -> None:
        raise RuntimeError("no database")

    app.on_startup.append(refuse)
    server = ServerThread(app)
    with pytest.raises(RuntimeError, match="no database"):
        server.start()
    assert not server.running
