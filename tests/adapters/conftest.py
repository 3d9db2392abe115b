"""Fixtures: a live server on each backend (see ``live_server``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import live_app
import pytest
from live_server import BACKENDS, IDS, LiveServer


@pytest.fixture(params=BACKENDS, ids=IDS)
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """A (backend, loop) pair."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def start_server(
    backend: tuple[str, str],
) -> Iterator[Callable[..., LiveServer]]:
    """Start a live server with the given options on the current backend."""
    servers: list[LiveServer] = []

    def start(**options: Any) -> LiveServer:
        server = LiveServer(*backend, **options).start()
        servers.append(server)
        return server

    live_app.handler_started.clear()
    live_app.release.clear()
    yield start
    live_app.release.set()
    for server in servers:
        if server.running:
            server.stop()


@pytest.fixture
def server(start_server: Callable[..., LiveServer]) -> LiveServer:
    """A live server with default options."""
    return start_server()
