"""Accepting connections from one listening socket.

Why not `loop.create_server()`: it accepts up to `backlog` connections per
wakeup, so on a socket shared by several worker processes whichever wakes
first takes a whole burst; and the task in which it sets up an accepted
connection fails, resetting the client, if the server is closed a moment
later. Here a `gate` may hold accepting back (so that sibling workers take
the connection), and a connection, once accepted, is set up whatever
happens to the listener.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable

log = logging.getLogger("zerodep_http.error")

#: Connections taken per wakeup: enough to empty a burst quickly, few
#: enough that one wakeup does not starve the connections already served.
BURST = 16
#: How long a gated acceptor waits before it looks at the queue again.
GATE_RETRY = 0.002
#: After accept() failed (out of file descriptors, say).
RETRY_AFTER_ERROR = 0.5


class Acceptor:
    """Reads one listening socket while `resume()`d; `gate()`, if given,
    says whether this process should take the next connection now."""

    def __init__(self, sock: socket.socket, protocol_factory: Callable[[], asyncio.Protocol],
                 *, ssl_context: ssl.SSLContext | None = None,
                 gate: Callable[[], bool] | None = None,
                 on_accept: Callable[[], None] | None = None) -> None:
        self.sock = sock
        self.protocol_factory = protocol_factory
        self.ssl_context = ssl_context
        self.gate = gate
        self.on_accept = on_accept
        self._loop = asyncio.get_running_loop()
        self._reading = False
        self._retry: asyncio.TimerHandle | None = None
        self._setting_up: set[asyncio.Task[object]] = set()

    def resume(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if not self._reading:
            self._loop.add_reader(self.sock.fileno(), self._on_readable)
            self._reading = True

    def retry_now(self) -> None:
        """Look at the queue again at once if a retry is pending."""
        if self._retry is not None:
            self.resume()

    def pause(self, retry_after: float | None = None) -> None:
        if self._reading:
            self._loop.remove_reader(self.sock.fileno())
            self._reading = False
        if retry_after is not None and self._retry is None:
            self._retry = self._loop.call_later(retry_after, self.resume)
        elif retry_after is None and self._retry is not None:
            self._retry.cancel()
            self._retry = None

    @property
    def setting_up(self) -> int:
        """Connections accepted but not yet handed to their protocol."""
        return len(self._setting_up)

    def _on_readable(self) -> None:
        for _ in range(BURST):
            if self.gate is not None and not self.gate():
                self.pause(retry_after=GATE_RETRY)
                return
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # a sibling process took it
            except ConnectionAbortedError:
                continue  # the client gave up while queued
            except OSError as exc:
                # Out of descriptors or memory, or a socket gone wrong:
                # accepting again at once would spin, and an exception here
                # would leave the reader registered and do just that.
                log.error("Cannot accept a connection (%s); retrying in %.1f s",
                          exc.strerror or exc, RETRY_AFTER_ERROR)
                self.pause(retry_after=RETRY_AFTER_ERROR)
                return
            self.set_up(conn)

    def set_up(self, conn: socket.socket) -> None:
        """Hand an accepted connection to a new protocol instance."""
        conn.setblocking(False)
        task = self._loop.create_task(self._set_up(conn))
        self._setting_up.add(task)
        task.add_done_callback(self._setting_up.discard)
        if self.on_accept is not None:
            self.on_accept()

    async def _set_up(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self.protocol_factory, conn,
                                                     ssl=self.ssl_context)
        except (OSError, ssl.SSLError, asyncio.TimeoutError) as exc:
            # A TLS handshake that failed or timed out, a client already gone.
            log.debug("Connection not set up: %r", exc)
            conn.close()

    def close(self, take_queued: bool = True) -> None:
        """Stop accepting and close this process's hold on the socket.

        `take_queued` first accepts what is waiting, gate or not: this may
        be the socket's last holder, and the kernel resets the connections
        still queued on a socket when it closes."""
        if self.sock.fileno() == -1:
            return
        self.pause()
        if take_queued:
            self._take_queued()
        self.sock.close()

    def _take_queued(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except ConnectionAbortedError:
                continue
            except OSError:  # BlockingIOError once the queue is empty
                return
            self.set_up(conn)
