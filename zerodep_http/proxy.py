"""What a trusted proxy says about the client: forwarding headers and the
PROXY protocol. No I/O: these functions read headers and bytes."""

from __future__ import annotations

import ipaddress
import re
import socket
import struct
from collections.abc import Container, Iterable
from dataclasses import dataclass

from .parser import BadRequest

Address = tuple[str, int]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class IPAllowList:
    """The peers trusted to set proxy headers: networks, or everyone (``*``)."""

    networks: tuple[IPNetwork, ...] = ()
    allow_all: bool = False

    def __contains__(self, address: object) -> bool:
        """Whether a peer address (text, as from getpeername) is trusted."""
        if self.allow_all:
            return True
        try:
            ip = ipaddress.ip_address(str(address))
        except ValueError:  # unix socket peers and the like
            return False
        # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
        mapped = getattr(ip, "ipv4_mapped", None)
        return any(ip in net or (mapped is not None and mapped in net)
                   for net in self.networks)

    def __str__(self) -> str:
        if self.allow_all:
            return "*"
        return ",".join(
            str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
            for net in self.networks)

    @classmethod
    def parse(cls, items: Iterable[str]) -> IPAllowList:
        """Parse addresses, CIDR networks or ``*``; empty items are skipped."""
        networks = []
        allow_all = False
        for item in (i.strip() for i in items):
            if item == "*":
                allow_all = True
            elif item:
                networks.append(ipaddress.ip_network(item))  # ValueError says why
        return cls(() if allow_all else tuple(networks), allow_all)


_SCHEMES = frozenset({"http", "https", "ws", "wss"})
# RFC 7239 forwarded-pair: token "=" ( token / quoted-string ).
# What a Host header may hold (as the parser checks it), nothing more.
_HOST = re.compile(r"[A-Za-z0-9.\-_~!$&'()*+,;=:\[\]%]+")
_FORWARDED_PAIR = re.compile(r'\s*([!#$%&\'*+\-.^_`|~0-9A-Za-z]+)=("(?:[^"\\]|\\.)*"|[^;,\s]*)\s*')


def forwarded_client(headers: dict[str, str], trusted: Container[str]
                     ) -> tuple[Address | None, str | None]:
    """The client address and scheme that a chain of trusted proxies reports.

    Each proxy appends the address it received the request from, so the
    list is read from the right, skipping proxies we trust: the first
    address that is not trusted is the client. `Forwarded` (RFC 7239) wins
    over `X-Forwarded-For` / `X-Forwarded-Proto` when both are present.
    """
    forwarded = headers.get("forwarded")
    if forwarded is not None:
        elements = [_forwarded_pairs(element) for element in forwarded.split(",")]
        hops = [pairs.get("for", "") for pairs in elements]
        protos = [pairs.get("proto", "") for pairs in elements]
    else:
        hops = headers.get("x-forwarded-for", "").split(",")
        protos = headers.get("x-forwarded-proto", "").split(",")
    client, hop_index = None, len(hops) - 1
    for index in range(len(hops) - 1, -1, -1):
        address = _parse_node(hops[index].strip())
        if address is None:
            break  # an obfuscated or malformed hop: trust nothing beyond it
        client, hop_index = address, index
        if address[0] not in trusted:
            break
    # The scheme the client used is the one reported with its hop, when
    # every hop reported one.
    proto = protos[hop_index] if len(protos) == len(hops) else protos[-1]
    scheme = proto.strip().lower()
    return client, scheme if scheme in _SCHEMES else None


def forwarded_host(headers: dict[str, str]) -> str | None:
    """The host the client asked for, as the nearest trusted proxy reports
    it (`Forwarded: host=`, else `X-Forwarded-Host`); None if it says none
    or something that is not a host."""
    forwarded = headers.get("forwarded")
    if forwarded is not None:
        host = _forwarded_pairs(forwarded.split(",")[-1]).get("host")
    else:
        host = headers.get("x-forwarded-host", "").split(",")[-1].strip(" \t") or None
    if host is None or _HOST.fullmatch(host) is None:
        return None
    return host


def _forwarded_pairs(element: str) -> dict[str, str]:
    pairs = {}
    for pair in element.split(";"):
        match = _FORWARDED_PAIR.fullmatch(pair)
        if match is not None:
            value = match.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            pairs[match.group(1).lower()] = value
    return pairs


def _parse_node(node: str) -> Address | None:
    """`1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]:80` or a bare IPv6 address."""
    host, port = node, 0
    if node.startswith("["):
        host, _, rest = node[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif node.count(":") == 1:
        host, _, port_text = node.partition(":")
        port = int(port_text) if port_text.isdigit() and len(port_text) <= 5 else 0
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        return None


# -- PROXY protocol (HAProxy), versions 1 and 2 -------------------------------

_V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V1_MAX = 107  # the longest v1 line, CRLF included
_V1 = re.compile(rb"PROXY (?:(TCP4|TCP6) ([0-9a-fA-F.:]+) ([0-9a-fA-F.:]+) ([0-9]{1,5}) ([0-9]{1,5})"
                 rb"|UNKNOWN[^\r\n]*)\r\n")


def parse_proxy_header(data: bytes | bytearray) -> tuple[int, Address | None] | None:
    """Parse a PROXY protocol header at the start of `data`.

    Returns (bytes consumed, client address), the address None for a
    health check or an unknown protocol (keep the peer's); None when more
    bytes are needed; raises BadRequest when the header is missing or
    malformed, which closes the connection.
    """
    if data[:12] == _V2_SIGNATURE[:len(data[:12])] and len(data) < 16:
        return None
    if data.startswith(_V2_SIGNATURE):
        return _parse_v2(data)
    if not data.startswith(b"PROXY "[:len(data)]):
        raise BadRequest("expected a PROXY protocol header")
    end = data.find(b"\r\n", 0, _V1_MAX)
    if end == -1:
        if len(data) >= _V1_MAX:
            raise BadRequest("PROXY protocol v1 header too long")
        return None
    match = _V1.fullmatch(data, 0, end + 2)
    if match is None:
        raise BadRequest("malformed PROXY protocol v1 header")
    if match.group(1) is None:
        return end + 2, None
    family = socket.AF_INET if match.group(1) == b"TCP4" else socket.AF_INET6
    try:
        source = socket.inet_pton(family, match.group(2).decode())
        socket.inet_pton(family, match.group(3).decode())
    except OSError:
        raise BadRequest("malformed address in the PROXY protocol v1 header") from None
    port = int(match.group(4))
    if port > 65535 or int(match.group(5)) > 65535:
        raise BadRequest("malformed port in the PROXY protocol v1 header")
    return end + 2, (socket.inet_ntop(family, source), port)


def _parse_v2(data: bytes | bytearray) -> tuple[int, Address | None] | None:
    version_command, family_protocol, length = struct.unpack_from("!BBH", data, 12)
    if version_command >> 4 != 2 or version_command & 0x0F > 1:
        raise BadRequest("unsupported PROXY protocol v2 version or command")
    total = 16 + length
    if len(data) < total:
        return None
    if version_command & 0x0F == 0:  # LOCAL: the proxy's own connection
        return total, None
    family = family_protocol >> 4
    if family == 1 and length >= 12:    # AF_INET: src, dst, sport, dport
        source = socket.inet_ntop(socket.AF_INET, bytes(data[16:20]))
        port = struct.unpack_from("!H", data, 24)[0]
    elif family == 2 and length >= 36:  # AF_INET6
        source = socket.inet_ntop(socket.AF_INET6, bytes(data[16:32]))
        port = struct.unpack_from("!H", data, 48)[0]
    else:                               # UNSPEC or unix: keep the peer
        return total, None
    return total, (source, port)
