"""The echo contract every server under test serves, shared by all echo apps.

Every request is answered with a JSON document describing what the app saw:
``method``, ``target`` (raw, latin-1), ``path``, ``query``, ``http_version``,
``headers`` (``[name, value]`` pairs in arrival order, duplicates kept),
``body_b64`` and ``seq`` (1-based index of the request on its connection, or
``null`` when the server cannot tell). Special paths (by prefix):

- ``/stream``: no Content-Length, body in two writes (chunked or close-delimited);
- ``/status/204``, ``/status/304``: that status, no body;
- ``/noread``: the app answers without reading the body (no 100 Continue);
- ``/close``: the app adds ``Connection: close`` to its response.

Responses always carry ``x-echo-method`` and ``x-echo-seq``; when there is no
body to carry the document (HEAD, CONNECT, 204, 304) it travels base64-encoded in
``x-echo``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Plan:
    """How the echo app answers a request."""

    status: int
    stream: bool
    read_body: bool
    close: bool
    bodyless: bool


def split_target(target: bytes) -> tuple[str, str]:
    """``(path, query)`` of a request-target in any of the four forms."""
    text = target.decode("latin-1")
    if text.startswith("/"):
        path, _, query = text.partition("?")
        return path, query
    scheme, sep, rest = text.partition("://")
    if sep and scheme.isalpha():  # absolute-form, RFC 9112 §3.2.2
        slash = rest.find("/")
        query_at = rest.find("?")
        if slash == -1 or (query_at != -1 and query_at < slash):
            rest = "/" + rest[query_at:] if query_at != -1 else "/"
        else:
            rest = rest[slash:]
        path, _, query = rest.partition("?")
        return path, query
    return ("*" if text == "*" else ""), ""  # asterisk- or authority-form


def plan_for(method: bytes, target: bytes) -> Plan:
    """What the echo app does for ``method`` on ``target``."""
    path, _ = split_target(target)
    status = 200
    if path.startswith("/status/204"):
        status = 204
    elif path.startswith("/status/304"):
        status = 304
    return Plan(
        status=status,
        stream=path.startswith("/stream"),
        read_body=not path.startswith("/noread"),
        close=path.startswith("/close"),
        bodyless=method in (b"HEAD", b"CONNECT") or status in (204, 304),
    )


def echo_document(
    *,
    method: bytes,
    target: bytes,
    http_version: str,
    headers: Iterable[tuple[bytes, bytes]],
    body: bytes,
    seq: int | None,
) -> bytes:
    """The JSON body describing one request as the app saw it."""
    path, query = split_target(target)
    doc = {
        "method": method.decode("latin-1"),
        "target": target.decode("latin-1"),
        "path": path,
        "query": query,
        "http_version": http_version,
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in headers],
        "body_b64": base64.b64encode(body).decode("ascii"),
        "seq": seq,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def echo_headers(
    plan: Plan, method: bytes, seq: int | None, doc: bytes
) -> list[tuple[bytes, bytes]]:
    """Response headers of the echo app (without framing headers)."""
    headers = [
        (b"content-type", b"application/json"),
        (b"x-echo-method", method),
        (b"x-echo-seq", str(seq if seq is not None else 0).encode()),
    ]
    if plan.bodyless:
        headers.append((b"x-echo", base64.b64encode(doc)))
    if plan.close:
        headers.append((b"connection", b"close"))
    return headers


def stream_parts(doc: bytes) -> tuple[bytes, bytes]:
    """The two writes of a ``/stream`` response."""
    half = len(doc) // 2
    return doc[:half], doc[half:]
