"""Process groups, free ports, and what /proc says about a process: its
children, its sockets, whether it is stopped. Shared by the locust runner
and the scripts beside it. Linux only, like the kill9 scenario."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time


def free_port() -> int:
    """Let the kernel pick a free port; the tiny race before the server binds is acceptable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def stop_group(proc: subprocess.Popen, first: int, timeout: float) -> None:
    """`first` to the group led by `proc`; SIGKILL to the group if `proc` is
    still there after `timeout`; then reap. Also kills leftover members."""
    if proc.poll() is None:
        signal_group(proc.pid, first)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    signal_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def children_of(pid: int) -> list[int]:
    """The child processes of `pid` (from /proc)."""
    path = f"/proc/{pid}/task/{pid}/children"
    try:
        with open(path) as file:
            return [int(p) for p in file.read().split()]
    except OSError:
        pass
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                stat = file.read()
        except OSError:
            continue
        # The fields after the command name (which may hold spaces and parentheses).
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def socket_inodes(pid: int, protocols: tuple[bytes, ...] | None = None) -> set[int]:
    """The inodes of the sockets `pid` has open; only TCP ones with
    protocols=(b"TCP", b"TCPv6"), told apart by sockfs's
    system.sockprotoname attribute (cheap: no scan of /proc/net/tcp, which
    holds every socket of the machine, TIME_WAIT ones included)."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        path = os.path.join(fd_dir, fd)
        with contextlib.suppress(OSError):
            target = os.readlink(path)
            if not target.startswith("socket:["):
                continue
            if protocols is not None and os.getxattr(path, "system.sockprotoname").rstrip(b"\0") \
                    not in protocols:
                continue
            inodes.add(int(target[8:-1]))
    return inodes


def held_connections(pid: int, listeners: set[int]) -> int:
    """How many TCP connections the worker `pid` holds: its TCP sockets that
    are not `listeners` (the master's sockets: the master holds every
    listening socket and never a connection)."""
    return len(socket_inodes(pid, (b"TCP", b"TCPv6")) - listeners)


def wait_stopped(pid: int, timeout: float = 1.0) -> bool:
    """Wait until `pid` is in the stopped state (after SIGSTOP, which takes
    effect when the process next leaves the kernel)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as file:
                stat = file.read()
        except OSError:
            return False
        if stat[stat.rfind(")") + 2] in "Tt":
            return True
        time.sleep(0.0005)
    return False
