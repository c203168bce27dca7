"""Test clients that need no socket: the request's bytes go through the
real parser and connection code (`protocol.HTTPProtocol`) over an in-memory
transport, and the response's bytes are read back as a client reads them.

    with TestClient(app) as client:        # runs the app's startup hooks
        response = client.post("/login", data={"user": "ada"})
        assert client.get("/me").json() == {"user": "ada"}  # cookies persist
        with client.websocket_connect("/ws/lobby") as ws:  # see ws_testing
            ws.send_text("hello")

`AsyncTestClient` is the same for async tests (`async with`, `await`).
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from concurrent.futures import Future
from contextlib import asynccontextmanager, contextmanager
from email.utils import formatdate, parsedate_to_datetime
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlencode, urlsplit

from . import defaults
from .parser import Limits
from .protocol import ConnectionSettings, HTTPProtocol
from .ws_testing import (
    SyncTestWebSocket, TestWebSocket, WebSocketRefused, handshake_fields, open_websocket)

__all__ = ["AsyncTestClient", "TestClient", "TestResponse", "WebSocketRefused"]

BASE_URL = "http://testserver"
#: How long a request may take before the test fails rather than hangs.
TIMEOUT = 30.0


class ProtocolViolation(AssertionError):
    """The server sent something a strict client would not accept."""


class Headers:
    """A response's header fields: case-insensitive, repeats kept in order."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self.fields = fields

    def __getitem__(self, name: str) -> str:
        values = self.get_list(name)
        if not values:
            raise KeyError(name)
        return ", ".join(values)

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.get_list(name)
        return ", ".join(values) if values else default

    def get_list(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.fields if key == name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.get_list(name))

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(key for key, _ in self.fields))

    def items(self) -> list[tuple[str, str]]:
        return list(self.fields)

    def __repr__(self) -> str:
        return f"Headers({self.fields!r})"


class TestResponse:
    """What the server answered: `status_code`, `headers`, `content`,
    `text`, `json()`, and the `cookies` it set."""

    __test__ = False  # not a pytest test class

    def __init__(self, status_code: int, reason: str, headers: Headers,
                 content: bytes = b"") -> None:
        self.status_code = status_code
        self.reason = reason
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies this response sets (a deletion sets an empty value)."""
        return {name: value for name, value, _, _ in _set_cookies(self.headers)}

    def __repr__(self) -> str:
        return f"<TestResponse [{self.status_code}]>"


class _ResponseReader:
    """Reads one HTTP/1.1 response from bytes fed in pieces: informational
    responses skipped, then the head, then the body by its framing."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.buffer = bytearray()
        self.response: TestResponse | None = None
        self.body = asyncio.Queue[bytes | None]()  # pieces, None at the end
        self.done = False
        self._remaining: int | None = None  # body bytes left, None: until close
        self._chunked = False

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while not self.done and self._step():
            pass

    def closed(self) -> None:
        """The server closed: fine for a body delimited by the close."""
        if self.done:
            return
        if self.response is not None and self._remaining is None and not self._chunked:
            self._end()
            return
        raise ProtocolViolation(f"the connection closed mid-response: {bytes(self.buffer)[:200]!r}")

    def _step(self) -> bool:
        if self.response is None:
            return self._read_head()
        if self._chunked:
            return self._read_chunk()
        if self.buffer:
            piece = bytes(self.buffer if self._remaining is None else self.buffer[:self._remaining])
            del self.buffer[:len(piece)]
            self.body.put_nowait(piece)
            if self._remaining is not None:
                self._remaining -= len(piece)
        if self._remaining == 0:
            self._end()
        return False

    def _read_head(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end == -1:
            return False
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[:end + 4]
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        if version not in ("HTTP/1.1", "HTTP/1.0") or not (code.isdigit() and len(code) == 3):
            raise ProtocolViolation(f"malformed status line {lines[0]!r}")
        fields = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip() or name.lower() != name.lower().strip():
                raise ProtocolViolation(f"malformed header field {line!r}")
            fields.append((name.lower(), value.strip(" \t")))
        status = int(code)
        if 100 <= status < 200 and status != 101:
            return True  # 100 Continue and the like: the final response follows
        headers = Headers(fields)
        self.response = TestResponse(status, reason, headers)
        lengths = headers.get_list("content-length")
        if headers.get("transfer-encoding"):
            if lengths or headers["transfer-encoding"].lower() != "chunked":
                raise ProtocolViolation(f"bad framing: {fields!r}")
            self._chunked = True
        elif len(lengths) > 1 or (lengths and not lengths[0].isdigit()):
            raise ProtocolViolation(f"bad Content-Length: {lengths!r}")
        elif lengths:
            self._remaining = int(lengths[0])
        if self.method == "HEAD" or status in (101, 204, 304):
            self._chunked, self._remaining = False, 0
        return True

    def _read_chunk(self) -> bool:
        end = self.buffer.find(b"\r\n")
        if end == -1:
            return False
        size_text = bytes(self.buffer[:end]).split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolViolation(f"bad chunk size {size_text!r}") from None
        if size == 0:
            if self.buffer[end:end + 4] != b"\r\n\r\n":
                return False  # the final CRLF (no trailers are sent) still to come
            del self.buffer[:end + 4]
            self._end()
            return False
        if len(self.buffer) < end + 2 + size + 2:
            return False
        piece = bytes(self.buffer[end + 2:end + 2 + size])
        if self.buffer[end + 2 + size:end + 4 + size] != b"\r\n":
            raise ProtocolViolation("chunk data not followed by CRLF")
        del self.buffer[:end + 4 + size]
        self.body.put_nowait(piece)
        return True

    def _end(self) -> None:
        self.done = True
        self.body.put_nowait(None)


class _MemoryTransport(asyncio.Transport):
    """The server side of an in-memory connection: what the server writes
    goes to the reader; closing it is the server hanging up."""

    def __init__(self, reader: _ResponseReader) -> None:
        super().__init__()
        self.reader = reader
        self.protocol: asyncio.Protocol | None = None
        self.closing = False
        self.reading = True
        self.error: BaseException | None = None
        self.response_started = asyncio.get_running_loop().create_future()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 80)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closing:
            return
        try:
            self.reader.feed(bytes(data))
        except ProtocolViolation as exc:
            self.error = exc
            self.reader._end()
        if self.reader.response is not None and not self.response_started.done():
            self.response_started.set_result(None)

    def can_write_eof(self) -> bool:
        return False

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self._hang_up()

    def abort(self) -> None:
        self._hang_up()

    def _hang_up(self) -> None:
        if self.closing:
            return
        self.closing = True
        try:
            self.reader.closed()
        except ProtocolViolation as exc:
            self.error = exc
            self.reader._end()
        if not self.response_started.done():
            self.response_started.set_result(None)
        protocol = self.protocol
        asyncio.get_running_loop().call_soon(protocol.connection_lost, None)  # type: ignore[union-attr]

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol  # type: ignore[assignment]

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.protocol  # type: ignore[return-value]


class _Owner:
    """The server a test connection reports to."""

    draining = False
    requests_served = 0
    max_requests = 0  # never recycled
    on_max_requests = None

    @property
    def date_line(self) -> bytes:
        return b"date: %s\r\n" % formatdate(time.time(), usegmt=True).encode()

    def connection_made(self, connection: HTTPProtocol) -> None:
        pass

    def connection_closed(self, connection: HTTPProtocol) -> None:
        pass


class AsyncTestClient:
    """Sends requests to `app` on the running event loop; cookies set by
    responses are kept and sent back, so sessions work across requests."""

    __test__ = False

    def __init__(self, app: Any, *, base_url: str = BASE_URL,
                 headers: Mapping[str, str] | None = None,
                 cookies: Mapping[str, str] | None = None) -> None:
        self.app = app
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        #: (name, path) -> value, as a browser keeps them for one host.
        self.jar: dict[tuple[str, str], str] = {(name, "/"): value
                                                 for name, value in (cookies or {}).items()}
        self.settings = ConnectionSettings(
            limits=Limits(body_size=getattr(app, "max_body_size", defaults.MAX_BODY_SIZE)),
            read_timeout=getattr(app, "read_timeout", defaults.READ_TIMEOUT))

    @property
    def cookies(self) -> dict[str, str]:
        return {name: value for (name, _), value in self.jar.items()}

    async def __aenter__(self) -> AsyncTestClient:
        startup = getattr(self.app, "startup", None)
        if startup is not None:
            await startup()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        cleanup = getattr(self.app, "cleanup", None)
        if cleanup is not None:
            await cleanup(defaults.GRACEFUL_TIMEOUT)

    async def request(self, method: str, url: str, **options: Any) -> TestResponse:
        """Send a request and read the whole response. Options:
        `params`, `headers`, `cookies`, `json`, `data`, `files`, `content`."""
        async with self.stream(method, url, **options) as response:
            pieces = [piece async for piece in response.aiter_bytes()]
        response.content = b"".join(pieces)
        return response

    async def get(self, url: str, **options: Any) -> TestResponse:
        return await self.request("GET", url, **options)

    async def head(self, url: str, **options: Any) -> TestResponse:
        return await self.request("HEAD", url, **options)

    async def options(self, url: str, **options: Any) -> TestResponse:
        return await self.request("OPTIONS", url, **options)

    async def post(self, url: str, **options: Any) -> TestResponse:
        return await self.request("POST", url, **options)

    async def put(self, url: str, **options: Any) -> TestResponse:
        return await self.request("PUT", url, **options)

    async def patch(self, url: str, **options: Any) -> TestResponse:
        return await self.request("PATCH", url, **options)

    async def delete(self, url: str, **options: Any) -> TestResponse:
        return await self.request("DELETE", url, **options)

    @asynccontextmanager
    async def stream(self, method: str, url: str, **options: Any) -> AsyncIterator[StreamingTestResponse]:
        """The response as soon as its head arrived; its body is read with
        `aiter_bytes()` / `aiter_lines()` as the app produces it. Leaving
        the block hangs up, as a browser closing an event stream does."""
        method = method.upper()
        target, raw = self._encode(method, url, **options)
        reader = _ResponseReader(method)
        transport = _MemoryTransport(reader)
        connection = HTTPProtocol(self.app, self.settings, _Owner())
        transport.protocol = connection
        connection.connection_made(transport)
        # From a loop callback, as a socket's bytes arrive: the app then
        # runs as it does when served, not as a task of the test's.
        asyncio.get_running_loop().call_soon(connection.data_received, raw)
        try:
            await asyncio.wait_for(asyncio.shield(transport.response_started), TIMEOUT)
            if transport.error is not None:
                raise transport.error
            if reader.response is None:
                raise ProtocolViolation(f"no response to {method} {target}")
            response = StreamingTestResponse(reader, transport)
            self._keep_cookies(response, target)
            yield response
        finally:
            if not transport.closing:
                transport.closing = True
                connection.connection_lost(None)

    @asynccontextmanager
    async def websocket_connect(self, url: str, *, subprotocols: list[str] | tuple[str, ...] = (),
                                **options: Any) -> AsyncIterator[TestWebSocket]:
        """A WebSocket to the route at `url` (see `ws_testing`), offering
        `subprotocols`; a handshake answered with anything but 101 raises
        `WebSocketRefused`, which holds the response."""
        key, fields = handshake_fields(subprotocols)
        options["headers"] = {**fields, **(options.get("headers") or {})}
        async with self.stream("GET", url, **options) as response:
            if response.status_code != 101:
                response.content = b"".join([piece async for piece in response.aiter_bytes()])
                raise WebSocketRefused(response)
            async with open_websocket(response, key, subprotocols) as websocket:
                yield websocket

    def _encode(self, method: str, url: str, *, params: Any = None,
                headers: Mapping[str, str] | None = None, cookies: Mapping[str, str] | None = None,
                json: Any = None, data: Any = None, files: Any = None,
                content: bytes | str | None = None) -> tuple[str, bytes]:
        """The request's target and its bytes on the wire."""
        parts = urlsplit(url if "://" in url else self.base_url + url)
        target = parts.path or "/"
        query = parts.query
        if params:
            query = "&".join(filter(None, [query, urlencode(params, doseq=True)]))
        if query:
            target += "?" + query
        fields: dict[str, str] = {"host": parts.netloc or "testserver", "user-agent": "testclient",
                                  **{k.lower(): v for k, v in self.headers.items()},
                                  **{k.lower(): v for k, v in (headers or {}).items()}}
        body = b""
        if files is not None:
            body, fields["content-type"] = _multipart(data or {}, files)
        elif json is not None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
            fields.setdefault("content-type", "application/json")
        elif data is not None:
            body = (data if isinstance(data, (bytes, str)) else urlencode(data, doseq=True))
            body = body.encode() if isinstance(body, str) else body
            fields.setdefault("content-type", "application/x-www-form-urlencoded")
        elif content is not None:
            body = content.encode() if isinstance(content, str) else content
        if body or method in ("POST", "PUT", "PATCH"):
            fields["content-length"] = str(len(body))
        jar = {**self._cookies_for(parts.path or "/"), **(cookies or {})}
        if jar:
            fields["cookie"] = "; ".join(f"{name}={value}" for name, value in jar.items())
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in fields.items()) + "\r\n"
        return target, head.encode("latin-1") + body

    def _cookies_for(self, path: str) -> dict[str, str]:
        return {name: value for (name, cookie_path), value in self.jar.items()
                if path == cookie_path or path.startswith(cookie_path.rstrip("/") + "/")}

    def _keep_cookies(self, response: TestResponse, target: str) -> None:
        default_path = target.split("?")[0].rsplit("/", 1)[0] or "/"
        for name, value, path, expired in _set_cookies(response.headers):
            key = (name, path or default_path)
            if expired:
                self.jar.pop(key, None)
            else:
                self.jar[key] = value


class StreamingTestResponse(TestResponse):
    """A response whose body is read as it arrives."""

    def __init__(self, reader: _ResponseReader, transport: _MemoryTransport) -> None:
        head = reader.response
        super().__init__(head.status_code, head.reason, head.headers)  # type: ignore[union-attr]
        self._reader = reader
        self._transport = transport

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        while True:
            piece = await asyncio.wait_for(self._reader.body.get(), TIMEOUT)
            if piece is None:
                if self._transport.error is not None:
                    raise self._transport.error
                return
            yield piece

    async def aiter_lines(self) -> AsyncIterator[str]:
        pending = ""
        async for piece in self.aiter_bytes():
            pending += piece.decode("utf-8")
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line.rstrip("\r")
        if pending:
            yield pending


class TestClient:
    """`AsyncTestClient` for plain (sync) tests: the app runs on an event
    loop in a thread of its own; `with TestClient(app)` runs its startup
    and shutdown hooks."""

    __test__ = False

    def __init__(self, app: Any, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="zerodep-testclient")
        self._thread.start()
        self._client = AsyncTestClient(app, **options)
        self._entered = False

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(TIMEOUT)

    @property
    def app(self) -> Any:
        return self._client.app

    @property
    def cookies(self) -> dict[str, str]:
        return self._client.cookies

    def __enter__(self) -> TestClient:
        self._call(self._client.__aenter__())
        self._entered = True
        return self

    def __exit__(self, *exc_info: Any) -> None:
        try:
            if self._entered:
                self._call(self._client.__aexit__(*exc_info))
        finally:
            self.close()

    def close(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(TIMEOUT)
            self._loop.close()

    def request(self, method: str, url: str, **options: Any) -> TestResponse:
        return self._call(self._client.request(method, url, **options))

    def get(self, url: str, **options: Any) -> TestResponse:
        return self.request("GET", url, **options)

    def head(self, url: str, **options: Any) -> TestResponse:
        return self.request("HEAD", url, **options)

    def options(self, url: str, **options: Any) -> TestResponse:
        return self.request("OPTIONS", url, **options)

    def post(self, url: str, **options: Any) -> TestResponse:
        return self.request("POST", url, **options)

    def put(self, url: str, **options: Any) -> TestResponse:
        return self.request("PUT", url, **options)

    def patch(self, url: str, **options: Any) -> TestResponse:
        return self.request("PATCH", url, **options)

    def delete(self, url: str, **options: Any) -> TestResponse:
        return self.request("DELETE", url, **options)

    @contextmanager
    def stream(self, method: str, url: str, **options: Any) -> Iterator[SyncStreamingResponse]:
        """The response as soon as its head arrived; iterate its body with
        `iter_bytes()` / `iter_lines()` as the app produces it (SSE)."""
        manager = self._client.stream(method, url, **options)
        response = self._call(manager.__aenter__())
        try:
            yield SyncStreamingResponse(response, self._call)
        finally:
            self._call(manager.__aexit__(None, None, None))


    @contextmanager
    def websocket_connect(self, url: str, **options: Any) -> Iterator[SyncTestWebSocket]:
        """`AsyncTestClient.websocket_connect` with plain calls."""
        manager = self._client.websocket_connect(url, **options)
        websocket = self._call(manager.__aenter__())
        try:
            yield SyncTestWebSocket(websocket, self._call)
        finally:
            self._call(manager.__aexit__(None, None, None))


class SyncStreamingResponse(TestResponse):
    """A streamed response for `TestClient.stream`, read piece by piece."""

    def __init__(self, response: StreamingTestResponse, call: Any) -> None:
        super().__init__(response.status_code, response.reason, response.headers)
        self._response = response
        self._call = call

    def iter_bytes(self) -> Iterator[bytes]:
        pieces = self._response.aiter_bytes()
        while True:
            try:
                yield self._call(pieces.__anext__())
            except StopAsyncIteration:
                return

    def iter_lines(self) -> Iterator[str]:
        lines = self._response.aiter_lines()
        while True:
            try:
                yield self._call(lines.__anext__())
            except StopAsyncIteration:
                return


def _set_cookies(headers: Headers) -> Iterator[tuple[str, str, str | None, bool]]:
    """(name, value, path, expired) for each `Set-Cookie` line."""
    for line in headers.get_list("set-cookie"):
        jar = SimpleCookie()
        try:
            jar.load(line)
        except CookieError:
            continue
        for name, morsel in jar.items():
            max_age = morsel["max-age"]
            expired = bool(max_age) and int(max_age) <= 0
            if morsel["expires"] and not expired:
                expired = parsedate_to_datetime(morsel["expires"]).timestamp() <= time.time()
            yield name, morsel.value, morsel["path"] or None, expired


def _multipart(data: Mapping[str, Any], files: Any) -> tuple[bytes, str]:
    """A multipart/form-data body for `data` fields and `files`: a mapping
    (or list of pairs) of field name to bytes, a file object or a tuple
    (filename, content[, content_type])."""
    boundary = secrets.token_hex(16)
    parts = []
    for name, values in data.items():
        for value in values if isinstance(values, list) else [values]:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"'
                         f"\r\n\r\n{value}\r\n".encode())
    items = files.items() if isinstance(files, Mapping) else files
    for name, spec in items:
        filename, content, content_type = _file_spec(name, spec)
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"; '
                     f'filename="{_quoted(filename)}"\r\nContent-Type: {content_type}\r\n\r\n'
                     .encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _file_spec(name: str, spec: Any) -> tuple[str, bytes, str]:
    if isinstance(spec, tuple):
        filename, content, *rest = spec
        content_type = rest[0] if rest else "application/octet-stream"
    else:
        filename, content, content_type = getattr(spec, "name", name), spec, "application/octet-stream"
    if hasattr(content, "read"):
        content = content.read()
    if isinstance(content, str):
        content = content.encode()
    return str(filename).rsplit("/", 1)[-1], content, content_type


def _quoted(text: str) -> str:
    """A name as browsers put it in a quoted-string: quotes and line breaks
    percent-encoded."""
    return text.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
