"""Typed values for settings that are more than a number or a string.

They are parsed once, here, so that the supervisor and the engine never
re-parse address syntax and every syntax error is reported at startup.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Literal

from zerodep_http.proxy import IPAllowList

__all__ = ["Bind", "IPAllowList"]

_HOSTNAME_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
# sockaddr_un.sun_path is 108 bytes on Linux, one of them the trailing NUL.
_MAX_UNIX_PATH = 107


@dataclass(frozen=True)
class Bind:
    """One listening address: ``HOST:PORT``, ``[IPv6]:PORT``, ``unix:PATH`` or ``fd://N``."""

    kind: Literal["tcp", "unix", "fd"]
    host: str | None = None
    port: int | None = None
    path: str | None = None
    fd: int | None = None

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        if self.kind == "fd":
            return f"fd://{self.fd}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Bind:
        """Parse one address; `ValueError` says what is wrong with it."""
        if text.startswith("unix:"):
            path = text[len("unix:"):]
            if path.startswith("//"):  # gunicorn also accepts unix://PATH
                path = path[2:]
            if not path or "\0" in path:
                raise ValueError("unix: needs a socket path")
            if len(os.fsencode(path)) > _MAX_UNIX_PATH:
                raise ValueError(f"unix socket path longer than {_MAX_UNIX_PATH} bytes")
            return cls("unix", path=path)
        if text.startswith("fd://"):
            number = text[len("fd://"):]
            if not number.isascii() or not number.isdigit():
                raise ValueError("fd:// needs a file descriptor number")
            return cls("fd", fd=int(number))
        if text.startswith("["):
            host, sep, port = text[1:].partition("]:")
            if not sep:
                raise ValueError("an IPv6 address needs ]:PORT after it")
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise ValueError(f"{host!r} is not an IPv6 address") from None
        else:
            host, sep, port = text.rpartition(":")
            if not sep:
                raise ValueError("missing :PORT")
            if ":" in host:
                raise ValueError("an IPv6 address must be in brackets, e.g. [::1]:8000")
            _check_host(host)
        return cls("tcp", host=host, port=_parse_port(port))


def _check_host(host: str) -> None:
    if not host:
        raise ValueError("missing host")
    labels = host.rstrip(".").split(".")
    if all(label.isascii() and label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv4 address") from None
    elif len(host) > 253 or not all(_HOSTNAME_LABEL.match(label) for label in labels):
        raise ValueError(f"{host!r} is not a host name or IP address")


def _parse_port(port: str) -> int:
    if not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"port {port!r} is not a number from 0 to 65535")
    return int(port)
