"""app.static() and FileResponse: validators, conditional requests, ranges,
HEAD, large files via sendfile, and path traversal."""

from __future__ import annotations

import email.utils
import hashlib
import socket
import os

import httpx
import pytest

from zerodep_http import App, FileResponse, JSONResponse

CONTENT = b"0123456789abcdefghij"  # 20 bytes


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "hello.txt").write_bytes(CONTENT)
    (root / "page.html").write_text("<h1>hi</h1>")
    (root / "data.json").write_text('{"a": 1}')
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    (root / "archive.tar.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 50)
    (root / "noext").write_bytes(b"plain bytes")
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_text("sub index")
    (root / "sub" / "nested.txt").write_text("nested")
    (root / "with space.txt").write_text("spaced")
    (root / "caf\u00e9.txt").write_text("accent")
    (root / "emptydir").mkdir()
    (root / "empty.txt").write_bytes(b"")
    (tmp_path / "secret").write_text("TOP SECRET")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "file.txt").write_text("TOP SECRET DIR")
    os.symlink(tmp_path / "secret", root / "link-out")
    os.symlink(tmp_path / "outside", root / "dirlink-out")
    os.symlink(root / "hello.txt", root / "link-in")
    os.symlink("sub/nested.txt", root / "relative-link-in")
    size = 5 * 1024 * 1024 + 123
    big = (hashlib.sha256(b"seed").digest() * (size // 32 + 1))[:size]
    (root / "big.bin").write_bytes(big)
    (root / "edge.bin").write_bytes(b"e" * 65536)
    (root / "edge1.bin").write_bytes(b"f" * 65537)
    return tmp_path


@pytest.fixture
def app(site) -> App:
    app = App()
    app.static("/static", site / "root")

    @app.get("/file/<name>")
    async def file(request, name):
        return FileResponse(site / "root" / name)

    @app.get("/missing-file")
    async def missing(request):
        return FileResponse(site / "root" / "does-not-exist.txt")

    @app.get("/custom")
    async def custom(request):
        return FileResponse(site / "root" / "hello.txt", headers={"x-extra": "1"},
                            content_type="application/x-custom")

    @app.errorhandler(404)
    async def not_found(request, exc):
        return JSONResponse({"error": "not found", "path": request.path}, status_code=404)

    return app


@pytest.fixture
def client(serve, raw_client, app):
    return raw_client(serve(app))


def test_file_with_validators(client, site):
    response = client.request("GET", "/static/hello.txt")
    assert response.status == 200
    assert response.body == CONTENT
    assert response.header("content-length") == str(len(CONTENT))
    assert response.header("content-type") == "text/plain; charset=utf-8"
    etag = response.header("etag")
    assert etag and etag.startswith('"') and etag.endswith('"')
    mtime = os.stat(site / "root" / "hello.txt").st_mtime
    assert response.header("last-modified") == email.utils.formatdate(mtime, usegmt=True)
    assert response.header("accept-ranges") == "bytes"


@pytest.mark.parametrize("name,content_type", [
    ("page.html", "text/html"), ("data.json", "application/json"), ("image.png", "image/png"),
    ("noext", "application/octet-stream"), ("archive.tar.gz", "application/"),
])
def test_content_type_from_mimetypes(client, name, content_type):
    response = client.request("GET", f"/static/{name}")
    assert response.status == 200
    assert response.header("content-type").startswith(content_type)


def test_directory_index_and_nested(client):
    assert client.request("GET", "/static/sub/").text == "sub index"
    assert client.request("GET", "/static/sub/nested.txt").text == "nested"
    assert client.request("GET", "/static/with%20space.txt").text == "spaced"
    assert client.request("GET", "/static/caf%C3%A9.txt").text == "accent"
    assert client.request("GET", "/static/hello.txt?v=123&x").body == CONTENT


def test_empty_file(client):
    response = client.request("GET", "/static/empty.txt")
    assert (response.status, response.body, response.header("content-length")) == (200, b"", "0")


def test_if_none_match_gives_304(client):
    etag = client.request("GET", "/static/hello.txt").header("etag")
    for value in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        response = client.request("GET", "/static/hello.txt", headers={"if-none-match": value})
        assert response.status == 304, value
        assert response.body == b""
        assert response.header("etag") == etag
    response = client.request("GET", "/static/hello.txt", headers={"if-none-match": '"nope"'})
    assert response.status == 200
    assert response.body == CONTENT


def test_if_modified_since_gives_304(client):
    last_modified = client.request("GET", "/static/hello.txt").header("last-modified")
    response = client.request("GET", "/static/hello.txt", headers={"if-modified-since": last_modified})
    assert response.status == 304
    assert response.body == b""
    response = client.request("GET", "/static/hello.txt",
                              headers={"if-modified-since": "Thu, 01 Jan 1970 00:00:00 GMT"})
    assert response.status == 200
    # An invalid date is ignored.
    response = client.request("GET", "/static/hello.txt", headers={"if-modified-since": "yesterday"})
    assert response.status == 200


def test_if_none_match_takes_precedence(client):
    last_modified = client.request("GET", "/static/hello.txt").header("last-modified")
    response = client.request("GET", "/static/hello.txt",
                              headers={"if-none-match": '"other"', "if-modified-since": last_modified})
    assert response.status == 200


@pytest.mark.parametrize("spec,start,end", [
    ("bytes=0-4", 0, 4), ("bytes=5-", 5, 19), ("bytes=-3", 17, 19), ("bytes=10-10", 10, 10),
    ("bytes=15-100", 15, 19), ("bytes=-100", 0, 19),
])
def test_single_range_is_206(client, spec, start, end):
    response = client.request("GET", "/static/hello.txt", headers={"range": spec})
    assert response.status == 206
    assert response.body == CONTENT[start:end + 1]
    assert response.header("content-range") == f"bytes {start}-{end}/{len(CONTENT)}"
    assert response.header("content-length") == str(end - start + 1)


@pytest.mark.parametrize("spec", ["bytes=20-", "bytes=100-200", "bytes=-0"])
def test_unsatisfiable_range_is_416(client, spec):
    response = client.request("GET", "/static/hello.txt", headers={"range": spec})
    assert response.status == 416
    assert response.header("content-range") == f"bytes */{len(CONTENT)}"
    assert response.body == b""
    assert client.request("GET", "/static/hello.txt").status == 200


@pytest.mark.parametrize("spec", ["bytes=0-1,5-6", "bytes=0-1, 3-4", "items=0-4", "bytes=5-2",
                                  "bytes=abc"])
def test_multi_or_invalid_range_is_full_200(client, spec):
    response = client.request("GET", "/static/hello.txt", headers={"range": spec})
    assert response.status == 200
    assert response.body == CONTENT
    assert not response.has("content-range")


def test_if_range(client):
    etag = client.request("GET", "/static/hello.txt").header("etag")
    response = client.request("GET", "/static/hello.txt", headers={"range": "bytes=0-1", "if-range": etag})
    assert (response.status, response.body) == (206, b"01")
    response = client.request("GET", "/static/hello.txt",
                              headers={"range": "bytes=0-1", "if-range": '"stale"'})
    assert (response.status, response.body) == (200, CONTENT)


def test_head(client):
    get = client.request("GET", "/static/hello.txt")
    head = client.request("HEAD", "/static/hello.txt")
    assert head.status == 200
    assert head.body == b""
    for name in ("content-length", "content-type", "etag", "last-modified"):
        assert head.header(name) == get.header(name), name
    big_head = client.request("HEAD", "/static/big.bin")
    assert big_head.header("content-length") == str(5 * 1024 * 1024 + 123)
    assert big_head.body == b""
    assert client.request("GET", "/static/hello.txt").body == CONTENT


def test_large_file_arrives_intact(serve, app, site):
    expected = hashlib.sha256((site / "root" / "big.bin").read_bytes()).hexdigest()
    server = serve(app)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for _ in range(2):  # twice on one connection: the state is restored after sendfile
            digest = hashlib.sha256()
            with http.stream("GET", "/static/big.bin") as response:
                assert response.status_code == 200
                assert response.headers["content-length"] == str(5 * 1024 * 1024 + 123)
                for data in response.iter_bytes():
                    digest.update(data)
            assert digest.hexdigest() == expected
        assert http.get("/static/hello.txt").content == CONTENT


def test_large_file_reaches_a_half_closed_client(serve, app, site):
    """A client may shut down its sending side once the request is out
    (`nc -N`): unlike a stream, a file still has an end to send it."""
    expected = (site / "root" / "big.bin").read_bytes()
    server = serve(app)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        received = bytearray()
        while chunk := sock.recv(1 << 16):
            received += chunk
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == expected


def test_large_file_range(client, site):
    big = (site / "root" / "big.bin").read_bytes()
    start, end = 1000000, 4000000
    response = client.request("GET", "/static/big.bin", headers={"range": f"bytes={start}-{end}"})
    assert response.status == 206
    assert response.body == big[start:end + 1]
    response = client.request("GET", "/static/big.bin", headers={"range": "bytes=-70000"})
    assert response.body == big[-70000:]


@pytest.mark.parametrize("name,byte", [("edge.bin", b"e"), ("edge1.bin", b"f")])
def test_files_around_the_small_file_threshold(client, name, byte):
    response = client.request("GET", f"/static/{name}")
    size = 65536 if name == "edge.bin" else 65537
    assert response.body == byte * size
    assert client.request("GET", "/static/hello.txt").body == CONTENT


def test_pipelined_file_requests(client):
    from conftest import h11_request_bytes

    client.send(h11_request_bytes("GET", "/static/edge1.bin") + h11_request_bytes("GET", "/static/hello.txt")
                + h11_request_bytes("HEAD", "/static/big.bin") + h11_request_bytes("GET", "/static/noext"))
    assert len(client.read_response("GET").body) == 65537
    assert client.read_response("GET").body == CONTENT
    assert client.read_response("HEAD").body == b""
    assert client.read_response("GET").body == b"plain bytes"


TRAVERSALS = [
    "/static/../secret",
    "/static/%2e%2e/secret",
    "/static/%2E%2E/secret",
    "/static/%2e%2e%2fsecret",
    "/static/..%2fsecret",
    "/static/..%2Fsecret",
    "/static/sub/../../secret",
    "/static/sub/%2e%2e/%2e%2e/secret",
    "/static/..\\secret",
    "/static/..%5csecret",
    "/static/..%5Csecret",
    "/static/sub\\..\\..\\secret",
    "/static/hello.txt%00.png",
    "/static/%00",
    "/static//etc/passwd",
    "/static/%2fetc/passwd",
    "/static/%2Fetc%2Fpasswd",
    "/static/link-out",
    "/static/dirlink-out/file.txt",
    "/static/../../../../../../etc/passwd",
    "/static/.%2e/secret",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_is_404(client, target):
    response = client.request("GET", target)
    assert response.status == 404, target
    assert b"TOP SECRET" not in response.body
    assert b"root:" not in response.body


def test_symlink_inside_the_root_is_served(client):
    assert client.request("GET", "/static/link-in").body == CONTENT
    assert client.request("GET", "/static/relative-link-in").text == "nested"


@pytest.mark.parametrize("target", ["/static/nope.txt", "/static/sub/nope", "/static/emptydir",
                                    "/static/emptydir/", "/static/hello.txt/extra"])
def test_missing_is_404(client, target):
    response = client.request("GET", target)
    assert response.status == 404
    assert response.json()["error"] == "not found"


def test_file_response_missing_path_goes_through_errorhandler_404(client):
    response = client.request("GET", "/missing-file")
    assert response.status == 404
    assert response.json() == {"error": "not found", "path": "/missing-file"}


def test_file_response_directory_is_404(client):
    response = client.request("GET", "/file/sub")
    assert response.status == 404


def test_file_response_options(client):
    response = client.request("GET", "/custom")
    assert response.status == 200
    assert response.header("content-type") == "application/x-custom"
    assert response.header("x-extra") == "1"
    assert response.body == CONTENT
    etag = response.header("etag")
    assert client.request("GET", "/custom", headers={"if-none-match": etag}).status == 304
    response = client.request("GET", "/custom", headers={"range": "bytes=0-1"})
    assert (response.status, response.body) == (206, b"01")


def test_static_directory_must_exist(tmp_path):
    app = App()
    with pytest.raises((ValueError, OSError)):
        app.static("/x", tmp_path / "missing")


def test_static_only_answers_get_and_head(client):
    response = client.request("POST", "/static/hello.txt", body=b"")
    assert response.status == 405
    assert "GET" in response.header("allow")
