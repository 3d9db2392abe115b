"""A small users app: path parameters, a logging middleware, lifecycle hooks.

``GET /{username}`` greets a known user and answers 404 for anyone else;
other methods get 405 with ``Allow``. Run it with ``python examples/users.py``.
"""

from __future__ import annotations

import logging

from sansketch.app import AppKey, Application
from sansketch.exceptions import HTTPNotFound
from sansketch.request import Request
from sansketch.response import Response, StreamResponse
from sansketch.router import Handler

logger = logging.getLogger("users")

USERS = AppKey("users", dict[str, dict[str, str]])


async def log_requests(request: Request, handler: Handler) -> StreamResponse:
    """Log each request with the status it got."""
    response = await handler(request)
    logger.info("%s %s -> %d", request.method, request.path, response.status)
    return response


async def on_startup(app: Application) -> None:
    """Open the users "database"."""
    app[USERS] = {"john_doe": {"name": "John Doe"}}
    logger.info("startup hook ran")


async def on_shutdown(app: Application) -> None:
    """Say goodbye."""
    logger.info("shutdown hook ran")


async def get_user(request: Request) -> Response:
    """Greet a known user, 404 for an unknown one."""
    username = request.match_info["username"]
    if username not in request.app[USERS]:
        raise HTTPNotFound(text=f"No such user with as {username} :(")
    return Response(text=f"Welcome, {username}!")


def make_app() -> Application:
    """Build the application."""
    app = Application(middlewares=[log_requests])
    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/{username}", get_user, name="user")
    return app


app = make_app()

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    try:
        from sansketch import run_app  # type: ignore[attr-defined]
    except ImportError:
        raise SystemExit("this version of sansketch has no run_app yet") from None
    run_app(app)
