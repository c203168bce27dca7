"""app.cors() and App(compress=True), and static() serving .gz siblings:
checked with raw requests (h11), httpx and `curl --compressed`."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import zlib

import httpx
import pytest

from zerodep_http import App, FileResponse, StreamingResponse

from conftest import WAIT

ORIGIN = "https://app.example"
TEXT = "zerodep-http " * 200  # 2,600 bytes of text


def cors_app(**options) -> App:
    app = App()
    app.cors([ORIGIN], methods=["GET", "PUT"], headers=["x-token"], **options)

    @app.route("/things", methods=["GET", "PUT"])
    async def things(request):
        return {"method": request.method}

    @app.before_request
    def needs_token(request):
        if request.method == "PUT" and "x-token" not in request.headers:
            return "token please", 401

    return app


def preflight(client, method: str, origin: str = ORIGIN, headers: str | None = None):
    fields = {"origin": origin, "access-control-request-method": method}
    if headers:
        fields["access-control-request-headers"] = headers
    return client.request("OPTIONS", "/things", headers=fields)


def test_a_preflight_for_an_allowed_origin_is_answered_before_any_hook(serve, raw_client):
    client = raw_client(serve(cors_app(credentials=True)))
    response = preflight(client, "PUT", headers="X-Token, Content-Type")
    assert response.status == 204
    assert response.header("access-control-allow-origin") == ORIGIN
    assert response.header("access-control-allow-methods") == "GET, PUT"
    assert response.header("access-control-allow-headers") == "accept, accept-language, content-language, content-type, x-token"
    assert response.header("access-control-allow-credentials") == "true"
    assert response.header("access-control-max-age") == "600"
    assert "Origin" in response.header("vary")


@pytest.mark.parametrize("method, origin, headers", [
    ("DELETE", ORIGIN, None),               # a method not allowed
    ("PUT", "https://evil.example", None),  # an origin not allowed
    ("PUT", ORIGIN, "x-other"),             # a request header not allowed
    ("PUT", "null", None),
])
def test_a_preflight_outside_the_policy_is_refused(serve, raw_client, method, origin, headers):
    client = raw_client(serve(cors_app()))
    response = preflight(client, method, origin, headers)
    assert response.status == 403
    assert not response.has("access-control-allow-origin")


def test_actual_responses_carry_the_cors_fields(serve, raw_client):
    client = raw_client(serve(cors_app()))
    allowed = client.request("PUT", "/things", headers={"origin": ORIGIN, "x-token": "t"})
    assert allowed.header("access-control-allow-origin") == ORIGIN
    assert allowed.header("vary") == "Origin"
    refused_by_hook = client.request("PUT", "/things", headers={"origin": ORIGIN})
    assert refused_by_hook.status == 401
    assert refused_by_hook.header("access-control-allow-origin") == ORIGIN  # readable by the page
    other = client.request("GET", "/things", headers={"origin": "https://evil.example"})
    assert not other.has("access-control-allow-origin")
    assert other.header("vary") == "Origin"
    plain = client.request("OPTIONS", "/things")  # not a preflight: the automatic answer
    assert plain.status == 204 and plain.header("allow") == "GET, HEAD, OPTIONS, PUT"


def test_star_with_credentials_is_refused():
    with pytest.raises(ValueError, match="credentials"):
        App().cors("*", credentials=True)


def gzip_app() -> App:
    app = App(compress=True)

    @app.get("/text")
    async def text(request):
        return TEXT

    @app.get("/small")
    async def small(request):
        return "tiny"

    @app.get("/json")
    async def json_document(request):
        return {"items": list(range(500))}

    @app.get("/png")
    async def png(request):
        return FileResponse(__file__, content_type="image/png")

    @app.get("/stream")
    async def stream(request):
        async def events():
            for i in range(3):
                yield f"data: {i} {'x' * 400}\n\n"
        return StreamingResponse(events(), content_type="text/event-stream", compress=True)

    @app.get("/plain-stream")
    async def plain_stream(request):
        async def pieces():
            yield TEXT
        return StreamingResponse(pieces())

    return app


def test_text_is_gzipped_for_clients_that_take_it(serve, raw_client):
    client = raw_client(serve(gzip_app()))
    response = client.request("GET", "/text", headers={"accept-encoding": "gzip, br"})
    assert response.header("content-encoding") == "gzip"
    assert response.header("vary") == "Accept-Encoding"
    assert gzip.decompress(response.body).decode() == TEXT
    assert int(response.header("content-length")) == len(response.body) < len(TEXT)


@pytest.mark.parametrize("accept", [None, "gzip;q=0", "identity", "br", "*;q=0"])
def test_no_gzip_unless_the_client_takes_it(serve, raw_client, accept):
    client = raw_client(serve(gzip_app()))
    response = client.request("GET", "/text", headers={"accept-encoding": accept} if accept else {})
    assert not response.has("content-encoding")
    assert response.header("vary") == "Accept-Encoding"
    assert response.text == TEXT


@pytest.mark.parametrize("path", ["/small", "/png", "/plain-stream"])
def test_no_gzip_for_small_bodies_other_types_or_streams_not_asked(serve, raw_client, path):
    client = raw_client(serve(gzip_app()))
    response = client.request("GET", path, headers={"accept-encoding": "gzip"})
    assert response.status == 200
    assert not response.has("content-encoding")


def test_a_stream_asked_to_is_gzipped_piece_by_piece(serve, raw_client):
    client = raw_client(serve(gzip_app()))
    response = client.request("GET", "/stream", headers={"accept-encoding": "gzip"})
    assert response.header("content-encoding") == "gzip"
    body = zlib.decompressobj(wbits=31).decompress(response.body).decode()
    assert body.count("data: ") == 3


def test_a_range_of_a_file_is_never_gzipped(serve, raw_client, tmp_path):
    (tmp_path / "big.txt").write_text(TEXT)
    app = App(compress=True)
    app.static("/s", tmp_path)
    client = raw_client(serve(app))
    response = client.request("GET", "/s/big.txt", headers={"accept-encoding": "gzip",
                                                            "range": "bytes=0-9"})
    assert response.status == 206
    assert not response.has("content-encoding")
    assert response.body == TEXT[:10].encode()


def test_static_serves_a_precompressed_sibling(serve, raw_client, tmp_path):
    (tmp_path / "app.js").write_text(TEXT)
    (tmp_path / "app.js.gz").write_bytes(gzip.compress(TEXT.encode()))
    app = App()
    app.static("/s", tmp_path)
    client = raw_client(serve(app))
    zipped = client.request("GET", "/s/app.js", headers={"accept-encoding": "gzip"})
    assert zipped.header("content-encoding") == "gzip"
    assert zipped.header("content-type") == "text/javascript; charset=utf-8"
    assert zipped.header("vary") == "Accept-Encoding"
    assert gzip.decompress(zipped.body).decode() == TEXT
    plain = client.request("GET", "/s/app.js")
    assert not plain.has("content-encoding") and plain.text == TEXT
    assert plain.header("vary") == "Accept-Encoding"
    assert plain.header("etag") != zipped.header("etag")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_compressed(serve):
    server = serve(gzip_app())
    result = subprocess.run(["curl", "-s", "--compressed", "-D", "-", server.url + "/json"],
                            capture_output=True, timeout=WAIT, check=True)
    head, body = result.stdout.split(b"\r\n\r\n", 1)
    assert b"content-encoding: gzip" in head
    assert httpx.Response(200, content=body).json() == {"items": list(range(500))}
