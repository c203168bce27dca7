"""Uploads and the multipart form builder: fields, files, limits, temporary
files and memory.

Temporary files are watched where they live: every test that spools runs
with TMPDIR pointing at a directory of its own, and checks both the
directory and this process' open descriptors (a spooled upload is an
unlinked file, visible only through its descriptor).
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from zerodep_http.multipart import MultipartError, MultipartLimits, MultipartTooLarge
from zerodep_http.uploads import FormLimits, MultipartForm, UploadFile, safe_filename

from conftest import open_files_in

BOUNDARY = "7MA4YWxkTrZu0gW"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def field(name: str, value: bytes, *headers: bytes) -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n'.encode()
            + b"".join(header + b"\r\n" for header in headers) + b"\r\n" + value + b"\r\n")


def file(name: str, filename: str, data: bytes, content_type: str = "application/octet-stream") -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
            + data + b"\r\n")


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def assert_no_temporary_files(directory: Path) -> None:
    assert list(directory.iterdir()) == []
    assert open_files_in(directory) == []


def build(raw: bytes, chunk_size: int | None = None, limits: FormLimits = FormLimits(),
          multipart_limits: MultipartLimits = MultipartLimits()) -> MultipartForm:
    form = MultipartForm(CONTENT_TYPE, limits, multipart_limits)
    size = chunk_size or len(raw) or 1
    for start in range(0, len(raw), size):
        form.feed(raw[start:start + size])
    form.end_of_input()
    return form


# -- safe_filename -------------------------------------------------------------------

SAFE_NAMES = [
    ("report.pdf", "report.pdf"),
    ("résumé €.pdf", "résumé €.pdf"),
    ("../../etc/passwd", "passwd"),
    ("..\\..\\Windows\\System32\\evil.dll", "evil.dll"),
    ("C:\\fakepath\\photo.jpg", "photo.jpg"),
    ("/absolute/path.txt", "path.txt"),
    ("..", "upload"),
    (".", "upload"),
    ("", "upload"),
    ("dir/", "upload"),
    ("..\x00", "upload"),
    (".bashrc", "bashrc"),
    ("...hidden", "hidden"),
    (". . .x", "x"),
    ("my..file.txt", "my..file.txt"),
    ("a\x00b.txt", "ab.txt"),
    ("line\r\nbreak.txt", "linebreak.txt"),
    ("\x1b[31mred\x7f\x85.txt", "[31mred.txt"),
    ("invoice\u202egnp.exe", "invoicegnp.exe"),      # right-to-left override
    ("a\u2028b\u200bc.txt", "abc.txt"),              # line separator, zero-width space
    ("trailing. . ", "trailing"),
    ("  spaced out  ", "spaced out"),
    ("\x00\x01\x02", "upload"),
]


@pytest.mark.parametrize("filename, expected", SAFE_NAMES)
def test_safe_filename(filename: str, expected: str) -> None:
    assert safe_filename(filename) == expected
    assert UploadFile(filename).safe_filename == expected


def test_safe_filename_fits_a_file_system_name() -> None:
    long_name = safe_filename("a" * 300 + ".tar.gz")
    assert len(long_name.encode()) == 255 and long_name.endswith(".gz")
    wide = safe_filename("é" * 200 + ".txt")  # 2 bytes a character: no half character kept
    assert len(wide.encode()) <= 255 and wide == "é" * 125 + ".txt"
    no_extension = safe_filename("b" * 300)
    assert no_extension == "b" * 255


# -- UploadFile ------------------------------------------------------------------------


def upload_of(data: bytes, filename: str = "notes.txt") -> UploadFile:
    upload = UploadFile(filename, "text/plain", {"content-type": "text/plain"})
    upload.write(data)
    upload.seek(0)
    return upload


def test_upload_file_reads_and_seeks() -> None:
    upload = upload_of(b"hello world")
    assert upload.size == 11
    assert upload.read(5) == b"hello"
    assert upload.seek(6) == 6
    assert upload.read() == b"world"
    upload.close()
    assert upload.file.closed


def test_save_into_a_directory_uses_the_safe_name(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    upload = upload_of(b"payload", "../../escape.txt")
    upload.read(3)
    written = upload.save(uploads)
    assert written == uploads / "escape.txt"
    assert written.read_bytes() == b"payload"
    assert upload.file.tell() == 3  # the caller's position is kept
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["escape.txt", "uploads"]


def test_save_into_a_directory_refuses_a_planted_symlink(tmp_path: Path) -> None:
    uploads, outside = tmp_path / "uploads", tmp_path / "outside.txt"
    uploads.mkdir()
    outside.write_bytes(b"untouched")
    (uploads / "notes.txt").symlink_to(outside)
    with pytest.raises(OSError):
        upload_of(b"payload").save(uploads)
    assert outside.read_bytes() == b"untouched"


def test_save_to_a_full_path_writes_there(tmp_path: Path) -> None:
    target = tmp_path / "chosen-name.bin"
    upload = upload_of(b"payload", "../../ignored.txt")
    assert upload.save(str(target)) == target
    assert target.read_bytes() == b"payload"
    target.write_bytes(b"old content, longer than the upload")
    upload.save(target)
    assert target.read_bytes() == b"payload"


# -- the form ------------------------------------------------------------------------------

TYPICAL = body(
    field("title", b"Holiday"),
    field("tags", b"sea"),
    file("photos", "beach.jpg", b"\xff\xd8" + bytes(range(256)) * 8, "image/jpeg"),
    field("tags", "café".encode()),
    file("photos", "../../sunset.png", b"\x89PNG\r\n\x1a\n", "image/png"),
    file("empty", "", b""),
)


@pytest.mark.parametrize("chunk_size", [None, 1, 7, 100])
def test_form_fields_and_files(spool_dir: Path, chunk_size: int | None) -> None:
    with build(TYPICAL, chunk_size) as form:
        assert form.complete
        assert form.fields == {"title": ["Holiday"], "tags": ["sea", "café"]}
        beach, sunset = form.files["photos"]
        assert (beach.filename, beach.content_type, beach.size) == ("beach.jpg", "image/jpeg", 2050)
        assert beach.read() == b"\xff\xd8" + bytes(range(256)) * 8
        assert (sunset.filename, sunset.safe_filename) == ("../../sunset.png", "sunset.png")
        assert sunset.headers == {
            "content-disposition": 'form-data; name="photos"; filename="../../sunset.png"',
            "content-type": "image/png"}
        assert sunset.read() == b"\x89PNG\r\n\x1a\n"
        [empty] = form.files["empty"]  # a file input left empty
        assert (empty.filename, empty.safe_filename, empty.size) == ("", "upload", 0)
    assert beach.file.closed and sunset.file.closed and empty.file.closed
    assert_no_temporary_files(spool_dir)


def test_field_charset(spool_dir: Path) -> None:
    raw = body(field("latin", "été".encode("latin-1"), b"Content-Type: text/plain; charset=ISO-8859-1"),
               field("utf16", "ok".encode("utf-16"), b'Content-Type: text/plain; charset="utf-16"'),
               field("plain", "naïve".encode(), b"Content-Type: text/plain"),
               field("sjis", "日本".encode("shift_jis"), b"Content-Type: text/plain; charset=Shift_JIS"),
               field("cp", "€".encode("cp1252"), b"Content-Type: text/plain; charset=windows-1252"))
    with build(raw) as form:
        assert form.fields == {"latin": ["été"], "utf16": ["ok"], "plain": ["naïve"],
                               "sjis": ["日本"], "cp": ["€"]}


@pytest.mark.parametrize("value, headers", [
    (b"caf\xe9", ()),                                                    # not UTF-8
    (b"x", (b"Content-Type: text/plain; charset=no-such-charset",)),
    (b"eA==", (b"Content-Type: text/plain; charset=base64",)),           # not a text encoding
    (b"a-", (b"Content-Type: text/plain; charset=punycode",)),           # quadratic decoder
    (b"x", (b"Content-Type: text/plain; charset=idna",)),
    (b"+AGE-", (b"Content-Type: text/plain; charset=utf-7",)),
    (b"x", (b"Content-Type: text/plain; charset=unicode_escape",)),
    (b"\xff", (b"Content-Type: text/plain; charset=ascii",)),
    (b"x", (b"Content-Type: text/plain; charset=utf-8; charset=latin-1",)),
    (b"x", (b"Content-Type: text/plain; charset=\"utf-8",)),
])
def test_field_that_cannot_be_decoded_is_a_400(spool_dir: Path, value: bytes, headers) -> None:
    raw = body(file("f", "a.bin", b"x" * 100), field("text", value, *headers))
    with pytest.raises(MultipartError) as error:
        build(raw, limits=FormLimits(spool_size=10))
    assert error.value.status_code == 400
    assert_no_temporary_files(spool_dir)


LIMITS = FormLimits(field_size=10, fields_size=15, files=2, spool_size=1 << 20)


@pytest.mark.parametrize("raw", [
    body(field("a", b"x" * 10)),
    body(field("a", b"x" * 10), field("b", b"y" * 5)),
    body(file("f", "a", b"x" * 100), file("f", "b", b"y" * 100)),
], ids=["field-at-limit", "fields-at-limit", "files-at-limit"])
def test_form_limits_are_inclusive(spool_dir: Path, raw: bytes) -> None:
    build(raw, limits=LIMITS).close()


@pytest.mark.parametrize("raw, chunk_size", [
    (body(field("a", b"x" * 11)), None),
    (body(field("a", b"x" * 11)), 1),
    (body(field("a", b"x" * 10), field("b", b"y" * 6)), None),
    (body(field("a", b"x" * 10), field("b", b"y" * 6)), 3),
    (body(file("f", "a", b"x"), file("f", "b", b"y"), file("g", "c", b"z")), None),
], ids=["field", "field-bytewise", "fields", "fields-in-pieces", "files"])
def test_form_limits_are_413(spool_dir: Path, raw: bytes, chunk_size: int | None) -> None:
    with pytest.raises(MultipartTooLarge) as error:
        build(raw, chunk_size, LIMITS)
    assert error.value.status_code == 413
    assert_no_temporary_files(spool_dir)


def test_uploads_share_one_memory_budget(spool_dir: Path) -> None:
    """The first uploads stay in memory while the budget lasts; the next go
    to disk, into TMPDIR; one that outgrows the budget follows them."""
    raw = body(file("f", "small", b"a" * 6), file("f", "too-many", b"b" * 6),
               file("f", "tiny", b"c" * 4), file("f", "big", b"d" * 11))
    form = MultipartForm(CONTENT_TYPE, FormLimits(spool_size=10))
    form.feed(raw)
    assert len(open_files_in(spool_dir)) == 2  # too-many and big
    form.end_of_input()
    small, too_many, tiny, big = form.files["f"]
    assert [upload.read() for upload in (small, too_many, tiny, big)] == [
        b"a" * 6, b"b" * 6, b"c" * 4, b"d" * 11]
    form.close()
    assert_no_temporary_files(spool_dir)


def test_an_upload_rolls_to_disk_when_it_outgrows_the_budget(spool_dir: Path) -> None:
    form = MultipartForm(CONTENT_TYPE, FormLimits(spool_size=100))
    form.feed(file("f", "grows", b"x" * 60)[:-2])  # without the CRLF that ends it
    assert open_files_in(spool_dir) == []
    form.feed(b"y" * 60)
    assert len(open_files_in(spool_dir)) == 1
    form.feed(f"\r\n--{BOUNDARY}--".encode())
    form.end_of_input()
    assert form.files["f"][0].read() == b"x" * 60 + b"y" * 60
    form.close()
    assert_no_temporary_files(spool_dir)


# -- temporary files after errors and when the client goes away ---------------------------

BIG = b"\x00" * 300_000
ERRORS = {
    "cut-short": (body(file("f", "a", BIG))[:-20], 400),
    "malformed-part": (file("f", "a", BIG) + f"--{BOUNDARY}\r\nX: y\r\n\r\n".encode(), 400),
    "too-many-parts": (body(file("f", "a", BIG), field("a", b"1"), field("b", b"2")), 413),
    "too-many-files": (body(file("f", "a", BIG), file("f", "b", BIG), file("f", "c", b"")), 413),
    "field-too-large": (body(file("f", "a", BIG), field("a", b"x" * 2_000_000)), 413),
    "undecodable-field": (body(file("f", "a", BIG), field("a", b"\xff")), 400),
    "part-headers-too-large": (body(file("f", "a", BIG), field("a", b"", b"X: " + b"y" * 20000)), 413),
}


@pytest.mark.parametrize("name", ERRORS)
def test_no_temporary_file_is_left_after_an_error(spool_dir: Path, name: str) -> None:
    raw, status = ERRORS[name]
    form = MultipartForm(CONTENT_TYPE, FormLimits(files=2, spool_size=1000),
                         MultipartLimits(parts=2))
    with pytest.raises(MultipartError) as error:
        for start in range(0, len(raw), 65536):
            form.feed(raw[start:start + 65536])
            assert len(open_files_in(spool_dir)) <= 2
        form.end_of_input()
    assert error.value.status_code == status
    assert_no_temporary_files(spool_dir)
    # Fail closed: the same error again, and nothing reopened.
    with pytest.raises(MultipartError) as again:
        form.feed(b"more")
    assert again.value is error.value
    with pytest.raises(MultipartError):
        form.end_of_input()
    form.close()
    assert_no_temporary_files(spool_dir)


def test_no_temporary_file_is_left_when_the_client_goes_away(spool_dir: Path) -> None:
    form = MultipartForm(CONTENT_TYPE, FormLimits(spool_size=1000))
    form.feed(file("done", "a", BIG))
    form.feed(file("half", "b", BIG)[:100_000])
    assert len(open_files_in(spool_dir)) == 2
    form.close()  # what the connection does when the client disconnects
    assert_no_temporary_files(spool_dir)
    form.close()


def test_an_error_other_than_a_multipart_one_also_closes_the_uploads(
        spool_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk (here: a write that fails) is the server's fault, not a
    bad request: it is not turned into a 4xx, but nothing is left behind."""
    form = MultipartForm(CONTENT_TYPE, FormLimits(spool_size=10))
    form.feed(file("f", "a", b"x" * 100))
    assert len(open_files_in(spool_dir)) == 1

    def full_disk(upload: UploadFile, data: bytes) -> None:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(UploadFile, "write", full_disk)
    with pytest.raises(OSError):
        form.feed(b"y" * 100)
    assert_no_temporary_files(spool_dir)
    with pytest.raises(OSError):
        form.feed(b"z")


def test_a_bad_content_type_fails_before_anything_is_created(spool_dir: Path) -> None:
    with pytest.raises(MultipartError):
        MultipartForm("multipart/form-data; boundary=")
    assert_no_temporary_files(spool_dir)


# -- memory ------------------------------------------------------------------------------


def body_pieces(head: bytes, block: bytes, count: int, tail: bytes, size: int = 65536):
    """The body head + block * count + tail, in pieces of `size` bytes that
    straddle its parts, each a new object as a socket would hand out."""
    pending = head
    for _ in range(count):
        pending += block
        while len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
    yield pending + tail


def test_a_200_mib_upload_stays_within_a_few_mib(spool_dir: Path) -> None:
    block = os.urandom(65536).replace(b"\r", b"\n")  # no delimiter can occur in it
    count = 200 * 16  # 200 MiB
    head = field("title", b"big upload") + (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="data"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = b"\r\n" + field("after", b"done") + f"--{BOUNDARY}--\r\n".encode()
    sent = hashlib.sha256()
    tracemalloc.start()
    try:
        form = MultipartForm(CONTENT_TYPE)
        for piece in body_pieces(head, block, count, tail):
            form.feed(piece)
        form.end_of_input()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    for _ in range(count):
        sent.update(block)
    try:
        assert form.fields == {"title": ["big upload"], "after": ["done"]}
        [upload] = form.files["data"]
        assert upload.size == count * len(block)
        received = hashlib.sha256()
        while chunk := upload.read(1 << 20):
            received.update(chunk)
        assert received.hexdigest() == sent.hexdigest()
        assert peak < 4 << 20, f"peak traced memory {peak / 2**20:.1f} MiB"
    finally:
        form.close()
    assert_no_temporary_files(spool_dir)
