"""Helpers for the supervisor tests: a real `python -m zerodep_http` under test.

Every server binds 127.0.0.1:0 (or a unix socket in tmp_path) and is found
through its `Listening at:` line; waits are for log lines, with bounded
timeouts. Each server runs in its own session, and whatever is left of it
is killed through that process group at the end of the test.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

PYTHON = sys.executable
LISTENING = re.compile(r"Listening at: (\S+) \((\d+)\)")

#: A test app with the routes the supervisor tests need; VERSION is rewritten
#: to check that a reload imports fresh code.
APP_SOURCE = '''
import asyncio, os, subprocess, time
from zerodep_http import App

VERSION = {version!r}
app = App()

@app.get("/version")
async def version(request):
    return VERSION

@app.get("/pid")
async def pid(request):
    return str(os.getpid())

@app.get("/slow")
async def slow(request):
    await asyncio.sleep(float(request.query_params.get("s", ["1"])[0]))
    return "slow done"

@app.get("/block")
async def block(request):
    time.sleep(60)  # blocks the event loop: the master must notice
    return "never"

@app.get("/orphan")
def orphan(request):
    # The shell exits at once; its background sleep is orphaned.
    return subprocess.run(["sh", "-c", "sleep 0.3 >/dev/null & echo $!"],
                          capture_output=True, text=True).stdout.strip()
'''


def write_app(directory: Path, version: str = "v1", name: str = "webapp") -> str:
    """Write the test app; returns its `module:app` spec."""
    (directory / f"{name}.py").write_text(textwrap.dedent(APP_SOURCE.format(version=version)))
    return f"{name}:app"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZERODEP_", "LISTEN_", "NOTIFY_SOCKET", "WATCHDOG_"))
           and k not in ("PORT", "WEB_CONCURRENCY")}
    # Rewritten app files must never be read back from a stale .pyc.
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def children(pid: int) -> list[int]:
    """Pids of the live (non-zombie) children of `pid`, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return sorted(found)


def zombies(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == pid and fields[0] == "Z":
                found.append(int(entry))
    return found


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Server:
    """One supervisor process under test."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None,
                 command: list[str] | None = None, pass_fds: tuple[int, ...] = ()) -> None:
        self.command = command or [PYTHON, "-m", "zerodep_http"]
        self.proc = subprocess.Popen(
            [*self.command, *args], cwd=cwd, env=env or clean_env(),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, pass_fds=pass_fds)
        self.stderr_lines: list[str] = []
        self.stdout_lines: list[str] = []
        self._changed = threading.Condition()
        for stream, lines in ((self.proc.stderr, self.stderr_lines),
                              (self.proc.stdout, self.stdout_lines)):
            threading.Thread(target=self._collect, args=(stream, lines), daemon=True).start()

    def _collect(self, stream, lines: list[str]) -> None:
        for raw in stream:
            with self._changed:
                lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stderr(self) -> str:
        with self._changed:
            return "\n".join(self.stderr_lines)

    def wait_for(self, pattern: str, timeout: float = 10.0, count: int = 1,
                 stream: str = "stderr") -> re.Match:
        """The `count`-th line matching `pattern` (a regex), waiting for it."""
        regex = re.compile(pattern)
        lines = self.stderr_lines if stream == "stderr" else self.stdout_lines
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matches = [m for m in map(regex.search, lines) if m]
                if len(matches) >= count:
                    return matches[count - 1]
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._more_coming()):
                    raise AssertionError(f"no line matching {pattern!r} (x{count}) in {stream}:\n"
                                         + "\n".join(lines[-60:]))
                self._changed.wait(min(left, 0.1))

    def _more_coming(self) -> bool:
        # After exit, give the reader threads a moment to drain the pipes.
        if not hasattr(self, "_exited_at"):
            self._exited_at = time.monotonic()
        return time.monotonic() - self._exited_at < 1.0

    def count(self, pattern: str, stream: str = "stderr") -> int:
        regex = re.compile(pattern)
        with self._changed:
            lines = self.stderr_lines if stream == "stderr" else self.stdout_lines
            return sum(1 for line in lines if regex.search(line))

    def listening(self, timeout: float = 10.0) -> str:
        return self.wait_for(LISTENING.pattern, timeout).group(1)

    @property
    def port(self) -> int:
        return int(self.listening().rsplit(":", 1)[1])

    def ready(self, timeout: float = 15.0) -> Server:
        self.wait_for(r"Serving with \d+ workers?", timeout)
        return self

    def workers(self) -> list[int]:
        return children(self.pid)

    def get(self, path: str, timeout: float = 10.0, headers: dict | None = None
            ) -> tuple[int, str, dict[str, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            body = response.read().decode()
            return response.status, body, {k.lower(): v for k, v in response.getheaders()}
        finally:
            conn.close()

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill_all(self) -> None:
        """Kill what is left of this server: its own process group only."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture
def serve(tmp_path):
    """serve(*args, **kw) starts a server in tmp_path; all are killed at the end."""
    started: list[Server] = []

    def start(*args: str, cwd: Path | None = None, **kwargs) -> Server:
        server = Server(list(args), cwd or tmp_path, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill_all()


class RequestLoop(threading.Thread):
    """GET `path` over and over, on one keep-alive connection (reopened when
    the server says `Connection: close`), counting failures."""

    def __init__(self, port: int, path: str = "/version", keep_alive: bool = True) -> None:
        super().__init__(daemon=True)
        self.port, self.path, self.keep_alive = port, path, keep_alive
        self.bodies: list[str] = []
        self.failures: list[str] = []
        self.running = True

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while self.running:
            try:
                if not self.keep_alive:
                    conn.close()
                conn.request("GET", self.path)
                response = conn.getresponse()
                body = response.read().decode()
                if response.status != 200:
                    self.failures.append(f"status {response.status}: {body!r}")
                else:
                    self.bodies.append(body)
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(f"{time.strftime('%H:%M:%S')}.{int(time.time()*1000)%1000:03d} {exc!r}")
                conn.close()
        conn.close()

    def stop(self) -> None:
        self.running = False
        self.join(15)


class NotifyListener:
    """A stand-in for systemd's notification socket (abstract namespace)."""

    def __init__(self) -> None:
        self.name = f"@zerodep-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.sock.settimeout(0.2)
        self.messages: list[dict[str, str]] = []

    def wait_for(self, key: str, value: str | None = None, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages:
                if key in message and (value is None or message[key] == value):
                    self.messages = self.messages[self.messages.index(message) + 1:]
                    return message
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append(dict(line.split("=", 1) for line in data.decode().splitlines()))
        raise AssertionError(f"no {key}={value} notification; got {self.messages}")

    def close(self) -> None:
        self.sock.close()


def unshare_works() -> bool:
    """Whether this process may start a new PID namespace."""
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
