"""Serving an application in this process: `app.run()` and `app.serve()`.

The supervisor serves applications from its worker processes; this is the
single-process way, with its own signal handling and log setup, for
development, tests and small deployments.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
import sys
from collections.abc import Iterable
from typing import Any

from . import defaults
from .exchange import Application
from .lifecycle import StartupFailed
from .binding import BindError, bind_tcp, bind_unix, format_address, remove_unix
from .parser import Limits
from .protocol import ConnectionSettings
from .proxy import IPAllowList
from .server import Server

log = logging.getLogger("zerodep_http.error")


class LocalServer:
    """Serves one application in this process until `shutdown()`.

    `port` is the bound TCP port once listening (the real one when port 0
    was asked for).
    """

    def __init__(self, application: Application) -> None:
        self.application = application
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._force_stop = asyncio.Event()

    async def serve(self, host: str = "127.0.0.1", port: int = 8000, *,
                    ssl_context: ssl.SSLContext | None = None, socket: str | None = None,
                    backlog: int = defaults.BACKLOG, reuse_address: bool = True,
                    reuse_port: bool = False, keep_alive: float = defaults.KEEP_ALIVE,
                    graceful_timeout: float = defaults.GRACEFUL_TIMEOUT,
                    read_timeout: float = defaults.READ_TIMEOUT,
                    limits: Limits = defaults.LIMITS,
                    forwarded_allow_ips: str | Iterable[str] = defaults.FORWARDED_ALLOW_IPS,
                    proxy_protocol: bool = False, root_path: str = "",
                    ws_max_message_size: int = defaults.WS_MAX_MESSAGE_SIZE,
                    ws_ping_interval: float = defaults.WS_PING_INTERVAL,
                    ws_ping_timeout: float = defaults.WS_PING_TIMEOUT) -> None:
        """Serve until `shutdown()`, then drain gracefully.

        `socket` is a unix socket path served instead of host and port.
        `forwarded_allow_ips` (addresses, networks, `*`) are the peers whose
        `Forwarded` / `X-Forwarded-*` headers (and PROXY protocol header,
        with `proxy_protocol`) set `request.client_addr` and `request.scheme`.
        `root_path` is the prefix under which a proxy mounts the app.
        The `ws_*` options are the command line's `--ws-*` settings.
        """
        if isinstance(forwarded_allow_ips, str):
            forwarded_allow_ips = forwarded_allow_ips.split(",")
        settings = ConnectionSettings(
            limits=limits, keep_alive=keep_alive, read_timeout=read_timeout,
            forwarded_allow_ips=IPAllowList.parse(forwarded_allow_ips),
            proxy_protocol=proxy_protocol, root_path=root_path.rstrip("/"),
            ws_max_message_size=ws_max_message_size, ws_ping_interval=ws_ping_interval,
            ws_ping_timeout=ws_ping_timeout)
        if socket is not None:
            sock = bind_unix(socket, backlog=backlog)
        else:
            sock = bind_tcp(host, port, backlog=backlog, reuse_address=reuse_address,
                            reuse_port=reuse_port)
        self._loop = asyncio.get_running_loop()
        self._stop = stop = asyncio.Event()
        self._force_stop = asyncio.Event()
        server = Server(self.application, settings)
        try:
            startup = getattr(self.application, "startup", None)
            if startup is not None:
                await startup()
            await server.start([sock], ssl_context=ssl_context, backlog=backlog)
            address = sock.getsockname()
            if socket is None:
                self.port = address[1]
            scheme = "https" if ssl_context else "http"
            where = format_address(address)
            log.info("Listening at: %s (%d)",
                     where if socket is not None else f"{scheme}://{where}", os.getpid())
            await stop.wait()
            log.info("Shutting down: draining %d connection(s)", len(server.connections))
            give_up = self._loop.time() + graceful_timeout
            await server.shutdown(graceful_timeout, self._force_stop)
            cleanup = getattr(self.application, "cleanup", None)
            if cleanup is not None:
                await cleanup(max(0.0, give_up - self._loop.time()))
        finally:
            sock.close()
            if socket is not None:
                remove_unix(socket)
            self._stop = None

    def shutdown(self) -> None:
        """Ask a running server to stop gracefully; safe from any thread."""
        loop, stop = self._loop, self._stop
        if loop is None or stop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            stop.set()
        else:
            loop.call_soon_threadsafe(stop.set)

    def run(self, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
        """Serve until SIGINT or SIGTERM (a second one stops at once
        instead of draining); exit status 1 if the address cannot be bound."""
        _log_to_stderr()

        async def main() -> None:
            loop = asyncio.get_running_loop()
            signals = (signal.SIGINT, signal.SIGTERM)
            for signum in signals:
                loop.add_signal_handler(signum, self._on_stop_signal)
            try:
                await self.serve(host, port, **options)
            finally:
                # While the loop still runs: closing it shuts its wakeup
                # pipe before it uninstalls these.
                for signum in signals:
                    loop.remove_signal_handler(signum)

        try:
            asyncio.run(main())
        except BindError as exc:
            log.error("%s", exc)
            raise SystemExit(1) from None
        except StartupFailed as exc:
            log.error("Cannot serve: %s", exc)
            raise SystemExit(3) from None

    def _on_stop_signal(self) -> None:
        if self._stop is not None and self._stop.is_set():
            self._force_stop.set()
        self.shutdown()


def _log_to_stderr() -> None:
    """Give `run()` visible logs when the program configured none."""
    root = logging.getLogger()
    if root.handlers or logging.getLogger("zerodep_http").handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s", "%Y-%m-%d %H:%M:%S %z"))
    package_logger = logging.getLogger("zerodep_http")
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.INFO)
