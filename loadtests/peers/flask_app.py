"""Flask app with the same three endpoints as ``zerodep_http.demo``.

Served by gunicorn's sync workers in ``loadtests/bench.py``.
"""

from flask import Flask, Response, jsonify, request

app = Flask(__name__)


@app.get("/hello")
def hello() -> Response:
    return Response("Hello, World!", mimetype="text/plain")


@app.get("/json")
def json_message() -> Response:
    return jsonify(message="Hello, World!")


@app.post("/echo")
def echo() -> Response:
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    return Response(request.get_data(), content_type=content_type)
