"""Flask app with the routes of ``loadtests/apps/benchapp.py`` but ``/sse``.

Served by gunicorn's sync workers and by its gthread workers in
``loadtests/bench.py``. Flask's handlers are plain functions, so
``/sync/hello`` and ``/sync/json`` are ``/hello`` and ``/json`` again;
``/static`` is Flask's static folder.
"""

import os

from flask import Flask, Response, jsonify, request, session

PAYLOAD = b"x" * 1_000_000

app = Flask(__name__, static_folder=os.environ["BENCH_STATIC_DIR"], static_url_path="/static")
app.secret_key = "benchmark secret"


@app.get("/hello")
@app.get("/sync/hello", endpoint="sync_hello")
def hello() -> Response:
    return Response("Hello, World!", mimetype="text/plain")


@app.get("/json")
@app.get("/sync/json", endpoint="sync_json")
def json_message() -> Response:
    return jsonify(message="Hello, World!")


@app.post("/echo")
def echo() -> Response:
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    return Response(request.get_data(), content_type=content_type)


@app.get("/bytes")
def payload() -> Response:
    return Response(PAYLOAD, mimetype="application/octet-stream")


@app.post("/upload")
def upload() -> Response:
    return Response(str(len(request.get_data())), mimetype="text/plain")


@app.get("/session")
def session_count() -> Response:
    count = session.get("count", 0) + 1
    session["count"] = count
    return Response(str(count), mimetype="text/plain")
