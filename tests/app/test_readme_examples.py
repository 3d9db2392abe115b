"""The README's framework examples run as written."""

from __future__ import annotations

import pytest

from sansketch import (
    Application,
    HTTPNotFound,
    Request,
    Response,
    RouteTableDef,
    WebSocketResponse,
    WSMsgType,
    json_response,
)
from sansketch.testing import TestClient

pytestmark = pytest.mark.anyio


def _readme_app() -> Application:
    routes = RouteTableDef()

    @routes.get("/")
    async def hello(request: Request) -> Response:
        return Response(text="Hello, World!")

    @routes.get("/users/{name}")
    async def user(request: Request) -> Response:
        name = request.match_info["name"]
        if name != "john_doe":
            raise HTTPNotFound(text=f"No such user with as {name} :(")
        return json_response({"name": name})

    async def echo(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse(heartbeat=30.0, max_msg_size=1 << 20)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
        return ws

    app = Application()
    app.add_routes(routes)
    app.router.add_get("/ws", echo)
    return app


async def test_first_application() -> None:
    async with TestClient(_readme_app()) as client:
        assert await (await client.get("/")).text() == "Hello, World!"
        assert await (await client.get("/users/john_doe")).json() == {"name": "john_doe"}
        missing = await client.get("/users/nobody")
        assert missing.status == 404
        assert await missing.text() == "No such user with as nobody :("


async def test_websocket_echo() -> None:
    async with TestClient(_readme_app()) as client, client.ws_connect("/ws") as ws:
        await ws.send_str("ping")
        assert await ws.receive_str() == "ping"
