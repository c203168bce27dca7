"""Malformed and smuggling requests end to end: a clear 4xx/5xx with
`connection: close`, nothing parsed after it, and other clients unaffected."""

from __future__ import annotations

import pytest

from zerodep_http import App

from conftest import IMF_FIXDATE, h11_request_bytes

SMUGGLED = b"GET /secret HTTP/1.1\r\nHost: test\r\n\r\n"


def make_app() -> App:
    app = App()
    app.calls = []  # type: ignore[attr-defined]

    @app.get("/")
    async def index(request):
        app.calls.append("index")  # type: ignore[attr-defined]
        return "index"

    @app.route("/echo", methods=["POST"])
    async def echo(request):
        app.calls.append("echo")  # type: ignore[attr-defined]
        return request.body

    @app.get("/secret")
    async def secret(request):
        app.calls.append("secret")  # type: ignore[attr-defined]
        return "secret"

    return app


CASES = {
    # Framing conflicts (request smuggling).
    "cl-and-te": (400, b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    "te-and-cl": (400, b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n"
                       b"Content-Length: 5\r\n\r\n0\r\n\r\n" + SMUGGLED),
    "two-content-lengths": (400, b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n"
                                 b"Content-Length: 6\r\n\r\nhello!" + SMUGGLED),
    "content-length-plus": (400, b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: +5\r\n\r\n"
                                 b"hello" + SMUGGLED),
    "content-length-underscore": (400, b"POST /echo HTTP/1.1\r\nHost: test\r\n"
                                       b"Content-Length: 1_0\r\n\r\n" + SMUGGLED),
    "content-length-arabic-digit": (400, "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: "
                                         "\u0665\r\n\r\nhello".encode() + SMUGGLED),
    "bad-chunk-size": (400, b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"zz\r\nhello\r\n0\r\n\r\n" + SMUGGLED),
    "chunk-size-0x": (400, b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"0x5\r\nhello\r\n0\r\n\r\n" + SMUGGLED),
    "chunk-size-negative": (400, b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked"
                                 b"\r\n\r\n-5\r\nhello\r\n0\r\n\r\n" + SMUGGLED),
    "chunk-without-crlf": (400, b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked"
                                b"\r\n\r\n5\r\nhelloXX0\r\n\r\n" + SMUGGLED),
    "chunk-bare-lf": (400, b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"5\nhello\r\n0\r\n\r\n" + SMUGGLED),
    "te-chunked-twice": (400, b"POST /echo HTTP/1.1\r\nHost: test\r\n"
                              b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    "te-not-last-chunked": (400, b"POST /echo HTTP/1.1\r\nHost: test\r\n"
                                 b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + SMUGGLED),
    "te-unknown-coding": (501, b"POST /echo HTTP/1.1\r\nHost: test\r\n"
                               b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    "te-xchunked": (501, b"POST /echo HTTP/1.1\r\nHost: test\r\n"
                         b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    "trailer-content-length": (400, b"POST /echo HTTP/1.1\r\nHost: test\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
                                    b"Content-Length: 40\r\n\r\n" + SMUGGLED),
    "te-in-http10": (400, b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"0\r\n\r\n" + SMUGGLED),
    # Line syntax.
    "bare-lf-head": (400, b"GET / HTTP/1.1\nHost: test\n\n" + SMUGGLED),
    "bare-lf-in-field": (400, b"GET / HTTP/1.1\r\nHost: test\nX-A: b\r\n\r\n" + SMUGGLED),
    "bare-cr": (400, b"GET / HTTP/1.1\r\nHost: test\rX-A: b\r\n\r\n" + SMUGGLED),
    "obs-fold": (400, b"GET / HTTP/1.1\r\nHost: test\r\nX-A: a\r\n b\r\n\r\n" + SMUGGLED),
    "space-before-colon": (400, b"GET / HTTP/1.1\r\nHost: test\r\nContent-Length : 5\r\n\r\n"
                                + SMUGGLED),
    "nul-in-value": (400, b"GET / HTTP/1.1\r\nHost: test\r\nX-A: a\x00b\r\n\r\n" + SMUGGLED),
    "no-host": (400, b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n" + SMUGGLED),
    "two-hosts": (400, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + SMUGGLED),
    "bad-request-line": (400, b"GET  / HTTP/1.1\r\nHost: test\r\n\r\n" + SMUGGLED),
    "lowercase-version": (400, b"GET / http/1.1\r\nHost: test\r\n\r\n" + SMUGGLED),
    "http2-version": (505, b"GET / HTTP/2.0\r\nHost: test\r\n\r\n" + SMUGGLED),
    "fragment-in-target": (400, b"GET /secret#frag HTTP/1.1\r\nHost: test\r\n\r\n" + SMUGGLED),
    "asterisk-for-get": (400, b"GET * HTTP/1.1\r\nHost: test\r\n\r\n" + SMUGGLED),
    "expect-unknown": (417, b"POST /echo HTTP/1.1\r\nHost: test\r\nExpect: something\r\n"
                            b"Content-Length: 0\r\n\r\n" + SMUGGLED),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_request_is_refused_and_closed(serve, raw_client, name):
    status, data = CASES[name]
    app = make_app()
    client = raw_client(serve(app))
    client.send(data)
    response = client.read_response("GET")
    assert response.status == status, response.raw
    assert response.closes, "an error after a parse failure must close the connection"
    assert IMF_FIXDATE.fullmatch(response.header("date") or "")
    client.assert_closed()
    assert "secret" not in app.calls
    assert "echo" not in app.calls


def test_uri_too_long_is_414(serve, raw_client):
    client = raw_client(serve(make_app()))
    client.send(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: test\r\n\r\n")
    response = client.read_response("GET")
    assert response.status == 414
    assert response.closes
    client.assert_closed()


def test_header_too_large_is_431(serve, raw_client):
    client = raw_client(serve(make_app()))
    client.send(b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
    response = client.read_response("GET")
    assert response.status == 431
    client.assert_closed()


def test_too_many_headers_is_431(serve, raw_client):
    client = raw_client(serve(make_app()))
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(150))
    client.send(b"GET / HTTP/1.1\r\nHost: test\r\n" + fields + b"\r\n")
    response = client.read_response("GET")
    assert response.status == 431
    client.assert_closed()


def test_error_after_a_good_request_on_the_same_connection(serve, raw_client):
    app = make_app()
    client = raw_client(serve(app))
    assert client.request("GET", "/").text == "index"
    client.send(b"GET / HTTP/1.1\nHost: test\n\n")
    response = client.read_response("GET")
    assert response.status == 400
    client.assert_closed()


def test_pipelined_requests_after_a_bad_one_are_not_served(serve, raw_client):
    app = make_app()
    client = raw_client(serve(app))
    client.send(h11_request_bytes("GET", "/")
                + b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                + SMUGGLED + SMUGGLED)
    assert client.read_response("GET").text == "index"
    response = client.read_response("POST")
    assert response.status == 400
    client.assert_closed()
    assert app.calls == ["index"]


def test_other_connections_keep_being_served(serve, raw_client):
    app = make_app()
    server = serve(app)
    keep = raw_client(server)
    assert keep.request("GET", "/").text == "index"
    # A request in flight on another connection, half sent.
    pending = raw_client(server)
    pending.send(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 6\r\n\r\nabc")
    for name in ("cl-and-te", "bad-chunk-size", "bare-lf-head", "obs-fold"):
        bad = raw_client(server)
        bad.send(CASES[name][1])
        assert bad.read_response("GET").status == 400
        bad.assert_closed()
        assert keep.request("GET", "/").text == "index"
        assert raw_client(server).request("GET", "/").text == "index"
    pending.send(b"def")
    assert pending.read_response("POST").body == b"abcdef"
    assert "secret" not in app.calls


def test_garbage_bytes(serve, raw_client):
    server = serve(make_app())
    for garbage in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 50 + b"\r\n\r\n",
                    b"\xff\xfe\xfd\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"):
        client = raw_client(server)
        client.send(garbage)
        response = client.read_response("GET")
        assert 400 <= response.status < 600
        assert response.closes
        client.assert_closed()
    assert raw_client(server).request("GET", "/").text == "index"


def test_client_disconnecting_mid_request_does_not_hurt(serve, raw_client):
    server = serve(make_app())
    for data in (b"GET / HTTP/1.1\r\nHo", b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\nab"):
        client = raw_client(server)
        client.send(data)
        client.close()
    assert raw_client(server).request("GET", "/").text == "index"
