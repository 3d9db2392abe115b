"""Routing: resolution as data, 404 vs 405, HEAD, OPTIONS, anchoring, url_for."""

from __future__ import annotations

import pytest

from sansketch.app import Application
from sansketch.request import Request
from sansketch.response import Response
from sansketch.router import (
    MatchInfo,
    Router,
    RouteTableDef,
    delete,
    get,
    head,
    match_path,
    options,
    patch,
    post,
    put,
    route,
)
from sansketch.testing import TestClient


async def ok(request: Request) -> Response:
    return Response(text="ok")


async def other(request: Request) -> Response:
    return Response(text="other")


def echo(tag: str):  # type: ignore[no-untyped-def]
    async def handler(request: Request) -> Response:
        params = ",".join(f"{k}={v}" for k, v in sorted(request.match_info.items()))
        return Response(text=f"{tag}:{request.method}:{params}")

    return handler


# -- resolution as data -------------------------------------------------------


def test_plain_match_is_shared_and_allocation_free() -> None:
    router = Router()
    [get_route, _] = router.add_get("/about", ok)
    first = router.resolve("GET", "/about")
    assert first.route is get_route
    assert first.status == 200
    assert dict(first) == {}
    # The same MatchInfo object every time: nothing is built per request.
    assert router.resolve("GET", "/about") is first


def test_404_when_no_path_matches() -> None:
    router = Router()
    router.add_get("/a", ok)
    router.add_post("/b/{x}", ok)
    found = router.resolve("GET", "/c")
    assert found.route is None
    assert found.status == 404
    assert found.allowed_methods == frozenset()


def test_405_only_when_a_path_matches_and_allow_is_the_union() -> None:
    router = Router()
    router.add_get("/items/{id}", ok)
    router.add_put("/items/{id:\\d+}", ok)
    router.add_delete("/items/{name:[a-z]+}", ok)
    found = router.resolve("POST", "/items/12")
    assert found.status == 405
    # GET (and its HEAD) from the first resource, PUT from the second; the
    # third does not match "12" so DELETE is not offered.
    assert found.allowed_methods == {"GET", "HEAD", "PUT"}
    assert router.resolve("POST", "/nothing").status == 404


def test_later_resource_serves_the_method_an_earlier_one_lacks() -> None:
    router = Router()
    router.add_get("/x/{a}", echo("first"))
    post_route = router.add_post("/x/{b}", echo("second"))
    found = router.resolve("POST", "/x/1")
    assert found.route is post_route
    assert dict(found) == {"b": "1"}


def test_plain_path_wins_over_a_pattern_registered_earlier() -> None:
    router = Router()
    router.add_get("/{name}", echo("pattern"))
    [about, _] = router.add_get("/about", ok)
    assert router.resolve("GET", "/about").route is about
    assert dict(router.resolve("GET", "/bob")) == {"name": "bob"}


def test_same_plain_path_registered_twice_keeps_both_methods() -> None:
    router = Router()
    [first, _] = router.add_get("/p", ok)
    router.add_get("/q", ok)
    second = router.add_post("/p", other)
    assert router.resolve("GET", "/p").route is first
    assert router.resolve("POST", "/p").route is second
    assert router.resolve("PUT", "/p").allowed_methods == {"GET", "HEAD", "POST"}


def test_duplicate_method_on_a_resource_is_an_error() -> None:
    router = Router()
    router.add_get("/x", ok)
    with pytest.raises(RuntimeError, match="already has a handler"):
        router.add_get("/x", other)


def test_any_method_route() -> None:
    router = Router()
    any_route = router.add_route("*", "/any", ok)
    for method in ("GET", "POST", "PROPFIND", "DELETE"):
        assert router.resolve(method, "/any").route is any_route


def test_add_get_registers_head_unless_disabled() -> None:
    router = Router()
    routes = router.add_get("/a", ok)
    assert [r.method for r in routes] == ["GET", "HEAD"]
    router.add_get("/b", ok, allow_head=False)
    assert router.resolve("HEAD", "/b").status == 405
    assert router.resolve("HEAD", "/b").allowed_methods == {"GET"}


# -- patterns -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "params"),
    [
        ("/users/{id:\\d+}", "/users/12", {"id": "12"}),
        ("/users/{id:\\d+}", "/users/12abc", None),
        ("/users/{id:\\d+}", "/users/x12", None),
        ("/users/{id:\\d+}", "/users/12/", None),
        ("/users/{name}", "/users/a/b", None),
        ("/users/{name}", "/users/", None),
        ("/users/{name}", "/users/bob", {"name": "bob"}),
        ("/f/{name}.{ext}", "/f/report.pdf", {"name": "report", "ext": "pdf"}),
        ("/static/{tail:.*}", "/static/css/a.css", {"tail": "css/a.css"}),
        ("/static/{tail:.*}", "/static/", {"tail": ""}),
        # An alternation in a custom regex stays inside its group.
        ("/v/{x:a|b}", "/v/a", {"x": "a"}),
        ("/v/{x:a|b}", "/v/b", {"x": "b"}),
        ("/v/{x:a|b}", "/v/aXXX", None),
        ("/v/{x:a|b}", "/XXXb", None),
        ("/v/{x:a|b}/end", "/v/b/end", {"x": "b"}),
        # Anchors written by the author cannot widen the match either ('^'
        # inside the path is never at the start, so this matches nothing).
        ("/v/{x:^a$}", "/v/a", None),
        ("/v/{x:a$|b}", "/v/a/extra", None),
        ("/v/{x:\\d{2,3}}", "/v/123", {"x": "123"}),
        ("/v/{x:\\d{2,3}}", "/v/1234", None),
    ],
)
def test_patterns_are_fully_anchored(
    pattern: str, path: str, params: dict[str, str] | None
) -> None:
    router = Router()
    router.add_get(pattern, ok)
    found = router.resolve("GET", path)
    if params is None:
        assert found.status == 404
    else:
        assert found.status == 200
        assert dict(found) == params


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("/u/{id:(\\d+)}", "capture group"),
        ("/u/{id:(?P<n>\\d+)}", "capture group"),
        ("/u/{id:[^-]+}", "can match '/'"),
        ("/u/{id:\\S+}", "can match '/'"),
        ("/u/{id:\\W}", "can match '/'"),
        ("/u/{id:[!-~]+}", "can match '/'"),
        ("/u/{id:[}", "bad regex"),
        ("/u/{id", "unbalanced"),
        ("/u/id}", "unbalanced"),
        ("/u/{1x}", "bad parameter name"),
        ("/u/{a}/{a}", "duplicate parameter"),
        ("u/{a}", "must start with '/'"),
        ("/u/a?b", "must not contain"),
        ("/u/a\r\nX: y", "must not contain"),
    ],
)
def test_bad_patterns_are_refused(pattern: str, message: str) -> None:
    router = Router()
    with pytest.raises(ValueError, match=message):
        router.add_get(pattern, ok)


def test_regex_that_excludes_slash_or_names_it_explicitly_is_accepted() -> None:
    router = Router()
    router.add_get("/a/{x:[^/-]+}", ok)
    router.add_get("/b/{x:[\\w/]+}", ok)
    router.add_get("/c/{x:(?:\\d+|/)}", ok)
    assert dict(router.resolve("GET", "/b/x/y")) == {"x": "x/y"}


def test_matching_uses_decoded_path_but_keeps_encoded_slash_as_data() -> None:
    assert match_path("/a%20b/c") == "/a b/c"
    assert match_path("/a%2fb") == "/a%2Fb"
    assert match_path("/100%25") == "/100%25"
    router = Router()
    router.add_get("/users/{name}", ok)
    router.add_get("/hello world", other)
    found = router.resolve("GET", match_path("/users/a%2Fb%25c%20d"))
    assert dict(found) == {"name": "a/b%c d"}
    assert router.resolve("GET", match_path("/hello%20world")).status == 200
    # "a/b" (a real slash) is two segments and does not fit {name}.
    assert router.resolve("GET", match_path("/users/a/b")).status == 404


def test_plain_path_with_a_percent_sign() -> None:
    router = Router()
    router.add_get("/100%", ok)
    assert router.resolve("GET", match_path("/100%25")).status == 200
    assert str(router.add_resource("/100%").url_for()) == "/100%25"


# -- url_for ------------------------------------------------------------------


def test_url_for_quotes_parts_instead_of_injecting_them() -> None:
    router = Router()
    router.add_get("/users/{name}", ok, name="user")
    assert str(router.url_for("user", name="bob")) == "/users/bob"
    assert str(router["user"].url_for(name="a/b?c#d")) == "/users/a%2Fb%3Fc%23d"
    assert str(router.url_for("user", name="..")) == "/users/%2E%2E"
    assert str(router.url_for("user", name="a b")) == "/users/a%20b"
    # Round trip: the built URL resolves back to the same value.
    url = router.url_for("user", name="x/../y?z")
    found = router.resolve("GET", match_path(url.raw_path))
    assert dict(found) == {"name": "x/../y?z"}


def test_url_for_with_query_and_checks() -> None:
    router = Router()
    router.add_get("/items/{id:\\d+}", ok, name="item")
    router.add_get("/about", ok, name="about")
    router.add_get("/files/{path:.*}", ok, name="files")
    url = router.url_for("item", id=7, query={"q": "a b&c", "n": "1"})
    assert str(url) == "/items/7?q=a+b%26c&n=1"
    assert url.query["q"] == "a b&c"
    assert str(router.url_for("about", query={"x": "1"})) == "/about?x=1"
    assert str(router.url_for("files", path="css/a b.css")) == "/files/css/a%20b.css"
    with pytest.raises(ValueError, match="does not fit"):
        router.url_for("item", id="abc")
    with pytest.raises(ValueError, match="missing"):
        router.url_for("item")
    with pytest.raises(ValueError, match="unknown"):
        router.url_for("item", id=1, extra=2)
    with pytest.raises(ValueError, match="no parameters"):
        router.url_for("about", x="1")
    with pytest.raises(KeyError):
        router.url_for("nope")


def test_route_names_are_checked() -> None:
    router = Router()
    router.add_get("/a", ok, name="a")
    with pytest.raises(ValueError, match="duplicate route name"):
        router.add_get("/b", ok, name="a")
    with pytest.raises(ValueError, match="bad route name"):
        router.add_get("/c", ok, name="not a name")
    assert "a" in router
    assert router["a"].canonical == "/a"


# -- route tables ---------------------------------------------------------------


def test_route_table_def_and_helpers_register_everything() -> None:
    routes = RouteTableDef()

    @routes.get("/t")
    async def t_get(request: Request) -> Response:
        return Response(text="get")

    @routes.post("/t")
    async def t_post(request: Request) -> Response:
        return Response(text="post")

    @routes.route("*", "/t-any")
    async def t_any(request: Request) -> Response:
        return Response(text="any")

    routes.put("/t")(ok)
    routes.patch("/t")(ok)
    routes.delete("/t")(ok)
    routes.options("/t")(ok)
    routes.head("/h")(ok)
    assert len(routes) == 8
    assert routes[0].handler is t_get  # type: ignore[attr-defined]

    app = Application()
    app.add_routes(routes)
    app.add_routes(
        [
            get("/m", ok, name="m"),
            post("/m", ok),
            put("/m", ok),
            patch("/m", ok),
            delete("/m", ok),
            head("/mh", ok),
            options("/m", ok),
            route("PROPFIND", "/m", ok),
        ]
    )
    router = app.router
    assert router.resolve("PUT", "/t").allowed_methods == frozenset()
    assert router.resolve("TRACE", "/t").allowed_methods == {
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "OPTIONS",
    }
    assert router.resolve("BREW", "/t-any").route is not None
    assert router.resolve("TRACE", "/m").allowed_methods == {
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "OPTIONS",
        "PROPFIND",
    }
    assert router.resolve("GET", "/mh").allowed_methods == {"HEAD"}


def test_routes_cannot_be_added_after_freeze() -> None:
    app = Application()
    app.router.add_get("/", ok)
    app.freeze()
    with pytest.raises(RuntimeError, match="frozen"):
        app.router.add_get("/late", ok)
    with pytest.raises(RuntimeError, match="frozen"):
        app.add_routes([get("/late", ok)])


# -- through the wire -------------------------------------------------------------


def make_app() -> Application:
    app = Application()
    app.router.add_get("/items/{id:\\d+}", echo("item"))
    app.router.add_post("/items", echo("create"))
    app.router.add_get("/raw", echo("raw"), allow_head=False)
    app.router.add_route("*", "/anything", echo("any"))
    app.router.add_get("/explicit", echo("explicit"))
    app.router.add_options("/explicit", echo("explicit-options"))
    app.router.add_get("/users/{name}", echo("user"))
    return app


@pytest.mark.anyio
async def test_404_and_405_on_the_wire() -> None:
    async with TestClient(make_app()) as client:
        resp = await client.get("/items/12")
        assert resp.status == 200
        assert await resp.text() == "item:GET:id=12"

        resp = await client.get("/items/12abc")
        assert resp.status == 404
        assert "Allow" not in resp.headers

        resp = await client.request("DELETE", "/items/12")
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET, HEAD, OPTIONS"

        resp = await client.get("/items")
        assert resp.status == 405
        assert resp.headers["Allow"] == "OPTIONS, POST"

        resp = await client.request("PROPFIND", "/anything")
        assert await resp.text() == "any:PROPFIND:"


@pytest.mark.anyio
async def test_head_is_answered_by_the_get_handler_without_a_body() -> None:
    async with TestClient(make_app()) as client:
        resp = await client.request("HEAD", "/items/5")
        assert resp.status == 200
        assert await resp.read() == b""
        # The length of the body the GET handler built, which HEAD omits.
        assert resp.headers["Content-Length"] == str(len("item:HEAD:id=5"))

        resp = await client.request("HEAD", "/raw")
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET, OPTIONS"


@pytest.mark.anyio
async def test_automatic_options_lists_allowed_methods() -> None:
    async with TestClient(make_app()) as client:
        resp = await client.request("OPTIONS", "/items/3")
        assert resp.status == 204
        assert resp.headers["Allow"] == "GET, HEAD, OPTIONS"
        assert await resp.read() == b""

        # An explicit OPTIONS route replaces the automatic answer.
        resp = await client.request("OPTIONS", "/explicit")
        assert resp.status == 200
        assert await resp.text() == "explicit-options:OPTIONS:"

        # No resource: still a 404, not an empty Allow.
        resp = await client.request("OPTIONS", "/nope")
        assert resp.status == 404

        raw = await client.send_raw(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 204 ")
        assert b"\r\nallow: " in raw.lower()


@pytest.mark.anyio
async def test_params_come_decoded_on_the_wire() -> None:
    async with TestClient(make_app()) as client:
        resp = await client.get("/users/J%C3%B6rg%20M%2FX")
        assert await resp.text() == "user:GET:name=Jörg M/X"


def test_match_info_repr_and_mapping() -> None:
    router = Router()
    router.add_get("/u/{a}", ok)
    found = router.resolve("GET", "/u/1")
    assert isinstance(found, MatchInfo)
    assert "a" in found and len(found) == 1 and list(found) == ["a"]
    assert "u/{a}" in repr(found)
    assert "405" in repr(router.resolve("POST", "/u/1"))


def test_first_segment_index_keeps_registration_order() -> None:
    router = Router()
    floating = router.add_get("/{a}/{b}", echo("floating"))[0]
    fixed = router.add_get("/users/{id}", echo("fixed"))[0]
    fixed_only = router.add_post("/users/{id}", echo("fixed-post"))
    later = router.add_get("/{a}/{b}/{c}", echo("later"))[0]
    # Registration order decides, whatever the index groups together.
    assert router.resolve("GET", "/users/1").route is floating
    assert router.resolve("POST", "/users/1").route is fixed_only
    assert router.resolve("GET", "/x/y/z").route is later
    assert router.resolve("GET", "/users/1/2").route is later
    assert fixed is not None
    assert router.resolve("PUT", "/users/1").allowed_methods == {"GET", "HEAD", "POST"}
