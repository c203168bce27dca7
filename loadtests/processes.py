"""Starting and stopping servers, each in a session of its own; free ports;
and what /proc says about a process: its children, its sockets, whether it
is stopped. Shared by the locust runner and the scripts beside it. Linux
only, like the kill9 scenario."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

#: How long `stop` waits for what it killed to be gone, and the leader to be reaped.
REAP_TIMEOUT = 5.0


def free_port() -> int:
    """Let the kernel pick a free port; the tiny race before the server binds is acceptable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pinned(cpus: str | None, command: list[str]) -> list[str]:
    """`command` under `taskset -c cpus`, or unchanged when `cpus` is None."""
    return ["taskset", "-c", cpus, *command] if cpus else command


def start(command: list[str], *, cwd: Path | str, env: dict[str, str] | None = None,
          stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT) -> subprocess.Popen:
    """Start a server (or a load generator) in a session of its own: whatever
    it forks stays in its process group and its session, where `stop` finds
    and signals it, whatever its process model."""
    return subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
                            stderr=stderr, start_new_session=True)


def stop(proc: subprocess.Popen, timeout: float, signum: int | None = signal.SIGTERM, *,
         leader_only: bool = False) -> int | None:
    """Stop what `start` started, and everything it forked, within `timeout`.

    `signum` goes to the whole process group, or with `leader_only` to the
    leader alone (a master whose own drain is being exercised); None sends
    nothing (the caller has signalled already). Then it waits until the
    leader has exited and nothing else is left in its session, SIGKILLs the
    group when the time is up (and waits a little for that to take effect,
    as a killed process dies only when it next runs), and reaps the leader
    last: until then its pid
    holds the group id, so the group cannot be an unrelated process's.
    Returns the leader's exit status, or None when it had to be killed.
    """
    deadline = time.monotonic() + timeout
    exited = True
    if proc.returncode is None:
        if signum is not None and leader_only:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signum)
        elif signum is not None:
            signal_group(proc.pid, signum)
        exited = exited_unreaped(proc.pid, deadline)
    session_ended(proc.pid, deadline)
    signal_group(proc.pid, signal.SIGKILL)
    session_ended(proc.pid, time.monotonic() + REAP_TIMEOUT)   # SIGKILL takes effect when they next run
    try:
        code = proc.wait(REAP_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None
    return code if exited else None


def session_ended(sid: int, deadline: float) -> bool:
    """Wait until nothing of session `sid` is alive (zombies aside); False at `deadline`."""
    while session_processes(sid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def exited_unreaped(pid: int, deadline: float) -> bool:
    """Wait until our child `pid` has exited, without reaping it (a pidfd
    turns readable at exit); False if it still runs at `deadline`."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([pidfd], [], [], max(0.0, deadline - time.monotonic()))
        return bool(ready)
    finally:
        os.close(pidfd)


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def session_processes(sid: int) -> dict[int, int]:
    """Live processes of one session, pid -> parent pid (zombies left out).

    Every server starts in a session of its own, so this is the whole tree a
    server forked, whatever its process model.
    """
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path("/proc", entry.name, "stat").read_text()
        except OSError:
            continue
        state, ppid, _pgrp, session = stat[stat.rindex(")") + 2:].split()[:4]
        if int(session) == sid and state != "Z":
            found[int(entry.name)] = int(ppid)
    return found


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


@contextlib.contextmanager
def running_on(cpus: str | None):
    """Run the calling thread on `cpus` (a taskset-style list such as "1" or
    "0,1") inside the block, where a client of the benchmark should run;
    unchanged when `cpus` is None."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    wanted = {int(cpu) for cpu in cpus.split(",")}
    os.sched_setaffinity(0, wanted)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
