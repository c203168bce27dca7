"""Sans-I/O HTTP/1.1 request parser: bytes in, events out, typed errors.

Nothing here touches a socket or a clock. The connection feeds whatever it
received and pulls events; any input the parser will not accept raises a
`ProtocolError` whose `status` is the response to send before closing. The
rules follow RFC 9112 strictly wherever leniency would let two HTTP
implementations disagree about where a message ends (request smuggling).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NoReturn

__all__ = [
    "END_OF_MESSAGE", "BadRequest", "ContentTooLarge", "ExpectationFailed",
    "HeaderFieldsTooLarge", "Limits", "NOT_IN_TRAILERS", "ProtocolError", "RepeatedFields",
    "RequestHead", "RequestParser", "RequestTimeout", "SINGLE_FIELDS", "URITooLong",
    "UnsupportedTransferCoding", "VersionNotSupported",
]


class ProtocolError(Exception):
    """A request the server refuses; `status` is the answer, then close."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadRequest(ProtocolError):
    status = 400


class RequestTimeout(ProtocolError):
    status = 408


class ContentTooLarge(ProtocolError):
    status = 413


class URITooLong(ProtocolError):
    status = 414


class ExpectationFailed(ProtocolError):
    status = 417


class HeaderFieldsTooLarge(ProtocolError):
    status = 431


class UnsupportedTransferCoding(ProtocolError):
    status = 501


class VersionNotSupported(ProtocolError):
    status = 505


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits, each answered with its own status code.

    The defaults and the way lines are counted are gunicorn's, so that its
    settings mean the same here: the request line without its CRLF, a field
    line (header or trailer) with its CRLF, so that at the default 8190 a
    field line of 8188 bytes passes and one of 8189 does not. The defaults
    are also close to what nginx and Apache accept.
    """

    request_line: int = 8190        # 414 past it, not counting the CRLF
    header_fields: int = 100        # 431 past it
    header_field_size: int = 8190   # 431 past it, per field line with its CRLF
    body_size: int = 1048576        # 413 past it, declared or chunked
    chunk_line: int = 4096          # 400 past it: size plus extensions


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN)
# A request-target is visible ASCII but `#`: a fragment is never sent
# (RFC 9112 3.2), and one that arrives means the target was not built by
# an HTTP client; different servers cut it in different places. (Written
# as two ranges, the common one first: the regex engine keeps that order,
# so a target character costs one range test, as with no exception.)
_TARGET = r"[\x24-\x7e\x21-\x22]+"
_REQUEST_LINE = re.compile(rf"({_TOKEN}) ({_TARGET}) HTTP/([0-9]\.[0-9])")
# A field line is a token, a colon and a value of visible characters
# (obs-text included), SP and HTAB. Any other control byte (NUL, bare CR
# or LF) fails the match, and so does a line starting with whitespace
# (obs-fold). Surrounding whitespace is not part of the value.
_FIELD_VALUE = r"[\t\x20-\x7e\x80-\xff]*"
_FIELD_LINE = re.compile(rf"{_TOKEN}:{_FIELD_VALUE}")
# The repeats in it are possessive (`++`, `*+`): each part of a head ends
# where the next one's first character cannot belong to it (a space, a
# colon, a CR), so nothing ever has to be given back, and not keeping what
# would let the engine give it back takes a quarter off its cost.
_REQUEST_HEAD = re.compile(
    rf"({_TOKEN}+) ({_TARGET}+) HTTP/([0-9]\.[0-9])"
    rf"(?:\r\n({_TOKEN}+:{_FIELD_VALUE}+(?:\r\n{_TOKEN}+:{_FIELD_VALUE}+)*+))?"
)
# The same head followed by its empty line, matched at the start of the
# buffer: no part of it can hold CR or LF but the line ends, and a field
# line is never empty, so a match ends at the buffer's first CRLFCRLF,
# where a search for the end of the head would stop.
_REQUEST_HEAD_AND_END = re.compile(_REQUEST_HEAD.pattern + r"\r\n\r\n")
# Up to this many bytes buffered, a new head is first looked for with that
# regex on the whole buffer decoded, which costs less than searching for
# the end of the head, then copying and decoding the head alone.
_DECODE_WHOLE = 2048
# Fields that a request may carry on one field line only (RFC 9110 5.3: a
# field may be repeated only if its definition is a comma-separated list).
# These are the single-valued fields that frame, route, authenticate,
# describe the content or condition the response: joining two of them
# makes a value that means something else, and two readers may each pick
# a different one. Single-valued fields nobody acts on (User-Agent,
# Referer, From, Date) are left alone: refusing them protects nothing.
SINGLE_FIELDS = frozenset({
    "host",                 # RFC 9112 3.2: more than one is a 400
    "content-length",       # 8.6: framing
    "content-type",         # 8.3: one media type; what the content means
    "content-range",        # 14.4: which part of the representation it is
    "authorization",        # 11.6.2: one set of credentials, which may
    "proxy-authorization",  # 11.7.2: hold commas themselves
    "range",                # 14.2: one ranges-specifier
    "if-range",             # 13.1.5: one entity-tag or date
    "if-modified-since",    # 13.1.3: one HTTP-date, which holds a comma
    "if-unmodified-since",  # 13.1.4: likewise
    "max-forwards",         # 7.6.2: one integer
})

# Fields a trailer section may not carry (RFC 9110 6.5.1): a recipient
# needs them before the content, so one sent after it is meant to change
# how the message is framed, routed or authorized once a reader in front
# has decided, or comes from a sender that ignores the rule. Trailers are
# never merged into the request's headers; one of these makes it a 400.
NOT_IN_TRAILERS = frozenset({
    # framing (RFC 9112 6; 9110 6.6.2 Trailer, 10.1.4 TE)
    "content-length", "transfer-encoding", "trailer", "te",
    # routing, and what happens to the connection (7.2, 7.6.1, 7.8)
    "host", "connection", "upgrade",
    # request modifiers: controls (7.6.2, 10.1.1, 14.2; RFC 9111 5.2, 5.4)
    # and conditionals (13.1)
    "max-forwards", "expect", "range", "cache-control", "pragma",
    "if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range",
    # authentication (11.6.2, 11.7.2), and the cookie that stands for it
    "authorization", "proxy-authorization", "cookie",
    # the content's format (8.3, 8.4, 14.4)
    "content-type", "content-encoding", "content-range",
})

_ABSOLUTE_FORM = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://[^/?#]*")
_HOST = re.compile(r"[A-Za-z0-9.\-_~!$&'()*+,;=:\[\]%]*")
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_BTOKEN = _TOKEN.encode()
_CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]{1,16})(?:[ \t]*;[ \t]*" + _BTOKEN
    + rb"(?:[ \t]*=[ \t]*(?:" + _BTOKEN + rb"|" + _QUOTED + rb"))?)*"
)


#: The request line and header section, with framing already decided:
#: `(method, target, http_version, headers, content_length, keep_alive,
#: expect_continue)`. `http_version` is "1.0" or "1.1"; `headers` has
#: lower-case names, repeated list fields joined with ", "; `content_length`
#: is None when the body is chunked. A plain tuple: built and unpacked once
#: per request, it costs a fifth of what an object with named fields does.
RequestHead = tuple[str, str, str, dict[str, str], int | None, bool, bool]


class RepeatedFields(dict):
    """The header dict of a request that repeated a field name: the values
    are joined as in any header dict, and `lines` keeps the field section
    as received, for whoever needs every line (an ASGI scope's headers).

    Only such heads pay for it: without repeats, a plain dict's items
    already are the field lines in order (see `field_lines`)."""

    __slots__ = ("lines",)

    def __init__(self, fields: dict[str, str], lines: str) -> None:
        super().__init__(fields)
        self.lines = lines


def field_lines(headers: dict[str, str]) -> list[tuple[str, str]]:
    """The header field lines of a request in the order received, repeats
    kept: lower-case names, values without surrounding whitespace."""
    if headers.__class__ is not RepeatedFields:
        return list(headers.items())
    pairs = []
    for line in headers.lines.split("\r\n"):  # type: ignore[attr-defined]
        name, _, value = line.partition(":")
        pairs.append((name.lower(), value.strip(" \t")))
    return pairs


class _EndOfMessage:
    __slots__ = ()

    def __repr__(self) -> str:
        return "END_OF_MESSAGE"


END_OF_MESSAGE = _EndOfMessage()

# Parser states: strings, so that a debugger shows `parser._state` as a
# name, compared by identity (`is`), which costs no more than comparing
# small integers on the per-request path.
_HEAD = "head"              # reading the request line and header section
_BODY = "body"              # reading a body of known length (possibly empty)
_CHUNK_SIZE = "chunk_size"  # reading a chunk size line
_CHUNK_DATA = "chunk_data"  # reading a chunk's data
_CHUNK_END = "chunk_end"    # expecting the CRLF after a chunk's data
_TRAILERS = "trailers"      # reading the trailer section after the last chunk
_DONE = "done"              # message complete; waiting for start_next_message()
_ERROR = "error"            # refused: every later call raises the same error


class RequestParser:
    """Turns the bytes of one connection into a sequence of events.

    `next_event()` returns a `RequestHead`; if the message has a body (its
    `content_length` is not 0), then body data as `bytes`, then
    `END_OF_MESSAGE`. A head whose `content_length` is 0 is the whole
    message: no event follows it, which spares most requests a second
    call. `None` means it needs more data. After a message ends it returns
    `None` until `start_next_message()`, so that a pipelined request is not
    parsed before the previous response went out. Once it raised a
    `ProtocolError` it raises it again: a connection that went wrong is
    never parsed further.

    `body_limit` is the largest body the current message may have:
    `limits.body_size`, unless the caller sets another between the head and
    the next event (a route's own limit, which the head decides). A
    declared length is checked against it before any of the body is read,
    chunked bodies are counted against it as their sizes arrive.
    """

    __slots__ = (
        "limits", "buffer", "_state", "_remaining", "_body_received",
        "_line_start", "_lines_seen", "_scanned", "_error", "_short_head", "_decode_whole",
        "_valid_host", "body_limit",
    )

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        # Bytes received and not yet handed out as events: `feed` appends
        # to it (a connection may append itself); callers only read it else.
        self.buffer = bytearray()
        self._state = _HEAD
        self._remaining = 0
        self._body_received = 0
        self._line_start = 0
        self._lines_seen = 0
        # How much of the buffer a search for the end of a line or of the
        # head already covered: bytes that trickle in are searched once.
        self._scanned = 0
        self._error: ProtocolError | None = None
        # A head this short cannot break a length limit.
        self._short_head = min(limits.request_line, limits.header_field_size - 2)
        # A buffer this short is matched whole (see `next_event`); the head
        # it holds is short too.
        self._decode_whole = min(_DECODE_WHOLE, self._short_head)
        # A keep-alive client sends the same Host every time: check it once.
        self._valid_host: str | None = None
        self.body_limit = limits.body_size


    @property
    def in_message(self) -> bool:
        """True once any byte of a request arrived and until its end."""
        if self._state is _HEAD:
            return bool(self.buffer)
        state = self._state
        return state is not _DONE and state is not _ERROR

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def start_next_message(self) -> None:
        if self._state is not _DONE:
            raise RuntimeError("the current message has not ended")
        # The counters of a head or trailers arriving in pieces are back
        # at 0 already: their readers reset them as they finish.
        self._state = _HEAD

    def next_event(self) -> RequestHead | bytes | _EndOfMessage | None:
        """The next event (see the class).

        Reading a head is the per-request path: finding the head, parsing
        it and deciding its framing are written out here, in one function
        on purpose, a call costing as much as a dozen checks.
        """
        try:
            if self._state is not _HEAD:
                return self._next_body_event()
            buffer = self.buffer
            if not buffer:
                return None
            if buffer[0] == 13 and self._line_start == 0:  # CR: cheaper than startswith()
                # RFC 9112 2.2: ignore empty lines before a request line (some
                # clients send a CRLF after a POST body).
                while buffer.startswith(b"\r\n"):
                    del buffer[:2]
                    self._scanned = max(self._scanned - 2, 0)
            limits = self.limits
            scanned = self._scanned
            # One regex validates the request line and every field line. A new
            # head in a small buffer is matched in the buffer itself; a head
            # that fails there, or arrives in pieces, is found by searching for
            # its end. A head that fails the regex, or is long enough to break
            # a limit, is then checked line by line to find the first defect.
            match = None
            if scanned == 0 and len(buffer) <= self._decode_whole:
                match = _REQUEST_HEAD_AND_END.match(buffer.decode("latin-1"))
            if match is not None:
                del buffer[:match.end()]
            else:
                end = buffer.find(b"\r\n\r\n", scanned - 3 if scanned > 3 else 0)
                if end == -1:
                    self._check_partial_head()
                    self._scanned = len(buffer)
                    return None
                head = buffer[:end].decode("latin-1")
                del buffer[:end + 4]
                self._scanned = self._line_start = self._lines_seen = 0
                match = _REQUEST_HEAD.fullmatch(head)
                if match is None or len(head) > self._short_head:
                    for index, line in enumerate(head.split("\r\n")):
                        _check_head_line(index, line, limits)
                    if match is None:
                        raise BadRequest("malformed request head")
            method, target, version, fields = match.groups()
            version = "1.1" if version == "1.1" else _check_version(version)

            headers: dict[str, str] = {}
            if fields:
                # Each field line takes at least 4 characters with its CRLF, so
                # only a long section can hold too many of them.
                if (len(fields) > 2 * limits.header_fields
                        and fields.count("\r\n") >= limits.header_fields):
                    raise HeaderFieldsTooLarge("too many header fields")
                for line in fields.split("\r\n"):
                    name, _, value = line.partition(":")
                    name = name.lower()
                    if name in headers:  # a list field goes on; see SINGLE_FIELDS
                        if name in SINGLE_FIELDS:
                            raise BadRequest(f"more than one {name} field")
                        if headers.__class__ is dict:
                            headers = RepeatedFields(headers, fields)
                        headers[name] += ("; " if name == "cookie" else ", ") + value.strip(" \t")
                    else:
                        headers[name] = value.strip(" \t")

            if target[0] != "/":
                target = _normalize_target(method, target)
            if version == "1.1":
                host = headers.get("host")
                if host is None:
                    raise BadRequest("HTTP/1.1 request without Host")
                if host != self._valid_host:
                    if _HOST.fullmatch(host) is None:
                        raise BadRequest("invalid Host header")
                    self._valid_host = host

            content_length: int | None
            if "transfer-encoding" in headers:
                _check_chunked(headers, version)
                content_length = None
                self.body_limit = limits.body_size  # until the caller sets the message's own
            elif "content-length" in headers:
                declared = headers["content-length"]
                # One field line (SINGLE_FIELDS) of plain digits. RFC 9110 8.6
                # would let a recipient fold a list of identical values ("5, 5"),
                # but a proxy in front may read such a list differently: refuse
                # rather than guess. (Field values are latin-1 text, where only
                # 0-9 are decimal characters.)
                if not declared.isdecimal() or len(declared) > 18:
                    raise BadRequest("Content-Length is not a single decimal number")
                content_length = int(declared)
                self.body_limit = limits.body_size
            else:
                content_length = 0
            # (A test for a field costs less than getting None for it.)
            if "connection" not in headers:
                keep_alive = version == "1.1"
            else:
                connection = headers["connection"]
                tokens = {token.strip(" \t").lower() for token in connection.split(",")}
                keep_alive = "close" not in tokens and (version == "1.1" or "keep-alive" in tokens)
            expect_continue = False
            if "expect" in headers:
                expect = headers["expect"]
                if expect.lower() != "100-continue":
                    raise ExpectationFailed("only 100-continue can be expected")
                expect_continue = version == "1.1"
            if content_length == 0:
                self._state = _DONE  # the head is the whole message
            elif content_length is None:
                self._state = _CHUNK_SIZE
                self._body_received = 0
            else:
                self._state = _BODY
                self._remaining = content_length
            return method, target, version, headers, content_length, keep_alive, expect_continue
        except ProtocolError as exc:
            self._state = _ERROR
            self._error = exc
            self.buffer.clear()
            raise

    def _next_body_event(self) -> bytes | _EndOfMessage | None:
        """The next event after the head: body data, END_OF_MESSAGE, or
        None; the refusal again once there was one."""
        state = self._state
        if state is _BODY:
            if self._remaining == 0:
                self._state = _DONE
                return END_OF_MESSAGE
            return self._read_fixed_body()
        if state is _DONE:
            return None
        if state is _ERROR:
            raise self._error  # type: ignore[misc]
        return self._read_chunked_body()

    # -- head ---------------------------------------------------------------

    def _check_partial_head(self) -> None:
        """Check the lines of a head that has not ended yet, as they arrive.

        Only the bytes that arrived since the last call are scanned, so a
        client trickling its head in costs linear time; and the first
        defect in byte order decides the status, as for a complete head.
        """
        buffer, limits = self.buffer, self.limits
        start = self._line_start
        while (newline := buffer.find(b"\n", max(start, self._scanned))) != -1:
            if newline == 0 or buffer[newline - 1] != 0x0D:
                raise BadRequest("bare LF in the request head")
            _check_head_line(self._lines_seen, buffer[start:newline - 1].decode("latin-1"), limits)
            self._lines_seen += 1
            start = newline + 1
        self._line_start = start
        # The line still arriving; one byte of slack for its CR.
        index, length = self._lines_seen, len(buffer) - start - 1
        if index == 0:
            if length > limits.request_line:
                raise URITooLong("request line too long")
        elif index > limits.header_fields and length > 0:  # not just the final CRLF
            raise HeaderFieldsTooLarge("too many header fields")
        elif length > limits.header_field_size - 2:  # the limit counts the CRLF
            raise HeaderFieldsTooLarge("header field too long")

    # -- body ---------------------------------------------------------------

    def whole_body(self) -> bytes | None:
        """The rest of a body of declared length, if it has all arrived and
        is within `body_limit`: its data and END_OF_MESSAGE in one step, the
        common case of a small body sent with its head. None otherwise, and
        `next_event()` goes on as before."""
        remaining = self._remaining
        buffer = self.buffer
        if self._state is not _BODY or len(buffer) < remaining or remaining > self.body_limit:
            return None
        if len(buffer) == remaining:
            body = b"" + buffer  # bytes(buffer), without the call of the type
            buffer.clear()
        else:
            body = bytes(buffer[:remaining])
            del buffer[:remaining]
        self._remaining = 0
        self._state = _DONE
        return body

    def _read_fixed_body(self) -> bytes | None:
        remaining = self._remaining
        if remaining > self.body_limit:  # the declared length, before any of it is read
            raise ContentTooLarge("declared body over the size limit")
        buffer = self.buffer
        if not buffer:
            return None
        if len(buffer) <= remaining:
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:remaining])
            del buffer[:remaining]
        self._remaining = remaining - len(data)
        return data

    def _read_chunked_body(self) -> bytes | _EndOfMessage | None:
        buffer = self.buffer
        while True:
            state = self._state
            if state is _CHUNK_DATA:
                if not buffer:
                    return None
                take = min(self._remaining, len(buffer))
                data = bytes(buffer[:take])
                del buffer[:take]
                self._remaining -= take
                if self._remaining == 0:
                    self._state = _CHUNK_END
                return data
            if state is _CHUNK_SIZE:
                scanned = self._scanned
                end = buffer.find(b"\r\n", scanned - 1 if scanned else 0, self.limits.chunk_line + 2)
                if end == -1:
                    if len(buffer) > self.limits.chunk_line + 1:  # + its CR
                        raise BadRequest("chunk size line too long")
                    self._scanned = len(buffer)
                    return None
                self._scanned = 0
                match = _CHUNK_LINE.fullmatch(buffer, 0, end)
                if match is None:
                    raise BadRequest("malformed chunk size line")
                size = int(match.group(1), 16)
                del buffer[:end + 2]
                self._body_received += size
                if self._body_received > self.body_limit:
                    raise ContentTooLarge("chunked body over the size limit")
                self._remaining = size
                if size:
                    self._state = _CHUNK_DATA
                else:
                    self._state = _TRAILERS
                    self._lines_seen = self._scanned = 0
            elif state is _CHUNK_END:
                if len(buffer) < 2:
                    if buffer[:1] not in (b"", b"\r"):
                        raise BadRequest("chunk data not followed by CRLF")
                    return None
                if buffer[:2] != b"\r\n":
                    raise BadRequest("chunk data not followed by CRLF")
                del buffer[:2]
                self._state = _CHUNK_SIZE
                self._scanned = 0
            else:  # _TRAILERS
                return self._read_trailers()

    def _read_trailers(self) -> _EndOfMessage | None:
        """Validate and drop trailer fields, one line at a time (so that a
        trickled section costs linear time): they never frame, route or
        reach the request's headers, and NOT_IN_TRAILERS may not appear."""
        buffer, limits = self.buffer, self.limits
        while (end := buffer.find(b"\r\n", self._scanned - 1 if self._scanned else 0)) != -1:
            if end == 0:
                del buffer[:2]
                self._state = _DONE
                self._lines_seen = self._scanned = 0
                return END_OF_MESSAGE
            if end > limits.header_field_size - 2:  # the limit counts the CRLF
                raise HeaderFieldsTooLarge("trailer field too long")
            line = buffer[:end].decode("latin-1")
            if _FIELD_LINE.fullmatch(line) is None:
                raise BadRequest("malformed trailer field")
            name = line.partition(":")[0].lower()
            if name in NOT_IN_TRAILERS:
                raise BadRequest(f"{name} field in the trailer section")
            self._lines_seen += 1
            if self._lines_seen > limits.header_fields:
                raise HeaderFieldsTooLarge("too many trailer fields")
            del buffer[:end + 2]
            self._scanned = 0
        if buffer.find(b"\n", self._scanned) != -1:
            raise BadRequest("bare LF in trailers")
        self._scanned = len(buffer)
        if len(buffer) > limits.header_field_size - 1:  # the longest line, and its CR
            raise HeaderFieldsTooLarge("trailer field too long")
        return None


def _check_head_line(index: int, line: str, limits: Limits) -> None:
    """The checks of one complete head line, in the byte order in which a
    head arriving piece by piece meets them, so that a head with several
    defects gets the same status however it is split."""
    if index > limits.header_fields:
        raise HeaderFieldsTooLarge("too many header fields")
    # Line lengths without the CRLF; the field limit counts it (Limits).
    limit = limits.request_line if index == 0 else limits.header_field_size - 2
    bare_lf = line.find("\n")
    if bare_lf != -1 and bare_lf <= limit + 1:
        raise BadRequest("bare LF in the request head")
    if len(line) > limit:
        if index == 0:
            raise URITooLong("request line too long")
        raise HeaderFieldsTooLarge("header field too long")
    if index == 0:
        match = _REQUEST_LINE.fullmatch(line)
        if match is None:
            if "#" in line.partition(" ")[2]:
                raise BadRequest("fragment (#) in the request target")
            raise BadRequest("malformed request line")
        _check_version(match.group(3))
    elif _FIELD_LINE.fullmatch(line) is None:
        raise BadRequest("malformed header field")


def _check_version(version: str) -> str:
    """`HTTP/` and a digit, a dot and a digit already matched: 1.0 or 1.1."""
    if version != "1.1" and version != "1.0":
        raise VersionNotSupported(f"HTTP/{version} is not supported")
    return "1.1" if version == "1.1" else "1.0"


def _normalize_target(method: str, target: str) -> str:
    """Reduce absolute-form to origin-form; allow `*` for OPTIONS only."""
    if target == "*":
        if method != "OPTIONS":
            raise BadRequest("'*' target is only valid for OPTIONS")
        return target
    match = _ABSOLUTE_FORM.match(target)
    if match is None:
        raise BadRequest("request target is not origin-form or absolute-form")
    rest = target[match.end():]
    if not rest or rest[0] != "/":
        rest = "/" + rest
    return rest


def _refuse_transfer_codings(transfer_encoding: str) -> NoReturn:
    """Why a Transfer-Encoding other than `chunked` is refused.

    A malformed list is 400: an element that is not a bare token (empty,
    odd whitespace, or with parameters, which no coding served here takes
    and whose quoted strings may hide a comma), or `chunked` twice or not
    last, which leaves the end of the body undecidable (RFC 9112 6.3). A
    well-formed list naming a coding this server does not decode (`gzip,
    chunked`, `xchunked`) is 501 (RFC 9112 6.1). Both close the connection.
    """
    codings = [coding.strip(" \t").lower() for coding in transfer_encoding.split(",")]
    if not all(_TOKEN_RE.fullmatch(coding) for coding in codings):
        raise BadRequest("malformed Transfer-Encoding")
    if "chunked" in codings and (codings.count("chunked") > 1 or codings[-1] != "chunked"):
        raise BadRequest("chunked must be the last transfer coding, and only once")
    raise UnsupportedTransferCoding("only the chunked transfer coding is implemented")


def _check_chunked(headers: dict[str, str], version: str) -> None:
    """A body framed by Transfer-Encoding: chunked is the one served."""
    transfer_encoding = headers["transfer-encoding"]
    if "content-length" in headers:
        raise BadRequest("both Content-Length and Transfer-Encoding")
    if version == "1.0":
        raise BadRequest("Transfer-Encoding in an HTTP/1.0 request")
    if transfer_encoding.lower() != "chunked":  # the one value that is served
        _refuse_transfer_codings(transfer_encoding)
