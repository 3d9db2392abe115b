"""The examples run, through the in-memory client, as documented."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from types import ModuleType

import pytest

from sansketch.testing import TestClient

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    """A fresh copy of ``examples/<name>.py`` (a new, unstarted app)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_users_example(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="users")
    users = load("users")
    async with TestClient(users.app) as client:
        resp = await client.get("/john_doe")
        assert resp.status == 200
        assert await resp.text() == "Welcome, john_doe!"

        resp = await client.get("/nobody")
        assert resp.status == 404
        assert await resp.text() == "No such user with as nobody :("

        resp = await client.post("/john_doe", data=b"x")
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET, HEAD, OPTIONS"
    messages = [r.getMessage() for r in caplog.records if r.name == "users"]
    assert messages == [
        "startup hook ran",
        "GET /john_doe -> 200",
        "GET /nobody -> 404",
        "POST /john_doe -> 405",
        "shutdown hook ran",
    ]


async def test_hello_example() -> None:
    hello = load("hello")
    async with TestClient(hello.app) as client:
        resp = await client.get("/")
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert await resp.text() == "Hello, World!"

        resp = await client.get("/json")
        assert resp.headers["Content-Type"].startswith("application/json")
        assert await resp.json() == {"message": "Hello, World!"}

        resp = await client.get("/user/Ada")
        assert await resp.text() == "Hello, Ada!"
