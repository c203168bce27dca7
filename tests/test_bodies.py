"""Request bodies at scale, served over real sockets: per-route body limits,
`stream=True` routes, and multipart forms parsed as they arrive.

Temporary files are watched where they live: every test that uploads runs
with TMPDIR pointing at a directory of its own (the server runs in this
process) and checks both the directory and this process' descriptors (a
spooled upload is an unlinked file, visible only through its descriptor).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import tempfile
import threading
from pathlib import Path

import httpx
import pytest

from conftest import WAIT, open_files_in, wait_for
from zerodep_http import App, Request, UploadFile
from zerodep_http.uploads import FormLimits

BIG = os.urandom(3 << 20)  # past the 1 MiB the form keeps in memory
NOTES = b"line\r\n--not a boundary\r\n"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def multipart(fields=None, files=None) -> tuple[bytes, str]:
    """A body and its Content-Type, as httpx builds them."""
    request = httpx.Request("POST", "http://test/", data=fields, files=files)
    return request.read(), request.headers["content-type"]


def no_temporary_files(directory: Path) -> bool:
    return not list(directory.iterdir()) and not open_files_in(directory)


def describe(uploads: dict[str, list[UploadFile]]) -> dict[str, list[list]]:
    return {name: [[upload.filename, upload.content_type, upload.size, sha256(upload.read())]
                   for upload in files]
            for name, files in uploads.items()}


def upload_app(**app_options) -> App:
    app = App(**app_options)
    app.spooled = []  # type: ignore[attr-defined]  # what was on disk while handling

    @app.post("/upload", max_body_size=64 << 20)
    async def upload(request):
        app.spooled.append(len(open_files_in(Path(tempfile.gettempdir()))))  # type: ignore[attr-defined]
        return {"fields": request.form(), "files": describe(request.files),
                "body": len(request.body)}

    @app.post("/fail", max_body_size=64 << 20)
    async def fail(request):
        assert request.files
        raise RuntimeError("the handler failed")

    @app.post("/small")
    async def small(request):
        return {"fields": request.form(), "files": describe(request.files)}

    return app


# -- multipart forms -------------------------------------------------------------------


def test_fields_and_files_reach_the_handler(serve, spool_dir):
    server = serve(upload_app())
    body, content_type = multipart(
        {"title": "Holiday", "tags": ["sea", "sun ☀"]},
        [("photos", ("beach.jpg", BIG, "image/jpeg")),
         ("photos", ("notes.txt", NOTES, "text/plain")),
         ("doc", ("résumé.pdf", b"%PDF-1.7", "application/pdf"))])
    response = httpx.post(server.url + "/upload", content=body,
                          headers={"content-type": content_type}, timeout=WAIT)
    assert response.status_code == 200
    assert response.json() == {
        "fields": {"title": ["Holiday"], "tags": ["sea", "sun ☀"]},
        "files": {"photos": [["beach.jpg", "image/jpeg", len(BIG), sha256(BIG)],
                             ["notes.txt", "text/plain", len(NOTES), sha256(NOTES)]],
                  "doc": [["résumé.pdf", "application/pdf", 8, sha256(b"%PDF-1.7")]]},
        "body": 0}  # the form took the body: it was never held whole
    assert server.app.spooled == [1]  # the big photo was on disk while handled
    wait_for(lambda: no_temporary_files(spool_dir), message="temporary files removed")


def test_a_small_form_that_arrived_with_its_head(serve, raw_client, spool_dir):
    """A body that came whole with the head goes through the same form."""
    body, content_type = multipart({"a": "1"}, {"f": ("f.txt", b"tiny", "text/plain")})
    client = raw_client(serve(upload_app()))
    response = client.request("POST", "/small", headers={"content-type": content_type}, body=body)
    assert response.json() == {"fields": {"a": ["1"]},
                               "files": {"f": [["f.txt", "text/plain", 4, sha256(b"tiny")]]}}
    assert not response.closes
    assert client.request("GET", "/nothing").status == 404  # kept alive
    assert no_temporary_files(spool_dir)


def test_urlencoded_forms_and_other_bodies_are_unchanged(serve, raw_client):
    app = App()

    @app.post("/")
    async def index(request):
        return {"form": request.form(), "files": len(request.files), "body": request.body.decode()}

    client = raw_client(serve(app))
    response = client.request("POST", "/", body=b"a=1&a=2&b=",
                              headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.json() == {"form": {"a": ["1", "2"], "b": [""]}, "files": 0,
                               "body": "a=1&a=2&b="}


def test_the_form_is_parsed_as_the_body_arrives(serve, raw_client, spool_dir):
    """Half an upload is already in a temporary file while the client has
    not sent the rest: the body never has to be whole anywhere."""
    body, content_type = multipart({"a": "1"}, {"f": ("big.bin", BIG * 4, "application/x")})
    client = raw_client(serve(upload_app()))
    client.send_request("POST", "/upload", headers={"content-type": content_type,
                                                    "content-length": str(len(body))}, end=False)
    half = len(body) // 2
    client.send(body[:half])
    wait_for(lambda: open_files_in(spool_dir), message="the upload spooled to disk")
    client.send(body[half:])
    response = client.read_response("POST")
    assert response.json()["files"]["f"][0][2:] == [len(BIG) * 4, sha256(BIG * 4)]
    wait_for(lambda: no_temporary_files(spool_dir), message="temporary files removed")


def test_temporary_files_go_when_the_handler_fails(serve, raw_client, spool_dir):
    body, content_type = multipart({}, {"f": ("big.bin", BIG, "application/x")})
    client = raw_client(serve(upload_app()))
    response = client.request("POST", "/fail", headers={"content-type": content_type}, body=body)
    assert response.status == 500
    wait_for(lambda: no_temporary_files(spool_dir), message="temporary files removed")


def test_temporary_files_go_when_the_form_is_refused(serve, raw_client, spool_dir):
    """One file over the file count: 413, after a file was already on disk."""
    app = upload_app()
    app.form_limits = FormLimits(files=1)
    body, content_type = multipart({}, [("f", ("one.bin", BIG, "application/x")),
                                        ("f", ("two.bin", b"2", "application/x"))])
    client = raw_client(serve(app))
    response = client.request("POST", "/upload", headers={"content-type": content_type}, body=body)
    assert response.status == 413
    assert "more than 1 files" in response.text
    wait_for(lambda: no_temporary_files(spool_dir), message="temporary files removed")


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_temporary_files_go_when_the_client_leaves_mid_upload(serve, spool_dir, framing):
    """A real socket closed halfway through a large file."""
    body, content_type = multipart({"a": "1"}, {"f": ("big.bin", BIG * 4, "application/x")})
    server = serve(upload_app())
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    with sock:
        length = (f"content-length: {len(body)}" if framing == "content-length"
                  else "transfer-encoding: chunked")
        sock.sendall(f"POST /upload HTTP/1.1\r\nhost: test\r\ncontent-type: {content_type}\r\n"
                     f"{length}\r\n\r\n".encode())
        half = body[:len(body) // 2]
        sock.sendall(half if framing == "content-length" else b"%x\r\n%s\r\n" % (len(half), half))
        wait_for(lambda: open_files_in(spool_dir), message="the upload spooled to disk")
    wait_for(lambda: no_temporary_files(spool_dir), message="temporary files removed")
    assert server.app.spooled == []  # the handler never ran


# -- multipart limits, each a clear 4xx ------------------------------------------------------

BOUNDARY = "b0undary"
FORM = f"multipart/form-data; boundary={BOUNDARY}"


def part(name: str, value: bytes, headers: bytes = b"", filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return (f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode() + headers
            + b"\r\n" + value + b"\r\n")


def closing() -> bytes:
    return f"--{BOUNDARY}--\r\n".encode()


LIMITS = {
    # name: (content type, body, status, what the answer says)
    "parts": (FORM, part("f", b"x") * 1001 + closing(), 413, "more than 1000 parts"),
    "part-header-size": (FORM, part("f", b"x", b"X-Long: " + b"h" * 17000 + b"\r\n") + closing(),
                         413, "part header section over 16384 bytes"),
    "field-size": (FORM, part("f", b"x" * (1048576 + 1)) + closing(), 413, "over 1048576 bytes"),
    "files": (FORM, part("f", b"x", filename="a") * 101 + closing(), 413, "more than 100 files"),
    "no-boundary": ("multipart/form-data", part("f", b"x") + closing(), 400, "without a boundary"),
    "invalid-boundary": ("multipart/form-data; boundary=a{b", part("f", b"x") + closing(), 400,
                         "invalid character"),
    "boundary-too-long": ("multipart/form-data; boundary=" + "b" * 71, b"--" + b"b" * 71, 400,
                          "longer than 70"),
    "no-closing-boundary": (FORM, part("f", b"x"), 400, "ended before the closing boundary"),
    "no-boundary-in-body": (FORM, b"just text", 400, "no multipart boundary"),
    "not-form-data": (FORM, f"--{BOUNDARY}\r\nContent-Disposition: attachment; name=\"f\"\r\n\r\n"
                      f"x\r\n".encode() + closing(), 400, "not form-data"),
}


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("case", LIMITS.values(), ids=LIMITS.keys())
def test_multipart_limits_are_clear_answers(serve, raw_client, spool_dir, case, framing):
    content_type, body, status, reason = case
    app = upload_app()
    client = raw_client(serve(app))
    headers = {"content-type": content_type}
    if framing == "chunked":
        chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)]
        response = client.request("POST", "/upload", headers=headers, chunks=chunks)
    else:
        response = client.request("POST", "/upload", headers=headers, body=body)
    assert (response.status, reason in response.text) == (status, True), response.text
    if response.closes:
        client.assert_closed()
    else:  # only when the whole body was in before the answer
        assert client.request("POST", "/small", body=b"a=1").json()["fields"] == {"a": ["1"]}
    wait_for(lambda: no_temporary_files(spool_dir), message="temporary files removed")


def test_a_refused_form_closes_when_the_body_is_still_coming(serve, raw_client, spool_dir):
    """Refused mid-body: answered with `Connection: close`, while the rest
    of the body is still on its way, and the client reads the answer."""
    body = part("f", b"x" * (1048576 + 1)) + part("g", BIG * 8) + closing()
    client = raw_client(serve(upload_app()))
    client.send_request("POST", "/upload", headers={"content-type": FORM,
                                                    "content-length": str(len(body))}, end=False)
    client.send(body[:1048576 + 4096])
    response = client.read_response("POST")
    assert response.status == 413
    assert response.closes
    client.send(body[1048576 + 4096:])  # dropped, not a reset, while the answer is read
    client.assert_closed()


# -- per-route body limits ---------------------------------------------------------------


def limits_app() -> App:
    app = App(max_body_size=1000)
    app.calls = []  # type: ignore[attr-defined]

    @app.post("/big", max_body_size=5000)
    async def big(request):
        app.calls.append("big")  # type: ignore[attr-defined]
        return {"size": len(request.body)}

    @app.post("/tiny", max_body_size=10)
    async def tiny(request):
        app.calls.append("tiny")  # type: ignore[attr-defined]
        return {"size": len(request.body)}

    @app.put("/stream", stream=True, max_body_size=5000)
    async def stream(request):
        app.calls.append("stream")  # type: ignore[attr-defined]
        size = 0
        async for piece in request.stream():
            size += len(piece)
        return {"size": size}

    @app.post("/default")
    async def default(request):
        app.calls.append("default")  # type: ignore[attr-defined]
        return {"size": len(request.body)}

    return app


@pytest.mark.parametrize("method, path, size, status", [
    ("POST", "/big", 5000, 200),       # above the app's 1000
    ("POST", "/big", 5001, 413),
    ("POST", "/tiny", 10, 200),        # below it
    ("POST", "/tiny", 11, 413),
    ("PUT", "/stream", 5000, 200),
    ("PUT", "/stream", 5001, 413),
    ("POST", "/default", 1000, 200),   # other routes keep the app's limit
    ("POST", "/default", 1001, 413),
    ("POST", "/nowhere", 1001, 413),   # and so do unknown paths
])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_route_limit_wins_both_ways(serve, raw_client, method, path, size, status, framing):
    app = limits_app()
    client = raw_client(serve(app))
    body = b"x" * size
    if framing == "chunked":
        response = client.request(method, path, chunks=[body[:size // 2], body[size // 2:]])
    else:
        response = client.request(method, path, body=body)
    assert response.status == (404 if status == 200 and path == "/nowhere" else status)
    if status == 413:
        assert response.closes
        client.assert_closed()
    else:
        assert response.json() == {"size": size}


@pytest.mark.parametrize("path", ["/big", "/tiny", "/stream"])
def test_a_declared_length_over_the_route_limit_is_413_before_the_body(serve, raw_client, path):
    """Nothing of the body is sent, nor asked for: no 100 Continue."""
    app = limits_app()
    client = raw_client(serve(app))
    method = "PUT" if path == "/stream" else "POST"
    client.send_request(method, path, headers={"content-length": "5001",
                                               "expect": "100-continue"}, end=False)
    response = client.read_response()
    assert response.status == 413
    assert response.informational == []
    assert response.closes
    client.assert_closed()
    assert app.calls == []


def test_route_limits_are_checked_at_registration():
    app = App()
    for bad in (0, -1, 1.5, True, "10"):
        with pytest.raises(ValueError, match="max_body_size"):
            app.post("/", max_body_size=bad)
    with pytest.raises(ValueError, match="async handler"):
        @app.post("/sync", stream=True)
        def sync_handler(request):
            return ""


# -- stream=True routes -------------------------------------------------------------------


def stream_app() -> App:
    app = App()
    app.started = threading.Event()  # type: ignore[attr-defined]
    app.go = threading.Event()  # type: ignore[attr-defined]
    app.seen = {}  # type: ignore[attr-defined]

    @app.post("/ingest", stream=True, max_body_size=1 << 30)
    async def ingest(request):
        app.seen["continue pending"] = request.channel.expects_continue  # type: ignore[attr-defined]
        app.started.set()  # type: ignore[attr-defined]
        assert await asyncio.to_thread(app.go.wait, WAIT)  # type: ignore[attr-defined]
        digest, size = hashlib.sha256(), 0
        async for piece in request.stream():
            digest.update(piece)
            size += len(piece)
        return {"size": size, "sha256": digest.hexdigest(), "body": len(request.body)}

    @app.post("/capped", stream=True, max_body_size=1000)
    async def capped(request):
        async for _ in request.stream():
            app.started.set()  # type: ignore[attr-defined]
        return "the whole body"

    return app


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_stream_handler_runs_before_the_body_arrives(serve, raw_client, framing):
    app = stream_app()
    client = raw_client(serve(app))
    body = os.urandom(1 << 20)
    framing_field = (f"content-length: {len(body)}" if framing == "content-length"
                     else "transfer-encoding: chunked")
    client.send(f"POST /ingest HTTP/1.1\r\nhost: t\r\n{framing_field}\r\n\r\n".encode())
    first, rest = body[:1000], body[1000:]
    client.send(first if framing == "content-length" else chunk(first))
    assert app.started.wait(WAIT)  # with a thousand bytes of a megabyte
    app.go.set()
    client.send(rest if framing == "content-length" else chunk(rest) + b"0\r\n\r\n")
    response = client.read_response("POST")
    assert response.json() == {"size": len(body), "sha256": sha256(body), "body": 0}
    assert not response.closes


def test_100_continue_goes_out_when_the_handler_starts_reading(serve, raw_client):
    app = stream_app()
    client = raw_client(serve(app))
    body = os.urandom(100_000)
    client.send_request("POST", "/ingest", headers={"content-length": str(len(body)),
                                                    "expect": "100-continue"}, end=False)
    assert app.started.wait(WAIT)
    assert app.seen["continue pending"] is True  # the handler runs, nothing was asked yet
    client.sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        client.sock.recv(1)
    client.sock.setblocking(True)
    app.go.set()
    assert client.read_informational() == 100
    client.send_body(body)
    assert client.read_response().json()["sha256"] == sha256(body)


def test_a_handler_that_does_not_read_stops_the_client(serve, raw_client):
    """Backpressure: while the handler does not read, the connection stops
    reading the socket, so the client can send no more than the kernel's
    buffers hold; once it reads, everything arrives intact."""
    app = stream_app()
    client = raw_client(serve(app))
    body = os.urandom(128 << 20)
    client.send_request("POST", "/ingest", headers={"content-length": str(len(body))}, end=False)
    assert app.started.wait(WAIT)
    view, sent = memoryview(body), 0
    client.sock.settimeout(1.0)  # a send that waits this long: the server stopped reading
    try:
        while sent < len(body):
            sent += client.sock.send(view[sent:sent + 65536])
    except TimeoutError:
        pass
    assert sent < len(body) // 2, f"the server took {sent} bytes without reading them"
    app.go.set()
    client.sock.settimeout(WAIT)
    client.send(view[sent:])
    assert client.read_response().json() == {"size": len(body), "sha256": sha256(body), "body": 0}


def test_a_chunked_stream_over_the_route_limit_fails_the_read(serve, raw_client):
    """Counted as it arrives: the handler reading gets a 413, which closes."""
    app = stream_app()
    client = raw_client(serve(app))
    client.send(b"POST /capped HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
                + chunk(b"a" * 600))
    assert app.started.wait(WAIT)
    client.send(chunk(b"b" * 600))
    response = client.read_response("POST")
    assert response.status == 413
    assert response.closes
    client.assert_closed()


def test_stream_on_another_route_yields_the_body_read(serve, raw_client):
    app = App()

    @app.post("/")
    async def index(request):
        return b"".join([piece async for piece in request.stream()])

    client = raw_client(serve(app))
    assert client.request("POST", "/", chunks=[b"one ", b"two"]).body == b"one two"


def test_a_whole_multipart_body_is_parsed_in_memory_when_asked(spool_dir):
    """A body that is already whole (it came with its head, or the request
    was built by hand) is parsed on the first `form()` or `files`, and its
    uploads stay in memory with it: no temporary file to remove."""
    body, content_type = multipart({"a": "1"}, {"f": ("big.bin", BIG, "application/x")})
    request = Request("POST", "/", "", {"content-type": content_type}, body)
    assert request.files["f"][0].size == len(BIG)
    assert request.files["f"][0].read() == BIG
    assert request.form() == {"a": ["1"]}
    assert request.body == body
    assert no_temporary_files(spool_dir)


def test_a_mounted_app_keeps_its_routes_limits_and_streams(serve, raw_client, spool_dir):
    """Body limits, stream=True and forms are the mounted route's own."""
    api = App()

    @api.put("/ingest", stream=True, max_body_size=5000)
    async def ingest(request):
        return {"size": sum([len(piece) async for piece in request.stream()])}

    @api.post("/upload", max_body_size=64 << 20)
    async def upload(request):
        return {"files": describe(request.files), "body": len(request.body)}

    app = App(max_body_size=1000)
    app.mount(api, "/api")
    client = raw_client(serve(app))
    assert client.request("PUT", "/api/ingest", body=b"x" * 5000).json() == {"size": 5000}
    body, content_type = multipart({}, {"f": ("big.bin", BIG, "application/x")})
    response = client.request("POST", "/api/upload", headers={"content-type": content_type},
                              body=body)
    assert response.json() == {"files": {"f": [["big.bin", "application/x", len(BIG), sha256(BIG)]]},
                               "body": 0}
    response = client.request("PUT", "/api/ingest", body=b"x" * 5001)
    assert response.status == 413
    assert response.closes
    wait_for(lambda: no_temporary_files(spool_dir), message="temporary files removed")


def test_the_test_client_uploads_files(spool_dir):
    from zerodep_http.testing import TestClient

    app = upload_app()
    with TestClient(app) as client:
        response = client.post("/upload", data={"title": "Holiday"},
                               files={"photo": ("beach.jpg", BIG, "image/jpeg")})
    # The test client hands the body over whole, as if it came with the
    # head: it stays in request.body, and the form is parsed in memory.
    answer = response.json()
    assert answer["body"] > len(BIG)
    assert answer["fields"] == {"title": ["Holiday"]}
    assert answer["files"] == {"photo": [["beach.jpg", "image/jpeg", len(BIG), sha256(BIG)]]}
    assert no_temporary_files(spool_dir)
