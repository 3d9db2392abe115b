"""Run a case against a live server over a raw loopback socket.

Every wait is bounded: connecting, waiting for ``100 Continue`` and reading
the answer each have a deadline, so a server that hangs fails the case
instead of hanging the run.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from urllib.parse import urlsplit

from ._cases import Case, Step
from ._judge import PROBE, Transcript, parse_responses, settled

PAUSE_SECONDS = 0.02  # long enough for a write to leave as its own TCP segment
WAIT_100_SECONDS = 1.0  # RFC 9110 §10.1.1: a client may send the body after a while anyway
READ_SECONDS = 3.0  # the whole answer, once everything is sent
CLOSE_GRACE_SECONDS = 0.5  # after an error response, how long to wait for the close


def loopback_address(url: str) -> tuple[str, int]:
    """``(host, port)`` of an ``http://`` URL on a loopback address, else ValueError."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or not parts.port:
        raise ValueError("use http://127.0.0.1:PORT")
    host = parts.hostname
    infos = socket.getaddrinfo(host, parts.port, type=socket.SOCK_STREAM)
    if not infos or not all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos):
        raise ValueError(f"{host} is not a loopback address; only loopback servers are tested")
    return str(infos[0][4][0]), parts.port


def _recv(sock: socket.socket, buf: bytearray, deadline: float) -> bool | None:
    """One read before ``deadline``: True at EOF, None on timeout, else False."""
    left = deadline - time.monotonic()
    if left <= 0:
        return None
    sock.settimeout(left)
    try:
        chunk = sock.recv(65536)
    except TimeoutError:
        return None
    except OSError:  # reset: the server closed with our data unread
        return True
    if not chunk:
        return True
    buf += chunk
    return False


def run_live(case: Case, address: tuple[str, int]) -> Transcript:
    """Send ``case`` to the server at ``address`` and collect its answer."""
    steps = case.segments()
    if case.closed is False:
        steps.append(Step("data", PROBE))
    try:
        sock = socket.create_connection(address, timeout=5.0)
    except OSError as exc:
        return Transcript(b"", False, f"cannot connect: {exc}")
    buf = bytearray()
    eof = False
    with sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for step in steps:
            if eof:
                break
            try:
                if step.kind == "data":
                    sock.settimeout(5.0)
                    sock.sendall(step.data)
                elif step.kind == "pause":
                    time.sleep(PAUSE_SECONDS)
                elif step.kind == "half_close":
                    sock.shutdown(socket.SHUT_WR)
                else:  # wait_100: until the first complete head (100 or final)
                    start, wait_until = len(buf), time.monotonic() + WAIT_100_SECONDS
                    while b"\r\n\r\n" not in buf[start:]:
                        got = _recv(sock, buf, wait_until)
                        if got is None:
                            break
                        if got:
                            eof = True
                            break
            except OSError:  # the server closed early; judge what it said
                break
        deadline = time.monotonic() + READ_SECONDS
        while not eof and not settled(case, bytes(buf), eof):
            responses, _ = parse_responses(bytes(buf), eof)
            if any(r.echo is None and r.status >= 400 for r in responses):
                deadline = min(deadline, time.monotonic() + CLOSE_GRACE_SECONDS)
            got = _recv(sock, buf, deadline)
            if got is None:
                break
            eof = got
    return Transcript(bytes(buf), eof)
