"""ASGI 3 conformance: one test per clause of the HTTP spec (2.4) and the
lifespan spec (2.0), named in the test id, against raw ASGI applications
served over real sockets (`asgi.ASGIApplication` in `app.run()`'s server).

One server per module answers every clause by path; responses are parsed
by h11 (`RawClient`), so a framing error fails the test.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time

import h11
import pytest

from zerodep_http.asgi import ASGIApplication
from zerodep_http.lifecycle import StartupFailed
from zerodep_http.parser import Limits
from zerodep_http.serving import LocalServer

from conftest import WAIT, RawClient, ServerThread, h11_request_bytes, jsonable, wait_for

EVENTS: dict[str, list] = {}   # what the applications saw, by test key


async def read_body(receive):
    body, messages = b"", []
    while True:
        message = await receive()
        messages.append(message)
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body, messages


async def answer(send, status=200, body=b"", headers=None):
    await send({"type": "http.response.start", "status": status,
                "headers": headers if headers is not None else [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


async def dispatch(scope, receive, send):
    if scope["type"] == "lifespan":
        message = await receive()
        assert message["type"] == "lifespan.startup"
        scope["state"]["db"] = "connected"
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    handler = ROUTES[scope["path"].rsplit("/", 1)[-1] if scope["path"] != "/" else "scope"]
    await handler(scope, receive, send)


async def r_scope(scope, receive, send):
    body, messages = await read_body(receive)
    scope = dict(scope)
    scope["state"] = dict(scope.get("state", {}))
    data = {"scope": jsonable(scope), "body": body.decode("latin-1"),
            "messages": [jsonable(m) for m in messages]}
    await answer(send, body=json.dumps(data).encode(), headers=[(b"content-type", b"application/json")])


async def r_mutate_state(scope, receive, send):
    scope["state"]["db"] = "changed by a request"
    await answer(send, body=b"ok")


async def r_stream(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"text/plain"), (b"transfer-encoding", b"gzip")]})
    for piece in (b"one ", b"two ", b"three"):
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def r_declared_length(scope, receive, send):
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"10")]})
    await send({"type": "http.response.body", "body": b"01234", "more_body": True})
    await send({"type": "http.response.body", "body": b"56789", "more_body": False})


async def r_cookies(scope, receive, send):
    await answer(send, body=b"ok", headers=[
        (b"Set-Cookie", b"a=1"), (b"x-order", b"first"), (b"set-cookie", b"b=2"),
        (b"X-Order", b"second")])


async def r_bad_header(scope, receive, send):
    await answer(send, body=b"never", headers=[(b"x-evil", b"a\r\nset-cookie: pwned=1")])


async def r_raise_before_start(scope, receive, send):
    raise ValueError("boom before start")


async def r_raise_after_head_queued(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise ValueError("boom after start, before any body")


async def r_raise_mid_body(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise ValueError("boom mid body")


async def r_second_start(scope, receive, send):
    await answer(send, body=b"first")
    try:
        await send({"type": "http.response.start", "status": 500, "headers": []})
    except RuntimeError as exc:
        EVENTS.setdefault("second_start", []).append(str(exc))


async def r_body_before_start(scope, receive, send):
    await send({"type": "http.response.body", "body": b"no head"})


async def r_no_response(scope, receive, send):
    return


async def r_unfinished(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"part", "more_body": True})


async def r_start_only(scope, receive, send):
    await send({"type": "http.response.start", "status": 204, "headers": []})


async def r_disconnect_after_response(scope, receive, send):
    await read_body(receive)
    await answer(send, body=b"done")
    message = await asyncio.wait_for(receive(), WAIT)
    EVENTS.setdefault("after_response", []).append(message)


async def r_long_poll(scope, receive, send):
    await read_body(receive)
    message = await asyncio.wait_for(receive(), WAIT)  # only the client leaving ends it
    EVENTS.setdefault("long_poll", []).append(message)
    try:
        await answer(send, body=b"too late")  # may still reach a half-closed client
        EVENTS["long_poll"].append("sent")
    except OSError as exc:
        EVENTS["long_poll"].append(f"send raised {type(exc).__name__}")


async def r_listen_while_streaming(scope, receive, send):
    """Starlette's pattern: a task waits for http.disconnect while the
    response streams."""
    await read_body(receive)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    disconnected = asyncio.ensure_future(receive())
    try:
        for _ in range(int(WAIT * 20)):
            if disconnected.done():
                break
            await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
            await asyncio.sleep(0.05)
    except OSError:
        pass
    message = await asyncio.wait_for(disconnected, WAIT)
    EVENTS.setdefault("streaming", []).append(message)


async def r_echo_stream(scope, receive, send):
    """Echo each received piece as it arrives, and how it arrived."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    pieces = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        pieces += 1
        await send({"type": "http.response.body", "body": message["body"], "more_body": True})
        if not message["more_body"]:
            break
    await send({"type": "http.response.body", "body": f"|{pieces}".encode()})


async def r_ignore_body(scope, receive, send):
    await answer(send, body=b"not read")


async def r_pathsend(scope, receive, send):
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")]})
    await send({"type": "http.response.pathsend", "path": os.environ["ASGI_TEST_FILE"]})


async def r_slow_client_backpressure(scope, receive, send):
    """Sends until send() waits: it must, for a client that does not read."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    piece = b"x" * 65536
    sent = 0
    while sent < 256 * 1024 * 1024:
        try:
            await asyncio.wait_for(send({"type": "http.response.body", "body": piece,
                                         "more_body": True}), 0.5)
        except TimeoutError:
            EVENTS.setdefault("backpressure", []).append(sent)
            return
        except OSError:
            EVENTS.setdefault("backpressure", []).append("send raised OSError")
            return
        sent += len(piece)
    EVENTS.setdefault("backpressure", []).append("never waited")


async def r_body_error(scope, receive, send):
    body, messages = await read_body(receive)
    EVENTS.setdefault("body_error", []).append(messages[-1])
    await answer(send, body=b"the app answered anyway")


ROUTES = {name[2:].replace("_", "-"): handler for name, handler in globals().items()
          if name.startswith("r_")}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("asgi") / "file.bin"
    path.write_bytes(bytes(range(256)) * 400)
    os.environ["ASGI_TEST_FILE"] = str(path)
    srv = ServerThread(LocalServer(ASGIApplication(dispatch)), forwarded_allow_ips="127.0.0.1",
                       limits=Limits(body_size=64 * 1024))
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    with RawClient(server.address) as connection:
        yield connection


def scope_of(client, method="GET", target="/", headers=None, body=None, chunks=None):
    response = client.request(method, target, headers=headers, body=body, chunks=chunks)
    assert response.status == 200, response.body
    return response.json()


# -- the HTTP connection scope --------------------------------------------------------

def test_scope_type_asgi_version_and_spec_version(client):
    scope = scope_of(client)["scope"]
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.5"}


@pytest.mark.parametrize("version", ["1.0", "1.1"], ids=["1.0", "1.1"])
def test_scope_http_version(server, version):
    with RawClient(server.address) as client:
        host = "Host: x\r\n" if version == "1.1" else ""
        client.send(f"GET / HTTP/{version}\r\n{host}\r\n".encode())
        scope = client.read_response(method="GET", http_version=version).json()["scope"]
    assert scope["http_version"] == version


def test_scope_method_is_uppercase(client):
    assert scope_of(client, "PATCH", body=b"")["scope"]["method"] == "PATCH"


def test_scope_scheme_is_http_and_https_from_a_trusted_proxy(client):
    assert scope_of(client)["scope"]["scheme"] == "http"
    proxied = scope_of(client, headers={"x-forwarded-proto": "https",
                                        "x-forwarded-for": "203.0.113.9"})["scope"]
    assert proxied["scheme"] == "https"
    assert proxied["client"][0] == "203.0.113.9"


def test_scope_path_is_percent_decoded_utf8_and_raw_path_as_received(client):
    scope = scope_of(client, target="/caf%C3%A9%2Fx/scope")["scope"]
    assert scope["path"] == "/café/x/scope"
    assert scope["raw_path"] == {"bytes": "/caf%C3%A9%2Fx/scope"}


def test_scope_query_string_stays_percent_encoded_bytes(client):
    scope = scope_of(client, target="/scope?a=%20b&c=d+e")["scope"]
    assert scope["query_string"] == {"bytes": "a=%20b&c=d+e"}
    assert scope_of(client, target="/scope")["scope"]["query_string"] == {"bytes": ""}


def test_scope_headers_lowercase_bytes_in_order_with_repeats(client):
    scope = scope_of(client, headers=[("X-B", "2"), ("x-a", "1"), ("X-B", "3"),
                                      ("Cookie", "c=1"), ("cookie", "d=2")])["scope"]
    pairs = [(name["bytes"], value["bytes"]) for name, value in scope["headers"]]
    assert pairs[0] == ("host", "test")
    assert pairs[1:] == [("x-b", "2"), ("x-a", "1"), ("x-b", "3"), ("cookie", "c=1"),
                         ("cookie", "d=2")]


def test_scope_client_and_server_addresses(server, client):
    scope = scope_of(client)["scope"]
    assert scope["client"] == list(client.sock.getsockname())
    assert scope["server"] == ["127.0.0.1", server.port]


def test_scope_state_is_a_copy_of_the_lifespan_state(client):
    assert scope_of(client)["scope"]["state"] == {"db": "connected"}
    assert client.request("GET", "/mutate-state").status == 200
    assert scope_of(client)["scope"]["state"] == {"db": "connected"}


def test_scope_extensions_offer_pathsend(client):
    assert scope_of(client)["scope"]["extensions"] == {"http.response.pathsend": {}}


@pytest.mark.parametrize("target, path, raw", [
    ("/api/items", "/api/items", "/api/items"),     # the proxy passed the prefix on
    ("/items", "/api/items", "/api/items"),         # the proxy stripped it
    ("/apiary", "/api/apiary", "/api/apiary"),      # not a whole segment: stripped
], ids=["prefix kept", "prefix stripped", "not a segment"])
def test_scope_root_path_from_root_path_setting_and_carried_by_path(serve, raw_client,
                                                                      target, path, raw):
    client = raw_client(serve(LocalServer(ASGIApplication(r_scope, root_path="/api",
                                                          lifespan="off"))))
    scope = client.request("GET", target).json()["scope"]
    assert (scope["root_path"], scope["path"], scope["raw_path"]["bytes"]) == ("/api", path, raw)


def test_scope_server_is_the_unix_socket_path_and_none(serve, raw_client, short_tmp):
    path = os.path.join(short_tmp, "s.sock")
    client = raw_client(serve(LocalServer(ASGIApplication(r_scope, lifespan="off")), socket=path))
    scope = client.request("GET", "/").json()["scope"]
    assert scope["server"] == [path, None]
    assert scope["client"] is None


# -- http.request ----------------------------------------------------------------------

def test_request_body_in_one_message_without_more_body(client):
    client.send(h11_request_bytes("POST", "/scope", body=b"hello"))  # one write: head and body
    data = client.read_response(method="POST").json()
    assert data["body"] == "hello"
    assert data["messages"] == [{"type": "http.request", "body": {"bytes": "hello"},
                                 "more_body": False}]


def test_request_without_body_is_one_empty_message(client):
    assert scope_of(client)["messages"] == [{"type": "http.request", "body": {"bytes": ""},
                                             "more_body": False}]


def test_request_chunked_body_is_dechunked_and_streamed_with_more_body(server):
    with RawClient(server.address) as client:
        client.send_request("POST", "/echo-stream", chunks=[], end=False)
        pieces = [b"first", b"second", b"third"]
        conn = client.conn
        for piece in pieces:
            client.send(conn.send(h11.Data(data=piece)))
            time.sleep(0.05)  # separate reads, not a synchronisation
        client.send(conn.send(h11.EndOfMessage()))
        response = client.read_response()
    body, _, count = response.body.rpartition(b"|")
    assert body == b"firstsecondthird"
    assert int(count) >= 2  # more than one http.request message
    assert response.header("transfer-encoding") == "chunked"


def test_request_100_continue_only_when_the_application_reads(server):
    with RawClient(server.address) as client:
        client.send_request("POST", "/scope", headers={"expect": "100-continue"},
                            body=b"abc", end=False)
        assert client.read_informational() == 100
        client.send_body(body=b"abc")
        assert client.read_response().json()["body"] == "abc"
    with RawClient(server.address) as client:
        client.send_request("POST", "/ignore-body", headers={"expect": "100-continue"},
                            body=b"abc", end=False)
        response = client.read_response()
        assert (response.status, response.informational) == (200, [])


def test_request_body_over_the_limit_answers_413_and_the_app_hears_disconnect(server):
    EVENTS.pop("body_error", None)
    with RawClient(server.address) as client:
        # With 100-continue the application has the request before any of its body.
        client.send_request("POST", "/body-error", headers={"expect": "100-continue"},
                            chunks=[], end=False)
        assert client.read_informational() == 100
        client.send_body(chunks=[b"x" * 40000] * 3)
        response = client.read_response()
        assert response.status == 413
        assert response.closes
    assert wait_for(lambda: EVENTS.get("body_error")) == [{"type": "http.disconnect"}]


# -- http.disconnect ---------------------------------------------------------------------

def test_disconnect_once_the_response_is_complete(client):
    EVENTS.pop("after_response", None)
    assert client.request("GET", "/disconnect-after-response").body == b"done"
    assert wait_for(lambda: EVENTS.get("after_response")) == [{"type": "http.disconnect"}]


def test_disconnect_when_the_client_leaves_during_a_long_poll(server):
    EVENTS.pop("long_poll", None)
    client = RawClient(server.address)
    client.send_request("GET", "/long-poll")
    time.sleep(0.1)  # let the application start waiting (it works without, too)
    client.close()
    events = wait_for(lambda: len(EVENTS.get("long_poll", [])) == 2 and EVENTS["long_poll"])
    assert events[0] == {"type": "http.disconnect"}
    assert events[1] in ("sent", "send raised ClientDisconnected")  # never a hang


def test_send_after_the_client_left_raises_oserror(server):
    EVENTS.pop("backpressure", None)
    client = RawClient(server.address, rcvbuf=4096)
    client.send_request("GET", "/slow-client-backpressure")
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()  # a reset: the connection is gone
    assert wait_for(lambda: EVENTS.get("backpressure"), timeout=30) == ["send raised OSError"]


def test_disconnect_while_the_application_streams(server):
    EVENTS.pop("streaming", None)
    client = RawClient(server.address)
    client.send_request("GET", "/listen-while-streaming")
    wait_for(lambda: b"tick" in client._recv(time.monotonic() + WAIT))
    client.close()
    assert wait_for(lambda: EVENTS.get("streaming")) == [{"type": "http.disconnect"}]


# -- http.response.start and http.response.body -------------------------------------------

def test_response_whole_body_in_one_message_gets_a_content_length(client):
    response = client.request("GET", "/scope")
    assert response.header("content-length") == str(len(response.body))
    assert not response.has("transfer-encoding")


def test_response_declared_content_length_is_kept_over_several_messages(client):
    response = client.request("GET", "/declared-length")
    assert (response.header("content-length"), response.body) == ("10", b"0123456789")


def test_response_unknown_length_is_chunked_and_transfer_encoding_from_the_app_ignored(client):
    response = client.request("GET", "/stream")
    assert response.header("transfer-encoding") == "chunked"
    assert response.body == b"one two three"
    assert client.request("GET", "/stream").body == b"one two three"  # kept alive


def test_response_unknown_length_to_http_1_0_ends_with_the_connection(server):
    with RawClient(server.address) as client:
        client.send(b"GET /stream HTTP/1.0\r\n\r\n")
        raw = client.read_until_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert body == b"one two three"


def test_response_headers_in_order_repeats_kept_names_lowercased(client):
    response = client.request("GET", "/cookies")
    assert response.header_list("set-cookie") == ["a=1", "b=2"]
    assert response.header_list("x-order") == ["first", "second"]
    assert b"set-cookie: a=1" in response.raw


def test_response_head_to_head_request_has_no_body(client):
    response = client.request("HEAD", "/declared-length")
    assert (response.status, response.body, response.header("content-length")) == (200, b"", "10")


def test_response_start_with_a_header_that_could_split_it_is_a_protocol_error(client, caplog):
    with caplog.at_level(logging.ERROR, "zerodep_http.error"):
        response = client.request("GET", "/bad-header")
    assert response.status == 500
    assert not response.has("set-cookie")
    assert sum("ASGI protocol error" in r.getMessage() for r in caplog.records) == 1


def test_response_pathsend_extension_sends_the_file(client):
    response = client.request("GET", "/pathsend")
    assert response.body == bytes(range(256)) * 400
    assert response.header("content-length") == str(256 * 400)


def test_response_send_waits_while_the_client_does_not_read(server):
    EVENTS.pop("backpressure", None)
    client = RawClient(server.address, rcvbuf=4096)
    try:
        client.send_request("GET", "/slow-client-backpressure")
        sent = wait_for(lambda: EVENTS.get("backpressure"), timeout=30)[0]
    finally:
        client.close()
    assert sent != "never waited"
    assert sent < 64 * 1024 * 1024


# -- errors --------------------------------------------------------------------------------

def test_error_before_start_is_a_500_logged_once(client, caplog):
    with caplog.at_level(logging.ERROR, "zerodep_http.error"):
        response = client.request("GET", "/raise-before-start")
    assert (response.status, response.body) == (500, b"Internal Server Error")
    assert b"boom" not in response.raw
    logged = [r for r in caplog.records if r.exc_info and "boom before start" in str(r.exc_info[1])]
    assert len(logged) == 1
    assert client.request("GET", "/scope").status == 200  # the connection goes on


def test_error_after_start_before_body_is_still_a_500(client):
    assert client.request("GET", "/raise-after-head-queued").status == 500


def test_error_mid_body_closes_the_connection(server):
    with RawClient(server.address) as client:
        client.send_request("GET", "/raise-mid-body")
        with pytest.raises(AssertionError, match="closed the connection mid-message"):
            client.read_response()


def test_error_second_response_start_is_a_logged_protocol_error(client, caplog):
    EVENTS.pop("second_start", None)
    with caplog.at_level(logging.ERROR, "zerodep_http.error"):
        assert client.request("GET", "/second-start").body == b"first"
        wait_for(lambda: EVENTS.get("second_start"))
    assert any("ASGI protocol error" in r.getMessage() for r in caplog.records)
    assert client.request("GET", "/scope").status == 200


def test_error_body_before_start_is_a_protocol_error_and_a_500(client):
    assert client.request("GET", "/body-before-start").status == 500


def test_error_returning_without_a_response_is_a_500(client):
    assert client.request("GET", "/no-response").status == 500
    assert client.request("GET", "/start-only").status == 500


def test_error_returning_mid_body_drops_the_connection(server):
    with RawClient(server.address) as client:
        client.send_request("GET", "/unfinished")
        with pytest.raises(AssertionError, match="closed the connection mid-message"):
            client.read_response()


# -- lifespan --------------------------------------------------------------------------------

class LifespanApp:
    def __init__(self, startup="complete", shutdown="complete", speaks=True):
        self.startup, self.shutdown, self.speaks = startup, shutdown, speaks
        self.seen: list[str] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            if not self.speaks:
                raise ValueError(f"unsupported scope {scope['type']}")
            self.seen.append((await receive())["type"])
            await send({"type": f"lifespan.startup.{self.startup}", "message": "no database"})
            if self.startup != "complete":
                return
            self.seen.append((await receive())["type"])
            await asyncio.sleep(0.01)
            await send({"type": f"lifespan.shutdown.{self.shutdown}"})
            return
        await answer(send, body=json.dumps(scope.get("state")).encode())


def _run_lifespan(app, mode):
    adapter = ASGIApplication(app, lifespan=mode)

    async def cycle():
        await adapter.startup()
        state = adapter.lifespan.state
        await adapter.cleanup(5.0)
        return state

    return asyncio.run(cycle())


def test_lifespan_startup_then_shutdown_after_serving():
    app = LifespanApp()
    assert _run_lifespan(app, "auto") == {}
    assert app.seen == ["lifespan.startup", "lifespan.shutdown"]


def test_lifespan_startup_failed_is_a_failed_boot_in_every_mode():
    for mode in ("auto", "on"):
        with pytest.raises(StartupFailed, match="no database"):
            _run_lifespan(LifespanApp(startup="failed"), mode)


def test_lifespan_auto_goes_on_without_an_app_that_does_not_speak_it():
    assert _run_lifespan(LifespanApp(speaks=False), "auto") is None


def test_lifespan_on_requires_it():
    with pytest.raises(StartupFailed, match="unsupported scope"):
        _run_lifespan(LifespanApp(speaks=False), "on")


def test_lifespan_off_never_calls_the_app_with_it():
    app = LifespanApp()
    assert _run_lifespan(app, "off") is None
    assert app.seen == []


def test_lifespan_shutdown_failed_is_logged(caplog):
    with caplog.at_level(logging.ERROR, "zerodep_http.error"):
        _run_lifespan(LifespanApp(shutdown="failed"), "on")
    assert any("lifespan shutdown failed" in r.getMessage() for r in caplog.records)


def test_lifespan_runs_around_serving_and_a_failed_startup_stops_app_run(serve, raw_client):
    app = LifespanApp()
    server = serve(LocalServer(ASGIApplication(app)))
    assert raw_client(server).request("GET", "/").json() == {}
    server.stop()
    assert app.seen == ["lifespan.startup", "lifespan.shutdown"]
    with pytest.raises(StartupFailed):
        serve(LocalServer(ASGIApplication(LifespanApp(startup="failed"))))


def test_lifespan_mode_must_be_known():
    with pytest.raises(ValueError, match="auto, on, off"):
        ASGIApplication(dispatch, lifespan="sometimes")


def test_a_request_served_beside_another_that_waits(server):
    """The event loop is never held by one application call."""
    waiting = RawClient(server.address)
    try:
        waiting.send_request("GET", "/long-poll")
        with RawClient(server.address) as other:
            assert other.request("GET", "/scope").status == 200
    finally:
        waiting.close()


def test_scope_client_from_a_proxy_protocol_header(serve, raw_client):
    server = serve(LocalServer(ASGIApplication(r_scope, lifespan="off")), proxy_protocol=True,
                   forwarded_allow_ips="127.0.0.1")
    client = raw_client(server)
    client.send(b"PROXY TCP4 198.51.100.7 10.0.0.1 40000 80\r\n")
    assert client.request("GET", "/").json()["scope"]["client"] == ["198.51.100.7", 40000]
