"""Run a locust suite against a zerodep-http master, optionally while the
master is being reloaded, losing workers or shutting down.

    python -m loadtests --profile mixed --users 20 --run-time 10s --scenario hup

What a run does:

1. starts `zerodep-http loadtests.apps.loadapp:app -b 127.0.0.1:0 -w N` in a
   process group of its own, reads the real port from the master's
   `Listening at:` line and waits for `Serving with N workers`;
2. runs locust headless (`loadtests/locust/<profile>.py`) for `--run-time`
   with `--users` at `--spawn-rate`, on `--processes` processes, writing its
   CSV files, HTML report and JSON statistics to the results directory;
3. meanwhile plays the `--scenario`: `hup` (a reload every `--interval`
   seconds), `kill9` (SIGKILL to a random serving worker every `--interval`
   seconds), `term` (SIGTERM to the master with requests and streams in
   flight), or `none`;
4. stops the server (TERM, then SIGKILL to its group if it does not exit in
   time) and every other process it started, also on Ctrl-C;
5. prints a summary and exits 0 when every check held, 1 when one did not
   (a failed request beyond what the scenario allows, a missed threshold,
   an unexpected error in the server's log, a non-zero exit of the master),
   2 when the run could not be made, 130 on Ctrl-C.

Only 127.0.0.1 is used. See loadtests/README.md ("Locust suites").
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import importlib.util
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOCUST_DIR = HERE / "locust"
RESULTS_DIR = HERE / "results"
APP = "loadtests.apps.loadapp:app"
PROFILES = ("api", "sse", "static", "mixed")
SCENARIOS = ("none", "hup", "kill9", "term")
DEFAULT_INTERVAL = {"hup": 2.0, "kill9": 4.0}

#: How long the server may take to serve, and to stop after TERM beyond its
#: own graceful timeout; how long locust may overrun its --run-time.
READY_TIMEOUT = 30.0
STOP_MARGIN = 10.0
LOCUST_MARGIN = 60.0
#: Locust's name and request type for refusals after TERM (see _common.py).
TERM_TYPE = "TERM"

# The master's crash-loop rule (supervisor/master.py): this many deaths within
# the window stop it. kill9 stays below it.
try:
    from zerodep_http.supervisor.master import CRASH_LOOP_DEATHS, CRASH_LOOP_WINDOW
except ImportError:  # pragma: no cover - an older tree
    CRASH_LOOP_DEATHS, CRASH_LOOP_WINDOW = 5, 60.0


class RunError(Exception):
    """The run could not be made (exit status 2)."""


class Interrupted(Exception):
    """SIGINT or SIGTERM to the runner."""


# -- command line -------------------------------------------------------------------


def parse_duration(text: str) -> float:
    """Locust's time strings: 90, 90s, 2m, 1m30s, 1h."""
    text = text.strip().lower()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        return float(text)
    match = re.fullmatch(r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?", text)
    if not text or match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 10s, 2m, 1m30s)")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


def positive_duration(text: str) -> float:
    value = parse_duration(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 s")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests",
        description="Run a locust suite against zerodep-http on 127.0.0.1, optionally "
                    "during reloads (hup), worker kills (kill9) or a graceful shutdown (term).",
        epilog="Results (locust CSV, HTML and JSON, the server's log, summary.json) go to "
               "loadtests/results/locust-<time>-<profile>-<scenario>/ unless --results-dir is given.")
    load = parser.add_argument_group("load")
    load.add_argument("--profile", choices=PROFILES, default="mixed",
                      help="locust file: loadtests/locust/PROFILE.py (default: mixed)")
    load.add_argument("-u", "--users", type=int, default=20, help="concurrent locust users (default: 20)")
    load.add_argument("-r", "--spawn-rate", type=float, default=None,
                      help="users started per second (default: all of them within 1 s)")
    load.add_argument("-t", "--run-time", type=positive_duration, default=10.0,
                      help="how long the load runs: 10s, 1m, 1m30s (default: 10s)")
    load.add_argument("--think-scale", type=float, default=1.0,
                      help="multiply the users' think time between requests (0.05-0.3 s for "
                           "most); 0 = none, for throughput (default: 1)")
    load.add_argument("--processes", type=int, default=1,
                      help="locust processes (locust's --processes; -1 = one per CPU). One "
                           "process tops out at a few thousand requests/s (default: 1)")
    server = parser.add_argument_group("server")
    server.add_argument("--app", default=APP,
                        help=f"the application to serve (default: {APP}; the profiles rely on its routes)")
    server.add_argument("-w", "--workers", type=int, default=2, help="server worker processes (default: 2)")
    server.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for zerodep-http, repeatable, e.g. --server-arg=--no-reuse-port")
    scenario = parser.add_argument_group("scenario")
    scenario.add_argument("--scenario", choices=SCENARIOS, default="none",
                          help="none; hup: reload every --interval s, 0 failures allowed; kill9: "
                               "SIGKILL a random worker every --interval s, failures allowed up to "
                               "the connections it held; term: SIGTERM to the master at --term-at "
                               "with requests and streams in flight, which must complete")
    scenario.add_argument("--interval", type=positive_duration, default=None,
                          help="seconds between HUPs (default 2) or kills (default 4)")
    scenario.add_argument("--term-at", type=parse_duration, default=None,
                          help="term: seconds after the load started (default: half the run time)")
    scenario.add_argument("--in-flight", type=int, default=4,
                          help="term: SSE streams and slow requests each held open when TERM lands "
                               "(default: 4 + 4)")
    checks = parser.add_argument_group("pass/fail")
    checks.add_argument("--max-failures", type=int, default=0,
                        help="failed requests allowed (default 0; kill9 adds the connections "
                             "the killed workers held)")
    checks.add_argument("--min-rps", type=float, default=None, help="fail below this many requests/s")
    checks.add_argument("--max-p99-ms", type=float, default=None,
                        help="fail when the 99th percentile response time exceeds this")
    output = parser.add_argument_group("output")
    output.add_argument("--results-dir", type=Path, default=None, help="where to write the results")
    output.add_argument("-v", "--verbose", action="store_true",
                        help="echo the server's and locust's output to stderr")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users must be at least 1")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.processes == 0 or args.processes < -1:
        parser.error("--processes must be -1 or at least 1")
    if args.spawn_rate is None:
        args.spawn_rate = float(args.users)
    if args.spawn_rate <= 0:
        parser.error("--spawn-rate must be more than 0")
    if args.interval is None:
        args.interval = DEFAULT_INTERVAL.get(args.scenario, 2.0)
    if args.term_at is None:
        args.term_at = args.run_time / 2
    if args.scenario == "term" and not 0 < args.term_at < args.run_time:
        parser.error("--term-at must fall inside the run time")
    if args.think_scale < 0:
        parser.error("--think-scale must not be negative")
    if args.in_flight < 0:
        parser.error("--in-flight must not be negative")
    return args


# -- processes ------------------------------------------------------------------------


def free_port() -> int:
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


# -- the server ---------------------------------------------------------------------


LISTENING = re.compile(r"Listening at: http://([0-9.]+):([0-9]+) \(([0-9]+)\)")
SERVING_ALL = re.compile(r"Serving with ([0-9]+) workers")
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
                 verbose: bool) -> None:
        self.workers = workers
        self.command = [sys.executable, "-m", "zerodep_http", app, "-b", "127.0.0.1:0",
                        "-w", str(workers), "--error-logfile", "-", "--log-level", "info", *extra]
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
        self.proc = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
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
        """Graceful stop (TERM to the master), timed; SIGKILL to the group after `timeout`."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            started = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
                self.stop_seconds = time.monotonic() - started
            except subprocess.TimeoutExpired:
                pass
        self.wait_exit(0)

    def wait_exit(self, timeout: float) -> int | None:
        """The master's exit status once it exited within `timeout` (SIGKILL to
        the group after that); also reaps its leftover workers."""
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_group(self.proc, signal.SIGKILL, 0)
            self.exit_code = None
        signal_group(self.pid, signal.SIGKILL)   # a worker that outlived the master
        if self._reader is not None:
            self._reader.join(5)
        return self.exit_code

    def kill(self) -> None:
        if self.proc is not None:
            stop_group(self.proc, signal.SIGKILL, 0)


# -- locust ---------------------------------------------------------------------------


class Locust:
    def __init__(self, args: argparse.Namespace, host: str, results: Path, term_file: str) -> None:
        self.args = args
        self.results = results
        self.log_path = results / "locust.log"
        self.started = threading.Event()   # "Ramping to": the users are starting
        command = [sys.executable, "-m", "locust", "-f", str(LOCUST_DIR / f"{args.profile}.py"),
                   "--headless", "-u", str(args.users), "-r", str(args.spawn_rate),
                   "-t", f"{max(1, round(args.run_time))}s", "-H", host,
                   "--csv", str(results / "locust"), "--html", str(results / "report.html"),
                   "--json-file", str(results / "locust_stats"), "--only-summary",
                   "--exit-code-on-error", "0"]
        if args.processes != 1:
            port = free_port()
            command += ["--processes", str(args.processes), "--master-bind-host", "127.0.0.1",
                        "--master-bind-port", str(port), "--master-host", "127.0.0.1",
                        "--master-port", str(port)]
        self.command = command
        env = dict(os.environ)
        env["LOADTEST_TERM_FILE"] = term_file
        env["LOADTEST_THINK_SCALE"] = str(args.think_scale)
        env["LOADTEST_ERRORS_FILE"] = str(results / "locust_errors.json")
        env["PYTHONUNBUFFERED"] = "1"
        self.env = env
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._reader = threading.Thread(target=self._read, name="locust-log", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        with open(self.log_path, "w", encoding="utf-8", errors="replace") as out:
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                out.write(line + "\n")
                out.flush()
                if self.args.verbose:
                    print(f"[locust] {line}", file=sys.stderr)
                if "Ramping to" in line or "All users spawned" in line:
                    self.started.set()

    def wait(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise RunError(f"locust did not finish within {timeout:.0f} s; see {self.log_path}") from None
        if self._reader is not None:
            self._reader.join(5)
        signal_group(self.proc.pid, signal.SIGKILL)   # its --processes children, if any are left
        return code

    def stop(self) -> None:
        """SIGTERM makes locust stop and still write its reports; SIGKILL after 15 s."""
        if self.proc is not None:
            stop_group(self.proc, signal.SIGTERM, 15)


# -- scenarios ------------------------------------------------------------------------


@dataclass
class Event:
    at: float            # seconds since the load started
    wall: float          # time.time(), to match locust's per-second statistics
    what: str
    detail: dict = field(default_factory=dict)


class Scenario(threading.Thread):
    """Plays the scenario against the master while locust runs."""

    def __init__(self, args: argparse.Namespace, server: Server, term_file: str) -> None:
        super().__init__(name=f"scenario-{args.scenario}", daemon=True)
        self.args = args
        self.server = server
        self.term_file = term_file
        self.done = threading.Event()       # set by the runner when locust has finished
        self.events: list[Event] = []
        self.problems: list[str] = []       # checks of the scenario that did not hold
        self.notes: list[str] = []
        self.allowed_failures = 0           # kill9: connections the killed workers held
        self.term: dict = {}
        self.started = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        self.started = time.monotonic()
        try:
            getattr(self, f"play_{self.args.scenario}")()
        except Exception as exc:  # noqa: BLE001 - reported by the runner
            code = self.server.proc.poll()
            if code is None:
                self.error = exc
            else:
                self.problems.append(f"the master exited during the run (status {code})")

    def record(self, what: str, **detail) -> Event:
        event = Event(round(time.monotonic() - self.started, 3), time.time(), what, detail)
        self.events.append(event)
        return event

    def sleep_until(self, at: float) -> bool:
        """Wait until `at` s after the start; False if the load ends first
        (events land only while locust's users run)."""
        if at >= self.args.run_time:
            return False
        return not self.done.wait(max(0.0, self.started + at - time.monotonic()))

    def play_none(self) -> None:
        self.done.wait()

    def play_hup(self) -> None:
        server, interval = self.server, self.args.interval
        at = interval
        while self.sleep_until(at):
            before = server.snapshot()
            sent = time.monotonic()
            server.signal(signal.SIGHUP)
            done = server.wait_for(lambda log, before=before: (
                log.reloads_done > before.reloads_done
                or len(log.reloads_failed) > len(before.reloads_failed)), READY_TIMEOUT)
            after = server.snapshot()
            took = round(time.monotonic() - sent, 3)
            ok = done and after.reloads_done > before.reloads_done
            self.record("HUP", completed=ok, seconds=took)
            if not ok:
                self.problems.append(f"the reload at {self.events[-1].at:.1f} s did not complete"
                                     + (f": {after.reloads_failed[-1]}" if after.reloads_failed else ""))
            # The next HUP comes `interval` after this one completed, never
            # on top of a reload in progress (that would supersede it).
            at = max(at + interval, time.monotonic() - self.started + 0.1)
        if not any(e.what == "HUP" for e in self.events):
            self.problems.append("no HUP was sent: the run was shorter than --interval")

    def play_kill9(self) -> None:
        server, interval = self.server, self.args.interval
        # Stay below the master's crash-loop rule, which would stop it.
        limit = max(CRASH_LOOP_DEATHS, 2 * self.args.workers) - 1
        kills: list[float] = []
        at = interval
        while self.sleep_until(at):
            at += interval
            now = time.monotonic()
            if len([t for t in kills if t > now - CRASH_LOOP_WINDOW]) >= limit:
                self.notes.append(f"skipped a kill at {now - self.started:.1f} s: {limit} kills within "
                                  f"{CRASH_LOOP_WINDOW:.0f} s is the most below the master's crash-loop rule")
                continue
            workers = server.serving_workers()
            if not workers:
                self.notes.append(f"no serving worker to kill at {now - self.started:.1f} s")
                continue
            pid = random.choice(workers)
            before_served = server.snapshot().ever_served
            # Frozen, the worker cannot accept another connection between the
            # count and the kill: the count is exact. The freeze lasts about a
            # millisecond (requests sent meanwhile are among those it holds).
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue
            frozen = time.monotonic()
            try:
                held = (held_connections(pid, socket_inodes(server.pid))
                        if wait_stopped(pid) else None)
            except OSError:
                held = None
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if held is None:
                self.problems.append(f"could not count the connections of worker {pid}")
                held = 0
            kills.append(time.monotonic())
            self.allowed_failures += held
            self.record("kill -9", pid=pid, held_connections=held,
                        frozen_ms=round((kills[-1] - frozen) * 1000, 1))
            replaced = server.wait_for(lambda log, pid=pid, before=before_served: (
                pid in log.gone and log.ever_served > before), READY_TIMEOUT)
            self.events[-1].detail["replaced_after_s"] = (
                round(time.monotonic() - kills[-1], 3) if replaced else None)
            if not replaced:
                self.problems.append(f"worker {pid} (killed at {self.events[-1].at:.1f} s) "
                                     "was not replaced")
        if not any(e.what == "kill -9" for e in self.events):
            self.problems.append("no worker was killed: the run was shorter than --interval")

    def play_term(self) -> None:
        args, server = self.args, self.server
        if not self.sleep_until(args.term_at):
            self.problems.append("the load ended before --term-at")
            return
        port = server.log.port
        stream_count, stream_interval, slow_ms = 8, 0.25, 2000
        probes = ([StreamProbe(port, stream_count, stream_interval) for _ in range(args.in_flight)]
                  + [SlowProbe(port, slow_ms) for _ in range(args.in_flight)])
        for probe in probes:
            probe.start()
        in_flight = [p for p in probes if p.in_flight.wait(10)]
        Path(self.term_file).touch()            # from now on a refusal is expected
        sent = time.monotonic()
        server.signal(signal.SIGTERM)
        self.record("TERM", in_flight=len(in_flight))
        for probe in probes:
            probe.join(max(0.0, sent + probe.timeout + 5 - time.monotonic()))
        # The master exits once its workers drained; the streams are bounded.
        code = server.wait_exit(stop_timeout(args))
        exited = time.monotonic() - sent
        server.stop_seconds = exited
        refused = refused_now(port)
        completed = [p for p in in_flight if p.ok]
        self.term = {
            "in_flight": {"streams": sum(isinstance(p, StreamProbe) for p in in_flight),
                          "slow_requests": sum(isinstance(p, SlowProbe) for p in in_flight)},
            "completed": len(completed),
            "failed": [p.describe() for p in probes if not p.ok],
            "longest_s": round(max((p.seconds for p in completed), default=0.0), 3),
            "master_exit": code,
            "master_exit_after_s": round(exited, 3),
            "refused_after_exit": refused,
        }
        if len(in_flight) < len(probes):
            self.problems.append(f"only {len(in_flight)} of {len(probes)} probe requests were in "
                                 "flight when TERM was sent")
        if len(completed) < len(in_flight):
            self.problems.append(f"{len(in_flight) - len(completed)} of {len(in_flight)} requests in "
                                 f"flight at TERM did not complete: {'; '.join(self.term['failed'])}")
        if not refused:
            self.problems.append("a new connection was not refused after the master exited")


def refused_now(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


class Probe(threading.Thread):
    """One request held in flight across the TERM, with plain http.client."""

    timeout = 15.0

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.in_flight = threading.Event()
        self.ok = False
        self.error = ""
        self.seconds = 0.0

    def run(self) -> None:
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            self.error = self.exchange(conn) or ""
            self.ok = not self.error
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
            self.seconds = time.monotonic() - started
            self.in_flight.set()   # never leave the runner waiting

    def exchange(self, conn: http.client.HTTPConnection) -> str | None:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name}: {self.error or 'not in flight'}"


class StreamProbe(Probe):
    """An SSE stream: in flight once its first event arrived; complete when
    every event and the end event arrived."""

    def __init__(self, port: int, count: int, interval: float) -> None:
        super().__init__(port)
        self.name = f"GET /events?count={count}"
        self.count, self.interval = count, interval

    def exchange(self, conn: http.client.HTTPConnection) -> str | None:
        conn.request("GET", f"/events?count={self.count}&interval={self.interval}")
        resp = conn.getresponse()
        if resp.status != 200:
            return f"status {resp.status}"
        ticks, ended = 0, False
        while True:
            line = resp.readline()
            if not line:
                break
            if line.startswith(b"event: tick"):
                ticks += 1
                self.in_flight.set()
            elif line.startswith(b"event: end"):
                ended = True
        if ticks != self.count or not ended:
            return f"{ticks} of {self.count} events{'' if ended else ', no end event'}"
        return None


class SlowProbe(Probe):
    """`GET /slow`: in flight once the request was sent; complete on a 200
    with the right body."""

    def __init__(self, port: int, ms: int) -> None:
        super().__init__(port)
        self.name = f"GET /slow?ms={ms}"
        self.ms = ms

    def exchange(self, conn: http.client.HTTPConnection) -> str | None:
        conn.request("GET", f"/slow?ms={self.ms}")
        self.in_flight.set()
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            return f"status {resp.status}"
        if json.loads(body).get("slept_ms") != self.ms:
            return f"unexpected body {body[:80]!r}"
        return None


# -- results --------------------------------------------------------------------------


def percentile(histogram: dict[int, int], total: int, fraction: float) -> int:
    """Locust's own percentile over a {rounded ms: count} histogram."""
    if not total:
        return 0
    wanted = int(total * fraction)
    processed = 0
    for value in sorted(histogram, reverse=True):
        processed += histogram[value]
        if total - processed <= wanted:
            return value
    return 0


def read_stats(results: Path) -> dict:
    """Totals from locust's JSON statistics, with the expected refusals after
    TERM counted apart and left out of the rates and percentiles."""
    path = results / "locust_stats.json"
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunError(f"locust wrote no statistics ({exc}); see {results / 'locust.log'}") from None
    histogram: dict[int, int] = {}
    fails_per_sec: dict[int, int] = {}
    requests = failures = 0
    refused_after_term = 0
    starts, ends = [], []
    max_ms = 0
    by_name = []
    for entry in entries:
        if entry["method"] == TERM_TYPE:
            refused_after_term += entry["num_requests"]
            continue
        requests += entry["num_requests"]
        failures += entry["num_failures"]
        for key, count in entry["response_times"].items():
            histogram[int(float(key))] = histogram.get(int(float(key)), 0) + count
        for key, count in entry["num_fail_per_sec"].items():
            fails_per_sec[int(float(key))] = fails_per_sec.get(int(float(key)), 0) + count
        if entry["num_requests"]:
            starts.append(entry["start_time"])
            ends.append(entry["last_request_timestamp"] or entry["start_time"])
        max_ms = max(max_ms, entry["max_response_time"] or 0)
        by_name.append({"method": entry["method"], "name": entry["name"],
                        "requests": entry["num_requests"], "failures": entry["num_failures"]})
    measured = sum(histogram.values())
    duration = (max(ends) - min(starts)) if starts else 0.0
    return {
        "requests": requests,
        "failures": failures,
        "rps": round(requests / duration, 1) if duration > 0 else 0.0,
        "p50_ms": percentile(histogram, measured, 0.50),
        "p95_ms": percentile(histogram, measured, 0.95),
        "p99_ms": percentile(histogram, measured, 0.99),
        "max_ms": round(max_ms),
        "refused_after_term": refused_after_term,
        "fails_per_sec": fails_per_sec,
        "by_name": by_name,
        "sse_streams": sum(e["requests"] - e["failures"] for e in by_name if "SSE" in e["name"]),
    }


def read_failures(results: Path) -> list[dict]:
    """Failed requests by (method, name, reason), from the table _common.py
    writes at exit; locust's _failures.csv as a fallback (it may miss the
    last second)."""
    try:
        rows = json.loads((results / "locust_errors.json").read_text())
        found = [{"method": r["method"], "name": r["name"], "error": unwrap(r["error"]),
                  "occurrences": r["occurrences"]} for r in rows]
    except (OSError, ValueError, KeyError):
        import csv
        try:
            with open(results / "locust_failures.csv", newline="") as file:
                found = [{"method": r["Method"], "name": r["Name"], "error": unwrap(r["Error"]),
                          "occurrences": int(r["Occurrences"])} for r in csv.DictReader(file)]
        except (OSError, KeyError, ValueError):
            return []
    return [f for f in found if f["method"] != TERM_TYPE]


def unwrap(error: str) -> str:
    """The reason given to resp.failure(), without locust's CatchResponseError('...')."""
    m = re.fullmatch(r"""CatchResponseError\((['"])(.*)\1\)""", error, re.DOTALL)
    return m.group(2) if m else error


def unexplained_failures(fails_per_sec: dict[int, int], kill_walls: list[float],
                         before: float = 1.0, after: float = 5.0) -> int:
    """Failures reported in seconds that no kill explains."""
    return sum(count for second, count in fails_per_sec.items()
               if not any(wall - before <= second + 1 and second <= wall + after for wall in kill_walls))


def expected_error(line: str, scenario: Scenario) -> bool:
    """Error lines the scenario itself causes."""
    killed = {e.detail["pid"] for e in scenario.events if e.what == "kill -9"}
    m = re.search(r"Worker ([0-9]+) was killed by SIGKILL", line)
    return bool(m) and int(m.group(1)) in killed


def evaluate(args: argparse.Namespace, stats: dict, server: Server, scenario: Scenario) -> dict:
    """Every check of the run, and whether it passed."""
    problems = list(scenario.problems)
    allowed = args.max_failures + scenario.allowed_failures
    if stats["failures"] > allowed:
        rule = (f"{args.max_failures} + {scenario.allowed_failures} connections held by killed workers"
                if args.scenario == "kill9" else "--max-failures")
        problems.append(f"{stats['failures']} failed requests; allowed {allowed} ({rule})")
    if args.scenario == "kill9":
        walls = [e.wall for e in scenario.events if e.what == "kill -9"]
        stray = unexplained_failures(stats["fails_per_sec"], walls)
        if stray > args.max_failures:
            problems.append(f"{stray} failures happened away from any kill")
    if stats["requests"] == 0:
        problems.append("no request was made")
    if args.min_rps is not None and stats["rps"] < args.min_rps:
        problems.append(f"{stats['rps']} requests/s is below --min-rps {args.min_rps}")
    if args.max_p99_ms is not None and stats["p99_ms"] > args.max_p99_ms:
        problems.append(f"p99 {stats['p99_ms']} ms is above --max-p99-ms {args.max_p99_ms}")
    log = server.snapshot()
    unexpected = [line for line in log.errors if not expected_error(line, scenario)]
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected error lines in the server's log, e.g. "
                        f"{unexpected[0]!r}")
    if server.exit_code != 0:
        problems.append(f"the master's exit status was {server.exit_code} (expected 0)")
    if args.scenario != "term" and stats["refused_after_term"]:
        problems.append("refusals counted as after TERM in a run without TERM")
    return {"passed": not problems, "problems": problems, "allowed_failures": allowed,
            "server_errors": unexpected, "server_warnings": log.warnings}


def describe_scenario(args: argparse.Namespace, scenario: Scenario, stats: dict) -> list[str]:
    lines = []
    if args.scenario == "hup":
        hups = [e for e in scenario.events if e.what == "HUP"]
        took = [e.detail["seconds"] for e in hups if e.detail["completed"]]
        span = f" ({min(took):.2f}–{max(took):.2f} s each)" if took else ""
        lines.append(f"HUP ×{len(hups)}: {len(took)} reloads completed{span}, "
                     f"{len(hups) - len(took)} did not")
    elif args.scenario == "kill9":
        for e in (e for e in scenario.events if e.what == "kill -9"):
            replaced = e.detail.get("replaced_after_s")
            lines.append(f"kill -9 worker {e.detail['pid']} at {e.at:.1f} s holding "
                         f"{e.detail['held_connections']} connections (frozen "
                         f"{e.detail['frozen_ms']} ms to count them); replacement serving "
                         + (f"after {replaced:.2f} s" if replaced is not None else "NOT seen"))
        lines.append(f"allowed failures: {args.max_failures} + {scenario.allowed_failures} "
                     f"(each held connection can lose at most its one request in flight)")
    elif args.scenario == "term" and scenario.term:
        t = scenario.term
        at = next(e.at for e in scenario.events if e.what == "TERM")
        lines.append(f"TERM at {at:.1f} s with {t['in_flight']['streams']} SSE streams and "
                     f"{t['in_flight']['slow_requests']} slow requests in flight: {t['completed']} "
                     f"completed (the longest after {t['longest_s']:.2f} s)")
        lines.append(f"master exited {t['master_exit']} {t['master_exit_after_s']:.2f} s after TERM; "
                     f"new connections refused afterwards: {'yes' if t['refused_after_exit'] else 'NO'}; "
                     f"locust users refused after TERM (expected, then stopped): "
                     f"{stats['refused_after_term']}")
    lines += scenario.notes
    return lines


def summary_text(args: argparse.Namespace, stats: dict, verdict: dict, server: Server,
                 scenario: Scenario, failures: list[dict], results: Path) -> str:
    out = [(f"zerodep-http under locust: profile {args.profile}, scenario {args.scenario}, "
            f"{args.users} users (spawn {args.spawn_rate:g}/s) for {args.run_time:g} s, "
            f"server {args.workers} workers, locust {args.processes} process(es)"),
           (f"  requests   {stats['requests']} ({stats['failures']} failed, "
            f"{verdict['allowed_failures']} allowed), {stats['rps']} req/s"),
           (f"  latency    p50 {stats['p50_ms']} ms, p95 {stats['p95_ms']} ms, "
            f"p99 {stats['p99_ms']} ms, max {stats['max_ms']} ms")]
    if stats["sse_streams"]:
        out.append(f"  SSE        {stats['sse_streams']} streams completed")
    for line in describe_scenario(args, scenario, stats):
        out.append(f"  scenario   {line}")
    for failure in sorted(failures, key=lambda f: -f["occurrences"])[:10]:
        out.append(f"  failure    {failure['occurrences']} × {failure['method']} {failure['name']}: "
                   f"{failure['error']}")
    stopped = (f"exit {server.exit_code}" + (f" {server.stop_seconds:.2f} s after TERM"
                                             if server.stop_seconds is not None else ""))
    log = server.snapshot()
    out.append(f"  server     {stopped}; {log.ever_served} workers served in all; "
               f"{len(verdict['server_errors'])} unexpected error lines, "
               f"{len(verdict['server_warnings'])} warnings in its log")
    for problem in verdict["problems"]:
        out.append(f"  PROBLEM    {problem}")
    out.append(f"  result     {'PASS' if verdict['passed'] else 'FAIL'}; results in {results}")
    return "\n".join(out)


# -- the run --------------------------------------------------------------------------


def results_dir(args: argparse.Namespace) -> Path:
    if args.results_dir is not None:
        path = args.results_dir
    else:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = RESULTS_DIR / f"locust-{stamp}-{args.profile}-{args.scenario}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("locust") is None:
        raise RunError("locust is not installed: pip install -e '.[load]'")
    results = results_dir(args)
    with tempfile.TemporaryDirectory(prefix="zerodep-loadtest-") as tmp:
        term_file = os.path.join(tmp, "term-sent")
        server = Server(args.app, args.workers, args.server_arg, os.path.join(tmp, "static"),
                        results / "server.log", args.verbose)
        locust = Locust(args, "", results, term_file)
        scenario = Scenario(args, server, term_file)
        try:
            server.start()
            locust = Locust(args, server.url, results, term_file)
            locust.start()
            if not locust.started.wait(60):
                raise RunError(f"locust did not start within 60 s; see {locust.log_path}")
            scenario.start()
            locust_code = locust.wait(args.run_time + LOCUST_MARGIN)
            scenario.done.set()
            scenario.join(READY_TIMEOUT + 90)
            if scenario.error is not None:
                raise RunError(f"the {args.scenario} scenario failed: {scenario.error!r}")
            if server.proc.poll() is None or server.exit_code is None:
                server.stop(stop_timeout(args))
        finally:
            scenario.done.set()
            locust.stop()
            server.kill()
        stats = read_stats(results)
        failures = read_failures(results)
        verdict = evaluate(args, stats, server, scenario)
        text = summary_text(args, stats, verdict, server, scenario, failures, results)
        print(text)
        (results / "summary.txt").write_text(text + "\n")
        summary = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                   "stats": {k: v for k, v in stats.items() if k != "fails_per_sec"},
                   "failures": failures, "verdict": verdict, "locust_exit": locust_code,
                   "server": {"exit": server.exit_code, "stop_seconds": server.stop_seconds,
                              "workers_served": server.snapshot().ever_served},
                   "scenario": {"events": [asdict(e) for e in scenario.events],
                                "notes": scenario.notes, "term": scenario.term,
                                "allowed_failures": scenario.allowed_failures}}
        (results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return 0 if verdict["passed"] else 1


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def interrupted(signum, frame):
        for other in previous:  # the cleanup that follows must not be cut short
            signal.signal(other, signal.SIG_IGN)
        raise Interrupted(signal.Signals(signum).name)

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, interrupted)
    try:
        return run(args)
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        print(f"interrupted ({exc}); every process started was stopped", file=sys.stderr)
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
