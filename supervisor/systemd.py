"""systemd integration without libsystemd: socket activation and sd_notify.

Both are tiny wire protocols: activated sockets arrive as descriptors 3.. with
`LISTEN_FDS`/`LISTEN_PID`/`LISTEN_FDNAMES`, and notifications are datagrams
of `KEY=value` lines sent to the AF_UNIX socket named by `NOTIFY_SOCKET`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import MutableMapping

log = logging.getLogger("zerodep_http.error")

LISTEN_FDS_START = 3


def listen_fds(environ: MutableMapping[str, str]) -> list[tuple[int, str]]:
    """Activated sockets as (fd, name), if they were passed to this process.

    The variables are removed from `environ`, as sd_listen_fds(unset=1)
    does, so that the application's own subprocesses do not see them.
    """
    pid, count = environ.pop("LISTEN_PID", ""), environ.pop("LISTEN_FDS", "")
    names = environ.pop("LISTEN_FDNAMES", "")
    try:
        if int(pid) != os.getpid():
            return []
        count_ = int(count)
    except ValueError:
        return []
    fds = range(LISTEN_FDS_START, LISTEN_FDS_START + max(0, count_))
    labels = names.split(":") if names else []
    return [(fd, labels[i] if i < len(labels) else "unknown") for i, fd in enumerate(fds)]


class Notifier:
    """sd_notify(3): a no-op unless `NOTIFY_SOCKET` is set."""

    def __init__(self, environ: MutableMapping[str, str]) -> None:
        address = environ.pop("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # abstract namespace
            address = "\0" + address[1:]
        self.address = address or None
        self.sock: socket.socket | None = None
        if self.address:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        # WATCHDOG=1 is due every WATCHDOG_USEC; sending at half of it is what
        # sd_watchdog_enabled(3) recommends.
        self.watchdog_interval: float | None = None
        usec, watchdog_pid = environ.pop("WATCHDOG_USEC", ""), environ.pop("WATCHDOG_PID", "")
        if self.sock and usec.isdigit() and int(usec) > 0 and (
                not watchdog_pid or watchdog_pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 1e6 / 2
        self._warned = False

    def send(self, *lines: str) -> None:
        if self.sock is None:
            return
        try:
            self.sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            if not self._warned:  # once: systemd may simply have gone away
                log.warning("Cannot notify systemd at %s: %s", self.address.replace("\0", "@"),
                            exc.strerror)
                self._warned = True

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def reloading(self) -> None:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=Reloading")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=Stopping")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
