"""Return-value coercion, response objects, and what never reaches the wire
(tracebacks, injected header lines)."""

from __future__ import annotations

import asyncio

import pytest

from zerodep_http import App, FileResponse, JSONResponse, Request, Response, StreamingResponse
from zerodep_http.responses import coerce_response

from conftest import IMF_FIXDATE


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque secret-repr>"


@pytest.fixture
def app() -> App:
    app = App()

    @app.get("/dict")
    async def as_dict(request):
        return {"a": 1, "ü": "ß"}

    @app.get("/list")
    async def as_list(request):
        return [1, "two", None]

    @app.get("/str")
    async def as_str(request):
        return "héllo"

    @app.get("/bytes")
    async def as_bytes(request):
        return b"\x00\x01\xff"

    @app.get("/bytearray")
    async def as_bytearray(request):
        return bytearray(b"abc")

    @app.get("/tuple2")
    async def tuple2(request):
        return "created", 201

    @app.get("/tuple3")
    async def tuple3(request):
        return {"x": 1}, 202, {"X-Custom": "yes", "Cache-Control": "no-store"}

    @app.get("/tuple-response")
    async def tuple_response(request):
        return Response("teapot", 200, {"x-a": "1"}), 418, {"x-b": "2"}

    @app.get("/none")
    async def none(request):
        return None

    @app.get("/response")
    async def response(request):
        return Response("<b>hi</b>", status_code=203, headers={"X-One": "1"},
                        content_type="text/html; charset=utf-8")

    @app.get("/response-bytes")
    async def response_bytes(request):
        return Response(b"raw")

    @app.get("/json-response")
    async def json_response(request):
        return JSONResponse({"ok": [1, 2]}, status_code=207, headers={"x-j": "j"})

    @app.get("/int")
    async def as_int(request):
        return 42

    @app.get("/object")
    async def as_object(request):
        return Opaque()

    @app.get("/set")
    async def as_set(request):
        return {1, 2}

    @app.get("/raises")
    async def raises(request):
        raise RuntimeError("secret-detail-in-exception")

    @app.get("/sync-raises")
    def sync_raises(request):
        raise KeyError("secret-detail-sync")

    @app.get("/multi-cookie")
    async def multi_cookie(request):
        return Response("c", headers={"set-cookie": ["a=1; Path=/", "b=2; Path=/"]})

    @app.get("/inject-value")
    async def inject_value(request):
        response = Response("x")
        response.headers["X-Evil"] = "a\r\nX-Injected: 1"
        return response

    @app.get("/inject-lf")
    async def inject_lf(request):
        return "x", 200, {"X-Evil": "a\nX-Injected: 1"}

    @app.get("/inject-name")
    async def inject_name(request):
        return "x", 200, {"X-Evil\r\nX-Injected": "1"}

    @app.get("/inject-nul")
    async def inject_nul(request):
        return "x", 200, {"X-Evil": "a\x00b"}

    @app.get("/inject-stream")
    async def inject_stream(request):
        async def gen():
            yield "never"
        return StreamingResponse(gen(), headers={"X-Evil": "a\r\nX-Injected: 1"})

    @app.get("/inject-file")
    async def inject_file(request):
        return FileResponse(__file__, headers={"X-Evil": "a\r\nX-Injected: 1"})

    @app.get("/bad-status")
    async def bad_status(request):
        return "x", 1234

    return app


def test_dict_and_list_are_json(serve, raw_client, app):
    client = raw_client(serve(app))
    response = client.request("GET", "/dict")
    assert response.status == 200
    assert response.header("content-type") == "application/json"
    assert response.json() == {"a": 1, "ü": "ß"}
    response = client.request("GET", "/list")
    assert response.json() == [1, "two", None]
    assert response.header("content-type") == "application/json"


def test_str_is_utf8_text(serve, raw_client, app):
    response = raw_client(serve(app)).request("GET", "/str")
    assert response.header("content-type") == "text/plain; charset=utf-8"
    assert response.body == "héllo".encode()
    assert response.header("content-length") == str(len("héllo".encode()))


def test_bytes_are_octet_stream(serve, raw_client, app):
    client = raw_client(serve(app))
    response = client.request("GET", "/bytes")
    assert response.header("content-type") == "application/octet-stream"
    assert response.body == b"\x00\x01\xff"
    assert client.request("GET", "/bytearray").body == b"abc"


@pytest.mark.parametrize("value, made_by", [
    ("héllo", Response), ("", Response), ({"a": [1, "ü"]}, JSONResponse), ([], JSONResponse),
    (b"\x00\xff", Response), (b"", Response),
], ids=["str", "empty-str", "dict", "list", "bytes", "empty-bytes"])
def test_common_return_values_make_what_the_class_makes(value, made_by):
    """str, dict, list and bytes skip calling the class: the response must
    be the one the class makes, in every slot, and behave as one."""
    coerced, made = coerce_response(value), made_by(value)
    assert type(coerced) is type(made)
    slots = [name for cls in type(made).__mro__ for name in getattr(cls, "__slots__", ())]
    assert slots
    assert {name: getattr(coerced, name) for name in slots} == {
        name: getattr(made, name) for name in slots}
    assert coerced.head_prefix() == made.head_prefix()
    coerced.headers["x-a"] = "1"
    made.headers["x-a"] = "1"
    assert coerced.head_prefix() == made.head_prefix()


@pytest.mark.parametrize("value, made_by", [
    ("héllo", Response), ("", Response), ({"a": [1, "ü"]}, JSONResponse), ({}, JSONResponse),
    ([1], JSONResponse), (b"\x00", Response),
], ids=["str", "empty-str", "dict", "empty-dict", "list", "bytes"])
def test_an_app_makes_of_a_return_value_what_the_class_makes(value, made_by):
    """App.handle writes out the str and dict cases of coerce_response:
    the response must be the one the class makes, in every slot."""
    app = App()

    @app.get("/")
    async def handler(request):
        return value

    handled = asyncio.run(app.handle(Request("GET", "/", "", {"host": "x"})))
    made = made_by(value)
    assert type(handled) is type(made)
    slots = [name for cls in type(made).__mro__ for name in getattr(cls, "__slots__", ())]
    assert {name: getattr(handled, name) for name in slots} == {
        name: getattr(made, name) for name in slots}


def test_tuples(serve, raw_client, app):
    client = raw_client(serve(app))
    response = client.request("GET", "/tuple2")
    assert (response.status, response.text) == (201, "created")
    response = client.request("GET", "/tuple3")
    assert response.status == 202
    assert response.json() == {"x": 1}
    assert response.header("x-custom") == "yes"
    assert response.header("cache-control") == "no-store"
    response = client.request("GET", "/tuple-response")
    assert response.status == 418
    assert response.text == "teapot"
    assert (response.header("x-a"), response.header("x-b")) == ("1", "2")


def test_none_is_204_without_body_or_length(serve, raw_client, app):
    client = raw_client(serve(app))
    response = client.request("GET", "/none")
    assert response.status == 204
    assert response.body == b""
    assert not response.has("content-length")
    assert not response.has("transfer-encoding")
    # Nothing stray follows: the next response parses.
    assert client.request("GET", "/str").status == 200


def test_response_objects_pass_through(serve, raw_client, app):
    client = raw_client(serve(app))
    response = client.request("GET", "/response")
    assert response.status == 203
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert response.header("x-one") == "1"
    assert response.text == "<b>hi</b>"
    assert client.request("GET", "/response-bytes").header("content-type") == "application/octet-stream"
    response = client.request("GET", "/json-response")
    assert response.status == 207
    assert response.json() == {"ok": [1, 2]}
    assert response.header("x-j") == "j"


def test_several_fields_of_one_name(serve, raw_client, app):
    response = raw_client(serve(app)).request("GET", "/multi-cookie")
    assert response.header_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]


@pytest.mark.parametrize("path", ["/int", "/object", "/set"])
def test_other_return_values_are_500_without_details(serve, raw_client, app, path):
    client = raw_client(serve(app))
    response = client.request("GET", path)
    assert response.status == 500
    assert b"Traceback" not in response.raw
    assert b"secret-repr" not in response.raw
    assert b"TypeError" not in response.raw
    # The connection survives an application error.
    assert client.request("GET", "/str").status == 200


@pytest.mark.parametrize("path", ["/raises", "/sync-raises"])
def test_exceptions_are_500_without_traceback(serve, raw_client, app, path):
    client = raw_client(serve(app))
    response = client.request("GET", path)
    assert response.status == 500
    assert response.text == "Internal Server Error"
    assert b"Traceback" not in response.raw
    assert b"secret-detail" not in response.raw
    assert client.request("GET", "/dict").status == 200


def test_date_header_is_imf_fixdate(serve, raw_client, app):
    client = raw_client(serve(app))
    for path in ("/dict", "/none", "/nothing-here", "/raises"):
        response = client.request("GET", path)
        assert len(response.header_list("date")) == 1, path
        assert IMF_FIXDATE.fullmatch(response.header("date")), response.header("date")


@pytest.mark.parametrize("path", [
    "/inject-value", "/inject-lf", "/inject-name", "/inject-nul", "/inject-stream", "/inject-file",
])
def test_response_header_injection_is_refused(serve, raw_client, app, path):
    client = raw_client(serve(app))
    response = client.request("GET", path)
    assert response.status == 500
    assert not response.has("x-injected")
    assert b"X-Injected" not in client.received
    assert b"x-injected" not in client.received.lower()
    assert b"X-Evil" not in client.received


def test_invalid_status_code_is_500(serve, raw_client, app):
    client = raw_client(serve(app))
    response = client.request("GET", "/bad-status")
    assert response.status == 500


def test_framing_headers_set_by_the_app_do_not_break_framing(serve, raw_client):
    app = App()

    @app.get("/lie")
    async def lie(request):
        return Response("four", headers={"Content-Length": "100", "Transfer-Encoding": "chunked"})

    client = raw_client(serve(app))
    response = client.request("GET", "/lie")
    assert response.body == b"four"
    assert client.request("GET", "/lie").body == b"four"


def test_header_names_are_sent_in_lower_case(serve, raw_client, app):
    client = raw_client(serve(app))
    for path in ("/tuple3", "/response", "/nothing", "/none"):
        response = client.request("GET", path)
        head = response.raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
        names = [line.split(b":", 1)[0] for line in head]
        assert names and all(name == name.lower() for name in names), (path, names)


def test_a_response_body_is_exact_bytes_whatever_bytes_like_it_was_given():
    class Sub(bytes):
        pass

    data = b"\x00data"
    assert Response(data).body is data  # taken as is
    for given in (bytearray(data), memoryview(data), Sub(data)):
        response = Response(given)
        assert type(response.body) is bytes and response.body == data
        assert response.content_type == "application/octet-stream"
