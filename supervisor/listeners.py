"""The listeners the master holds: bound once, before any worker exists,
and kept across every generation of workers.

Each `--bind` becomes one `Listener`. Workers inherit the master's sockets
through fork. Two ways of sharing a TCP address are supported:

- shared (default): one socket, accepted from by every worker;
- `--reuse-port`: one SO_REUSEPORT socket per worker *slot*, all bound by the
  master and kept open by it, so the kernel spreads connections evenly and a
  replaced worker's queued connections wait for its successor instead of
  being reset.

Unix sockets and inherited descriptors are always shared.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from dataclasses import dataclass, field

from zerodep_http.binding import BindError, bind_tcp, bind_unix, format_address


@dataclass(eq=False)
class Listener:
    key: str                        # what it was asked as: "127.0.0.1:0", "unix:/x", "fd://3"
    kind: str                       # "tcp", "unix" or "fd"
    sock: socket.socket | None      # the shared socket (None for per-slot TCP)
    host: str | None = None
    port: int | None = None         # the real port once bound
    path: str | None = None         # unix: the file to remove at exit
    backlog: int = 2048
    slots: dict[int, socket.socket] = field(default_factory=dict)  # --reuse-port

    def url(self, scheme: str) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        sock = self.sock or self.slots[0]
        address = sock.getsockname()
        if sock.family == socket.AF_UNIX:
            return f"unix:{address}"
        return f"{scheme}://{format_address(address)}"

    def socket_for(self, slot: int) -> socket.socket:
        if self.sock is not None:
            return self.sock
        sock = self.slots.get(slot)
        if sock is None:
            sock = bind_tcp(self.host, self.port, backlog=self.backlog, reuse_port=True)
            if self.port == 0:
                self.port = sock.getsockname()[1]  # every other slot joins this port
            self.slots[slot] = sock
        return sock

    def sockets(self) -> list[socket.socket]:
        return [self.sock] if self.sock is not None else list(self.slots.values())

    def close(self, remove_file: bool) -> None:
        """Close the master's copies; `remove_file` also removes a unix socket's file."""
        for sock in self.sockets():
            sock.close()
        self.slots.clear()
        if remove_file and self.kind == "unix" and self.path:
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(os.lstat(self.path).st_mode):
                    os.unlink(self.path)


class Listeners:
    """Every listener of one configuration."""

    def __init__(self, listeners: list[Listener], scheme: str) -> None:
        self.listeners = listeners
        self.scheme = scheme

    @classmethod
    def open(cls, config, activated: list[tuple[int, str]], *, reuse_port: bool,
             previous: Listeners | None = None) -> Listeners:
        """Bind what `config.bind` asks for, reusing `previous` listeners for
        addresses that did not change (a second bind would fail) and the
        systemd-activated sockets. Raises BindError; closes what it opened."""
        reuse = {l.key: l for l in previous.listeners} if previous else {}
        wanted: list[Listener] = []
        opened: list[Listener] = []
        activated_keys = {f"fd://{fd}" for fd, _ in activated}
        try:
            for fd, _ in activated:
                key = f"fd://{fd}"
                wanted.append(reuse.get(key) or cls._adopt(key, fd, opened))
            # With socket activation, only explicitly asked binds are added.
            binds = [] if activated and config.source("bind") == "default" else config.bind
            for bind in binds:
                key = str(bind)
                if key in activated_keys:  # fd://N naming an activated socket: the same one
                    continue
                if key in reuse:
                    wanted.append(reuse[key])
                    continue
                if bind.kind == "fd":
                    listener = cls._adopt(key, bind.fd, opened)
                elif bind.kind == "unix":
                    listener = Listener(key, "unix", bind_unix(bind.path, backlog=config.backlog),
                                        path=bind.path)
                    opened.append(listener)
                elif reuse_port:
                    listener = Listener(key, "tcp", None, host=bind.host, port=bind.port,
                                        backlog=config.backlog)
                    opened.append(listener)
                    listener.socket_for(0)  # resolves port 0, reports errors now
                else:
                    listener = Listener(key, "tcp", bind_tcp(bind.host, bind.port,
                                                             backlog=config.backlog))
                    opened.append(listener)
                wanted.append(listener)
        except BaseException:
            for listener in opened:
                listener.close(remove_file=True)
            raise
        return cls(wanted, "https" if config.certfile else "http")

    @staticmethod
    def _adopt(key: str, fd: int, opened: list[Listener]) -> Listener:
        """An inherited or socket-activated descriptor."""
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            raise BindError(f"cannot listen on {key}: {exc.strerror}") from None
        if sock.type != socket.SOCK_STREAM or not sock.getsockopt(
                socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            sock.detach()
            raise BindError(f"cannot listen on {key}: not a listening stream socket")
        sock.setblocking(False)
        listener = Listener(key, "fd", sock)
        opened.append(listener)
        return listener

    def sockets_for(self, slot: int) -> list[socket.socket]:
        """What the worker in `slot` serves."""
        return [listener.socket_for(slot) for listener in self.listeners]

    def shared_sockets(self) -> list[socket.socket]:
        """The sockets every worker accepts from (not the per-slot ones)."""
        return [listener.sock for listener in self.listeners if listener.sock is not None]

    def has_slot_sockets(self) -> bool:
        """Whether some listener gives each worker slot a socket of its own
        (--reuse-port): only a worker in the same slot can take over its queue."""
        return any(listener.sock is None for listener in self.listeners)

    def all_sockets(self) -> list[socket.socket]:
        return [sock for listener in self.listeners for sock in listener.sockets()]

    def urls(self) -> list[str]:
        return [listener.url(self.scheme) for listener in self.listeners]

    def keep_slots(self, slots: set[int]) -> None:
        """Close per-slot sockets no worker will serve any more: nobody would
        accept what the kernel queues on them."""
        for listener in self.listeners:
            for slot in [s for s in listener.slots if s not in slots and s != 0]:
                listener.slots.pop(slot).close()

    def close_except(self, keep: Listeners | None, remove_files: bool) -> None:
        kept = set(map(id, keep.listeners)) if keep else set()
        for listener in self.listeners:
            if id(listener) not in kept:
                listener.close(remove_files)
