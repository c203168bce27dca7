"""WSGI (PEP 3333) conformance: one test per clause, named in the test id,
against raw WSGI applications served over real sockets
(`wsgi.WSGIApplication` in `app.run()`'s server).

One server per module answers every clause by path; responses are parsed by
h11 (`RawClient`), so a framing error fails the test.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import threading
import time

import pytest

from zerodep_http.parser import Limits
from zerodep_http.serving import LocalServer
from zerodep_http.wsgi import WSGIApplication

from conftest import WAIT, RawClient, ServerThread, h11_request_bytes, wait_for

EVENTS: dict[str, list] = {}
RELEASE = threading.Event()


class Closing:
    """An iterable that records that it was closed."""

    def __init__(self, key, pieces):
        self.key, self.pieces = key, pieces

    def __iter__(self):
        for piece in self.pieces:
            if callable(piece):
                piece = piece()
            yield piece

    def close(self):
        EVENTS.setdefault(self.key, []).append("closed")


def text(start_response, body, status="200 OK", headers=()):
    start_response(status, [("Content-Type", "text/plain"), *headers])
    return [body]


def w_environ(environ, start_response):
    data = {key: value for key, value in environ.items()
            if isinstance(value, (str, bool, int, tuple))}
    data["types"] = sorted({type(value).__name__ for key, value in environ.items()
                            if key.isupper()})
    data["input"] = environ["wsgi.input"].read().decode("latin-1")
    data["has"] = sorted(key for key in ("wsgi.input", "wsgi.errors", "wsgi.file_wrapper")
                         if key in environ)
    return text(start_response, json.dumps(data).encode())


def w_input_methods(environ, start_response):
    stream = environ["wsgi.input"]
    first = stream.readline()
    part = stream.read(3)
    limited = stream.readline(2)
    rest_lines = stream.readlines()
    out = json.dumps([first.decode(), part.decode(), limited.decode(),
                      [line.decode() for line in rest_lines]]).encode()
    return text(start_response, out)


def w_input_iteration(environ, start_response):
    lines = [line.decode() for line in environ["wsgi.input"]]
    return text(start_response, json.dumps(lines).encode())


def w_errors(environ, start_response):
    environ["wsgi.errors"].write("something went wrong\nand more")
    environ["wsgi.errors"].writelines([" on two lines\n"])
    environ["wsgi.errors"].flush()
    return text(start_response, b"logged")


def w_write(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written, ")
    return [b"then returned"]


def w_generator(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Closing("generator", [b"one ", b"", b"two ", b"three"])


def w_declared_length(environ, start_response):
    start_response("200 OK", [("Content-Length", "10")])
    return Closing("declared", [b"01234", b"56789"])


def w_empty_then_raise(environ, start_response):
    start_response("200 OK", [])

    def boom():
        raise ValueError("boom before any body")
    return Closing("empty_then_raise", [b"", boom])


def w_raise_mid_body(environ, start_response):
    start_response("200 OK", [])

    def boom():
        raise ValueError("boom mid body")
    return Closing("mid_body", [b"partial", boom])


def w_raise(environ, start_response):
    raise ValueError("boom in the application")


def w_exc_info_before_head(environ, start_response):
    start_response("200 OK", [("X-Replaced", "no")])
    try:
        raise KeyError("handled")
    except KeyError:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                       sys.exc_info())
    return [b"error page"]


def w_exc_info_after_head(environ, start_response):
    start_response("200 OK", [])

    def late_error():
        try:
            raise KeyError("late")
        except KeyError:
            try:
                start_response("500 Internal Server Error", [], sys.exc_info())
            except KeyError:
                EVENTS.setdefault("reraised", []).append("KeyError re-raised")
                raise
        return b""
    return Closing("exc_after_head", [b"begun", late_error])


def w_second_call(environ, start_response):
    start_response("200 OK", [])
    try:
        start_response("200 OK", [])
    except RuntimeError as exc:
        return [str(exc).encode()]
    return [b"accepted twice"]


def w_bad_status(environ, start_response):
    start_response("OK", [])
    return [b"never"]


def w_bad_header(environ, start_response):
    start_response("200 OK", [("X-Evil", "a\r\nSet-Cookie: pwned=1")])
    return [b"never"]


def w_hop_by_hop(environ, start_response):
    start_response("200 OK", [("Upgrade", "h2c")])
    return [b"never"]


def w_headers_not_list(environ, start_response):
    start_response("200 OK", (("X-A", "1"),))
    return [b"never"]


def w_cookies(environ, start_response):
    start_response("200 OK", [("Set-Cookie", "a=1"), ("X-Order", "first"),
                              ("Set-Cookie", "b=2")])
    return [b"ok"]


def w_file(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    handle = open(os.environ["WSGI_TEST_FILE"], "rb")
    handle.seek(100)
    wrapper = environ["wsgi.file_wrapper"](handle, 4096)
    original_close = wrapper.close

    def close():
        EVENTS.setdefault("file", []).append("closed")
        original_close()
    wrapper.close = close
    return wrapper


def w_file_like(environ, start_response):
    start_response("200 OK", [])
    return environ["wsgi.file_wrapper"](io.BytesIO(b"from memory " * 1000), 1000)


def w_block(environ, start_response):
    RELEASE.wait(WAIT)
    return text(start_response, b"released")


def w_fast(environ, start_response):
    return text(start_response, b"fast")


def w_big(environ, start_response):
    start_response("200 OK", [])
    return [b"b" * (4 * 1024 * 1024)]


def w_endless(environ, start_response):
    start_response("200 OK", [])

    def pieces():
        count = 0
        while count < 100_000:
            count += 1
            EVENTS["endless_count"] = [count]
            yield b"e" * 16384
    return Closing("endless", pieces())


def w_read_body(environ, start_response):
    try:
        body = environ["wsgi.input"].read()
    except Exception as exc:
        EVENTS.setdefault("body_error", []).append(type(exc).__name__)
        raise
    return text(start_response, str(len(body)).encode())


def w_head_empty(environ, start_response):
    start_response("200 OK", [("Content-Length", "5")])
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [b"hello"]


def w_head(environ, start_response):
    start_response("200 OK", [("Content-Length", "5")])
    return [b"hello"]


ROUTES = {name[2:].replace("_", "-"): handler for name, handler in globals().items()
          if name.startswith("w_")}


def dispatch(environ, start_response):
    return ROUTES[environ["PATH_INFO"].rsplit("/", 1)[-1] or "environ"](environ, start_response)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("wsgi") / "file.bin"
    path.write_bytes(bytes(range(256)) * 400)
    os.environ["WSGI_TEST_FILE"] = str(path)
    srv = ServerThread(LocalServer(WSGIApplication(dispatch, threads=4)),
                       forwarded_allow_ips="127.0.0.1", limits=Limits(body_size=64 * 1024))
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    with RawClient(server.address) as connection:
        yield connection


def environ_of(client, method="GET", target="/", headers=None, body=None, chunks=None):
    response = client.request(method, target, headers=headers, body=body, chunks=chunks)
    assert response.status == 200, response.body
    return response.json()


# -- environ ---------------------------------------------------------------------------

def test_environ_cgi_variables(server, client):
    environ = environ_of(client, "POST", "/environ?a=1&b=%20", headers={"content-type": "text/x"},
                         body=b"data")
    assert environ["REQUEST_METHOD"] == "POST"
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("", "/environ")
    assert environ["QUERY_STRING"] == "a=1&b=%20"
    assert (environ["CONTENT_TYPE"], environ["CONTENT_LENGTH"]) == ("text/x", "4")
    assert "HTTP_CONTENT_TYPE" not in environ and "HTTP_CONTENT_LENGTH" not in environ
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", str(server.port))
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["REQUEST_URI"] == "/environ?a=1&b=%20"


def test_environ_values_are_native_strings(client):
    assert environ_of(client)["types"] == ["str"]


def test_environ_wsgi_variables(client):
    environ = environ_of(client)
    assert environ["wsgi.version"] == [1, 0]
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["wsgi.multithread"] is True
    assert environ["wsgi.multiprocess"] is False
    assert environ["wsgi.run_once"] is False
    assert environ["wsgi.input_terminated"] is True
    assert environ["has"] == ["wsgi.errors", "wsgi.file_wrapper", "wsgi.input"]


def test_environ_url_scheme_and_remote_addr_from_a_trusted_proxy(client):
    environ = environ_of(client, headers={"x-forwarded-proto": "https",
                                          "x-forwarded-for": "203.0.113.9"})
    assert (environ["wsgi.url_scheme"], environ["REMOTE_ADDR"]) == ("https", "203.0.113.9")


def test_environ_path_info_is_latin1_of_the_decoded_bytes(client):
    environ = environ_of(client, target="/caf%C3%A9/%E9/environ")
    assert environ["PATH_INFO"] == "/caf\u00c3\u00a9/\u00e9/environ"
    assert environ["PATH_INFO"].encode("latin-1").decode("utf-8", "replace").startswith("/café/")
    assert environ["RAW_URI"] == "/caf%C3%A9/%E9/environ"


def test_environ_http_variables_join_repeats_and_drop_underscores(client):
    environ = environ_of(client, headers=[("X-Multi", "a"), ("x-multi", "b"),
                                          ("X-With_Underscore", "spoof"), ("Cookie", "a=1"),
                                          ("Cookie", "b=2")])
    assert environ["HTTP_X_MULTI"] == "a, b"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert "HTTP_X_WITH_UNDERSCORE" not in environ
    assert environ["HTTP_HOST"] == "test"


def test_environ_chunked_body_has_no_content_length_and_input_ends_with_it(client):
    environ = environ_of(client, "POST", chunks=[b"ab", b"cd"])
    assert "CONTENT_LENGTH" not in environ
    assert environ["input"] == "abcd"


@pytest.mark.parametrize("target, script_name, path_info", [
    ("/api/items", "/api", "/items"),
    ("/items", "/api", "/items"),
    ("/api", "/api", ""),
    ("/apiary", "/api", "/apiary"),
], ids=["prefix kept", "prefix stripped", "the root itself", "not a segment"])
def test_environ_script_name_and_path_info_split_by_root_path(serve, raw_client, target,
                                                              script_name, path_info):
    client = raw_client(serve(LocalServer(WSGIApplication(w_environ, root_path="/api"))))
    environ = client.request("GET", target).json()
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == (script_name, path_info)


def test_environ_server_name_on_a_unix_socket_is_the_host_asked_for(serve, raw_client, short_tmp):
    path = os.path.join(short_tmp, "w.sock")
    client = raw_client(serve(LocalServer(WSGIApplication(w_environ)), socket=path))
    environ = client.request("GET", "/", headers={"host": "example.org:8080"}).json()
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("example.org", "8080")


# -- wsgi.input and wsgi.errors -----------------------------------------------------------

BODY = b"first line\nabcdef\nthird\nfourth\n"


@pytest.mark.parametrize("streamed", [False, True], ids=["whole body", "streamed body"])
def test_input_read_readline_readlines(server, streamed):
    with RawClient(server.address) as client:
        if streamed:  # the application starts before the body: read from the connection
            client.send_request("POST", "/input-methods", headers={"expect": "100-continue"},
                                chunks=[], end=False)
            assert client.read_informational() == 100
            client.send_body(chunks=[BODY[:5], BODY[5:14], BODY[14:]])
            response = client.read_response()
        else:
            client.send(h11_request_bytes("POST", "/input-methods", body=BODY))
            response = client.read_response(method="POST")
    assert response.json() == ["first line\n", "abc", "de", ["f\n", "third\n", "fourth\n"]]


@pytest.mark.parametrize("streamed", [False, True], ids=["whole body", "streamed body"])
def test_input_iteration(server, streamed):
    with RawClient(server.address) as client:
        headers = {"expect": "100-continue"} if streamed else {}
        client.send_request("POST", "/input-iteration", headers=headers, chunks=[], end=False)
        if streamed:
            assert client.read_informational() == 100
        client.send_body(chunks=[BODY[:7], BODY[7:]])
        assert client.read_response().json() == ["first line\n", "abcdef\n", "third\n",
                                                  "fourth\n"]


def test_input_over_the_limit_answers_413(server):
    EVENTS.pop("body_error", None)
    with RawClient(server.address) as client:
        client.send_request("POST", "/read-body", headers={"expect": "100-continue"},
                            chunks=[], end=False)
        assert client.read_informational() == 100
        client.send_body(chunks=[b"x" * 40000] * 3)
        response = client.read_response()
    assert response.status == 413
    assert EVENTS["body_error"] == ["BodyError"]


def test_errors_stream_writes_to_the_error_log(client, caplog):
    with caplog.at_level(logging.ERROR, "zerodep_http.error"):
        assert client.request("GET", "/errors").body == b"logged"
    messages = [r.getMessage() for r in caplog.records]
    assert "something went wrong" in messages
    assert "and more on two lines" in messages


# -- start_response -------------------------------------------------------------------------

def test_start_response_exc_info_before_the_head_replaces_it(client):
    response = client.request("GET", "/exc-info-before-head")
    assert (response.status, response.body) == (500, b"error page")
    assert not response.has("x-replaced")


def test_start_response_exc_info_after_the_head_reraises(server):
    EVENTS.pop("reraised", None)
    with RawClient(server.address) as client:
        client.send_request("GET", "/exc-info-after-head")
        with pytest.raises(AssertionError, match="closed the connection mid-message"):
            client.read_response()
    assert EVENTS["reraised"] == ["KeyError re-raised"]


def test_start_response_twice_without_exc_info_raises(client):
    assert b"second time" in client.request("GET", "/second-call").body


@pytest.mark.parametrize("path", ["/bad-status", "/bad-header", "/hop-by-hop",
                                  "/headers-not-list"],
                         ids=["status", "CR LF in a value", "hop-by-hop", "not a list"])
def test_start_response_refuses_invalid_status_and_headers(client, path, caplog):
    with caplog.at_level(logging.ERROR, "zerodep_http.error"):
        response = client.request("GET", path)
    assert response.status == 500
    assert not response.has("set-cookie")
    assert len([r for r in caplog.records if r.exc_info]) == 1


def test_start_response_headers_in_order_with_repeats(client):
    response = client.request("GET", "/cookies")
    assert response.header_list("set-cookie") == ["a=1", "b=2"]


def test_write_callable_then_iterable(client):
    response = client.request("GET", "/write")
    assert response.body == b"written, then returned"
    assert response.header("transfer-encoding") == "chunked"


# -- the response body -----------------------------------------------------------------------

def test_body_without_length_is_chunked_empty_pieces_skipped_and_closed(client):
    EVENTS.pop("generator", None)
    response = client.request("GET", "/generator")
    assert response.body == b"one two three"
    assert response.header("transfer-encoding") == "chunked"
    assert wait_for(lambda: EVENTS.get("generator")) == ["closed"]


def test_body_with_declared_length(client):
    response = client.request("GET", "/declared-length")
    assert (response.header("content-length"), response.body) == ("10", b"0123456789")


def test_body_of_a_list_gets_its_length(client):
    response = client.request("GET", "/fast")
    assert (response.header("content-length"), response.body) == ("4", b"fast")


def test_body_to_http_1_0_without_length_ends_with_the_connection(server):
    with RawClient(server.address) as client:
        client.send(b"GET /generator HTTP/1.0\r\n\r\n")
        raw = client.read_until_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert body == b"one two three"


def test_body_to_head_request_is_not_sent(client):
    response = client.request("HEAD", "/head")
    assert (response.header("content-length"), response.body) == ("5", b"")


def test_body_to_head_request_keeps_the_declared_length(client):
    response = client.request("HEAD", "/head-empty")
    assert (response.header("content-length"), response.body) == ("5", b"")


def test_headers_not_sent_before_the_first_non_empty_piece(client):
    EVENTS.pop("empty_then_raise", None)
    assert client.request("GET", "/empty-then-raise").status == 500
    assert wait_for(lambda: EVENTS.get("empty_then_raise")) == ["closed"]


def test_error_in_the_application_is_a_500_logged_once(client, caplog):
    with caplog.at_level(logging.ERROR, "zerodep_http.error"):
        response = client.request("GET", "/raise")
    assert (response.status, response.body) == (500, b"Internal Server Error")
    assert b"boom" not in response.raw
    assert len([r for r in caplog.records if r.exc_info]) == 1
    assert client.request("GET", "/fast").body == b"fast"


def test_error_mid_body_drops_the_connection_and_closes_the_iterable(server):
    EVENTS.pop("mid_body", None)
    with RawClient(server.address) as client:
        client.send_request("GET", "/raise-mid-body")
        with pytest.raises(AssertionError, match="closed the connection mid-message"):
            client.read_response()
    assert wait_for(lambda: EVENTS.get("mid_body")) == ["closed"]


def test_file_wrapper_regular_file_sent_from_its_position_then_closed(client):
    EVENTS.pop("file", None)
    response = client.request("GET", "/file")
    assert response.body == (bytes(range(256)) * 400)[100:]
    assert response.header("content-length") == str(256 * 400 - 100)
    assert wait_for(lambda: EVENTS.get("file")) == ["closed"]


def test_file_wrapper_of_a_file_like_object_is_iterated(client):
    assert client.request("GET", "/file-like").body == b"from memory " * 1000


# -- threads and slow clients ------------------------------------------------------------------

def test_the_loop_serves_while_every_thread_is_busy_elsewhere(server):
    RELEASE.clear()
    blocked = [RawClient(server.address) for _ in range(4)]
    try:
        for client in blocked:
            client.send_request("GET", "/block")
        # The four threads are taken; a fifth request waits its turn,
        # while the connection itself is read at once.
        with RawClient(server.address) as other:
            other.send_request("GET", "/fast")
            time.sleep(0.1)
            RELEASE.set()
            assert other.read_response().body == b"fast"
        for client in blocked:
            assert client.read_response().body == b"released"
    finally:
        RELEASE.set()
        for client in blocked:
            client.close()


def test_a_slow_client_holds_its_connection_not_a_thread(serve, raw_client):
    server = serve(LocalServer(WSGIApplication(dispatch, threads=1)))
    slow = raw_client(server, rcvbuf=4096)
    slow.send_request("GET", "/big")  # 4 MiB, never read
    fast = raw_client(server)
    assert fast.request("GET", "/fast").body == b"fast"  # the one thread is free


def test_a_streamed_body_waits_for_a_slow_client(serve, raw_client):
    EVENTS.pop("endless", None)
    EVENTS.pop("endless_count", None)
    server = serve(LocalServer(WSGIApplication(dispatch, threads=1)))
    slow = raw_client(server, rcvbuf=4096)
    slow.send_request("GET", "/endless")
    wait_for(lambda: EVENTS.get("endless_count"))
    time.sleep(0.5)
    produced = EVENTS["endless_count"][0]
    time.sleep(0.5)
    assert EVENTS["endless_count"][0] == produced  # the generator waits
    assert produced * 16384 < 16 * 1024 * 1024
    slow.close()
    assert wait_for(lambda: EVENTS.get("endless")) == ["closed"]  # the client left: closed


def test_environ_remote_addr_from_a_proxy_protocol_header(serve, raw_client):
    server = serve(LocalServer(WSGIApplication(w_environ)), proxy_protocol=True,
                   forwarded_allow_ips="127.0.0.1")
    client = raw_client(server)
    client.send(b"PROXY TCP4 198.51.100.7 10.0.0.1 40000 80\r\n")
    environ = client.request("GET", "/").json()
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("198.51.100.7", "40000")
