"""Shared fixtures: a server running in a background thread, and a raw-socket
client that validates every response it reads with h11.

Everything binds port 0 (or a unix socket in a private directory), so the
suite runs under pytest-xdist; every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import h11
import pytest

# Seconds any single wait in the suite may take before the test fails.
WAIT = 10.0

IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT")


def wait_for(predicate, timeout: float = WAIT, interval: float = 0.01, message: str = "condition"):
    """Poll `predicate` until it is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


# -- a server in a background thread ---------------------------------------------


def _unix_accepting(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


class ServerThread:
    """`await app.serve(...)` on its own event loop in a daemon thread.

    Starting blocks until the listener accepts (``app.port`` set, or the unix
    socket answering) or `app.serve` failed, in which case its exception is
    raised here. `stop()` calls the thread-safe ``app.shutdown()`` and joins.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0,
                 start_timeout: float = WAIT, stop_timeout: float = 15.0, **options: Any) -> None:
        self.app = app
        self.host = host
        self.options = options
        self.socket_path: str | None = options.get("socket")
        options.setdefault("graceful_timeout", 5.0)
        self.stop_timeout = stop_timeout
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stopped = False
        app.port = None
        self.thread = threading.Thread(target=self._run, args=(host, port), daemon=True,
                                       name="zerodep-test-server")
        self.thread.start()
        if not self._ready.wait(start_timeout):
            raise AssertionError(f"server did not start within {start_timeout}s")
        if self.error is not None:
            self.thread.join(start_timeout)
            self._stopped = True
            raise self.error

    def _run(self, host: str, port: int) -> None:
        loop = self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)

        async def main() -> None:
            task = asyncio.ensure_future(self.app.serve(host, port, **self.options))
            # The task runs first: its first step binds and listens (or fails),
            # so a file already at a unix path (stale or live) is never mistaken
            # for this server.
            await asyncio.sleep(0)
            while not task.done():
                if self.socket_path is None:
                    if self.app.port is not None:
                        break
                elif _unix_accepting(self.socket_path):
                    break
                await asyncio.sleep(0.005)
            if task.done() and not task.cancelled() and task.exception() is not None:
                self.error = task.exception()  # reported before the waiter wakes
            self._ready.set()
            await task

        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
        finally:
            self._ready.set()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    # -- addresses ------------------------------------------------------------

    @property
    def port(self) -> int:
        return self.app.port

    @property
    def address(self) -> tuple[str, int] | str:
        return self.socket_path if self.socket_path else (self.host, self.port)

    @property
    def url(self) -> str:
        scheme = "https" if self.options.get("ssl_context") else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def client(self, timeout: float = WAIT) -> RawClient:
        return RawClient(self.address, timeout=timeout)

    # -- stopping ---------------------------------------------------------------

    def wait_stopped(self, timeout: float = WAIT) -> bool:
        """True once `serve` returned by itself within `timeout`."""
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.app.shutdown()
        self.thread.join(self.stop_timeout)
        if self.thread.is_alive():
            raise AssertionError(f"server did not stop within {self.stop_timeout}s of shutdown()")
        if self.error is not None:
            raise self.error

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


@pytest.fixture
def serve():
    """``serve(app, **listen_options)`` starts a server and returns it (also a
    context manager); whatever is still running is stopped at teardown."""
    started: list[ServerThread] = []

    def start(app: Any, **options: Any) -> ServerThread:
        server = ServerThread(app, **options)
        started.append(server)
        return server

    yield start
    errors = []
    for server in reversed(started):
        try:
            server.stop()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def short_tmp():
    """A short private directory (unix socket paths are limited to ~107 bytes)."""
    path = tempfile.mkdtemp(prefix="zd-", dir="/tmp")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- a raw-socket client validated by h11 ------------------------------------------


@dataclass
class ParsedResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    informational: list[int] = field(default_factory=list)
    raw: bytes = b""

    def header(self, name: str) -> str | None:
        values = self.header_list(name)
        return ", ".join(values) if values else None

    def header_list(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    def has(self, name: str) -> bool:
        return bool(self.header_list(name))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def closes(self) -> bool:
        value = self.header("connection") or ""
        return "close" in {token.strip().lower() for token in value.split(",")}


def h11_request_bytes(method: str = "GET", target: str = "/", headers: Any = None,
                      body: bytes | None = None, chunks: list[bytes] | None = None,
                      host: str = "test") -> bytes:
    """A well-formed request serialized by h11."""
    conn = h11.Connection(h11.CLIENT)
    fields = _request_fields(headers, host, body, chunks)
    out = conn.send(h11.Request(method=method, target=target, headers=fields))
    if chunks is not None:
        for chunk in chunks:
            out += conn.send(h11.Data(data=chunk))
    elif body:
        out += conn.send(h11.Data(data=body))
    out += conn.send(h11.EndOfMessage())
    return out


def _request_fields(headers: Any, host: str, body: bytes | None,
                    chunks: list[bytes] | None) -> list[tuple[str, str]]:
    fields = list(headers.items() if isinstance(headers, dict) else headers or [])
    names = {name.lower() for name, _ in fields}
    if "host" not in names:
        fields.insert(0, ("host", host))
    if chunks is not None and "transfer-encoding" not in names:
        fields.append(("transfer-encoding", "chunked"))
    elif body is not None and "content-length" not in names and "transfer-encoding" not in names:
        fields.append(("content-length", str(len(body))))
    return fields


class RawClient:
    """One connection. Requests are either serialized by h11 (`request`,
    `send_request`) or raw bytes (`send`); every response is parsed by an
    `h11.Connection(h11.CLIENT)`, so a framing error in the server's output
    fails the test. For raw requests h11 is told an equivalent request
    (`read_response(method=...)`) so that it knows how the response is framed.
    """

    def __init__(self, address: tuple[str, int] | str, timeout: float = WAIT,
                 rcvbuf: int | None = None) -> None:
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.timeout = timeout
        self.conn = h11.Connection(h11.CLIENT)
        self.received = bytearray()   # every byte the server sent
        self.eof = False

    # -- sending ----------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _new_cycle(self) -> None:
        conn = self.conn
        if conn.our_state is h11.IDLE and conn.their_state is h11.IDLE:
            return
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            return
        # HTTP/1.0 or a closing exchange: keep the unparsed bytes, start over.
        data, closed = conn.trailing_data
        self.conn = h11.Connection(h11.CLIENT)
        if data:
            self.conn.receive_data(bytes(data))
        if closed:
            self.conn.receive_data(b"")

    def send_request(self, method: str = "GET", target: str = "/", headers: Any = None,
                     body: bytes | None = None, chunks: list[bytes] | None = None,
                     end: bool = True, host: str = "test") -> None:
        """Send a request through h11 (`end=False` leaves the body unsent)."""
        self._new_cycle()
        fields = _request_fields(headers, host, body, chunks)
        self.send(self.conn.send(h11.Request(method=method, target=target, headers=fields)))
        if not end:
            return
        self.send_body(body=body, chunks=chunks)

    def send_body(self, body: bytes | None = None, chunks: list[bytes] | None = None) -> None:
        out = b""
        for chunk in chunks if chunks is not None else ([body] if body else []):
            out += self.conn.send(h11.Data(data=chunk))
        out += self.conn.send(h11.EndOfMessage())
        self.send(out)

    def request(self, method: str = "GET", target: str = "/", headers: Any = None,
                body: bytes | None = None, chunks: list[bytes] | None = None,
                host: str = "test") -> ParsedResponse:
        self.send_request(method, target, headers, body=body, chunks=chunks, host=host)
        return self.read_response()

    # -- receiving ----------------------------------------------------------------

    def _recv(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("timed out waiting for the server")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise AssertionError(
                f"timed out waiting for the server; received so far: {bytes(self.received)[-300:]!r}"
            ) from None
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
        self.received += data
        return data

    def _pump(self, deadline: float) -> Any:
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                what = "closed the connection mid-message" if self.eof else "sent an invalid message"
                raise AssertionError(
                    f"the server {what} ({exc}); received: {bytes(self.received)[-500:]!r}"
                ) from None
            if event is h11.NEED_DATA:
                self.conn.receive_data(self._recv(deadline))
                continue
            return event

    def read_informational(self, timeout: float | None = None) -> int:
        """The next event must be a 1xx response; its status."""
        deadline = time.monotonic() + (timeout or self.timeout)
        event = self._pump(deadline)
        assert isinstance(event, h11.InformationalResponse), f"expected a 1xx, got {event!r}"
        return event.status_code

    def read_response(self, method: str | None = None, http_version: str = "1.1",
                      timeout: float | None = None) -> ParsedResponse:
        """The next complete response. `method`/`http_version` describe a
        request that was sent raw (with `send`)."""
        if method is not None:
            self._new_cycle()
            # h11 only writes HTTP/1.1; response framing does not depend on
            # the request's version, and "close" stops h11 reusing the cycle.
            fields = [("host", "test")]
            if http_version != "1.1":
                fields.append(("connection", "close"))
            self.conn.send(h11.Request(method=method, target="/", headers=fields))
            self.conn.send(h11.EndOfMessage())
        deadline = time.monotonic() + (timeout or self.timeout)
        start = len(self.received)
        informational: list[int] = []
        response = None
        body = bytearray()
        while True:
            event = self._pump(deadline)
            if isinstance(event, h11.InformationalResponse):
                informational.append(event.status_code)
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise AssertionError(
                    f"connection closed before a complete response; got {bytes(self.received)!r}")
        headers = [(name.decode("latin-1"), value.decode("latin-1"))
                   for name, value in response.headers]
        return ParsedResponse(response.status_code, response.reason.decode("latin-1"),
                              headers, bytes(body), informational, bytes(self.received[start:]))

    def read_until_closed(self, timeout: float | None = None) -> bytes:
        """Bytes until the server closes (fails if it does not in time)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        data, closed = self.conn.trailing_data
        out = bytearray(data)
        if closed or self.eof:
            return bytes(out)
        while True:
            chunk = self._recv(deadline)
            if not chunk:
                return bytes(out)
            out += chunk

    def assert_closed(self, timeout: float | None = None) -> None:
        """The server closes the connection without sending anything more."""
        extra = self.read_until_closed(timeout)
        assert extra == b"", f"unexpected bytes after the last response: {extra[:300]!r}"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


@pytest.fixture
def raw_client():
    """``raw_client(server_or_address, **kw)`` → a `RawClient` closed at teardown."""
    clients: list[RawClient] = []

    def connect(target: Any, **kwargs: Any) -> RawClient:
        address = target.address if isinstance(target, ServerThread) else target
        client = RawClient(address, **kwargs)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


def connection_refused(address: tuple[str, int]) -> bool:
    """True when nothing accepts at `address` any more."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(address)
    except ConnectionRefusedError:
        return True
    except OSError as exc:
        return exc.errno == errno.ECONNREFUSED
    else:
        return False
    finally:
        probe.close()


def make_self_signed_cert(directory: str | os.PathLike[str]) -> tuple[str, str]:
    """(certfile, keyfile) for 127.0.0.1/localhost, made with the openssl CLI;
    skips the test when openssl is missing."""
    import subprocess

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    result = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        capture_output=True, timeout=60)
    if result.returncode != 0:
        pytest.skip(f"openssl could not make a certificate: {result.stderr.decode()[-200:]}")
    return cert, key


# -- shared by the parser tests ---------------------------------------------------


class Head(NamedTuple):
    """A head event (`parser.RequestHead`, a plain tuple) with its fields named."""

    method: str
    target: str
    http_version: str
    headers: dict[str, str]
    content_length: int | None
    keep_alive: bool
    expect_continue: bool


# -- shared by the upload and body tests --------------------------------------------


def open_files_in(directory: Path) -> list[str]:
    """What this process' descriptors point to inside `directory`."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory) + os.sep):
            found.append(target)
    return found


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TMPDIR for this test only; tempfile reads it again."""
    directory = tmp_path / "spool"
    directory.mkdir()
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr(tempfile, "tempdir", None)
    return directory


# -- shared by the ASGI tests -------------------------------------------------------


def jsonable(value):
    """An ASGI scope or message as JSON can carry it: bytes as latin-1 text."""
    if isinstance(value, bytes):
        return {"bytes": value.decode("latin-1")}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value
