"""The streams of a WSGI environ (PEP 3333): `wsgi.input` for a body
still arriving, `wsgi.errors`, and `wsgi.file_wrapper`.

A body that came whole with the head is an `io.BytesIO`; only a body still
on its way needs `InputStream`, which reads it from the connection on the
event loop while the application's thread waits.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

from .exchange import Channel

log = logging.getLogger("zerodep_http.error")


class InputStream:
    """`wsgi.input` for a body still arriving: each read takes what it
    needs from the connection (`channel.receive()`, run on the loop), so
    the client is read only as fast as the application reads: backpressure.

    Once the body cannot arrive, `error` holds why (a `BodyError` with its
    status, or `ClientDisconnected`) and reads raise it.
    """

    def __init__(self, channel: Channel, loop: asyncio.AbstractEventLoop, first: bytes = b"") -> None:
        self._channel = channel
        self._loop = loop
        self._buffer = bytearray(first)
        self._eof = False
        self.error: Exception | None = None

    def _fill(self) -> bool:
        """One more piece of the body into the buffer; False at its end."""
        if self._eof:
            return False
        if self.error is not None:
            raise self.error
        try:
            piece = asyncio.run_coroutine_threadsafe(self._channel.receive(), self._loop).result()
        except Exception as exc:
            self.error = exc
            raise
        if not piece:
            self._eof = True
            return False
        self._buffer += piece
        return True

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            return self._take(len(self._buffer))
        while len(self._buffer) < size and self._fill():
            pass
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        scanned = 0
        while True:
            newline = self._buffer.find(b"\n", scanned)
            if newline != -1:
                end = newline + 1
                break
            scanned = len(self._buffer)
            if 0 <= limit <= scanned or not self._fill():
                end = len(self._buffer)
                break
        if 0 <= limit < end:
            end = limit
        return self._take(end)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class ErrorStream:
    """`wsgi.errors`: what the application writes goes to the error log,
    a line at a time (one stream for all the threads, hence the lock)."""

    def __init__(self) -> None:
        self._partial = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
        for line in lines:
            if line:
                log.error("%s", line)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        with self._lock:
            partial, self._partial = self._partial, ""
        if partial:
            log.error("%s", partial)


class FileWrapper:
    """`wsgi.file_wrapper`: returned by the application, a regular file is
    sent with `sendfile` from its current position; anything else is
    read in blocks, as PEP 3333's iteration fallback."""

    def __init__(self, filelike: Any, block_size: int = 8192) -> None:
        self.filelike = filelike
        self.block_size = block_size

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        while block := read(self.block_size):
            yield block

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()
