"""URL dispatch: resources, routes, route tables, and resolution as data.

Theory of operation
-------------------
A *resource* is a path shape (plain ``/about``, patterned ``/users/{id:\\d+}``,
or a prefix such as a static directory); a *route* is one method on a
resource with its handler. ``Router.resolve(method, path)`` never raises and
never builds a response: it returns a ``MatchInfo`` that is either a match
(route + decoded parameters) or a miss with status 404 or 405 and the set of
allowed methods. The application turns a miss into a response.

Paths are matched against the percent-decoded request path, except that
``%2F`` and ``%25`` stay encoded while matching (so an encoded slash inside a
parameter is data, not a separator); parameters are fully decoded afterwards.

Invariants the hot path relies on:

* Plain paths live in a dict and are looked up before any pattern is tried;
  a plain path therefore wins over a pattern registered earlier that would
  also match it. Patterned and prefix resources are tried in registration
  order; the first whose path *and* method match wins.
* 405 only when some resource's path matched but none had the method; the
  ``Allow`` set is the union over every resource whose path matched.
* Every pattern is matched with ``fullmatch`` and each custom regex sits in
  its own non-capturing group, so ``{id:\\d+}`` cannot match ``12abc`` and an
  alternation inside a custom regex cannot escape the anchoring.
* The tables are built once (``freeze``); after that nothing on the request
  path allocates for a plain route: its ``MatchInfo`` is shared.
"""

from __future__ import annotations

import importlib
import keyword
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote, unquote

from yarl import URL

if TYPE_CHECKING:
    from .app import Application
    from .request import Request
    from .response import StreamResponse

__all__ = [
    "AbstractRouteDef",
    "DynamicResource",
    "Handler",
    "MatchInfo",
    "PlainResource",
    "Resource",
    "Route",
    "RouteDef",
    "RouteTableDef",
    "Router",
    "StaticDef",
    "delete",
    "get",
    "head",
    "match_path",
    "options",
    "patch",
    "post",
    "put",
    "route",
    "static",
]

Handler = Callable[["Request"], Awaitable["StreamResponse"]]
_H = TypeVar("_H", bound=Handler)

METH_ANY = "*"
# Methods a route may be registered for by the helpers; any token is allowed
# through add_route (RFC 9110 §9.1: methods are extensible).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NAME = re.compile(r"[A-Za-z_][\w.:\-]*")
# A parameter without a regex is one path segment: never a '/', never braces.
_DEFAULT_PARAM = r"[^{}/]+"
_KEPT_ESCAPES = re.compile(r"(%2[Ff5])")
_REENCODED = re.compile(r"%2[F5]")


def match_path(raw_path: str) -> str:
    """The string the router matches: ``raw_path`` percent-decoded, except
    ``%2F`` and ``%25`` which stay encoded (upper-cased).

    Args:
        raw_path: the path as it arrived, without the query string.

    Returns:
        The matching form of the path.
    """
    if "%" not in raw_path:
        return raw_path
    pieces = _KEPT_ESCAPES.split(raw_path)
    # Odd indices are the kept escapes; decode only the text between them.
    return "".join(p.upper() if i % 2 else unquote(p) for i, p in enumerate(pieces))


def _decode_param(value: str) -> str:
    if "%" not in value:
        return value
    return _REENCODED.sub(lambda m: "/" if m[0][2] == "F" else "%", value)


class MatchInfo(Mapping[str, str]):
    """What ``Router.resolve`` found: a route with its parameters, or a miss.

    Attributes:
        route: the matched route, ``None`` for a miss.
        status: 200 for a match, 404 or 405 for a miss.
        allowed_methods: for a 405, the methods the path does answer.
    """

    __slots__ = ("_params", "allowed_methods", "route", "status")

    def __init__(
        self,
        params: Mapping[str, str],
        route: Route | None,
        status: int = 200,
        allowed_methods: frozenset[str] = frozenset(),
    ) -> None:
        self._params = params
        self.route = route
        self.status = status
        self.allowed_methods = allowed_methods

    def __getitem__(self, key: str) -> str:
        return self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __contains__(self, key: object) -> bool:
        return key in self._params

    def __repr__(self) -> str:
        if self.route is None:
            return f"<MatchInfo {self.status} allowed={sorted(self.allowed_methods)}>"
        return f"<MatchInfo {dict(self._params)!r} {self.route!r}>"


_EMPTY: Mapping[str, str] = {}
_NOT_FOUND = MatchInfo(_EMPTY, None, 404)


class Route:
    """One method on one resource, and the handler that answers it.

    Attributes:
        method: upper-case method, or ``"*"`` for any method.
        handler: the async handler as registered.
        resource: the resource this route belongs to.
    """

    __slots__ = ("_app", "_composed", "_match_info", "handler", "method", "resource")

    def __init__(self, method: str, handler: Handler, resource: Resource) -> None:
        self.method = method
        self.handler = handler
        self.resource = resource
        # Set when the application freezes: the handler wrapped in the
        # middlewares that apply to it, and the application that owns it.
        # Typed as returning object: it ends in user code, which may return
        # anything; the application checks what comes back.
        self._composed: Callable[[Request], Awaitable[object]] = handler
        self._app: Application | None = None
        # Shared by every request to a parameterless route: no allocation.
        self._match_info = MatchInfo(_EMPTY, self)

    @property
    def name(self) -> str | None:
        """The resource's name, if it has one."""
        return self.resource.name

    def url_for(self, *, query: Any = None, **parts: str | int) -> URL:
        """Build this route's URL (see ``Resource.url_for``)."""
        return self.resource.url_for(query=query, **parts)

    def __repr__(self) -> str:
        return f"<Route {self.method} {self.resource.canonical!r} -> {self.handler!r}>"


class Resource:
    """A path shape with one route per method.

    Subclasses implement ``match`` and ``url_for``.
    """

    def __init__(self, *, name: str | None = None) -> None:
        self.name = name
        self._routes: dict[str, Route] = {}
        self._any: Route | None = None

    @property
    def canonical(self) -> str:
        """The path as written at registration (with any mount prefix)."""
        raise NotImplementedError

    @property
    def routes(self) -> list[Route]:
        """The routes of this resource, ``"*"`` last."""
        found = list(self._routes.values())
        if self._any is not None:
            found.append(self._any)
        return found

    def allowed_methods(self) -> frozenset[str]:
        """Methods this resource answers (without ``"*"``)."""
        return frozenset(self._routes)

    def add_route(self, method: str, handler: Handler) -> Route:
        """Register ``handler`` for ``method`` (``"*"`` for any).

        Raises:
            ValueError: ``method`` is not an HTTP token.
            RuntimeError: the method already has a handler here.
        """
        method = method.upper()
        if method != METH_ANY and not _TOKEN.fullmatch(method):
            raise ValueError(f"invalid method {method!r}")
        if not callable(handler):
            raise TypeError(f"handler must be an async callable, got {handler!r}")
        if (method == METH_ANY and self._any is not None) or method in self._routes:
            raise RuntimeError(f"{method} {self.canonical} already has a handler")
        new = Route(method, handler, self)
        if method == METH_ANY:
            self._any = new
        else:
            self._routes[method] = new
        return new

    def match(self, path: str) -> Mapping[str, str] | None:
        """Parameters if ``path`` (matching form) has this resource's shape."""
        raise NotImplementedError

    def url_for(self, *, query: Any = None, **parts: str | int) -> URL:
        """Build a relative URL to this resource.

        Args:
            query: a mapping or sequence of pairs (or a string) for the query.
            parts: values of the path parameters; they are percent-quoted.

        Raises:
            ValueError: a parameter is missing, unknown or does not fit.
        """
        raise NotImplementedError

    def _add_prefix(self, prefix: str) -> None:
        raise NotImplementedError

    def first_segment(self) -> str | None:
        """The first path segment every match starts with (matching form),
        or ``None`` if it is not fixed. Lets the router skip resources that
        cannot match without running their regex."""
        return None

    def __repr__(self) -> str:
        name = f" name={self.name!r}" if self.name else ""
        return f"<{type(self).__name__} {self.canonical!r}{name}>"


def _with_query(url: URL, query: Any) -> URL:
    return url if query is None else url.with_query(query)


def _quote_literal(text: str) -> str:
    return quote(text, safe="/:@!$&'()*+,;=")


def _quote_part(value: str, allow_slash: bool) -> str:
    """Quote a parameter value so it stays one piece of the path.

    '/' is quoted unless the parameter's regex explicitly allows it, and a
    whole '.' or '..' segment is quoted too (as %2E) so that a built URL can
    never be reinterpreted as a dot-segment by a client (RFC 3986 §5.2.4).
    """
    quoted = quote(value, safe="/" if allow_slash else "")
    segments = quoted.split("/")
    for i, segment in enumerate(segments):
        if segment in (".", ".."):
            segments[i] = segment.replace(".", "%2E")
    return "/".join(segments)


class PlainResource(Resource):
    """A path without parameters, e.g. ``/about``."""

    def __init__(self, path: str, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self._path = path
        self._key = _plain_key(path)

    @property
    def canonical(self) -> str:
        return self._path

    @property
    def key(self) -> str:
        """The matching-form path, used as the router's dict key."""
        return self._key

    def match(self, path: str) -> Mapping[str, str] | None:
        return _EMPTY if path == self._key else None

    def url_for(self, *, query: Any = None, **parts: str | int) -> URL:
        if parts:
            raise ValueError(f"{self._path!r} has no parameters, got {sorted(parts)}")
        return _with_query(URL.build(path=_quote_literal(self._path), encoded=True), query)

    def _add_prefix(self, prefix: str) -> None:
        self._path = prefix + self._path
        self._key = _plain_key(self._path)


def _plain_key(path: str) -> str:
    # A literal '%' is '%25' in the matching form (see match_path).
    return path.replace("%", "%25")


@dataclass(frozen=True, slots=True)
class _Param:
    name: str
    regex: re.Pattern[str]
    allow_slash: bool


def _regex_parser() -> Any:
    # The stdlib regex parser moved in 3.11 (sre_parse warns there).
    try:
        return importlib.import_module("re._parser")
    except ImportError:  # pragma: no cover - Python 3.10
        return importlib.import_module("sre_parse")


_SLASH = ord("/")
_IMPLICIT_CATEGORIES = {"CATEGORY_NOT_DIGIT", "CATEGORY_NOT_WORD", "CATEGORY_NOT_SPACE"}


def _slash_use(items: Any) -> tuple[bool, bool]:
    """(explicit, implicit): can the parsed regex consume '/'?

    Explicit: a literal '/' or '.', written by the author on purpose.
    Implicit: a negated class or ``\\S``/``\\W``/``\\D`` that lets '/' in
    without saying so; those are refused at registration.
    """
    explicit = implicit = False
    for op, arg in items:
        kind = str(op)
        if kind == "LITERAL":
            explicit |= arg == _SLASH
        elif kind == "NOT_LITERAL":
            implicit |= arg != _SLASH
        elif kind == "ANY":
            explicit = True
        elif kind == "IN":
            explicit_in, implicit_in = _class_slash_use(arg)
            explicit |= explicit_in
            implicit |= implicit_in
        elif kind == "BRANCH":
            for branch in arg[1]:
                e, i = _slash_use(branch)
                explicit, implicit = explicit | e, implicit | i
        elif kind == "SUBPATTERN":
            e, i = _slash_use(arg[-1])
            explicit, implicit = explicit | e, implicit | i
        elif kind in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            e, i = _slash_use(arg[2])
            explicit, implicit = explicit | e, implicit | i
        elif kind == "ATOMIC_GROUP":
            e, i = _slash_use(arg)
            explicit, implicit = explicit | e, implicit | i
        # Assertions and anchors consume nothing.
    return explicit, implicit


def _class_slash_use(items: Any) -> tuple[bool, bool]:
    negated = bool(items) and str(items[0][0]) == "NEGATE"
    lists_slash = False
    implicit = False
    for op, arg in items:
        kind = str(op)
        if kind == "LITERAL" and arg == _SLASH:
            lists_slash = True
        elif kind == "RANGE":
            implicit |= arg[0] <= _SLASH <= arg[1]
        elif kind == "CATEGORY":
            implicit |= str(arg) in _IMPLICIT_CATEGORIES
    if negated:
        return False, not lists_slash
    return lists_slash, implicit and not lists_slash


def _compile_param(name: str, regex: str, path: str) -> _Param:
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        raise ValueError(f"bad regex {regex!r} for {{{name}}} in {path!r}: {exc}") from exc
    if compiled.groups:
        raise ValueError(
            f"regex {regex!r} for {{{name}}} in {path!r} has a capture group; "
            "use a non-capturing group (?:...)"
        )
    explicit, implicit = _slash_use(_regex_parser().parse(regex))
    if implicit:
        raise ValueError(
            f"regex {regex!r} for {{{name}}} in {path!r} can match '/' without saying so; "
            "exclude '/' from the class (e.g. [^/-]), or allow it explicitly with '/' or '.'"
        )
    return _Param(name, compiled, explicit)


def _split_pattern(path: str) -> list[str | tuple[str, str | None]]:
    """Split a route path into literal text and ``(name, regex)`` pieces."""
    pieces: list[str | tuple[str, str | None]] = []
    literal_start = i = 0
    while i < len(path):
        char = path[i]
        if char == "}":
            raise ValueError(f"unbalanced '}}' in route path {path!r}")
        if char != "{":
            i += 1
            continue
        if literal_start < i:
            pieces.append(path[literal_start:i])
        depth, j = 1, i + 1
        while j < len(path) and depth:
            depth += {"{": 1, "}": -1}.get(path[j], 0)
            j += 1
        if depth:
            raise ValueError(f"unbalanced '{{' in route path {path!r}")
        body = path[i + 1 : j - 1]
        name, sep, regex = body.partition(":")
        if not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(f"bad parameter name {name!r} in route path {path!r}")
        if sep and not regex:
            raise ValueError(f"empty regex for {{{name}}} in route path {path!r}")
        pieces.append((name, regex if sep else None))
        i = literal_start = j
    if literal_start < len(path):
        pieces.append(path[literal_start:])
    return pieces


class DynamicResource(Resource):
    """A path with parameters: ``{name}``, ``{name:regex}``, ``{tail:.*}``."""

    def __init__(self, path: str, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self._prefix = ""
        self._pieces = _split_pattern(path)
        self._params: dict[str, _Param] = {}
        for piece in self._pieces:
            if isinstance(piece, tuple):
                pname, regex = piece
                if pname in self._params:
                    raise ValueError(f"duplicate parameter {{{pname}}} in {path!r}")
                self._params[pname] = (
                    _compile_param(pname, regex, path)
                    if regex is not None
                    else _Param(pname, re.compile(_DEFAULT_PARAM), False)
                )
        self._path = path
        self._pattern = self._compile()

    def _compile(self) -> re.Pattern[str]:
        parts = [re.escape(_plain_key(self._prefix))]
        for piece in self._pieces:
            if isinstance(piece, str):
                parts.append(re.escape(_plain_key(piece)))
            else:
                param = self._params[piece[0]]
                # Own group per parameter: the author's regex cannot reach
                # outside it (an alternation stays inside).
                parts.append(f"(?P<{param.name}>(?:{param.regex.pattern}))")
        return re.compile("".join(parts))

    @property
    def canonical(self) -> str:
        return self._prefix + self._path

    def match(self, path: str) -> Mapping[str, str] | None:
        found = self._pattern.fullmatch(path)
        if found is None:
            return None
        params = found.groupdict()
        if "%" not in path:
            # Nothing kept encoded (see match_path): the values are final.
            return params
        return {k: _decode_param(v) for k, v in params.items()}

    def url_for(self, *, query: Any = None, **parts: str | int) -> URL:
        missing = self._params.keys() - parts.keys()
        extra = parts.keys() - self._params.keys()
        if missing or extra:
            raise ValueError(
                f"url_for({self.canonical!r}) needs {sorted(self._params)}, "
                f"missing {sorted(missing)}, unknown {sorted(extra)}"
            )
        out = [_quote_literal(self._prefix)]
        for piece in self._pieces:
            if isinstance(piece, str):
                out.append(_quote_literal(piece))
                continue
            param = self._params[piece[0]]
            value = str(parts[param.name])
            # Check the value as the router will see it when the URL comes
            # back: '%' and a quoted '/' stay encoded while matching.
            seen = value.replace("%", "%25")
            if not param.allow_slash:
                seen = seen.replace("/", "%2F")
            if not param.regex.fullmatch(seen):
                raise ValueError(
                    f"{value!r} does not fit {{{param.name}:{param.regex.pattern}}} "
                    f"in {self.canonical!r}"
                )
            out.append(_quote_part(value, param.allow_slash))
        return _with_query(URL.build(path="".join(out), encoded=True), query)

    def _add_prefix(self, prefix: str) -> None:
        self._prefix = prefix + self._prefix
        self._pattern = self._compile()

    def first_segment(self) -> str | None:
        head = self._prefix + (self._pieces[0] if isinstance(self._pieces[0], str) else "")
        segment, slash, _ = head[1:].partition("/")
        return _plain_key(segment) if slash else None


class AbstractRouteDef(Protocol):
    """Something ``Router.add_routes`` can register (route or static def)."""

    def register(self, router: Router) -> list[Route]:
        """Add this definition to ``router``; return the routes created."""
        ...


@dataclass(frozen=True, slots=True)
class RouteDef:
    """A route waiting to be added: ``add_routes([get("/", h), ...])``."""

    method: str
    path: str
    handler: Handler
    kwargs: dict[str, Any] = field(default_factory=dict)

    def register(self, router: Router) -> list[Route]:
        """Add the route to ``router``."""
        if self.method == "GET":
            return router.add_get(self.path, self.handler, **self.kwargs)
        return [router.add_route(self.method, self.path, self.handler, **self.kwargs)]


@dataclass(frozen=True, slots=True)
class StaticDef:
    """A static directory waiting to be added (see ``Router.add_static``)."""

    prefix: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def register(self, router: Router) -> list[Route]:
        """Add the static resource to ``router``."""
        return router.add_static(self.prefix, self.path, **self.kwargs).routes


def route(method: str, path: str, handler: Handler, **kwargs: Any) -> RouteDef:
    """A route definition for ``add_routes`` (``"*"`` for any method)."""
    return RouteDef(method.upper(), path, handler, kwargs)


def get(path: str, handler: Handler, *, allow_head: bool = True, **kwargs: Any) -> RouteDef:
    """A GET route definition (answers HEAD too unless ``allow_head=False``)."""
    return RouteDef("GET", path, handler, {"allow_head": allow_head, **kwargs})


def head(path: str, handler: Handler, **kwargs: Any) -> RouteDef:
    """A HEAD route definition."""
    return route("HEAD", path, handler, **kwargs)


def post(path: str, handler: Handler, **kwargs: Any) -> RouteDef:
    """A POST route definition."""
    return route("POST", path, handler, **kwargs)


def put(path: str, handler: Handler, **kwargs: Any) -> RouteDef:
    """A PUT route definition."""
    return route("PUT", path, handler, **kwargs)


def patch(path: str, handler: Handler, **kwargs: Any) -> RouteDef:
    """A PATCH route definition."""
    return route("PATCH", path, handler, **kwargs)


def delete(path: str, handler: Handler, **kwargs: Any) -> RouteDef:
    """A DELETE route definition."""
    return route("DELETE", path, handler, **kwargs)


def options(path: str, handler: Handler, **kwargs: Any) -> RouteDef:
    """An OPTIONS route definition (replaces the automatic answer)."""
    return route("OPTIONS", path, handler, **kwargs)


def static(prefix: str, path: str, **kwargs: Any) -> StaticDef:
    """A static directory definition (see ``Router.add_static``)."""
    return StaticDef(prefix, str(path), kwargs)


class RouteTableDef(Sequence[AbstractRouteDef]):
    """Collect routes with decorators, then ``app.add_routes(routes)``.

    Example::

        routes = RouteTableDef()

        @routes.get("/users/{name}")
        async def user(request): ...
    """

    def __init__(self) -> None:
        self._defs: list[AbstractRouteDef] = []

    def __getitem__(self, index: int) -> AbstractRouteDef:  # type: ignore[override]
        return self._defs[index]

    def __len__(self) -> int:
        return len(self._defs)

    def __iter__(self) -> Iterator[AbstractRouteDef]:
        return iter(self._defs)

    def route(self, method: str, path: str, **kwargs: Any) -> Callable[[_H], _H]:
        """Decorator: register the function for ``method`` on ``path``."""

        def register(handler: _H) -> _H:
            self._defs.append(RouteDef(method.upper(), path, handler, kwargs))
            return handler

        return register

    def get(self, path: str, *, allow_head: bool = True, **kwargs: Any) -> Callable[[_H], _H]:
        """Decorator for GET (and HEAD unless ``allow_head=False``)."""
        return self.route("GET", path, allow_head=allow_head, **kwargs)

    def head(self, path: str, **kwargs: Any) -> Callable[[_H], _H]:
        """Decorator for HEAD."""
        return self.route("HEAD", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[_H], _H]:
        """Decorator for POST."""
        return self.route("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[_H], _H]:
        """Decorator for PUT."""
        return self.route("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[_H], _H]:
        """Decorator for PATCH."""
        return self.route("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[_H], _H]:
        """Decorator for DELETE."""
        return self.route("DELETE", path, **kwargs)

    def options(self, path: str, **kwargs: Any) -> Callable[[_H], _H]:
        """Decorator for OPTIONS."""
        return self.route("OPTIONS", path, **kwargs)

    def static(self, prefix: str, path: str, **kwargs: Any) -> None:
        """Add a static directory definition to the table."""
        self._defs.append(StaticDef(prefix, str(path), kwargs))


def _check_path(path: str) -> None:
    if not path.startswith("/"):
        raise ValueError(f"route path must start with '/', got {path!r}")
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        raise ValueError(f"route path must not contain control characters: {path!r}")
    # '?' and '#' would end the path in a URL; in a regex they are fine.
    literal = "".join(p for p in _split_pattern(path) if isinstance(p, str))
    if "?" in literal or "#" in literal:
        raise ValueError(f"route path must not contain '?' or '#': {path!r}")


class Router:
    """Resources and routes of one application; resolves requests.

    ``router[name]`` returns a named resource (``router["user"].url_for(...)``).
    """

    def __init__(self) -> None:
        self._resources: list[Resource] = []
        self._named: dict[str, Resource] = {}
        self._frozen = False
        self._prefix = ""
        # Resolution tables, rebuilt by _build_tables (at freeze).
        self._plain: dict[str, PlainResource] = {}
        self._patterned: list[Resource] = []
        self._shadowed: list[PlainResource] = []
        self._by_segment: dict[str, list[Resource]] = {}
        self._floating: list[Resource] = []
        self._build_tables(self._resources)

    # -- registration ---------------------------------------------------------
    @property
    def frozen(self) -> bool:
        """Whether routes can no longer be added."""
        return self._frozen

    def freeze(self) -> None:
        """Refuse new routes from now on."""
        self._frozen = True

    def _check_open(self) -> None:
        if self._frozen:
            raise RuntimeError("cannot add routes: the application is frozen (started or mounted)")

    def _register(self, resource: Resource) -> Resource:
        self._check_open()
        name = resource.name
        if name is not None:
            if not _NAME.fullmatch(name) or keyword.iskeyword(name):
                raise ValueError(f"bad route name {name!r}")
            if name in self._named:
                raise ValueError(f"duplicate route name {name!r}")
            self._named[name] = resource
        self._resources.append(resource)
        self._build_tables(self._resources)
        return resource

    def add_resource(self, path: str, *, name: str | None = None) -> Resource:
        """The resource for ``path``, reusing the last one if it has that path.

        Raises:
            ValueError: a malformed path, regex or name.
            RuntimeError: the router is frozen.
        """
        self._check_open()
        _check_path(path)
        full = self._prefix + path
        if self._resources:
            last = self._resources[-1]
            if last.canonical == full and (name is None or last.name == name):
                return last
        if "{" in path or "}" in path:
            resource: Resource = DynamicResource(path, name=name)
        else:
            resource = PlainResource(path, name=name)
        if self._prefix:
            resource._add_prefix(self._prefix)
        return self._register(resource)

    def add_route(
        self, method: str, path: str, handler: Handler, *, name: str | None = None
    ) -> Route:
        """Register ``handler`` for ``method`` (``"*"`` = any) on ``path``.

        Args:
            method: an HTTP method token or ``"*"``.
            path: ``/plain``, ``/{name}``, ``/{name:regex}`` or ``/{tail:.*}``.
            handler: ``async def handler(request) -> StreamResponse``.
            name: a name for ``url_for``.

        Raises:
            ValueError: malformed path, regex, method or name.
            RuntimeError: frozen router, or the method is already taken.
        """
        return self.add_resource(path, name=name).add_route(method, handler)

    def add_get(
        self, path: str, handler: Handler, *, name: str | None = None, allow_head: bool = True
    ) -> list[Route]:
        """GET (and HEAD unless ``allow_head=False``); returns the routes."""
        resource = self.add_resource(path, name=name)
        routes = [resource.add_route("GET", handler)]
        if allow_head:
            routes.append(resource.add_route("HEAD", handler))
        return routes

    def add_head(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        """Register a HEAD handler."""
        return self.add_route("HEAD", path, handler, name=name)

    def add_post(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        """Register a POST handler."""
        return self.add_route("POST", path, handler, name=name)

    def add_put(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        """Register a PUT handler."""
        return self.add_route("PUT", path, handler, name=name)

    def add_patch(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        """Register a PATCH handler."""
        return self.add_route("PATCH", path, handler, name=name)

    def add_delete(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        """Register a DELETE handler."""
        return self.add_route("DELETE", path, handler, name=name)

    def add_options(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        """Register an OPTIONS handler (replaces the automatic answer)."""
        return self.add_route("OPTIONS", path, handler, name=name)

    def add_static(
        self,
        prefix: str,
        directory: str | Any,
        *,
        name: str | None = None,
        show_index: bool = False,
        follow_symlinks: bool = False,
    ) -> Resource:
        """Serve files under ``directory`` at ``prefix`` (GET and HEAD).

        Args:
            prefix: URL prefix such as ``/static``.
            directory: an existing directory.
            name: a name for ``url_for(filename=...)``.
            show_index: list directory contents instead of answering 403.
            follow_symlinks: serve symlinks that point outside ``directory``.

        Raises:
            ValueError: bad prefix, or ``directory`` is not a directory.
        """
        from .static import StaticResource

        self._check_open()
        _check_path(prefix)
        resource = StaticResource(
            prefix.rstrip("/"),
            directory,
            name=name,
            show_index=show_index,
            follow_symlinks=follow_symlinks,
        )
        if self._prefix:
            resource._add_prefix(self._prefix)
        return self._register(resource)

    def add_routes(self, routes: Iterable[AbstractRouteDef]) -> list[Route]:
        """Register route definitions (``RouteTableDef`` or ``get(...)``...)."""
        added: list[Route] = []
        for definition in routes:
            added.extend(definition.register(self))
        return added

    def _add_prefix(self, prefix: str) -> None:
        """Mount: every resource (present and future) moves under ``prefix``."""
        self._prefix = prefix + self._prefix
        for resource in self._resources:
            resource._add_prefix(prefix)
        self._build_tables(self._resources)

    # -- lookup ---------------------------------------------------------------
    def __getitem__(self, name: str) -> Resource:
        return self._named[name]

    def __contains__(self, name: object) -> bool:
        return name in self._named

    def named_resources(self) -> Mapping[str, Resource]:
        """Named resources, by name."""
        return dict(self._named)

    def resources(self) -> list[Resource]:
        """All resources, in registration order."""
        return list(self._resources)

    def routes(self) -> list[Route]:
        """All routes, in registration order."""
        return [r for res in self._resources for r in res.routes]

    def url_for(self, name: str, /, *, query: Any = None, **parts: str | int) -> URL:
        """``router[name].url_for(query=query, **parts)``.

        Raises:
            KeyError: no resource has that name.
            ValueError: see ``Resource.url_for``.
        """
        return self._named[name].url_for(query=query, **parts)

    def _build_tables(self, resources: Iterable[Resource]) -> None:
        plain: dict[str, PlainResource] = {}
        patterned: list[Resource] = []
        for resource in resources:
            if isinstance(resource, PlainResource):
                # First registration of a path wins, as with patterns.
                plain.setdefault(resource.key, resource)
            else:
                patterned.append(resource)
        self._plain = plain
        self._patterned = patterned
        # Patterned resources by fixed first segment; each list keeps the
        # registration order and includes the resources whose first segment
        # is not fixed, so resolution order is the same as a full scan.
        floating = [r for r in patterned if r.first_segment() is None]
        by_segment: dict[str, list[Resource]] = {}
        for segment in {r.first_segment() for r in patterned} - {None}:
            assert segment is not None
            by_segment[segment] = [r for r in patterned if r.first_segment() in (segment, None)]
        self._by_segment = by_segment
        self._floating = floating
        # Plain resources shadowed by an earlier one with the same path are
        # still reachable for methods the first one lacks.
        self._shadowed = [
            r for r in resources if isinstance(r, PlainResource) and plain[r.key] is not r
        ]

    def _static_table(self) -> dict[bytes, dict[bytes, Route]]:
        """Routes that a raw request target finds with two dict lookups.

        Maps a plain path, as the bytes a request-target carries before any
        query, to the routes by method token. Only paths whose matching form
        is their raw form (no ``%``) and only explicit methods are in it, and
        each entry is what ``resolve`` returns, so a hit here is exactly a
        ``resolve`` hit; anything else goes through ``resolve``.
        """
        table: dict[bytes, dict[bytes, Route]] = {}
        for key, resource in self._plain.items():
            if "%" in key or "?" in key:
                continue
            methods = set(resource._routes)
            for other in self._shadowed:
                if other.key == key:
                    methods.update(other._routes)
            by_method: dict[bytes, Route] = {}
            for method in methods:
                found = self.resolve(method, key)
                if found.route is not None and not found and method.isascii():
                    by_method[method.encode("ascii")] = found.route
            if by_method:
                table[key.encode("utf-8")] = by_method
        return table

    def resolve(self, method: str, path: str) -> MatchInfo:
        """Find the route for ``method`` on ``path`` (matching form).

        Args:
            method: the request method.
            path: see ``match_path``.

        Returns:
            A ``MatchInfo``: a match, or a miss with status 404 or 405
            (``allowed_methods`` then lists what the path answers).
        """
        allowed: set[str] | None = None
        resource: Resource | None = self._plain.get(path)
        if resource is not None:
            found = resource._routes.get(method) or resource._any
            if found is not None:
                return found._match_info
            allowed = set(resource._routes)
            for other in self._shadowed:
                if other.key == path:
                    found = other._routes.get(method) or other._any
                    if found is not None:
                        return found._match_info
                    allowed.update(other._routes)
        candidates = self._by_segment.get(path[1:].partition("/")[0], self._floating)
        for resource in candidates:
            params = resource.match(path)
            if params is None:
                continue
            found = resource._routes.get(method) or resource._any
            if found is not None:
                return MatchInfo(params, found) if params else found._match_info
            if allowed is None:
                allowed = set()
            allowed.update(resource._routes)
        if allowed:
            return MatchInfo(_EMPTY, None, 405, frozenset(allowed))
        return _NOT_FOUND
