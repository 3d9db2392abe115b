"""Hello, World in three routes: text, JSON, and a path parameter.

Run it with ``python examples/hello.py``.
"""

from __future__ import annotations

from sansketch.app import Application
from sansketch.request import Request
from sansketch.response import Response, json_response
from sansketch.router import RouteTableDef

routes = RouteTableDef()


@routes.get("/")
async def hello(request: Request) -> Response:
    """Plain text."""
    return Response(text="Hello, World!")


@routes.get("/json")
async def hello_json(request: Request) -> Response:
    """JSON."""
    return json_response({"message": "Hello, World!"})


@routes.get("/user/{name}")
async def greet(request: Request) -> Response:
    """Greet by name."""
    return Response(text=f"Hello, {request.match_info['name']}!")


app = Application()
app.add_routes(routes)

if __name__ == "__main__":
    try:
        from sansketch import run_app  # type: ignore[attr-defined]
    except ImportError:
        raise SystemExit("this version of sansketch has no run_app yet") from None
    run_app(app)
