"""WSGI applications (PEP 3333), served by the connection like any other
(`exchange.Application`).

The application runs in a thread of a pool (`--threads`), so the event
loop never blocks; its response comes back to the loop as messages, and
the loop writes them. A response whose length is known by its first piece
(the common case: frameworks set Content-Length) is one message, head and
body together; a streamed one is a message per piece, and the thread waits
while more than `MAX_UNSENT` bytes wait for a slow client, so a big
response never piles up in memory, and a slow client holds a connection,
not a thread, once the application is done. `close()` is called on every
iterable the application returns, in its thread, whatever happened
(the client leaving included).

Errors: an exception before the head went out is a 500 (logged once); after
it the connection is dropped. A body that cannot arrive (too large, too
slow, malformed) is answered with its status when the application fails
on it.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import stat
import threading
from collections import deque
from typing import Any
from urllib.parse import unquote

from . import defaults
from .exchange import BodyError, ClientDisconnected
from .hosting import HostedResponse, InvalidResponse, encode_fields, split_root_path
from .requests import Request
from .responses import TEXT, Response
from .threadpool import ThreadPool
from .wsgi_streams import ErrorStream, FileWrapper, InputStream

log = logging.getLogger("zerodep_http.error")

#: Bytes of a streamed response handed to the loop and not yet written
#: before the application's thread waits for the client.
MAX_UNSENT = 256 * 1024
_STATUS = re.compile(r"([1-9][0-9]{2}) [^\r\n]*")
# Environ keys of header names, computed once per name (a bounded cache:
# names come from clients).
_ENVIRON_KEYS: dict[str, str | None] = {
    "content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}
_MAX_ENVIRON_KEYS = 512

# Messages from the application's thread to the loop: tuples led by these.
WHOLE = "whole"      # (WHOLE, response, body, declared length or None): all of it
START = "start"      # (START, response, length, first piece): a streamed one begins
FILE = "file"        # (FILE, response, wrapper, offset, length): sendfile, then close
FAILED = "failed"    # (FAILED, exception)
END = "end"          # (END,): the streamed body ended
# A piece of a streamed body is a plain bytes object.


def _environ_key(name: str) -> str | None:
    """`HTTP_X_NAME` for `x-name`; None for a name with an underscore,
    which would be indistinguishable from its dashed twin (a spoofing
    vector behind proxies that check one spelling): dropped, as nginx and
    gunicorn do."""
    key = _ENVIRON_KEYS.get(name, "")
    if key == "":
        key = None if "_" in name else "HTTP_" + name.upper().replace("-", "_")
        if len(_ENVIRON_KEYS) < _MAX_ENVIRON_KEYS:
            _ENVIRON_KEYS[name] = key
    return key


class WSGIApplication:
    """Serves a WSGI application from `threads` threads; `root_path` splits
    SCRIPT_NAME from PATH_INFO (`--root-path`), `multiprocess` is what
    `wsgi.multiprocess` says (several worker processes)."""

    def __init__(self, app: Any, *, root_path: str = "", threads: int = defaults.THREADS,
                 multiprocess: bool = False) -> None:
        self.app = app
        self.root_path = root_path or ""
        self.pool = ThreadPool(threads, name="zerodep-wsgi")
        self._environ = {
            "wsgi.version": (1, 0),
            "wsgi.errors": ErrorStream(),
            "wsgi.multithread": threads > 1,
            "wsgi.multiprocess": multiprocess,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            # wsgi.input ends where the body does (chunked bodies too):
            # read it to the end rather than to CONTENT_LENGTH.
            "wsgi.input_terminated": True,
            "SCRIPT_NAME": self.root_path,
        }

    async def startup(self) -> None:
        """Nothing to do before the first request: the threads start with it."""

    async def cleanup(self, timeout: float) -> None:
        await self.pool.shutdown(timeout)

    def environ(self, request: Request) -> dict[str, Any]:
        environ = self._environ.copy()
        # Set only when the path was percent-decoded; else it is the path.
        raw_path = getattr(request, "path_as_sent", None) or request.path
        path = unquote(raw_path, encoding="latin-1") if "%" in raw_path else raw_path
        if self.root_path:
            environ["SCRIPT_NAME"], path = split_root_path(self.root_path, path)
        query = request.query_string
        environ["REQUEST_METHOD"] = request.method
        environ["PATH_INFO"] = path
        environ["QUERY_STRING"] = query
        environ["RAW_URI"] = environ["REQUEST_URI"] = f"{raw_path}?{query}" if query else raw_path
        environ["SERVER_PROTOCOL"] = "HTTP/" + request.http_version
        environ["wsgi.url_scheme"] = request.scheme
        client = request.client_addr
        if client is not None:
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = client[0], str(client[1])
        keys = _ENVIRON_KEYS
        for name, value in request.headers.items():
            key = keys.get(name, "")
            if key == "":
                key = _environ_key(name)
            if key is not None:
                environ[key] = value
        environ["SERVER_NAME"], environ["SERVER_PORT"] = self._server(request, environ)
        channel = request.channel
        if channel.receiving:
            environ["wsgi.input"] = InputStream(channel, asyncio.get_running_loop(), request.body)
        else:
            environ["wsgi.input"] = io.BytesIO(request.body)
        return environ

    @staticmethod
    def _server(request: Request, environ: dict[str, Any]) -> tuple[str, str]:
        """The listening address; for a unix socket, the name the client asked for."""
        try:
            address = request.channel.server_address()
        except (AttributeError, RuntimeError):  # a request built by hand
            address = None
        if isinstance(address, tuple):
            return address[0], str(address[1])
        host = environ.get("HTTP_HOST", "localhost")
        name, _, port = host.rpartition(":") if host.rfind(":") > host.rfind("]") else (host, "", "")
        return name or "localhost", port or ("443" if request.scheme == "https" else "80")

    async def handle(self, request: Request) -> Response | None:
        exchange = _Exchange(self.app, request, self.environ(request))
        self.pool.submit(exchange.run)
        return await exchange.respond()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _Exchange:
    """One request: `run` in the application's thread, `respond` on the loop."""

    __slots__ = ("app", "request", "environ", "loop", "lock", "room", "messages", "waiter",
                 "unsent", "broken", "response", "content_length", "head_posted",
                 "complete", "closes_on_loop")

    def __init__(self, app: Any, request: Request, environ: dict[str, Any]) -> None:
        self.app = app
        self.request = request
        self.environ = environ
        self.loop = asyncio.get_running_loop()
        self.lock = threading.Lock()
        self.room: threading.Condition | None = None  # made when a body streams
        self.messages: deque[Any] = deque()
        self.waiter: asyncio.Future[None] | None = None  # the loop waits for a message
        self.unsent = 0           # bytes handed to the loop and not yet written
        self.broken = False       # the loop stopped taking messages (client gone)
        # The application's thread only:
        self.response: HostedResponse | None = None
        self.content_length: int | None = None
        self.head_posted = False
        self.complete = False     # the whole declared length went out
        self.closes_on_loop = False

    # -- in the application's thread ----------------------------------------------

    def run(self) -> None:
        result = None
        try:
            result = self.app(self.environ, self.start_response)
            self._send_result(result)
        except BaseException as exc:  # noqa: BLE001 - reported to the loop, which logs it
            self._post((FAILED, exc))
        finally:
            if result is not None and not self.closes_on_loop:
                close = getattr(result, "close", None)
                if close is not None:
                    try:
                        close()
                    except Exception:
                        log.exception("Error closing the WSGI response to %s %s",
                                      self.request.method, self.request.path)

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Any:
        if exc_info is not None:
            try:
                if self.head_posted:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.response is not None:
            raise RuntimeError("start_response called a second time without exc_info")
        match = _STATUS.fullmatch(status) if type(status) is str else None
        if match is None:
            raise InvalidResponse(f"invalid WSGI status {status!r}")
        if type(headers) is not list:
            raise InvalidResponse(f"WSGI headers must be a list, not {type(headers).__name__}")
        encoded = []
        for field in headers:
            if type(field) is not tuple or len(field) != 2 or type(field[0]) is not str \
                    or type(field[1]) is not str:
                raise InvalidResponse(f"a WSGI header must be a (str, str) tuple, not {field!r}")
            try:
                encoded.append((field[0].encode("latin-1"), field[1].encode("latin-1")))
            except UnicodeEncodeError:
                raise InvalidResponse(f"WSGI header {field[0]!r} is not latin-1") from None
        fields, self.content_length = encode_fields(encoded)
        self.response = HostedResponse(int(match.group(1)), fields)
        return self._write

    def _write(self, data: bytes) -> None:
        """The legacy `write()` that `start_response` returns."""
        if type(data) is not bytes:
            data = _bytes(data)
        if data:
            self._send_piece(data)

    def _send_result(self, result: Any) -> None:
        if not self.head_posted:
            if type(result) is FileWrapper and self._send_file(result):
                return
            if type(result) is list or type(result) is tuple:
                if len(result) == 1 and type(result[0]) is bytes:
                    body = result[0]
                else:
                    body = b"".join(item if type(item) is bytes else _bytes(item)
                                    for item in result)
                self._post((WHOLE, self._response(), body, self.content_length))
                return
        for piece in result:
            if type(piece) is not bytes:
                piece = _bytes(piece)
            if self.broken:
                return
            if piece:
                self._send_piece(piece)
        if not self.head_posted:
            self._post((WHOLE, self._response(), b"", self.content_length))
        elif not self.complete:
            self._post((END,))

    def _send_piece(self, piece: bytes) -> None:
        if not self.head_posted:
            self.head_posted = True
            response, length = self._response(), self.content_length
            if length is not None and len(piece) == length:
                self.complete = True  # all of it: one message
                self._post((WHOLE, response, piece, length))
            else:
                self.room = threading.Condition(self.lock)
                self._post((START, response, length, piece), len(piece))
        elif self.complete:
            log.error("The WSGI response to %s %s goes on past its Content-Length; "
                      "the rest is dropped", self.request.method, self.request.path)
        else:
            self._post(piece, len(piece))

    def _send_file(self, wrapper: FileWrapper) -> bool:
        """Hand a regular file to the loop for sendfile; False if it is not one."""
        try:
            fd = wrapper.filelike.fileno()
            info = os.fstat(fd)
            offset = wrapper.filelike.tell()
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return False
        if not stat.S_ISREG(info.st_mode):
            return False
        response = self._response()
        length = max(info.st_size - offset, 0)
        if self.content_length is not None:
            length = min(length, self.content_length)
        self.head_posted = self.closes_on_loop = True
        self._post((FILE, response, wrapper, offset, length))
        return True

    def _response(self) -> HostedResponse:
        if self.response is None:
            raise RuntimeError("the WSGI application did not call start_response")
        return self.response

    def _post(self, message: Any, size: int = 0) -> None:
        """Hand a message to the loop; waits while too much is unsent."""
        with self.lock:
            if self.broken:
                if message[0] is FAILED:
                    return
                raise ClientDisconnected("client went away")
            self.messages.append(message)
            self.unsent += size
            waiter, self.waiter = self.waiter, None
            if waiter is not None:
                try:
                    self.loop.call_soon_threadsafe(_wake, waiter)
                except RuntimeError:  # the loop is closed: the worker is gone
                    self.broken = True
            room = self.room
            while room is not None and self.unsent > MAX_UNSENT and not self.broken:
                room.wait()

    # -- on the loop -------------------------------------------------------------

    async def _next(self) -> Any:
        with self.lock:
            if self.messages:
                return self.messages.popleft()
            waiter = self.waiter = self.loop.create_future()
        await waiter
        with self.lock:
            return self.messages.popleft()

    def _written(self, size: int) -> None:
        with self.lock:
            self.unsent -= size
            if self.unsent <= MAX_UNSENT:
                self.room.notify()  # type: ignore[union-attr]

    def _stop(self) -> None:
        """No more messages will be taken: the thread stops producing."""
        with self.lock:
            self.broken = True
            if self.room is not None:
                self.room.notify_all()

    async def respond(self) -> Response | None:
        channel = self.request.channel
        finished = False
        try:
            message = await self._next()
            kind = message[0]
            if kind is WHOLE:
                finished = True
                _, response, body, length = message
                if channel.start_response(response, len(body) if length is None else length) \
                        and body:
                    await channel.send_body(body)
                channel.end_response()
                return None
            if kind is FAILED:
                finished = True
                return self._failed(message[1], head_sent=False)
            if kind is FILE:
                finished = True
                await self._send_file_message(*message[1:])
                return None
            _, response, length, piece = message
            channel.start_response(response, length)
            await channel.send_body(piece)
            self._written(len(piece))
            while True:
                message = await self._next()
                if message.__class__ is bytes:
                    await channel.send_body(message)
                    self._written(len(message))
                elif message[0] is END:
                    finished = True
                    channel.end_response()
                    return None
                else:
                    finished = True
                    return self._failed(message[1], head_sent=True)
        except ClientDisconnected:
            return None
        finally:
            if not finished:
                self._stop()

    async def _send_file_message(self, response: HostedResponse, wrapper: FileWrapper,
                                 offset: int, length: int) -> None:
        channel = self.request.channel
        try:
            if channel.start_response(response, length):
                await channel.send_file(wrapper.filelike, offset, length)
            channel.end_response()
        finally:
            try:
                wrapper.close()
            except Exception:
                log.exception("Error closing the WSGI file of %s %s",
                              self.request.method, self.request.path)

    def _failed(self, exc: BaseException, head_sent: bool) -> Response | None:
        request = self.request
        body_error = getattr(self.environ["wsgi.input"], "error", None)
        if isinstance(exc, ClientDisconnected) or request.channel.closed:
            log.info("WSGI application stopped for %s %s: the client left (%r)",
                     request.method, request.path, exc)
            return None
        if head_sent:
            log.error("Exception in WSGI application after its response to %s %s began; "
                      "dropping the connection", request.method, request.path, exc_info=exc)
            request.channel.abort()
            return None
        if isinstance(body_error, BodyError):
            # The application failed on a body that cannot arrive: its status.
            return Response(f"{body_error.message}\n", body_error.status_code, content_type=TEXT)
        log.error("Exception in WSGI application for %s %s", request.method, request.path,
                  exc_info=exc)
        return Response("Internal Server Error", 500)


def _bytes(item: Any) -> bytes:
    if isinstance(item, (bytearray, memoryview)):
        return bytes(item)
    raise TypeError(f"a WSGI body item must be bytes, not {type(item).__name__}")
