"""Judging what a server wrote back: one judge for in-process and live runs.

The judge sees only the bytes the server wrote and whether it closed. It
parses them strictly as HTTP/1.1 responses (RFC 9112 §4-§7), recovers what
the echo app saw from each echo response, and checks the case's expectation.
Framing follows RFC 9112 §6.3 from the client side: the echo's
``x-echo-method`` header says which responses answer HEAD or CONNECT.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field

from ._cases import Case, ExpectedRequest

PROBE_TARGET = "/__keepalive_probe"
PROBE = b"GET " + PROBE_TARGET.encode() + b" HTTP/1.1\r\nHost: probe.test\r\n\r\n"
"""Sent after a case that expects the connection to stay open; must be answered."""

_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])(?: [\t !-~\x80-\xff]*)?")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})((?:;[^\r\n]*)?)\r\n")
_ERROR_STATUSES = frozenset(range(400, 500)) | {501, 505}


@dataclass(frozen=True, slots=True)
class Transcript:
    """What came back from the server for one case."""

    data: bytes
    eof: bool
    error: str | None = None  # the run itself failed (exception, refused connection)


@dataclass(slots=True)
class Response:
    """One parsed response."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    interims: list[int] = field(default_factory=list)  # 1xx statuses sent before it
    echo: dict[str, object] | None = None  # what the echo app saw, for echo responses

    def header(self, name: bytes) -> list[bytes]:
        """Values of every field called ``name`` (case-insensitive)."""
        return [v for n, v in self.headers if n.lower() == name]


class _Incomplete(Exception):
    pass


class ResponseSyntaxError(Exception):
    """The server wrote bytes that are not a valid HTTP/1.1 response."""


def _parse_head(data: bytes, pos: int) -> tuple[int, list[tuple[bytes, bytes]], int]:
    end = data.find(b"\r\n\r\n", pos)
    if end == -1:
        if len(data) - pos > 256 * 1024:
            raise ResponseSyntaxError("response head larger than 256 KiB")
        raise _Incomplete
    lines = data[pos:end].split(b"\r\n")
    m = _STATUS_LINE.fullmatch(lines[0])
    if not m:
        raise ResponseSyntaxError(f"bad status line {lines[0][:80]!r}")
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise ResponseSyntaxError(f"bad header line {line[:80]!r}")
        value = value.strip(b" \t")
        if any((b < 0x20 and b != 0x09) or b == 0x7F for b in value):
            raise ResponseSyntaxError(f"control byte in header {name!r}")
        headers.append((name, value))
    return int(m.group(1)), headers, end + 4


def _parse_chunked(data: bytes, pos: int) -> tuple[bytes, int]:
    body = bytearray()
    while True:
        m = _CHUNK_SIZE.match(data, pos)
        if not m:
            if data.find(b"\r\n", pos) == -1 and len(data) - pos < 64:
                raise _Incomplete
            raise ResponseSyntaxError("bad chunk size line")
        size = int(m.group(1), 16)
        pos = m.end()
        if size == 0:
            end = data.find(b"\r\n", pos)
            while end != pos:  # trailer section, RFC 9112 §7.1.2
                if end == -1:
                    raise _Incomplete
                pos = end + 2
                end = data.find(b"\r\n", pos)
            return bytes(body), pos + 2
        if len(data) < pos + size + 2:
            raise _Incomplete
        if data[pos + size : pos + size + 2] != b"\r\n":
            raise ResponseSyntaxError("chunk data not followed by CRLF")
        body += data[pos : pos + size]
        pos += size + 2


def _decode_echo(resp: Response) -> dict[str, object] | None:
    if not resp.header(b"x-echo-method"):
        return None
    carried = resp.header(b"x-echo")
    raw = resp.body
    try:
        if carried:
            raw = base64.b64decode(carried[0], validate=True)
        doc = json.loads(raw)
    except (ValueError, binascii.Error) as exc:
        raise ResponseSyntaxError(f"echo response does not carry its JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ResponseSyntaxError("echo JSON is not an object")
    return doc


def parse_responses(data: bytes, eof: bool) -> tuple[list[Response], str | None]:
    """Every complete response in ``data``; the second item names a problem.

    A close-delimited body (RFC 9112 §6.3 rule 8) completes only at ``eof``.
    After a 101, or a 2xx to CONNECT, the rest is not HTTP and is ignored.
    """
    out: list[Response] = []
    interims: list[int] = []
    pos = 0
    try:
        while pos < len(data):
            status, headers, body_at = _parse_head(data, pos)
            resp = Response(status, headers)
            method = (resp.header(b"x-echo-method") or [b""])[0]
            if 100 <= status < 200 and status != 101:
                interims.append(status)
                pos = body_at
                continue
            resp.interims, interims = interims, []
            te = b",".join(resp.header(b"transfer-encoding")).lower()
            cls = resp.header(b"content-length")
            tunnel = status == 101 or (method == b"CONNECT" and 200 <= status < 300)
            if tunnel or method == b"HEAD" or status in (204, 304):
                pos = body_at
            elif te:
                if te.replace(b" ", b"").split(b",")[-1] != b"chunked":
                    raise ResponseSyntaxError(f"response transfer-coding {te!r} is not chunked")
                resp.body, pos = _parse_chunked(data, body_at)
            elif cls:
                if len(set(cls)) != 1 or not cls[0].isdigit():
                    raise ResponseSyntaxError(f"bad response Content-Length {cls!r}")
                end = body_at + int(cls[0])
                if len(data) < end:
                    raise _Incomplete
                resp.body, pos = data[body_at:end], end
            else:
                if not eof:
                    raise _Incomplete
                resp.body, pos = data[body_at:], len(data)
            resp.echo = _decode_echo(resp)
            out.append(resp)
            if tunnel:
                break
    except _Incomplete:
        return out, (f"truncated response ({len(data) - pos} bytes left)" if eof else None)
    except ResponseSyntaxError as exc:
        return out, f"response does not parse: {exc}"
    if interims:
        return out, None if not eof else "interim response not followed by a final one"
    return out, None


def _framing_problems(resp: Response) -> list[str]:
    """Rules every response must follow, whatever the case."""
    problems: list[str] = []
    te, cl = resp.header(b"transfer-encoding"), resp.header(b"content-length")
    if te and cl:  # RFC 9112 §6.2: a sender MUST NOT send both
        problems.append(f"{resp.status} response has both Transfer-Encoding and Content-Length")
    if resp.status == 204 and (te or cl):  # RFC 9110 §8.6, RFC 9112 §6.1
        problems.append("204 response carries Content-Length or Transfer-Encoding")
    if resp.status == 304 and te:
        problems.append("304 response carries Transfer-Encoding")
    echo = resp.echo
    connect_2xx = echo is not None and echo.get("method") == "CONNECT" and 200 <= resp.status < 300
    if connect_2xx and (te or cl):  # RFC 9110 §9.3.6
        problems.append("2xx response to CONNECT carries Content-Length or Transfer-Encoding")
    if echo is not None and echo.get("http_version") == "1.0":
        if te:  # RFC 9112 §6.1: no Transfer-Encoding to an HTTP/1.0 request
            problems.append("response to an HTTP/1.0 request uses Transfer-Encoding")
        if resp.interims:  # RFC 9110 §15.2: no 1xx to an HTTP/1.0 client
            problems.append("1xx response sent to an HTTP/1.0 request")
    return problems


def _describe(echo: dict[str, object]) -> str:
    target = str(echo.get("target"))
    return f"{echo.get('method')} {target if len(target) <= 60 else target[:57] + '...'}"


def _request_problems(i: int, exp: ExpectedRequest, resp: Response) -> list[str]:
    echo = resp.echo or {}
    what = f"request {i + 1}"
    problems: list[str] = []
    if echo.get("method") != exp.method:
        problems.append(f"{what}: method {echo.get('method')!r}, expected {exp.method!r}")
    if echo.get("target") != exp.target:
        problems.append(f"{what}: target {echo.get('target')!r}, expected {exp.target!r}")
    if exp.version is not None and echo.get("http_version") != exp.version:
        problems.append(f"{what}: version {echo.get('http_version')!r}, expected {exp.version}")
    raw_headers = echo.get("headers")
    seen = raw_headers if isinstance(raw_headers, list) else []
    pairs = [(str(h[0]).lower(), str(h[1])) for h in seen if isinstance(h, list) and len(h) == 2]
    for name, value in set(exp.headers):
        want = exp.headers.count((name, value))
        if pairs.count((name.lower(), value)) < want:
            have = [v for n, v in pairs if n == name.lower()]
            problems.append(f"{what}: header {name}: {value!r} x{want} missing (saw {have!r})")
    for name in exp.absent:
        if any(n == name.lower() for n, _ in pairs):
            problems.append(f"{what}: header {name} should not reach the app")
    try:
        body = base64.b64decode(str(echo.get("body_b64", "")), validate=True)
    except (ValueError, binascii.Error):
        body = b"<undecodable>"
    if body != exp.body:
        problems.append(f"{what}: body {body[:60]!r}, expected {exp.body[:60]!r}")
    seq = echo.get("seq")
    if isinstance(seq, int) and seq != i + 1:
        problems.append(f"{what}: answered as request {seq} of its connection")
    check = exp.response
    if check.status is not None and resp.status != check.status:
        problems.append(f"{what}: response status {resp.status}, expected {check.status}")
    if check.body_empty and resp.body:
        problems.append(f"{what}: response body should be empty ({len(resp.body)} bytes)")
    if check.no_te and resp.header(b"transfer-encoding"):
        problems.append(f"{what}: response should not use Transfer-Encoding")
    return problems


def _accept(case: Case, finals: list[Response], eof: bool) -> list[str]:
    problems: list[str] = []
    errors = [r for r in finals if r.echo is None]
    if errors:
        problems.append(f"server answered {errors[0].status} instead of passing the request on")
    echoes = [r for r in finals if r.echo is not None]
    if case.closed is False:
        if not echoes or echoes[-1].echo is None or echoes[-1].echo.get("target") != PROBE_TARGET:
            problems.append("connection did not stay usable: keep-alive probe not answered")
        else:
            echoes = echoes[:-1]
    elif case.closed is True and not eof:
        problems.append("connection should close after the response")
    if len(echoes) != len(case.requests):
        seen = ", ".join(_describe(r.echo or {}) for r in echoes) or "nothing"
        problems.append(f"app saw {len(echoes)} requests ({seen}), expected {len(case.requests)}")
    for i, (exp, resp) in enumerate(zip(case.requests, echoes, strict=False)):
        problems.extend(_request_problems(i, exp, resp))
    if case.continue_sent is not None:
        sent = any(100 in r.interims for r in finals)
        if sent != case.continue_sent:
            problems.append("100 Continue " + ("not sent" if case.continue_sent else "was sent"))
    return problems


def _reject(case: Case, prefix: int, finals: list[Response], eof: bool) -> list[str]:
    problems: list[str] = []
    echoes = [r for r in finals if r.echo is not None]
    errors = [r for r in finals if r.echo is None]
    if len(echoes) > prefix:
        extra = ", ".join(_describe(r.echo or {}) for r in echoes[prefix:])
        problems.append(f"app saw {extra} (should have been rejected)")
    elif len(echoes) < prefix:
        problems.append(f"app saw {len(echoes)} requests before the error, expected {prefix}")
    for i, (exp, resp) in enumerate(zip(case.requests[:prefix], echoes, strict=False)):
        problems.extend(_request_problems(i, exp, resp))
    if errors:
        status = errors[0].status
        allowed = case.status or tuple(sorted(_ERROR_STATUSES))
        if status not in allowed:
            want = "/".join(map(str, case.status)) if case.status else "4xx/501/505"
            problems.append(f"server answered {status}, expected {want}")
        if finals.index(errors[0]) < len(echoes):
            problems.append("an echo response followed the error response")
    elif case.status:
        want = "/".join(map(str, case.status))
        problems.append(f"no {want} response (the case pins the status)")
    elif not eof:
        problems.append("server neither answered with an error nor closed")
    return problems


def judge(case: Case, transcript: Transcript) -> list[str]:
    """Everything wrong with ``transcript`` as an answer to ``case`` (empty: pass)."""
    if transcript.error:
        return [transcript.error]
    responses, parse_problem = parse_responses(transcript.data, transcript.eof)
    base: list[str] = [parse_problem] if parse_problem else []
    for resp in responses:
        base.extend(_framing_problems(resp))
    listed = {r.target for r in case.requests}
    for resp in responses:
        target = str((resp.echo or {}).get("target", ""))
        if "smuggled" in target and target not in listed:
            base.append(f"smuggled request reached the app: {_describe(resp.echo or {})}")
    finals = responses
    if case.expect == "accept":
        return base + _accept(case, finals, transcript.eof)
    if case.expect == "reject":
        return base + _reject(case, len(case.requests), finals, transcript.eof)
    accept = _accept(case, finals, transcript.eof)
    reject = _reject(case, case.prefix, finals, transcript.eof)
    if not accept or not reject:
        return base
    return [
        *base,
        "neither branch holds: accept: " + "; ".join(accept),
        "reject: " + "; ".join(reject),
    ]


def settled(case: Case, data: bytes, eof: bool) -> bool:
    """Whether a live client has read enough to judge (it may stop reading)."""
    if eof:
        return True
    responses, problem = parse_responses(data, eof)
    if problem:
        return True
    echoes = sum(1 for r in responses if r.echo is not None)
    if any(r.echo is None and r.status >= 400 for r in responses):
        return False  # an error: wait (briefly) for the close that should follow
    if case.expect == "reject":
        return echoes > len(case.requests)
    wanted = len(case.requests) + (1 if case.closed is False else 0)
    return echoes >= wanted and case.closed is not True
