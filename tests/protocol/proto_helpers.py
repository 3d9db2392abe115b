"""Feeding helpers shared by the protocol tests (bytes only, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable

from sansketch.protocol import (
    BodyData,
    Event,
    Limits,
    RequestEnd,
    RequestRejected,
    ServerConnection,
    State,
)


def merge(events: Iterable[Event]) -> list[Event]:
    """Join adjacent BodyData so that events compare across splits."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, BodyData) and out and isinstance(out[-1], BodyData):
            out[-1] = BodyData(out[-1].data + event.data)
        elif isinstance(event, BodyData) and not event.data:
            continue
        else:
            out.append(event)
    return out


def answer_all(conn: ServerConnection, events: list[Event]) -> None:
    """Answer every complete request with an empty 200, collecting the held
    pipelined events that become available."""
    while events and isinstance(events[-1], RequestEnd) and conn.state is State.RECV_REQUEST:
        conn.send_response(200, [], b"")
        events += conn.next_events(0.0)


def feed(
    chunks: Iterable[bytes], limits: Limits | None = None, eof: bool = False
) -> tuple[list[Event], ServerConnection]:
    """Feed ``chunks`` one by one, answering each request; merged events."""
    conn = ServerConnection(limits)
    events: list[Event] = []
    for chunk in chunks:
        events += conn.receive_data(chunk, 0.0)
        answer_all(conn, events)
        if events and isinstance(events[-1], RequestRejected):
            break
    if eof:
        events += conn.receive_data(b"", 0.0)
        answer_all(conn, events)
    return merge(events), conn


def three_ways(data: bytes, limits: Limits | None = None, eof: bool = False) -> list[Event]:
    """Events for ``data`` fed whole, one byte at a time and split at every
    point; asserts they agree and returns them."""
    whole, _ = feed([data], limits, eof)
    bytewise, _ = feed([data[i : i + 1] for i in range(len(data))], limits, eof)
    assert bytewise == whole, "byte-at-a-time differs"
    for i in range(1, len(data)):
        split, _ = feed([data[:i], data[i:]], limits, eof)
        assert split == whole, f"split at {i} differs"
    return whole


def rejected(events: list[Event]) -> int | None:
    """The status of the RequestRejected among ``events``, if any."""
    for event in events:
        if isinstance(event, RequestRejected):
            return event.status
    return None


GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


def started(
    data: bytes = GET, limits: Limits | None = None
) -> tuple[ServerConnection, list[Event]]:
    """A connection that has received ``data`` (events returned)."""
    conn = ServerConnection(limits)
    return conn, conn.receive_data(data, 0.0)
