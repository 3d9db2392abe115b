"""Error responses carry the driver's extra fields (Date) and nothing unsafe."""

from __future__ import annotations

import pytest

from sansketch.protocol import (
    DeadlineAction,
    LocalProtocolError,
    RequestRejected,
    ServerConnection,
)

DATE = (b"date", b"Wed, 25 Nov 2026 10:00:00 GMT")


def _rejected(conn: ServerConnection, data: bytes) -> RequestRejected:
    events = conn.receive_data(data, 0.0)
    assert isinstance(events[-1], RequestRejected)
    return events[-1]


def test_send_error_adds_extra_fields_after_the_status_line() -> None:
    conn = ServerConnection()
    out = conn.send_error(_rejected(conn, b"GET / HTTP/1.1\r\n\r\n"), [DATE])
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 400 Bad Request"
    assert b"date: Wed, 25 Nov 2026 10:00:00 GMT" in lines
    assert b"Connection: close" in lines
    assert body == b"Bad Request\n"


def test_timeout_408_carries_extra_fields() -> None:
    conn = ServerConnection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHo", 0.0)
    action, out = conn.on_deadline(60.0, [DATE])
    assert action is DeadlineAction.SEND_408_AND_CLOSE
    assert out.startswith(b"HTTP/1.1 408 Request Timeout\r\ndate: Wed, 25 Nov 2026")


@pytest.mark.parametrize(
    "field",
    [(b"x", b"a\r\nInjected: 1"), (b"bad name", b"v"), (b"content-length", b"5")],
)
def test_extra_fields_cannot_inject_or_reframe(field: tuple[bytes, bytes]) -> None:
    conn = ServerConnection()
    with pytest.raises(LocalProtocolError):
        conn.send_error(_rejected(conn, b"GET / HTTP/1.1\r\n\r\n"), [field])
