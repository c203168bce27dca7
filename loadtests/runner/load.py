"""locust, headless, in a process group of its own: its output goes to
locust.log, and its results to the results directory."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from . import ROOT, RunError
from ..processes import free_port, start, stop

LOCUST_DIR = ROOT / "loadtests" / "locust"


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
        self.proc = start(self.command, cwd=ROOT, env=self.env, stdout=subprocess.PIPE)
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
        stop(self.proc, 0, None)   # its --processes children, if any are left
        return code

    def stop(self) -> None:
        """SIGTERM makes locust stop and still write its reports; SIGKILL after 15 s."""
        if self.proc is not None:
            stop(self.proc, 15, signal.SIGTERM)
