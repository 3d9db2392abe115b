"""The ceiling: a bare uvloop ``asyncio.Protocol`` with httptools.

It parses each request with httptools (so the cost of a real parser pass is
included) and answers every request with the same fixed response: no routing,
no request object, no app. Responses to pipelined requests that arrive in one
read are written together. Nothing a framework can do per request is cheaper,
which is what makes it the reference for "within 2x of the ceiling".

With ``--streams`` it is the same on ``asyncio.start_server`` streams (a
task per connection reading its ``StreamReader``, writing to the transport):
the floor of any server built on asyncio streams, such as sansketch's
asyncio-streams driver.

Usage: ``python bench/ceiling.py --host 127.0.0.1 --port 8080 [--streams]``
"""

from __future__ import annotations

import argparse
import asyncio
from email.utils import formatdate
from typing import cast

import httptools
import uvloop

_BODY = b"Hello, World!"


def _response() -> bytes:
    # RFC 9110 §6.6.1: an origin server with a clock sends Date.
    date = formatdate(usegmt=True).encode("ascii")
    return (
        b"HTTP/1.1 200 OK\r\n"
        b"content-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(_BODY)).encode("ascii") + b"\r\n"
        b"date: " + date + b"\r\n"
        b"\r\n" + _BODY
    )


class _State:
    """The one response all connections share; its Date is refreshed each second."""

    response = _response()


def _refresh_date(loop: asyncio.AbstractEventLoop) -> None:
    _State.response = _response()
    loop.call_later(1.0, _refresh_date, loop)


class HelloProtocol(asyncio.Protocol):
    """Answer every complete request with the fixed response."""

    __slots__ = ("_complete", "_parser", "_transport")

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._complete = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        # uvloop's transports are not registered as asyncio.Transport subclasses.
        self._transport = cast(asyncio.Transport, transport)

    def on_message_complete(self) -> None:
        """httptools callback: one more request to answer."""
        self._complete += 1

    def data_received(self, data: bytes) -> None:
        """Parse, then answer all the requests the read completed in one write."""
        assert self._transport is not None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._transport.write(
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            self._transport.close()
            return
        if self._complete:
            self._transport.write(_State.response * self._complete)
            self._complete = 0


class _Counter:
    """httptools callbacks for the streams ceiling: count complete requests."""

    __slots__ = ("complete",)

    def __init__(self) -> None:
        self.complete = 0

    def on_message_complete(self) -> None:
        """httptools callback: one more request to answer."""
        self.complete += 1


async def _stream_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Parse what the reader yields; answer complete requests in one write each read."""
    counter = _Counter()
    parser = httptools.HttpRequestParser(counter)
    transport = writer.transport
    try:
        while data := await reader.read(65536):
            parser.feed_data(data)
            if counter.complete:
                transport.write(_State.response * counter.complete)
                counter.complete = 0
    except (httptools.HttpParserError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve(host: str, port: int, streams: bool) -> None:
    loop = asyncio.get_running_loop()
    _refresh_date(loop)
    server: asyncio.AbstractServer
    if streams:
        server = await asyncio.start_server(_stream_client, host, port, backlog=1024)
    else:
        server = await loop.create_server(HelloProtocol, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse the address and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--streams", action="store_true", help="on asyncio streams")
    args = parser.parse_args()
    try:
        uvloop.run(_serve(args.host, args.port, args.streams))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
