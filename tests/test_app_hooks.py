"""before_request / after_request hooks, error handlers, HTTPException and
abort, and shutting the server down from a handler."""

from __future__ import annotations

import pytest

from zerodep_http import App, HTTPException, JSONResponse, Response, abort

from conftest import connection_refused


def test_before_request_short_circuits(serve, raw_client):
    app = App()
    calls = []

    @app.before_request
    async def gate(request):
        calls.append(("before", request.path))
        if request.headers.get("x-token") != "ok":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return None

    @app.get("/private")
    async def private(request):
        calls.append(("handler", request.path))
        return "secret"

    client = raw_client(serve(app))
    response = client.request("GET", "/private")
    assert response.status == 401
    assert response.json() == {"error": "unauthorized"}
    assert calls == [("before", "/private")]
    response = client.request("GET", "/private", headers={"x-token": "ok"})
    assert (response.status, response.text) == (200, "secret")
    assert calls[-1] == ("handler", "/private")


def test_before_request_may_return_plain_values_and_be_sync(serve, raw_client):
    app = App()

    @app.before_request
    def maintenance(request):
        if request.path == "/down":
            return "maintenance", 503

    @app.get("/down")
    async def down(request):
        return "up"

    @app.get("/up")
    async def up(request):
        return "up"

    client = raw_client(serve(app))
    response = client.request("GET", "/down")
    assert (response.status, response.text) == (503, "maintenance")
    assert client.request("GET", "/up").text == "up"


def test_before_request_hooks_run_in_order(serve, raw_client):
    app = App()
    order = []

    @app.before_request
    async def first(request):
        order.append(1)

    @app.before_request
    async def second(request):
        order.append(2)
        return "stopped by second"

    @app.before_request
    async def third(request):
        order.append(3)

    @app.get("/")
    async def index(request):
        return "handler"

    assert raw_client(serve(app)).request("GET", "/").text == "stopped by second"
    assert order == [1, 2]


def test_after_request_adds_headers_everywhere(serve, raw_client):
    app = App()

    @app.after_request
    async def add_header(request, response):
        response.headers["X-Served-By"] = "zerodep"
        return response

    @app.after_request
    def sync_hook(request, response):
        response.headers["X-Sync"] = request.method
        # Returning None keeps the response.

    @app.get("/ok")
    async def ok(request):
        return {"ok": True}

    @app.get("/boom")
    async def boom(request):
        raise RuntimeError("boom")

    client = raw_client(serve(app))
    for path, status in (("/ok", 200), ("/missing", 404), ("/boom", 500)):
        response = client.request("GET", path)
        assert response.status == status
        assert response.header("x-served-by") == "zerodep", path
        assert response.header("x-sync") == "GET", path


def test_after_request_can_replace_the_response(serve, raw_client):
    app = App()

    @app.after_request
    async def replace(request, response):
        if request.path == "/replace":
            return Response("replaced", 202)
        return response

    @app.get("/replace")
    async def original(request):
        return "original"

    response = raw_client(serve(app)).request("GET", "/replace")
    assert (response.status, response.text) == (202, "replaced")


def test_errorhandler_404_catches_unmatched_routes_and_abort(serve, raw_client):
    app = App()
    seen = []

    @app.errorhandler(404)
    async def not_found(request, exc):
        seen.append((request.path, type(exc).__name__, getattr(exc, "status_code", None)))
        return JSONResponse({"error": "not found", "path": request.path}, status_code=404)

    @app.get("/gone")
    async def gone(request):
        abort(404)

    @app.get("/raise")
    async def raise_it(request):
        raise HTTPException(404, "custom")

    client = raw_client(serve(app))
    for path in ("/nowhere", "/gone", "/raise"):
        response = client.request("GET", path)
        assert response.status == 404
        assert response.header("content-type") == "application/json"
        assert response.json() == {"error": "not found", "path": path}
    assert [status for _, _, status in seen] == [404, 404, 404]


def test_errorhandler_for_exception_classes(serve, raw_client):
    app = App()

    class AppError(Exception):
        pass

    class SubError(AppError):
        pass

    @app.errorhandler(ValueError)
    async def bad_value(request, exc):
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.errorhandler(AppError)
    def app_error(request, exc):  # a sync error handler
        return {"kind": type(exc).__name__}, 409

    @app.get("/value")
    async def value(request):
        int("not a number")

    @app.get("/sub")
    async def sub(request):
        raise SubError()

    @app.get("/sync-value")
    def sync_value(request):
        raise ValueError("from a thread")

    client = raw_client(serve(app))
    response = client.request("GET", "/value")
    assert response.status == 400
    assert "invalid literal" in response.json()["error"]
    response = client.request("GET", "/sub")
    assert (response.status, response.json()) == (409, {"kind": "SubError"})
    response = client.request("GET", "/sync-value")
    assert (response.status, response.json()) == (400, {"error": "from a thread"})


def test_errorhandler_500_for_unhandled_exceptions(serve, raw_client):
    app = App()

    @app.errorhandler(500)
    async def server_error(request, exc):
        return {"error": "internal", "type": type(exc).__name__}, 500

    @app.get("/boom")
    async def boom(request):
        raise LookupError("x")

    response = raw_client(serve(app)).request("GET", "/boom")
    assert response.status == 500
    assert response.json() == {"error": "internal", "type": "LookupError"}


def test_failing_error_handler_is_a_plain_500(serve, raw_client):
    app = App()

    @app.errorhandler(404)
    async def broken(request, exc):
        raise RuntimeError("secret-in-handler")

    response = raw_client(serve(app)).request("GET", "/nowhere")
    assert response.status == 500
    assert b"secret-in-handler" not in response.raw
    assert b"Traceback" not in response.raw


@pytest.mark.parametrize("status,phrase", [
    (400, "Bad Request"), (401, "Unauthorized"), (403, "Forbidden"), (404, "Not Found"),
    (409, "Conflict"), (410, "Gone"), (422, "Unprocessable Entity"),
    (429, "Too Many Requests"), (500, "Internal Server Error"), (503, "Service Unavailable"),
])
def test_abort_default_message_is_the_reason_phrase(serve, raw_client, status, phrase):
    app = App()

    @app.get("/abort")
    async def do_abort(request):
        abort(status)

    @app.get("/raise")
    async def do_raise(request):
        raise HTTPException(status)

    client = raw_client(serve(app))
    for path in ("/abort", "/raise"):
        response = client.request("GET", path)
        assert response.status == status
        assert response.reason == phrase
        assert response.text == phrase


def test_abort_with_message(serve, raw_client):
    app = App()

    @app.get("/abort")
    def do_abort(request):
        abort(403, "no entry for you")

    response = raw_client(serve(app)).request("GET", "/abort")
    assert (response.status, response.text) == (403, "no entry for you")


def test_http_exception_attributes():
    exc = HTTPException(404)
    assert exc.status_code == 404
    assert exc.message == "Not Found"
    with pytest.raises(HTTPException) as info:
        abort(418, "short and stout")
    assert info.value.status_code == 418
    assert info.value.message == "short and stout"


def test_abort_in_before_request(serve, raw_client):
    app = App()

    @app.before_request
    async def gate(request):
        abort(403)

    @app.get("/")
    async def index(request):
        return "no"

    response = raw_client(serve(app)).request("GET", "/")
    assert (response.status, response.text) == (403, "Forbidden")


def test_shutdown_from_a_handler_stops_the_server(serve, raw_client):
    app = App()

    @app.post("/shutdown")
    async def trigger(request):
        request.app.shutdown()
        return {"status": "shutting down"}

    @app.get("/ping")
    def ping(request):
        return "pong"

    server = serve(app)
    idle = raw_client(server)
    assert idle.request("GET", "/ping").text == "pong"
    stopper = raw_client(server)
    response = stopper.request("POST", "/shutdown", body=b"")
    assert response.status == 200
    assert response.json() == {"status": "shutting down"}
    stopper.assert_closed(timeout=5)
    assert server.wait_stopped(10), "serve() did not return after request.app.shutdown()"
    assert connection_refused(("127.0.0.1", server.port))
    # The idle keep-alive connection was closed by the drain.
    idle.assert_closed(timeout=5)


def test_shutdown_from_a_sync_handler(serve, raw_client):
    app = App()

    @app.get("/stop")
    def stop(request):
        request.app.shutdown()
        return "bye"

    server = serve(app)
    assert raw_client(server).request("GET", "/stop").text == "bye"
    assert server.wait_stopped(10)
