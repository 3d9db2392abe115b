"""Property tests: split invariance of parsing, and responses that h11 reads
back exactly as they were sent."""

from __future__ import annotations

import h11
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proto_helpers import feed, rejected

from sansketch.protocol import RequestHead, ServerConnection

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
VCHARS = "".join(chr(c) for c in range(0x21, 0x7F))
PATH = "abcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/%"

token = st.text(TCHARS, min_size=1, max_size=12).map(str.encode)
value = st.builds(
    lambda a, b: (a + (" " + b if b else "")).encode(),
    st.text(VCHARS, min_size=1, max_size=12),
    st.text(VCHARS, max_size=8),
)
RESERVED = {b"host", b"content-length", b"transfer-encoding", b"connection", b"expect", b"upgrade"}
field = st.tuples(token, value).filter(lambda f: f[0].lower() not in RESERVED)


@st.composite
def request(draw: st.DrawFn, last: bool) -> bytes:
    method = draw(st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH"]))
    target = b"/" + draw(st.text(PATH, max_size=20)).encode().replace(b"%", b"%25")
    query = draw(st.one_of(st.none(), st.text(PATH, max_size=10)))
    if query is not None:
        target += b"?" + query.encode().replace(b"%", b"%25")
    lines = [b"Host: example.com"] + [n + b": " + v for n, v in draw(st.lists(field, max_size=6))]
    body = draw(st.binary(max_size=40))
    mode = draw(st.sampled_from(["none", "length", "chunked"]))
    if mode == "none":
        body = b""
    if last and draw(st.booleans()):
        lines.append(b"Connection: close")
    if mode == "length":
        lines.append(b"Content-Length: %d" % len(body))
        payload = body
    elif mode == "chunked":
        lines.append(b"Transfer-Encoding: chunked")
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        payload = b""
        for piece in pieces:
            if piece:
                ext = b";x=1" if draw(st.booleans()) else b""
                payload += b"%x%s\r\n%s\r\n" % (len(piece), ext, piece)
        trailers = draw(st.lists(field, max_size=2))
        payload += b"0\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in trailers) + b"\r\n"
    else:
        payload = b""
    return method + b" " + target + b" HTTP/1.1\r\n" + b"\r\n".join(lines) + b"\r\n\r\n" + payload


@st.composite
def stream(draw: st.DrawFn) -> bytes:
    n = draw(st.integers(1, 4))
    return b"".join(draw(request(last=i == n - 1)) for i in range(n))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream(), st.lists(st.integers(0, 10_000), max_size=8))
def test_any_split_gives_same_events(data: bytes, cuts: list[int]) -> None:
    whole, _ = feed([data])
    assert rejected(whole) is None, whole
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = zip([0, *points], [*points, len(data)], strict=True)
    chunks = [data[a:b] for a, b in bounds if b > a]  # b"" would mean EOF
    split, _ = feed(chunks)
    assert split == whole


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    request(last=False),
    st.integers(2, 5),
    stream(),
    st.lists(st.integers(0, 10_000), max_size=6),
)
def test_repeated_requests_parse_as_fresh(
    first: bytes, copies: int, rest: bytes, cuts: list[int]
) -> None:
    # A head repeated byte for byte is recognised without llhttp: the events
    # must be those of parsing every byte (one at a time, nothing repeats).
    data = first * copies + rest
    whole, _ = feed([data])
    assert rejected(whole) is None, whole
    assert feed([data[i : i + 1] for i in range(len(data))])[0] == whole
    assert feed([first] * copies + [rest])[0] == whole
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = zip([0, *points], [*points, len(data)], strict=True)
    assert feed([data[a:b] for a, b in bounds if b > a])[0] == whole


status_st = st.one_of(
    st.sampled_from([200, 201, 204, 301, 304, 400, 404, 500, 503]), st.integers(200, 599)
)


@st.composite
def response_plan(draw: st.DrawFn) -> dict[str, object]:
    return {
        "method": draw(st.sampled_from([b"GET", b"HEAD", b"POST"])),
        "version": draw(st.sampled_from([b"1.1", b"1.0"])),
        "status": draw(status_st),
        "headers": draw(st.lists(field, max_size=5)),
        "body": draw(st.lists(st.binary(max_size=30), max_size=4)),
        "mode": draw(st.sampled_from(["whole", "length", "stream"])),
        "trailers": draw(st.lists(field, max_size=2)),
        "interim": draw(st.booleans()),
    }


@settings(max_examples=300, deadline=None)
@given(response_plan())
def test_responses_parse_back_with_h11(plan: dict[str, object]) -> None:
    method = plan["method"]
    version = plan["version"]
    status = plan["status"]
    headers = plan["headers"]
    pieces = plan["body"]
    mode = plan["mode"]
    trailers = plan["trailers"]
    assert isinstance(method, bytes) and isinstance(version, bytes)
    assert isinstance(status, int) and isinstance(pieces, list)
    assert isinstance(headers, list) and isinstance(trailers, list)
    body = b"".join(pieces)

    conn = ServerConnection()
    ka = b"Connection: keep-alive\r\n" if version == b"1.0" else b""
    request = method + b" /x HTTP/" + version + b"\r\nHost: a\r\n" + ka + b"\r\n"
    (head, _) = conn.receive_data(request, 0.0)
    assert isinstance(head, RequestHead)
    out = b""
    if plan["interim"]:
        out += conn.send_head(103, [(b"Link", b"</s>")])
    if mode == "whole":
        out += conn.send_response(status, headers, body)
    else:
        hs = list(headers)
        if mode == "length" and status != 204:
            hs.append((b"Content-Length", b"%d" % len(body)))
        out += conn.send_head(status, hs)
        for piece in pieces:
            out += conn.send_body(piece)
        out += conn.send_end(trailers)

    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target=b"/x", headers=[(b"Host", b"a")]))
    client.send(h11.EndOfMessage())
    client.receive_data(out)
    if conn.action.value == "close":
        client.receive_data(b"")
    got_body = b""
    final = None
    got_trailers: list[tuple[bytes, bytes]] = []
    while True:
        event = client.next_event()
        if isinstance(event, h11.InformationalResponse):
            assert event.status_code == 103
            continue
        if isinstance(event, h11.Response):
            final = event
        elif isinstance(event, h11.Data):
            got_body += event.data
        elif isinstance(event, h11.EndOfMessage):
            got_trailers = [(bytes(n), bytes(v)) for n, v in event.headers]
            break
        else:
            raise AssertionError(event)
    assert final is not None and final.status_code == status
    sent = [(n.lower(), v) for n, v in headers]
    received = [(bytes(n), bytes(v)) for n, v in final.headers]
    assert [h for h in received if h in sent] == sent
    no_body = method == b"HEAD" or status in (204, 304)
    assert got_body == (b"" if no_body else body)
    chunked = (b"transfer-encoding", b"chunked") in received
    if chunked and not no_body:
        assert got_trailers == [(n.lower(), v) for n, v in trailers]
    assert chunked == (mode == "stream" and version == b"1.1" and not no_body)
    if version == b"1.0" and mode == "stream" and not no_body:
        assert (b"connection", b"close") in received
