"""The echo contract on aiohttp.web: ``python -m conformance.peers.aiohttp_echo PORT``."""

from __future__ import annotations

import sys
import weakref

from aiohttp import web

from .._contract import echo_document, echo_headers, plan_for, stream_parts

_SEQ: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()


async def echo(request: web.Request) -> web.StreamResponse:
    """Answer any request with the echo document."""
    method = request.method.encode("latin-1")
    target = request.raw_path.encode("latin-1", "replace")
    plan = plan_for(method, target)
    body = await request.read() if plan.read_body else b""
    key = request.transport
    seq = None
    if key is not None:
        seq = _SEQ[key] = _SEQ.get(key, 0) + 1
    doc = echo_document(
        method=method,
        target=target,
        http_version=f"{request.version.major}.{request.version.minor}",
        headers=request.raw_headers,
        body=body,
        seq=seq,
    )
    headers = {k.decode(): v.decode("latin-1") for k, v in echo_headers(plan, method, seq, doc)}
    headers.pop("content-type")
    if plan.stream:
        resp = web.StreamResponse(status=plan.status, headers=headers)
        resp.content_type = "application/json"
        await resp.prepare(request)
        for part in stream_parts(doc):
            await resp.write(part)
        await resp.write_eof()
        return resp
    if plan.status in (204, 304):
        return web.Response(status=plan.status, headers=headers)
    return web.Response(body=doc, headers=headers, content_type="application/json")


def make_app() -> web.Application:
    """The aiohttp application with the catch-all echo route."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(sys.argv[1]), print=None)
