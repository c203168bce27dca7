"""Bodies made by real encoders, parsed back to the same bytes.

httpx and urllib3 build bodies in memory; curl sends one over a socket to a
small server in the test that reads it with the HTTP parser and feeds the
form builder piece by piece, as the connection will. Every file must come
back with its name, its type and the same sha256.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import WAIT
from zerodep_http.parser import END_OF_MESSAGE, Limits, RequestParser
from zerodep_http.uploads import MultipartForm


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def received(form: MultipartForm) -> dict[str, list[tuple[str, str | None, str]]]:
    """Each file field: (filename, content type, sha256) per upload."""
    return {name: [(upload.filename, upload.content_type, sha256(upload.read()))
                   for upload in uploads]
            for name, uploads in form.files.items()}


def parse_in_pieces(content_type: str, body: bytes, size: int = 1000) -> MultipartForm:
    form = MultipartForm(content_type)
    for start in range(0, len(body), size):
        form.feed(body[start:start + size])
    form.end_of_input()
    return form


PHOTO = os.urandom(300_000)
NOTES = "line one\r\nline two\n--not a boundary\r\n".encode()


# -- httpx ---------------------------------------------------------------------------


def test_httpx_body() -> None:
    request = httpx.Request(
        "POST", "http://testserver/upload",
        data={"title": "Holiday", "tags": ["sea", "sun ☀"]},
        files=[("photos", ("beach.jpg", PHOTO, "image/jpeg")),
               ("photos", ('we"ird\\name.txt', NOTES, "text/plain")),
               ("doc", ("résumé.pdf", b"%PDF-1.7", "application/pdf"))])
    with parse_in_pieces(request.headers["content-type"], request.read()) as form:
        assert form.fields == {"title": ["Holiday"], "tags": ["sea", "sun ☀"]}
        assert received(form) == {
            "photos": [("beach.jpg", "image/jpeg", sha256(PHOTO)),
                       ('we"ird\\name.txt', "text/plain", sha256(NOTES))],
            "doc": [("résumé.pdf", "application/pdf", sha256(b"%PDF-1.7"))]}


# Names as httpx sends them back unchanged: it percent-encodes control
# characters other than CR and LF, which browsers never send, and a literal
# "%22" cannot be told from an encoded quote.
form_names = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=10).filter(
    lambda name: re.search("%(22|0[AaDd])", name) is None)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(form_names, st.text(max_size=20)), max_size=4),
       # httpx leaves out an empty filename, which makes the part a field.
       st.lists(st.tuples(form_names, form_names.filter(bool), st.binary(max_size=3000)),
                min_size=1, max_size=4),
       st.integers(1, 500))
def test_any_httpx_body(fields, files, piece_size) -> None:
    expected_fields: dict[str, list[str]] = {}
    for name, value in fields:
        expected_fields.setdefault(name, []).append(value)
    request = httpx.Request("POST", "http://testserver/", data=expected_fields,
                            files=[(name, (filename, data, "application/octet-stream"))
                                   for name, filename, data in files])
    expected_files: dict[str, list[tuple[str, str | None, str]]] = {}
    for name, filename, data in files:
        expected_files.setdefault(name, []).append(
            (filename, "application/octet-stream", sha256(data)))
    with parse_in_pieces(request.headers["content-type"], request.read(), piece_size) as form:
        assert form.fields == expected_fields
        assert received(form) == expected_files


# -- urllib3 -------------------------------------------------------------------------------


def test_urllib3_body() -> None:
    urllib3 = pytest.importorskip("urllib3")
    body, content_type = urllib3.encode_multipart_formdata([
        ("title", "Holiday"),
        ("photos", ("beach.jpg", PHOTO, "image/jpeg")),
        ("photos", ('quo"te\r\nd.txt', NOTES, "text/plain")),
        ("note", "é"),
    ])
    with parse_in_pieces(content_type, body) as form:
        assert form.fields == {"title": ["Holiday"], "note": ["é"]}
        assert received(form) == {"photos": [("beach.jpg", "image/jpeg", sha256(PHOTO)),
                                             ('quo"te\r\nd.txt', "text/plain", sha256(NOTES))]}


# -- curl over a socket ------------------------------------------------------------------------


class UploadCatcher:
    """Accepts one request on 127.0.0.1, feeds its body to a MultipartForm
    piece by piece as it arrives, answers 200 and closes."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(WAIT)
        self.port = self.listener.getsockname()[1]
        self.form: MultipartForm | None = None
        self.pieces = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            connection, _ = self.listener.accept()
            with connection:
                connection.settimeout(WAIT)
                self._read_request(connection)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
        finally:
            self.listener.close()

    def _read_request(self, connection: socket.socket) -> None:
        parser = RequestParser(Limits(body_size=1 << 30))
        while True:
            data = connection.recv(65536)
            assert data, "the client closed before the body ended"
            parser.feed(data)
            while (event := parser.next_event()) is not None:
                if event.__class__ is tuple:  # the head: a RequestHead
                    _, _, _, headers, content_length, _, expect_continue = event
                    assert content_length != 0, "a form with no body"
                    self.form = MultipartForm(headers["content-type"])
                    if expect_continue:
                        connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                elif event is END_OF_MESSAGE:
                    self.form.end_of_input()
                    return
                else:
                    self.form.feed(event)
                    self.pieces += 1

    def join(self) -> MultipartForm:
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the server thread did not finish"
        if self.error is not None:
            raise self.error
        assert self.form is not None
        return self.form


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "to-send"
    directory.mkdir()
    (directory / "photo.jpg").write_bytes(PHOTO)
    (directory / "big.bin").write_bytes(os.urandom(3 << 20))
    (directory / "résumé €.txt").write_bytes(NOTES)
    (directory / "two words.csv").write_bytes(b"a,b\r\n1,2\r\n")
    return directory


@pytest.mark.parametrize("escape", [[], ["--form-escape"]], ids=["percent", "backslash"])
def test_curl_form_upload(upload_dir: Path, escape: list[str]) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    catcher = UploadCatcher()
    files = {name: (upload_dir / name).read_bytes()
             for name in ("photo.jpg", "big.bin", "résumé €.txt", "two words.csv")}
    result = subprocess.run(
        [curl, "-sS", "--noproxy", "*", "--max-time", str(WAIT), "-o", os.devnull,
         "-w", "%{http_code}", *escape,
         "-F", "title=Holiday",
         "-F", f"photos=@{upload_dir / 'photo.jpg'};type=image/jpeg",
         "-F", f"photos=@{upload_dir / 'big.bin'}",
         "-F", f"photos=@{upload_dir / 'résumé €.txt'};type=text/plain",
         "-F", f'renamed=@{upload_dir / "two words.csv"};filename="quo\\"te.csv"',
         "-F", "note=<" + str(upload_dir / "two words.csv"),
         f"http://127.0.0.1:{catcher.port}/upload"],
        capture_output=True, timeout=WAIT * 3)
    form = catcher.join()
    try:
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"200"
        assert catcher.pieces > 1  # the body arrived, and was parsed, in pieces
        assert form.fields == {"title": ["Holiday"], "note": ["a,b\r\n1,2\r\n"]}
        assert received(form) == {
            "photos": [("photo.jpg", "image/jpeg", sha256(files["photo.jpg"])),
                       ("big.bin", "application/octet-stream", sha256(files["big.bin"])),
                       ("résumé €.txt", "text/plain", sha256(files["résumé €.txt"]))],
            "renamed": [('quo"te.csv', "application/octet-stream", sha256(files["two words.csv"]))]}
    finally:
        form.close()
