"""Routing: methods, converters, registration errors, HEAD/OPTIONS/405."""

from __future__ import annotations

import pytest

from zerodep_http import App


def allow_set(value: str | None) -> set[str]:
    assert value is not None, "no allow header"
    return {token.strip() for token in value.split(",") if token.strip()}


@pytest.fixture
def routed_app() -> App:
    app = App()

    @app.route("/thing")
    async def default_get(request):
        return {"method": request.method}

    @app.get("/m")
    async def m_get(request):
        return "get"

    @app.post("/m")
    async def m_post(request):
        return "post"

    @app.put("/m")
    async def m_put(request):
        return "put"

    @app.delete("/m")
    async def m_delete(request):
        return "delete"

    @app.patch("/m")
    async def m_patch(request):
        return "patch"

    @app.route("/multi", methods=["get", "Post"])
    async def multi(request):
        return request.method

    @app.get("/hello/<name>")
    async def hello(request, name):
        return {"name": name, "params": request.path_params}

    @app.get("/users/<int:id>")
    async def user(request, id):
        return {"id": id, "type": type(id).__name__}

    @app.get("/price/<float:price>")
    async def price(request, price):
        return {"price": price, "type": type(price).__name__}

    @app.get("/files/<path:filepath>")
    async def files(request, filepath):
        return {"filepath": filepath}

    @app.get("/a/<x>/b/<int:y>")
    async def two(request, x, y):
        return {"x": x, "y": y}

    return app


def test_route_default_is_get(serve, raw_client, routed_app):
    client = raw_client(serve(routed_app))
    assert client.request("GET", "/thing").json() == {"method": "GET"}
    response = client.request("POST", "/thing", body=b"")
    assert response.status == 405


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH"])
def test_method_shortcuts(serve, raw_client, routed_app, method):
    client = raw_client(serve(routed_app))
    response = client.request(method, "/m", body=b"" if method != "GET" else None)
    assert response.status == 200
    assert response.text == method.lower()


def test_methods_are_case_insensitive_at_registration(serve, raw_client, routed_app):
    client = raw_client(serve(routed_app))
    assert client.request("GET", "/multi").text == "GET"
    assert client.request("POST", "/multi", body=b"").text == "POST"


def test_converters(serve, raw_client, routed_app):
    client = raw_client(serve(routed_app))
    assert client.request("GET", "/hello/bob").json() == {"name": "bob", "params": {"name": "bob"}}
    assert client.request("GET", "/users/7").json() == {"id": 7, "type": "int"}
    assert client.request("GET", "/price/3.25").json() == {"price": 3.25, "type": "float"}
    assert client.request("GET", "/price/3").json() == {"price": 3.0, "type": "float"}
    assert client.request("GET", "/files/a/b/c.txt").json() == {"filepath": "a/b/c.txt"}
    assert client.request("GET", "/a/xx/b/5").json() == {"x": "xx", "y": 5}


@pytest.mark.parametrize("target", [
    "/users/abc", "/users/", "/users/1/2", "/users/1.5", "/price/abc", "/price/1.2.3",
    "/hello/", "/hello/a/b", "/files/", "/nothing",
])
def test_non_matching_paths_are_404(serve, raw_client, routed_app, target):
    client = raw_client(serve(routed_app))
    response = client.request("GET", target)
    assert response.status == 404
    assert response.text == "Not Found"


@pytest.mark.parametrize("pattern", ["/x/<uuid:id>", "/x/<bogus:name>", "/x/<Int:n>"])
def test_unknown_converter_is_a_value_error_at_registration(pattern):
    app = App()
    with pytest.raises(ValueError):
        @app.get(pattern)
        async def handler(request, **kwargs):
            return ""


def test_head_answers_get_routes(serve, raw_client, routed_app):
    client = raw_client(serve(routed_app))
    get = client.request("GET", "/users/7")
    head = client.request("HEAD", "/users/7")
    assert head.status == 200
    assert head.body == b""
    assert head.header("content-length") == get.header("content-length") == str(len(get.body))
    assert head.header("content-type") == get.header("content-type")
    # The connection is still in sync afterwards.
    assert client.request("GET", "/m").text == "get"


def test_head_not_answered_for_post_only_routes(serve, raw_client):
    app = App()

    @app.post("/only-post")
    async def only_post(request):
        return "x"

    client = raw_client(serve(app))
    response = client.request("HEAD", "/only-post")
    assert response.status == 405
    assert "HEAD" not in allow_set(response.header("allow"))
    assert response.body == b""


def test_automatic_options(serve, raw_client, routed_app):
    client = raw_client(serve(routed_app))
    response = client.request("OPTIONS", "/m")
    assert response.status in (200, 204)
    assert allow_set(response.header("allow")) == {
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}
    response = client.request("OPTIONS", "/users/3")
    assert allow_set(response.header("allow")) == {"GET", "HEAD", "OPTIONS"}


def test_options_asterisk(serve, raw_client, routed_app):
    client = raw_client(serve(routed_app))
    client.send(b"OPTIONS * HTTP/1.1\r\nHost: test\r\n\r\n")
    response = client.read_response("OPTIONS")
    assert response.status in (200, 204)
    assert {"GET", "POST", "OPTIONS"} <= allow_set(response.header("allow"))


def test_405_carries_allow(serve, raw_client, routed_app):
    client = raw_client(serve(routed_app))
    response = client.request("DELETE", "/users/3")
    assert response.status == 405
    assert allow_set(response.header("allow")) == {"GET", "HEAD", "OPTIONS"}
    assert response.text == "Method Not Allowed"


def test_405_keeps_allow_with_a_custom_error_handler(serve, raw_client, routed_app):
    """RFC 9110 15.5.6: a 405 response MUST carry Allow, also when the
    application renders the error page itself."""
    @routed_app.errorhandler(405)
    async def not_allowed(request, exc):
        return {"error": "method not allowed"}, 405

    client = raw_client(serve(routed_app))
    response = client.request("DELETE", "/users/3")
    assert response.status == 405
    assert response.json() == {"error": "method not allowed"}
    assert allow_set(response.header("allow")) == {"GET", "HEAD", "OPTIONS"}


def test_literal_route_wins_over_pattern(serve, raw_client):
    app = App()

    @app.get("/users/<name>")
    async def by_name(request, name):
        return "pattern"

    @app.get("/users/me")
    async def me(request):
        return "literal"

    client = raw_client(serve(app))
    assert client.request("GET", "/users/me").text == "literal"
    assert client.request("GET", "/users/you").text == "pattern"

