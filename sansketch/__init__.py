"""sansketch: a Sans-I/O HTTP/1.1 server with an aiohttp-style web framework.

The names here are the app layer's. ``run_app`` (the drivers) and the
WebSocket names are imported on first use, so importing ``sansketch`` loads
no event loop and does not need the optional ``wsproto`` package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .app import AppKey, Application, Middleware, NotAppKeyWarning
from .exceptions import *  # noqa: F403 - the HTTP exception family is public
from .exceptions import __all__ as _exceptions_all
from .fileresponse import FileResponse
from .multipart import BodyPartReader, MultipartReader
from .request import BodyStream, FileField, Request
from .response import Response, StreamResponse, json_response
from .router import (
    Handler,
    MatchInfo,
    Resource,
    Route,
    RouteDef,
    Router,
    RouteTableDef,
    StaticDef,
    delete,
    get,
    head,
    options,
    patch,
    post,
    put,
    route,
    static,
)
from .signals import FrozenList, Signal
from .static import StaticResource

if TYPE_CHECKING:
    from .runner import run_app
    from .websocket import WebSocketResponse, WSCloseCode, WSMessage, WSMsgType

__version__ = "0.1.0"

_LAZY = {
    "run_app": "runner",
    "WebSocketResponse": "websocket",
    "WSCloseCode": "websocket",
    "WSMessage": "websocket",
    "WSMsgType": "websocket",
}


def __getattr__(name: str) -> Any:
    """Import the driver and WebSocket names on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sansketch' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)


__all__ = [
    "AppKey",
    "Application",
    "BodyPartReader",
    "BodyStream",
    "FileField",
    "FileResponse",
    "FrozenList",
    "Handler",
    "MatchInfo",
    "Middleware",
    "MultipartReader",
    "NotAppKeyWarning",
    "Request",
    "Resource",
    "Response",
    "Route",
    "RouteDef",
    "RouteTableDef",
    "Router",
    "Signal",
    "StaticDef",
    "StaticResource",
    "StreamResponse",
    "WSCloseCode",
    "WSMessage",
    "WSMsgType",
    "WebSocketResponse",
    "delete",
    "get",
    "head",
    "json_response",
    "options",
    "patch",
    "post",
    "put",
    "route",
    "run_app",
    "static",
    *_exceptions_all,
]
