"""One large upload per request: throughput and the worker's peak memory.

Uploads `--size` bytes (default 1 GiB) in one request to a multipart route
(one file field and one text field; the framework's form parser, spooled
to temporary files) and to a streaming route (the body read piece by piece),
on zerodep-http and, in the same run, on Flask (`request.files`,
`request.stream`) under gunicorn and Starlette (`request.form()`,
`request.stream()`) under uvicorn. Each upload goes to a freshly started
server with one worker; the client sends from memory (one 1 MiB block
repeated), so it never reads a disk.

Per upload: MB/s (10^6 bytes per second, from the first byte sent to the
last byte of the answer) and how far the upload raised the worker's peak
resident memory: its peak is reset just before (`/proc/PID/clear_refs`,
which needs root or the same user) and read after (`VmHWM`), minus the
resident size just before. The goal for zerodep-http: under 30 MiB on both
routes for 1 GiB.

The peers live in a venv of their own, `loadtests/.venv-uploads` (made on
first use with the Python running this script: flask, gunicorn, starlette,
uvicorn[standard], python-multipart); zerodep-http runs from the project's
`.venv`. Temporary files go to a directory the script makes and removes.

Usage: python loadtests/upload_bench.py [--size BYTES] [--rounds N]
       [--servers zerodep flask starlette] [--routes multipart stream]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run by its path: import through the loadtests package from the
    # repository root, never a sibling script by its bare name.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from loadtests.processes import children_of, free_port, start, stop

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEER_VENV = HERE / ".venv-uploads"
PEER_PACKAGES = ["flask", "gunicorn", "starlette", "uvicorn[standard]", "python-multipart"]
BLOCK = os.urandom(1 << 20)
BOUNDARY = "uploadbench7MA4YWxkTrZu0gW"
MiB = 1 << 20
# Seconds a server may take to start, and an upload to be answered.
START_TIMEOUT = 60.0
UPLOAD_TIMEOUT = 600.0


def ensure_peer_venv() -> Path:
    """The peers' venv, made (or completed) when a package is missing."""
    python = PEER_VENV / "bin" / "python"
    marker = PEER_VENV / "installed.txt"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True, timeout=300)
    if not marker.exists() or marker.read_text().split() != PEER_PACKAGES:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES],
                       check=True, timeout=900)
        marker.write_text(" ".join(PEER_PACKAGES))
    return PEER_VENV / "bin"


#: Servers whose worker is a child of a master (an arbiter); uvicorn
#: without --workers serves in the process it starts.
FORKING = {"zerodep", "flask"}


def server_command(name: str, port: int, peer_bin: Path) -> tuple[list[str], Path]:
    """The command line that serves `name` with one worker, and its cwd."""
    if name == "zerodep":
        python = REPO / ".venv" / "bin" / "python"
        return ([str(python), "-m", "zerodep_http", "loadtests.uploads.zerodep_app:app",
                 "-w", "1", "-b", f"127.0.0.1:{port}", "--timeout", "600",
                 "--log-level", "warning"], REPO)
    if name == "flask":
        return ([str(peer_bin / "gunicorn"), "flask_app:app", "--worker-class", "sync",
                 "--workers", "1", "--bind", f"127.0.0.1:{port}", "--timeout", "600",
                 "--log-level", "warning"], HERE / "uploads")
    if name == "starlette":
        return ([str(peer_bin / "uvicorn"), "starlette_app:app", "--host", "127.0.0.1",
                 "--port", str(port), "--no-access-log", "--log-level", "warning"],
                HERE / "uploads")
    raise ValueError(name)


# -- processes and memory --------------------------------------------------------------


def worker_of(name: str, pid: int) -> int:
    """The process that serves: the one leaf of the tree under `pid`, which
    is `pid` itself only for a server that does not fork one."""
    leaves, todo = [], [pid]
    while todo:
        current = todo.pop()
        below = children_of(current)
        todo.extend(below)
        if not below:
            leaves.append(current)
    if len(leaves) != 1 or (name in FORKING) == (leaves[0] == pid):
        raise RuntimeError(f"expected one worker of {name} under {pid}, found {leaves}")
    return leaves[0]


def status_kib(pid: int, name: str) -> int:
    match = re.search(rf"^{name}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    if match is None:
        raise RuntimeError(f"no {name} for {pid}")
    return int(match.group(1))


def reset_peak(pid: int) -> None:
    """Make VmHWM (the peak resident size) start again from VmRSS."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class Server:
    """One server, started in a session of its own (`processes.start`) and
    ready once it answered a small upload of each kind (which also loads
    what the first request loads); `worker` is the process that served it."""

    def __init__(self, name: str, peer_bin: Path, tmpdir: str) -> None:
        self.name = name
        self.port = free_port()
        command, cwd = server_command(name, self.port, peer_bin)
        self.process = start(command, cwd=cwd, env={**os.environ, "TMPDIR": tmpdir})
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                for route in ROUTE_LABELS:
                    upload(self.port, route, 64 * 1024)
                break
            except OSError:
                # Not listening yet, or (a master) listening before its
                # worker accepts: the connection is refused or reset.
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{name} did not start") from None
                time.sleep(0.1)
        self.worker = worker_of(name, self.process.pid)

    def stop(self) -> None:
        stop(self.process, timeout=10.0)


# -- the client ------------------------------------------------------------------------------


def request_head(route: str, length: int, content_type: str) -> bytes:
    return (f"POST /{route} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode()


def upload(port: int, route: str, size: int) -> tuple[float, dict]:
    """Send `size` bytes (as one file of a form, or as the raw body);
    the seconds from the first byte sent to the answer, and the answer."""
    if route == "multipart":
        before = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n"
                  f"bench\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
                  f"filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        after = f"\r\n--{BOUNDARY}--\r\n".encode()
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
    else:
        before, after, content_type = b"", b"", "application/octet-stream"
    with socket.create_connection(("127.0.0.1", port), timeout=UPLOAD_TIMEOUT) as sock:
        started = time.perf_counter()
        sock.sendall(request_head(route, len(before) + size + len(after), content_type) + before)
        block = memoryview(BLOCK)
        left = size
        while left:
            piece = block[:min(left, len(block))]
            sock.sendall(piece)
            left -= len(piece)
        sock.sendall(after)
        answer = read_answer(sock)
        elapsed = time.perf_counter() - started
    return elapsed, answer


def read_answer(sock: socket.socket) -> dict:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise RuntimeError(f"closed before an answer: {data[:200]!r}")
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    if length is None:  # the answer ends with the connection
        while piece := sock.recv(65536):
            body += piece
    else:
        while len(body) < int(length.group(1)):
            piece = sock.recv(65536)
            if not piece:
                raise RuntimeError("closed in the middle of the answer")
            body += piece
    if status != 200:
        raise RuntimeError(f"status {status}: {body[:200]!r}")
    return json.loads(body)


# -- measuring -----------------------------------------------------------------------------------


@dataclass
class Cell:
    rates: list[float] = field(default_factory=list)     # MB/s per round
    rss_before: list[float] = field(default_factory=list)  # MiB
    peak_rise: list[float] = field(default_factory=list)   # MiB
    errors: list[str] = field(default_factory=list)


def measure(name: str, route: str, size: int, peer_bin: Path, cell: Cell) -> None:
    with tempfile.TemporaryDirectory(prefix="upload-bench-") as tmpdir:
        server = Server(name, peer_bin, tmpdir)
        try:
            reset_peak(server.worker)
            before = status_kib(server.worker, "VmRSS")
            elapsed, answer = upload(server.port, route, size)
            peak = status_kib(server.worker, "VmHWM")
            if answer.get("size") != size:
                raise RuntimeError(f"the handler saw {answer} for {size} bytes")
            cell.rates.append(size / elapsed / 1e6)
            cell.rss_before.append(before / 1024)
            cell.peak_rise.append((peak - before) / 1024)
        except Exception as exc:  # noqa: BLE001 - reported in the table
            cell.errors.append(f"{type(exc).__name__}: {exc}")
            print(f"  {name} {route}: {exc}", file=sys.stderr)
        finally:
            server.stop()


def versions(peer_bin: Path) -> str:
    script = ("import importlib.metadata as m;print(', '.join(f'{p} {m.version(p)}' for p in "
              "['flask', 'werkzeug', 'gunicorn', 'starlette', 'uvicorn', 'python-multipart']))")
    result = subprocess.run([str(peer_bin / "python"), "-c", script], capture_output=True,
                            text=True, timeout=60)
    return result.stdout.strip()


LABELS = {"zerodep": "zerodep-http (1 worker)", "flask": "Flask under gunicorn sync (1 worker)",
          "starlette": "Starlette under uvicorn (1 process)"}
ROUTE_LABELS = {"multipart": "multipart form (file spooled to disk)",
                "stream": "streamed body"}


def table(cells: dict[tuple[str, str], Cell], size: int) -> str:
    lines = [f"| server | route | MB/s (median, min–max) | worker RSS before (MiB) | "
             f"peak RSS rise for {size / MiB:.0f} MiB (MiB, worst) |",
             "|---|---|---|---|---|"]
    for (name, route), cell in cells.items():
        if cell.errors and not cell.rates:
            lines.append(f"| {LABELS[name]} | {ROUTE_LABELS[route]} | failed: "
                         f"{cell.errors[0][:80]} | | |")
            continue
        rate = (f"{statistics.median(cell.rates):.0f} "
                f"({min(cell.rates):.0f}–{max(cell.rates):.0f})")
        lines.append(f"| {LABELS[name]} | {ROUTE_LABELS[route]} | {rate} | "
                     f"{statistics.median(cell.rss_before):.1f} | {max(cell.peak_rise):.1f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1 << 30, help="bytes per upload")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", nargs="+", default=["zerodep", "flask", "starlette"],
                        choices=["zerodep", "flask", "starlette"])
    parser.add_argument("--routes", nargs="+", default=["multipart", "stream"],
                        choices=["multipart", "stream"])
    args = parser.parse_args()
    peer_bin = ensure_peer_venv()
    cells = {(name, route): Cell() for name in args.servers for route in args.routes}
    load = os.getloadavg()
    print(f"# {args.size} bytes per upload, {args.rounds} rounds; {os.cpu_count()} CPUs, "
          f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", file=sys.stderr)
    for round_number in range(args.rounds):
        order = list(cells)
        # Rotate the order each round, so drift on the machine spreads over all.
        shift = round_number % len(order)
        for name, route in order[shift:] + order[:shift]:
            print(f"round {round_number + 1}: {name} {route}", file=sys.stderr)
            measure(name, route, args.size, peer_bin, cells[(name, route)])
    end_load = os.getloadavg()
    print(f"Upload of {args.size / MiB:.0f} MiB in one request, {args.rounds} rounds, one "
          f"fresh server per upload; {os.cpu_count()} CPUs, load average {load[0]:.2f} at "
          f"start and {end_load[0]:.2f} at the end; Python {platform.python_version()}; "
          f"{versions(peer_bin)}.\n")
    print(table(cells, args.size))
    return 1 if any(cell.errors for cell in cells.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
