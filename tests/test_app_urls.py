"""redirect(), route names, app.url_for(), request.url_for() and mounted
sub-applications."""

from __future__ import annotations

import httpx
import pytest

from zerodep_http import App, HTTPException, Response, abort, redirect
from zerodep_http.testing import TestClient

from conftest import WAIT


def named_app() -> App:
    app = App()

    @app.get("/users/<int:id>")
    async def user(request, id):
        return {"id": id}

    @app.get("/files/<path:filepath>", name="file")
    async def serve_file(request, filepath):
        return filepath

    @app.get("/tags/<name>")
    async def tag(request, name):  # a parameter may be called `name`
        return name

    @app.get("/price/<float:value>")
    async def price(request, value):
        return str(value)

    @app.post("/items")
    async def create(request):
        return redirect(app.url_for("user", id=7), 303)

    @app.get("/items")
    async def listing(request):  # another name for the same path
        return "list"

    @app.get("/absolute")
    async def absolute(request):
        return request.url_for("user", id=1, tab="posts")

    return app


def test_url_for_applies_converters_and_percent_encodes():
    app = named_app()
    assert app.url_for("user", id=42) == "/users/42"
    assert app.url_for("user", id=42, tab="a b", q=["x", "y"]) == "/users/42?tab=a+b&q=x&q=y"
    assert app.url_for("file", filepath="docs/a b?c.txt") == "/files/docs/a%20b%3Fc.txt"
    assert app.url_for("tag", name="café & co") == "/tags/caf%C3%A9%20&%20co"
    assert app.url_for("price", value=9.5) == "/price/9.5"
    assert app.url_for("create") == app.url_for("listing") == "/items"


@pytest.mark.parametrize("name, params, message", [
    ("nowhere", {}, "no route is called 'nowhere'"),
    ("user", {}, "needs a value for 'id'"),
    ("user", {"id": "abc"}, "needs a number"),
    ("user", {"id": -1}, "is not a valid <int:id>"),
    ("user", {"id": True}, "needs a number"),
    ("tag", {"name": "a/b"}, "is not a valid <str:name>"),
    ("tag", {"name": ""}, "is not a valid <str:name>"),
    ("price", {"value": float("nan")}, "is not a valid <float:value>"),
])
def test_url_for_refuses_what_would_not_route_back(name, params, message):
    with pytest.raises(ValueError, match=message):
        named_app().url_for(name, **params)


def test_a_built_url_routes_back_to_its_route(serve):
    app = named_app()
    server = serve(app)
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        assert client.get(app.url_for("file", filepath="a b/ü?.txt")).text == "a b/ü?.txt"
        assert client.get(app.url_for("tag", name="café & co")).text == "café & co"
        assert client.get(app.url_for("user", id=5)).json() == {"id": 5}


def test_duplicate_names_are_refused():
    app = named_app()
    with pytest.raises(ValueError, match="already used"):
        app.route("/elsewhere", name="user")(lambda request: None)


def test_redirect_after_a_post(serve, raw_client):
    client = raw_client(serve(named_app()))
    response = client.request("POST", "/items")
    assert response.status == 303
    assert response.header("location") == "/users/7"
    with pytest.raises(ValueError):
        redirect("/x", 200)


def test_request_url_for_is_the_url_the_client_sees(serve):
    server = serve(named_app(), root_path="/prefix")
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        url = client.get("/absolute").text
        assert url == f"http://127.0.0.1:{server.port}/prefix/users/1?tab=posts"
        proxied = client.get("/absolute", headers={"x-forwarded-proto": "https",
                                                   "x-forwarded-host": "example.com"}).text
        assert proxied == "https://example.com/prefix/users/1?tab=posts"


def test_proxy_headers_from_an_untrusted_peer_are_ignored(serve):
    server = serve(named_app(), forwarded_allow_ips="10.0.0.1")
    response = httpx.get(server.url + "/absolute", timeout=WAIT,
                         headers={"x-forwarded-host": "evil.example", "x-forwarded-proto": "https"})
    assert response.text == f"http://127.0.0.1:{server.port}/users/1?tab=posts"


# -- mounts ---------------------------------------------------------------------


def mounted_apps(order: list[str]):
    parent = App()
    api = App()

    @parent.before_request
    def parent_before(request):
        order.append("parent before")

    @parent.after_request
    def parent_after(request, response):
        order.append("parent after")

    @api.before_request
    def api_before(request):
        order.append("api before")

    @api.after_request
    def api_after(request, response):
        order.append("api after")

    @parent.get("/")
    async def home(request):
        return "home"

    @api.get("/users/<int:id>")
    async def user(request, id):
        order.append("handler")
        return {"id": id, "path": request.path, "link": request.app.url_for("api.user", id=id)}

    @api.get("/")
    async def api_index(request):
        return "api index"

    @api.post("/only-post")
    async def only_post(request):
        return "posted"

    @api.get("/teapot")
    async def teapot(request):
        abort(418)

    @api.get("/crash")
    async def crash(request):
        raise KeyError("boom")

    @api.errorhandler(418)
    async def short_and_stout(request, exc):
        return Response("api teapot", 418)

    @parent.errorhandler(KeyError)
    async def parent_keyerror(request, exc):
        return Response("parent caught KeyError", 500)

    @parent.errorhandler(404)
    async def parent_404(request, exc):
        return Response("parent 404", 404)

    parent.mount(api, url_prefix="/api")
    return parent, api


def test_a_mounted_app_answers_under_its_prefix_with_hooks_in_order():
    order: list[str] = []
    parent, _ = mounted_apps(order)
    with TestClient(parent) as client:
        assert client.get("/api/users/3").json() == {"id": 3, "path": "/api/users/3",
                                                     "link": "/api/users/3"}
        assert order == ["parent before", "api before", "handler", "api after", "parent after"]
        assert client.get("/api").text == "api index"
        assert client.get("/api/").text == "api index"
        assert client.get("/").text == "home"


def test_errors_go_to_the_child_then_the_parent():
    parent, _ = mounted_apps([])
    with TestClient(parent) as client:
        assert client.get("/api/teapot").text == "api teapot"
        assert client.get("/api/crash").text == "parent caught KeyError"
        missing = client.get("/api/nowhere")
        assert (missing.status_code, missing.text) == (404, "parent 404")
        assert client.get("/apiary").text == "parent 404"  # a prefix is a whole segment


def test_405_head_and_options_inside_a_mount(serve, raw_client):
    parent, _ = mounted_apps([])
    client = raw_client(serve(parent))
    not_allowed = client.request("GET", "/api/only-post")
    assert not_allowed.status == 405
    assert not_allowed.header("allow") == "OPTIONS, POST"
    head = client.request("HEAD", "/api/users/1")
    assert head.status == 200 and head.body == b""
    options = client.request("OPTIONS", "/api/users/1")
    assert options.status == 204
    assert options.header("allow") == "GET, HEAD, OPTIONS"


def test_static_files_inside_a_mount(serve, tmp_path):
    (tmp_path / "site.css").write_text("body {}")
    parent, child = App(), App()
    child.static("/assets", tmp_path)
    parent.mount(child, url_prefix="/ui")
    assert parent.url_for("ui.static", filepath="site.css") == "/ui/assets/site.css"
    server = serve(parent)
    response = httpx.get(server.url + "/ui/assets/site.css", timeout=WAIT)
    assert response.text == "body {}"
    assert response.headers["content-type"] == "text/css; charset=utf-8"


def test_mount_prefixes_that_collide_are_refused():
    parent, api = mounted_apps([])
    with pytest.raises(ValueError, match="lies under the mount prefix"):
        parent.get("/api/status")(lambda request: "ok")
    other = App()
    other.get("/api/status")(lambda request: "ok")
    with pytest.raises(ValueError, match="lies under the mount prefix"):
        other.mount(App(), url_prefix="/api")
    with pytest.raises(ValueError, match="already mounted"):
        parent.mount(App(), url_prefix="/api/")
    with pytest.raises(ValueError, match="literal path"):
        parent.mount(App(), url_prefix="/<name>")
    with pytest.raises(ValueError, match="mounted in itself"):
        parent.mount(parent, url_prefix="/self")
    parent.mount(App(), url_prefix="/api/v2")  # a longer prefix inside is fine


def test_nested_mounts_and_their_names():
    root, v1, admin = App(), App(), App()

    @admin.get("/stats")
    async def stats(request):
        return "stats"

    v1.mount(admin, url_prefix="/admin")
    root.mount(v1, url_prefix="/api/v1")
    assert root.url_for("api.v1.admin.stats") == "/api/v1/admin/stats"
    with TestClient(root) as client:
        assert client.get("/api/v1/admin/stats").text == "stats"


def test_http_exception_headers_survive_a_parent_error_page(serve, raw_client):
    parent, api = App(), App()

    @api.get("/secret")
    async def secret(request):
        raise HTTPException(401, headers={"www-authenticate": "Basic"})

    @parent.errorhandler(401)
    async def login_page(request, exc):
        return Response("please log in", 401)

    parent.mount(api, url_prefix="/api")
    client = raw_client(serve(parent))
    response = client.request("GET", "/api/secret")
    assert (response.status, response.text) == (401, "please log in")
    assert response.header("www-authenticate") == "Basic"
