"""The echo contract as a raw ASGI app (for uvicorn and hypercorn).

ASGI hands the app a decoded view of the request line: the target is rebuilt
from ``raw_path`` and ``query_string``, so absolute-form targets arrive as
origin-form here; that is a limit of ASGI, not of the server under test.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .._contract import echo_document, echo_headers, plan_for, stream_parts

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer every HTTP request with the echo document; ignore lifespan."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    method = scope["method"].encode("latin-1")
    target = scope.get("raw_path") or scope["path"].encode("utf-8")
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    plan = plan_for(method, target)
    body = bytearray()
    if plan.read_body:
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
    seq = None  # ASGI exposes no connection identity, so no per-connection count
    doc = echo_document(
        method=method,
        target=target,
        http_version=scope.get("http_version", "1.1"),
        headers=scope["headers"],
        body=bytes(body),
        seq=seq,
    )
    headers = echo_headers(plan, method, seq, doc)
    if plan.stream:
        await send({"type": "http.response.start", "status": plan.status, "headers": headers})
        first, second = stream_parts(doc)
        await send({"type": "http.response.body", "body": first, "more_body": True})
        await send({"type": "http.response.body", "body": second})
        return
    payload = b"" if plan.bodyless and method != b"HEAD" else doc
    if plan.status not in (204, 304) and method != b"CONNECT":
        headers.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": plan.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
