"""A broadcast chat room over WebSockets.

Run it with ``python examples/chat.py`` and connect any WebSocket client to
``ws://127.0.0.1:8080/chat?name=alice``. Every text message a member sends
reaches every other member as ``"alice: hello"``; joins and leaves are
announced. When the server stops, members are told with close code 1001.
"""

from __future__ import annotations

from sansketch.app import AppKey, Application
from sansketch.request import Request
from sansketch.websocket import WebSocketResponse, WSMsgType

ROOM = AppKey("room", dict)
"""The members of the room: name -> socket."""


async def broadcast(members: dict[str, WebSocketResponse], text: str, *, skip: str = "") -> None:
    """Send ``text`` to every member but ``skip``; members that left are skipped."""
    for name, ws in list(members.items()):
        if name == skip:
            continue
        try:
            await ws.send_str(text)
        except ConnectionResetError:
            pass  # it is leaving; its own handler removes it


async def chat(request: Request) -> WebSocketResponse:
    """One member's socket: join, relay every message, leave."""
    members: dict[str, WebSocketResponse] = request.app[ROOM]
    name = request.query.get("name", "").strip()[:32] or f"guest{len(members) + 1}"
    ws = WebSocketResponse(heartbeat=30.0, max_msg_size=64 * 1024)
    await ws.prepare(request)
    if name in members:
        await ws.close(code=4000, message=b"name taken")
        return ws
    members[name] = ws
    await ws.send_str(f"welcome, {name}; here: {', '.join(sorted(members))}")
    await broadcast(members, f"{name} joined", skip=name)
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await broadcast(members, f"{name}: {msg.data}", skip=name)
    finally:
        del members[name]
        await broadcast(members, f"{name} left")
    return ws


def make_app() -> Application:
    """A new chat application."""
    app = Application()
    app[ROOM] = {}
    app.router.add_get("/chat", chat)
    # On graceful shutdown the application closes open sockets with 1001.
    return app


app = make_app()

if __name__ == "__main__":
    from sansketch.runner import run_app

    run_app(app)
