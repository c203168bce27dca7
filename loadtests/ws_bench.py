"""WebSocket benchmark: zerodep-http against uvicorn + Starlette and the
websockets library's own server, in one run; and the same Starlette app
served by zerodep-http as an ASGI application (`zerodep-asgi`).

    python loadtests/ws_bench.py                      # everything, about 5 minutes
    python loadtests/ws_bench.py --duration 3 --idle 1000 --servers zerodep uvicorn

Rows, for every server, each on a fresh start of it:

- **echo**: 64 connections each send a 64-byte text message and wait for
  its echo before sending the next; messages echoed per second, and the
  p99 round trip.
- **broadcast**: one publisher's 64-byte message goes to 1,000 subscribers
  (the app sends it to each in turn); the publisher sends the next once
  every subscriber got the last. Deliveries per second, and the p99 of the
  time from the publisher's send to a subscriber's receipt.
- **idle**: 10,000 WebSockets opened and left idle; the worker's resident
  memory after, minus before, per connection.

The server's process tree is pinned to CPU 0 (`taskset -c 0`), one
worker; the load driver runs on CPU 1. The driver is `ws_driver.c`
(epoll, prebuilt masked frames; compiled with `cc` on first use), so that
it is never what limits a Python server: its ceiling is the `trivial` row,
a server that answers each frame with canned bytes without parsing
anything. The idle connections are opened by this script itself. The
peers live in their own venv, `loadtests/.venv-ws` (built on the first run:
uvicorn[standard], starlette, websockets, uvloop, and this project), so
that the project's `.venv` stays stdlib-only. No client offers
permessage-deflate: every server sends plain frames.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv-ws"
DRIVER = VENV / "ws_driver"
REQUIREMENTS = ["uvicorn[standard]", "starlette", "websockets", "uvloop"]
VERSIONS = ["uvicorn", "starlette", "websockets", "uvloop", "httptools"]
RESULTS = HERE / "results"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MASK = b"\x12\x34\x56\x78"
SERVER_CPU, DRIVER_CPU = "0", "1"
BASELINE = "uvicorn"


def handshake(path: str, key: bytes) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode()


# -- the idle driver (the others are ws_driver.c) ------------------------------------


def open_websockets(port: int, path: str, count: int, batch: int = 64) -> list[socket.socket]:
    """`count` open WebSockets, handshakes at most `batch` at a time: a
    listen queue that overflows (asyncio's default backlog is 100) costs a
    second or more per dropped SYN."""
    opened: list[socket.socket] = []
    selector = selectors.DefaultSelector()
    deadline = time.monotonic() + 120
    while len(opened) < count:
        pending: dict[socket.socket, bytes] = {}
        for _ in range(min(batch, count - len(opened))):
            sock = socket.create_connection(("127.0.0.1", port), timeout=60)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(handshake(path, base64.b64encode(os.urandom(16))))
            sock.setblocking(False)
            pending[sock] = b""
            selector.register(sock, selectors.EVENT_READ)
        while pending:
            if time.monotonic() > deadline:
                raise SystemExit(f"handshakes to {path} did not complete in time")
            for key, _ in selector.select(timeout=5):
                sock = key.fileobj
                data = sock.recv(4096)
                if not data:
                    raise SystemExit(f"the server closed a handshake to {path}")
                pending[sock] += data
                if b"\r\n\r\n" in pending[sock]:
                    head, _, rest = pending.pop(sock).partition(b"\r\n\r\n")
                    if not head.startswith(b"HTTP/1.1 101"):
                        raise SystemExit(f"handshake refused: {head[:200]!r}")
                    if rest:
                        raise SystemExit("the server spoke before the client")
                    selector.unregister(sock)
                    opened.append(sock)
    selector.close()
    return opened


def hold_idle(port: int, connections: int) -> None:
    """Open the connections, say so, hold them until stdin closes."""
    socks = open_websockets(port, "/echo", connections)
    print(json.dumps({"open": len(socks)}), flush=True)
    sys.stdin.read()
    for sock in socks:
        sock.close()


# -- the trivial server: the driver's ceiling ------------------------------------------


def trivial_server(port: int, size: int) -> None:
    """Answers the handshake and every client frame of a `size`-byte
    message with canned bytes (the driver's echo, or a fan-out to every
    subscriber); parses nothing else."""
    import asyncio
    try:
        import uvloop
        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = asyncio.new_event_loop
    subscribers: set = set()
    header = bytes([0x81, size])
    echo_frame = header + b"m" * size  # ws_driver.c's message

    class Trivial(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.head, self.role, self.pending = transport, b"", None, 0

        def data_received(self, data):
            if self.role is None:
                self.head += data
                if b"\r\n\r\n" not in self.head:
                    return
                key = self.head.split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]
                accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
                self.role = self.head.split(b" ")[1].decode()
                self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept
                                     + b"\r\n\r\n")
                if self.role == "/subscribe":
                    subscribers.add(self.transport)
                return
            self.pending += len(data)
            frames, self.pending = divmod(self.pending, 6 + size)
            if self.role == "/echo":
                self.transport.write(echo_frame * frames)
            elif self.role == "/publish" and frames:
                # The driver publishes one frame at a time: this is it.
                masked = zip(data[-size:], MASK * (size // 4 + 1))
                frame = header + bytes(a ^ b for a, b in masked)
                for subscriber in subscribers:
                    subscriber.write(frame)

        def connection_lost(self, exc):
            subscribers.discard(self.transport)

    async def main():
        server = await asyncio.get_running_loop().create_server(Trivial, "127.0.0.1", port,
                                                                 backlog=2048)
        async with server:
            await server.serve_forever()

    loop = loop_factory()
    loop.run_until_complete(main())




# -- the servers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    name: str
    label: str
    rows: tuple[str, ...] = ("echo", "broadcast", "idle")

    def command(self, port: int, args: argparse.Namespace) -> list[str]:
        python, peer = args.python, str(VENV / "bin" / "python")
        if self.name == "trivial":
            return [peer, str(Path(__file__)), "--trivial-server", str(port),
                    "--size", str(args.size)]
        if self.name in ("zerodep", "zerodep-uvloop"):
            interpreter = python if self.name == "zerodep" else peer
            loop = "asyncio" if self.name == "zerodep" else "uvloop"
            return [interpreter, "-m", "zerodep_http", "loadtests.apps.wsapp:app", "-w", "1",
                    "-b", f"127.0.0.1:{port}", "--loop", loop, "--log-level", "warning"]
        if self.name in ("zerodep-asgi", "zerodep-asgi-uvloop"):
            interpreter = python if self.name == "zerodep-asgi" else peer
            loop = "asyncio" if self.name == "zerodep-asgi" else "uvloop"
            return [interpreter, "-m", "zerodep_http", "loadtests.peers.starlette_ws_app:app",
                    "--interface", "asgi", "-w", "1", "-b", f"127.0.0.1:{port}",
                    "--loop", loop, "--log-level", "warning"]
        if self.name == "uvicorn":
            return [peer, "-m", "uvicorn", "starlette_ws_app:app", "--host", "127.0.0.1",
                    "--port", str(port), "--loop", "uvloop", "--http", "httptools",
                    "--no-access-log", "--log-level", "warning"]
        if self.name == "websockets":
            return [peer, "websockets_ws_app.py", str(port)]
        raise ValueError(self.name)

    @property
    def cwd(self) -> Path:
        return REPO if self.name.startswith("zerodep") else HERE / "peers"


SERVERS = {server.name: server for server in (
    Server("trivial", "trivial server (canned bytes, the driver's ceiling)", ("echo", "broadcast")),
    Server("zerodep", "zerodep-http (asyncio)"),
    Server("zerodep-uvloop", "zerodep-http + uvloop"),
    Server("zerodep-asgi", "zerodep-http + Starlette (asyncio, ASGI)"),
    Server("zerodep-asgi-uvloop", "zerodep-http + Starlette (uvloop, ASGI)"),
    Server("uvicorn", "uvicorn + Starlette (uvloop, httptools)"),
    Server("websockets", "websockets' own server (asyncio)"),
)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pinned(cpu: str, command: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *command] if shutil.which("taskset") else command


def worker_pid(pid: int) -> int:
    """The process that serves: zerodep's single worker (the master's
    child), else the process itself."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        kids = children.read_text().split()
    except OSError:
        kids = []
    return int(kids[0]) if kids else pid


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class Running:
    """One server process tree, pinned, in a process group of its own."""

    def __init__(self, server: Server, args: argparse.Namespace) -> None:
        self.port = free_port()
        # A file, not a pipe nobody reads: a server that logs much (the
        # websockets library, on every connection dropped without a close
        # frame) would block on a full pipe.
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(pinned(SERVER_CPU, server.command(self.port, args)),
                                     cwd=server.cwd, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    self.log.seek(0)
                    raise SystemExit(f"{server.name} did not start: "
                                     f"{self.log.read().decode()[-2000:]}") from None
                time.sleep(0.1)
        time.sleep(0.5)  # zerodep's worker comes up after its master listens
        self.worker = worker_pid(self.proc.pid)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        except ProcessLookupError:
            pass
        self.log.close()


def run_driver(mode: str, port: int, count: int, args: argparse.Namespace) -> dict:
    result = subprocess.run(
        pinned(DRIVER_CPU, [str(DRIVER), mode, str(port), str(count), str(args.size),
                            str(args.warmup), str(args.duration)]),
        capture_output=True, text=True, timeout=args.warmup + args.duration + 180)
    if result.returncode != 0:
        return {"error": (result.stderr or result.stdout)[-500:]}
    return json.loads(result.stdout)


def measure_idle(running: Running, python: str, connections: int) -> dict:
    warm = subprocess.Popen(pinned(DRIVER_CPU, [python, str(Path(__file__)), "--hold-idle",
                                                "--port", str(running.port), "--connections", "50"]),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    warm.stdout.readline()
    warm.communicate("", timeout=30)
    time.sleep(1)
    before = rss_kib(running.worker)
    holder = subprocess.Popen(pinned(DRIVER_CPU, [python, str(Path(__file__)), "--hold-idle",
                                                  "--port", str(running.port),
                                                  "--connections", str(connections)]),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline()
        if not line:
            return {"error": holder.communicate("", timeout=60)[1][-500:]}
        opened = json.loads(line)["open"]
        time.sleep(2)  # let the handlers settle into their first receive
        after = rss_kib(running.worker)
    finally:
        holder.communicate("", timeout=60)
    return {"connections": opened, "rss_before_kib": before, "rss_after_kib": after,
            "kib_per_connection": (after - before) / opened}


# -- the run ---------------------------------------------------------------------------


def ensure_driver() -> None:
    """Compile ws_driver.c when it is newer than the binary."""
    source = HERE / "ws_driver.c"
    if DRIVER.exists() and DRIVER.stat().st_mtime >= source.stat().st_mtime:
        return
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise SystemExit("the load driver needs a C compiler (apt-get install gcc)")
    subprocess.run([compiler, "-O2", "-Wall", "-o", str(DRIVER), str(source)], check=True)


def ensure_venv() -> None:
    marker = VENV / "installed.json"
    if marker.exists() and json.loads(marker.read_text()) == REQUIREMENTS:
        return
    if not (VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", *REQUIREMENTS,
                    "-e", str(REPO)], check=True)
    marker.write_text(json.dumps(REQUIREMENTS))


def versions() -> dict[str, str]:
    code = ("import importlib.metadata as m, json, sys; "
            f"print(json.dumps({{n: m.version(n) for n in {VERSIONS!r}}}))")
    out = subprocess.run([str(VENV / "bin" / "python"), "-c", code], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def table(results: dict, servers: list[str]) -> str:
    def cell(value: float | None, digits: int = 0) -> str:
        return "n/a" if value is None else f"{value:,.{digits}f}"

    base = results.get(BASELINE, {})
    lines = ["| server | echo msg/s | vs uvicorn | echo p99 ms | broadcast deliveries/s | "
             "vs uvicorn | broadcast p99 ms | idle KiB/conn |",
             "|---|---|---|---|---|---|---|---|"]
    for name in servers:
        row = results[name]
        echo, fan, idle = row.get("echo", {}), row.get("broadcast", {}), row.get("idle", {})
        ratio = (f"{echo['messages_per_s'] / base['echo']['messages_per_s']:.2f}x"
                 if echo.get("messages_per_s") and base.get("echo", {}).get("messages_per_s")
                 else "")
        fan_ratio = (f"{fan['deliveries_per_s'] / base['broadcast']['deliveries_per_s']:.2f}x"
                     if fan.get("deliveries_per_s")
                     and base.get("broadcast", {}).get("deliveries_per_s") else "")
        lines.append(
            f"| {SERVERS[name].label} | {cell(echo.get('messages_per_s'))} | {ratio} | "
            f"{cell(echo.get('p99_ms'), 2)} | {cell(fan.get('deliveries_per_s'))} | {fan_ratio} | "
            f"{cell(fan.get('p99_ms'), 1)} | {cell(idle.get('kib_per_connection'), 1)} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", nargs="+", choices=list(SERVERS), default=list(SERVERS))
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per row")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--connections", type=int, default=64, help="echo connections")
    parser.add_argument("--size", type=int, default=64, help="message size in bytes (16-125)")
    parser.add_argument("--subscribers", type=int, default=1000, help="broadcast fan-out")
    parser.add_argument("--idle", type=int, default=10_000, help="idle WebSockets held")
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"),
                        help="interpreter that runs zerodep-http and the driver")
    parser.add_argument("--hold-idle", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trivial-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    raise_fd_limit(max(args.idle, args.subscribers) + 1024)

    if args.trivial_server:
        trivial_server(args.trivial_server, args.size)
        return 0
    if args.hold_idle:
        hold_idle(args.port, args.connections)
        return 0

    if not 16 <= args.size <= 125:
        parser.error("--size must be 16 to 125 bytes")
    if len(os.sched_getaffinity(0)) < 2:
        print("warning: fewer than 2 CPUs: server and driver share one", file=sys.stderr)
    ensure_venv()
    ensure_driver()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    header = {"started": started, "load_average": os.getloadavg(), "cpus": os.cpu_count(),
              "python": platform.python_version(), "peers": versions(),
              "command": " ".join(sys.argv), "duration": args.duration}
    print(f"# WebSocket benchmark, {started}; load average at start "
          f"{header['load_average'][0]:.2f} on {header['cpus']} CPUs", flush=True)
    results: dict = {}
    for name in args.servers:
        server = SERVERS[name]
        results[name] = {}
        for row in server.rows:
            running = Running(server, args)
            try:
                if row == "echo":
                    outcome = run_driver("echo", running.port, args.connections, args)
                elif row == "broadcast":
                    outcome = run_driver("broadcast", running.port, args.subscribers, args)
                else:
                    outcome = measure_idle(running, args.python, args.idle)
            finally:
                running.stop()
            results[name][row] = outcome
            print(f"{name} {row}: {json.dumps(outcome)}", flush=True)
    print()
    print(table(results, args.servers))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"ws-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"header": header, "results": results}, indent=2))
    print(f"\nraw results: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
