"""SSE fan-out: one event a second to thousands of open streams, and how
long each event takes to reach every one of them.

Every server's `/sse` sends, at each whole second, that second (Unix time)
as the event's data. The client holds `count` streams from this process
(asyncio protocols on raw sockets, at most OPENING_AT_ONCE connecting at a
time), notes when each event arrives on each stream, and counts the events
of `seconds` whole seconds that start after every stream is open. An
event's delivery time is its arrival minus the second it names: the
server's timer, its work for every stream, the network and this client's
read, all on one machine and one clock. Events that have not arrived
GRACE_SECONDS after the last counted second are missed.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections import defaultdict
from collections.abc import Callable

OPENING_AT_ONCE = 200
OPEN_TIMEOUT = 10.0
#: All the streams must be open within this time; the rest count as failed.
OPENING_TIMEOUT = 60.0
GRACE_SECONDS = 3.0


class SseStream(asyncio.Protocol):
    """One stream: sends the request, reads the head, then the events of a
    chunked (or close-delimited) body, each handed to `received(second, arrival)`."""

    def __init__(self, path: str, received: Callable[[int, float], None]) -> None:
        self.path = path
        self.received = received
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.chunked: bool | None = None     # None until the head arrived
        self.chunk_left = 0                  # bytes of the current chunk still to come
        self.skip = 0                        # the CRLF after a chunk
        self.events = b""                    # decoded body not yet split into events
        self.finished = False                # the last chunk arrived
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Accept: text/event-stream\r\n\r\n".encode())

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed before the response head"))

    def data_received(self, data: bytes) -> None:
        arrival = time.time()
        if self.finished:
            return
        self.buffer += data
        if self.chunked is None and not self.read_head():
            return
        if self.chunked:
            self.decode_chunks()
        else:
            self.events += self.buffer
            self.buffer = b""
        while (end := self.events.find(b"\n\n")) != -1:
            event, self.events = self.events[:end], self.events[end + 2:]
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    self.received(int(line[5:]), arrival)

    def read_head(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end == -1:
            return False
        head, self.buffer = self.buffer[:end].decode("latin-1").lower(), self.buffer[end + 4:]
        if not head.startswith("http/1.1 200"):
            self.opened.set_exception(ConnectionError(f"unexpected answer: {head[:80]!r}"))
            self.transport.close()
            return False
        self.chunked = "transfer-encoding: chunked" in head
        self.opened.set_result(None)
        return True

    def decode_chunks(self) -> None:
        while self.buffer:
            if self.skip:
                taken = min(self.skip, len(self.buffer))
                self.buffer, self.skip = self.buffer[taken:], self.skip - taken
            elif self.chunk_left:
                piece = self.buffer[:self.chunk_left]
                self.events += piece
                self.buffer, self.chunk_left = self.buffer[len(piece):], self.chunk_left - len(piece)
                if not self.chunk_left:
                    self.skip = 2
            else:
                line_end = self.buffer.find(b"\r\n")
                if line_end == -1:
                    return
                size = int(self.buffer[:line_end].split(b";")[0], 16)
                self.buffer = self.buffer[line_end + 2:]
                if size == 0:
                    self.finished = True
                    self.transport.close()
                    return
                self.chunk_left = size


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (not empty)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


async def fan_out(port: int, count: int, seconds: int, path: str = "/sse") -> dict:
    loop = asyncio.get_running_loop()
    arrivals: dict[int, list[float]] = defaultdict(list)

    def received(second: int, arrival: float) -> None:
        arrivals[second].append(arrival - second)

    gate = asyncio.Semaphore(OPENING_AT_ONCE)
    deadline = loop.time() + OPENING_TIMEOUT

    def time_left() -> float:
        left = min(OPEN_TIMEOUT, deadline - loop.time())
        if left <= 0:
            raise TimeoutError("the streams took too long to open")
        return left

    async def one() -> SseStream:
        async with gate:
            _, stream = await asyncio.wait_for(
                loop.create_connection(lambda: SseStream(path, received), "127.0.0.1", port), time_left())
            try:
                await asyncio.wait_for(stream.opened, time_left())
            except BaseException:
                stream.transport.close()
                raise
            return stream

    outcomes = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    streams = [s for s in outcomes if not isinstance(s, BaseException)]
    try:
        first = math.floor(time.time()) + 2       # the first second that starts with every stream open
        last = first + seconds - 1
        await asyncio.sleep(last + GRACE_SECONDS - time.time())
        open_at_end = sum(1 for s in streams if not s.closed)
    finally:
        for stream in streams:
            stream.transport.close()
    delays_ms = [delay * 1000 for second in range(first, last + 1) for delay in arrivals.get(second, [])]
    expected = len(streams) * seconds
    if not delays_ms:
        return {"value": math.nan, "p50_ms": math.nan, "p99_ms": math.nan, "max_ms": math.nan,
                "streams": len(streams), "events": 0, "errors": count * seconds}
    return {"value": percentile(delays_ms, 0.99), "p50_ms": statistics.median(delays_ms),
            "p99_ms": percentile(delays_ms, 0.99), "max_ms": max(delays_ms),
            "streams": len(streams), "open_at_end": open_at_end, "events": len(delays_ms),
            "errors": (count - len(streams)) * seconds + max(0, expected - len(delays_ms))}


def measure_fanout(port: int, count: int, seconds: int) -> dict:
    """Delivery times (ms) of `seconds` events to `count` SSE streams."""
    return asyncio.run(fan_out(port, count, seconds))
