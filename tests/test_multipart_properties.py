"""Multipart properties: splits never matter, garbage never crashes.

Well-formed bodies are generated together with the parts the parser must
find in them (names quoted the two ways real clients do), so each property
checks against a model rather than against the parser itself. Broken
bodies (garbage, and well-formed ones mutated) must parse or raise a
`MultipartError`, and how they are split must not change which.
"""

from __future__ import annotations

import os
import re
import signal
import string
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from zerodep_http.multipart import (
    END_OF_BODY, END_OF_PART, MultipartError, MultipartLimits, MultipartParser,
    PartHeaders, parse_boundary)
from zerodep_http.uploads import FormLimits, MultipartForm, safe_filename

FAST = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

BCHARS = string.ascii_letters + string.digits + "'()+_,-./:=? "


@contextmanager
def time_limit(seconds: float):
    """Turn a parser that never returns into a test failure (main thread only)."""
    def expired(signum, frame):
        raise AssertionError(f"the parser did not return within {seconds} s")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Expected(NamedTuple):
    name: str
    filename: str | None
    content_type: str | None
    extra: str | None
    data: bytes


@dataclass(frozen=True)
class Generated:
    boundary: bytes
    raw: bytes
    parts: list[Expected]


# -- generating well-formed bodies --------------------------------------------------

boundaries = st.text(BCHARS, min_size=1, max_size=70).filter(lambda b: not b.endswith(" "))
# What a name may hold once decoded: no control characters but CR and LF.
name_text = st.text(st.characters(blacklist_categories=["Cs", "Cc"]) | st.sampled_from("\r\n\t"),
                    max_size=12).filter(lambda name: re.search("%(22|0[AaDd])", name) is None)


def quote(name: str, style: str) -> bytes:
    """A parameter value as browsers (WHATWG) or curl --form-escape send it."""
    if style == "browser":
        value = name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
    else:
        value = name.replace("\\", "\\\\").replace('"', '\\"')
    return b'"' + value.encode() + b'"'


@st.composite
def names(draw) -> tuple[str, str]:
    """A name and the style to quote it in (names with CR or LF only in the
    browser style, names with a backslash only in the escaping one)."""
    style = draw(st.sampled_from(["browser", "escape"]))
    name = draw(name_text)
    if style == "browser":
        assume("\\" not in name)
    else:
        assume("\r" not in name and "\n" not in name)
    return name, style


@st.composite
def contents(draw, delimiter: bytes) -> bytes:
    """Part data rich in line breaks, dashes and pieces of the delimiter."""
    pieces = draw(st.lists(st.one_of(
        st.binary(max_size=12),
        st.sampled_from([b"\r", b"\n", b"\r\n", b"--", b"\r\n--", b"-", b"\r\r\n"]),
        st.integers(1, len(delimiter) - 1).map(lambda n: delimiter[:n]),
        st.integers(1, len(delimiter) - 1).map(lambda n: delimiter[n:]),
    ), max_size=10))
    data = b"".join(pieces)
    assume(delimiter not in data)
    return data


@st.composite
def bodies(draw) -> Generated:
    boundary = draw(boundaries).encode()
    delimiter = b"\r\n--" + boundary
    padding = st.text(" \t", max_size=3).map(str.encode)
    preamble = draw(st.none() | st.binary(max_size=20))
    if preamble is None:
        raw = b"--" + boundary
    else:
        assume(delimiter not in b"\r\n" + preamble)
        raw = preamble + delimiter
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        name, name_style = draw(names())
        filename = None
        disposition = b"form-data; name=" + quote(name, name_style)
        if draw(st.booleans()):
            filename, filename_style = draw(names())
            disposition += b"; filename=" + quote(filename, filename_style)
        lines = [b"Content-Disposition: " + disposition]
        content_type = draw(st.none() | st.sampled_from(
            ["text/plain", "application/octet-stream", "image/png; x=1"]))
        if content_type is not None:
            lines.append(b"Content-Type: " + content_type.encode())
        extra = draw(st.none() | st.text(string.printable[:94], max_size=8).map(str.strip))
        if extra is not None:
            lines.append(b"X-Extra:" + extra.encode())
        draw(st.randoms()).shuffle(lines)
        data = draw(contents(delimiter))
        raw += draw(padding) + b"\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n" + data
        raw += delimiter
        parts.append(Expected(name, filename, content_type, extra, data))
    raw += b"--" + draw(padding)
    epilogue = draw(st.none() | st.binary(max_size=20))
    if epilogue is not None:
        raw += b"\r\n" + epilogue
    return Generated(boundary, raw, parts)


def split(data: st.DataObject, raw: bytes) -> list[bytes]:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=12), label="cuts"))
    return [raw[start:end] for start, end in zip([0, *cuts], [*cuts, len(raw)])]


# -- driving the parser ----------------------------------------------------------------


class Outcome(NamedTuple):
    parts: list[tuple[PartHeaders, bytes]]
    status: int | None


def drive(boundary: bytes, chunks: list[bytes],
          limits: MultipartLimits = MultipartLimits()) -> Outcome:
    """Feed the chunks and end the input; any exception but MultipartError escapes."""
    parser = MultipartParser(boundary, limits)
    parts: list[tuple[PartHeaders, bytes]] = []
    current: PartHeaders | None = None
    data = b""
    with time_limit(5):
        try:
            for chunk in [*chunks, None]:
                for event in parser.end_of_input() if chunk is None else parser.feed(chunk):
                    if isinstance(event, PartHeaders):
                        assert current is None
                        current, data = event, b""
                    elif isinstance(event, bytes):
                        assert current is not None and event
                        data += event
                    elif event is END_OF_PART:
                        assert current is not None
                        parts.append((current, data))
                        current = None
                    else:
                        assert event is END_OF_BODY and current is None
        except MultipartError as exc:
            assert exc.status_code in (400, 413)
            return Outcome(parts, exc.status_code)
    return Outcome(parts, None)


def model(parts: list[tuple[PartHeaders, bytes]]) -> list[Expected]:
    return [Expected(headers.name, headers.filename, headers.content_type,
                     headers.headers.get("x-extra"), data) for headers, data in parts]


# -- (a) any split of a well-formed body gives the same parts ------------------------


@FAST
@given(bodies(), st.data())
def test_well_formed_body_any_split(body: Generated, data: st.DataObject) -> None:
    whole = drive(body.boundary, [body.raw])
    assert whole.status is None and model(whole.parts) == body.parts
    assert drive(body.boundary, split(data, body.raw)) == whole


@FAST
@given(bodies())
def test_well_formed_body_byte_by_byte(body: Generated) -> None:
    raw = body.raw
    outcome = drive(body.boundary, [raw[i:i + 1] for i in range(len(raw))])
    assert outcome.status is None and model(outcome.parts) == body.parts


# -- (b) garbage and mutations: parse or MultipartError, the same for any split -------

INTERESTING = st.sampled_from(b"\r\n\x00\t -;=\"\\%*'abB")
any_byte = st.one_of(INTERESTING, st.integers(0, 255))
SMALL = MultipartLimits(parts=3, part_header_size=64, preamble_size=16)


@st.composite
def mutated(draw) -> Generated:
    body = draw(bodies())
    raw = bytearray(body.raw)
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, max(len(raw) - 1, 0)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "boundary"]))
        if kind == "insert":
            raw.insert(where, draw(any_byte))
        elif kind == "boundary":
            raw[where:where] = draw(st.sampled_from([b"\r\n--", b"--", b"\r\n"])) + body.boundary
        elif not raw:
            continue
        elif kind == "flip":
            raw[where] = draw(any_byte)
        else:
            del raw[where]
    return Generated(body.boundary, bytes(raw), [])


@FAST
@given(mutated(), st.data(), st.sampled_from([MultipartLimits(), SMALL]))
def test_mutated_body_same_outcome_for_any_split(body: Generated, data: st.DataObject,
                                                  limits: MultipartLimits) -> None:
    whole = drive(body.boundary, [body.raw], limits)
    raw = body.raw
    # The events of a piece that raised are lost with it: after an error
    # only the status is the same whatever the split.
    for chunks in (split(data, raw), [raw[i:i + 1] for i in range(len(raw))]):
        outcome = drive(body.boundary, chunks, limits)
        assert outcome == whole if whole.status is None else outcome.status == whole.status


@FAST
@given(boundaries.map(str.encode), st.binary(max_size=300), st.data())
def test_garbage_parses_or_raises_multipart_error(boundary: bytes, garbage: bytes,
                                                   data: st.DataObject) -> None:
    prefix = data.draw(st.sampled_from([b"", b"--" + boundary, b"--" + boundary + b"\r\n"]))
    drive(boundary, split(data, prefix + garbage))


@FAST
@given(st.text(max_size=60), st.text(max_size=30))
def test_any_part_header_parses_or_raises_multipart_error(disposition: str, content_type: str) -> None:
    raw = ("--b\r\nContent-Disposition: " + disposition + "\r\nContent-Type: " + content_type
           + "\r\n\r\ndata\r\n--b--").encode("utf-8", "surrogatepass")
    drive(b"b", [raw])


@FAST
@given(mutated(), st.data())
def test_form_builder_parses_or_raises_multipart_error(body: Generated, data: st.DataObject) -> None:
    """The form decodes fields and charsets too: still nothing but typed errors."""
    content_type = data.draw(st.sampled_from(["", "; charset=latin-1", "; charset=utf-16",
                                              "; charset=bogus", "; charset=base64"]))
    raw = body.raw.replace(b"Content-Type: text/plain", b"Content-Type: text/plain" + content_type.encode())
    form = MultipartForm('multipart/form-data; boundary="' + body.boundary.decode() + '"',
                         FormLimits(field_size=40, fields_size=60, files=2, spool_size=32))
    try:
        with time_limit(5):
            for chunk in split(data, raw):
                form.feed(chunk)
            form.end_of_input()
    except MultipartError as exc:
        assert exc.status_code in (400, 413)
    finally:
        form.close()


# -- the Content-Type header, and file names --------------------------------------------


@FAST
@given(st.text(max_size=80))
def test_any_content_type_gives_a_boundary_or_multipart_error(content_type: str) -> None:
    try:
        boundary = parse_boundary("multipart/form-data; boundary=" + content_type)
    except MultipartError as exc:
        assert exc.status_code == 400
    else:
        assert 1 <= len(boundary) <= 70


@FAST
@given(boundaries, st.sampled_from(["{}", '"{}"']))
def test_valid_boundaries_are_read_back(boundary: str, form: str) -> None:
    assume(form == '"{}"' or re.fullmatch(r"[A-Za-z0-9'+_\-.]+", boundary))
    content_type = "multipart/form-data; boundary=" + form.format(boundary)
    assert parse_boundary(content_type) == boundary.encode()


@FAST
@given(st.text(max_size=300))
def test_safe_filename_is_safe(filename: str) -> None:
    name = safe_filename(filename)
    assert name and len(name.encode("utf-8")) <= 255
    assert "/" not in name and "\\" not in name and name not in (".", "..")
    assert not name.startswith(".") and name == name.strip()
    assert all(unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Zl", "Zp") for char in name)
    base = os.path.join(os.sep, "uploads")
    assert os.path.dirname(os.path.normpath(os.path.join(base, name))) == base
