"""Response objects and the coercion of handler return values into them."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

from .cookies import format_delete_cookie, format_set_cookie
from .threadpool import to_thread

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
OCTET_STREAM = "application/octet-stream"


def _make_json_chunks(make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
                      ) -> Callable[[Any, int], Sequence[str]]:
    """Compact UTF-8 JSON, as pieces: `"".join(chunks(data, 0))` is the
    text. The C encoder is built once rather than on every call as
    `json.dumps` does, which halves the cost for small documents, and is
    called as it is, with no Python frame around it.

    `c_make_encoder` is undocumented: it is used only when present and when
    it agrees with `json.dumps` on a sample, else `json.dumps` it is."""
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    fallback = lambda data, level: (encoder.encode(data),)  # noqa: E731
    if make_encoder is None:
        return fallback
    try:
        # No circular-reference markers: they would have to be fresh for
        # every call. A cyclic structure still fails, with a RecursionError.
        chunks = make_encoder(None, encoder.default, json.encoder.encode_basestring,
                              None, ":", ",", False, False, True)
        if "".join(chunks(_JSON_SAMPLE, 0)) == encoder.encode(_JSON_SAMPLE):
            return chunks  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - a changed signature means: do not use it
        pass
    return fallback


_JSON_SAMPLE = {"a": [1, 2.5, None, True, "é\"\n"], "b": {"c": -3}}
_json_chunks = _make_json_chunks()


def _json_encode(data: Any) -> str:
    """`data` as compact JSON text (see `_make_json_chunks`)."""
    return "".join(_json_chunks(data, 0))


#: Makes the protocol that takes over a connection after `101 Switching
#: Protocols`, given the connection's settings (`protocol.ConnectionSettings`);
#: it gets the transport through `connection_made`.
ProtocolFactory = Callable[[Any], asyncio.Protocol]
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
# Framing is the server's business: an application cannot set these.
_FRAMING_FIELDS = frozenset({"content-length", "transfer-encoding", "connection"})


class Headers(dict):
    """Response header fields with case-insensitive names.

    Names are stored (and sent) in lower case, as h11 does; a list value
    sends one field line per item (several `set-cookie` fields).
    """

    __slots__ = ()

    def __init__(self, fields: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        super().__init__()
        self.update(fields)

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name.lower(), value)

    def __getitem__(self, name: str) -> Any:
        return super().__getitem__(name.lower())

    def __delitem__(self, name: str) -> None:
        super().__delitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)

    def pop(self, name: str, *default: Any) -> Any:
        return super().pop(name.lower(), *default)

    def setdefault(self, name: str, default: Any = None) -> Any:
        return super().setdefault(name.lower(), default)

    def add(self, name: str, value: Any) -> None:
        """Add a field line, keeping those already there (`set-cookie`)."""
        name = name.lower()
        current = super().get(name)
        if current is None:
            super().__setitem__(name, value)
        elif isinstance(current, list):
            current.append(value)
        else:
            super().__setitem__(name, [current, value])

    def update(self, fields: Any = (), **more: Any) -> None:  # type: ignore[override]
        items = fields.items() if isinstance(fields, Mapping) else fields
        for name, value in items:
            self[name] = value
        for name, value in more.items():
            self[name] = value

    def render(self) -> str:
        """The field lines, refusing anything that could split the response."""
        lines = []
        for name, value in self.items():
            if name in _FRAMING_FIELDS:
                continue
            if _FIELD_NAME.fullmatch(name) is None:
                raise ValueError(f"invalid response header name {name!r}")
            for item in value if isinstance(value, list) else (value,):
                item = str(item)
                if _FIELD_VALUE.fullmatch(item) is None:
                    raise ValueError(f"invalid value for response header {name!r}")
                lines.append(f"{name}: {item}\r\n")
        return "".join(lines)


def status_line(status_code: int) -> str:
    """`HTTP/1.1 200 OK` without the CRLF; an unknown code gets no phrase."""
    line = _STATUS_LINES.get(status_code)
    if line is None:
        if type(status_code) is not int or not 100 <= status_code <= 999:
            raise ValueError(f"invalid status code {status_code!r}")
        line = f"HTTP/1.1 {status_code} "
    return line


# The heads of responses with no header fields but their content type:
# keyed by the content type alone for a 200 (a string key costs a third
# of what a tuple does to look up), by (status, content type) otherwise.
_PREFIXES: dict[str | tuple[int, str], bytes] = {}
_STATUS_LINES = {status.value: f"HTTP/1.1 {status.value} {status.phrase}" for status in HTTPStatus}


class Response:
    """A response whose whole body is known up front."""

    __slots__ = ("body", "status_code", "_content_type", "_headers")

    #: Responses that send their own body (streams, files) set this.
    streamed = False

    def __init__(self, body: str | bytes = "", status_code: int = 200,
                 headers: Mapping[str, Any] | None = None,
                 content_type: str | None = None) -> None:
        if body.__class__ is bytes:  # the commonest body: as is (bytes(body) is body)
            self.body = body
            default_type = OCTET_STREAM
        elif isinstance(body, str):
            self.body = body.encode("utf-8")
            default_type = TEXT
        elif isinstance(body, (bytes, bytearray, memoryview)):
            self.body = bytes(body)
            default_type = OCTET_STREAM
        else:
            raise TypeError(f"a response body must be str or bytes, not {type(body).__name__}")
        self.status_code = status_code
        self._content_type = content_type or default_type
        self._headers: Headers | None = None
        if headers:
            self.headers.update(headers)
            if content_type:
                self._headers["content-type"] = content_type  # type: ignore[index]

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers({"content-type": self._content_type})
        return self._headers

    @property
    def content_type(self) -> str | None:
        if self._headers is None:
            return self._content_type
        return self._headers.get("content-type")

    def set_cookie(self, key: str, value: str = "", *,
                   max_age: int | timedelta | None = None, expires: datetime | None = None,
                   path: str = "/", domain: str | None = None, secure: bool = False,
                   httponly: bool = False, samesite: str | None = "Lax") -> None:
        """Add a `Set-Cookie` line; ValueError for a name, value or
        attribute that would break the header (see `cookies`)."""
        self.headers.add("set-cookie", format_set_cookie(
            key, value, max_age=max_age, expires=expires, path=path, domain=domain,
            secure=secure, httponly=httponly, samesite=samesite))

    def delete_cookie(self, key: str, *, path: str = "/", domain: str | None = None) -> None:
        """Tell the browser to drop a cookie set with this path and domain."""
        self.headers.add("set-cookie", format_delete_cookie(key, path=path, domain=domain))

    def head_prefix(self) -> bytes:
        """The status line and the application's header fields, encoded.

        Raises ValueError for a field that could split the response. The
        common case, no fields but the content type, is cached.
        """
        if self._headers is None:
            status, content_type = self.status_code, self._content_type
            key = content_type if status == 200 else (status, content_type)
            prefix = _PREFIXES.get(key)
            if prefix is None:
                fields = Headers({"content-type": self._content_type}).render()
                prefix = f"{status_line(self.status_code)}\r\n{fields}".encode("latin-1")
                if len(_PREFIXES) < 512:  # content types may come from clients
                    _PREFIXES[key] = prefix
            return prefix
        return f"{status_line(self.status_code)}\r\n{self._headers.render()}".encode("latin-1")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code}>"


class JSONResponse(Response):
    """`data` serialized as compact UTF-8 JSON."""

    __slots__ = ()

    def __init__(self, data: Any, status_code: int = 200,
                 headers: Mapping[str, Any] | None = None) -> None:
        super().__init__(_json_encode(data), status_code, headers, JSON)


class StreamingResponse(Response):
    """A body produced by an (async) iterator, sent with chunked coding.

    Each item (str or bytes) goes out as it is produced, and the iterator is
    not asked for the next one while the client is not reading, so a slow
    client cannot make the server buffer an unbounded stream. When the
    client goes away the iterator is closed (`aclose`).
    """

    __slots__ = ("iterator", "compress")
    streamed = True

    def __init__(self, generator: AsyncIterable[str | bytes] | Iterable[str | bytes],
                 status_code: int = 200, headers: Mapping[str, Any] | None = None,
                 content_type: str | None = None, *, compress: bool = False) -> None:
        super().__init__(b"", status_code, headers, content_type or TEXT)
        self.iterator = generator
        #: Gzip it, piece by piece, for an `App(compress=True)` and a client
        #: that takes gzip; streams are sent as they are unless asked.
        self.compress = compress
        if self.content_type and self.content_type.startswith("text/event-stream"):
            # Proxies must neither cache nor buffer server-sent events.
            self.headers.setdefault("cache-control", "no-cache")
            self.headers.setdefault("x-accel-buffering", "no")

    def chunks(self) -> AsyncIterator[str | bytes]:
        """The body's items as an async iterator; a plain iterator advances
        in a thread, since each step may block."""
        iterator = self.iterator
        if isinstance(iterator, AsyncIterable):
            return aiter(iterator)
        return _iterate_in_thread(iterator)

    async def close(self) -> None:
        """Close the iterator (`aclose` or `close`), however the body ended."""
        await close_iterator(self.iterator)

    def transform(self, step: Callable[[AsyncIterator[str | bytes]], AsyncIterator[bytes]]) -> None:
        """Send `step(items)` instead of the items (gzip them, say); closing
        the response still closes the original iterator."""
        original, chunks = self.iterator, self.chunks()

        async def transformed() -> AsyncIterator[bytes]:
            try:
                async for piece in step(chunks):
                    yield piece
            finally:
                await close_iterator(original)

        self.iterator = transformed()


async def close_iterator(iterator: Any) -> None:
    """`aclose()` or `close()` an iterator that has either."""
    close = getattr(iterator, "aclose", None) or getattr(iterator, "close", None)
    if close is not None:
        result = close()
        if inspect.isawaitable(result):
            await result


class SwitchProtocol(Response):
    """`101 Switching Protocols`: after the head, the connection belongs to
    the protocol `protocol_factory(settings)` makes (a WebSocket, say)."""

    __slots__ = ("protocol_factory",)
    streamed = True

    def __init__(self, protocol_factory: ProtocolFactory,
                 headers: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        super().__init__(b"", 101)
        self._headers = Headers(headers)  # no Content-Type: there is no body
        self.protocol_factory = protocol_factory


async def _iterate_in_thread(iterable: Iterable[Any]) -> AsyncIterator[Any]:
    """A plain iterator advances in a thread: each step may block."""
    iterator = iter(iterable)
    done = object()
    while (item := await to_thread(next, iterator, done)) is not done:
        yield item


def redirect(location: str, status_code: int = 302) -> Response:
    """Send the client to `location` (301, 302, 303, 307 or 308)."""
    if status_code not in (300, 301, 302, 303, 305, 307, 308):
        raise ValueError(f"{status_code} is not a redirect status")
    return Response(b"", status_code, {"location": location}, TEXT)


_new_object = object.__new__


def coerce_response(value: Any) -> Response:
    """Turn what a handler returned into a response object."""
    cls = value.__class__  # the exact common types first: one comparison each
    if cls is str:
        made, body, content_type = Response, value.encode(), TEXT
    elif cls is dict or cls is list:
        made, body, content_type = JSONResponse, "".join(_json_chunks(value, 0)).encode(), JSON
    elif cls is bytes:
        made, body, content_type = Response, value, OCTET_STREAM
    else:
        return _coerce_other(value)
    # What `made(value)` makes, without the cost of calling the class
    # (type_call, __init__ and its checks): its slots stored here.
    response = _new_object(made)
    response.body = body
    response.status_code = 200
    response._content_type = content_type
    response._headers = None
    return response


def _coerce_other(value: Any) -> Response:
    """The rarer return values: responses, subclasses of the common types,
    None, tuples."""
    if isinstance(value, Response):
        return value
    if isinstance(value, (dict, list)):
        return JSONResponse(value)
    if isinstance(value, str):
        return Response(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Response(bytes(value))
    if value is None:
        return Response(b"", 204)
    if isinstance(value, tuple) and len(value) in (2, 3):
        body, status_code, *extra = value
        response = coerce_response(body)
        response.status_code = status_code
        if extra and extra[0]:
            response.headers.update(extra[0])
        return response
    raise TypeError(f"a handler returned {type(value).__name__}, which is not a response")
