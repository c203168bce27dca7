"""Uploads from real clients to a real server: curl -F, httpx with files=,
and a headless Chromium submitting a form with `<input type=file multiple>`.
The handler must see the bytes that were sent (sha256), with their names.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from conftest import WAIT, wait_for
from zerodep_http import App, Response


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


FORM_PAGE = """<!doctype html>
<meta charset="utf-8">
<form method="post" action="/upload" enctype="multipart/form-data">
  <input type="text" name="title" value="Holiday ☀">
  <input type="file" name="docs" multiple>
  <textarea name="notes">two
lines</textarea>
</form>
"""


def upload_app() -> App:
    """Records what each upload brought: fields, and per file its name,
    type and sha256."""
    app = App()
    app.received = []  # type: ignore[attr-defined]
    app.uploaded = threading.Event()  # type: ignore[attr-defined]

    @app.get("/form")
    async def form_page(request):
        return Response(FORM_PAGE, content_type="text/html; charset=utf-8")

    @app.post("/upload", max_body_size=256 << 20)
    async def upload(request):
        files = {name: [(upload.filename, upload.content_type, sha256(upload.read()))
                        for upload in uploads]
                 for name, uploads in request.files.items()}
        app.received.append({"fields": request.form(), "files": files})  # type: ignore[attr-defined]
        app.uploaded.set()  # type: ignore[attr-defined]
        return "received"

    return app


@pytest.fixture
def to_send(tmp_path: Path) -> dict[str, bytes]:
    """Files on disk, by name: a photo past the in-memory spool, a larger
    binary, and names a browser or curl must escape."""
    directory = tmp_path / "to-send"
    directory.mkdir()
    files = {"photo.jpg": os.urandom(2 << 20), "big.bin": os.urandom(12 << 20),
             "résumé €.txt": "naïve\r\n--boundary-ish\r\n".encode(), "two words.csv": b"a,b\r\n1,2\r\n"}
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return files


def test_curl_form_with_several_files_and_fields(serve, to_send, tmp_path):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    server = serve(upload_app())
    directory = tmp_path / "to-send"
    result = subprocess.run(
        [curl, "-sS", "--noproxy", "*", "--max-time", str(WAIT * 3), "-o", "-",
         "-F", "title=Holiday",
         "-F", f"photos=@{directory / 'photo.jpg'};type=image/jpeg",
         "-F", f"photos=@{directory / 'big.bin'}",
         "-F", f"photos=@{directory / 'résumé €.txt'};type=text/plain",
         "-F", "note=<" + str(directory / "two words.csv"),
         "-F", f"sheet=@{directory / 'two words.csv'};type=text/csv",
         f"{server.url}/upload"],
        capture_output=True, timeout=WAIT * 4)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"received"
    assert server.app.received == [{
        "fields": {"title": ["Holiday"], "note": ["a,b\r\n1,2\r\n"]},
        "files": {
            "photos": [("photo.jpg", "image/jpeg", sha256(to_send["photo.jpg"])),
                       ("big.bin", "application/octet-stream", sha256(to_send["big.bin"])),
                       ("résumé €.txt", "text/plain", sha256(to_send["résumé €.txt"]))],
            "sheet": [("two words.csv", "text/csv", sha256(to_send["two words.csv"]))]}}]


def test_httpx_files(serve, to_send):
    server = serve(upload_app())
    response = httpx.post(
        server.url + "/upload", data={"title": "Holiday", "tags": ["sea", "sun"]},
        files=[("docs", (name, data, "application/x-test")) for name, data in to_send.items()],
        timeout=WAIT * 3)
    assert response.text == "received"
    assert server.app.received == [{
        "fields": {"title": ["Holiday"], "tags": ["sea", "sun"]},
        "files": {"docs": [(name, "application/x-test", sha256(data))
                           for name, data in to_send.items()]}}]


# -- headless Chromium, driven through the DevTools protocol -----------------------------


class DevTools:
    """A DevTools protocol client over the browser's websocket: commands
    wait for their answer; events are kept for `wait_event`."""

    def __init__(self, socket) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    def _receive(self) -> dict:
        return json.loads(self.socket.recv(timeout=WAIT))

    def send(self, method: str, session: str | None = None, **params) -> dict:
        command_id = next(self.ids)
        message = {"id": command_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        self.socket.send(json.dumps(message))
        while True:
            answer = self._receive()
            if answer.get("id") == command_id:
                assert "error" not in answer, answer["error"]
                return answer["result"]
            self.events.append(answer)

    def wait_event(self, method: str) -> dict:
        while True:
            for index, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(index)
            self.events.append(self._receive())


def devtools_address(profile: Path) -> tuple[str, str] | None:
    """The port and path the browser writes once DevTools listens."""
    try:
        lines = (profile / "DevToolsActivePort").read_text().splitlines()
    except FileNotFoundError:
        return None
    return (lines[0], lines[1]) if len(lines) >= 2 else None


@pytest.fixture
def chromium(tmp_path: Path):
    """A headless Chromium with DevTools on a free port; its browser
    websocket URL."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("chromium is not installed")
    profile = tmp_path / "profile"
    process = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        port, path = wait_for(lambda: devtools_address(profile), timeout=WAIT * 3,
                              message="chromium's DevTools port")
        yield f"ws://127.0.0.1:{port}{path}"
    finally:
        process.terminate()
        try:
            process.wait(WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(WAIT)


def test_chromium_form_with_two_files(serve, to_send, tmp_path, chromium):
    server = serve(upload_app())
    chosen = [tmp_path / "to-send" / "photo.jpg", tmp_path / "to-send" / "résumé €.txt"]
    with connect(chromium, max_size=None, open_timeout=WAIT) as socket:
        devtools = DevTools(socket)
        target = devtools.send("Target.createTarget", url="about:blank")["targetId"]
        session = devtools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        devtools.send("Page.enable", session)
        devtools.send("Page.navigate", session, url=server.url + "/form")
        devtools.wait_event("Page.loadEventFired")
        root = devtools.send("DOM.getDocument", session)["root"]["nodeId"]
        node = devtools.send("DOM.querySelector", session, nodeId=root,
                             selector="input[type=file]")["nodeId"]
        devtools.send("DOM.setFileInputFiles", session, nodeId=node,
                      files=[str(path) for path in chosen])
        devtools.send("Runtime.evaluate", session, expression="document.forms[0].submit()")
        assert server.app.uploaded.wait(WAIT * 3)
    assert server.app.received == [{
        "fields": {"title": ["Holiday ☀"], "notes": ["two\r\nlines"]},
        "files": {"docs": [("photo.jpg", "image/jpeg", sha256(to_send["photo.jpg"])),
                           ("résumé €.txt", "text/plain", sha256(to_send["résumé €.txt"]))]}}]
