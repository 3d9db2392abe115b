"""Request parsing: each case is fed whole, byte by byte and at every split."""

from __future__ import annotations

import dataclasses

import pytest
from proto_helpers import feed, rejected, three_ways

from sansketch.protocol import (
    BodyData,
    Limits,
    RequestEnd,
    RequestHead,
    RequestRejected,
    ServerConnection,
)


def test_simple_get() -> None:
    events = three_ways(b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\n\r\n")
    assert events == [
        RequestHead(b"GET", b"/a?b=c", b"1.1", [(b"Host", b"example.com"), (b"X-A", b"1")]),
        RequestEnd(),
    ]


def test_headers_kept_as_sent() -> None:
    data = b"GET / HTTP/1.1\r\nhOsT: a\r\nX-Dup: 1\r\nx-dup: 2\r\nX-Sp:  v \t \r\n\r\n"
    (head, end) = three_ways(data)
    assert isinstance(head, RequestHead)
    # Names keep their case, duplicates and order; OWS is not part of values.
    assert head.headers == [(b"hOsT", b"a"), (b"X-Dup", b"1"), (b"x-dup", b"2"), (b"X-Sp", b"v")]
    assert end == RequestEnd()


def test_content_length_body() -> None:
    data = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
    head, body, end = three_ways(data)
    assert isinstance(head, RequestHead)
    assert head.content_length == 11 and not head.chunked
    assert body == BodyData(b"hello world")
    assert end == RequestEnd()


def test_chunked_body_with_trailers_and_extension() -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=val\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n"
    )
    head, body, end = three_ways(data)
    assert isinstance(head, RequestHead)
    assert head.chunked and head.content_length is None
    assert body == BodyData(b"hello world")
    assert end == RequestEnd([(b"X-Sum", b"1"), (b"X-B", b"2")])


def test_transfer_encoding_with_trailing_tab() -> None:
    # RFC 9112 §5.1: OWS (SP or HTAB) around a value is not part of it.
    data = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked \t\r\nX: 1\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    events = three_ways(data)
    assert isinstance(events[0], RequestHead) and events[0].chunked
    assert events[1:3] == [BodyData(b"hello"), RequestEnd()]
    assert isinstance(events[3], RequestHead) and events[3].target == b"/next"
    assert len(events) == 5
    # After pipelined requests in the same read, with or without a body, and
    # repeated (the parser reuses a repeated head), too.
    get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    post = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n\r\n\r\n"
    tab = data[: data.index(b"GET /next")]
    for stream in (get + data, post + data, tab + tab + get, get + tab + post + tab + get):
        if stream.count(b"\t") == 1:
            events = three_ways(stream)
        else:
            # A second such head right after a chunked body that began in an
            # earlier read cannot be located safely and gets 400 (never a
            # misparse); whole or byte by byte it is always located.
            events, _ = feed([stream])
            assert feed([stream[i : i + 1] for i in range(len(stream))])[0] == events
        assert rejected(events) is None
        bodies = [e.data for e in events if isinstance(e, BodyData)]
        posts = stream.split(b"POST")[1:]
        assert bodies == [b"\r\n\r\n" if b"Content-Length" in p else b"hello" for p in posts]


def test_chunked_requests_back_to_back_in_any_split() -> None:
    tab = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
    )
    plain = tab.replace(b"chunked\t", b"chunked")
    for stream in (tab + tab, plain + tab + plain):
        events = three_ways(stream)
        assert [e.data for e in events if isinstance(e, BodyData)] == [b"hello"] * (
            stream.count(b"hello")
        )
        assert rejected(events) is None


def test_chunk_extensions_with_bad_whitespace() -> None:
    # RFC 9112 §7.1.1: BWS around ";" and "=", token or quoted values.
    data = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5 ; foo = bar ;q="a \\"b\\"" ;x\r\nhello\r\n0 ;last=1\r\n\r\n'
    )
    events = three_ways(data)
    assert events[1:] == [BodyData(b"hello"), RequestEnd()]


@pytest.mark.parametrize(
    "body",
    [
        b"5 \r\nhello\r\n0\r\n\r\n",  # BWS only before ";"
        b"5;\r\nhello\r\n0\r\n\r\n",  # ";" needs a name
        b"5;a b\r\nhello\r\n0\r\n\r\n",
        b"5;a=\r\nhello\r\n0\r\n\r\n",
        b'5;a="x\r\nhello\r\n0\r\n\r\n',
        b"5\nhello\r\n0\r\n\r\n",  # bare LF
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\nX: 1\r\n x\r\n\r\n",  # obs-fold in trailers
        b"5\r\nhello\r\n0\r\nX : 1\r\n\r\n",
        b"5\r\nhello\r\n0\r\nX: a\x01\r\n\r\n",
        b"5\r\nhello\r\n0\r\nX\r\n\r\n",
        b"5\r\nhello\r\n0\r\n\r\r\n",
    ],
)
def test_bad_chunked_framing(body: bytes) -> None:
    head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert rejected(three_ways(head + body)) == 400


def test_trailer_limits() -> None:
    limits = Limits(max_header_count=3, max_header_bytes=100)
    head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
    assert rejected(three_ways(head + b"T: 1\r\n" * 4 + b"\r\n", limits)) == 431
    assert rejected(three_ways(head + b"T: " + b"v" * 200 + b"\r\n\r\n", limits)) == 431
    events = three_ways(head + b"T:  1 \r\nU:\r\n\r\n", limits)
    assert events[-1] == RequestEnd([(b"T", b"1"), (b"U", b"")])


def test_pipelined_requests_all_answered() -> None:
    one = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
    two = b"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
    three = b"GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    events = three_ways(one + two + three)
    targets = [e.target for e in events if isinstance(e, RequestHead)]
    assert targets == [b"/1", b"/2", b"/3"]
    assert BodyData(b"abc") in events
    assert not any(isinstance(e, RequestRejected) for e in events)


def test_derived_fields() -> None:
    (head, _) = three_ways(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
    assert isinstance(head, RequestHead) and head.keep_alive and head.http_version == b"1.0"
    (head, _) = three_ways(b"GET / HTTP/1.0\r\n\r\n")
    assert isinstance(head, RequestHead) and not head.keep_alive
    (head, _) = three_ways(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n")
    assert isinstance(head, RequestHead) and not head.keep_alive
    data = b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx"
    head = three_ways(data)[0]
    assert isinstance(head, RequestHead) and head.expects_continue
    data = b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx"
    head = three_ways(data)[0]
    # RFC 9110 §10.1.1: ignored for HTTP/1.0.
    assert isinstance(head, RequestHead) and not head.expects_continue


@pytest.mark.parametrize(
    "target,method",
    [
        (b"*", b"OPTIONS"),
        (b"http://example.com/x?y", b"GET"),
        (b"HTTPS://EXAMPLE.com:443", b"GET"),
        # RFC 9112 §3.2.2: the target's authority wins; Host is ignored.
        (b"http://other.example/", b"GET"),
    ],
)
def test_target_forms_accepted(target: bytes, method: bytes) -> None:
    host = b"example.com:443" if b"443" in target else b"example.com"
    data = method + b" " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
    head = three_ways(data)[0]
    assert isinstance(head, RequestHead) and head.target == target


def test_leading_empty_line_ignored() -> None:
    # RFC 9112 §2.2: a server SHOULD ignore at least one empty line first.
    head = three_ways(b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")[0]
    assert isinstance(head, RequestHead)


H = b"Host: a\r\n"


@pytest.mark.parametrize(
    "data,status",
    [
        # RFC 9112 §6.1: Content-Length with Transfer-Encoding.
        (
            b"POST / HTTP/1.1\r\n"
            + H
            + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\n"
            + H
            + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            400,
        ),
        # RFC 9112 §6.3: chunked must be final; unknown codings 501; not on 1.0.
        (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        (
            b"POST / HTTP/1.1\r\n"
            + H
            + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        # RFC 9112 §6.3 item 5: invalid or conflicting Content-Length.
        (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello", 400),
        (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -5\r\n\r\nhello", 400),
        (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5, 5\r\n\r\nhello", 400),
        (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400),
        (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
        (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1 2\r\n\r\nhello", 400),
        (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0x5\r\n\r\nhello", 400),
        (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999999\r\n\r\n", 400),
        # RFC 9112 §5.1, §5.2: whitespace before colon, obs-fold.
        (b"GET / HTTP/1.1\r\n" + H + b"X : a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
        # RFC 9110 §5.5: CR, NUL, CTL in values; RFC 9110 §5.6.2 names.
        (b"GET / HTTP/1.1\r\n" + H + b"X: a\rb\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n" + H + b"X: a\x01b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n" + H + b"X: a\x7fb\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n" + H + b"X(y): a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n" + H + b": a\r\n\r\n", 400),
        # RFC 9112 §2.2: bare LF line endings are rejected (our choice).
        (b"GET / HTTP/1.1\nHost: a\n\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
        # RFC 9112 §7.1: chunk sizes and CRLF after chunk data.
        (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n-1\r\n", 400),
        (
            b"POST / HTTP/1.1\r\n"
            + H
            + b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400),
        (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n", 400),
        # RFC 9112 §3.2: exactly one valid Host in HTTP/1.1.
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
        # RFC 9112 §3.2.1-§3.2.4: target forms against the method.
        (b"GET a.com:443 HTTP/1.1\r\nHost: a.com:443\r\n\r\n", 400),
        (b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"CONNECT a.com HTTP/1.1\r\nHost: a.com\r\n\r\n", 400),
        (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        # RFC 9110 §15.6.6: only HTTP/1.0 and HTTP/1.1.
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505),
        (b"GET /\r\n\r\n", 505),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        (b"DESCRIBE / RTSP/1.0\r\nHost: a\r\n\r\n", 505),
        # RFC 9110 §9.1 / RFC 9112 §3: unknown or malformed method.
        (b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        (b"\r\nBREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        (b"GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\x01\x02garbage\r\n\r\n", 400),
        (b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"\x00GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        # RFC 9110 §10.1.1: an expectation we do not support.
        (b"GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", 417),
    ],
)
def test_rejected(data: bytes, status: int) -> None:
    events = three_ways(data)
    assert rejected(events) == status
    assert isinstance(events[-1], RequestRejected)


def test_complete_request_answered_before_rejection() -> None:
    good = b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"
    events = three_ways(good + b"GET / HTTP/1.1\r\nX : bad\r\n\r\n")
    assert isinstance(events[0], RequestHead) and events[0].target == b"/ok"
    assert events[1] == RequestEnd()
    assert rejected(events) == 400 and len(events) == 3


def test_request_line_limit_414() -> None:
    limits = Limits(max_request_line=100)
    long = b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    assert rejected(three_ways(long, limits)) == 414
    # A target that never ends is cut too.
    assert rejected(feed([long[:150]], limits)[0]) == 414
    ok = b"GET /" + b"a" * 60 + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    assert rejected(three_ways(ok, limits)) is None


def test_header_limits_431() -> None:
    limits = Limits(max_header_bytes=200, max_header_count=5, max_request_line=100)
    many = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: 1\r\n" * 5 + b"\r\n"
    assert rejected(three_ways(many, limits)) == 431
    big = b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 300 + b"\r\n\r\n"
    assert rejected(three_ways(big, limits)) == 431
    fits = b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 150 + b"\r\n\r\n"
    assert rejected(three_ways(fits, limits)) is None


def test_head_that_never_ends_is_cut() -> None:
    limits = Limits(max_header_bytes=1000, max_request_line=1000)
    start = b"GET / HTTP/1.1\r\nHost: a\r\nX: "
    for piece in (1, 7, 500, 5000):
        chunks = [start] + [b"v" * piece] * (3000 // piece + 2)
        events, _ = feed(chunks, limits)
        assert rejected(events) == 431, piece


def test_body_limit_413_from_content_length() -> None:
    limits = Limits(max_body_bytes=10)
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"
    events = three_ways(data, limits)
    # Decided before the body: no head is handed out.
    assert events == [RequestRejected(413, "request body too large")]
    ok = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789"
    assert rejected(three_ways(ok, limits)) is None


def test_body_limit_413_chunked() -> None:
    limits = Limits(max_body_bytes=10)
    data = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n"
    )
    events = three_ways(data, limits)
    assert isinstance(events[0], RequestHead)
    assert rejected(events) == 413
    assert sum(len(e.data) for e in events if isinstance(e, BodyData)) <= 10


def test_chunk_extension_limit() -> None:
    limits = Limits(max_chunk_extension_bytes=100)
    head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x="
    chunks = [head] + [b"a" * 50] * 10
    events, _ = feed(chunks, limits)
    assert rejected(events) == 400
    ok = head + b"a" * 50 + b"\r\nhello\r\n0\r\n\r\n"
    assert rejected(three_ways(ok, limits)) is None
    # Whole, split or byte by byte: the body never reaches the app.
    long = head + b"a" * 300 + b"\r\nhello\r\n0\r\n\r\n"
    events = three_ways(long, limits)
    assert isinstance(events[0], RequestHead) and rejected(events) == 400
    assert len(events) == 2


def test_eof_mid_request_rejected_and_closes() -> None:
    from sansketch.protocol import Action

    events, conn = feed([b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab"], eof=True)
    assert rejected(events) == 400
    assert conn.action is Action.CLOSE
    events, conn = feed([b"GET / HTTP/1.1\r\nHo"], eof=True)
    assert rejected(events) == 400
    assert conn.action is Action.CLOSE


def test_eof_between_requests_closes_after_answers() -> None:
    from sansketch.protocol import Action

    events, conn = feed([b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"], eof=True)
    assert rejected(events) is None and conn.action is Action.CLOSE


def test_bytes_after_close_request_are_ignored() -> None:
    data = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGARBAGE\r\n\r\n"
    events = three_ways(data)
    assert [type(e) for e in events] == [RequestHead, RequestEnd]


def test_repeated_head_with_other_version_is_not_confused() -> None:
    # The parser reuses the previous head when a client repeats it; the
    # version must still be checked, with or without a Connection field.
    for extra in (b"", b"Connection: keep-alive\r\n", b"Connection: close\r\n"):
        v11 = b"GET / HTTP/1.1\r\nHost: a\r\n" + extra + b"\r\n"
        v10 = v11.replace(b"HTTP/1.1", b"HTTP/1.0")
        v20 = v11.replace(b"HTTP/1.1", b"HTTP/2.0")
        for first, second in ((v11, v10), (v10, v11), (v11, v20)):
            if b"close" in first or (first is v10 and not extra):
                continue  # nothing is read after a request that closes
            events, _ = feed([first + second])
            heads = [e for e in events if isinstance(e, RequestHead)]
            if second is v20:
                assert rejected(events) == 505
            else:
                assert [h.http_version for h in heads] == [first[11:14], second[11:14]]
                if second is v10 and not extra:
                    assert not heads[1].keep_alive


# A head repeated byte for byte at a request boundary is recognised without
# llhttp (the parser learns it); these pin down that nothing else changes.
REPEAT = b"GET /r HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n"


def _heads(events: list[object]) -> list[bytes]:
    return [e.target for e in events if isinstance(e, RequestHead)]


def test_repeated_heads_in_one_read_and_across_reads() -> None:
    fresh = three_ways(REPEAT)
    for stream in (REPEAT * 5, REPEAT * 2 + b"\r\n" + REPEAT * 2, b"\r\n" + REPEAT * 3):
        count = stream.count(REPEAT)
        whole, _ = feed([stream])
        assert whole == fresh * count
        assert feed([stream[i : i + 1] for i in range(len(stream))])[0] == whole
        assert feed([REPEAT] * count)[0] == fresh * count
        # Reads that cut a repeated head anywhere.
        for cut in range(1, len(REPEAT)):
            assert feed([stream[: len(REPEAT) + cut], stream[len(REPEAT) + cut :]])[0] == whole


def test_repeated_head_then_others() -> None:
    other = REPEAT.replace(b"/r", b"/o")
    post = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
    stream = REPEAT * 3 + other * 2 + post + REPEAT + post * 2 + other
    events, _ = feed([stream])
    assert rejected(events) is None
    assert _heads(events) == [b"/r"] * 3 + [b"/o"] * 2 + [b"/p", b"/r", b"/p", b"/p", b"/o"]
    assert [e.data for e in events if isinstance(e, BodyData)] == [b"abc"] * 3
    assert feed([stream[i : i + 1] for i in range(len(stream))])[0] == events


def test_near_copy_of_learnt_head_is_checked_in_full() -> None:
    # One byte off the learnt head is a new head: every rule applies to it.
    for bad, status in (
        (REPEAT.replace(b"Host: a", b"Host: @"), 400),
        (REPEAT.replace(b"HTTP/1.1", b"HTTP/2.0"), 505),
        (REPEAT.replace(b"X-A: 1", b"X-A\x01 1"), 400),
        (REPEAT.replace(b"\r\n\r\n", b"\r\n" + b"X-A: 1\r\n" * 200 + b"\r\n"), 431),
    ):
        limits = Limits(max_header_count=100)
        assert rejected(feed([REPEAT * 2 + bad], limits)[0]) == status
        assert rejected(feed([REPEAT, REPEAT, bad], limits)[0]) == status


def test_learnt_head_inside_a_body_is_body() -> None:
    body = REPEAT * 2
    post = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    for chunks in (
        [REPEAT * 2 + post],
        [REPEAT, REPEAT, post],
        [REPEAT * 2, post[:-5], post[-5:]],
    ):
        events, _ = feed(chunks)
        assert _heads(events) == [b"/r", b"/r", b"/p"]
        assert b"".join(e.data for e in events if isinstance(e, BodyData)) == body


def test_learnt_head_not_replayed_after_close() -> None:
    close = REPEAT.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    events, _ = feed([REPEAT * 2 + close + REPEAT * 2])
    assert _heads(events) == [b"/r"] * 3 and rejected(events) is None


def test_learnt_head_survives_a_reused_buffer() -> None:
    # A driver may hand in a bytearray and refill it: the parser keeps its
    # own copy, so the refilled bytes are checked as a new head.
    _, conn = feed([])
    buf = bytearray(REPEAT)
    events = conn.receive_data(buf, 0.0)  # type: ignore[arg-type]
    conn.send_response(200, [], b"")
    buf[buf.index(b"Host: a") + 6] = ord("@")
    events += conn.receive_data(bytes(buf), 0.0)
    assert _heads(events) == [b"/r"] and rejected(events) == 400


def test_parsed_heads_are_plain_frozen_request_heads() -> None:
    # The parser builds heads through a faster constructor; what comes out
    # must be an ordinary, frozen RequestHead.
    data = b"GET /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n"
    head, _ = three_ways(data)
    assert type(head) is RequestHead
    assert head == RequestHead(
        b"GET",
        b"/f",
        b"1.1",
        [(b"Host", b"a"), (b"Expect", b"100-continue")],
        expects_continue=True,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        head.target = b"/other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del head.method  # type: ignore[misc]
    assert dataclasses.replace(head, keep_alive=False).keep_alive is False
    assert repr(head).startswith("RequestHead(method=b'GET', target=b'/f'")


def test_header_section_limit_is_exact() -> None:
    # Each field line counts name + ": " + value + CRLF.
    fields = b"Host: a\r\nX-Long: " + b"v" * 50 + b"\r\nEmpty: \r\n"
    size = len(fields)
    data = b"GET / HTTP/1.1\r\n" + fields + b"\r\n"
    assert rejected(feed([data], Limits(max_header_bytes=size))[0]) is None
    assert rejected(feed([data], Limits(max_header_bytes=size - 1))[0]) == 431
    assert rejected(feed([data], Limits(max_header_count=3))[0]) is None
    assert rejected(feed([data], Limits(max_header_count=2))[0]) == 431


def test_trailing_ows_stripped_wherever_the_field_is() -> None:
    for fields in (
        [(b"Host", b"a "), (b"X", b"1"), (b"Y", b"2")],
        [(b"Host", b"a"), (b"X", b"1\t"), (b"Y", b"2")],
        [(b"Host", b"a"), (b"X", b"1"), (b"Y", b"2 \t ")],
        [(b"Host", b"a"), (b"X", b"1 1"), (b"Y", b"")],
    ):
        data = b"GET / HTTP/1.1\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in fields)
        head, _ = three_ways(data + b"\r\n")
        assert isinstance(head, RequestHead)
        assert head.headers == [(n, v.rstrip(b" \t")) for n, v in fields]


def test_interpreted_fields_in_any_spelling() -> None:
    for host, connection, value in (
        (b"Host", b"Connection", b"close"),
        (b"HOST", b"CONNECTION", b"Close"),
        (b"hoSt", b"connectioN", b"keep-alive, close"),
        (b"host", b"connection", b" CLOSE "),
    ):
        data = b"GET / HTTP/1.1\r\n%s: a\r\n%s: %s\r\n\r\n" % (host, connection, value)
        head, _ = three_ways(data)
        assert isinstance(head, RequestHead) and head.keep_alive is False
        missing = data.replace(host + b": a\r\n", b"")
        assert rejected(three_ways(missing)) == 400
    head, _ = three_ways(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive\r\n\r\n")
    assert isinstance(head, RequestHead) and head.keep_alive
    data = (
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n"
    )
    data += b"\r\n"
    events, _ = feed([data])
    assert isinstance(events[0], RequestHead) and events[0].upgrade == b"websocket"


def test_same_fields_other_target_checked_as_a_fresh_head() -> None:
    # A head repeating the previous method, version and fields reuses what
    # was derived from them; its target must still pass its own rule.
    targets = (
        b"/a",
        b"/b?q=1",
        b"/c#frag",
        b"*",
        b"http://example.com/x",
        b"ftp://example.com/x",
        b"http://us@er@example.com/",
        b"example.com:443",
        b"example.com",
    )
    fields = b" HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n"
    for method in (b"GET", b"OPTIONS", b"CONNECT"):
        first = method + (b" first.example:80" if method == b"CONNECT" else b" /first") + fields
        for target in targets:
            second = method + b" " + target + fields
            alone = ServerConnection().receive_data(second, 0.0)
            for chunks in ([first + second], [first, second]):
                conn = ServerConnection()
                events = conn.receive_data(chunks[0], 0.0)
                assert isinstance(events[0], RequestHead) and events[0].target != target
                # A refused CONNECT leaves the connection speaking HTTP.
                conn.send_response(405 if method == b"CONNECT" else 200, [], b"")
                events = conn.next_events(0.0)
                if len(chunks) > 1:
                    events += conn.receive_data(chunks[1], 0.0)
                assert events == alone, (method, target)


def _after(first: bytes, second: bytes, limits: Limits | None = None) -> list[object]:
    """Events of ``second`` on a connection that has answered ``first``,
    in the same read and in the next one; asserts they agree."""
    results = []
    for chunks in ([first + second], [first, second]):
        conn = ServerConnection(limits)
        events = conn.receive_data(chunks[0], 0.0)
        assert [type(e) for e in events] == [RequestHead, RequestEnd], events
        conn.send_response(200, [], b"")
        events = conn.next_events(0.0)
        if len(chunks) > 1:
            events += conn.receive_data(chunks[1], 0.0)
        results.append(events)
    assert results[0] == results[1]
    return results[0]


def test_changed_fields_checked_as_a_fresh_head() -> None:
    # A head whose fields differ from the previous head's only in fields the
    # core does not interpret reuses what was derived; anything else is
    # checked in full. Either way: the events of a fresh parse.
    base = [b"Host: a", b"X-Id: 1", b"Accept: */*", b"Connection: keep-alive"]

    def head(fields: list[bytes], target: bytes = b"/") -> bytes:
        return (
            b"GET " + target + b" HTTP/1.1\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"
        )

    first = head(base)
    for i, replacement in [
        (1, b"X-Id: 2"),
        (1, b"X-Other: 2"),
        (2, b"Accept: text/html"),
        (2, b"Accept: text/html "),  # trailing OWS: stripped
        (1, b"X-Id: 1\t"),
        (0, b"Host: b"),
        (0, b"Host: b@c"),  # invalid Host
        (0, b"X-Host: a"),  # no Host any more
        (1, b"HOST: a"),  # two Hosts
        (3, b"Connection: close"),
        (3, b"X-Connection: keep-alive"),
        (1, b"Content-Length: 0"),
        (1, b"Expect: 100-continue"),
        (1, b"Expect: other"),
        (1, b"Transfer-Encoding: gzip"),
        (1, b"Upgrade: websocket"),
        (1, b"upGRADE: websocket"),
    ]:
        fields = [*base]
        fields[i] = replacement
        for target in (b"/", b"/next", b"/bad#frag"):
            second = head(fields, target)
            alone = ServerConnection().receive_data(second, 0.0)
            assert _after(first, second) == alone, (replacement, target)
    # After a head whose values had trailing OWS, and over the size limit.
    ows = head([b"Host: a ", *base[1:]])
    assert _after(ows, head([b"Host: a ", b"X-Id: 9", *base[2:]]))[0] == RequestHead(
        b"GET",
        b"/",
        b"1.1",
        [(b"Host", b"a"), (b"X-Id", b"9"), (b"Accept", b"*/*"), (b"Connection", b"keep-alive")],
    )
    limits = Limits(max_header_bytes=len(b"".join(f + b"\r\n" for f in base)) + 5)
    assert rejected(_after(first, head([base[0], b"X-Id: 123456", *base[2:]]), limits)) is None
    assert rejected(_after(first, head([base[0], b"X-Id: 1234567", *base[2:]]), limits)) == 431


def test_changed_fields_over_several_heads_keep_the_size_exact() -> None:
    fields = [b"Host: a", b"X-Id: 1", b"Accept: */*"]
    limit = len(b"".join(f + b"\r\n" for f in fields)) + 5

    def head(x_id: bytes, accept: bytes = b"*/*") -> bytes:
        return b"GET / HTTP/1.1\r\nHost: a\r\nX-Id: %s\r\nAccept: %s\r\n\r\n" % (x_id, accept)

    at_limit = head(b"123456")
    for heads, status in (
        ([head(b"1"), at_limit, at_limit, head(b"2"), at_limit], None),
        ([head(b"1"), at_limit, head(b"123456", b"*/*x")], 431),
        ([head(b"1"), head(b"12"), head(b"1234567")], 431),
        ([head(b"1"), head(b"12345"), head(b"1", b"*/*/*")], None),
    ):
        for chunks in (heads, [b"".join(heads)]):
            events, _ = feed(chunks, Limits(max_header_bytes=limit))
            assert rejected(events) == status, heads
            if status is None:
                assert events == [e for h in heads for e in three_ways(h)]


def test_remembered_heads_stay_within_the_head_limits() -> None:
    # What the parser keeps to recognise a repeated head is bounded by the
    # head limits, whatever the size of the reads.
    limits = Limits(max_request_line=100, max_header_bytes=200)
    padded = b"GET / HTTP/1.1\r\nHost: a\r\nX:" + b" " * 5000 + b"v\r\n\r\n"
    conn = ServerConnection(limits)
    for _ in range(3):
        events = conn.receive_data(padded, 0.0)
        assert isinstance(events[0], RequestHead) and events[0].headers[-1] == (b"X", b"v")
        conn.send_response(200, [], b"")
        assert conn.next_events(0.0) == []
    events = conn.receive_data(padded * 3, 0.0)
    assert [type(e) for e in events] == [RequestHead, RequestEnd]
    parser = conn._parser
    assert len(parser._seen) <= 300 and len(parser._known or b"") <= 300
