"""ASGI 3 conformance for `websocket` scopes: one test per clause of the
WebSocket part of the HTTP & WebSocket spec (2.5) and of the
`websocket.http.response` denial-response extension, named in the test
id, against raw ASGI applications served over real sockets
(`asgi.ASGIApplication` in `app.run()`'s server).

One server per module answers every clause by path. The clients are the
`websockets` library's, `RawWebSocket` (frame by frame, for what a polite
client never does) and the h11-validating `RawClient` for HTTP answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from zerodep_http.asgi import ASGIApplication
from zerodep_http.serving import LocalServer

from conftest import WAIT, ServerThread, jsonable, wait_for
from ws_support import PING, TEXT, RawWebSocket, close, handshake_request, text

EVENTS: dict[str, list] = {}   # what the applications saw, by test key
_LOCK = threading.Lock()


def record(key: str, item) -> None:
    with _LOCK:
        EVENTS.setdefault(key, []).append(item)


def events(key: str) -> list:
    with _LOCK:
        return list(EVENTS.get(key, []))


async def accept(receive, send, **message):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept", **message})


async def until_disconnect(receive, key):
    """Read until the disconnect, which is recorded under `key`."""
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            record(key, message)
            return message


async def attempt(key, send, message):
    """Send `message`, recording what it raised under `key`."""
    try:
        await send(message)
    except Exception as exc:  # noqa: BLE001 - what the test looks at
        record(key, f"{type(exc).__name__}: {exc}")
        return exc
    record(key, "sent")
    return None


async def dispatch(scope, receive, send):
    if scope["type"] == "lifespan":
        assert (await receive())["type"] == "lifespan.startup"
        scope["state"]["db"] = "connected"
        await send({"type": "lifespan.startup.complete"})
        assert (await receive())["type"] == "lifespan.shutdown"
        record("order", "lifespan shutdown")
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"an http scope"})
        return
    name = scope["path"].rsplit("/", 1)[-1]
    record("called", name)
    await ROUTES[name](scope, receive, send)


async def w_scope(scope, receive, send):
    await accept(receive, send)
    scope = dict(scope)
    scope["state"] = dict(scope.get("state", {}))
    await send({"type": "websocket.send", "text": json.dumps(jsonable(scope))})
    await until_disconnect(receive, "scope")


async def w_mutate_state(scope, receive, send):
    scope["state"]["db"] = "changed by a WebSocket"
    await accept(receive, send)


async def w_echo(scope, receive, send):
    await accept(receive, send)
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            record("echo", message)
            return
        record("echo keys", sorted(message))
        await send({"type": "websocket.send", **{k: v for k, v in message.items() if k != "type"}})


async def w_size_limit(scope, receive, send):
    await accept(receive, send)
    await until_disconnect(receive, "size limit")


async def w_proto(scope, receive, send):
    chosen = next((p for p in ("chat.v2", "chat.v1") if p in scope["subprotocols"]), None)
    await accept(receive, send, subprotocol=chosen, headers=[
        (b"x-room", b"lobby"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")])
    await send({"type": "websocket.send", "text": f"chose {chosen}"})
    await until_disconnect(receive, "proto")


async def w_foreign_subprotocol(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept", "subprotocol": "never.offered"})


async def w_handshake_header(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept", "headers": [(b"sec-websocket-accept", b"forged")]})


async def w_split_header(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept", "headers": [(b"x-evil", b"a\r\nset-cookie: pwned=1")]})


async def w_disconnect(scope, receive, send):
    await accept(receive, send)
    await send({"type": "websocket.send", "text": "ready"})
    await until_disconnect(receive, "disconnect")
    record("disconnect", await asyncio.wait_for(receive(), WAIT))  # and again


async def w_send_after_close(scope, receive, send):
    await accept(receive, send)
    await until_disconnect(receive, "send after close")
    await attempt("send after close", send, {"type": "websocket.send", "text": "too late"})


async def w_close_with_code(scope, receive, send):
    await accept(receive, send)
    await send({"type": "websocket.close", "code": 4000, "reason": "bye"})
    await until_disconnect(receive, "close with code")
    await attempt("close with code", send, {"type": "websocket.send", "text": "too late"})
    await attempt("close with code", send, {"type": "websocket.close"})


async def w_close_default(scope, receive, send):
    await accept(receive, send)
    await send({"type": "websocket.close"})


async def w_close_bad_code(scope, receive, send):
    await accept(receive, send)
    await attempt("close bad code", send, {"type": "websocket.close", "code": 1006})
    await attempt("close bad code", send, {"type": "websocket.close", "reason": "x" * 124})


async def w_refuse(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.close", "code": 4003})
    record("refuse", await asyncio.wait_for(receive(), WAIT))
    await attempt("refuse", send, {"type": "websocket.close"})
    await attempt("refuse", send, {"type": "websocket.send", "text": "never"})


async def w_deny(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.http.response.start", "status": 401, "headers": [
        (b"www-authenticate", b"Bearer"), (b"content-type", b"application/json")]})
    await send({"type": "websocket.http.response.body", "body": b'{"error": ', "more_body": True})
    await send({"type": "websocket.http.response.body", "body": b'"who are you"}'})
    record("deny", await asyncio.wait_for(receive(), WAIT))
    await attempt("deny", send, {"type": "websocket.accept"})


async def w_deny_with_length(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.http.response.start", "status": 429,
                "headers": [(b"content-length", b"4"), (b"retry-after", b"1")]})
    await send({"type": "websocket.http.response.body", "body": b"slow", "more_body": False})


async def w_deny_then_accept(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.http.response.start", "status": 400, "headers": []})
    await attempt("deny then accept", send, {"type": "websocket.accept"})
    await send({"type": "websocket.http.response.body", "body": b"no"})


async def w_deny_unfinished(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.http.response.start", "status": 400, "headers": []})
    await send({"type": "websocket.http.response.body", "body": b"part", "more_body": True})


async def w_deny_101(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.http.response.start", "status": 101, "headers": []})


async def w_send_before_accept(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.send", "text": "too early"})


async def w_unknown_message(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.frobnicate"})


async def w_accept_twice(scope, receive, send):
    await accept(receive, send)
    await attempt("accept twice", send, {"type": "websocket.accept"})


async def w_send_both(scope, receive, send):
    await accept(receive, send)
    await attempt("send both", send, {"type": "websocket.send", "text": "a", "bytes": b"b"})
    await attempt("send both", send, {"type": "websocket.send"})
    await attempt("send both", send, {"type": "websocket.send", "text": b"not a str"})


async def w_raise_before_accept(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    raise ValueError("boom before accept")


async def w_raise_after_accept(scope, receive, send):
    await accept(receive, send)
    await send({"type": "websocket.send", "text": "about to fail"})
    raise ValueError("boom after accept")


async def w_return_without_answer(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"


async def w_return_after_accept(scope, receive, send):
    await accept(receive, send)
    await send({"type": "websocket.send", "text": "bye"})


async def w_receive_before_accept(scope, receive, send):
    """A task that listens before the handshake is answered hears the
    first message once it is."""
    assert (await receive())["type"] == "websocket.connect"
    listener = asyncio.ensure_future(receive())
    await asyncio.sleep(0)
    await send({"type": "websocket.accept"})
    record("receive before accept", await asyncio.wait_for(listener, WAIT))


async def w_undecided(scope, receive, send):
    """Never answers; hears the client leave."""
    assert (await receive())["type"] == "websocket.connect"
    record("undecided", "connected")
    record("undecided", await asyncio.wait_for(receive(), WAIT))


async def w_flood(scope, receive, send):
    """Sends until send() waits: it must, for a client that does not read."""
    await accept(receive, send)
    piece = b"x" * 65536
    sent = 0
    while sent < 256 * 1024 * 1024:
        try:
            await asyncio.wait_for(send({"type": "websocket.send", "bytes": piece}), 0.5)
        except TimeoutError:
            record("flood", sent)
            return
        sent += len(piece)
    record("flood", "never waited")


async def w_cleanup_slowly(scope, receive, send):
    await accept(receive, send)
    message = await until_disconnect(receive, "drained")
    await asyncio.sleep(0.2)  # cleanup that takes a while: the drain waits for it
    record("order", f"cleaned up after {message['code']}")


async def w_wait_elsewhere(scope, receive, send):
    await accept(receive, send)
    try:
        await asyncio.Event().wait()  # events to send, say: never the WebSocket
    except asyncio.CancelledError:
        record("order", "cancelled")
        raise


ROUTES = {name[2:].replace("_", "-"): handler for name, handler in globals().items()
          if name.startswith("w_")}


@pytest.fixture(scope="module")
def server():
    srv = ServerThread(LocalServer(ASGIApplication(dispatch)), forwarded_allow_ips="127.0.0.1")
    yield srv
    srv.stop()


def url(server, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def refused(server, path: str, **options):
    with pytest.raises(InvalidStatus) as refusal:
        connect(url(server, path), open_timeout=WAIT, **options)
    return refusal.value.response


def protocol_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "ASGI protocol error" in r.getMessage()]


# -- the websocket connection scope ---------------------------------------------------------

def scope_of(server, path="/scope", **options) -> dict:
    with connect(url(server, path), **options) as ws:
        return json.loads(ws.recv(WAIT))


def test_scope_type_asgi_version_spec_version_and_http_version(server):
    scope = scope_of(server)
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.5"}
    assert scope["http_version"] == "1.1"


def test_scope_scheme_is_ws_and_wss_from_a_trusted_proxy(server):
    assert scope_of(server)["scheme"] == "ws"
    proxied = scope_of(server, additional_headers={"x-forwarded-proto": "https",
                                                   "x-forwarded-for": "203.0.113.9"})
    assert proxied["scheme"] == "wss"
    assert proxied["client"][0] == "203.0.113.9"


def test_scope_path_is_decoded_raw_path_as_sent_and_query_string_encoded(server):
    scope = scope_of(server, "/caf%C3%A9/scope?a=%20b&c=d")
    assert scope["path"] == "/café/scope"
    assert scope["raw_path"] == {"bytes": "/caf%C3%A9/scope"}
    assert scope["query_string"] == {"bytes": "a=%20b&c=d"}


def test_scope_headers_lowercase_bytes_in_order_with_repeats(server):
    client = RawWebSocket(server.address, "/scope", {"X-B": "2", "x-a": "1"})
    try:
        assert client.status == 101
        scope = json.loads(client.read_frame().payload)
    finally:
        client.close()
    pairs = [(name["bytes"], value["bytes"]) for name, value in scope["headers"]]
    assert pairs == [("host", "test"), ("upgrade", "websocket"), ("connection", "Upgrade"),
                     ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
                     ("sec-websocket-version", "13"), ("x-b", "2"), ("x-a", "1")]


def test_scope_subprotocols_in_the_clients_order(server):
    assert scope_of(server)["subprotocols"] == []
    with connect(url(server, "/proto"), subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.recv(WAIT) == "chose chat.v2"
    offered = scope_of(server, subprotocols=["b.v1", "a.v1"])["subprotocols"]
    assert offered == ["b.v1", "a.v1"]


def test_scope_client_and_server_addresses(server):
    with connect(url(server, "/scope")) as ws:
        scope = json.loads(ws.recv(WAIT))
        assert scope["client"] == list(ws.socket.getsockname())
    assert scope["server"] == ["127.0.0.1", server.port]


def test_scope_root_path_from_the_setting_and_carried_by_path(serve):
    server = serve(LocalServer(ASGIApplication(dispatch, root_path="/api")))
    for target in ("/api/scope", "/scope"):  # the proxy passed the prefix on, or stripped it
        scope = scope_of(server, target)
        assert (scope["root_path"], scope["path"]) == ("/api", "/api/scope")


def test_scope_state_is_a_copy_of_the_lifespan_state(server):
    assert scope_of(server)["state"] == {"db": "connected"}
    with connect(url(server, "/mutate-state")):
        pass
    assert scope_of(server)["state"] == {"db": "connected"}


def test_scope_extensions_offer_the_denial_response(server):
    assert scope_of(server)["extensions"] == {"websocket.http.response": {}}


# -- the handshake, checked as for a native WebSocket route ------------------------------------

@pytest.mark.parametrize(("headers", "status", "field"), [
    ({"Sec-WebSocket-Version": "8"}, 426, ("sec-websocket-version", "13")),
    ({"Sec-WebSocket-Key": "c2hvcnQ="}, 400, None),
    ({"Sec-WebSocket-Key": None}, 400, None),
    ({"Connection": "keep-alive"}, 400, None),
], ids=["version", "short key", "no key", "no connection upgrade"])
def test_handshake_is_validated_before_the_application_is_called(server, raw_client, headers,
                                                                 status, field):
    client = raw_client(server)
    before = events("called").count("scope")
    client.send(handshake_request("/scope", headers))
    response = client.read_response("GET")
    assert response.status == status
    if field is not None:
        assert response.header(field[0]) == field[1]
    assert client.request("GET", "/scope").text == "an http scope"  # still HTTP
    assert events("called").count("scope") == before


def test_handshake_a_post_asking_for_a_websocket_is_a_400(server, raw_client):
    client = raw_client(server)
    request = handshake_request("/scope").replace(b"GET ", b"POST ", 1)
    client.send(request.replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n"))
    assert client.read_response("POST").status == 400


def test_handshake_without_upgrade_is_an_http_scope(server, raw_client):
    assert raw_client(server).request("GET", "/scope").text == "an http scope"


def test_handshake_has_no_origin_check_for_hosted_applications(server):
    with connect(url(server, "/scope"), origin="http://elsewhere.example") as ws:
        assert json.loads(ws.recv(WAIT))["type"] == "websocket"


def test_handshake_body_is_read_past(server):
    client = RawWebSocket(server.address, "/echo", {"Content-Length": "5"}, extra=b"hello")
    try:
        assert client.status == 101
        client.send(text("after the body"))
        assert client.read_frame().payload == b"after the body"
    finally:
        client.close()


# -- connect ---------------------------------------------------------------------------------

def test_connect_first_and_a_receive_before_the_answer_waits_for_it(server):
    with connect(url(server, "/receive-before-accept")) as ws:
        ws.send("first")
        wait_for(lambda: events("receive before accept"))
    assert events("receive before accept") == [{"type": "websocket.receive", "text": "first"}]


def test_connect_the_client_leaving_before_the_answer_is_a_1006_disconnect(server):
    client = RawWebSocket(server.address, "/undecided", wait=False)
    wait_for(lambda: events("undecided"), message="websocket.connect")
    client.close()
    wait_for(lambda: len(events("undecided")) == 2, message="the disconnect")
    assert events("undecided")[1] == {"type": "websocket.disconnect", "code": 1006, "reason": ""}


# -- accept ------------------------------------------------------------------------------------

def test_accept_is_the_101_with_the_subprotocol_and_headers(server):
    client = RawWebSocket(server.address, "/proto", {"Sec-WebSocket-Protocol": "chat.v1, chat.v2"})
    try:
        assert client.status == 101
        assert client.head["sec-websocket-protocol"] == "chat.v2"
        assert client.head["x-room"] == "lobby"
        assert client.head["set-cookie"] == "a=1, b=2"  # two field lines, joined by the reader
        assert client.head["upgrade"].lower() == "websocket"
        assert client.read_frame().payload == b"chose chat.v2"
    finally:
        client.close()


def test_accept_without_a_subprotocol_when_none_is_offered(server):
    with connect(url(server, "/proto")) as ws:
        assert ws.subprotocol is None
        assert ws.recv(WAIT) == "chose None"


def test_accept_with_permessage_deflate_when_the_client_offers_it(server):
    with connect(url(server, "/echo")) as ws:  # websockets offers permessage-deflate
        assert ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
        message = "compress me " * 50_000
        ws.send(message)
        assert ws.recv(WAIT) == message


@pytest.mark.parametrize("path", ["/foreign-subprotocol", "/handshake-header", "/split-header"])
def test_accept_what_the_handshake_cannot_carry_is_a_protocol_error_and_a_500(server, caplog,
                                                                             path):
    with caplog.at_level(logging.ERROR, "zerodep_http.error"):
        response = refused(server, path)
        assert response.status_code == 500
        assert b"pwned" not in response.body
        wait_for(lambda: protocol_errors(caplog))
    assert len(protocol_errors(caplog)) == 1
    assert not [r for r in caplog.records if r.exc_info]  # logged once, as a protocol error


# -- receive -----------------------------------------------------------------------------------

def test_receive_text_and_bytes_each_in_its_own_key(server):
    with connect(url(server, "/echo")) as ws:
        ws.send("hello")
        assert ws.recv(WAIT) == "hello"
        ws.send(b"\x00\xffbinary")
        assert ws.recv(WAIT) == b"\x00\xffbinary"
        big = "é" * 300_000  # fragmented by the client, larger than a read
        ws.send(big)
        assert ws.recv(WAIT) == big
    assert events("echo keys")[-3:] == [["text", "type"], ["bytes", "type"], ["text", "type"]]


def test_receive_a_message_over_the_size_limit_closes_with_1009(serve):
    EVENTS.pop("size limit", None)
    server = serve(LocalServer(ASGIApplication(dispatch)), ws_max_message_size=1000,
                   ws_ping_interval=0.2)
    client = RawWebSocket(server.address, "/size-limit")
    try:
        assert client.read_frame().opcode == PING  # keep-alive pings are the setting's too
        client.send(text("x" * 1001))
        _, closing = client.read_until_close()
        assert closing.close_code == 1009
    finally:
        client.close()
    wait_for(lambda: events("size limit"), message="the application to hear the close")
    assert events("size limit")[0]["code"] == 1009


# -- send ----------------------------------------------------------------------------------------

def test_send_takes_exactly_one_of_text_and_bytes(server, caplog):
    EVENTS.pop("send both", None)
    with caplog.at_level(logging.ERROR, "zerodep_http.error"):
        with connect(url(server, "/send-both")) as ws:
            with pytest.raises(ConnectionClosed):
                ws.recv(WAIT)
    assert [item.split(":")[0] for item in events("send both")] == ["ASGIProtocolError"] * 3
    assert len(protocol_errors(caplog)) == 3
    assert ws.close_code == 1000  # the application went on, and returned


def test_send_waits_while_the_client_does_not_read(server):
    EVENTS.pop("flood", None)
    client = RawWebSocket(server.address, "/flood", rcvbuf=64 * 1024)
    try:
        sent = wait_for(lambda: events("flood"), timeout=30)[0]
    finally:
        client.close()
    assert sent != "never waited"
    assert sent < 64 * 1024 * 1024


def test_send_after_the_websocket_closed_raises_oserror(server):
    EVENTS.pop("send after close", None)
    with connect(url(server, "/send-after-close")):
        pass
    wait_for(lambda: len(events("send after close")) == 2)
    raised = events("send after close")[1]
    assert raised.startswith("ClientDisconnected")
    from zerodep_http.exchange import ClientDisconnected
    assert issubclass(ClientDisconnected, OSError)


# -- disconnect ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("closing", "code", "reason"), [
    (close(4001, "leaving"), 4001, "leaving"),
    (close(1000), 1000, ""),
    (close(None), 1005, ""),
], ids=["code and reason", "normal", "no code"])
def test_disconnect_has_the_clients_close_code_and_reason(server, closing, code, reason):
    EVENTS.pop("disconnect", None)
    client = RawWebSocket(server.address, "/disconnect")
    try:
        assert client.read_frame().payload == b"ready"
        client.send(closing)
        client.read_until_close()
    finally:
        client.close()
    expected = {"type": "websocket.disconnect", "code": code, "reason": reason}
    assert wait_for(lambda: len(events("disconnect")) == 2 and events("disconnect")) == [
        expected, expected]  # and the same again on the next receive()


def test_disconnect_1006_when_the_connection_drops(server):
    EVENTS.pop("disconnect", None)
    client = RawWebSocket(server.address, "/disconnect")
    assert client.read_frame().payload == b"ready"
    client.close()
    wait_for(lambda: events("disconnect"))
    assert events("disconnect")[0] == {"type": "websocket.disconnect", "code": 1006, "reason": ""}


def test_disconnect_1001_on_a_drain_which_waits_for_the_application(serve):
    EVENTS.pop("drained", None)
    EVENTS.pop("order", None)
    server = serve(LocalServer(ASGIApplication(dispatch)), graceful_timeout=60.0)
    clients = [RawWebSocket(server.address, path)
               for path in ("/cleanup-slowly", "/cleanup-slowly", "/wait-elsewhere")]
    try:
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        for client in clients:
            _, closing = client.read_until_close()
            assert closing.close_code == 1001
            client.send(close(1001))
        # The application that waits elsewhere is cancelled after the close
        # timeout: the drain does not wait its graceful timeout for it.
        stopping.join(30)
        assert not stopping.is_alive()
    finally:
        for client in clients:
            client.close()
    assert events("drained") == [{"type": "websocket.disconnect", "code": 1001,
                                  "reason": "server going away"}] * 2
    order = events("order")
    assert sorted(order[:3]) == ["cancelled", "cleaned up after 1001", "cleaned up after 1001"]
    assert order[3:] == ["lifespan shutdown"]  # once the sessions ended


# -- close ---------------------------------------------------------------------------------------

def test_close_before_accept_refuses_the_handshake_with_403(server):
    EVENTS.pop("refuse", None)
    assert refused(server, "/refuse").status_code == 403
    wait_for(lambda: len(events("refuse")) == 3)
    disconnect, close_again, send_again = events("refuse")
    assert disconnect == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
    assert close_again == "sent"  # closing again is nothing
    assert send_again.startswith("ASGIProtocolError")


def test_close_after_accept_with_its_code_and_reason(server):
    EVENTS.pop("close with code", None)
    client = RawWebSocket(server.address, "/close-with-code")
    try:
        _, closing = client.read_until_close()
        assert (closing.close_code, closing.payload[2:]) == (4000, b"bye")
        client.send(close(4000))
        assert client.at_eof()
    finally:
        client.close()
    wait_for(lambda: len(events("close with code")) == 3)
    disconnect, send_again, close_again = events("close with code")
    assert disconnect == {"type": "websocket.disconnect", "code": 4000, "reason": "bye"}
    assert send_again.startswith("ClientDisconnected")
    assert close_again == "sent"


def test_close_without_a_code_is_1000(server):
    client = RawWebSocket(server.address, "/close-default")
    try:
        assert client.read_until_close()[1].close_code == 1000
    finally:
        client.close()


def test_close_with_a_code_that_cannot_be_sent_is_a_protocol_error(server, caplog):
    EVENTS.pop("close bad code", None)
    with caplog.at_level(logging.ERROR, "zerodep_http.error"):
        client = RawWebSocket(server.address, "/close-bad-code")
        try:
            assert client.read_until_close()[1].close_code == 1000  # the application returned
        finally:
            client.close()
    assert [item.split(":")[0] for item in events("close bad code")] == ["ASGIProtocolError"] * 2
    assert len(protocol_errors(caplog)) == 2


# -- the websocket.http.response extension: a denial response --------------------------------------

def test_denial_response_any_status_headers_and_a_streamed_body(server, raw_client):
    EVENTS.pop("deny", None)
    client = raw_client(server)
    client.send(handshake_request("/deny"))
    response = client.read_response("GET")
    assert response.status == 401
    assert response.header("www-authenticate") == "Bearer"
    assert response.json() == {"error": "who are you"}
    assert response.header("transfer-encoding") == "chunked"
    assert client.request("GET", "/scope").text == "an http scope"  # still HTTP
    wait_for(lambda: len(events("deny")) == 2)
    assert events("deny")[0] == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
    assert events("deny")[1].startswith("ASGIProtocolError")  # nothing follows a denial


def test_denial_response_with_a_declared_length_seen_by_a_library_client(server):
    response = refused(server, "/deny-with-length")
    assert (response.status_code, response.body) == (429, b"slow")
    assert response.headers["content-length"] == "4"
    assert response.headers["retry-after"] == "1"


def test_denial_response_then_accept_is_a_protocol_error(server, raw_client):
    EVENTS.pop("deny then accept", None)
    client = raw_client(server)
    client.send(handshake_request("/deny-then-accept"))
    response = client.read_response("GET")
    assert (response.status, response.body) == (400, b"no")
    assert events("deny then accept")[0].startswith("ASGIProtocolError")


def test_denial_response_left_unfinished_drops_the_connection(server, raw_client):
    client = raw_client(server)
    client.send(handshake_request("/deny-unfinished"))
    with pytest.raises(AssertionError, match="closed the connection mid-message"):
        client.read_response("GET")


def test_denial_response_must_not_be_a_101(server):
    assert refused(server, "/deny-101").status_code == 500


# -- errors and messages out of order --------------------------------------------------------------

def test_error_before_accept_is_a_500_logged_once(server, caplog):
    with caplog.at_level(logging.ERROR, "zerodep_http.error"):
        response = refused(server, "/raise-before-accept")
        wait_for(lambda: [r for r in caplog.records if r.exc_info])
    assert (response.status_code, response.body) == (500, b"Internal Server Error")
    logged = [r for r in caplog.records
              if r.exc_info and "boom before accept" in str(r.exc_info[1])]
    assert len(logged) == 1


def test_error_after_accept_closes_with_1011_logged(server, caplog):
    with caplog.at_level(logging.ERROR, "zerodep_http.error"):
        client = RawWebSocket(server.address, "/raise-after-accept")
        try:
            frames, closing = client.read_until_close()
            assert [f.payload for f in frames] == [b"about to fail"]
            assert closing.close_code == 1011
        finally:
            client.close()
        wait_for(lambda: [r for r in caplog.records if r.exc_info])
    assert any("boom after accept" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_error_returning_without_answering_the_handshake_is_a_500(server, caplog):
    with caplog.at_level(logging.ERROR, "zerodep_http.error"):
        assert refused(server, "/return-without-answer").status_code == 500
    assert any("without answering" in r.getMessage() for r in caplog.records)


def test_error_returning_after_accept_closes_with_1000(server):
    client = RawWebSocket(server.address, "/return-after-accept")
    try:
        frames, closing = client.read_until_close()
        assert [f.opcode for f in frames] == [TEXT]
        assert closing.close_code == 1000
    finally:
        client.close()


@pytest.mark.parametrize("path", ["/send-before-accept", "/unknown-message"])
def test_error_a_message_out_of_order_before_accept_is_a_logged_protocol_error(server, caplog,
                                                                              path):
    with caplog.at_level(logging.ERROR, "zerodep_http.error"):
        assert refused(server, path).status_code == 500
    assert len(protocol_errors(caplog)) == 1


def test_error_accept_twice_is_a_protocol_error(server, caplog):
    EVENTS.pop("accept twice", None)
    with caplog.at_level(logging.ERROR, "zerodep_http.error"):
        with connect(url(server, "/accept-twice")) as ws:
            with pytest.raises(ConnectionClosed):
                ws.recv(WAIT)
    assert events("accept twice")[0].startswith("ASGIProtocolError")
    assert len(protocol_errors(caplog)) == 1
