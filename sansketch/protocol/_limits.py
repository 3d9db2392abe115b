"""Limits on everything a client controls, and the core's timeouts.

Each default names the server whose choice it follows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds the core enforces on one connection.

    Attributes:
        max_request_line: longest request line in bytes, else 414
            (nginx ``large_client_header_buffers``: 8 KiB).
        max_header_bytes: largest header section in bytes, else 431
            (nginx / h11: 8 KiB-64 KiB; we take 16 KiB).
        max_header_count: most header fields, else 431 (Apache
            ``LimitRequestFields``: 100).
        max_body_bytes: largest request body, else 413 (``None``: unlimited;
            the app layer applies its own ``client_max_size``).
        max_buffered_bytes: bytes of pipelined requests the core holds while
            a response is pending before it asks the driver to pause reading
            (h11's 16 KiB receive buffer order of magnitude; 64 KiB here).
        max_chunk_extension_bytes: longest chunk extension, else 400
            (Go net/http and llhttp reject unbounded extensions; 4 KiB).
        max_discard_bytes: unread request body the core will read and drop
            after an early response to keep the connection alive (uvicorn and
            h11 close instead; Go drains 256 KiB); past it, close.
        request_head_timeout: seconds from the first byte of a request (or the
            end of the previous response) to the end of its head, else 408
            (nginx ``client_header_timeout``: 60 s; 10 s here).
        keep_alive_timeout: seconds an idle keep-alive connection is kept
            (uvicorn: 5 s).
        shutdown_timeout: seconds a draining connection may take to finish
            its in-flight request during shutdown (uvicorn / aiohttp: 30 s).
    """

    max_request_line: int = 8 * 1024
    max_header_bytes: int = 16 * 1024
    max_header_count: int = 100
    max_body_bytes: int | None = None
    max_buffered_bytes: int = 64 * 1024
    max_chunk_extension_bytes: int = 4 * 1024
    max_discard_bytes: int = 256 * 1024
    request_head_timeout: float = 10.0
    keep_alive_timeout: float = 5.0
    shutdown_timeout: float = 30.0
