"""Multipart parser, table-driven: each raw body is data beside its result.

Every valid body is fed whole, one byte at a time and split in two at every
offset; all must give the same parts. Every invalid body is fed whole and
one byte at a time; both must fail with the same status, and the parser
must keep failing afterwards (fail closed). Where a body is split must never
change what it holds. Then the inputs of published advisories against
python-multipart, multipart (defnull) and Werkzeug, with the work they cost
counted, not timed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import NamedTuple

import pytest

from zerodep_http import multipart
from zerodep_http.exceptions import HTTPException
from zerodep_http.multipart import (
    END_OF_BODY, END_OF_PART, MultipartError, MultipartLimits, MultipartParser,
    MultipartTooLarge, PartHeaders, parse_boundary, parse_header_options)

BOUNDARY = b"bOuNdArY"
DELIMITER = b"\r\n--" + BOUNDARY

# -- helpers -------------------------------------------------------------------------


class Part(NamedTuple):
    headers: PartHeaders
    data: bytes


def parse(chunks, boundary: bytes = BOUNDARY,
          limits: MultipartLimits = MultipartLimits()) -> list[Part]:
    """Feed each chunk, check the order of the events, and end the input."""
    parser = MultipartParser(boundary, limits)
    parts: list[Part] = []
    current: PartHeaders | None = None
    data: list[bytes] = []
    ended = False
    for chunk in [*chunks, None]:
        events = parser.end_of_input() if chunk is None else parser.feed(chunk)
        for event in events:
            assert not ended, f"{event!r} after END_OF_BODY"
            if isinstance(event, PartHeaders):
                assert current is None, "a part began inside another"
                current, data = event, []
            elif isinstance(event, bytes):
                assert current is not None, "data outside a part"
                assert event, "an empty data event"
                data.append(event)
            elif event is END_OF_PART:
                assert current is not None, "END_OF_PART outside a part"
                parts.append(Part(current, b"".join(data)))
                current = None
            else:
                assert event is END_OF_BODY, f"unexpected event {event!r}"
                assert current is None, "END_OF_BODY inside a part"
                ended = True
    assert ended, "end_of_input() returned without END_OF_BODY"
    return parts


def parse_error(chunks, boundary: bytes = BOUNDARY,
                limits: MultipartLimits = MultipartLimits()) -> MultipartError:
    """Feed chunks (then end the input) until the parser refuses; the error."""
    parser = MultipartParser(boundary, limits)
    try:
        for chunk in chunks:
            parser.feed(chunk)
        parser.end_of_input()
    except MultipartError as exc:
        error = exc
    else:
        pytest.fail("the parser accepted the body")
    # Fail closed: the same error again, whatever arrives next.
    for call in (lambda: parser.feed(b"--" + boundary + b"--\r\n"), parser.end_of_input):
        with pytest.raises(MultipartError) as again:
            call()
        assert again.value is error
    return error


def whole(raw: bytes) -> list[bytes]:
    return [raw]


def bytewise(raw: bytes) -> list[bytes]:
    return [raw[i:i + 1] for i in range(len(raw))]


def pieces(raw: bytes, size: int) -> list[bytes]:
    return [raw[i:i + size] for i in range(0, len(raw), size)]


def part(disposition: bytes, data: bytes = b"", *headers: bytes) -> bytes:
    """One encapsulation: boundary line, header lines, blank line, data."""
    lines = [b"Content-Disposition: " + disposition, *headers]
    return b"--" + BOUNDARY + b"\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n" + data


def body(*parts: bytes, close: bytes = b"--" + BOUNDARY + b"--\r\n") -> bytes:
    """Parts joined by CRLF, as every delimiter begins with one."""
    return b"".join(p + b"\r\n" for p in parts) + close


def field_headers(name: str, disposition: str | None = None, **headers: str) -> PartHeaders:
    if disposition is None:
        disposition = f'form-data; name="{name}"'
    return PartHeaders(name, None, headers.get("content-type"),
                       {"content-disposition": disposition, **headers})


def file_headers(name: str, filename: str, disposition: str, **headers: str) -> PartHeaders:
    return PartHeaders(name, filename, headers.get("content-type"),
                       {"content-disposition": disposition, **headers})


# -- valid bodies ---------------------------------------------------------------------


@dataclass(frozen=True)
class Valid:
    id: str
    raw: bytes
    parts: list[Part]
    limits: MultipartLimits = field(default_factory=MultipartLimits)
    boundary: bytes = BOUNDARY


SIMPLE = body(part(b'form-data; name="a"', b"1"))
SPECIAL_BOUNDARY = b"'()+_,-./:=? x"

VALID = [
    Valid("one-field", SIMPLE, [Part(field_headers("a"), b"1")]),
    Valid("field-and-file",
          body(part(b'form-data; name="title"', b"Holiday"),
               part(b'form-data; name="photo"; filename="beach.jpg"', b"\xff\xd8\x00\xff",
                    b"Content-Type: image/jpeg")),
          [Part(field_headers("title"), b"Holiday"),
           Part(file_headers("photo", "beach.jpg", 'form-data; name="photo"; filename="beach.jpg"',
                             **{"content-type": "image/jpeg"}), b"\xff\xd8\x00\xff")]),
    Valid("no-parts", b"--" + BOUNDARY + b"--\r\n", []),
    Valid("no-crlf-after-close", body(part(b'form-data; name="a"', b"1"),
                                      close=b"--" + BOUNDARY + b"--"),
          [Part(field_headers("a"), b"1")]),
    Valid("preamble-and-epilogue",
          b"This is the preamble.\r\nIt is ignored.\r\n"
          + body(part(b'form-data; name="a"', b"1"),
                 close=b"--" + BOUNDARY + b"--\r\nThe epilogue, also ignored.\r\n--"
                 + BOUNDARY + b"\r\nnot a part\r\n"),
          [Part(field_headers("a"), b"1")]),
    Valid("empty-preamble-line", b"\r\n" + SIMPLE, [Part(field_headers("a"), b"1")]),
    Valid("preamble-at-the-limit", b"p" * 10 + b"\r\n" + SIMPLE,
          [Part(field_headers("a"), b"1")], MultipartLimits(preamble_size=10)),
    Valid("transport-padding",
          b"--" + BOUNDARY + b" \t \r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1"
          + DELIMITER + b"\t\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n2"
          + DELIMITER + b"-- \t\r\n",
          [Part(field_headers("a"), b"1"), Part(field_headers("b"), b"2")]),
    Valid("padding-after-close-at-end", SIMPLE[:-2] + b"  ", [Part(field_headers("a"), b"1")]),
    Valid("empty-data", body(part(b'form-data; name="a"'), part(b'form-data; name="b"')),
          [Part(field_headers("a"), b""), Part(field_headers("b"), b"")]),
    Valid("data-is-line-breaks", body(part(b'form-data; name="a"', b"\r\n\r\n\n\r")),
          [Part(field_headers("a"), b"\r\n\r\n\n\r")]),
    Valid("data-with-near-delimiters",
          body(part(b'form-data; name="a"',
                    b"--" + BOUNDARY + b"\r\n\r--" + BOUNDARY + b"\n--" + BOUNDARY
                    + b"\r\n--" + BOUNDARY[:-1] + b"\r\n-" + BOUNDARY + b"\r\n--\r\r\n")),
          [Part(field_headers("a"), b"--" + BOUNDARY + b"\r\n\r--" + BOUNDARY + b"\n--"
                + BOUNDARY + b"\r\n--" + BOUNDARY[:-1] + b"\r\n-" + BOUNDARY + b"\r\n--\r\r\n")]),
    Valid("data-ends-with-delimiter-prefix",
          body(part(b'form-data; name="a"', b"x\r\n--" + BOUNDARY[:4])),
          [Part(field_headers("a"), b"x\r\n--" + BOUNDARY[:4])]),
    Valid("binary-data", body(part(b'form-data; name="f"; filename="b.bin"', bytes(range(256)),
                                   b"Content-Type: application/octet-stream")),
          [Part(file_headers("f", "b.bin", 'form-data; name="f"; filename="b.bin"',
                             **{"content-type": "application/octet-stream"}),
                bytes(range(256)))]),
    Valid("repeated-names",
          body(part(b'form-data; name="tag"', b"a"), part(b'form-data; name="tag"', b"b")),
          [Part(field_headers("tag"), b"a"), Part(field_headers("tag"), b"b")]),
    Valid("unquoted-values-and-spacing",
          body(part(b"FORM-DATA ;NAME = plain ;\tFileName=a.txt;")),
          [Part(file_headers("plain", "a.txt", "FORM-DATA ;NAME = plain ;\tFileName=a.txt;"),
                b"")]),
    Valid("header-case-and-ows",
          b"--" + BOUNDARY + b"\r\ncontent-DISPOSITION:form-data; name=\"a\"  \r\n"
          b"CONTENT-TYPE: \t text/plain; charset=utf-8\r\n\r\nx" + DELIMITER + b"--",
          [Part(PartHeaders("a", None, "text/plain; charset=utf-8",
                            {"content-disposition": 'form-data; name="a"',
                             "content-type": "text/plain; charset=utf-8"}), b"x")]),
    Valid("other-headers-kept",
          body(part(b'form-data; name="a"', b"x", b"X-Custom: 1", b"Content-Transfer-Encoding: 8bit",
                    b"x-custom: 2", b"X-Empty:")),
          [Part(field_headers("a", **{"x-custom": "1, 2", "content-transfer-encoding": "8bit",
                                      "x-empty": ""}), b"x")]),
    Valid("empty-filename",  # a file input left empty
          body(part(b'form-data; name="f"; filename=""', b"",
                    b"Content-Type: application/octet-stream")),
          [Part(file_headers("f", "", 'form-data; name="f"; filename=""',
                             **{"content-type": "application/octet-stream"}), b"")]),
    Valid("empty-name", body(part(b'form-data; name=""', b"x")),
          [Part(field_headers(""), b"x")]),
    Valid("filename-backslash-escapes",  # curl --form-escape, older curl
          body(part(b'form-data; name="f"; filename="a\\"b\\\\c.txt"')),
          [Part(file_headers("f", 'a"b\\c.txt', 'form-data; name="f"; filename="a\\"b\\\\c.txt"'),
                b"")]),
    Valid("filename-windows-path",  # other backslashes are sent as they are
          body(part(b'form-data; name="f"; filename="C:\\Users\\me\\x.txt"')),
          [Part(file_headers("f", "C:\\Users\\me\\x.txt",
                             'form-data; name="f"; filename="C:\\Users\\me\\x.txt"'), b"")]),
    Valid("percent-encoded-quote-cr-lf",  # browsers, curl 7.81+ (WHATWG)
          body(part(b'form-data; name="a%22b%0D%0Ac"; filename="q%22.txt%0a%41%2522"')),
          [Part(file_headers('a"b\r\nc', 'q".txt\n%41%2522',
                             'form-data; name="a%22b%0D%0Ac"; filename="q%22.txt%0a%41%2522"'),
                b"")]),
    Valid("utf8-filename",
          body(part('form-data; name="f"; filename="résumé €.pdf"'.encode())),
          [Part(file_headers("f", "résumé €.pdf", 'form-data; name="f"; filename="résumé €.pdf"'),
                b"")]),
    Valid("latin1-filename",  # not UTF-8: read as Latin-1 rather than refused
          body(part(b'form-data; name="f"; filename="r\xe9sum\xe9.pdf"')),
          [Part(file_headers("f", "résumé.pdf", 'form-data; name="f"; filename="résumé.pdf"'),
                b"")]),
    Valid("extended-filename-alone",
          body(part(b"form-data; name=\"f\"; filename*=UTF-8''%E2%82%AC%20rates.txt")),
          [Part(file_headers("f", "€ rates.txt",
                             "form-data; name=\"f\"; filename*=UTF-8''%E2%82%AC%20rates.txt"), b"")]),
    Valid("extended-filename-latin1",
          body(part(b"form-data; name=\"f\"; filename*=iso-8859-1'en'%E9t%E9.txt")),
          [Part(file_headers("f", "été.txt",
                             "form-data; name=\"f\"; filename*=iso-8859-1'en'%E9t%E9.txt"), b"")]),
    # GHSA-vffw-93wf-4j4q: the plain parameters win, as an inspector reads them.
    Valid("plain-filename-wins-over-extended",
          body(part(b"form-data; name=\"upload\"; filename=\"safe.txt\"; "
                    b"filename*=utf-8''evil.php")),
          [Part(file_headers("upload", "safe.txt",
                             "form-data; name=\"upload\"; filename=\"safe.txt\"; "
                             "filename*=utf-8''evil.php"), b"")]),
    Valid("extended-name-ignored",
          body(part(b"form-data; name=\"comment\"; name*=utf-8''role", b"x")),
          [Part(field_headers("comment", "form-data; name=\"comment\"; name*=utf-8''role"),
                b"x")]),
    Valid("continuations-ignored",
          body(part(b"form-data; name=\"f\"; filename*0=\"evil\"; filename*1=\".php\"", b"x")),
          [Part(field_headers("f", "form-data; name=\"f\"; filename*0=\"evil\"; "
                                   "filename*1=\".php\""), b"x")]),
    Valid("boundary-with-special-characters",
          b"--" + SPECIAL_BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1"
          b"\r\n--" + SPECIAL_BOUNDARY + b"--\r\n",
          [Part(field_headers("a"), b"1")], boundary=SPECIAL_BOUNDARY),
    Valid("longest-boundary",
          b"--" + b"b" * 70 + b"\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--"
          + b"b" * 70 + b"--\r\n",
          [Part(field_headers("a"), b"1")], boundary=b"b" * 70),
    Valid("parts-at-the-limit",
          body(part(b'form-data; name="a"'), part(b'form-data; name="b"')),
          [Part(field_headers("a"), b""), Part(field_headers("b"), b"")],
          MultipartLimits(parts=2)),
    Valid("header-section-at-the-limit",  # 28 + 2 bytes of lines, 2 of blank line
          body(part(b'form-data; name="a"')),
          [Part(field_headers("a"), b"")],
          MultipartLimits(part_header_size=len(b'Content-Disposition: form-data; name="a"\r\n\r\n'))),
]


@pytest.mark.parametrize("case", VALID, ids=lambda case: case.id)
def test_valid_whole(case: Valid) -> None:
    assert parse(whole(case.raw), case.boundary, case.limits) == case.parts


@pytest.mark.parametrize("case", VALID, ids=lambda case: case.id)
def test_valid_byte_by_byte(case: Valid) -> None:
    assert parse(bytewise(case.raw), case.boundary, case.limits) == case.parts


@pytest.mark.parametrize("case", VALID, ids=lambda case: case.id)
def test_valid_split_at_every_offset(case: Valid) -> None:
    for offset in range(len(case.raw) + 1):
        chunks = [case.raw[:offset], case.raw[offset:]]
        assert parse(chunks, case.boundary, case.limits) == case.parts, f"split at {offset}"


def test_data_comes_out_as_it_arrives() -> None:
    """Content is handed out at once, except the bytes that may begin a
    delimiter; a piece without one goes out as the very same object."""
    parser = MultipartParser(BOUNDARY)
    parser.feed(b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n")
    piece = b"x" * 1000
    assert parser.feed(piece)[0] is piece
    assert parser.feed(b"abc\r\n--" + BOUNDARY[:3]) == [b"abc"]
    assert len(parser.buffer) == 7
    assert parser.feed(b"X") == [b"\r\n--" + BOUNDARY[:3] + b"X"]
    assert parser.feed(b"\r") == []
    assert parser.feed(b"\r") == [b"\r"]
    assert parser.feed(b"\n--" + BOUNDARY + b"--") == [END_OF_PART]
    assert parser.end_of_input() == [END_OF_BODY]


def test_feed_after_end_of_input_is_a_programming_error() -> None:
    parser = MultipartParser(BOUNDARY)
    parser.feed(SIMPLE)
    parser.end_of_input()
    assert parser.end_of_input() == []
    with pytest.raises(RuntimeError):
        parser.feed(b"x")


def test_bytes_like_pieces() -> None:
    raw = body(part(b'form-data; name="a"', b"hello"))
    assert parse([bytearray(raw[:60]), memoryview(raw[60:])]) == [Part(field_headers("a"), b"hello")]


# -- invalid bodies ---------------------------------------------------------------------


@dataclass(frozen=True)
class Invalid:
    id: str
    raw: bytes
    status: int = 400
    limits: MultipartLimits = field(default_factory=MultipartLimits)


def header_part(*lines: bytes) -> bytes:
    return b"--" + BOUNDARY + b"\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def with_disposition(value: bytes) -> bytes:
    return body(header_part(b"Content-Disposition: " + value))


INVALID = [
    Invalid("empty-body", b""),
    Invalid("no-boundary", b"just some text\r\n"),
    Invalid("boundary-not-at-line-start", b"x--" + BOUNDARY + b"\r\n"),
    Invalid("preamble-over-limit", b"p" * 11 + b"\r\n" + SIMPLE,
            limits=MultipartLimits(preamble_size=10)),
    Invalid("crlf-preamble-over-limit", b"\r\n" * 6 + SIMPLE, limits=MultipartLimits(preamble_size=9)),
    Invalid("ends-in-data", SIMPLE[:-len(DELIMITER) - 4]),
    Invalid("ends-in-headers", header_part(b'Content-Disposition: form-data; name="a"')[:-2]),
    Invalid("ends-after-headers", header_part(b'Content-Disposition: form-data; name="a"')),
    Invalid("ends-after-delimiter", SIMPLE[:-4]),
    Invalid("ends-after-single-dash", SIMPLE[:-3]),
    Invalid("ends-after-first-boundary", b"--" + BOUNDARY),
    Invalid("ends-in-close-crlf", SIMPLE[:-1]),
    Invalid("boundary-followed-by-text", b"--" + BOUNDARY + b"x\r\n"),
    Invalid("boundary-prefix-of-longer", SIMPLE.replace(DELIMITER + b"--", DELIMITER + b"X--")),
    Invalid("boundary-single-dash", SIMPLE.replace(b"--\r\n", b"-x\r\n")),
    Invalid("boundary-line-bare-lf", b"--" + BOUNDARY + b"\nContent-Disposition: form-data\r\n"),
    Invalid("boundary-line-bare-cr", b"--" + BOUNDARY + b"\rContent-Disposition: form-data\r\n"),
    Invalid("padding-then-text", b"--" + BOUNDARY + b"  x\r\n"),
    Invalid("padding-over-limit", b"--" + BOUNDARY + b" " * 17 + b"\r\n",
            limits=MultipartLimits(part_header_size=16)),
    # Kludex/python-multipart#162: dashes after the close are not an epilogue.
    Invalid("close-followed-by-dashes", SIMPLE[:-2] + b"-" * 1000 + b"\r\n"),
    Invalid("close-followed-by-text", SIMPLE[:-2] + b"epilogue"),
    Invalid("close-bare-lf", SIMPLE[:-2] + b"\n"),
    Invalid("empty-header-section", body(header_part())),
    Invalid("header-bare-lf", body(header_part(b'Content-Disposition: form-data; name="a"\nX: 1'))),
    Invalid("header-bare-cr", body(header_part(b'Content-Disposition: form-data; name="a"\rX: 1'))),
    Invalid("header-obs-fold", body(header_part(b"Content-Disposition: form-data;", b' name="a"'))),
    Invalid("header-nul", body(header_part(b'Content-Disposition: form-data; name="a\x00"'))),
    Invalid("header-control", body(header_part(b'Content-Disposition: form-data; name="a"',
                                               b"X: \x1b"))),
    Invalid("header-without-colon", body(header_part(b'Content-Disposition: form-data; name="a"',
                                                     b"X-Broken"))),
    Invalid("header-empty-name", body(header_part(b'Content-Disposition: form-data; name="a"',
                                                  b": x"))),
    Invalid("header-space-before-colon", body(header_part(b'Content-Disposition : form-data; name="a"'))),
    Invalid("no-content-disposition", body(header_part(b"Content-Type: text/plain"))),
    Invalid("content-disposition-twice", body(header_part(b'Content-Disposition: form-data; name="a"',
                                                          b'Content-Disposition: form-data; name="b"'))),
    Invalid("content-type-twice", body(header_part(b'Content-Disposition: form-data; name="a"',
                                                   b"Content-Type: text/plain", b"Content-Type: a/b"))),
    Invalid("disposition-attachment", with_disposition(b'attachment; name="a"')),
    Invalid("disposition-empty", with_disposition(b"")),
    Invalid("disposition-without-name", with_disposition(b'form-data; filename="a.txt"')),
    Invalid("disposition-only-extended-name", with_disposition(b"form-data; name*=utf-8''a")),
    Invalid("disposition-name-twice", with_disposition(b'form-data; name="a"; name="b"')),
    Invalid("disposition-name-twice-case", with_disposition(b'form-data; name="a"; NAME="b"')),
    Invalid("disposition-filename-twice", with_disposition(b'form-data; name="a"; filename="x"; filename=y')),
    Invalid("disposition-unterminated-quote", with_disposition(b'form-data; name="a')),
    Invalid("disposition-escaped-last-quote", with_disposition(b'form-data; name="a\\"')),
    Invalid("disposition-text-after-quote", with_disposition(b'form-data; name="a"b')),
    Invalid("disposition-parameter-without-value", with_disposition(b'form-data; name')),
    Invalid("disposition-no-semicolon", with_disposition(b'form-data name="a"')),
    Invalid("extended-filename-bad-charset", with_disposition(b"form-data; name=a; filename*=utf-16''%FF%FE")),
    Invalid("extended-filename-bad-percent", with_disposition(b"form-data; name=a; filename*=utf-8''100%")),
    Invalid("extended-filename-bad-utf8", with_disposition(b"form-data; name=a; filename*=utf-8''%FF")),
    Invalid("extended-filename-no-charset", with_disposition(b"form-data; name=a; filename*=a.txt")),
    Invalid("too-many-parts", body(part(b'form-data; name="a"'), part(b'form-data; name="b"'),
                                   part(b'form-data; name="c"')),
            413, MultipartLimits(parts=2)),
    Invalid("header-section-over-limit", body(part(b'form-data; name="ab"')), 413,
            MultipartLimits(part_header_size=len(b'Content-Disposition: form-data; name="a"\r\n\r\n'))),
    Invalid("header-section-never-ends",
            b"--" + BOUNDARY + b"\r\n" + b"X-Header: value\r\n" * 2000, 413),
    Invalid("header-value-never-ends",
            b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"" + b"a" * 20000, 413),
    Invalid("too-many-parts-beats-malformed-headers",
            body(part(b'form-data; name="a"'), header_part(b"garbage")), 413,
            MultipartLimits(parts=1)),
]


@pytest.mark.parametrize("case", INVALID, ids=lambda case: case.id)
def test_invalid_whole(case: Invalid) -> None:
    error = parse_error(whole(case.raw), limits=case.limits)
    assert error.status_code == case.status


@pytest.mark.parametrize("case", INVALID, ids=lambda case: case.id)
def test_invalid_byte_by_byte(case: Invalid) -> None:
    error = parse_error(bytewise(case.raw), limits=case.limits)
    assert error.status_code == case.status


@pytest.mark.parametrize("case", [case for case in INVALID if len(case.raw) < 400],
                         ids=lambda case: case.id)
def test_invalid_split_at_every_offset(case: Invalid) -> None:
    for offset in range(len(case.raw) + 1):
        error = parse_error([case.raw[:offset], case.raw[offset:]], limits=case.limits)
        assert error.status_code == case.status, f"split at {offset}"


def test_errors_are_http_exceptions() -> None:
    assert issubclass(MultipartError, HTTPException)
    assert issubclass(MultipartError, ValueError)
    error, too_large = MultipartError("bad"), MultipartTooLarge("big")
    assert (error.status_code, error.message) == (400, "bad")
    assert (too_large.status_code, too_large.message) == (413, "big")
    assert isinstance(too_large, MultipartError)


def test_oversized_header_section_is_refused_before_it_ends() -> None:
    """The header limit holds while the section is still arriving: the
    parser never buffers more than the limit of an unfinished section."""
    limit = 1024
    parser = MultipartParser(BOUNDARY, MultipartLimits(part_header_size=limit))
    parser.feed(b"--" + BOUNDARY + b"\r\n")
    fed = 0
    with pytest.raises(MultipartTooLarge):
        while True:
            parser.feed(b"X: 123456789\r\n")
            fed += 14
            assert len(parser.buffer) <= limit + 2
    assert fed <= limit + 14


# -- the Content-Type header -----------------------------------------------------------

BOUNDARIES = [
    ("multipart/form-data; boundary=abc", b"abc"),
    ("Multipart/Form-Data;BOUNDARY=abc", b"abc"),
    ("multipart/form-data ; charset=utf-8 ; boundary=----WebKitFormBoundaryX3zT9", b"----WebKitFormBoundaryX3zT9"),
    ('multipart/form-data; boundary="with space and (),/:=?"', b"with space and (),/:=?"),
    ('multipart/form-data; boundary="quoted"; charset="utf-8"', b"quoted"),
    ("multipart/form-data; boundary=" + "x" * 70, b"x" * 70),
    ("multipart/form-data; boundary=" + "=" * 15 + "123==", b"=" * 15 + b"123=="),
    ("multipart/form-data; boundary=abc;", b"abc"),
    ("multipart/form-data; boundary=abc \t", b"abc"),
]


@pytest.mark.parametrize("content_type, boundary", BOUNDARIES)
def test_parse_boundary(content_type: str, boundary: bytes) -> None:
    assert parse_boundary(content_type) == boundary


BAD_CONTENT_TYPES = [
    "multipart/form-data",                                   # missing
    "multipart/form-data; charset=utf-8",                    # missing
    "multipart/form-data; boundary=",                        # empty
    'multipart/form-data; boundary=""',                      # empty
    "multipart/form-data; boundary=" + "x" * 71,             # too long
    'multipart/form-data; boundary="trailing space "',       # last character a space
    'multipart/form-data; boundary="a\\\\b"',                # backslash
    "multipart/form-data; boundary=a*b",                     # not a bchar
    "multipart/form-data; boundary=caf\xe9",                 # not ASCII
    "multipart/form-data; boundary=a; boundary=b",           # twice
    'multipart/form-data; boundary="unterminated',
    "multipart/form-data; boundary=a b",
    "multipart/mixed; boundary=abc",                         # not a form
    "application/x-www-form-urlencoded",
    "",
    "; boundary=abc",
    "multipart/form-data boundary=abc",
]


@pytest.mark.parametrize("content_type", BAD_CONTENT_TYPES)
def test_parse_boundary_refuses(content_type: str) -> None:
    with pytest.raises(MultipartError) as error:
        parse_boundary(content_type)
    assert error.value.status_code == 400


def test_parse_header_options() -> None:
    assert parse_header_options('Text/Plain; Charset="UTF-8"; x=1;; y = "a\\"b" ') == (
        "text/plain", {"charset": "UTF-8", "x": "1", "y": 'a"b'})


# -- advisories: work counted, not timed -------------------------------------------------


SCANNED = [0]


def counted_find(find, sub, start, end, length) -> int:
    """`find`, adding the bytes it looked at (up to the match) to SCANNED."""
    stop = length if end is None else min(end, length)
    found = find(sub, start, stop)
    SCANNED[0] += max((stop if found == -1 else found + len(sub)) - max(start, 0), 0)
    return found


class CountingBytes(bytes):
    """A fed piece that counts the bytes the parser's searches look at."""

    def find(self, sub, start=0, end=None):  # type: ignore[override]
        return counted_find(super().find, sub, start, end, len(self))


class CountingBuffer(bytearray):
    """The parser's buffer, counting the same way."""

    def find(self, sub, start=0, end=None):  # type: ignore[override]
        return counted_find(super().find, sub, start, end, len(self))


def work(chunks: list[bytes], limits: MultipartLimits) -> int:
    """Bytes searched plus lines of parser code run, to parse `chunks`."""
    SCANNED[0] = 0
    lines = 0

    def trace_calls(frame, event, arg):
        if frame.f_code.co_filename != multipart.__file__:
            return None

        def trace_lines(frame, event, arg):
            nonlocal lines
            if event == "line":
                lines += 1
            return trace_lines
        return trace_lines

    parser = MultipartParser(BOUNDARY, limits)
    parser.buffer = CountingBuffer(parser.buffer)
    previous = sys.gettrace()
    sys.settrace(trace_calls)
    try:
        for chunk in chunks:
            parser.feed(CountingBytes(chunk))
            # The buffer object is kept across feeds: only a failure replaces it.
            assert type(parser.buffer) is CountingBuffer
        parser.end_of_input()
    except MultipartError:
        pass
    finally:
        sys.settrace(previous)
    return SCANNED[0] + lines


OPEN = b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\n"
CLOSE = DELIMITER + b"--\r\n"
UNLIMITED = MultipartLimits(parts=10**9, part_header_size=10**9, preamble_size=10**9)

# Each input repeats its unit n times; parsing it must cost linear work.
ADVERSARIAL = {
    # Partial delimiters in a part's content: each could begin a delimiter.
    "content-of-partial-delimiters": lambda n: OPEN + (DELIMITER[:-1] + b"x") * n + CLOSE,
    "content-of-cr-dash": lambda n: OPEN + b"\r\n-" * n + CLOSE,
    # Werkzeug GHSA-hrfv-mqp8-q5rw: a large part made of CR and LF bytes.
    "content-of-cr": lambda n: OPEN + b"\r" * (3 * n) + CLOSE,
    "content-of-lf": lambda n: OPEN + b"\n" * (3 * n) + CLOSE,
    # python-multipart CVE-2024-53981 and GHSA-mj87-hwqh-73pj: line breaks
    # before the first boundary, and data after the last one.
    "preamble-of-line-breaks": lambda n: b"\r\n" * n + OPEN + CLOSE,
    "preamble-of-partial-delimiters": lambda n: DELIMITER[:-1] * n + b"\r\n" + OPEN + CLOSE,
    "epilogue-of-line-breaks": lambda n: OPEN + CLOSE + b"\r\n" * n,
    "epilogue-of-delimiters": lambda n: OPEN + CLOSE + (DELIMITER + b"\r\n") * n,
    # python-multipart GHSA-pp6c-gr5w-3c5g: many part header lines, or one
    # huge header value, before the section ends.
    "many-header-lines": lambda n: (b"--" + BOUNDARY + b"\r\n" + b"X: 1\r\n" * n
                                    + b'Content-Disposition: form-data; name="a"\r\n\r\n' + CLOSE),
    "huge-header-value": lambda n: (b"--" + BOUNDARY + b"\r\nX: " + b"v\r" * n
                                    + b'\r\nContent-Disposition: form-data; name="a"\r\n\r\n' + CLOSE),
    # A body of many small parts.
    "many-parts": lambda n: b"".join(b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; "
                                     b"name=\"a\"\r\n\r\nx\r\n" for _ in range(n // 8)) + CLOSE[2:],
    "transport-padding": lambda n: b"--" + BOUNDARY + b" " * (4 * n) + b"\r\n" + OPEN[12:] + CLOSE,
}


@pytest.mark.parametrize("chunking", ["whole", "pieces-of-7", "bytewise"])
@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversarial_bodies_cost_linear_work(name: str, chunking: str) -> None:
    """Four times the input must cost about four times the work, not sixteen:
    work counted as the bytes searched plus the parser lines run."""
    build = ADVERSARIAL[name]
    split = {"whole": whole, "pieces-of-7": lambda raw: pieces(raw, 7), "bytewise": bytewise}[chunking]
    n = 300 if chunking == "bytewise" else 3000
    small, large = build(n), build(4 * n)
    small_work, large_work = work(split(small), UNLIMITED), work(split(large), UNLIMITED)
    assert large_work < 5 * small_work * len(large) / (4 * len(small)) + 1000
    # And a small constant per byte fed, whatever the chunking.
    assert large_work < 64 * len(large) + 1000


@pytest.mark.parametrize("name", ["content-of-partial-delimiters", "content-of-cr-dash", "content-of-cr"])
def test_content_holds_back_at_most_a_delimiter(name: str) -> None:
    raw = ADVERSARIAL[name](200)
    parser = MultipartParser(BOUNDARY)
    parser.feed(raw[:len(OPEN)])
    for chunk in pieces(raw[len(OPEN):], 5):
        parser.feed(chunk)
        assert len(parser.buffer) < len(DELIMITER)
    parser.end_of_input()


@pytest.mark.parametrize("header", [
    # CVE-2024-24762 (python-multipart) and CVE-2026-28356 (multipart): an
    # option value that made the header regex backtrack exponentially.
    b'Content-Disposition: form-data; name="a"; filename="' + b"\\" * 8000,
    b'Content-Disposition: form-data; name="a"; filename="' + b'\\"' * 4000,
    b'Content-Disposition: form-data; name="' + b"\\\\a" * 2600 + b'\\',
    b"Content-Disposition: form-data" + b"; a=b" * 2500 + b"; x",
    b'Content-Disposition: form-data; name="a"; filename="' + b'"' * 8000,
])
def test_header_options_never_backtrack(header: bytes) -> None:
    """Exponential backtracking would not return at all; linear parsing
    refuses these malformed headers at once."""
    with pytest.raises(MultipartError) as error:
        parse(whole(body(header_part(header))))
    assert error.value.status_code == 400


@pytest.mark.parametrize("content_type", [
    'multipart/form-data; boundary="' + "\\" * 8000,
    "multipart/form-data; boundary=" + "\\" * 8000,
    "multipart/form-data" + "; a=b" * 2500 + '; boundary="x',
    "multipart/form-data;" + " " * 8000 + "x",
])
def test_content_type_options_never_backtrack(content_type: str) -> None:
    with pytest.raises(MultipartError):
        parse_boundary(content_type)
