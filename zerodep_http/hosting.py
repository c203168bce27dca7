"""What the ASGI and WSGI adapters share: the root path, and a response
head made of the header fields an application gave as a list.

Both adapters hand the connection a `HostedResponse` through
`channel.start_response`: its head is the application's fields, checked
and encoded once, in the order given and with repeats kept (`set-cookie`),
and the connection adds the framing (`content-length` or chunked, `date`,
`connection`) as for any response.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from typing import Any

from .responses import Response, status_line

_FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
#: The connection frames every response itself; these from an application
#: would contradict it (`content-length` is read, then left to the connection).
FRAMING_FIELDS = frozenset({b"content-length", b"transfer-encoding", b"connection", b"date"})
#: Hop-by-hop fields an application must not send (PEP 3333, RFC 9110 7.6.1).
HOP_BY_HOP = frozenset({b"keep-alive", b"proxy-authenticate", b"proxy-authorization",
                        b"te", b"trailer", b"upgrade"})


#: Field lines already checked, by (name, value) as the application gives
#: them: an application sends the same few (`content-type: text/html`).
#: Short values only, and a bounded number: some come from clients.
_CHECKED_LINES: dict[tuple[bytes, bytes], bytes] = {}


class InvalidResponse(ValueError):
    """An application's status or header fields cannot go on the wire."""


class HostedResponse(Response):
    """A response head from an application's own list of header fields."""

    __slots__ = ("fields",)

    def __init__(self, status_code: int, fields: bytes) -> None:
        # No Response.__init__: there is no body, and no content type of ours.
        self.body = b""
        self.status_code = status_code
        self._content_type = None
        self._headers = None
        self.fields = fields

    @property
    def content_type(self) -> str | None:
        return None

    def head_prefix(self) -> bytes:
        return b"%s\r\n%s" % (status_line(self.status_code).encode("latin-1"), self.fields)


def encode_fields(fields: Iterable[tuple[bytes, bytes]]) -> tuple[bytes, int | None]:
    """The field lines to send and the content length the application
    declared (None if it did not); `InvalidResponse` for a field that
    could split the response or that the server owns."""
    lines = []
    content_length = None
    for name, value in fields:
        line = _CHECKED_LINES.get((name, value))
        if line is not None:
            lines.append(line)
            continue
        name = name.lower()
        if name == b"content-length":
            content_length = _content_length(value, content_length)
            continue
        if _FIELD_NAME.fullmatch(name) is None:
            raise InvalidResponse(f"invalid header name {name!r}")
        if _FIELD_VALUE.fullmatch(value) is None:
            raise InvalidResponse(f"invalid value for header {name.decode('latin-1')!r}")
        if name in FRAMING_FIELDS:
            continue
        if name in HOP_BY_HOP:
            raise InvalidResponse(f"hop-by-hop header {name.decode('latin-1')!r} "
                                  "is the server's business")
        line = b"%s: %s\r\n" % (name, value)
        if len(value) <= 128 and len(_CHECKED_LINES) < 1024:
            _CHECKED_LINES[name, value] = line
        lines.append(line)
    return b"".join(lines), content_length


def _content_length(value: bytes, previous: int | None) -> int:
    if not value.isdigit():
        value = value.strip(b" \t")
        if not value.isdigit():
            raise InvalidResponse(f"invalid content-length {value!r}")
    if len(value) > 18:
        raise InvalidResponse(f"content-length {value!r} is too large")
    length = int(value)
    if previous is not None and previous != length:
        raise InvalidResponse("conflicting content-length headers")
    return length


def split_root_path(root_path: str, path: str) -> tuple[str, str]:
    """`path` as (SCRIPT_NAME, PATH_INFO) under `root_path` (`--root-path`).

    A proxy may pass the prefix on or strip it: a path that starts with it
    (as a whole segment) carries it, any other is taken as stripped.
    """
    if root_path and path.startswith(root_path) and (
            len(path) == len(root_path) or path[len(root_path)] == "/"):
        return root_path, path[len(root_path):]
    return root_path, path


def hosted_interface(app: Any) -> str | None:
    """`asgi` for an async callable (scope, receive, send), `wsgi` for a
    callable (environ, start_response), else None: told apart by their
    call signature."""
    if not callable(app):
        return None
    is_async = inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(
        getattr(app, "__call__", None))
    if is_async and _takes(app, 3):
        return "asgi"
    if not is_async and _takes(app, 2):
        return "wsgi"
    return None


def _takes(function: Any, count: int) -> bool:
    """Whether `function` can be called with `count` positional arguments."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return False
    try:
        signature.bind(*range(count))
    except TypeError:
        return False
    return True
