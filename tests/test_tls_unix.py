"""Serving over TLS (an ssl.SSLContext) and on unix sockets."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import socket
import ssl
import stat
import subprocess

import httpx
import pytest

from zerodep_http import App, FileResponse, StreamingResponse
from zerodep_http.binding import BindError

from conftest import WAIT, make_self_signed_cert


@pytest.fixture
def files(tmp_path):
    directory = tmp_path / "files"
    directory.mkdir()
    (directory / "small.txt").write_text("small file")
    size = 300 * 1024 + 7  # over 64 KiB: the sendfile path
    (directory / "big.bin").write_bytes((hashlib.sha256(b"tls").digest() * (size // 32 + 1))[:size])
    return directory


@pytest.fixture
def app(files) -> App:
    app = App()
    app.static("/static", files)

    @app.get("/")
    async def index(request):
        return {"scheme": request.scheme, "client_addr": request.client_addr}

    @app.post("/echo")
    async def echo(request):
        return request.body

    @app.get("/stream")
    async def stream(request):
        async def gen():
            for i in range(3):
                yield f"chunk {i};"
                await asyncio.sleep(0)
        return StreamingResponse(gen())

    @app.get("/download")
    async def download(request):
        return FileResponse(files / "big.bin")

    return app


# -- TLS ---------------------------------------------------------------------------------


@pytest.fixture
def tls(tmp_path):
    cert, key = make_self_signed_cert(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=cert)
    return server_context, client_context


def test_tls_requests(serve, app, tls):
    server_context, client_context = tls
    server = serve(app, ssl_context=server_context)
    assert server.url.startswith("https://")
    with httpx.Client(base_url=server.url, verify=client_context, timeout=WAIT) as client:
        response = client.get("/")
        assert response.status_code == 200
        assert response.json()["scheme"] == "https"
        assert client.post("/echo", content=b"x" * 100000).content == b"x" * 100000
        response = client.get("/stream")
        assert response.headers["transfer-encoding"] == "chunked"
        assert response.text == "chunk 0;chunk 1;chunk 2;"
        assert client.get("/static/small.txt").text == "small file"


def test_tls_large_file(serve, app, tls, files):
    server_context, client_context = tls
    expected = hashlib.sha256((files / "big.bin").read_bytes()).hexdigest()
    server = serve(app, ssl_context=server_context)
    with httpx.Client(base_url=server.url, verify=client_context, timeout=WAIT) as client:
        for path in ("/static/big.bin", "/download", "/static/big.bin"):
            response = client.get(path)
            assert response.status_code == 200
            assert response.headers["content-length"] == str((files / "big.bin").stat().st_size)
            assert hashlib.sha256(response.content).hexdigest() == expected
        response = client.get("/static/big.bin", headers={"range": "bytes=70000-"})
        assert response.status_code == 206
        assert response.content == (files / "big.bin").read_bytes()[70000:]
        assert client.get("/static/small.txt").text == "small file"


def test_tls_with_curl(serve, app, tls, tmp_path, files):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    server_context, _ = tls
    server = serve(app, ssl_context=server_context)
    out = tmp_path / "out.bin"
    result = subprocess.run(
        [curl, "-sS", "--cacert", str(tmp_path / "cert.pem"), "-o", str(out),
         "-w", "%{http_code}", f"{server.url}/static/big.bin"],
        capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"200"
    assert out.read_bytes() == (files / "big.bin").read_bytes()


def test_plain_http_to_a_tls_port_does_not_hurt(serve, app, tls):
    server_context, client_context = tls
    server = serve(app, ssl_context=server_context)
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        sock.settimeout(WAIT)
        try:
            while sock.recv(4096):
                pass
        except (ConnectionResetError, TimeoutError):
            pass
    with httpx.Client(base_url=server.url, verify=client_context, timeout=WAIT) as client:
        assert client.get("/").status_code == 200


# -- unix sockets --------------------------------------------------------------------------


def unix_client(path: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=path), base_url="http://localhost",
                        timeout=WAIT)


def test_unix_socket_is_served_with_mode_0600(serve, app, short_tmp, files):
    path = os.path.join(short_tmp, "app.sock")
    server = serve(app, socket=path)
    info = os.stat(path)
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    with unix_client(path) as client:
        response = client.get("/")
        assert response.status_code == 200
        assert client.post("/echo", content=b"over unix").content == b"over unix"
        assert client.get("/stream").text == "chunk 0;chunk 1;chunk 2;"
        assert client.get("/static/big.bin").content == (files / "big.bin").read_bytes()
    server.stop()
    assert not os.path.exists(path), "the socket file was left behind"


def test_unix_socket_with_curl(serve, app, short_tmp):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    path = os.path.join(short_tmp, "curl.sock")
    serve(app, socket=path)
    result = subprocess.run([curl, "-sS", "--unix-socket", path, "http://localhost/static/small.txt"],
                            capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"small file"


def test_stale_unix_socket_is_replaced(serve, app, short_tmp):
    path = os.path.join(short_tmp, "stale.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    server = serve(app, socket=path)
    with unix_client(path) as client:
        assert client.get("/").status_code == 200
    server.stop()
    assert not os.path.exists(path)


def test_regular_file_at_the_socket_path_is_refused(app, short_tmp):
    from conftest import ServerThread

    path = os.path.join(short_tmp, "regular")
    with open(path, "w") as file:
        file.write("precious data")
    with pytest.raises(BindError) as info:
        ServerThread(app, socket=path)
    assert path in str(info.value)
    with open(path) as file:
        assert file.read() == "precious data"


def test_missing_directory_is_refused(app, short_tmp):
    from conftest import ServerThread

    path = os.path.join(short_tmp, "no", "such", "dir", "app.sock")
    with pytest.raises(BindError) as info:
        ServerThread(app, socket=path)
    assert "does not exist" in str(info.value) or "No such file" in str(info.value)


def test_live_unix_socket_is_not_stolen(serve, app, short_tmp):
    from conftest import ServerThread

    path = os.path.join(short_tmp, "live.sock")
    serve(app, socket=path)
    with pytest.raises(BindError):
        ServerThread(App(), socket=path)
    with unix_client(path) as client:
        assert client.get("/").status_code == 200


def test_tcp_port_in_use_is_a_bind_error(serve, app):
    from conftest import ServerThread

    first = serve(app)
    with pytest.raises(BindError) as info:
        ServerThread(App(), port=first.port)
    assert str(first.port) in str(info.value)
