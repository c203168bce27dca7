"""Request parser, table-driven: each raw request is data beside its result.

Every valid case is fed whole, one byte at a time, split in two at every
offset, and followed by a pipelined request; all must give the same events.
Every invalid case is fed whole, one byte at a time, split in two at every
offset, and after a valid request on the same connection; all must fail
with the same status, and the parser must keep failing afterwards (fail
closed).
Where the bytes of a request are split must never change how it is read:
that is what request smuggling exploits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import h11
import pytest

from zerodep_http.parser import (
    END_OF_MESSAGE, NOT_IN_TRAILERS, SINGLE_FIELDS, Limits, ProtocolError, RequestParser)

from conftest import Head

# -- helpers -------------------------------------------------------------------


class Message(NamedTuple):
    head: Head
    body: bytes
    complete: bool


def parse(chunks, limits: Limits = Limits()) -> list[Message]:
    """Feed each chunk and drain the events; restart after every message.
    A head with content_length 0 is the whole message: nothing follows it."""
    parser = RequestParser(limits)
    messages: list[Message] = []
    head, body = None, []
    for chunk in chunks:
        parser.feed(chunk)
        while (event := parser.next_event()) is not None:
            if event.__class__ is tuple:
                assert head is None, "a second head before the message ended"
                head = Head(*event)
                if head.content_length == 0:
                    messages.append(Message(head, b"", True))
                    head = None
                    assert parser.next_event() is None, "events after a bodyless head"
                    parser.start_next_message()
            elif isinstance(event, bytes):
                assert head is not None, "body data before the head"
                assert event, "an empty body event"
                body.append(event)
            else:
                assert event is END_OF_MESSAGE, f"unexpected event {event!r}"
                assert head is not None, "END_OF_MESSAGE before the head"
                messages.append(Message(head, b"".join(body), True))
                head, body = None, []
                assert parser.next_event() is None, "events after END before restart"
                parser.start_next_message()
    if head is not None:
        messages.append(Message(head, b"".join(body), False))
    return messages


def parse_error(chunks, limits: Limits = Limits()) -> ProtocolError:
    """Feed chunks until the parser refuses them; return the error."""
    parser = RequestParser(limits)
    try:
        for chunk in chunks:
            parser.feed(chunk)
            while (event := parser.next_event()) is not None:
                if event is END_OF_MESSAGE or event.__class__ is tuple and event[4] == 0:
                    parser.start_next_message()
    except ProtocolError as exc:
        error = exc
    else:
        pytest.fail("the parser accepted the request")
    # Fail closed: the same error again, whatever arrives next.
    for more in (b"", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"):
        parser.feed(more)
        with pytest.raises(ProtocolError) as again:
            parser.next_event()
        assert again.value.status == error.status
    return error


def whole(raw: bytes) -> list[bytes]:
    return [raw]


def bytewise(raw: bytes) -> list[bytes]:
    return [raw[i:i + 1] for i in range(len(raw))]


def two_pieces(raw: bytes):
    """Every split of raw into two feeds (the empty piece included)."""
    for offset in range(len(raw) + 1):
        yield offset, [raw[:offset], raw[offset:]]


def http(request_line: bytes, *fields: bytes, body: bytes = b"") -> bytes:
    """A request with CRLF line endings, so the tables show only what matters."""
    return b"".join(line + b"\r\n" for line in (request_line, *fields)) + b"\r\n" + body


def head(method="GET", target="/", version="1.1", headers=None, content_length=0,
         keep_alive=None, expect_continue=False) -> Head:
    if headers is None:
        headers = {"host": "a"}
    if keep_alive is None:
        keep_alive = version == "1.1"
    return Head(method, target, version, headers, content_length, keep_alive, expect_continue)


def done(request_head: Head, body: bytes = b"") -> Message:
    return Message(request_head, body, True)


def chunked(*fields: bytes, line=b"POST / HTTP/1.1", body=b"") -> bytes:
    return http(line, b"Host: a", b"Transfer-Encoding: chunked", *fields, body=body)


CHUNKED_HEADERS = {"host": "a", "transfer-encoding": "chunked"}
SMALL = Limits(request_line=32, header_fields=4, header_field_size=28,
               body_size=16, chunk_line=16)

# -- valid requests ------------------------------------------------------------


@dataclass(frozen=True)
class Valid:
    id: str
    raw: bytes
    messages: list[Message]
    limits: Limits = field(default_factory=Limits)


PIPELINE = (
    http(b"GET /one HTTP/1.1", b"Host: a")
    + chunked(line=b"POST /two HTTP/1.1", body=b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n")
    + http(b"PUT /three HTTP/1.1", b"Host: a", b"Content-Length: 4", body=b"wxyz")
)

VALID = [
    Valid("simple-get", http(b"GET /index.html?q=1&r=%20 HTTP/1.1", b"Host: example.com"),
          [done(head(target="/index.html?q=1&r=%20", headers={"host": "example.com"}))]),
    Valid("extension-method", http(b"M-SEARCH /x HTTP/1.1", b"Host: a"),
          [done(head(method="M-SEARCH", target="/x"))]),
    Valid("http10", http(b"GET / HTTP/1.0"),
          [done(head(version="1.0", headers={}, keep_alive=False))]),
    Valid("http10-keep-alive", http(b"GET / HTTP/1.0", b"Connection: keep-alive"),
          [done(head(version="1.0", headers={"connection": "keep-alive"}, keep_alive=True))]),
    Valid("http10-keep-alive-mixed-case", http(b"GET / HTTP/1.0", b"Connection: Keep-Alive"),
          [done(head(version="1.0", headers={"connection": "Keep-Alive"}, keep_alive=True))]),
    Valid("http10-keep-alive-then-close",
          http(b"GET / HTTP/1.0", b"Connection: keep-alive", b"Connection: close"),
          [done(head(version="1.0", headers={"connection": "keep-alive, close"},
                     keep_alive=False))]),
    Valid("connection-close", http(b"GET / HTTP/1.1", b"Host: a", b"Connection: close"),
          [done(head(headers={"host": "a", "connection": "close"}, keep_alive=False))]),
    Valid("connection-close-in-list",
          http(b"GET / HTTP/1.1", b"Host: a", b"Connection: upgrade,\tCLOSE "),
          [done(head(headers={"host": "a", "connection": "upgrade,\tCLOSE"}, keep_alive=False))]),
    Valid("post-content-length",
          http(b"POST /submit HTTP/1.1", b"Host: a", b"Content-Length: 11", body=b"hello world"),
          [done(head("POST", "/submit", headers={"host": "a", "content-length": "11"},
                     content_length=11), b"hello world")]),
    Valid("post-body-with-crlfs",
          http(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 8", body=b"\r\n\r\n\n\r\x00\xff"),
          [done(head("POST", headers={"host": "a", "content-length": "8"}, content_length=8),
                b"\r\n\r\n\n\r\x00\xff")]),
    Valid("content-length-zero", http(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 0"),
          [done(head("POST", headers={"host": "a", "content-length": "0"}))]),
    # Trailer fields are checked and dropped: never merged into the headers.
    Valid("chunked-extensions-trailers",
          chunked(body=b'5;name=value\r\nhello\r\n6 ; q="a;b\\"c" ;\tflag\r\n world\r\n'
                       b"A\r\n0123456789\r\n0;last\r\nX-Checksum: abc\r\nX-Other:  1 \r\n\r\n"),
          [done(head("POST", headers=CHUNKED_HEADERS, content_length=None),
                b"hello world0123456789")]),
    Valid("chunked-upper-and-lower-hex",
          chunked(body=b"a\r\n" + b"x" * 10 + b"\r\nB\r\n" + b"y" * 11 + b"\r\n0\r\n\r\n"),
          [done(head("POST", headers=CHUNKED_HEADERS, content_length=None),
                b"x" * 10 + b"y" * 11)]),
    Valid("chunked-leading-zeros", chunked(body=b"0005\r\nhello\r\n000\r\n\r\n"),
          [done(head("POST", headers=CHUNKED_HEADERS, content_length=None), b"hello")]),
    Valid("chunked-empty", chunked(body=b"0\r\n\r\n"),
          [done(head("POST", headers=CHUNKED_HEADERS, content_length=None))]),
    Valid("chunked-case-insensitive",
          http(b"POST / HTTP/1.1", b"Host: a", b"Transfer-Encoding:  Chunked\t",
               body=b"3\r\nabc\r\n0\r\n\r\n"),
          [done(head("POST", headers={"host": "a", "transfer-encoding": "Chunked"},
                     content_length=None), b"abc")]),
    Valid("leading-crlf", b"\r\n\r\n" + http(b"GET / HTTP/1.1", b"Host: a"),
          [done(head())]),
    Valid("absolute-form", http(b"GET http://example.com:8080/a/b?c=d HTTP/1.1", b"Host: x"),
          [done(head(target="/a/b?c=d", headers={"host": "x"}))]),
    Valid("absolute-form-no-path", http(b"GET HTTPS://example.com HTTP/1.1", b"Host: x"),
          [done(head(target="/", headers={"host": "x"}))]),
    Valid("absolute-form-query-only", http(b"GET http://example.com?x=1 HTTP/1.1", b"Host: x"),
          [done(head(target="/?x=1", headers={"host": "x"}))]),
    Valid("options-asterisk", http(b"OPTIONS * HTTP/1.1", b"Host: a"),
          [done(head("OPTIONS", "*"))]),
    Valid("ows-around-values",
          http(b"GET / HTTP/1.1", b"Host:a", b"X-A: \t spaced \t", b"X-B:\tin  side\t",
               b"X-C:", b"X-D:   "),
          [done(head(headers={"host": "a", "x-a": "spaced", "x-b": "in  side",
                              "x-c": "", "x-d": ""}))]),
    Valid("obs-text-in-value",
          http(b"GET / HTTP/1.1", b"Host: a", b"X-Name: caf\xc3\xa9 \x80\xff\xa0\x85"),
          [done(head(headers={"host": "a", "x-name": "caf\xc3\xa9 \x80\xff\xa0\x85"}))]),
    Valid("repeated-headers-joined",
          http(b"GET / HTTP/1.1", b"Host: a", b"Accept: a", b"X-Dup: 1", b"ACCEPT: b",
               b"Cookie: x=1", b"x-dup: 2", b"cookie: y=2"),
          [done(head(headers={"host": "a", "accept": "a, b", "x-dup": "1, 2",
                              "cookie": "x=1; y=2"}))]),
    Valid("expect-100-continue",
          http(b"POST / HTTP/1.1", b"Host: a", b"Expect: 100-continue", b"Content-Length: 3",
               body=b"abc"),
          [done(head("POST", headers={"host": "a", "expect": "100-continue",
                                      "content-length": "3"},
                     content_length=3, expect_continue=True), b"abc")]),
    Valid("expect-100-continue-case",
          http(b"PUT / HTTP/1.1", b"Host: a", b"Expect: 100-Continue", b"Content-Length: 0"),
          [done(head("PUT", headers={"host": "a", "expect": "100-Continue",
                                     "content-length": "0"}, expect_continue=True))]),
    Valid("expect-100-continue-http10",  # no 100 Continue is sent to HTTP/1.0
          http(b"POST / HTTP/1.0", b"Expect: 100-continue", b"Content-Length: 1", body=b"x"),
          [done(head("POST", version="1.0",
                     headers={"expect": "100-continue", "content-length": "1"},
                     content_length=1), b"x")]),
    Valid("pipelined-three", PIPELINE, [
        done(head(target="/one")),
        done(head("POST", "/two", headers=CHUNKED_HEADERS, content_length=None), b"abcde"),
        done(head("PUT", "/three", headers={"host": "a", "content-length": "4"},
                  content_length=4), b"wxyz"),
    ]),
    Valid("pipelined-crlf-between",
          http(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 1", body=b"x")
          + b"\r\n" + http(b"GET /next HTTP/1.1", b"Host: a"),
          [done(head("POST", headers={"host": "a", "content-length": "1"}, content_length=1),
                b"x"),
           done(head(target="/next"))]),
    # Counting the trailer lines of one message must not eat into the limits
    # of the next message's head.
    Valid("pipelined-after-trailers-fields-at-limit",
          chunked(body=b"0\r\nT: 1\r\nU: 2\r\nV: 3\r\n\r\n")
          + http(b"GET /next HTTP/1.1", b"Host: a", b"A: 1", b"B: 2", b"C: 3"),
          [done(head("POST", headers=CHUNKED_HEADERS, content_length=None)),
           done(head(target="/next", headers={"host": "a", "a": "1", "b": "2", "c": "3"}))],
          Limits(header_fields=4)),
    Valid("pipelined-after-trailers-request-line-at-limit",
          chunked(body=b"0\r\nT: 1\r\n\r\n")
          + http(b"GET /" + b"n" * 30 + b" HTTP/1.1", b"Host: a"),
          [done(head("POST", headers=CHUNKED_HEADERS, content_length=None)),
           done(head(target="/" + "n" * 30))],
          Limits(request_line=44, header_field_size=30)),
    # Limits are inclusive; each boundary is exactly at the limit (SMALL).
    Valid("request-line-at-limit", http(b"GET /" + b"a" * 18 + b" HTTP/1.1", b"Host: a"),
          [done(head(target="/" + "a" * 18))], SMALL),
    # A field line counts with its CRLF, as in gunicorn: 26 + 2 bytes.
    Valid("field-at-limit", http(b"GET / HTTP/1.1", b"Host: a", b"X-Long: " + b"v" * 18),
          [done(head(headers={"host": "a", "x-long": "v" * 18}))], SMALL),
    Valid("fields-at-limit", http(b"GET / HTTP/1.1", b"Host: a", b"A: 1", b"B: 2", b"C: 3"),
          [done(head(headers={"host": "a", "a": "1", "b": "2", "c": "3"}))], SMALL),
    Valid("body-at-limit",
          http(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 16", body=b"b" * 16),
          [done(head("POST", headers={"host": "a", "content-length": "16"},
                     content_length=16), b"b" * 16)], SMALL),
    Valid("chunked-body-at-limit",
          http(b"POST / HTTP/1.1", b"Host: a", b"Transfer-Encoding: chunked",
               body=b"8\r\n" + b"c" * 8 + b"\r\n8\r\n" + b"d" * 8 + b"\r\n0\r\n\r\n"),
          [done(head("POST", headers=CHUNKED_HEADERS, content_length=None),
                b"c" * 8 + b"d" * 8)], Limits(body_size=16)),
    # "chunk_line: 400 past it" -- a line of exactly chunk_line bytes is valid.
    Valid("chunk-line-at-limit",
          chunked(body=b"3;" + b"e" * 14 + b"\r\nabc\r\n0\r\n\r\n"),
          [done(head("POST", headers=CHUNKED_HEADERS, content_length=None), b"abc")],
          Limits(chunk_line=16)),
    # Trailers have the header limits: per field and per count, no total.
    Valid("trailers-at-limits",
          chunked(body=b"0\r\n" + b"".join(b"T%d: " % i + b"t" * 22 + b"\r\n" for i in range(4))
                  + b"\r\n"),
          [done(head("POST", headers=CHUNKED_HEADERS, content_length=None))],
          Limits(header_field_size=28, header_fields=4)),
    # The default limits at their boundary, counted as gunicorn counts them
    # (issue 10): the request line without its CRLF, a field line with it.
    Valid("request-line-at-default-limit",
          http(b"GET /" + b"a" * 8176 + b" HTTP/1.1", b"Host: a"),
          [done(head(target="/" + "a" * 8176))]),
    Valid("field-line-at-default-limit",
          http(b"GET / HTTP/1.1", b"Host: a", b"X-Long: " + b"v" * 8180),
          [done(head(headers={"host": "a", "x-long": "v" * 8180}))]),
    Valid("trailer-line-at-default-limit",
          chunked(body=b"0\r\nT: " + b"t" * 8185 + b"\r\n\r\n"),
          [done(head("POST", headers=CHUNKED_HEADERS, content_length=None))]),
]

FOLLOWER = http(b"GET /after HTTP/1.1", b"Host: follower")
FOLLOWER_MESSAGE = done(head(target="/after", headers={"host": "follower"}))


@pytest.mark.parametrize("case", VALID, ids=lambda case: case.id)
def test_valid_whole(case: Valid) -> None:
    assert parse(whole(case.raw), case.limits) == case.messages


@pytest.mark.parametrize("case", VALID, ids=lambda case: case.id)
def test_valid_byte_by_byte(case: Valid) -> None:
    assert parse(bytewise(case.raw), case.limits) == case.messages


@pytest.mark.parametrize("case", VALID, ids=lambda case: case.id)
def test_valid_split_at_every_offset(case: Valid) -> None:
    for offset, chunks in two_pieces(case.raw):
        try:
            messages = parse(chunks, case.limits)
        except ProtocolError as exc:
            pytest.fail(f"split at {offset}: {exc.status} {exc.reason}")
        assert messages == case.messages, f"split at {offset}"


@pytest.mark.parametrize("case", VALID, ids=lambda case: case.id)
def test_valid_then_pipelined_request(case: Valid) -> None:
    assert parse(whole(case.raw + FOLLOWER), case.limits) == [*case.messages, FOLLOWER_MESSAGE]


LONG_FOLLOWER = http(b"GET /after HTTP/1.1", b"Host: follower", b"X: " + b"x" * 2100)


@pytest.mark.parametrize("case", [case for case in VALID if case.limits == Limits()],
                         ids=lambda case: case.id)
def test_valid_in_a_long_buffer(case: Valid) -> None:
    """A small buffer is matched whole for the next head, a longer one is
    searched for its end first: both read every request the same."""
    follower = done(head(target="/after", headers={"host": "follower", "x": "x" * 2100}))
    assert parse(whole(case.raw + LONG_FOLLOWER)) == [*case.messages, follower]


def test_next_message_waits_for_start_next_message() -> None:
    parser = RequestParser()
    parser.feed(http(b"POST /1 HTTP/1.1", b"Host: a", b"Content-Length: 1", body=b"x")
                + FOLLOWER + FOLLOWER)
    assert parser.next_event()[4] == 1
    assert parser.next_event() == b"x"
    assert parser.next_event() is END_OF_MESSAGE
    assert parser.next_event() is None
    assert parser.next_event() is None
    parser.start_next_message()
    assert parser.next_event() == FOLLOWER_MESSAGE.head  # bodyless: the whole message
    assert parser.next_event() is None
    assert parser.next_event() is None
    with pytest.raises(RuntimeError):  # not before a message has ended
        RequestParser().start_next_message()
    parser.start_next_message()
    assert parser.next_event() == FOLLOWER_MESSAGE.head


def test_partial_message_is_incomplete_until_its_last_byte() -> None:
    raw = chunked(body=b"5\r\nhello\r\n0\r\n\r\n")
    for end in range(len(raw)):
        assert all(not message.complete for message in parse([raw[:end]]))


# -- invalid requests ----------------------------------------------------------


@dataclass(frozen=True)
class Invalid:
    id: str
    raw: bytes
    status: int
    limits: Limits = field(default_factory=Limits)


def cl(value: bytes, body: bytes = b"hello") -> bytes:
    return http(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: " + value, body=body)


def te(value: bytes, line: bytes = b"POST / HTTP/1.1") -> bytes:
    return http(line, b"Host: a", b"Transfer-Encoding: " + value, body=b"0\r\n\r\n")


def get(*fields: bytes, line: bytes = b"GET / HTTP/1.1") -> bytes:
    return http(line, *fields)


def chunk_body(body: bytes) -> bytes:
    return chunked(body=body)


LONG = b"x" * 8200  # past the default 8190 of request_line and header_field_size
PRECEDER = http(b"POST /before HTTP/1.1", b"Host: a", b"Content-Length: 2", body=b"ok")

INVALID = [
    # framing: Content-Length
    Invalid("cl-and-te", http(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 5",
                              b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"), 400),
    Invalid("te-and-cl", http(b"POST / HTTP/1.1", b"Host: a", b"Transfer-Encoding: chunked",
                              b"Content-Length: 5", body=b"0\r\n\r\n"), 400),
    Invalid("cl-differing-list", cl(b"5, 6"), 400),
    Invalid("cl-differing-lines", http(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 5",
                                       b"Content-Length: 6", body=b"hello!"), 400),
    # Content-Length is one field line of plain digits, never a list, even
    # of identical values: a proxy may fold it differently (issue 10).
    Invalid("cl-identical-list", cl(b"5, 5"), 400),
    Invalid("cl-identical-list-no-space", cl(b"5,5"), 400),
    Invalid("cl-identical-list-ows", cl(b"5 ,\t5"), 400),
    Invalid("cl-identical-lines", http(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 5",
                                       b"content-length: 5", body=b"hello"), 400),
    Invalid("cl-plus", cl(b"+5"), 400),
    Invalid("cl-minus", cl(b"-5"), 400),
    Invalid("cl-space-inside", cl(b"5 5"), 400),
    Invalid("cl-space-inside-list-element", cl(b"5, 5 5"), 400),
    Invalid("cl-nbsp-in-list", cl(b"5,\xa05"), 400),
    Invalid("cl-vertical-tab-in-list", cl(b"5, \x0b5"), 400),
    Invalid("cl-form-feed", cl(b"5\x0c"), 400),
    Invalid("cl-empty-element", cl(b"5, , 5"), 400),
    Invalid("cl-trailing-comma", cl(b"5,"), 400),
    Invalid("cl-empty", cl(b""), 400),
    Invalid("cl-underscore", cl(b"5_0", body=b"x" * 50), 400),
    Invalid("cl-hex", cl(b"0x5"), 400),
    Invalid("cl-arabic-indic-digit", cl("\u0661".encode(), body=b"x"), 400),
    Invalid("cl-mathematical-digit", cl("\U0001d7d9".encode(), body=b"x"), 400),
    Invalid("cl-superscript", cl("\u00b2".encode("latin-1"), body=b"xx"), 400),
    Invalid("cl-decimal-point", cl(b"5.0"), 400),
    Invalid("cl-20-digits", cl(b"1" * 20), 400),
    Invalid("cl-4300-digits", cl(b"1" * 4300), 400),  # past int_max_str_digits
    Invalid("cl-over-body-size", cl(b"17", body=b""), 413, SMALL),
    Invalid("cl-over-default-body-size", cl(b"1048577", body=b""), 413),
    # framing: Transfer-Encoding
    Invalid("te-gzip-chunked", te(b"gzip, chunked"), 501),
    Invalid("te-gzip-then-chunked-lines", http(b"POST / HTTP/1.1", b"Host: a",
                                               b"Transfer-Encoding: gzip",
                                               b"Transfer-Encoding: chunked",
                                               body=b"0\r\n\r\n"), 501),
    # A coding this server does not decode, in a well-formed list, is 501;
    # a malformed list is 400 (issue 10).
    Invalid("te-unknown-coding", te(b"xchunked"), 501),
    Invalid("te-gzip-only", te(b"gzip"), 501),
    Invalid("te-identity", te(b"identity"), 501),
    Invalid("te-unknown-then-chunked", te(b"x-custom, chunked"), 501),
    Invalid("te-chunked-gzip", te(b"chunked, gzip"), 400),
    Invalid("te-chunked-then-unknown", te(b"chunked, xchunked"), 400),
    Invalid("te-chunked-twice-around-gzip", te(b"chunked, gzip, chunked"), 400),
    Invalid("te-gzip-with-parameter", te(b"gzip;q=1, chunked"), 400),
    Invalid("te-separator-in-coding", te(b"gz(ip), chunked"), 400),
    Invalid("te-chunked-twice", te(b"chunked, chunked"), 400),
    Invalid("te-chunked-twice-lines", http(b"POST / HTTP/1.1", b"Host: a",
                                           b"Transfer-Encoding: chunked",
                                           b"Transfer-Encoding: chunked",
                                           body=b"0\r\n\r\n"), 400),
    Invalid("te-trailing-empty-element", te(b"chunked, "), 400),
    Invalid("te-leading-empty-element", te(b", chunked"), 400),
    Invalid("te-empty", te(b""), 400),
    Invalid("te-chunked-with-parameter", te(b"chunked;q=1"), 400),
    Invalid("te-chunked-nbsp", te(b"\xa0chunked"), 400),
    Invalid("te-chunked-vertical-tab", te(b"chunked\x0b"), 400),
    Invalid("te-http10", te(b"chunked", line=b"POST / HTTP/1.0"), 400),
    # chunked body
    Invalid("chunk-size-0x", chunk_body(b"0x5\r\nhello\r\n0\r\n\r\n"), 400),
    Invalid("chunk-size-plus", chunk_body(b"+5\r\nhello\r\n0\r\n\r\n"), 400),
    Invalid("chunk-size-minus", chunk_body(b"-5\r\nhello\r\n0\r\n\r\n"), 400),
    Invalid("chunk-size-empty", chunk_body(b"\r\nhello\r\n0\r\n\r\n"), 400),
    Invalid("chunk-size-not-hex", chunk_body(b"g\r\nhello\r\n0\r\n\r\n"), 400),
    Invalid("chunk-size-underscore", chunk_body(b"1_0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n"), 400),
    Invalid("chunk-size-leading-space", chunk_body(b" 5\r\nhello\r\n0\r\n\r\n"), 400),
    Invalid("chunk-size-trailing-space", chunk_body(b"5 \r\nhello\r\n0\r\n\r\n"), 400),
    Invalid("chunk-size-17-digits", chunk_body(b"0" * 16 + b"5\r\nhello\r\n0\r\n\r\n"), 400),
    Invalid("chunk-size-arabic-digit",
            chunk_body("\u0665".encode() + b"\r\nhello\r\n0\r\n\r\n"), 400),
    Invalid("chunk-ext-bare-cr", chunk_body(b"5;a\rb\r\nhello\r\n0\r\n\r\n"), 400),
    Invalid("chunk-ext-nul", chunk_body(b"5;a\x00\r\nhello\r\n0\r\n\r\n"), 400),
    Invalid("chunk-ext-bare-lf", chunk_body(b"5;a\nb\r\nhello\r\n0\r\n\r\n"), 400),
    Invalid("chunk-ext-no-name", chunk_body(b"5;\r\nhello\r\n0\r\n\r\n"), 400),
    Invalid("chunk-ext-unterminated-quote",
            chunk_body(b'5;a="b\r\nhello\r\n0\r\n\r\n'), 400),
    Invalid("chunk-data-no-crlf", chunk_body(b"5\r\nhelloXX0\r\n\r\n"), 400),
    Invalid("chunk-data-too-long", chunk_body(b"5\r\nhello!\r\n0\r\n\r\n"), 400),
    Invalid("chunk-data-bare-lf", chunk_body(b"5\r\nhello\n0\r\n\r\n"), 400),
    Invalid("chunk-data-bare-cr", chunk_body(b"5\r\nhello\r0\r\n\r\n"), 400),
    Invalid("chunk-line-bare-lf", chunk_body(b"5\nhello\r\n0\r\n\r\n"), 400),
    Invalid("last-chunk-bare-lf", chunk_body(b"0\n\r\n"), 400),
    Invalid("chunked-end-bare-lf", chunk_body(b"0\r\n\n"), 400),
    Invalid("chunked-over-body-size", chunk_body(b"11\r\n" + b"x" * 17 + b"\r\n0\r\n\r\n"),
            413, SMALL),
    Invalid("chunked-over-body-size-sum",
            chunk_body(b"9\r\n" + b"x" * 9 + b"\r\n8\r\n" + b"y" * 8 + b"\r\n0\r\n\r\n"),
            413, SMALL),
    Invalid("chunked-huge-size", chunk_body(b"ffffffffffffffff\r\n"), 413),
    Invalid("chunk-line-over-limit", chunk_body(b"5;" + b"e" * 5000 + b"\r\nhello\r\n0\r\n\r\n"),
            400),
    Invalid("chunk-line-over-limit-unterminated", chunk_body(b"5;" + b"e" * 5000), 400),
    Invalid("chunk-line-zeros-unterminated", chunk_body(b"0" * 5000), 400),
    # trailers
    Invalid("trailer-obs-fold", chunk_body(b"0\r\nT: 1\r\n 2\r\n\r\n"), 400),
    Invalid("trailer-bare-lf", chunk_body(b"0\r\nT: 1\nU: 2\r\n\r\n"), 400),
    Invalid("trailer-bare-cr", chunk_body(b"0\r\nT: 1\rU: 2\r\n\r\n"), 400),
    Invalid("trailer-nul", chunk_body(b"0\r\nT: 1\x00\r\n\r\n"), 400),
    Invalid("trailer-space-before-colon", chunk_body(b"0\r\nT : 1\r\n\r\n"), 400),
    Invalid("trailer-field-over-limit", chunk_body(b"0\r\nT: " + LONG + b"\r\n\r\n"), 431),
    # fields that may not be sent in a trailer (RFC 9110 6.5.1, issue 10)
    Invalid("trailer-content-length", chunk_body(b"0\r\nContent-Length: 5\r\n\r\n"), 400),
    Invalid("trailer-transfer-encoding",
            chunk_body(b"0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400),
    Invalid("trailer-host", chunk_body(b"0\r\nHost: evil.example\r\n\r\n"), 400),
    Invalid("trailer-after-allowed-one",
            chunk_body(b"3\r\nabc\r\n0\r\nX-Checksum: 1\r\nhost: a\r\n\r\n"), 400),
    *(Invalid(f"trailer-{name}", chunk_body(b"0\r\n" + name.title().encode() + b": 1\r\n\r\n"),
              400)
      for name in sorted(NOT_IN_TRAILERS - {"content-length", "transfer-encoding", "host"})),
    Invalid("trailer-too-many-fields",
            chunk_body(b"0\r\n" + b"T: 1\r\n" * 101 + b"\r\n"), 431),
    Invalid("trailer-field-never-ends", chunk_body(b"0\r\nT: " + LONG), 431),
    Invalid("trailer-fields-never-end", chunk_body(b"0\r\n" + b"T: 1\r\n" * 101), 431),
    # line endings
    Invalid("bare-lf-request-line", b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
    Invalid("bare-lf-field", b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400),
    Invalid("bare-lf-head-end", b"GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
    Invalid("bare-lf-everywhere", b"GET / HTTP/1.1\nHost: a\n\n", 400),
    Invalid("bare-lf-leading", b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    Invalid("bare-lf-after-crlf", b"\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    Invalid("bare-cr-request-line", b"GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
    Invalid("bare-cr-field", b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400),
    Invalid("bare-cr-field-end", b"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", 400),
    Invalid("bare-cr-leading", b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    Invalid("bare-cr-head-end", b"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n\r\n", 400),
    # fields
    Invalid("obs-fold-space", get(b"Host: a", b"X: b", b" c"), 400),
    Invalid("obs-fold-tab", get(b"Host: a", b"X: b", b"\tc"), 400),
    Invalid("first-field-folded", get(b" Host: a"), 400),
    Invalid("space-before-colon", get(b"Host : a"), 400),
    Invalid("tab-before-colon", get(b"Host\t: a"), 400),
    Invalid("space-before-colon-te",
            http(b"POST / HTTP/1.1", b"Host: a", b"Transfer-Encoding : chunked",
                 body=b"0\r\n\r\n"), 400),
    Invalid("empty-name", get(b"Host: a", b": b"), 400),
    Invalid("no-colon", get(b"Host: a", b"X-No-Colon"), 400),
    Invalid("nul-in-name", get(b"Host: a", b"X\x00Y: b"), 400),
    Invalid("ctl-in-name", get(b"Host: a", b"X\x01: b"), 400),
    Invalid("separator-in-name", get(b"Host: a", b"X(y): b"), 400),
    Invalid("non-ascii-in-name", get(b"Host: a", b"X\xe9: b"), 400),
    Invalid("nul-in-value", get(b"Host: a", b"X: a\x00b"), 400),
    Invalid("ctl-in-value", get(b"Host: a", b"X: a\x01b"), 400),
    Invalid("escape-in-value", get(b"Host: a", b"X: a\x1bb"), 400),
    Invalid("del-in-value", get(b"Host: a", b"X: a\x7fb"), 400),
    Invalid("vertical-tab-in-value", get(b"Host: a", b"X: \x0bb"), 400),
    # request line
    Invalid("method-separator", get(b"Host: a", line=b"GE(T / HTTP/1.1"), 400),
    Invalid("method-at", get(b"Host: a", line=b"G@T / HTTP/1.1"), 400),
    Invalid("method-nul", get(b"Host: a", line=b"GET\x00 / HTTP/1.1"), 400),
    Invalid("method-non-ascii", get(b"Host: a", line=b"G\xc9T / HTTP/1.1"), 400),
    Invalid("method-empty", get(b"Host: a", line=b" / HTTP/1.1"), 400),
    Invalid("double-space", get(b"Host: a", line=b"GET  / HTTP/1.1"), 400),
    Invalid("tab-separator", get(b"Host: a", line=b"GET\t/ HTTP/1.1"), 400),
    Invalid("trailing-space", get(b"Host: a", line=b"GET / HTTP/1.1 "), 400),
    Invalid("no-version", get(b"Host: a", line=b"GET /"), 400),
    Invalid("space-in-target", get(b"Host: a", line=b"GET /a b HTTP/1.1"), 400),
    Invalid("non-ascii-in-target", get(b"Host: a", line=b"GET /caf\xe9 HTTP/1.1"), 400),
    Invalid("lowercase-http", get(b"Host: a", line=b"GET / http/1.1"), 400),
    Invalid("http-2.0", get(b"Host: a", line=b"GET / HTTP/2.0"), 505),
    Invalid("http-0.9", get(b"Host: a", line=b"GET / HTTP/0.9"), 505),
    Invalid("http-1.10", get(b"Host: a", line=b"GET / HTTP/1.10"), 400),
    Invalid("http-1", get(b"Host: a", line=b"GET / HTTP/1"), 400),
    Invalid("http-11", get(b"Host: a", line=b"GET / HTTP/11"), 400),
    Invalid("http-arabic-digit", get(b"Host: a", line="GET / HTTP/1.\u0661".encode()), 400),
    # a request-target never carries a fragment (issue 10)
    Invalid("fragment-in-target", get(b"Host: a", line=b"GET /path#frag HTTP/1.1"), 400),
    Invalid("fragment-after-query", get(b"Host: a", line=b"GET /p?q=1#f HTTP/1.1"), 400),
    Invalid("fragment-only", get(b"Host: a", line=b"GET # HTTP/1.1"), 400),
    Invalid("fragment-empty", get(b"Host: a", line=b"GET /path# HTTP/1.1"), 400),
    Invalid("fragment-in-absolute-form",
            get(b"Host: a", line=b"GET http://a/path#frag HTTP/1.1"), 400),
    Invalid("asterisk-with-get", get(b"Host: a", line=b"GET * HTTP/1.1"), 400),
    Invalid("asterisk-prefix", get(b"Host: a", line=b"OPTIONS *x HTTP/1.1"), 400),
    Invalid("relative-target", get(b"Host: a", line=b"GET a/b HTTP/1.1"), 400),
    Invalid("authority-form", get(b"Host: a", line=b"GET example.com:80 HTTP/1.1"), 400),
    Invalid("other-scheme", get(b"Host: a", line=b"GET ftp://example.com/ HTTP/1.1"), 400),
    # Host
    Invalid("missing-host", get(), 400),
    Invalid("missing-host-other-fields", get(b"X-Host: a", b"Hosts: b"), 400),
    Invalid("two-hosts", get(b"Host: a", b"Host: a"), 400),
    Invalid("two-hosts-case", get(b"Host: a", b"host: b"), 400),
    Invalid("host-with-space", get(b"Host: a b"), 400),
    Invalid("host-with-slash", get(b"Host: a/b"), 400),
    Invalid("host-with-at", get(b"Host: evil@a"), 400),
    # single-valued fields on two lines (SINGLE_FIELDS), as sent and in
    # another case; Host and Content-Length have their own cases above
    Invalid("two-content-types", get(b"Host: a", b"Content-Type: text/plain",
                                     b"Content-Type: application/json"), 400),
    Invalid("two-content-types-posted",
            http(b"POST / HTTP/1.1", b"Host: a", b"Content-Type: application/json",
                 b"Content-Length: 2", b"content-type: text/plain", body=b"{}"), 400),
    Invalid("two-authorizations", get(b"Host: a", b"Authorization: Basic YTpi",
                                      b"Authorization: Basic YzpK"), 400),
    Invalid("two-ranges", get(b"Host: a", b"Range: bytes=0-1", b"Range: bytes=2-3"), 400),
    Invalid("two-if-modified-since",
            get(b"Host: a", b"If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT",
                b"If-Modified-Since: Sun, 06 Nov 1994 08:49:38 GMT"), 400),
    *(Invalid(f"two-{name}-lines", get(b"Host: a", name.title().encode() + b": 1",
                                       name.upper().encode() + b": 1"), 400)
      for name in sorted(SINGLE_FIELDS - {"host"})),
    # Expect
    Invalid("expect-other", get(b"Host: a", b"Expect: something-else"), 417),
    Invalid("expect-100-continue-and-more", get(b"Host: a", b"Expect: 100-continue, x"), 417),
    # limits
    Invalid("request-line-over-limit", get(b"Host: a", line=b"GET /" + LONG + b" HTTP/1.1"), 414),
    Invalid("request-line-over-limit-unterminated", b"GET /" + LONG, 414),
    Invalid("request-line-over-small-limit",
            get(b"Host: a", line=b"GET /" + b"a" * 19 + b" HTTP/1.1"), 414, SMALL),
    Invalid("too-many-fields", get(b"Host: a", *(b"X-%d: v" % i for i in range(100))), 431),
    Invalid("too-many-fields-small", get(b"Host: a", b"A: 1", b"B: 2", b"C: 3", b"D: 4"),
            431, SMALL),
    Invalid("field-over-limit", get(b"Host: a", b"X-Long: " + LONG), 431),
    Invalid("field-over-limit-unterminated", b"GET / HTTP/1.1\r\nX-Long: " + LONG, 431),
    Invalid("field-over-small-limit", get(b"Host: a", b"X-Long: " + b"v" * 19), 431, SMALL),
    # gunicorn's counts at the default 8190: an 8191-byte request line is
    # 414, an 8189-byte field line (8191 with its CRLF) is 431 (issue 10).
    Invalid("request-line-8191-bytes", get(b"Host: a", line=b"GET /" + b"a" * 8177 + b" HTTP/1.1"),
            414),
    Invalid("field-line-8189-bytes", get(b"Host: a", b"X-Long: " + b"v" * 8181), 431),
    Invalid("field-line-8190-bytes-unterminated",
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + b"v" * 8182, 431),
    Invalid("trailer-line-8189-bytes", chunk_body(b"0\r\nT: " + b"t" * 8186 + b"\r\n\r\n"), 431),
    Invalid("trailer-line-8190-bytes-unterminated", chunk_body(b"0\r\nT: " + b"t" * 8187), 431),
]


@pytest.mark.parametrize("case", INVALID, ids=lambda case: case.id)
def test_invalid_whole(case: Invalid) -> None:
    assert parse_error(whole(case.raw), case.limits).status == case.status


@pytest.mark.parametrize("case", INVALID, ids=lambda case: case.id)
def test_invalid_byte_by_byte(case: Invalid) -> None:
    assert parse_error(bytewise(case.raw), case.limits).status == case.status


@pytest.mark.parametrize("case", INVALID, ids=lambda case: case.id)
def test_invalid_split_at_every_offset(case: Invalid) -> None:
    for offset, chunks in two_pieces(case.raw):
        assert parse_error(chunks, case.limits).status == case.status, f"split at {offset}"


@pytest.mark.parametrize("case", INVALID, ids=lambda case: case.id)
def test_invalid_after_a_pipelined_request(case: Invalid) -> None:
    """What a connection served before must not change how it reads the
    next request (the parser caches the Host it checked, for one)."""
    assert parse_error(whole(PRECEDER + case.raw), case.limits).status == case.status


# Two defects in one request: which one is reported must not depend on how
# the bytes arrive either (the first in byte order is the natural answer).
TWO_DEFECTS = {
    "bare-lf-then-long-field": b"GET / HTTP/1.1\nX: " + LONG + b"\r\n\r\n",
    "bad-version-then-long-field": b"GET / HTTP/2.0\r\nHost: a\r\nX: " + LONG + b"\r\n\r\n",
    "bad-request-line-then-long-field": b"GET  / HTTP/1.1\r\nX: " + LONG + b"\r\n\r\n",
    "bare-lf-field-then-too-many": b"GET / HTTP/1.1\r\nA: 1\n" + b"X: 1\r\n" * 120 + b"\r\n",
    "bad-request-line-then-too-many": b"GET  / HTTP/1.1\r\n" + b"X: 1\r\n" * 120 + b"\r\n",
    "too-many-then-bare-lf-in-that-field":
        b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: 1\r\n" * 99 + b"Y: 1\nZ: 2\r\n\r\n",
}


@pytest.mark.parametrize("raw", TWO_DEFECTS.values(), ids=TWO_DEFECTS.keys())
def test_error_status_does_not_depend_on_split(raw: bytes) -> None:
    assert parse_error(bytewise(raw)).status == parse_error(whole(raw)).status


def test_declared_body_over_limit_fails_before_the_body() -> None:
    """The head comes out first (the caller may set the message's own
    limit), then the declared length fails before any body byte is read."""
    parser = RequestParser(Limits(body_size=10))
    parser.feed(http(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 11"))
    assert Head(*parser.next_event()).content_length == 11
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert info.value.status == 413


@pytest.mark.parametrize("limit, status", [(10, 413), (11, None)])
@pytest.mark.parametrize("framing", ["declared", "chunked"])
def test_a_message_limit_set_after_the_head_wins_both_ways(limit, status, framing) -> None:
    """A limit set between the head and the next event holds for that
    message only, above the default or below it; the next head restores
    the default."""
    if framing == "declared":
        raw = http(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 11", body=b"x" * 11)
    else:
        raw = chunked(body=b"6\r\nxxxxxx\r\n5\r\nxxxxx\r\n0\r\n\r\n")
    for default in (5, 100):
        parser = RequestParser(Limits(body_size=default))
        parser.feed(raw + raw)
        assert parser.next_event().__class__ is tuple
        parser.body_limit = limit
        if status is not None:
            with pytest.raises(ProtocolError) as info:
                while parser.next_event() is not END_OF_MESSAGE:
                    pass
            assert info.value.status == status
            continue
        body = b""
        while (event := parser.next_event()) is not END_OF_MESSAGE:
            body += event
        assert body == b"x" * 11
        parser.start_next_message()
        assert parser.next_event().__class__ is tuple
        assert parser.body_limit == default


def test_whole_body_takes_a_body_that_came_with_its_head() -> None:
    """`whole_body()` is the body's events in one step when all of it is
    buffered and within the limit; otherwise it takes nothing and the
    events go on as before."""
    raw = http(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 5", body=b"hello")
    parser = RequestParser(Limits(body_size=10))
    parser.feed(raw + raw[:-1])
    assert Head(*parser.next_event()).content_length == 5
    body = parser.whole_body()
    assert body == b"hello" and type(body) is bytes
    assert parser.next_event() is None
    parser.start_next_message()
    assert parser.next_event().__class__ is tuple
    assert parser.whole_body() is None  # one byte short
    parser.feed(b"o")
    assert parser.next_event() == b"hello"
    assert parser.next_event() is END_OF_MESSAGE
    parser.start_next_message()
    parser.feed(raw)  # the buffer holds this body and nothing more
    assert parser.next_event().__class__ is tuple
    body = parser.whole_body()
    assert body == b"hello" and type(body) is bytes and not parser.buffer


def test_whole_body_leaves_a_body_over_the_limit_to_be_refused() -> None:
    parser = RequestParser(Limits(body_size=4))
    parser.feed(http(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 5", body=b"hello"))
    parser.next_event()
    assert parser.whole_body() is None
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert info.value.status == 413


def test_whole_body_takes_nothing_from_a_chunked_body() -> None:
    parser = RequestParser()
    parser.feed(chunked(body=b"5\r\nhello\r\n0\r\n\r\n"))
    parser.next_event()
    assert parser.whole_body() is None
    assert parser.next_event() == b"hello"


def test_chunk_over_limit_fails_before_its_data() -> None:
    parser = RequestParser(Limits(body_size=10))
    parser.feed(chunked(body=b"b\r\n"))
    assert Head(*parser.next_event()).content_length is None
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert info.value.status == 413


@pytest.mark.parametrize("second", [b"Host: a b", b"Host: a\x7f", b"Host: a/"])
def test_host_is_checked_on_every_request_of_a_connection(second: bytes) -> None:
    """A connection's Host is checked once while it stays the same, and
    again as soon as it changes."""
    parser = RequestParser()
    for _ in range(2):
        parser.feed(http(b"GET / HTTP/1.1", b"Host: a"))
        assert Head(*parser.next_event()).headers["host"] == "a"
        parser.start_next_message()
    parser.feed(http(b"GET / HTTP/1.1", second))
    with pytest.raises(ProtocolError) as error:
        parser.next_event()
    assert error.value.status == 400


def test_error_after_a_valid_message_on_the_same_connection() -> None:
    raw = http(b"GET / HTTP/1.1", b"Host: a") + b"GET / HTTP/1.1\nHost: a\r\n\r\n"
    parser = RequestParser()
    parser.feed(raw)
    assert Head(*parser.next_event()).content_length == 0
    parser.start_next_message()
    with pytest.raises(ProtocolError):
        parser.next_event()
    with pytest.raises(ProtocolError):
        parser.next_event()
    with pytest.raises(RuntimeError):
        parser.start_next_message()


class CountingBuffer(bytearray):
    """A parser buffer that counts the bytes its searches look at."""

    scanned = 0

    def find(self, sub, start=0, end=None):  # type: ignore[override]
        stop = len(self) if end is None else min(end, len(self))
        self.scanned += max(stop - start, 0)
        return super().find(sub, start, stop)

    def __contains__(self, item) -> bool:  # type: ignore[override]
        self.scanned += len(self)
        return super().__contains__(item)

    def decode(self, *args) -> str:  # type: ignore[override]
        self.scanned += len(self)  # the whole buffer, matched for a new head
        return super().decode(*args)


def bytes_scanned_while_trickling(prefix: bytes, data: bytes) -> int:
    parser = RequestParser()
    parser.buffer = buffer = CountingBuffer()
    parser.feed(prefix)
    while parser.next_event() is not None:
        pass
    for i in range(len(data)):
        parser.feed(data[i:i + 1])
        while parser.next_event() is not None:
            pass
    return buffer.scanned


@pytest.mark.parametrize("prefix, data", [
    (b"", b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"x" * 8000 + b"\r\n\r\n"),
    (chunked(body=b"0\r\n"), b"T: " + b"t" * 8000 + b"\r\n\r\n"),
], ids=["head", "trailers"])
def test_trickled_input_is_scanned_in_linear_time(prefix: bytes, data: bytes) -> None:
    """A client sending one byte per packet must not make the parser rescan
    what it already checked (quadratic CPU): count the bytes searched."""
    assert bytes_scanned_while_trickling(prefix, data) < 8 * len(data)


# -- cross-check with h11 ------------------------------------------------------

# h11 rewrites Transfer-Encoding and repeated Content-Length values and
# refuses BWS before a chunk extension's ';', so those cases are left out.
H11_CASES = [case for case in VALID if case.id in {
    "simple-get", "extension-method", "http10", "http10-keep-alive", "connection-close",
    "post-content-length", "post-body-with-crlfs", "chunked-upper-and-lower-hex",
    "chunked-leading-zeros", "options-asterisk", "ows-around-values", "obs-text-in-value",
    "repeated-headers-joined", "expect-100-continue", "chunked-empty",
}]


def h11_parse(raw: bytes) -> tuple[str, str, dict[str, str], bytes]:
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(raw)
    request = connection.next_event()
    assert isinstance(request, h11.Request)
    headers: dict[str, str] = {}
    for name, value in request.headers:
        name, value = name.decode("latin-1"), value.decode("latin-1")
        if name in headers:
            value = headers[name] + ("; " if name == "cookie" else ", ") + value
        headers[name] = value
    body = b""
    while not isinstance(event := connection.next_event(), h11.EndOfMessage):
        assert isinstance(event, h11.Data)
        body += event.data
    return request.method.decode(), request.target.decode(), headers, body


@pytest.mark.parametrize("case", H11_CASES, ids=lambda case: case.id)
def test_agrees_with_h11(case: Valid) -> None:
    [ours] = case.messages
    assert h11_parse(case.raw) == (ours.head.method, ours.head.target, ours.head.headers,
                                   ours.body)
