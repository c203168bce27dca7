"""Sans-I/O `multipart/form-data` parser (RFC 7578, boundaries per RFC 2046).

The connection feeds the body in whatever pieces it received and gets events
back: a `PartHeaders` when a part begins, its content as `bytes` pieces,
`END_OF_PART`, and finally `END_OF_BODY`. The body is never needed whole:
between two feeds the parser keeps at most a part's header section (bounded
by a limit) or, inside content, the few bytes that might begin a delimiter.
Every malformed or oversized input raises a `MultipartError` carrying the
status to answer with, and the parser keeps raising it afterwards.

The rules are strict where two parsers could disagree about what a body
holds (the lines around boundaries, duplicate parameters, `filename*`), and
lenient only where real clients need it (how browsers and curl quote names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from .exceptions import HTTPException

__all__ = [
    "END_OF_BODY", "END_OF_PART", "MultipartError", "MultipartLimits",
    "MultipartParser", "MultipartTooLarge", "PartHeaders", "is_form_data", "parse_boundary",
    "parse_header_options",
]


class MultipartError(HTTPException, ValueError):
    """A multipart body (or its Content-Type) the server refuses: 400."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(type(self).status_code, message)


class MultipartTooLarge(MultipartError):
    """A multipart body over one of its limits: 413.

    Also for a part's header section: those bytes are request content, and
    431 would tell the client its own request headers were too large.
    """

    status_code = 413


@dataclass(frozen=True, slots=True)
class MultipartLimits:
    """What one body may hold before the parser gives up on it.

    1,000 parts is Werkzeug's `max_form_parts` (set after CVE-2023-25577)
    and Starlette's default; 16 KiB of part headers leaves room for the
    longest UTF-8 filename a file system takes, several times over, while
    bounding what an unfinished section can make the parser hold.
    """

    parts: int = 1000                # 413 past it
    part_header_size: int = 16384    # 413 past it: one part's header lines
    preamble_size: int = 16384       # 400 past it: no boundary where one belongs


@dataclass(frozen=True, slots=True)
class PartHeaders:
    """A part begins: who it is for, and its header fields.

    `filename` is None for a plain field and a string (maybe empty: a file
    input left empty) for a file. `headers` has lower-case names.
    """

    name: str
    filename: str | None
    content_type: str | None
    headers: dict[str, str]


class _Marker:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


END_OF_PART = _Marker("END_OF_PART")
END_OF_BODY = _Marker("END_OF_BODY")

Event = PartHeaders | bytes | _Marker

# -- header values ----------------------------------------------------------------

# RFC 2046 5.1.1: 1 to 70 characters from this set, not ending in a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_MEDIA_TYPE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:/[!#$%&'*+\-.^_`|~0-9A-Za-z]+)?")
# One `; name=value` parameter (or an empty one). Inside a quoted string only
# \" and \\ are escapes: browsers and curl send other backslashes as they are
# (a Windows path). The alternatives are disjoint and the repetition is
# possessive, so no input makes the match backtrack (the ReDoS of
# CVE-2024-24762 and CVE-2026-28356 was an ambiguous alternation here).
_OPTION = re.compile(
    r'[ \t]*;[ \t]*(?:([^\s;="]+)[ \t]*=[ \t]*("(?:[^"\\]|\\["\\]?)*+"|[^\s;"]*+))?')
_QUOTED_PAIR = re.compile(r'\\(["\\])')
# WHATWG HTML: browsers (and curl since 7.81) send `"`, CR and LF in names
# as these three escapes, and nothing else percent-encoded.
_FORM_ESCAPE = re.compile(r"%(22|0[AaDd])")
_EXTENDED_VALUE = re.compile(r"([^']*)'[^']*'(.*)", re.DOTALL)
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def parse_header_options(value: str) -> tuple[str, dict[str, str]]:
    """Split `type; name=value; ...` into the lower-case type and its
    parameters (lower-case names, quoted values unquoted).

    A parameter given twice is refused: two readers of the same header
    must not pick different values.
    """
    head = value.partition(";")[0]
    kind = head.strip(" \t")
    if _MEDIA_TYPE.fullmatch(kind) is None:
        raise MultipartError("malformed Content-Type or Content-Disposition")
    options: dict[str, str] = {}
    position, end = len(head), len(value.rstrip(" \t"))
    while position < end:
        match = _OPTION.match(value, position)
        if match is None:
            raise MultipartError("malformed header parameters")
        name, raw = match.group(1, 2)
        position = match.end()
        if name is None:
            continue
        name = name.lower()
        if name in options:
            raise MultipartError(f"parameter {name!r} given twice")
        if raw.startswith('"'):
            raw = _QUOTED_PAIR.sub(r"\1", raw[1:-1])
        options[name] = raw
    return kind.lower(), options


def is_form_data(headers: dict[str, str]) -> bool:
    """Whether a request's Content-Type is `multipart/form-data` (any parameters)."""
    content_type = headers.get("content-type")
    return content_type is not None and (
        content_type.partition(";")[0].strip(" \t").lower() == "multipart/form-data")


def parse_boundary(content_type: str) -> bytes:
    """The boundary of a `multipart/form-data` Content-Type, checked."""
    kind, options = parse_header_options(content_type)
    if kind != "multipart/form-data":
        raise MultipartError("Content-Type is not multipart/form-data")
    boundary = options.get("boundary")
    if boundary is None:
        raise MultipartError("multipart Content-Type without a boundary")
    if not boundary:
        raise MultipartError("empty multipart boundary")
    if len(boundary) > 70:
        raise MultipartError("multipart boundary longer than 70 characters")
    if _BOUNDARY.fullmatch(boundary) is None:
        raise MultipartError("invalid character in the multipart boundary")
    return boundary.encode("ascii")


def _decode_header_value(raw: bytes) -> str:
    """Browsers send names in UTF-8; other bytes are most likely Latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _form_unescape(value: str) -> str:
    return _FORM_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), value)


def _extended_value(value: str) -> str:
    """Decode an RFC 8187 `charset'language'percent-encoded` value."""
    match = _EXTENDED_VALUE.fullmatch(value)
    if match is None or _BAD_PERCENT.search(match.group(2)):
        raise MultipartError("malformed filename* parameter")
    charset = match.group(1).lower()
    if charset not in ("utf-8", "iso-8859-1"):
        raise MultipartError("filename* in a charset other than UTF-8 or ISO-8859-1")
    try:
        return unquote_to_bytes(match.group(2)).decode(charset)
    except UnicodeDecodeError:
        raise MultipartError("filename* is not valid in its charset") from None


# A part header line: an RFC 5322 field name, a colon, then visible
# characters, SP, HTAB and raw non-ASCII bytes (browsers send UTF-8). Any
# other control byte, a bare CR or LF, or a folded line fails the match.
_HEADER_LINE = re.compile(rb"([!-9;-~]+):([\t\x20-\x7e\x80-\xff]*)")


def _part_headers(section: bytes) -> PartHeaders:
    """Parse one part's header lines (CRLF-separated, without the blank line)."""
    values: dict[str, list[str]] = {}
    for line in section.split(b"\r\n") if section else ():
        match = _HEADER_LINE.fullmatch(line)
        if match is None:
            raise MultipartError("malformed part header line")
        name = match.group(1).decode("ascii").lower()
        value = _decode_header_value(match.group(2)).strip(" \t")
        if name not in values:
            values[name] = [value]
        elif name in ("content-disposition", "content-type"):
            raise MultipartError(f"part header {name!r} given twice")
        else:
            values[name].append(value)
    headers = {name: ", ".join(repeated) for name, repeated in values.items()}
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise MultipartError("part without Content-Disposition")
    kind, options = parse_header_options(disposition)
    if kind != "form-data":
        raise MultipartError("part Content-Disposition is not form-data")
    # RFC 7578 4.2 forbids the extended forms; `name*` is ignored and
    # `filename*` only read when no plain `filename` was sent, so that an
    # inspector reading the plain parameters sees what the handler gets
    # (the smuggling of GHSA-vffw-93wf-4j4q).
    name = options.get("name")
    if name is None:
        raise MultipartError("part Content-Disposition without a name")
    filename = options.get("filename")
    if filename is not None:
        filename = _form_unescape(filename)
    elif "filename*" in options:
        filename = _extended_value(options["filename*"])
    return PartHeaders(_form_unescape(name), filename, headers.get("content-type"), headers)


# -- the parser ---------------------------------------------------------------------

# Parser states.
(_PREAMBLE, _DELIMITER_END, _PADDING, _HEADERS, _CONTENT, _CLOSE_PADDING,
 _EPILOGUE, _FINISHED, _ERROR) = range(9)

_LWSP = re.compile(rb"[ \t]*")


class MultipartParser:
    """Turns the pieces of one multipart body into events.

    `feed(data)` returns the events that piece completed; `end_of_input()`
    says the HTTP body ended, and raises unless the closing boundary was
    seen. Content comes out as it arrives, never buffered beyond the bytes
    that could still turn out to be a delimiter.
    """

    __slots__ = ("limits", "buffer", "_delimiter", "_state", "_scanned",
                 "_parts", "_preamble", "_padding", "_error")

    def __init__(self, boundary: bytes, limits: MultipartLimits = MultipartLimits()) -> None:
        self.limits = limits
        self._delimiter = b"\r\n--" + boundary
        # Bytes held back until more input arrives; callers only read it.
        # The first boundary may open the body with no CRLF before it: a
        # virtual one lets a single search find every delimiter.
        self.buffer = bytearray(b"\r\n")
        self._state = _PREAMBLE
        self._scanned = 0     # bytes of an unfinished header section searched already
        self._parts = 0
        self._preamble = -2   # preamble bytes skipped (the virtual CRLF is not one)
        self._padding = 0     # transport padding skipped on the current boundary line
        self._error: MultipartError | None = None

    def feed(self, data: bytes) -> list[Event]:
        if self._state >= _FINISHED:
            if self._state == _ERROR:
                raise self._error  # type: ignore[misc]
            raise RuntimeError("the body already ended")
        buffer = self.buffer
        if buffer:
            buffer += data
            chunk: bytes | bytearray = buffer
        else:
            chunk = data if isinstance(data, bytes) else bytes(data)
        events: list[Event] = []
        try:
            position = self._run(chunk, events)
        except MultipartError as exc:
            self._fail(exc)
            raise
        if chunk is buffer:
            del buffer[:position]
        else:
            buffer += chunk[position:]
        return events

    def end_of_input(self) -> list[Event]:
        """The HTTP body ended: the last events, or a 400 if it was cut short."""
        state = self._state
        if state == _ERROR:
            raise self._error  # type: ignore[misc]
        self._state = _FINISHED
        if state == _EPILOGUE or state == _FINISHED:
            return []
        if state == _CLOSE_PADDING and not self.buffer:
            return [END_OF_BODY]
        error = (MultipartError("no multipart boundary in the body") if state == _PREAMBLE
                 else MultipartError("body ended before the closing boundary"))
        self._fail(error)
        raise error

    def _fail(self, error: MultipartError) -> None:
        self._state = _ERROR
        self._error = error
        self.buffer = bytearray()

    def _run(self, chunk: bytes | bytearray, events: list[Event]) -> int:
        """Step through `chunk` from its start; return where unused bytes begin."""
        position = 0
        while True:
            state = self._state
            if state == _CONTENT:
                position, waiting = self._content(chunk, position, events)
            elif state == _HEADERS:
                position, waiting = self._headers(chunk, position, events)
            elif state == _DELIMITER_END:
                position, waiting = self._after_delimiter(chunk, position)
            elif state == _PADDING or state == _CLOSE_PADDING:
                position, waiting = self._line_end(chunk, position, events)
            elif state == _PREAMBLE:
                position, waiting = self._skip_preamble(chunk, position)
            else:  # _EPILOGUE: ignored, and not even searched
                return len(chunk)
            if waiting:
                return position

    def _held_back(self, chunk: bytes | bytearray, position: int) -> int:
        """Where the tail of `chunk` might begin a delimiter (else its end).

        A delimiter holds a single CR, its first byte, so only a CR within
        one delimiter's length of the end can start one.
        """
        delimiter = self._delimiter
        start = max(position, len(chunk) - len(delimiter) + 1)
        while (cr := chunk.find(b"\r", start)) != -1:
            if delimiter.startswith(chunk[cr:]):
                return cr
            start = cr + 1
        return len(chunk)

    def _skip_preamble(self, chunk: bytes | bytearray, position: int) -> tuple[int, bool]:
        found = chunk.find(self._delimiter, position)
        stop = self._held_back(chunk, position) if found == -1 else found
        self._preamble += stop - position
        if self._preamble > self.limits.preamble_size:
            raise MultipartError(f"no multipart boundary in the first "
                                 f"{self.limits.preamble_size} bytes")
        if found == -1:
            return stop, True
        self._state = _DELIMITER_END
        return found + len(self._delimiter), False

    def _content(self, chunk: bytes | bytearray, position: int,
                 events: list[Event]) -> tuple[int, bool]:
        found = chunk.find(self._delimiter, position)
        stop = self._held_back(chunk, position) if found == -1 else found
        if stop > position:
            # A piece that holds no delimiter goes out as it came, uncopied.
            events.append(chunk[position:stop] if isinstance(chunk, bytes)
                          else bytes(chunk[position:stop]))
        if found == -1:
            return stop, True
        events.append(END_OF_PART)
        self._state = _DELIMITER_END
        return found + len(self._delimiter), False

    def _after_delimiter(self, chunk: bytes | bytearray, position: int) -> tuple[int, bool]:
        """`--` closes the body; anything else must be the rest of a boundary line."""
        available = len(chunk) - position
        if available == 0 or (available == 1 and chunk[position] == 0x2D):
            return position, True
        if chunk[position] != 0x2D:
            self._state = _PADDING
            return position, False
        if chunk[position + 1] != 0x2D:
            raise MultipartError("boundary followed by a single '-'")
        self._state = _CLOSE_PADDING
        return position + 2, False

    def _line_end(self, chunk: bytes | bytearray, position: int,
                  events: list[Event]) -> tuple[int, bool]:
        """Transport padding, then the CRLF that ends a boundary line."""
        start = position
        position = _LWSP.match(chunk, position).end()  # type: ignore[union-attr]
        self._padding += position - start
        if self._padding > self.limits.part_header_size:
            raise MultipartError("too much transport padding after a boundary")
        end = len(chunk)
        if end - position < 2:
            if position < end and chunk[position] != 0x0D:
                raise MultipartError("boundary line not ended by CRLF")
            return position, True
        if chunk[position] != 0x0D or chunk[position + 1] != 0x0A:
            raise MultipartError("boundary line not ended by CRLF")
        self._padding = 0
        if self._state == _CLOSE_PADDING:
            events.append(END_OF_BODY)
            self._state = _EPILOGUE
            return end, False
        self._parts += 1
        if self._parts > self.limits.parts:
            raise MultipartTooLarge(f"more than {self.limits.parts} parts")
        self._state = _HEADERS
        self._scanned = 0
        # The CRLF stays: with it an empty header section also ends in CRLFCRLF.
        return position, False

    def _headers(self, chunk: bytes | bytearray, position: int,
                 events: list[Event]) -> tuple[int, bool]:
        limit = self.limits.part_header_size
        found = chunk.find(b"\r\n\r\n", position + max(self._scanned - 3, 0))
        if found == -1:
            # Searched bytes are not searched again: a section trickling in
            # byte by byte costs linear time.
            self._scanned = len(chunk) - position
            if self._scanned - 2 >= limit:
                raise MultipartTooLarge(f"part header section over {limit} bytes")
            return position, True
        if found - position + 2 > limit:
            raise MultipartTooLarge(f"part header section over {limit} bytes")
        events.append(_part_headers(bytes(chunk[position + 2:found])))
        self._state = _CONTENT
        return found + 4, False
