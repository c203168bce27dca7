"""Connection management: keep-alive, HTTP/1.0, pipelining, timeouts,
Expect: 100-continue, request bodies and their limits."""

from __future__ import annotations

import time

import pytest

from zerodep_http import App

from conftest import IMF_FIXDATE, h11_request_bytes


def make_app(**kwargs) -> App:
    app = App(**kwargs)
    app.calls = []  # type: ignore[attr-defined]

    @app.get("/")
    async def index(request):
        return "index"

    @app.get("/n/<int:n>")
    async def numbered(request, n):
        app.calls.append(n)  # type: ignore[attr-defined]
        return {"n": n}

    @app.route("/echo", methods=["POST", "PUT"])
    async def echo(request):
        app.calls.append(("echo", request.body))  # type: ignore[attr-defined]
        return request.body

    @app.get("/secret")
    async def secret(request):
        app.calls.append("secret")  # type: ignore[attr-defined]
        return "secret"

    return app


# -- keep-alive -------------------------------------------------------------------


def test_http11_keep_alive_serves_several_requests(serve, raw_client):
    client = raw_client(serve(make_app()))
    for n in range(5):
        response = client.request("GET", f"/n/{n}")
        assert response.json() == {"n": n}
        assert not response.closes
    response = client.request("POST", "/echo", body=b"x" * 1000)
    assert response.body == b"x" * 1000
    assert client.request("GET", "/").text == "index"


def test_http11_connection_close_is_honoured(serve, raw_client):
    client = raw_client(serve(make_app()))
    response = client.request("GET", "/", headers={"connection": "close"})
    assert response.text == "index"
    assert response.closes
    client.assert_closed()


def test_http10_closes_by_default(serve, raw_client):
    client = raw_client(serve(make_app()))
    client.send(b"GET /n/1 HTTP/1.0\r\n\r\n")
    response = client.read_response("GET", http_version="1.0")
    assert response.json() == {"n": 1}
    assert response.header("content-length") == str(len(response.body))
    client.assert_closed()


def test_http10_keep_alive_when_asked(serve, raw_client):
    client = raw_client(serve(make_app()))
    for n in (1, 2, 3):
        client.send(b"GET /n/%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % n)
        response = client.read_response("GET", http_version="1.0")
        assert response.json() == {"n": n}
        assert "keep-alive" in (response.header("connection") or "").lower()
    client.send(b"GET /n/4 HTTP/1.0\r\n\r\n")
    assert client.read_response("GET", http_version="1.0").json() == {"n": 4}
    client.assert_closed()


def test_pipelining_answers_in_order(serve, raw_client):
    app = make_app()
    client = raw_client(serve(app))
    client.send(h11_request_bytes("GET", "/n/1") + h11_request_bytes("GET", "/n/2")
                + h11_request_bytes("GET", "/n/3"))
    assert [client.read_response("GET").json()["n"] for _ in range(3)] == [1, 2, 3]
    assert app.calls == [1, 2, 3]


def test_pipelining_with_bodies_head_and_errors(serve, raw_client):
    client = raw_client(serve(make_app()))
    client.send(
        h11_request_bytes("POST", "/echo", body=b"first")
        + h11_request_bytes("HEAD", "/")
        + h11_request_bytes("GET", "/missing")
        + h11_request_bytes("PUT", "/echo", chunks=[b"sec", b"ond"])
        + h11_request_bytes("GET", "/n/9"))
    assert client.read_response("POST").body == b"first"
    head = client.read_response("HEAD")
    assert (head.status, head.body, head.header("content-length")) == (200, b"", "5")
    assert client.read_response("GET").status == 404
    assert client.read_response("PUT").body == b"second"
    assert client.read_response("GET").json() == {"n": 9}


def test_many_pipelined_requests(serve, raw_client):
    client = raw_client(serve(make_app()))
    count = 200
    client.send(b"".join(h11_request_bytes("GET", f"/n/{n}") for n in range(count)))
    assert [client.read_response("GET").json()["n"] for _ in range(count)] == list(range(count))


def test_pipeline_over_the_buffer_limit_behind_a_slow_request(serve, raw_client):
    """While one request is in the application, a large pipeline waits (the
    server may stop reading) and is then answered completely, in order."""
    import threading

    app = make_app()
    release = threading.Event()

    @app.get("/wait")
    def wait(request):
        return {"released": release.wait(10)}

    client = raw_client(serve(app))
    body = b"p" * 40000
    pipeline = h11_request_bytes("GET", "/wait") + b"".join(
        h11_request_bytes("POST", "/echo", body=body) for _ in range(12))  # ~480 KB
    sender = threading.Thread(target=client.send, args=(pipeline,))
    sender.start()
    release.set()
    assert client.read_response("GET").json() == {"released": True}
    for _ in range(12):
        assert client.read_response("POST").body == body
    sender.join(10)
    assert client.request("GET", "/n/1").json() == {"n": 1}


def test_absolute_form_target(serve, raw_client):
    client = raw_client(serve(make_app()))
    client.send(b"GET http://test/n/5 HTTP/1.1\r\nHost: test\r\n\r\n")
    assert client.read_response("GET").json() == {"n": 5}


def test_request_split_across_many_writes(serve, raw_client):
    client = raw_client(serve(make_app()))
    data = h11_request_bytes("POST", "/echo", body=b"0123456789")
    for i in range(len(data)):
        client.send(data[i:i + 1])
    assert client.read_response("POST").body == b"0123456789"


def test_half_closed_client_still_gets_its_responses(serve, raw_client):
    import socket

    client = raw_client(serve(make_app()))
    client.send(h11_request_bytes("GET", "/n/1") + h11_request_bytes("GET", "/n/2"))
    client.sock.shutdown(socket.SHUT_WR)
    assert client.read_response("GET").json() == {"n": 1}
    assert client.read_response("GET").json() == {"n": 2}
    client.assert_closed()


# -- timeouts -----------------------------------------------------------------------


def test_keep_alive_idle_timeout_closes(serve, raw_client):
    client = raw_client(serve(make_app(), keep_alive=0.5))
    assert client.request("GET", "/").status == 200
    started = time.monotonic()
    client.assert_closed(timeout=5)
    assert time.monotonic() - started < 4


def test_keep_alive_zero_closes_after_each_response(serve, raw_client):
    client = raw_client(serve(make_app(), keep_alive=0))
    response = client.request("GET", "/")
    assert response.status == 200
    assert response.closes
    client.assert_closed(timeout=5)


def test_idle_connection_without_any_request_is_closed(serve, raw_client):
    client = raw_client(serve(make_app(read_timeout=0.5)))
    extra = client.read_until_closed(timeout=5)
    if extra:  # a 408 is allowed, but it must be a valid response
        assert extra.startswith(b"HTTP/1.1 408 ")


def test_partial_head_times_out_with_408(serve, raw_client):
    client = raw_client(serve(make_app(read_timeout=0.5)))
    client.send(b"GET / HTTP/1.1\r\nHost: test\r\n")
    response = client.read_response("GET", timeout=5)
    assert response.status == 408
    assert response.closes
    client.assert_closed()


def test_trickled_head_times_out_as_a_whole(serve, raw_client):
    """The deadline covers the whole head, not each byte (slowloris)."""
    client = raw_client(serve(make_app(read_timeout=0.5)))
    head = b"GET / HTTP/1.1\r\nHost: test\r\nX-Padding: " + b"a" * 100 + b"\r\n\r\n"
    client.sock.setblocking(False)
    got = b""
    started = time.monotonic()
    try:
        for i in range(len(head) - 2):  # never complete the head
            try:
                client.sock.send(head[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                got += client.sock.recv(65536)
            except BlockingIOError:
                pass
            if got or time.monotonic() - started > 8:
                break
            time.sleep(0.05)  # pacing the trickle, not synchronisation
    finally:
        client.sock.setblocking(True)
    if not got:  # the server may have answered while a send failed
        client.sock.settimeout(2)
        try:
            got = client.sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            pass
    assert got, "the server kept waiting for a head trickled in byte by byte"
    client.received += got
    client.conn.receive_data(got)
    response = client.read_response("GET", timeout=5)
    assert response.status == 408
    assert time.monotonic() - started < 5


def test_slow_body_times_out_with_408(serve, raw_client):
    app = make_app(read_timeout=0.5)
    client = raw_client(serve(app))
    client.send(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nabc")
    response = client.read_response("POST", timeout=5)
    assert response.status == 408
    assert response.closes
    client.assert_closed()
    assert app.calls == []


def test_slow_handler_is_not_cut_by_the_read_timeout(serve, raw_client):
    import asyncio

    app = App(read_timeout=0.5)

    @app.get("/slow")
    async def slow(request):
        await asyncio.sleep(1.6)
        return "done"

    response = raw_client(serve(app, keep_alive=0.5)).request("GET", "/slow")
    assert response.text == "done"


# -- Expect: 100-continue -------------------------------------------------------------


def test_expect_continue_on_a_routed_post(serve, raw_client):
    app = make_app()
    client = raw_client(serve(app))
    client.send_request("POST", "/echo", headers={"expect": "100-continue", "content-length": "5"},
                        end=False)
    assert client.read_informational() == 100
    client.send_body(body=b"hello")
    response = client.read_response()
    assert (response.status, response.body) == (200, b"hello")
    assert client.request("GET", "/").status == 200


def test_expect_continue_with_a_chunked_body(serve, raw_client):
    client = raw_client(serve(make_app()))
    client.send_request("POST", "/echo", headers={"expect": "100-continue"},
                        chunks=[], end=False)
    assert client.read_informational() == 100
    client.send_body(chunks=[b"ab", b"cd"])
    assert client.read_response().body == b"abcd"


@pytest.mark.parametrize("target,status", [("/nowhere", 404), ("/", 405)])
def test_expect_continue_without_a_handler_gets_the_final_response(serve, raw_client, target, status):
    app = make_app()
    client = raw_client(serve(app))
    client.send_request("POST", target, headers={"expect": "100-continue", "content-length": "5"},
                        end=False)
    response = client.read_response()
    assert response.status == status
    assert response.informational == []
    assert response.closes
    assert b"100 Continue" not in client.received
    client.assert_closed()


def test_no_100_continue_for_http10(serve, raw_client):
    client = raw_client(serve(make_app()))
    client.send(b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok")
    response = client.read_response("POST", http_version="1.0")
    assert response.body == b"ok"
    assert response.informational == []
    assert b" 100 " not in client.received


def test_413_for_a_declared_body_over_the_limit_before_it_is_sent(serve, raw_client):
    app = make_app(max_body_size=100)
    client = raw_client(serve(app))
    client.send_request("POST", "/echo", headers={"content-length": "1000"}, end=False)
    response = client.read_response()  # answered before any body byte is sent
    assert response.status == 413
    assert response.closes
    client.assert_closed()
    assert app.calls == []


def test_413_for_expect_continue_over_the_limit(serve, raw_client):
    client = raw_client(serve(make_app(max_body_size=100)))
    client.send_request("POST", "/echo", headers={"content-length": "101", "expect": "100-continue"},
                        end=False)
    response = client.read_response()
    assert response.status == 413
    assert response.informational == []


def test_body_at_the_limit_is_accepted(serve, raw_client):
    client = raw_client(serve(make_app(max_body_size=100)))
    assert client.request("POST", "/echo", body=b"z" * 100).body == b"z" * 100


def test_413_for_a_chunked_body_over_the_limit(serve, raw_client):
    app = make_app(max_body_size=100)
    client = raw_client(serve(app))
    client.send_request("POST", "/echo", chunks=[b"a" * 60, b"b" * 60])
    response = client.read_response()
    assert response.status == 413
    assert response.closes
    assert app.calls == []


# -- request bodies -------------------------------------------------------------------


def test_chunked_request_body(serve, raw_client):
    client = raw_client(serve(make_app()))
    response = client.request("POST", "/echo", chunks=[b"hello ", b"chunked ", b"world"])
    assert response.body == b"hello chunked world"


def test_chunked_request_body_with_extensions_and_trailers(serve, raw_client):
    client = raw_client(serve(make_app()))
    client.send(b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5;name=value\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: yes\r\n\r\n")
    assert client.read_response("POST").body == b"hello!"
    assert client.request("GET", "/").text == "index"


def test_large_body_across_writes(serve, raw_client):
    client = raw_client(serve(make_app()))
    body = bytes(range(256)) * 3000  # 768000 bytes, under the 1 MiB default
    assert client.request("POST", "/echo", body=body).body == body


def test_zero_length_body(serve, raw_client):
    client = raw_client(serve(make_app()))
    assert client.request("POST", "/echo", body=b"").body == b""


# -- what every response carries ---------------------------------------------------------


def test_content_length_of_sizes_past_the_cached_field_lines(serve, raw_client, monkeypatch):
    """The connection keeps the `content-length` lines of the first sizes
    it sends; once they fill the cache, other sizes are framed the same,
    each by its own line."""
    from zerodep_http import protocol

    full = {size: b"content-length: %d\r\n" % size for size in range(10**6, 10**6 + 1024)}
    monkeypatch.setattr(protocol, "_LENGTH_LINES", full)
    client = raw_client(serve(make_app()))
    for size in (0, 1, 13, 1000, 70000):
        response = client.request("POST", "/echo", body=b"x" * size)
        assert response.header_list("content-length") == [str(size)]
        assert response.body == b"x" * size
    assert len(full) == 1024 and 13 not in full


def test_every_response_has_one_date_header(serve, raw_client):
    client = raw_client(serve(make_app()))
    for method, target in (("GET", "/"), ("HEAD", "/"), ("GET", "/nope"), ("OPTIONS", "/"),
                           ("DELETE", "/")):
        response = client.request(method, target)
        dates = response.header_list("date")
        assert len(dates) == 1 and IMF_FIXDATE.fullmatch(dates[0]), (method, target, dates)


def test_other_connections_are_served_while_one_is_incomplete(serve, raw_client):
    server = serve(make_app())
    stalled = raw_client(server)
    stalled.send(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nab")
    for n in range(3):
        assert raw_client(server).request("GET", f"/n/{n}").json() == {"n": n}
    stalled.send(b"cdefghij")
    assert stalled.read_response("POST").body == b"abcdefghij"
