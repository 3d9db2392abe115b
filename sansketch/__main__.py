"""``python -m sansketch MODULE:APP`` (and the ``sansketch`` console script).

``MODULE:APP`` names an ``Application`` or a zero-argument factory returning
one, e.g. ``examples.hello:app`` or ``myproject.web:create_app``. The current
directory is importable, as with ``python -m``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .runner import BACKENDS, DEFAULT_MAX_CONNECTIONS, LOOPS, run_app

if TYPE_CHECKING:
    from .app import Application


def load_app(spec: str) -> Application:
    """Import ``MODULE:APP`` and return the application it names.

    Raises:
        ValueError: ``spec`` is malformed or names something that is neither
            an ``Application`` nor a factory returning one.
        ImportError: the module cannot be imported.
    """
    from .app import Application

    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise ValueError(f"expected MODULE:APP, got {spec!r}")
    module = importlib.import_module(module_name)
    obj: object = module
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"{module_name!r} has no attribute {attr_path!r}") from None
    if not isinstance(obj, Application):
        if not callable(obj):
            raise ValueError(f"{spec!r} is neither an Application nor a factory")
        obj = obj()
        if not isinstance(obj, Application):
            raise ValueError(f"the factory {spec!r} returned {type(obj).__name__}, not an app")
    return obj


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="sansketch", description="Serve a sansketch application over HTTP/1.1."
    )
    parser.add_argument("app", metavar="MODULE:APP", help="e.g. examples.hello:app")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port; 0 picks a free one")
    parser.add_argument("--unix", metavar="PATH", help="listen on a Unix socket instead")
    parser.add_argument("--backend", choices=BACKENDS, default="asyncio")
    parser.add_argument("--loop", choices=LOOPS, default="auto")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    parser.add_argument("--reuse-port", action="store_true", help="set SO_REUSEPORT")
    parser.add_argument("--access-log", action="store_true", help="log one line per response")
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="time in-flight requests get after SIGINT/SIGTERM (default 30)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        help=f"connections per process (default {DEFAULT_MAX_CONNECTIONS})",
    )
    parser.add_argument(
        "--request-timeout",
        type=float,
        metavar="SECONDS",
        help="answer 503 when a handler runs longer (default: no limit)",
    )
    parser.add_argument(
        "--send-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="drop a client that reads nothing for this long (default 60)",
    )
    parser.add_argument(
        "--log-counters",
        type=float,
        metavar="SECONDS",
        help="log the security counters (rejections by reason) this often",
    )
    parser.add_argument(
        "--debug", action="store_true", help="tracebacks in 500 responses; debug logging"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m sansketch`` and the ``sansketch`` script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        app = load_app(args.app)
    except (ValueError, ImportError) as exc:
        raise SystemExit(f"sansketch: cannot load {args.app!r}: {exc}") from None
    if args.debug:
        app.debug = True
    try:
        run_app(
            app,
            host=args.host,
            port=args.port,
            unix=args.unix,
            backend=args.backend,
            loop=args.loop,
            workers=args.workers,
            reuse_port=args.reuse_port,
            access_log=args.access_log,
            shutdown_timeout=args.shutdown_timeout,
            max_connections=args.max_connections,
            request_timeout=args.request_timeout,
            send_timeout=args.send_timeout,
            log_counters=args.log_counters,
        )
    except (OSError, ValueError) as exc:
        raise SystemExit(f"sansketch: {exc}") from None


if __name__ == "__main__":
    main()
