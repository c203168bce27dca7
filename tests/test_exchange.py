"""The boundary between a connection and what it serves (`exchange`).

Applications here are not `App`s: they implement `handle(request)` and use
the request's channel directly, as the WebSocket, ASGI and WSGI layers do.
Served over real sockets, except where a fake transport is the only way to
see what the connection does (pausing its reads).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading

import pytest

from zerodep_http import App, Response
from zerodep_http.exchange import BodyError, ClientDisconnected
from zerodep_http.parser import Limits
from zerodep_http.protocol import ConnectionSettings, HTTPProtocol
from zerodep_http.responses import SwitchProtocol
from zerodep_http.serving import LocalServer

from conftest import WAIT, wait_for


class Events:
    """Answers with events: a head, the pieces of `body`, an end."""

    def __init__(self, body: list[bytes], length: int | None = None, status: int = 200) -> None:
        self.body, self.length, self.status = body, length, status

    async def handle(self, request):
        channel = request.channel
        channel.start_response(Response(b"", self.status, {"x-events": "1"}), self.length)
        for piece in self.body:
            await channel.send_body(piece)
        channel.end_response()


def test_events_without_a_length_are_chunked(serve, raw_client):
    client = raw_client(serve(LocalServer(Events([b"one ", b"two"]))))
    response = client.request("GET", "/")
    assert response.status == 200
    assert response.header("transfer-encoding") == "chunked"
    assert response.header("x-events") == "1"
    assert response.body == b"one two"
    assert client.request("GET", "/").body == b"one two"  # kept alive


def test_events_with_a_length_go_out_with_it(serve, raw_client):
    client = raw_client(serve(LocalServer(Events([b"one ", b"two"], length=7))))
    response = client.request("GET", "/")
    assert response.header("content-length") == "7"
    assert not response.has("transfer-encoding")
    assert response.body == b"one two"
    head = client.request("HEAD", "/")
    assert head.header("content-length") == "7"
    assert head.body == b""
    assert client.request("GET", "/").body == b"one two"


def test_http10_gets_a_body_that_ends_with_the_connection(serve, raw_client):
    client = raw_client(serve(LocalServer(Events([b"one ", b"two"]))))
    client.send(b"GET / HTTP/1.0\r\n\r\n")
    response = client.read_response("GET", http_version="1.0")
    assert response.body == b"one two"
    assert not response.has("transfer-encoding")
    client.assert_closed()


def test_a_body_longer_than_its_length_is_cut_off(serve, raw_client):
    client = raw_client(serve(LocalServer(Events([b"one ", b"two"], length=5))))
    client.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert client.read_until_closed().endswith(b"\r\n\r\none ")


def test_a_body_shorter_than_its_length_is_cut_off(serve, raw_client):
    client = raw_client(serve(LocalServer(Events([b"one"], length=9))))
    client.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert client.read_until_closed().endswith(b"\r\n\r\none")


class Silent:
    async def handle(self, request):
        return None


def test_an_application_that_answers_nothing_gives_500(serve, raw_client):
    client = raw_client(serve(LocalServer(Silent())))
    response = client.request("GET", "/")
    assert response.status == 500
    assert response.closes


class Echo:
    """Streams the request body back as it arrives."""

    async def handle(self, request):
        channel = request.channel
        channel.start_response(Response(b"", 200))
        await channel.send_body(request.body)
        while piece := await channel.receive():
            await channel.send_body(piece)
        assert await channel.receive() == b""
        channel.end_response()


def test_the_body_reaches_the_application_as_it_arrives(serve, raw_client):
    """Each piece is echoed before the client sends the next one."""
    client = raw_client(serve(LocalServer(Echo())))
    client.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nfirst\r\n")
    wait_for(lambda: b"first" in recv_some(client), message="the first piece echoed")
    client.send(b"6\r\nsecond\r\n0\r\n\r\n")
    response = client.read_response("POST")
    assert response.body == b"firstsecond"


def recv_some(client, parse: bool = True) -> bytes:
    """What the server sent so far, without waiting for a whole response;
    also handed to the client's h11 connection unless `parse` is off."""
    client.sock.settimeout(0.05)
    try:
        data = client.sock.recv(65536)
    except TimeoutError:
        data = b""
    finally:
        client.sock.settimeout(WAIT)
    client.received += data
    if parse and data:
        client.conn.receive_data(data)
    return bytes(client.received)


class ReadFirst:
    async def handle(self, request):
        pieces = []
        while piece := await request.channel.receive():
            pieces.append(piece)
        return Response(b"".join(pieces))


def test_100_continue_goes_out_when_the_application_reads(serve, raw_client):
    client = raw_client(serve(LocalServer(ReadFirst())))
    client.send_request("POST", "/", headers={"expect": "100-continue", "content-length": "4"},
                        end=False)
    assert client.read_informational() == 100
    client.send(b"data")
    assert client.read_response().body == b"data"


class ReadsInTwo:
    """Reads the body, saying when it has the first piece of it."""

    def __init__(self) -> None:
        self.first_piece = threading.Event()

    async def handle(self, request):
        body = request.body
        while piece := await request.channel.receive():
            body += piece
            self.first_piece.set()  # and reads on, in the same step
        return Response(body)


def test_an_expectation_holds_for_its_own_request_only(serve, raw_client):
    """A request that asked for 100 Continue but sent its body anyway
    leaves nothing behind: the next one, which did not ask, gets none."""
    app = ReadsInTwo()
    client = raw_client(serve(LocalServer(app)))
    client.send(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                b"Content-Length: 2\r\n\r\nok")
    assert client.read_response("POST").body == b"ok"
    client.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab")
    assert app.first_piece.wait(WAIT)
    client.send(b"cd")
    response = client.read_response("POST")
    assert (response.informational, response.body) == ([], b"abcd")


class Watcher:
    """Answers, then waits for the client to go away."""

    def __init__(self) -> None:
        self.gone = threading.Event()

    async def handle(self, request):
        channel = request.channel
        channel.start_response(Response(b"", 200))
        await channel.send_body(b"hello")
        await channel.wait_closed()
        assert channel.closed
        with pytest.raises(ClientDisconnected):
            await channel.send_body(b"more")
        self.gone.set()


def test_the_application_learns_that_the_client_went_away(serve):
    watcher = Watcher()
    server = serve(LocalServer(watcher))
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        received = b""
        while b"hello" not in received:
            received += sock.recv(4096)
    assert watcher.gone.wait(WAIT)


class Reader:
    """Reads the body, remembering how it ended."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.done = threading.Event()

    async def handle(self, request):
        try:
            while await request.channel.receive():
                pass
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self.done.set()
        return Response("read")


def test_receive_raises_when_the_client_leaves_mid_body(serve):
    reader = Reader()
    server = serve(LocalServer(reader))
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\npartial")
    assert reader.done.wait(WAIT)
    assert isinstance(reader.error, ClientDisconnected)


def test_receive_raises_the_status_of_a_malformed_body(serve, raw_client):
    reader = Reader()
    client = raw_client(serve(LocalServer(reader)))
    client.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    wait_for(lambda: b"" == recv_some(client), message="the piece to be read")
    client.send(b"zz\r\n")
    assert reader.done.wait(WAIT)
    assert isinstance(reader.error, BodyError) and reader.error.status_code == 400


def test_an_app_waiting_for_a_body_that_never_comes_gets_408(serve, raw_client):
    app = App(read_timeout=0.2)

    @app.post("/upload")
    async def upload(request):
        return "never"

    client = raw_client(serve(app))
    client.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
    response = client.read_response("POST")
    assert response.status == 408
    assert response.closes


class Upgrade:
    """Switches to a protocol that echoes every byte in capitals."""

    class Shout(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data.upper())

    async def handle(self, request):
        return SwitchProtocol(lambda settings: self.Shout(), {"upgrade": "shout"})


def test_a_protocol_switch_hands_over_the_connection(serve, raw_client):
    client = raw_client(serve(LocalServer(Upgrade())))
    # Bytes sent right behind the request belong to the new protocol.
    client.send(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: shout\r\n\r\n"
                b"early ")
    wait_for(lambda: b"EARLY " in recv_some(client, parse=False),
             message="the early bytes answered")
    head = bytes(client.received).split(b"\r\n\r\n")[0].decode()
    assert head.startswith("HTTP/1.1 101 Switching Protocols\r\n")
    assert "upgrade: shout" in head and "connection: upgrade" in head
    assert "content-type" not in head
    client.send(b"later")
    wait_for(lambda: recv_some(client, parse=False).endswith(b"EARLY LATER"),
             message="the later bytes answered")


class Sender:
    def __init__(self, path: str) -> None:
        self.path = path

    async def handle(self, request):
        channel = request.channel
        size = os.path.getsize(self.path)
        with open(self.path, "rb") as file:
            channel.start_response(Response(b"", 200), size - 10)
            await channel.send_file(file, 10, size - 10)
        channel.end_response()


@pytest.mark.parametrize("size", [1000, 300_000])
def test_a_file_region_goes_out_as_events(serve, raw_client, tmp_path, size):
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(size))
    client = raw_client(serve(LocalServer(Sender(str(path)))))
    response = client.request("GET", "/")
    assert response.body == path.read_bytes()[10:]


# -- backpressure on the request body, seen through a fake transport -----------


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.reading = True
        self.closed = False

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 5000) if name == "peername" else default

    def can_write_eof(self):
        return False

    def write(self, data):
        self.written += data

    def pause_reading(self):
        self.reading = False

    def resume_reading(self):
        self.reading = True

    def is_closing(self):
        return self.closed

    def close(self):
        self.closed = True


class Owner:
    date_line = b"date: x\r\n"
    draining = False
    requests_served = 0
    max_requests = 0
    on_max_requests = None

    def connection_made(self, connection): pass
    def connection_closed(self, connection): pass


class SlowReader:
    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.received = 0

    async def handle(self, request):
        await self.go.wait()
        while piece := await request.channel.receive():
            self.received += len(piece)
        return Response("done")


def test_an_application_that_does_not_read_stops_the_connection_reading():
    async def scenario():
        app = SlowReader()
        transport = FakeTransport()
        size = 4 * 1024 * 1024
        settings = ConnectionSettings(limits=Limits(body_size=size))
        connection = HTTPProtocol(app, settings, Owner())
        connection.connection_made(transport)
        connection.data_received(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)
        piece = b"x" * 65536
        for _ in range(size // len(piece)):
            if transport.reading:
                connection.data_received(piece)
            else:
                break
        await asyncio.sleep(0)
        assert not transport.reading
        held = sum(map(len, connection._body)) + len(connection.parser.buffer)
        assert held <= 512 * 1024
        app.go.set()
        sent = held
        while app.received + len(connection.parser.buffer) < size:
            await asyncio.sleep(0)
            if transport.reading and sent < size:
                connection.data_received(piece)
                sent += len(piece)
        await asyncio.sleep(0.01)
        assert app.received == size
        assert transport.written.endswith(b"\r\n\r\ndone")

    asyncio.run(scenario())


def test_a_file_goes_out_on_a_loop_without_sendfile(serve, raw_client, tmp_path, monkeypatch):
    """uvloop has no loop.sendfile(): the file is written in pieces instead."""
    async def no_sendfile(*args, **kwargs):
        raise NotImplementedError

    monkeypatch.setattr(asyncio.BaseEventLoop, "sendfile", no_sendfile)
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(1_000_000))
    client = raw_client(serve(LocalServer(Sender(str(path)))))
    assert client.request("GET", "/").body == path.read_bytes()[10:]


class Limited:
    """Reads the whole body; says what each path's body may weigh (or
    nothing, without `body_limit` at all)."""

    def __init__(self, limits: dict[str, int | None] | None) -> None:
        self.asked: list[str] = []
        if limits is not None:
            def body_limit(request):
                self.asked.append(request.path)
                return limits.get(request.path)
            self.body_limit = body_limit

    async def handle(self, request):
        pieces = [request.body]
        try:
            while piece := await request.channel.receive():
                pieces.append(piece)
        except BodyError as exc:  # a chunked body counted past the limit as it arrived
            return Response(exc.message, exc.status_code)
        return Response(b"%d" % len(b"".join(pieces)))


@pytest.mark.parametrize("limits, path, size, status", [
    ({"/big": 5000}, "/big", 5000, 200),    # above the server's 1000
    ({"/big": 5000}, "/big", 5001, 413),
    ({"/small": 10}, "/small", 11, 413),    # below it
    ({"/small": 10}, "/other", 1000, 200),  # None: the server's limit
    ({"/small": 10}, "/other", 1001, 413),
    (None, "/any", 1001, 413),              # no body_limit: the server's limit
])
@pytest.mark.parametrize("chunked", [False, True])
def test_the_application_sets_each_request_body_limit(serve, raw_client, limits, path, size,
                                                      status, chunked):
    app = Limited(limits)
    client = raw_client(serve(LocalServer(app), limits=Limits(body_size=1000)))
    body = b"x" * size
    response = (client.request("POST", path, chunks=[body[:size // 2], body[size // 2:]])
                if chunked else client.request("POST", path, body=body))
    assert response.status == status
    if status == 200:
        assert response.body == b"%d" % size
        assert client.request("GET", "/").body == b"0"  # a request without a body...
    else:
        assert response.closes
    if limits is not None:
        assert app.asked == [path]  # ...is not asked about


class LateReader:
    """Reads the body only after other work, by which time all of it may
    have arrived without having been read."""

    def __init__(self) -> None:
        self.go = asyncio.Event()

    async def handle(self, request):
        await self.go.wait()
        pieces = [request.body]
        while request.channel.receiving:
            pieces.append(await request.channel.receive())
        self.go.clear()
        return Response(b"".join(pieces))


def test_a_body_that_arrived_unread_is_read_whole_and_never_leaks():
    """Regression: once the rest of a body had arrived, `receiving` turned
    False while its pieces still waited in the connection, so an app that
    looked at `receiving` first lost them, and the next request on the
    connection found them in front of its own body."""
    async def scenario():
        app = LateReader()
        transport = FakeTransport()
        connection = HTTPProtocol(app, ConnectionSettings(), Owner())
        connection.connection_made(transport)
        loop = asyncio.get_running_loop()
        # From loop callbacks, as a socket's bytes arrive.
        loop.call_soon(connection.data_received,
                       b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
        loop.call_soon(connection.data_received, b"hello")
        await asyncio.sleep(0)  # both delivered, the app still waiting
        app.go.set()
        while not transport.written.endswith(b"hello"):
            await asyncio.sleep(0)
        loop.call_soon(connection.data_received,
                       b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nsecond")
        app.go.set()
        while not transport.written.endswith(b"second"):
            await asyncio.sleep(0)
        assert transport.written.count(b"HTTP/1.1 200 OK") == 2

    asyncio.run(asyncio.wait_for(scenario(), WAIT))


class LingeringTransport(FakeTransport):
    def __init__(self) -> None:
        super().__init__()
        self.eof_written = False

    def can_write_eof(self):
        return True

    def write_eof(self):
        self.eof_written = True


def test_a_connection_that_refused_a_body_drops_what_still_arrives():
    """Refused before its body was read, a request gets its answer, then
    the connection ends its side and drops the body still arriving until
    the client ends its side too."""
    async def scenario():
        transport = LingeringTransport()
        settings = ConnectionSettings(limits=Limits(body_size=100))
        connection = HTTPProtocol(App(), settings, Owner())
        connection.connection_made(transport)
        connection.data_received(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n")
        assert transport.written.startswith(b"HTTP/1.1 413 ")
        assert transport.eof_written and not transport.closed
        answered = len(transport.written)
        for _ in range(10):
            connection.data_received(b"x" * 100)
        connection.data_received(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")  # never parsed
        assert len(transport.written) == answered and not transport.closed
        connection.eof_received()
        assert transport.closed

    asyncio.run(asyncio.wait_for(scenario(), WAIT))
