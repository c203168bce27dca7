"""Many idle keep-alive connections: what each one costs a server in memory.

The client opens `count` connections from this process (asyncio, at most
OPENING_AT_ONCE connecting at a time), sends one `GET /hello` on each and
reads the answer, so that every connection was accepted and served and is
now an idle keep-alive connection the server holds; then it reads the
resident memory of the server's processes, and closes them all. The figure
is (RSS with the connections − RSS before) / connections still open.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

REQUEST = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
OPENING_AT_ONCE = 200
CONNECT_TIMEOUT = 10.0
#: All the connections must be open within this time; the rest count as failed.
OPENING_TIMEOUT = 60.0
#: Time for the server to finish what follows a response (buffers released,
#: the connection parked) before its memory is read; not a synchronisation.
SETTLE_SECONDS = 1.0
CONTENT_LENGTH = re.compile(rb"^content-length:\s*(\d+)", re.IGNORECASE | re.MULTILINE)

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_served(port: int) -> Connection:
    """A connection that has had one request answered, left open."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(REQUEST)
        head = await reader.readuntil(b"\r\n\r\n")
        length = CONTENT_LENGTH.search(head)
        if not head.startswith(b"HTTP/1.1 200") or length is None:
            raise ConnectionError(f"unexpected answer: {head[:80]!r}")
        await reader.readexactly(int(length.group(1)))
    except BaseException:
        writer.close()
        raise
    return reader, writer


async def hold_idle(port: int, count: int, read_rss_kib: Callable[[], int]) -> dict:
    """Open `count` served connections, read the server's memory, close them."""
    before = read_rss_kib()
    gate = asyncio.Semaphore(OPENING_AT_ONCE)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + OPENING_TIMEOUT

    async def one() -> Connection:
        async with gate:
            left = min(CONNECT_TIMEOUT, deadline - loop.time())
            if left <= 0:
                raise TimeoutError("the connections took too long to open")
            return await asyncio.wait_for(open_served(port), left)

    outcomes = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    connections = [c for c in outcomes if not isinstance(c, BaseException)]
    failed = len(outcomes) - len(connections)
    try:
        await asyncio.sleep(SETTLE_SECONDS)
        after = read_rss_kib()
        # A connection the server closed meanwhile has its end of stream queued.
        await asyncio.sleep(0)
        held = sum(1 for reader, _ in connections if not reader.at_eof())
    finally:
        for _, writer in connections:
            writer.close()
    return {"value": (after - before) / held if held else 0.0, "held": held,
            "errors": failed + len(connections) - held,
            "rss_before_mb": before / 1024, "rss_after_mb": after / 1024}


def measure_idle(port: int, count: int, read_rss_kib: Callable[[], int]) -> dict:
    """KiB of server memory per idle keep-alive connection, at `count` connections."""
    return asyncio.run(hold_idle(port, count, read_rss_kib))
