"""sansketch: a Sans-I/O HTTP/1.1 server with an aiohttp-style web framework."""

__version__ = "0.1.0"
