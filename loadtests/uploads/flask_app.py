"""Flask under gunicorn: `request.files` (Werkzeug's parser, spooled to disk)
and `request.stream`."""

from flask import Flask, request

app = Flask(__name__)


@app.post("/multipart")
def multipart():
    upload = request.files["file"]
    return {"size": upload.stream.seek(0, 2), "fields": len(request.form)}


@app.post("/stream")
def stream():
    size = 0
    while piece := request.stream.read(65536):
        size += len(piece)
    return {"size": size}
