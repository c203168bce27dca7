"""StreamingResponse: chunked framing, SSE, HTTP/1.0, backpressure, and the
generator being closed when the client goes away."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time

import httpx
import pytest

from zerodep_http import App, StreamingResponse

from conftest import WAIT, connection_refused, h11_request_bytes, wait_for


def wait_until_stable(read, settle: float = 0.5, limit: int | None = None,
                      timeout: float = WAIT) -> int:
    """Poll `read()` until it stops changing for `settle` seconds; fail if it
    passes `limit` or never settles within `timeout`."""
    deadline = time.monotonic() + timeout
    last, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
        if limit is not None and value > limit:
            raise AssertionError(f"value kept growing past {limit}")
        if value != last:
            last, since = value, time.monotonic()
        elif time.monotonic() - since >= settle:
            return value
    raise AssertionError(f"value never settled (last {last})")


@pytest.fixture
def app() -> App:
    app = App()
    app.state = {"produced": 0, "finalized": threading.Event(), "gate": threading.Event()}  # type: ignore[attr-defined]
    state = app.state  # type: ignore[attr-defined]

    @app.get("/stream")
    async def stream(request):
        async def gen():
            for i in range(5):
                yield f"part {i}\n"
                await asyncio.sleep(0)
        return StreamingResponse(gen(), headers={"x-stream": "1"})

    @app.get("/bytes-and-empty")
    async def bytes_and_empty(request):
        async def gen():
            yield b"a"
            yield ""
            yield b""
            yield "b"
        return StreamingResponse(gen(), status_code=201, content_type="application/x-custom")

    @app.get("/sse")
    async def sse(request):
        async def gen():
            yield "data: first\n\n"
            released = await asyncio.to_thread(state["gate"].wait, WAIT)
            yield f"data: second {released}\n\n"
        return StreamingResponse(gen(), content_type="text/event-stream")

    @app.get("/firehose")
    async def firehose(request):
        async def gen():
            chunk = b"x" * 65536
            try:
                while True:
                    state["produced"] += 1
                    yield chunk
            finally:
                state["finalized"].set()
        return StreamingResponse(gen(), content_type="application/octet-stream")

    @app.get("/ticker")
    async def ticker(request):
        async def gen():
            try:
                i = 0
                while True:
                    yield f"data: {i}\n\n"
                    i += 1
                    await asyncio.sleep(0.02)
            finally:
                state["finalized"].set()
        return StreamingResponse(gen(), content_type="text/event-stream")

    @app.get("/idle")
    async def idle(request):
        async def gen():
            try:
                yield "data: hello\n\n"
                await asyncio.Event().wait()  # nothing more, ever
                yield "data: never\n\n"
            finally:
                state["finalized"].set()
        return StreamingResponse(gen(), content_type="text/event-stream")

    @app.get("/fails")
    async def fails(request):
        async def gen():
            yield "partial "
            raise RuntimeError("generator broke")
        return StreamingResponse(gen())

    @app.get("/big")
    async def big(request):
        async def gen():
            for i in range(160):
                yield bytes([i % 256]) * 65536
        return StreamingResponse(gen())

    @app.get("/plain")
    async def plain(request):
        return "plain"

    return app


def test_stream_is_chunked(serve, raw_client, app):
    client = raw_client(serve(app))
    response = client.request("GET", "/stream")
    assert response.status == 200
    assert response.header("transfer-encoding") == "chunked"
    assert not response.has("content-length")
    assert response.header("x-stream") == "1"
    assert response.header("content-type") == "text/plain; charset=utf-8"
    assert response.body == b"".join(f"part {i}\n".encode() for i in range(5))
    # Keep-alive continues after a stream.
    assert client.request("GET", "/plain").text == "plain"


def test_empty_chunks_do_not_end_the_stream(serve, raw_client, app):
    response = raw_client(serve(app)).request("GET", "/bytes-and-empty")
    assert response.status == 201
    assert response.header("content-type") == "application/x-custom"
    assert response.body == b"ab"


def test_sse_headers_and_events_are_flushed(serve, app):
    server = serve(app)
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        with client.stream("GET", "/sse") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            lines = response.iter_lines()
            # The first event arrives while the generator is still waiting.
            assert next(lines) == "data: first"
            app.state["gate"].set()
            assert next(lines) == ""
            assert next(lines) == "data: second True"


def test_http10_stream_is_not_chunked_and_closes(serve, raw_client, app):
    client = raw_client(serve(app))
    client.send(b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    response = client.read_response("GET", http_version="1.0")
    assert not response.has("transfer-encoding")
    assert response.closes
    assert response.body == b"".join(f"part {i}\n".encode() for i in range(5))
    client.assert_closed()


def test_head_on_a_streaming_route_sends_no_body(serve, raw_client, app):
    client = raw_client(serve(app))
    response = client.request("HEAD", "/stream")
    assert response.status == 200
    assert response.body == b""
    # Nothing stray on the wire: the next response parses.
    assert client.request("GET", "/plain").text == "plain"


def test_pipelined_after_a_stream(serve, raw_client, app):
    client = raw_client(serve(app))
    client.send(h11_request_bytes("GET", "/stream") + h11_request_bytes("GET", "/plain"))
    assert client.read_response("GET").body.startswith(b"part 0")
    assert client.read_response("GET").text == "plain"


def test_large_stream_arrives_intact(serve, app):
    server = serve(app)
    expected = hashlib.sha256(b"".join(bytes([i % 256]) * 65536 for i in range(160))).hexdigest()
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        digest = hashlib.sha256()
        with client.stream("GET", "/big") as response:
            for data in response.iter_bytes():
                digest.update(data)
    assert digest.hexdigest() == expected


def test_backpressure_bounds_the_generator(serve, raw_client, app):
    """A client that stops reading must stop the generator, not make the
    server buffer everything it produces."""
    state = app.state
    client = raw_client(serve(app), rcvbuf=65536)
    client.send_request("GET", "/firehose")
    client.sock.recv(1024)  # the head has come; now stop reading
    limit = 512  # 32 MiB of 64 KiB chunks; socket buffers hold far less
    produced = wait_until_stable(lambda: state["produced"], settle=0.75, limit=limit)
    assert produced < limit
    assert not state["finalized"].is_set()
    client.close()
    assert state["finalized"].wait(WAIT), "the generator was not closed after the client left"


def test_client_disconnect_closes_the_generator(serve, raw_client, app):
    state = app.state
    server = serve(app)
    client = raw_client(server)
    client.send_request("GET", "/ticker")
    data = b""
    while b"data: 2" not in data:
        chunk = client.sock.recv(4096)
        assert chunk, "the stream ended early"
        data += chunk
    client.close()
    assert state["finalized"].wait(WAIT), "the generator's finally did not run after a disconnect"
    # The server is fine afterwards.
    assert raw_client(server).request("GET", "/plain").text == "plain"


def test_client_disconnect_closes_an_idle_generator(serve, raw_client, app):
    """An SSE stream with nothing to send must still notice the client left."""
    state = app.state
    client = raw_client(serve(app))
    client.send_request("GET", "/idle")
    data = b""
    while b"data: hello" not in data:
        chunk = client.sock.recv(4096)
        assert chunk
        data += chunk
    client.close()
    assert state["finalized"].wait(5), "an idle stream kept its generator after the client left"


def test_failing_generator_truncates_the_response(serve, raw_client, app):
    """An error mid-stream must not look like a complete body: no final
    zero-length chunk, the connection is dropped."""
    server = serve(app)
    client = raw_client(server)
    client.send_request("GET", "/fails")
    with pytest.raises(AssertionError, match="closed the connection mid-message|closed before"):
        client.read_response()
    assert b"0\r\n\r\n" not in client.received
    assert raw_client(server).request("GET", "/plain").text == "plain"


def test_shutdown_waits_for_a_stream_in_flight(serve, raw_client, app):
    state = app.state
    server = serve(app)
    client = raw_client(server)
    client.send_request("GET", "/sse")
    data = b""
    while b"data: first" not in data:
        data += client.sock.recv(4096)
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    # The drain has begun once the listener is closed; the stream stays open.
    wait_for(lambda: connection_refused(("127.0.0.1", server.port)), message="listener closed")
    assert stopper.is_alive()
    state["gate"].set()
    rest = client.read_until_closed()
    assert b"data: second True" in rest
    assert rest.endswith(b"0\r\n\r\n")
    stopper.join(WAIT)
    assert not stopper.is_alive()
