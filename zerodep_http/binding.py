"""Binding listening sockets: TCP (IPv4/IPv6) and unix, before serving.

Binding is separate from serving so that a process can bind once and
serve the same sockets from several places (the supervisor's workers).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat


class BindError(Exception):
    """A listener that cannot be created, with a message for the operator."""


def bind_tcp(host: str, port: int, *, backlog: int = 2048, reuse_address: bool = True,
             reuse_port: bool = False) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BindError(f"cannot resolve {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on {format_address(address)}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


def bind_unix(path: str, *, backlog: int = 2048) -> socket.socket:
    """A unix socket at `path`, mode 0600.

    A stale socket file (nobody accepting on it) is replaced; any other
    file, a live socket or a missing directory is refused.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise BindError(f"cannot listen on unix:{path}: directory {directory} does not exist")
    with contextlib.suppress(FileNotFoundError):
        mode = os.lstat(path).st_mode
        if not stat.S_ISSOCK(mode):
            raise BindError(f"cannot listen on unix:{path}: the path exists and is not a socket")
        if _is_live(path):
            raise BindError(f"cannot listen on unix:{path}: another process is serving it")
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # no window in which the socket is open to others
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on unix:{path}: {exc.strerror}") from None
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.setblocking(False)
    return sock


def remove_unix(path: str) -> None:
    """Remove the file of a unix listener on exit (if it is still a socket)."""
    with contextlib.suppress(OSError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)


def _is_live(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError as exc:
        return exc.errno not in (errno.ECONNREFUSED, errno.ENOENT)
    else:
        return True
    finally:
        probe.close()


def format_address(address: object) -> str:
    """A socket address for logs: `host:port` (IPv6 in brackets, the
    caller adds a scheme) or `unix:PATH`."""
    if isinstance(address, tuple):
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"unix:{address}"
