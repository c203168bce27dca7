"""Parser properties: splits never matter, garbage never crashes, round trips hold.

Well-formed requests are generated together with the head the parser must
produce, so each property checks against a model rather than against the
parser itself.
"""

from __future__ import annotations

import signal
import string
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import h11
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zerodep_http.parser import (
    END_OF_MESSAGE, NOT_IN_TRAILERS, SINGLE_FIELDS, Limits, ProtocolError, RequestParser)

from conftest import Head

FAST = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TCHAR = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters
PATH_CHAR = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%?"
HOST_CHAR = string.ascii_letters + string.digits + "-._~:[]"
# field-vchar and obs-text, as latin-1 text; SP and HTAB only inside.
VALUE_CHAR = "".join(map(chr, [*range(0x21, 0x7F), *range(0x80, 0x100)]))
# Names whose meaning the generator controls itself, names that may not be
# repeated (a generated name may occur twice) or sent in a trailer.
FRAMING = {"host", "content-length", "transfer-encoding", "connection", "expect",
           *SINGLE_FIELDS, *NOT_IN_TRAILERS}


class Message(NamedTuple):
    head: Head
    body: bytes
    complete: bool


@dataclass(frozen=True)
class Generated:
    raw: bytes
    message: Message


# -- generating well-formed requests -------------------------------------------

ows = st.text(" \t", max_size=2)
token = st.text(TCHAR, min_size=1, max_size=10)
field_value = st.text(VALUE_CHAR + " \t", max_size=16).map(lambda value: value.strip(" \t"))
field_name = token.filter(lambda name: name.lower() not in FRAMING)
quoted = st.text("".join(c for c in VALUE_CHAR if c not in '"\\') + " \t", max_size=6).map(
    lambda text: '"' + text + '"')


@st.composite
def chunk_extensions(draw, bws: bool) -> str:
    space = ows if bws else st.just("")
    text = ""
    for name in draw(st.lists(token, max_size=2)):
        text += draw(space) + ";" + draw(space) + name
        if draw(st.booleans()):
            text += draw(space) + "=" + draw(space) + draw(st.one_of(token, quoted))
    return text


@st.composite
def chunked_body(draw, body: bytes, bws: bool) -> bytes:
    cuts = sorted(draw(st.sets(st.integers(1, max(len(body) - 1, 1)), max_size=4)))
    pieces = [body[start:end] for start, end in
              zip([0, *cuts], [*cuts, len(body)]) if body[start:end]]
    out = b""
    for piece in [*pieces, b""]:
        size = "%x" % len(piece)
        size = draw(st.sampled_from(["", "0", "00"])) + (
            size.upper() if draw(st.booleans()) else size)
        out += (size + draw(chunk_extensions(bws))).encode("latin-1") + b"\r\n"
        if piece:
            out += piece + b"\r\n"
    for name, value in draw(st.lists(st.tuples(field_name, field_value), max_size=3)):
        out += f"{name}:{draw(ows)}{value}{draw(ows)}\r\n".encode("latin-1")
    return out + b"\r\n"


@st.composite
def requests(draw, h11_safe: bool = False) -> Generated:
    """A well-formed request and the message the parser must make of it."""
    method = draw(token)
    target = "/" + draw(st.text(PATH_CHAR, max_size=16))
    version = draw(st.sampled_from(["1.1", "1.0"]))
    fields = draw(st.lists(st.tuples(field_name, field_value), max_size=10))
    if version == "1.1" or draw(st.booleans()):
        host = draw(st.text(HOST_CHAR, max_size=12))
        fields.insert(draw(st.integers(0, len(fields))), ("Host", host))
    connection = draw(st.sampled_from([None, "close", "keep-alive", "Keep-Alive, Upgrade"]))
    if connection is not None:
        fields.insert(draw(st.integers(0, len(fields))), ("Connection", connection))
    framing = draw(st.sampled_from(["none", "length", "chunked"] if version == "1.1"
                                   else ["none", "length"]))
    body = draw(st.binary(max_size=40)) if framing != "none" else b""
    content_length: int | None = len(body)
    if framing == "length":
        fields.insert(draw(st.integers(0, len(fields))), ("Content-Length", str(len(body))))
    elif framing == "chunked":
        coding = "chunked" if h11_safe else draw(st.sampled_from(["chunked", "Chunked"]))
        fields.insert(draw(st.integers(0, len(fields))), ("Transfer-Encoding", coding))
        content_length = None

    headers: dict[str, str] = {}
    lines = [f"{method} {target} HTTP/{version}"]
    for name, value in fields:
        lines.append(f"{name}:{draw(ows)}{value}{draw(ows)}")
        key = name.lower()
        if key in headers:
            headers[key] += ("; " if key == "cookie" else ", ") + value
        else:
            headers[key] = value
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    raw += draw(chunked_body(body, bws=not h11_safe)) if framing == "chunked" else body

    if connection is None:
        keep_alive = version == "1.1"
    else:
        tokens = {item.strip().lower() for item in connection.split(",")}
        keep_alive = "close" not in tokens and (version == "1.1" or "keep-alive" in tokens)
    head = Head(method, target, version, headers, content_length, keep_alive, False)
    return Generated(raw, Message(head, body, True))


def split(data: st.DataObject, raw: bytes) -> list[bytes]:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=12), label="cuts"))
    return [raw[start:end] for start, end in zip([0, *cuts], [*cuts, len(raw)])]


# -- driving the parser --------------------------------------------------------


class Outcome(NamedTuple):
    messages: list[Message]
    status: int | None      # the ProtocolError's status, None if none was raised


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


def drive(chunks: list[bytes], limits: Limits = Limits(), whole_bodies: bool = False) -> Outcome:
    """Feed the chunks, draining events; any exception but ProtocolError escapes.

    With `whole_bodies`, a head with a body is followed by `whole_body()`,
    as the connection does: where it gives the body, that must be the
    message the events would have given.
    """
    parser = RequestParser(limits)
    budget = 3 * sum(map(len, chunks)) + 10  # each event consumes input, END aside
    messages: list[Message] = []
    head, body = None, []
    status = None
    with time_limit(5):
        try:
            for chunk in chunks:
                parser.feed(chunk)
                while (event := parser.next_event()) is not None:
                    budget -= 1
                    assert budget > 0, "the parser keeps producing events"
                    if event.__class__ is tuple:
                        assert head is None
                        head = Head(*event)
                        if head.content_length == 0:  # the whole message
                            messages.append(Message(head, b"", True))
                            head = None
                            assert parser.next_event() is None
                            parser.start_next_message()
                        elif whole_bodies and (whole := parser.whole_body()) is not None:
                            messages.append(Message(head, whole, True))
                            head = None
                            assert parser.next_event() is None
                            parser.start_next_message()
                    elif isinstance(event, bytes):
                        assert head is not None and event
                        body.append(event)
                    else:
                        assert event is END_OF_MESSAGE and head is not None
                        messages.append(Message(head, b"".join(body), True))
                        head, body = None, []
                        parser.start_next_message()
        except ProtocolError as exc:
            status = exc.status
            assert isinstance(status, int) and 400 <= status < 600
            try:
                parser.next_event()
            except ProtocolError as again:
                assert again.status == status
            else:
                raise AssertionError("the parser went on after an error")
    if head is not None:
        messages.append(Message(head, b"".join(body), False))
    return Outcome(messages, status)


# -- (a) any split of a well-formed request gives the same events --------------


@FAST
@given(requests(), st.data())
def test_well_formed_request_any_split(request: Generated, data: st.DataObject) -> None:
    assert drive([request.raw]) == Outcome([request.message], None)
    assert drive([request.raw], whole_bodies=True) == Outcome([request.message], None)
    chunks = split(data, request.raw)
    assert drive(chunks) == Outcome([request.message], None)
    assert drive(chunks, whole_bodies=True) == Outcome([request.message], None)


@settings(FAST, max_examples=100)
@given(st.lists(requests(), min_size=2, max_size=3), st.data())
def test_pipelined_requests_any_split(batch: list[Generated], data: st.DataObject) -> None:
    raw = b"".join(request.raw for request in batch)
    expected = Outcome([request.message for request in batch], None)
    chunks = split(data, raw)
    assert drive(chunks) == expected
    assert drive(chunks, whole_bodies=True) == expected


@FAST
@given(requests())
def test_well_formed_request_byte_by_byte(request: Generated) -> None:
    raw = request.raw
    assert drive([raw[i:i + 1] for i in range(len(raw))]) == Outcome([request.message], None)


# -- (b) garbage and mutations: parse or ProtocolError, nothing else ------------

PREFIXES = [b"", b"GET / HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nHost: a\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"]
# Bytes that matter to the grammar, so mutations often hit something.
INTERESTING = st.sampled_from(b"\r\n\x00\t :;,=\"\\0159aAfFgxX+-_\x0b\x0c\x7f\x80\xff")
any_byte = st.one_of(INTERESTING, st.integers(0, 255))


@FAST
@given(st.sampled_from(PREFIXES), st.binary(max_size=300), st.data())
def test_garbage_parses_or_raises_protocol_error(prefix: bytes, garbage: bytes,
                                                  data: st.DataObject) -> None:
    drive(split(data, prefix + garbage), whole_bodies=data.draw(st.booleans()))


@FAST
@given(st.lists(st.sampled_from([b"\r\n", b"\r", b"\n", b"0", b";", b":", b" ", b"\t",
                                 b"GET / HTTP/1.1", b"Host: a", b"Content-Length: 2",
                                 b"Transfer-Encoding: chunked", b"\x00", b"x"]),
                max_size=40), st.data())
def test_token_soup_parses_or_raises_protocol_error(parts: list[bytes],
                                                    data: st.DataObject) -> None:
    drive(split(data, b"".join(parts)), whole_bodies=data.draw(st.booleans()))


@st.composite
def mutated(draw) -> bytes:
    raw = bytearray(draw(requests()).raw)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.integers(0, max(len(raw) - 1, 0)))
        kind = draw(st.sampled_from(["flip", "insert", "delete"]))
        if kind == "insert":
            raw.insert(where, draw(any_byte))
        elif not raw:
            continue
        elif kind == "flip":
            raw[where] = draw(any_byte)
        else:
            del raw[where]
    return bytes(raw)


@FAST
@given(mutated(), st.data())
def test_mutated_request_parses_or_raises_protocol_error(raw: bytes,
                                                         data: st.DataObject) -> None:
    drive(split(data, raw), whole_bodies=data.draw(st.booleans()))


@FAST
@given(mutated())
def test_mutated_request_is_read_the_same_whole_and_byte_by_byte(raw: bytes) -> None:
    """Where bytes are split must not move a message boundary or an error."""
    at_once = drive([raw])
    trickled = drive([raw[i:i + 1] for i in range(len(raw))])
    assert trickled == at_once
    assert drive([raw], whole_bodies=True) == at_once


# -- (c) round trip: events rebuild an equivalent request -----------------------


def serialize(message: Message) -> bytes:
    head = message.head
    lines = [f"{head.method} {head.target} HTTP/{head.http_version}"]
    lines += [f"{name}: {value}" for name, value in head.headers.items()]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if head.content_length is not None:
        return raw + message.body
    if message.body:
        raw += b"%x\r\n" % len(message.body) + message.body + b"\r\n"
    return raw + b"0\r\n\r\n"


def canonical(message: Message) -> Message:
    """Joining repeated fields whose values are empty leaves OWS at an end
    (`X:` twice gives ", "), which a field value cannot carry; compare
    values without it."""
    head = message.head
    headers = {name: value.strip(" \t") for name, value in head.headers.items()}
    return message._replace(head=Head(
        head.method, head.target, head.http_version, headers, head.content_length,
        head.keep_alive, head.expect_continue))


@FAST
@given(requests())
def test_round_trip(request: Generated) -> None:
    [message] = drive([request.raw]).messages
    rebuilt = serialize(message)
    outcome = drive([rebuilt])
    assert outcome.status is None
    assert [canonical(again) for again in outcome.messages] == [canonical(message)]
    assert serialize(outcome.messages[0]) == serialize(canonical(message))


# -- cross-check with h11 ----------------------------------------------------------


@FAST
@given(requests(h11_safe=True))
def test_agrees_with_h11(request: Generated) -> None:
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(request.raw)
    event = connection.next_event()
    assert isinstance(event, h11.Request)
    body = b""
    while not isinstance(data := connection.next_event(), h11.EndOfMessage):
        assert isinstance(data, h11.Data)
        body += data.data
    headers: dict[str, str] = {}
    for name, value in event.headers:
        name, value = name.decode("latin-1"), value.decode("latin-1")
        headers[name] = (headers[name] + ("; " if name == "cookie" else ", ") + value
                         if name in headers else value)
    ours = request.message
    assert (event.method.decode(), event.target.decode(), event.http_version.decode()) == (
        ours.head.method, ours.head.target, ours.head.http_version)
    assert headers == ours.head.headers
    assert body == ours.body
