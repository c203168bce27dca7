"""Protocol conformance: the case groups of the Autobahn test suite, as a table.

The official runner needs Python 2 and is not available, so the cases are
written from its published case descriptions and driven with raw client
frames built in the test: 1 framing, 2 pings and pongs, 3 reserved bits,
4 opcodes, 5 fragmentation, 6 UTF-8 handling, 7 close handling, 9 limits
(sizes, not timing), 12 and 13 compression. A test id names the Autobahn
case it stands for (`autobahn-5.15-...`); cases of our own, for rules
Autobahn does not test, are named `rfc6455-...` or `rfc7692-...`.

Where Autobahn expects an echo, the table expects the message event (the
echo is the application's business); where it expects a clean close, the
client's close is reported and echoed; where it expects the connection to be
failed, the table names the close code. Every case is fed in the chops the
case describes, whole, byte by byte (up to BYTEWISE_MAX bytes) and split in
two at every offset (up to EVERY_OFFSET_MAX bytes); all must agree.
Groups 12 and 13 send 3 messages per case instead of Autobahn's 1000, which
is enough for context takeover to matter, and generate their data sets.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

import pytest

from ws_support import (
    BINARY, TEXT, ClientDeflater, binary, bytewise, close, continuation, drive, fragments,
    frame, ping, pong, text, two_pieces, whole)
from zerodep_http.ws_deflate import DeflateParameters, negotiate_deflate
from zerodep_http.ws_handshake import parse_extensions
from zerodep_http.ws_protocol import (
    BinaryMessage, Close, ConnectionState, Ping, Pong, TextMessage, WebSocketConnection)

BYTEWISE_MAX = 70_000
EVERY_OFFSET_MAX = 1_200
MIB = 1 << 20


@dataclass(frozen=True)
class Case:
    id: str
    chunks: list[bytes]          # as the case sends them: frames, or chops of octets
    events: list
    sent: list = field(default_factory=list)   # ("pong", payload) / ("close", code)
    error: int | None = None                   # the close code of a failed connection
    max_message_size: int = MIB
    deflate: DeflateParameters | None = None
    eof: bool = False

    def __repr__(self) -> str:
        return self.id


def octets(*frames: bytes) -> list[bytes]:
    raw = b"".join(frames)
    return [raw[index:index + 1] for index in range(len(raw))]


def chops(raw: bytes, size: int) -> list[bytes]:
    return [raw[start:start + size] for start in range(0, len(raw), size)]


def echoed(*frames: bytes, events: list, sent: list = ()) -> dict:
    """A case that ends with the client's normal close, echoed."""
    return dict(chunks=[*frames, close(1000)], events=[*events, Close(1000)],
                sent=[*sent, ("close", 1000)])


def failed(*frames: bytes, code: int = 1002, events: list = (), sent: list = ()) -> dict:
    return dict(chunks=list(frames), events=list(events), sent=[*sent, ("close", code)],
                error=code)


CASES: list[Case] = []


def case(id: str, **fields) -> None:
    CASES.append(Case(id, **fields))


# -- 1 framing ---------------------------------------------------------------

for number, size in enumerate([0, 125, 126, 127, 128, 65535, 65536], start=1):
    case(f"autobahn-1.1.{number}-text-{size}",
         **echoed(text("*" * size), events=[TextMessage("*" * size)]))
    case(f"autobahn-1.2.{number}-binary-{size}",
         **echoed(binary(b"\xfe" * size), events=[BinaryMessage(b"\xfe" * size)]))
case("autobahn-1.1.8-text-65536-chops-997",
     chunks=[*chops(text("*" * 65536), 997), close(1000)],
     events=[TextMessage("*" * 65536), Close(1000)], sent=[("close", 1000)])
case("autobahn-1.2.8-binary-65536-chops-997",
     chunks=[*chops(binary(b"\xfe" * 65536), 997), close(1000)],
     events=[BinaryMessage(b"\xfe" * 65536), Close(1000)], sent=[("close", 1000)])
case("rfc6455-5.2-length-in-64-bits-for-a-short-payload",
     **echoed(text("short", length_form=127), events=[TextMessage("short")]))
case("rfc6455-5.2-length-with-most-significant-bit",
     **failed(bytes([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1]) + b"\x00" * 4))
case("rfc6455-5.1-unmasked-client-frame", **failed(text("Hello", mask=None)))
case("rfc6455-5.1-unmasked-after-a-message",
     **failed(text("one"), text("two", mask=None), events=[TextMessage("one")]))
case("rfc6455-5.3-zero-mask-is-still-a-mask",
     **echoed(text("plain", mask=b"\x00" * 4), events=[TextMessage("plain")]))

# -- 2 pings and pongs -------------------------------------------------------

case("autobahn-2.1-ping-empty", **echoed(ping(), events=[Ping(b"")], sent=[("pong", b"")]))
case("autobahn-2.2-ping-text", **echoed(ping("Hello, world!"), events=[Ping(b"Hello, world!")],
                                        sent=[("pong", b"Hello, world!")]))
BINARY_PING = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
case("autobahn-2.3-ping-binary", **echoed(ping(BINARY_PING), events=[Ping(BINARY_PING)],
                                          sent=[("pong", BINARY_PING)]))
case("autobahn-2.4-ping-125", **echoed(ping(b"\xfe" * 125), events=[Ping(b"\xfe" * 125)],
                                       sent=[("pong", b"\xfe" * 125)]))
case("autobahn-2.5-ping-126", **failed(ping(b"\xfe" * 126)))
case("autobahn-2.6-ping-125-chops-1",
     chunks=[*octets(ping(b"\xfe" * 125)), close(1000)],
     events=[Ping(b"\xfe" * 125), Close(1000)], sent=[("pong", b"\xfe" * 125), ("close", 1000)])
case("autobahn-2.7-unsolicited-pong-empty", **echoed(pong(), events=[Pong(b"")]))
case("autobahn-2.8-unsolicited-pong-payload",
     **echoed(pong("unsolicited pong payload"), events=[Pong(b"unsolicited pong payload")]))
case("autobahn-2.9-unsolicited-pong-then-ping",
     **echoed(pong("unsolicited pong payload"), ping("ping payload"),
              events=[Pong(b"unsolicited pong payload"), Ping(b"ping payload")],
              sent=[("pong", b"ping payload")]))
TEN_PINGS = [f"payload-{index}".encode() for index in range(10)]
case("autobahn-2.10-ten-pings",
     **echoed(*map(ping, TEN_PINGS), events=list(map(Ping, TEN_PINGS)),
              sent=[("pong", payload) for payload in TEN_PINGS]))
case("autobahn-2.11-ten-pings-chops-1",
     chunks=[*octets(*map(ping, TEN_PINGS)), close(1000)],
     events=[*map(Ping, TEN_PINGS), Close(1000)],
     sent=[*(("pong", payload) for payload in TEN_PINGS), ("close", 1000)])

# -- 3 reserved bits ---------------------------------------------------------

HELLO = "Hello, world!"
case("autobahn-3.1-text-rsv-1", **failed(text(HELLO, rsv=1)))
case("autobahn-3.2-text-then-rsv-2", **failed(text(HELLO), text(HELLO, rsv=2), ping(HELLO),
                                              events=[TextMessage(HELLO)]))
case("autobahn-3.3-text-then-rsv-3-frame-chops",
     **failed(text(HELLO), text(HELLO, rsv=3), ping(HELLO), events=[TextMessage(HELLO)]))
case("autobahn-3.4-text-then-rsv-4-octet-chops",
     **(failed(text(HELLO), text(HELLO, rsv=4), ping(HELLO), events=[TextMessage(HELLO)])
        | {"chunks": octets(text(HELLO), text(HELLO, rsv=4), ping(HELLO))}))
case("autobahn-3.5-binary-rsv-5", **failed(binary(BINARY_PING, rsv=5)))
case("autobahn-3.6-ping-rsv-6", **failed(ping(HELLO, rsv=6)))
case("autobahn-3.7-close-rsv-7", **failed(close(1000, rsv=7)))

# -- 4 opcodes ---------------------------------------------------------------

for group, opcodes in (("4.1", (3, 4, 5, 6, 7)), ("4.2", (11, 12, 13, 14, 15))):
    for number, opcode in enumerate(opcodes, start=1):
        payload = b"" if number == 1 else b"reserved opcode payload"
        if number <= 2:
            fields = failed(frame(opcode, payload))
        else:
            fields = failed(text(HELLO), frame(opcode, payload), ping(HELLO),
                            events=[TextMessage(HELLO)])
        case(f"autobahn-{group}.{number}-reserved-opcode-{opcode}", **fields)

# -- 5 fragmentation ---------------------------------------------------------

case("autobahn-5.1-ping-in-2-fragments",
     **failed(ping("fragment1", fin=False), continuation("fragment2")))
case("autobahn-5.2-pong-in-2-fragments",
     **failed(pong("fragment1", fin=False), continuation("fragment2")))
TWO_FRAGMENTS = [text("fragment1", fin=False), continuation("fragment2")]
for number, chunks in ((3, whole(TWO_FRAGMENTS)), (4, TWO_FRAGMENTS), (5, octets(*TWO_FRAGMENTS))):
    case(f"autobahn-5.{number}-text-in-2-fragments",
         chunks=[*chunks, close(1000)], events=[TextMessage("fragment1fragment2"), Close(1000)],
         sent=[("close", 1000)])
WITH_PING = [text("fragment1", fin=False), ping("ping payload"), continuation("fragment2")]
for number, chunks in ((6, whole(WITH_PING)), (7, WITH_PING), (8, octets(*WITH_PING))):
    case(f"autobahn-5.{number}-text-in-2-fragments-ping-between",
         chunks=[*chunks, close(1000)],
         events=[Ping(b"ping payload"), TextMessage("fragment1fragment2"), Close(1000)],
         sent=[("pong", b"ping payload"), ("close", 1000)])
for first, fin in ((9, True), (12, False)):
    stray = [continuation("non-continuation payload", fin=fin), text(HELLO)]
    for number, chunks in ((first, whole(stray)), (first + 1, stray), (first + 2, octets(*stray))):
        case(f"autobahn-5.{number}-continuation-fin-{fin}-with-nothing-to-continue",
             **(failed(*stray) | {"chunks": chunks}))
case("autobahn-5.15-text-2-fragments-then-continuation-with-nothing-to-continue",
     **failed(text("fragment1", fin=False), continuation("fragment2"),
              continuation("fragment3", fin=False), text("fragment4"),
              events=[TextMessage("fragment1fragment2")]))
for number, fin in ((16, False), (17, True)):
    twice = [continuation("fragment1", fin=fin), text("fragment2", fin=False),
             continuation("fragment3")] * 2
    case(f"autobahn-5.{number}-continuation-fin-{fin}-then-message-twice", **failed(*twice))
case("autobahn-5.18-text-2-fragments-both-text",
     **failed(text("fragment1", fin=False), text("fragment2")))
PINGED = [text("fragment1", fin=False), continuation("fragment2", fin=False), ping("pongme 1!"),
          continuation("fragment3", fin=False), continuation("fragment4", fin=False),
          ping("pongme 2!"), continuation("fragment5")]
for number, chunks in ((19, PINGED), (20, whole(PINGED))):
    case(f"autobahn-5.{number}-text-5-fragments-2-pings-between",
         chunks=[*chunks, close(1000)],
         events=[Ping(b"pongme 1!"), Ping(b"pongme 2!"),
                 TextMessage("fragment1fragment2fragment3fragment4fragment5"), Close(1000)],
         sent=[("pong", b"pongme 1!"), ("pong", b"pongme 2!"), ("close", 1000)])
case("rfc6455-5.4-close-inside-a-fragmented-message",
     chunks=[text("fragment1", fin=False), close(1000), continuation("fragment2")],
     events=[Close(1000)], sent=[("close", 1000)])
case("rfc6455-5.4-binary-in-3-fragments",
     **echoed(*fragments(BINARY, b"\x00\x01\x02\xff" * 10, 16),
              events=[BinaryMessage(b"\x00\x01\x02\xff" * 10)]))

# -- 6 UTF-8 handling --------------------------------------------------------

case("autobahn-6.1.1-text-empty", **echoed(text(""), events=[TextMessage("")]))
case("autobahn-6.1.2-text-3-empty-fragments",
     **echoed(text("", fin=False), continuation("", fin=False), continuation(""),
              events=[TextMessage("")]))
case("autobahn-6.1.3-text-empty-first-and-last-fragments",
     **echoed(text("", fin=False), continuation("middle frame payload", fin=False),
              continuation(""), events=[TextMessage("middle frame payload")]))
UTF8_TEXT = "Hello-µ@ßöäüàá-UTF-8!!"
KOSME = "κόσμε".encode()
case("autobahn-6.2.1-valid-utf8-one-fragment",
     **echoed(text(UTF8_TEXT), events=[TextMessage(UTF8_TEXT)]))
case("autobahn-6.2.2-valid-utf8-fragmented-on-code-points",
     **echoed(text(UTF8_TEXT[:12], fin=False), continuation(UTF8_TEXT[12:]),
              events=[TextMessage(UTF8_TEXT)]))
case("autobahn-6.2.3-valid-utf8-fragments-of-1-octet",
     **echoed(*fragments(TEXT, UTF8_TEXT.encode(), 1), events=[TextMessage(UTF8_TEXT)]))
case("autobahn-6.2.4-kosme-fragments-of-1-octet",
     **echoed(*fragments(TEXT, KOSME, 1), events=[TextMessage("κόσμε")]))
INVALID_KOSME = KOSME + b"\xed\xa0\x80" + b"edited"
case("autobahn-6.3.1-invalid-utf8-one-fragment", **failed(text(INVALID_KOSME), code=1007))
case("autobahn-6.3.2-invalid-utf8-fragments-of-1-octet",
     **failed(*fragments(TEXT, INVALID_KOSME, 1), code=1007))
FAIL_FAST = {
    "6.4.1": (KOSME, b"\xf4\x90\x80\x80", b"edited"),
    "6.4.2": (KOSME + b"\xf4", b"\x90", b"\x80\x80edited"),
}
for number, (one, two, three) in FAIL_FAST.items():
    case(f"autobahn-{number}-fail-fast-in-3-fragments",
         **failed(text(one, fin=False), continuation(two, fin=False), continuation(three),
                  code=1007))
for number, source in (("6.4.3", "6.4.1"), ("6.4.4", "6.4.2")):
    one, two, three = FAIL_FAST[source]
    raw = text(one + two + three)
    cut_one, cut_two = len(raw) - len(two + three), len(raw) - len(three)
    case(f"autobahn-{number}-fail-fast-in-3-chops-of-one-frame",
         **(failed(raw, code=1007)
            | {"chunks": [raw[:cut_one], raw[cut_one:cut_two], raw[cut_two:]]}))


def _kosme_prefixes() -> list[tuple[bool, bytes]]:
    prefixes = []
    for end in range(1, len(KOSME) + 1):
        try:
            KOSME[:end].decode("utf-8")
        except UnicodeDecodeError:
            prefixes.append((False, KOSME[:end]))
        else:
            prefixes.append((True, KOSME[:end]))
    return prefixes


def _non_characters() -> list[tuple[bool, bytes]]:
    sequences = [(True, b"\xef\xbf\xbe"), (True, b"\xef\xbf\xbf")]
    for lead in b"\xf0\xf1\xf2\xf3\xf4":
        for second in b"\x8f\x9f\xaf\xbf":
            if lead == 0xF4 and second != 0x8F:
                continue  # past U+10FFFF
            for last in b"\xbe\xbf":
                sequence = bytes([lead, second, 0xBF, last])
                if sequence not in (b"\xf0\x8f\xbf\xbe", b"\xf0\x8f\xbf\xbf"):  # overlong
                    sequences.append((True, sequence))
    return sequences


_INCOMPLETE = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80", b"\xfc\x80\x80\x80\x80",
               b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf", b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
# Markus Kuhn's UTF-8 decoder stress test, as Autobahn's groups 6.5 to 6.23
# lay it out: (valid?, payload) per case, in case order.
UTF8_SEQUENCES: dict[str, list[tuple[bool, bytes]]] = {
    "some-valid-sequences": [(True, b"hello$world"), (True, b"hello\xc2\xa2world"),
                             (True, b"hello\xe2\x82\xacworld"),
                             (True, b"hello\xf0\xa4\xad\xa2world"), (True, KOSME)],
    "prefixes-of-valid-text": _kosme_prefixes(),
    "first-sequence-of-each-length": [(True, b"\x00"), (True, b"\xc2\x80"),
                                      (True, b"\xe0\xa0\x80"), (True, b"\xf0\x90\x80\x80")],
    "first-5-and-6-byte-sequences": [(False, b"\xf8\x88\x80\x80\x80"),
                                     (False, b"\xfc\x84\x80\x80\x80\x80")],
    "last-sequence-of-each-length": [(True, b"\x7f"), (True, b"\xdf\xbf"), (True, b"\xef\xbf\xbf"),
                                     (True, b"\xf4\x8f\xbf\xbf")],
    "last-4-5-6-byte-sequences": [(False, b"\xf7\xbf\xbf\xbf"), (False, b"\xfb\xbf\xbf\xbf\xbf"),
                                  (False, b"\xfd\xbf\xbf\xbf\xbf\xbf")],
    "other-boundaries": [(True, b"\xed\x9f\xbf"), (True, b"\xee\x80\x80"), (True, b"\xef\xbf\xbd"),
                         (True, b"\xf4\x8f\xbf\xbf"), (False, b"\xf4\x90\x80\x80")],
    "unexpected-continuation-bytes": [
        (False, b"\x80"), (False, b"\xbf"), (False, b"\x80\xbf"), (False, b"\x80\xbf\x80"),
        (False, b"\x80\xbf\x80\xbf"), (False, b"\x80\xbf\x80\xbf\x80"),
        (False, b"\x80\xbf\x80\xbf\x80\xbf"), (False, bytes(range(0x80, 0xBF)))],
    "lonely-start-bytes": [
        (False, b"".join(bytes([byte, 0x20]) for byte in range(first, last)))
        for first, last in ((0xC0, 0xDF), (0xE0, 0xEF), (0xF0, 0xF7), (0xF8, 0xFB), (0xFC, 0xFD))],
    "last-continuation-byte-missing": [(False, sequence) for sequence in _INCOMPLETE],
    "incomplete-sequences-concatenated": [(False, b"".join(_INCOMPLETE))],
    "impossible-bytes": [(False, b"\xfe"), (False, b"\xff"), (False, b"\xfe\xfe\xff\xff")],
    "overlong-ascii": [(False, b"\xc0\xaf"), (False, b"\xe0\x80\xaf"), (False, b"\xf0\x80\x80\xaf"),
                       (False, b"\xf8\x80\x80\x80\xaf"), (False, b"\xfc\x80\x80\x80\x80\xaf")],
    "maximum-overlong": [(False, b"\xc1\xbf"), (False, b"\xe0\x9f\xbf"),
                         (False, b"\xf0\x8f\xbf\xbf"), (False, b"\xf8\x87\xbf\xbf\xbf"),
                         (False, b"\xfc\x83\xbf\xbf\xbf\xbf")],
    "overlong-nul": [(False, b"\xc0\x80"), (False, b"\xe0\x80\x80"), (False, b"\xf0\x80\x80\x80"),
                     (False, b"\xf8\x80\x80\x80\x80"), (False, b"\xfc\x80\x80\x80\x80\x80")],
    "single-surrogates": [(False, bytes([0xED, second, last])) for second, last in (
        (0xA0, 0x80), (0xAD, 0xBF), (0xAE, 0x80), (0xAF, 0xBF), (0xB0, 0x80), (0xBE, 0x80),
        (0xBF, 0xBF))],
    "paired-surrogates": [(False, bytes([0xED, high, high_last, 0xED, low, low_last]))
                          for high, high_last in ((0xA0, 0x80), (0xAD, 0xBF), (0xAE, 0x80),
                                                  (0xAF, 0xBF))
                          for low, low_last in ((0xB0, 0x80), (0xBF, 0xBF))],
    "non-characters": _non_characters(),
    "unicode-specials": [(True, bytes([0xEF, 0xBF, last])) for last in range(0xB9, 0xC0)],
}
for group, (name, sequences) in enumerate(UTF8_SEQUENCES.items(), start=5):
    for number, (valid, payload) in enumerate(sequences, start=1):
        case_id = f"autobahn-6.{group}.{number}-{name}-{payload[:8].hex()}"
        if valid:
            case(case_id, **echoed(text(payload), events=[TextMessage(payload.decode("utf-8"))]))
        else:
            case(case_id, **failed(text(payload), code=1007))

# -- 7 close handling --------------------------------------------------------

case("autobahn-7.1.1-message-then-close",
     **echoed(text("Hello World!"), events=[TextMessage("Hello World!")]))
case("autobahn-7.1.2-close-twice", chunks=[close(1000), close(1000)],
     events=[Close(1000)], sent=[("close", 1000)])
case("autobahn-7.1.3-ping-after-close", chunks=[close(1000), ping("Hello World!")],
     events=[Close(1000)], sent=[("close", 1000)])
case("autobahn-7.1.4-text-after-close", chunks=[close(1000), text("Hello World!")],
     events=[Close(1000)], sent=[("close", 1000)])
case("autobahn-7.1.5-close-between-fragments",
     chunks=[text("fragment1", fin=False), close(1000), continuation("fragment2")],
     events=[Close(1000)], sent=[("close", 1000)])
BIG = "BAsd7&jh23" * 26 * 1024
case("autobahn-7.1.6-large-message-close-then-ping",
     chunks=[text(BIG), close(1000), ping("Hello World!")],
     events=[TextMessage(BIG), Close(1000)], sent=[("close", 1000)])
case("autobahn-7.3.1-close-without-payload", chunks=[close(None)],
     events=[Close(1005)], sent=[("close", None)])
case("autobahn-7.3.2-close-payload-of-1-byte",
     **failed(frame(0x8, b"a")))
case("autobahn-7.3.3-close-code-only", **echoed(events=[]))
case("autobahn-7.3.4-close-code-and-reason", chunks=[close(1000, "Hello World!")],
     events=[Close(1000, "Hello World!")], sent=[("close", 1000)])
case("autobahn-7.3.5-close-reason-of-123-bytes", chunks=[close(1000, "*" * 123)],
     events=[Close(1000, "*" * 123)], sent=[("close", 1000)])
case("autobahn-7.3.6-close-reason-of-124-bytes", **failed(close(1000, "*" * 124)))
case("autobahn-7.5.1-close-reason-invalid-utf8", **failed(close(1000, INVALID_KOSME), code=1007))
VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
for number, code in enumerate(VALID_CODES, start=1):
    case(f"autobahn-7.7.{number}-valid-close-code-{code}", chunks=[close(code)],
         events=[Close(code)], sent=[("close", code)])
for number, code in enumerate([0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999], start=1):
    case(f"autobahn-7.9.{number}-invalid-close-code-{code}", **failed(close(code)))
# 7.13: "actual events are undefined by the spec"; codes past 4999 are
# unassigned, so they are refused like the reserved ones.
case("autobahn-7.13.1-close-code-5000", **failed(close(5000)))
case("autobahn-7.13.2-close-code-65535", **failed(close(65535)))
for code in (1012, 1013, 1014):  # registered with IANA after RFC 6455
    case(f"rfc6455-7.4-registered-close-code-{code}", chunks=[close(code)],
         events=[Close(code)], sent=[("close", code)])
case("rfc6455-7.4-close-code-1015-is-never-sent", **failed(close(1015)))
case("rfc6455-7.1.5-transport-ends-without-close", chunks=[text("bye")],
     events=[TextMessage("bye"), Close(1006)], eof=True)
case("rfc6455-7.1.5-transport-ends-inside-a-frame", chunks=[text("cut short")[:8]],
     events=[Close(1006)], eof=True)
case("rfc6455-7.1.5-transport-ends-after-close", chunks=[close(1001)],
     events=[Close(1001)], sent=[("close", 1001)], eof=True)

# -- 9 limits and sizes ------------------------------------------------------

SIXTEEN_MIB = 16 * MIB
for number, size in enumerate([64 << 10, 256 << 10, MIB, 4 * MIB, 8 * MIB, 16 * MIB], start=1):
    case(f"autobahn-9.1.{number}-text-{size}",
         **echoed(text("*" * size), events=[TextMessage("*" * size)]),
         max_message_size=SIXTEEN_MIB)
    case(f"autobahn-9.2.{number}-binary-{size}",
         **echoed(binary(b"\xfe" * size), events=[BinaryMessage(b"\xfe" * size)]),
         max_message_size=SIXTEEN_MIB)
for number, size in enumerate([64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, MIB,
                               4 * MIB], start=1):
    case(f"autobahn-9.3.{number}-text-4MiB-in-fragments-of-{size}",
         **echoed(*fragments(TEXT, b"*" * (4 * MIB), size), events=[TextMessage("*" * (4 * MIB))]),
         max_message_size=SIXTEEN_MIB)
    case(f"autobahn-9.4.{number}-binary-4MiB-in-fragments-of-{size}",
         **echoed(*fragments(BINARY, b"\xfe" * (4 * MIB), size),
                  events=[BinaryMessage(b"\xfe" * (4 * MIB))]),
         max_message_size=SIXTEEN_MIB)
for number, size in enumerate([64, 128, 256, 512, 1024, 2048], start=1):
    case(f"autobahn-9.5.{number}-text-1MiB-in-chops-of-{size}",
         chunks=[*chops(text("*" * MIB), size), close(1000)],
         events=[TextMessage("*" * MIB), Close(1000)], sent=[("close", 1000)])
    case(f"autobahn-9.6.{number}-binary-1MiB-in-chops-of-{size}",
         chunks=[*chops(binary(b"\xfe" * MIB), size), close(1000)],
         events=[BinaryMessage(b"\xfe" * MIB), Close(1000)], sent=[("close", 1000)])
for number, size in enumerate([0, 16, 64, 256, 1024, 4096], start=1):
    case(f"autobahn-9.7.{number}-1000-text-messages-of-{size}",
         **echoed(*[text("*" * size)] * 1000, events=[TextMessage("*" * size)] * 1000))
    case(f"autobahn-9.8.{number}-1000-binary-messages-of-{size}",
         **echoed(*[binary(b"\xfe" * size)] * 1000, events=[BinaryMessage(b"\xfe" * size)] * 1000))
LIMIT = 4096
case("rfc6455-limit-message-at-the-limit",
     **echoed(binary(b"x" * LIMIT), events=[BinaryMessage(b"x" * LIMIT)]), max_message_size=LIMIT)
case("rfc6455-limit-frame-over-the-limit-fails-at-its-header",
     **(failed(binary(b"x" * (LIMIT + 1)), code=1009)
        | {"chunks": [binary(b"x" * (LIMIT + 1))[:8]]}), max_message_size=LIMIT)
case("rfc6455-limit-fragments-over-the-limit",
     **failed(*fragments(TEXT, b"y" * (LIMIT + 1), 1000), code=1009), max_message_size=LIMIT)
case("rfc6455-limit-declared-64-bit-length",
     **failed(bytes([0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) + b"\x00" * 4,
              code=1009))
case("rfc6455-limit-control-frames-between-fragments-do-not-count",
     **echoed(binary(b"x" * LIMIT, fin=False), ping(b"p" * 100), continuation(b""),
              events=[Ping(b"p" * 100), BinaryMessage(b"x" * LIMIT)], sent=[("pong", b"p" * 100)]),
     max_message_size=LIMIT)

# -- 12 and 13 compression ---------------------------------------------------


def _data_sets() -> dict[str, tuple[int, bytes]]:
    """Stand-ins for Autobahn's files, made here: (opcode, data)."""
    rng = random.Random(7692)
    words = ["Faust", "Mephistopheles", "und", "der", "die", "das", "Geist", "Nacht", "ich",
             "nicht", "Welt", "Herz", "Gretchen", "Himmel", "Erde", "so", "wie", "mein", "ist"]
    records = [{"id": index, "name": rng.choice(words), "score": rng.random(),
                "tags": rng.sample(words, 3), "active": rng.random() < 0.5}
               for index in range(2500)]
    bitmap = bytes(((x * y) >> 6 ^ (x + y)) & 0xFF for y in range(256) for x in range(512))
    pdf = b"".join(
        rng.randbytes(rng.randrange(16, 512)) + b"\n%d 0 obj\n<< /Length 0 >>\nstream\n" % index
        for index in range(600))
    faust = " ".join(rng.choice(words) for _ in range(40000)).encode("utf-8")
    html = ("<!DOCTYPE html><html><head><title>Data</title></head><body><table>"
            + "".join(f"<tr><td>{index}</td><td>{rng.choice(words)}</td></tr>"
                      for index in range(4000))
            + "</table></body></html>")
    return {
        "json": (TEXT, json.dumps(records).encode("utf-8")),
        "bitmap": (BINARY, bitmap),
        "german-text-as-binary": (BINARY, faust),
        "html": (TEXT, html.encode("utf-8")),
        "pdf-like": (BINARY, pdf),
    }


DATA_SETS = _data_sets()
# Autobahn's (message size, auto-fragment size) list, shared by 12 and 13.
MESSAGE_SIZES = [(16, 0), (64, 0), (256, 0), (1024, 0), (4096, 0), (8192, 0), (16384, 0),
                 (32768, 0), (65536, 0), (131072, 0), (8192, 256), (16384, 256), (32768, 256),
                 (65536, 256), (131072, 256), (131072, 1024), (131072, 4096), (131072, 32768)]
MESSAGES_PER_CASE = 3


def _messages(data: bytes, size: int) -> list[bytes]:
    """Consecutive slices of the data set, wrapping around like Autobahn's."""
    doubled = data * 2
    return [doubled[(index * size) % len(data):(index * size) % len(data) + size]
            for index in range(MESSAGES_PER_CASE)]


def _utf8_safe(opcode: int, message: bytes) -> bytes:
    """Text slices cut at code points (the data sets' text is ASCII-safe)."""
    if opcode == TEXT:
        message.decode("utf-8")
    return message


def compression_case(case_id: str, offer: str, opcode: int, data: bytes, size: int,
                     fragment_size: int) -> None:
    parameters = negotiate_deflate(parse_extensions(offer))
    messages = [_utf8_safe(opcode, message) for message in _messages(data, size)]
    if parameters is None:  # declined: the same messages, uncompressed
        frames = [b"".join(fragments(opcode, message, fragment_size or len(message) or 1))
                  for message in messages]
    else:
        deflater = ClientDeflater(parameters.client_max_window_bits,
                                  parameters.client_no_context_takeover)
        frames = [b"".join(deflater.message(opcode, message, fragment_size))
                  for message in messages]
    event = TextMessage if opcode == TEXT else BinaryMessage
    expected = [event(message.decode("utf-8") if opcode == TEXT else message)
                for message in messages]
    case(case_id, **echoed(*frames, events=expected), deflate=parameters)


# Autobahn's client always offers "accept no context takeover" and "accept
# max window bits", and requests what each 13.x group names.
DEFAULT_OFFER = "permessage-deflate; client_no_context_takeover; client_max_window_bits"
for group, (name, (opcode, data)) in enumerate(DATA_SETS.items(), start=1):
    for number, (size, fragment_size) in enumerate(MESSAGE_SIZES, start=1):
        compression_case(f"autobahn-12.{group}.{number}-{name}-{size}-fragments-{fragment_size}",
                         DEFAULT_OFFER, opcode, data, size, fragment_size)
OFFERS_13 = [
    ("default", DEFAULT_OFFER),
    ("server-no-context-takeover", DEFAULT_OFFER + "; server_no_context_takeover"),
    ("server-window-8-declined", DEFAULT_OFFER + "; server_max_window_bits=8"),
    ("server-window-15", DEFAULT_OFFER + "; server_max_window_bits=15"),
    ("no-context-takeover-window-8-declined",
     DEFAULT_OFFER + "; server_no_context_takeover; server_max_window_bits=8"),
    ("no-context-takeover-window-15",
     DEFAULT_OFFER + "; server_no_context_takeover; server_max_window_bits=15"),
    ("three-offers-second-accepted",
     DEFAULT_OFFER + "; server_no_context_takeover; server_max_window_bits=8, "
     + DEFAULT_OFFER + "; server_no_context_takeover, " + DEFAULT_OFFER),
]
for group, (name, offer) in enumerate(OFFERS_13, start=1):
    opcode, data = DATA_SETS["json"]
    for number, (size, fragment_size) in enumerate(MESSAGE_SIZES, start=1):
        compression_case(f"autobahn-13.{group}.{number}-{name}-{size}-fragments-{fragment_size}",
                         offer, opcode, data, size, fragment_size)

DEFLATE = negotiate_deflate(parse_extensions("permessage-deflate"))
case("rfc7692-6.1-rsv1-on-a-control-frame", **failed(ping(b"x", rsv=4)), deflate=DEFLATE)
case("rfc7692-6.1-rsv1-on-a-continuation-frame",
     **failed(*ClientDeflater().message(TEXT, b"abcdef" * 50, 4)[:1],
              continuation(b"x", rsv=4)), deflate=DEFLATE)
case("rfc7692-6-uncompressed-message-on-a-deflate-connection",
     **echoed(text("plain"), events=[TextMessage("plain")]), deflate=DEFLATE)
case("rfc7692-7.2.3.6-empty-compressed-message",
     **echoed(*ClientDeflater().message(BINARY, b""), events=[BinaryMessage(b"")]), deflate=DEFLATE)
case("rfc7692-corrupt-compressed-data", **failed(binary(b"\xff\xff\xff", rsv=4), code=1007),
     deflate=DEFLATE)
case("rfc7692-compressed-invalid-utf8",
     **failed(*ClientDeflater().message(TEXT, INVALID_KOSME), code=1007), deflate=DEFLATE)
case("rfc7692-compression-bomb-is-1009",
     **failed(*ClientDeflater().message(BINARY, b"\x00" * (4 * LIMIT), 64), code=1009),
     deflate=DEFLATE, max_message_size=LIMIT)
case("rfc7692-inflated-size-at-the-limit",
     **echoed(*ClientDeflater().message(BINARY, b"\x00" * LIMIT, 64),
              events=[BinaryMessage(b"\x00" * LIMIT)]), deflate=DEFLATE, max_message_size=LIMIT)
case("rfc7692-rsv1-without-negotiation", **failed(*ClientDeflater().message(TEXT, b"abc")))

# -- running the table -------------------------------------------------------


def run(case_: Case, chunks: list[bytes]) -> None:
    connection = WebSocketConnection(max_message_size=case_.max_message_size,
                                     deflate=case_.deflate)
    outcome = drive(connection, chunks, eof=case_.eof)
    assert outcome.error == case_.error
    assert outcome.events == case_.events
    assert outcome.sent == case_.sent
    if case_.error is not None:
        assert connection.state is ConnectionState.FAILED
    elif case_.events and isinstance(case_.events[-1], Close):
        assert connection.state is ConnectionState.CLOSED


def _size(case_: Case) -> int:
    return sum(map(len, case_.chunks))


def _ids(case_: Case) -> str:
    return case_.id


@pytest.mark.parametrize("case_", CASES, ids=_ids)
def test_whole(case_: Case) -> None:
    run(case_, whole(case_.chunks))


@pytest.mark.parametrize("case_", [item for item in CASES if len(item.chunks) > 1], ids=_ids)
def test_in_the_case_chops(case_: Case) -> None:
    run(case_, case_.chunks)


@pytest.mark.parametrize("case_", [item for item in CASES if _size(item) <= BYTEWISE_MAX],
                         ids=_ids)
def test_byte_by_byte(case_: Case) -> None:
    run(case_, bytewise(case_.chunks))


@pytest.mark.parametrize("case_", [item for item in CASES if _size(item) <= EVERY_OFFSET_MAX],
                         ids=_ids)
def test_split_at_every_offset(case_: Case) -> None:
    for _offset, chunks in two_pieces(case_.chunks):
        run(case_, chunks)


def test_case_ids_are_unique() -> None:
    ids = [item.id for item in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("number, one, two, three", [
    (number, *parts) for number, parts in FAIL_FAST.items()])
def test_invalid_utf8_fails_before_the_message_ends(number, one, two, three) -> None:
    """Autobahn 6.4: the connection fails on the piece holding the bad byte,
    without waiting for the rest of the message, even inside a frame."""
    raw = text(one + two + three)
    cut_one, cut_two = len(raw) - len(two + three), len(raw) - len(three)
    for first, second in ((text(one, fin=False), continuation(two, fin=False)),
                          (raw[:cut_one], raw[cut_one:cut_two])):
        connection = WebSocketConnection()
        connection.receive_data(first)
        assert connection.next_event() is None
        outcome = drive(connection, [second])
        assert outcome.error == 1007
        assert outcome.sent == [("close", 1007)]
