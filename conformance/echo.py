"""The echo contract served by a sansketch ``Application`` (module-level ``app``).

Serve it with ``python -m sansketch conformance.echo:app`` and point
``python -m conformance --url`` at it. The contract is in ``_contract.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sansketch import Application, Request, Response, StreamResponse

from ._contract import echo_document, echo_headers, plan_for, stream_parts


async def echo(request: Request) -> StreamResponse:
    """Answer any request with the JSON description of what the app saw."""
    method = request.method.encode("latin-1")
    plan = plan_for(method, request.raw_target)
    body = await request.read() if plan.read_body else b""
    seq = request.seq
    major, minor = request.version
    doc = echo_document(
        method=method,
        target=request.raw_target,
        http_version=f"{major}.{minor}",
        headers=list(request.raw_headers),
        body=body,
        seq=seq,
    )
    headers = {
        n.decode(): v.decode("latin-1")
        for n, v in echo_headers(plan, method, seq, doc)
        if n != b"content-type"
    }
    if plan.stream:
        resp = StreamResponse(status=plan.status, headers=headers)
        resp.content_type = "application/json"
        await resp.prepare(request)
        for part in stream_parts(doc):
            await resp.write(part)
        await resp.write_eof()
        return resp
    if plan.bodyless and method != b"HEAD":
        return Response(status=plan.status, headers=headers)
    return Response(body=doc, status=plan.status, headers=headers, content_type="application/json")


async def echo_everything(
    request: Request, handler: Callable[[Request], Awaitable[StreamResponse]]
) -> StreamResponse:
    """Echo even what no route matches: ``OPTIONS *`` and CONNECT's authority-form."""
    return await echo(request)


app = Application(middlewares=[echo_everything])
app.router.add_route("*", "/{tail:.*}", echo)
