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
    head = request._head  # the raw request line and fields, exactly as received
    plan = plan_for(head.method, head.target)
    body = await request.read() if plan.read_body else b""
    seq = getattr(request, "seq", None)  # 1-based index on its connection, when exposed
    doc = echo_document(
        method=head.method,
        target=head.target,
        http_version=head.http_version.decode("latin-1"),
        headers=head.headers,
        body=body,
        seq=seq,
    )
    headers = {
        n.decode(): v.decode("latin-1")
        for n, v in echo_headers(plan, head.method, seq, doc)
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
    if plan.bodyless and head.method != b"HEAD":
        return Response(status=plan.status, headers=headers)
    return Response(body=doc, status=plan.status, headers=headers, content_type="application/json")


async def echo_everything(
    request: Request, handler: Callable[[Request], Awaitable[StreamResponse]]
) -> StreamResponse:
    """Echo even what no route matches: ``OPTIONS *`` and CONNECT's authority-form."""
    return await echo(request)


app = Application(middlewares=[echo_everything])
app.router.add_route("*", "/{tail:.*}", echo)
