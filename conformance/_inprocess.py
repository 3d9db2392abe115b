"""Run a case against ``sansketch.protocol.ServerConnection``, with no sockets.

A small synchronous responder plays the echo app (the same JSON contract as
``conformance/echo.py``): it accepts the body of every request that has one
(so the core sends its lazy ``100 Continue``), answers each request in order
as soon as it ends, and asks the core for held pipelined requests after each
response. The bytes the core returns are what a socket would have carried.
"""

from __future__ import annotations

from sansketch.protocol import (
    Action,
    BodyData,
    Event,
    Limits,
    ProtocolError,
    RequestEnd,
    RequestHead,
    RequestRejected,
    ServerConnection,
    Upgrade,
)

from ._cases import Case, Step
from ._contract import echo_document, echo_headers, plan_for, stream_parts
from ._judge import PROBE, Transcript

LIMITS = Limits(max_body_bytes=1024 * 1024)
"""The core's defaults plus the app layer's default body limit (1 MiB, as aiohttp's
``client_max_size``), so that 413 cases judge the same as against a live server."""


class _Responder:
    """The echo app, driving the core synchronously."""

    def __init__(self, conn: ServerConnection) -> None:
        self.conn = conn
        self.out = bytearray()
        self.head: RequestHead | None = None
        self.body = bytearray()
        self.seq = 0
        self.done = False  # rejected or upgraded: nothing more is parsed

    def handle(self, events: list[Event], now: float) -> None:
        queue = list(events)
        while queue and not self.done:
            event = queue.pop(0)
            if isinstance(event, RequestHead):
                self.seq += 1
                self.head, self.body = event, bytearray()
                plan = plan_for(event.method, event.target)
                if not plan.read_body:
                    self._respond(event, b"")
                    queue.extend(self.conn.next_events(now))
                elif event.chunked or event.content_length:
                    self.out += self.conn.accept_body()
            elif isinstance(event, BodyData):
                if self.head is not None:
                    self.body += event.data
            elif isinstance(event, RequestEnd):
                if self.head is not None:
                    self._respond(self.head, bytes(self.body))
                    queue.extend(self.conn.next_events(now))
            elif isinstance(event, RequestRejected):
                self.out += self.conn.send_error(event)
                self.done = True
            elif isinstance(event, Upgrade):
                self.done = True  # a tunnel nobody serves: the driver closes

    def _respond(self, head: RequestHead, body: bytes) -> None:
        self.head = None
        plan = plan_for(head.method, head.target)
        doc = echo_document(
            method=head.method,
            target=head.target,
            http_version=head.http_version.decode("latin-1"),
            headers=head.headers,
            body=body,
            seq=self.seq,
        )
        headers = echo_headers(plan, head.method, self.seq, doc)
        if plan.stream:
            self.out += self.conn.send_head(plan.status, headers)
            for part in stream_parts(doc):
                self.out += self.conn.send_body(part)
            self.out += self.conn.send_end()
        else:
            self.out += self.conn.send_response(
                plan.status, headers, b"" if plan.bodyless else doc
            )


def _closing(conn: ServerConnection) -> bool:
    return conn.action is Action.CLOSE


def run_inprocess(case: Case, split: int | None = None) -> Transcript:
    """Feed ``case`` to a fresh core; ``split`` cuts every write into pieces that size."""
    now = 1000.0
    steps = case.segments()
    if case.closed is False:
        steps.append(Step("data", PROBE))
    try:
        conn = ServerConnection(LIMITS)
    except NotImplementedError as exc:
        return Transcript(b"", True, f"core raised NotImplementedError: {exc}")
    responder = _Responder(conn)
    try:
        for step in steps:
            if responder.done or _closing(conn):
                break
            now += 0.001
            if step.kind == "data":
                size = split or len(step.data) or 1
                for i in range(0, len(step.data), size):
                    responder.handle(conn.receive_data(step.data[i : i + size], now), now)
                    if responder.done or _closing(conn):
                        break
            elif step.kind == "half_close":
                responder.handle(conn.receive_data(b"", now), now)
            elif step.kind == "pause":
                now += 0.05
            # wait_100: the responder has already accepted the body if it will
    except (ProtocolError, ValueError, TypeError, NotImplementedError) as exc:
        return Transcript(bytes(responder.out), True, f"core raised {type(exc).__name__}: {exc}")
    closed = responder.done or _closing(conn)
    return Transcript(bytes(responder.out), closed)
