"""The zerodep-http master under test, in a process group of its own,
followed through its log: the runner learns the port, readiness, workers
and reloads from what the master says, not by polling."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import ROOT, RunError
from ..processes import children_of, pinned, start, stop

#: How long the server may take to serve, and to stop after TERM beyond its
#: own graceful timeout.
READY_TIMEOUT = 30.0
STOP_MARGIN = 10.0

LISTENING = re.compile(r"Listening at: http://([0-9.]+):([0-9]+) \(([0-9]+)\)")
SERVING_ALL = re.compile(r"Serving with ([0-9]+) workers?")
WORKER_SERVING = re.compile(r"Worker ([0-9]+) serving \(generation ([0-9]+)\)")
WORKER_GONE = re.compile(r"Worker ([0-9]+) (?:of .* )?(was killed by (\w+)|exited with status (-?[0-9]+))")
RELOAD_DONE = re.compile(r"Reload complete: generation ([0-9]+)")
RELOAD_FAILED = re.compile(r"Reload failed")
LEVEL = re.compile(r"\] \[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] ")


@dataclass
class ServerLog:
    """What the master's log has said so far (filled by a reader thread)."""

    port: int | None = None
    ready: bool = False
    serving: set[int] = field(default_factory=set)        # worker pids serving now
    ever_served: int = 0
    gone: dict[int, str] = field(default_factory=dict)    # pid -> how it ended
    reloads_done: int = 0
    reloads_failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)       # ERROR/CRITICAL lines, tracebacks
    warnings: list[str] = field(default_factory=list)
    lines: int = 0


class Server:
    """The zerodep-http master (and its workers), in a process group of its own."""

    def __init__(self, app: str, workers: int, extra: list[str], static_dir: str, log_path: Path,
                 verbose: bool, python: str = sys.executable, cpus: str | None = None) -> None:
        self.workers = workers
        self.command = pinned(cpus, [python, "-m", "zerodep_http", app, "-b", "127.0.0.1:0",
                                     "-w", str(workers), "--error-logfile", "-",
                                     "--log-level", "info", *extra])
        env = dict(os.environ)   # run from ROOT, `python -m` finds loadtests.apps
        env["LOADTEST_STATIC_DIR"] = static_dir
        env["PYTHONUNBUFFERED"] = "1"
        self.env = env
        self.log_path = log_path
        self.verbose = verbose
        self.log = ServerLog()
        self.changed = threading.Condition()
        self.proc: subprocess.Popen | None = None
        self.exit_code: int | None = None
        self.stop_seconds: float | None = None   # TERM -> exit
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.log.port}"

    def start(self) -> None:
        self.proc = start(self.command, cwd=ROOT, env=self.env, stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read, name="server-log", daemon=True)
        self._reader.start()
        if not self.wait_for(lambda log: log.ready, READY_TIMEOUT):
            code = self.proc.poll()
            raise RunError(f"the server did not serve within {READY_TIMEOUT:.0f} s"
                           + (f" (it exited with status {code})" if code is not None else "")
                           + f"; see {self.log_path}")

    def _read(self) -> None:
        in_traceback = False
        with open(self.log_path, "w", encoding="utf-8", errors="replace") as out:
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                out.write(line + "\n")
                out.flush()
                if self.verbose:
                    print(f"[server] {line}", file=sys.stderr)
                with self.changed:
                    in_traceback = self._parse(line, in_traceback)
                    self.changed.notify_all()

    def _parse(self, line: str, in_traceback: bool) -> bool:
        log = self.log
        log.lines += 1
        level = LEVEL.search(line)
        if line.startswith("Traceback") or (in_traceback and not level):
            log.errors.append(line)
            return True
        if level and level.group(1) in ("ERROR", "CRITICAL"):
            log.errors.append(line)
        elif level and level.group(1) == "WARNING":
            log.warnings.append(line)
        elif not level and line.strip():
            log.errors.append(line)   # anything unformatted on stderr is a surprise
        if (m := LISTENING.search(line)) and log.port is None:
            log.port = int(m.group(2))
        elif SERVING_ALL.search(line):
            log.ready = True
        elif m := WORKER_SERVING.search(line):
            log.serving.add(int(m.group(1)))
            log.ever_served += 1
        elif m := WORKER_GONE.search(line):
            pid = int(m.group(1))
            log.serving.discard(pid)
            log.gone[pid] = m.group(2)
        elif RELOAD_DONE.search(line):
            log.reloads_done += 1
        elif RELOAD_FAILED.search(line):
            log.reloads_failed.append(line)
        return False

    def wait_for(self, predicate, timeout: float) -> bool:
        """Wait until predicate(log) holds; False on timeout or if the master exited."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self.log):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return predicate(self.log)
                self.changed.wait(min(left, 0.2))
            return True

    def snapshot(self) -> ServerLog:
        with self.changed:
            return ServerLog(**{**asdict(self.log), "serving": set(self.log.serving),
                                "gone": dict(self.log.gone)})

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def serving_workers(self) -> list[int]:
        """Workers the log says serve, that are still children of the master."""
        children = set(children_of(self.pid))
        with self.changed:
            return sorted(self.log.serving & children)

    def stop(self, timeout: float) -> None:
        """Graceful stop (TERM to the master alone: its drain stops the
        workers), timed; SIGKILL to the group after `timeout`."""
        if self.proc is None:
            return
        running = self.proc.poll() is None
        started = time.monotonic()
        self.exit_code = stop(self.proc, timeout, signal.SIGTERM, leader_only=True)
        if running and self.exit_code is not None:
            self.stop_seconds = time.monotonic() - started
        self._join_reader()

    def wait_exit(self, timeout: float) -> int | None:
        """The master's exit status once it exited within `timeout` (SIGKILL to
        the group after that); also stops its leftover workers."""
        self.exit_code = stop(self.proc, timeout, None)
        self._join_reader()
        return self.exit_code

    def kill(self) -> None:
        if self.proc is not None:
            stop(self.proc, 0, signal.SIGKILL)

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(5)


def server_option(args: argparse.Namespace, name: str, default: float) -> float:
    """The value of a zerodep-http option given with --server-arg (the last one wins)."""
    value, extra = default, args.server_arg
    for i, arg in enumerate(extra):
        if arg == name and i + 1 < len(extra):
            value = float(extra[i + 1])
        elif arg.startswith(name + "="):
            value = float(arg.split("=", 1)[1])
    return value


def stop_timeout(args: argparse.Namespace) -> float:
    """How long the master may take to exit after TERM before it is killed."""
    return (server_option(args, "--graceful-timeout", 30.0)
            + server_option(args, "--drain-delay", 0.0) + STOP_MARGIN)
