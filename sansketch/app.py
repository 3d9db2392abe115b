"""The application: routes, middlewares, lifecycle, state, sub-applications.

Theory of operation
-------------------
An ``Application`` is mutable while it is being set up and frozen by
``freeze()`` (which ``startup()`` calls). Freezing does all the work the
request path would otherwise repeat: sub-applications are flattened into the
root router (their resources already carry the mount prefix), and each route
gets its handler pre-wrapped in the middlewares that apply to it (the root's,
outermost first, then each enclosing sub-application's). ``_handle`` is then
a dict lookup (or a pattern scan), one attribute write and one await.

Middlewares are ``async def mw(request, handler) -> StreamResponse``. An HTTP
exception raised below a middleware reaches it as a *returned* response, so
it may inspect or replace it; any other exception propagates through the
middlewares and becomes a logged 500 here, with no details on the wire
unless ``debug=True``.

Lifecycle (each application, sub-applications included)::

    startup:  enter cleanup_ctx in order -> on_startup -> sub-apps' startup
    shutdown: on_shutdown -> sub-apps' shutdown
    cleanup:  sub-apps' cleanup (reverse) -> on_cleanup -> exit cleanup_ctx (reverse)

If a startup step fails, the steps already completed are undone (entered
contexts exited, started sub-applications cleaned up) and the error
propagates.
"""

from __future__ import annotations

import logging
import sys
import traceback
import warnings
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    MutableMapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from .exceptions import (
    HTTPException,
    HTTPInternalServerError,
    HTTPMethodNotAllowed,
    HTTPMovedPermanently,
    HTTPNotFound,
    HTTPPermanentRedirect,
)
from .protocol import RejectionCounters
from .response import Response, StreamResponse
from .router import AbstractRouteDef, Handler, MatchInfo, Route, Router, match_path
from .signals import FrozenList, Signal

if TYPE_CHECKING:
    from .request import Request

__all__ = ["AppKey", "Application", "Middleware", "NotAppKeyWarning"]

logger = logging.getLogger("sansketch.app")

T = TypeVar("T")
Middleware = Callable[["Request", Handler], Awaitable[StreamResponse]]
CleanupContext = Callable[["Application"], AsyncIterator[None]]


class NotAppKeyWarning(UserWarning):
    """Application state was stored under a plain string, not an ``AppKey``."""


class AppKey(Generic[T]):
    """A typed key for application state: ``app[db_key] = db``.

    Two keys are equal only if they are the same object, so two libraries
    using the same name cannot collide.

    Args:
        name: a label for messages and ``repr``.
        t: the value type (documentation only; not checked at runtime).
    """

    __slots__ = ("_name", "_t")

    def __init__(self, name: str, t: type[T] | None = None) -> None:
        self._name = name
        self._t = t

    @property
    def name(self) -> str:
        """The key's label."""
        return self._name

    def __repr__(self) -> str:
        kind = "" if self._t is None else f", {getattr(self._t, '__qualname__', self._t)}"
        return f"<AppKey({self._name!r}{kind})>"


class CleanupContexts(FrozenList[CleanupContext]):
    """Async generators: code before ``yield`` runs at startup, after at cleanup."""

    __slots__ = ("_entered",)

    def __init__(self) -> None:
        super().__init__()
        self._entered: list[AsyncIterator[None]] = []

    async def _enter(self, app: Application) -> None:
        for factory in self:
            iterator = factory(app)
            try:
                await iterator.__anext__()
            except StopAsyncIteration:
                raise RuntimeError(f"cleanup context {factory!r} did not yield") from None
            self._entered.append(iterator)

    async def _exit(self) -> list[BaseException]:
        errors: list[BaseException] = []
        while self._entered:
            iterator = self._entered.pop()
            try:
                await iterator.__anext__()
            except StopAsyncIteration:
                continue
            except Exception as exc:
                errors.append(exc)
                continue
            errors.append(RuntimeError(f"cleanup context {iterator!r} yielded more than once"))
        return errors


class Application(MutableMapping[AppKey[Any] | str, Any]):
    """A web application: a router, middlewares, lifecycle hooks and state.

    Args:
        debug: show tracebacks in 500 responses (never in production).
        client_max_size: largest request body ``Request.read()`` accepts.
        middlewares: ``async def mw(request, handler)``; the first is outermost.
        redirect_slashes: answer a request for ``/x/`` with a redirect to
            ``/x`` (or the reverse) when only the other form exists.

    Attributes:
        counters: the security counters of the server running this app
            (requests rejected by reason and status, handler and send
            timeouts); read them with ``counters.snapshot()``.
    """

    # An application is one object, never a value: identity equality and
    # hashing, and truthy even with no state (Mapping would make it falsy).
    __hash__ = object.__hash__

    def __init__(
        self,
        *,
        debug: bool = False,
        client_max_size: int = 1024**2,
        middlewares: Iterable[Middleware] = (),
        redirect_slashes: bool = False,
    ) -> None:
        self._state: dict[AppKey[Any] | str, Any] = {}
        if client_max_size < 0:
            raise ValueError("client_max_size must be >= 0")
        self.debug = debug
        self.client_max_size = client_max_size
        self.redirect_slashes = redirect_slashes
        self.counters = RejectionCounters()
        self._router = Router()
        self._middlewares: FrozenList[Middleware] = FrozenList(middlewares)
        self._on_startup = Signal()
        self._on_shutdown = Signal()
        self._on_cleanup = Signal()
        self._on_response_prepare = Signal()
        self._cleanup_ctx = CleanupContexts()
        self._subapps: list[tuple[str, Application]] = []
        self._parent: Application | None = None
        self._frozen = False
        self._started_subapps: list[Application] = []
        # Per mount prefix (longest first): the middleware chain that answers
        # a miss under it, so a sub-application's middlewares see its 404s.
        self._miss_chains: list[tuple[str, Application, Handler]] = []
        # Plain-path routes by raw target and method token (set by freeze).
        self._static_routes: dict[bytes, dict[bytes, Route]] = {}

    def __eq__(self, other: object) -> bool:
        return self is other

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<Application {len(self._router.resources())} resources>"

    # -- state ----------------------------------------------------------------
    @overload
    def __getitem__(self, key: AppKey[T]) -> T: ...
    @overload
    def __getitem__(self, key: str) -> Any: ...
    def __getitem__(self, key: AppKey[T] | str) -> Any:
        return self._state[key]

    @overload  # type: ignore[override]
    def get(self, key: AppKey[T], default: None = None) -> T | None: ...
    @overload
    def get(self, key: AppKey[T], default: T) -> T: ...
    @overload
    def get(self, key: str, default: Any = None) -> Any: ...
    def get(self, key: AppKey[Any] | str, default: Any = None) -> Any:
        """``app[key]`` or ``default``."""
        return self._state.get(key, default)

    def __delitem__(self, key: AppKey[Any] | str) -> None:
        del self._state[key]

    def __iter__(self) -> Iterator[AppKey[Any] | str]:
        return iter(self._state)

    def __len__(self) -> int:
        return len(self._state)

    @overload
    def __setitem__(self, key: AppKey[T], value: T) -> None: ...
    @overload
    def __setitem__(self, key: str, value: Any) -> None: ...
    def __setitem__(self, key: AppKey[Any] | str, value: Any) -> None:
        if not isinstance(key, AppKey):
            warnings.warn(
                f"use an AppKey for application state, not {key!r}: "
                "AppKey(name, type) is typed and cannot collide",
                NotAppKeyWarning,
                stacklevel=2,
            )
        self._state[key] = value

    # -- configuration --------------------------------------------------------
    @property
    def router(self) -> Router:
        """The application's router."""
        return self._router

    @property
    def middlewares(self) -> FrozenList[Middleware]:
        """Middlewares, outermost first (frozen at startup)."""
        return self._middlewares

    @property
    def on_startup(self) -> Signal:
        """``async def hook(app)`` run at startup, in order."""
        return self._on_startup

    @property
    def on_shutdown(self) -> Signal:
        """``async def hook(app)`` run when the server stops accepting."""
        return self._on_shutdown

    @property
    def on_cleanup(self) -> Signal:
        """``async def hook(app)`` run at cleanup, in order."""
        return self._on_cleanup

    @property
    def on_response_prepare(self) -> Signal:
        """``async def hook(request, response)`` run before each head is sent."""
        return self._on_response_prepare

    @property
    def cleanup_ctx(self) -> CleanupContexts:
        """Async generator functions ``ctx(app)`` wrapping the app's life."""
        return self._cleanup_ctx

    @property
    def frozen(self) -> bool:
        """Whether ``freeze()`` has run."""
        return self._frozen

    def add_routes(self, routes: Iterable[AbstractRouteDef]) -> list[Route]:
        """``self.router.add_routes(routes)``."""
        return self._router.add_routes(routes)

    def add_subapp(self, prefix: str, subapp: Application) -> None:
        """Mount ``subapp`` under ``prefix`` (e.g. ``"/admin"``).

        The sub-application's routes move under the prefix, its middlewares
        apply inside it (after this application's), and its lifecycle runs
        with this one's. Its routes must be added before mounting.

        Raises:
            ValueError: bad prefix, or mounting an application in itself.
            RuntimeError: either application is frozen, or ``subapp`` is
                already mounted.
        """
        if self._frozen:
            raise RuntimeError("cannot add a sub-application: the application is frozen")
        if subapp is self:
            raise ValueError("cannot mount an application inside itself")
        if subapp._frozen or subapp._parent is not None:
            raise RuntimeError("the sub-application is already started or mounted")
        prefix = prefix.rstrip("/")
        if not prefix.startswith("/") or "{" in prefix or "}" in prefix or "?" in prefix:
            raise ValueError(f"prefix must be a plain path like '/admin', got {prefix!r}")
        subapp._router.freeze()
        subapp._mount_prefix(prefix)
        subapp._parent = self
        self._subapps.append((prefix, subapp))

    def _mount_prefix(self, prefix: str) -> None:
        self._router._add_prefix(prefix)
        for _, child in self._subapps:
            child._mount_prefix(prefix)

    def _all_subapps(self) -> Iterator[tuple[str, Application]]:
        for prefix, child in self._subapps:
            yield prefix, child
            for inner_prefix, inner in child._all_subapps():
                yield prefix + inner_prefix, inner

    # -- freezing -------------------------------------------------------------
    def freeze(self) -> None:
        """Freeze routes, middlewares and hooks; pre-compose every handler.

        Called by ``startup()``; idempotent. Only meaningful on the root
        application (sub-applications are frozen by their parent).
        """
        if self._frozen:
            return
        if self._parent is not None:
            raise RuntimeError("freeze the root application, not a mounted sub-application")
        self._freeze_tree()
        resources = list(self._router._resources)
        for _, child in self._all_subapps():
            resources.extend(child._router._resources)
        self._router._build_tables(resources)
        self._compose(self, ())
        self._static_routes = self._router._static_table()
        chains = [
            (full, app, _fold(app._chain(), self._answer_miss))
            for full, app in self._all_subapps()
        ]
        chains.sort(key=lambda item: len(item[0]), reverse=True)
        self._miss_chains = chains
        self._root_miss = _fold(self._chain(), self._answer_miss)

    def _freeze_tree(self) -> None:
        self._frozen = True
        self._router.freeze()
        for signal in (
            self._middlewares,
            self._on_startup,
            self._on_shutdown,
            self._on_cleanup,
            self._on_response_prepare,
            self._cleanup_ctx,
        ):
            signal.freeze()
        for _, child in self._subapps:
            # The response of a sub-application's route is prepared with the
            # sub-application as request.app: run the enclosing apps' hooks
            # first, as their middlewares run first.
            child._on_response_prepare[:0] = self._on_response_prepare
            child._freeze_tree()

    def _chain(self) -> list[Middleware]:
        """Middlewares applying inside this app: root's first, then down to self."""
        chain: list[Middleware] = []
        app: Application | None = self
        while app is not None:
            chain[:0] = app._middlewares
            app = app._parent
        return chain

    def _compose(self, app: Application, outer: Sequence[Middleware]) -> None:
        middlewares = [*outer, *app._middlewares]
        for route in app._router.routes():
            route._app = app
            route._composed = _fold(middlewares, route.handler)
        for _, child in app._subapps:
            self._compose(child, middlewares)

    # -- request handling -----------------------------------------------------
    def _route(self, request: Request) -> Callable[[Request], Awaitable[object]]:
        """The handler chain that answers ``request``, middlewares included.

        Sets the request's ``match_info`` (and its app, for a route of a
        sub-application). No route: the chain that answers 404, 405 or
        OPTIONS. The server awaits the chain (``handle_request``), turning
        a raised HTTP exception into the response it is.
        """
        if not self._frozen:
            self.freeze()
        head = request._head
        raw_path = head.target
        # Fast path: a plain path, found by its raw bytes and the method token.
        by_method = self._static_routes.get(raw_path)
        if by_method is None:
            raw_path = raw_path.partition(b"?")[0]
            by_method = self._static_routes.get(raw_path)
        route = by_method.get(head.method) if by_method is not None else None
        if route is not None:
            request._match_info = route._match_info
        else:
            # The head's target, not request.raw_path: that property caches
            # its value in a dict, which the common case does not need.
            raw = raw_path.decode("utf-8", "replace")
            if raw[:1] != "/":
                raw = request.rel_url.raw_path
            match_info = self._router.resolve(request.method, match_path(raw))
            request._match_info = match_info
            route = match_info.route
            if route is None:
                return self._miss_chain(request)
        if route._app is not self:
            request._app = route._app
        return route._composed

    def _handler_error(self, request: Request, exc: Exception) -> StreamResponse:
        """The response for an unexpected exception from the handler chain."""
        if getattr(request._channel, "response_started", False):
            # The head is out: no error response can follow; let the server
            # abort the connection.
            raise exc
        return self._internal_error(request, exc)

    def _wrong_type(self, request: Request, response: object) -> StreamResponse:
        """A 500 for a handler that returned something other than a response."""
        return self._internal_error(
            request,
            TypeError(f"handler returned {type(response).__name__}, not a StreamResponse"),
        )

    def _miss_chain(self, request: Request) -> Callable[[Request], Awaitable[object]]:
        if self._miss_chains:
            path = request.path
            for prefix, app, chain in self._miss_chains:
                if path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in ("/", ""):
                    request._app = app
                    return chain
        return self._root_miss

    async def _answer_miss(self, request: Request) -> StreamResponse:
        """The innermost handler when no route matched: 404, 405, OPTIONS."""
        match_info = request.match_info
        assert isinstance(match_info, MatchInfo)
        method = request.method
        if method == "OPTIONS" and request.raw_path == "*":
            # RFC 9110 §9.3.7: "OPTIONS *" asks about the server as a whole.
            router = self._router
            resources = [*router._plain.values(), *router._patterned, *router._shadowed]
            methods = {m for r in resources for m in r.allowed_methods()}
            methods.add("OPTIONS")
            return Response(status=204, headers={"Allow": ", ".join(sorted(methods))})
        if match_info.status == 405:
            allowed = set(match_info.allowed_methods)
            allowed.add("OPTIONS")
            if method == "OPTIONS":
                # RFC 9110 §9.3.7: OPTIONS describes what the target supports.
                return Response(status=204, headers={"Allow": ", ".join(sorted(allowed))})
            raise HTTPMethodNotAllowed(method, allowed)
        if self.redirect_slashes:
            redirect = self._slash_redirect(request)
            if redirect is not None:
                return redirect
        raise HTTPNotFound()

    def _slash_redirect(self, request: Request) -> StreamResponse | None:
        raw = request.raw_path
        if raw[:1] != "/":
            return None
        path, sep, query = raw.partition("?")
        other = path[:-1] if path.endswith("/") else path + "/"
        # Never produce a scheme-relative or backslash location: "//evil.com"
        # or "/\evil.com" would send the client to another host.
        if other[:1] != "/" or other[1:2] in ("/", "\\") or "\\" in other:
            return None
        if any(ord(c) < 0x21 or c == "\x7f" for c in other):
            return None
        found = self._router.resolve(request.method, match_path(other))
        if found.status == 404:
            return None
        location = other + sep + query
        if request.method in ("GET", "HEAD"):
            return HTTPMovedPermanently(location)
        # 308 keeps the method and body (RFC 9110 §15.4.9).
        return HTTPPermanentRedirect(location)

    def _internal_error(self, request: Request, exc: BaseException) -> StreamResponse:
        logger.error(
            "Error handling request %s %r", request.method, request.raw_path, exc_info=exc
        )
        if self.debug:
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            return HTTPInternalServerError(text=f"500 Internal Server Error\n\n{text}")
        return HTTPInternalServerError()

    # -- lifecycle ------------------------------------------------------------
    async def startup(self) -> None:
        """Freeze, then run startup for this app and its sub-applications.

        Raises:
            Exception: whatever a hook raised, after undoing completed steps.
        """
        if self._parent is None:
            self.freeze()
        try:
            await self._cleanup_ctx._enter(self)
            await self._on_startup.send(self)
            for _, child in self._subapps:
                await child.startup()
                self._started_subapps.append(child)
        except BaseException:
            for error in await self._undo_startup():
                logger.error("Error while undoing a failed startup", exc_info=error)
            raise

    async def _undo_startup(self) -> list[BaseException]:
        errors: list[BaseException] = []
        while self._started_subapps:
            child = self._started_subapps.pop()
            errors.extend(await child._cleanup_steps())
        errors.extend(await self._cleanup_ctx._exit())
        return errors

    async def shutdown(self) -> None:
        """Run ``on_shutdown`` hooks, then the sub-applications'; then close
        this app's open WebSockets with 1001 "going away" (RFC 6455 §7.4.1)."""
        await self._on_shutdown.send(self)
        for _, child in self._subapps:
            await child.shutdown()
        # Only if WebSockets are in use at all: the module needs wsproto.
        websocket = sys.modules.get("sansketch.websocket")
        if websocket is not None:
            await websocket.shutdown_websockets(self)

    async def cleanup(self) -> None:
        """Undo startup: sub-apps, ``on_cleanup``, then cleanup contexts.

        Every step runs even if an earlier one fails.

        Raises:
            Exception: the first error; later ones are logged.
        """
        errors = await self._cleanup_steps()
        if errors:
            for error in errors[1:]:
                logger.error("Another error during cleanup", exc_info=error)
            raise errors[0]

    async def _cleanup_steps(self) -> list[BaseException]:
        errors: list[BaseException] = []
        while self._started_subapps:
            child = self._started_subapps.pop()
            errors.extend(await child._cleanup_steps())
        for hook in self._on_cleanup:
            try:
                await hook(self)
            except Exception as exc:
                errors.append(exc)
        errors.extend(await self._cleanup_ctx._exit())
        return errors


def _fold(middlewares: Sequence[Middleware], handler: Handler) -> Handler:
    """Wrap ``handler`` in ``middlewares`` (first = outermost), once.

    Each middleware receives a ``handler`` that returns HTTP exceptions
    instead of raising them; the outermost one's are caught by ``_handle``.
    """
    if not middlewares:
        return handler
    inner = _returning(handler)
    for middleware in reversed(middlewares[1:]):
        inner = _bind_returning(middleware, inner)
    return _bind(middlewares[0], inner)


def _bind(middleware: Middleware, inner: Handler) -> Handler:
    async def call(request: Request) -> StreamResponse:
        return await middleware(request, inner)

    return call


def _bind_returning(middleware: Middleware, inner: Handler) -> Handler:
    """``_returning(_bind(middleware, inner))`` in one coroutine per call."""

    async def call(request: Request) -> StreamResponse:
        try:
            return await middleware(request, inner)
        except HTTPException as exc:
            return exc

    return call


def _returning(handler: Handler) -> Handler:
    async def call(request: Request) -> StreamResponse:
        try:
            return await handler(request)
        except HTTPException as exc:
            return exc

    return call
