"""Flask served as a WSGI application by `zerodep-http -w 2` (auto-detected),
with what Flask users rely on, and the server's own features (logs,
limits, probes, proxies, metrics, signals) applied to it unchanged."""

from __future__ import annotations

import re
import signal
import socket
import threading

import httpx
import pytest

from conftest import RawClient
from hosting_support import client, running, start_master
from supervisor_support import wait_until

APP = '''
import os, time
from flask import (Flask, Response, abort, jsonify, make_response, redirect, request,
                   send_file, session, stream_with_context, url_for)

app = Flask(__name__, static_folder="static")
app.secret_key = "not so secret"
BOOTED = {"pid": os.getpid()}  # startup code: runs in every worker that imports the app

@app.get("/json")
def data():
    return jsonify(message="hello", booted=BOOTED["pid"] == os.getpid(),
                   remote=request.remote_addr, scheme=request.scheme)

@app.post("/form")
def form():
    upload = request.files["upload"]
    return jsonify(name=request.form["name"], filename=upload.filename,
                   content=upload.read().decode(), type=upload.mimetype)

@app.post("/echo-json")
def echo_json():
    return jsonify(got=request.get_json())

@app.get("/login")
def login():
    session["user"] = request.args["user"]
    response = redirect(url_for("me"))
    response.set_cookie("flavour", "oat", httponly=True)
    return response

@app.get("/me")
def me():
    return jsonify(user=session.get("user"), flavour=request.cookies.get("flavour"))

@app.get("/stream")
def stream():
    def lines():
        for number in range(3):
            yield f"line {number}\\n"
    return Response(stream_with_context(lines()), mimetype="text/plain")

@app.get("/sse")
def sse():
    def events():
        for number in range(3):
            yield f"data: {number}\\n\\n"
            time.sleep(0.01)
    return Response(events(), mimetype="text/event-stream")

@app.get("/download")
def download():
    return send_file(os.path.join(app.root_path, "static", "big.bin"), conditional=True)

@app.get("/slow")
def slow():
    os.write(1, b"slow request started\\n")  # one write: workers share the pipe
    time.sleep(float(request.args.get("s", "1")))
    return "slow done"

@app.get("/boom")
def boom():
    raise ValueError("flask view failed")

@app.get("/teapot")
def teapot():
    abort(418)

@app.errorhandler(404)
def not_found(error):
    return jsonify(error="custom not found"), 404
'''

BIG = bytes(range(256)) * 1024


@pytest.fixture(scope="module")
def master(tmp_path_factory):
    directory = tmp_path_factory.mktemp("flask")
    (directory / "static").mkdir()
    (directory / "static" / "big.bin").write_bytes(BIG)
    (directory / "static" / "hello.txt").write_text("static hello\n")
    yield from running(start_master(
        directory, {"flaskapp.py": APP}, "flaskapp:app", "--access-logfile", "-",
        "--health-path", "/healthz", "--ready-path", "/readyz", "--max-body-size", "200000",
        "--metrics-bind", "127.0.0.1:0"))


@pytest.fixture
def http(master):
    with client(master) as session:
        yield session


def test_detected_as_wsgi_and_json(http):
    response = http.get("/json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": "hello", "booted": True, "remote": "127.0.0.1",
                               "scheme": "http"}


def test_json_request_body(http):
    assert http.post("/echo-json", json={"a": [1, 2]}).json() == {"got": {"a": [1, 2]}}


def test_form_and_file_upload(http):
    response = http.post("/form", data={"name": "zed"},
                         files={"upload": ("notes.txt", b"file body", "text/plain")})
    assert response.json() == {"name": "zed", "filename": "notes.txt", "content": "file body",
                               "type": "text/plain"}


def test_session_cookie_and_redirect(http):
    response = http.get("/login", params={"user": "ada"})
    assert response.status_code == 302
    assert response.headers["location"] == "/me"
    assert len(response.headers.get_list("set-cookie")) == 2
    assert http.get("/me").json() == {"user": "ada", "flavour": "oat"}


def test_streaming_response_is_chunked(master):
    with RawClient(("127.0.0.1", master.port)) as raw:
        response = raw.request("GET", "/stream")
    assert response.header("transfer-encoding") == "chunked"
    assert response.body == b"line 0\nline 1\nline 2\n"


def test_server_sent_events(http):
    with http.stream("GET", "/sse") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert events == ["data: 0", "data: 1", "data: 2"]


def test_static_folder(http):
    response = http.get("/static/hello.txt")
    assert (response.status_code, response.text) == (200, "static hello\n")


def test_send_file_whole_and_a_range(http):
    whole = http.get("/download")
    assert whole.content == BIG
    ranged = http.get("/download", headers={"range": "bytes=10-19"})
    assert ranged.status_code == 206
    assert ranged.content == BIG[10:20]
    assert ranged.headers["content-range"] == f"bytes 10-19/{len(BIG)}"
    etag = whole.headers["etag"]
    assert http.get("/download", headers={"if-none-match": etag}).status_code == 304


def test_error_pages(http, master):
    assert http.get("/missing").json() == {"error": "custom not found"}
    assert http.get("/teapot").status_code == 418
    boom = http.get("/boom")
    assert boom.status_code == 500
    assert "flask view failed" not in boom.text
    master.wait_for("ValueError: flask view failed")  # Flask logs it to wsgi.errors/stderr


def test_access_log_line_for_a_hosted_request(http, master):
    http.get("/json", headers={"user-agent": "flask-test/1"})
    line = master.wait_for(r'"GET /json HTTP/1.1" 200 .*flask-test/1', stream="stdout").string
    assert re.match(r'127\.0\.0\.1 - - \[', line)


def test_probe_paths_are_answered_by_the_server(http):
    assert http.get("/healthz").text == "ok\n"
    assert http.get("/readyz").status_code == 200


def test_body_size_limit_and_strict_parsing(master):
    with RawClient(("127.0.0.1", master.port)) as raw:
        assert raw.request("POST", "/echo-json", body=b"x" * 300000).status == 413
    with socket.create_connection(("127.0.0.1", master.port), timeout=10) as sock:
        sock.sendall(b"POST /echo-json HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")


def test_forwarded_headers_from_a_trusted_proxy(http):
    data = http.get("/json", headers={"x-forwarded-for": "203.0.113.7",
                                      "x-forwarded-proto": "https"}).json()
    assert (data["remote"], data["scheme"]) == ("203.0.113.7", "https")


def test_metrics_count_hosted_requests(http, master):
    url = master.wait_for(r"Metrics at: (\S+)").group(1)
    for _ in range(3):
        http.get("/json")
    text = lambda: httpx.get(url, timeout=10).text  # noqa: E731
    wait_until(lambda: re.search(r'zerodep_http_requests_total\{method="GET",status="2xx"\} '
                                 r'([0-9.]+)', text()), what="requests counted")


def test_reload_and_drain_with_a_hosted_app(tmp_path):
    """HUP starts a new generation of the Flask app; TERM lets an in-flight
    request finish."""
    server = start_master(tmp_path, {"flaskapp.py": APP}, "flaskapp:app")
    for _ in running(server):
        with client(server) as http:
            before = http.get("/json").status_code
            server.signal(signal.SIGHUP)
            server.wait_for("Reload complete", timeout=60)
            assert (before, http.get("/json").status_code) == (200, 200)
            results = []
            slow = threading.Thread(target=lambda: results.append(
                http.get("/slow", params={"s": "1"}).text))
            slow.start()
            server.wait_for("slow request started", stream="stdout")
            server.signal(signal.SIGTERM)
            slow.join(15)
            assert results == ["slow done"]
            assert server.wait(15) == 0
