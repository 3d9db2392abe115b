"""aiohttp.web on uvloop answering ``GET /`` with ``Hello, World!``.

Usage: ``python bench/peers/aiohttp_hello.py --host 127.0.0.1 --port 8080``
"""

from __future__ import annotations

import argparse

import uvloop
from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    """The plaintext hello handler."""
    return web.Response(text="Hello, World!", content_type="text/plain", charset="utf-8")


def main() -> None:
    """Parse the address and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/", hello)
    # access_log=None: the other servers in the benchmark log nothing either.
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
