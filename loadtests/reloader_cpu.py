"""What `--reload`'s polling costs the master: its CPU use while it watches
a tree of source files, against the same master without `--reload`.

Writes a project of `--files` Python modules (100 per package) into a
temporary directory, starts `zerodep-http -w 1` on it with and without
`--reload`, and reads the master's user + system CPU time from
/proc/PID/stat over `--seconds` of idle serving, after it is ready.

Usage: python loadtests/reloader_cpu.py [--files 5000] [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PER_PACKAGE = 100
APP = "from zerodep_http import App\napp = App()\n\n@app.get('/')\nasync def index(request):\n    return 'ok'\n"


def write_project(root: Path, files: int) -> None:
    (root / "webapp.py").write_text(APP)
    for index in range(files - 1):
        package = root / f"package{index // PER_PACKAGE:03d}"
        if not package.exists():
            package.mkdir()
        (package / f"module{index % PER_PACKAGE:03d}.py").write_text(f"VALUE = {index}\n")


def cpu_seconds(pid: int) -> float:
    """User + system time of one process."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(python: str, root: Path, seconds: float, reload: bool) -> tuple[float, str]:
    """The master's CPU use in percent of one core, and what it logged about watching."""
    command = [python, "-m", "zerodep_http", "webapp:app", "-w", "1", "-b", "127.0.0.1:0"]
    if reload:
        command.append("--reload")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    server = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    watching = ""
    try:
        deadline = time.monotonic() + 60
        for line in server.stderr:
            if "Watching" in line:
                watching = re.sub(r"^.*\] ", "", line.strip())
            if "Serving with" in line or time.monotonic() > deadline:
                break
        before, started = cpu_seconds(server.pid), time.monotonic()
        time.sleep(seconds)
        used, elapsed = cpu_seconds(server.pid) - before, time.monotonic() - started
    finally:
        server.terminate()
        server.communicate(timeout=30)
    return 100 * used / elapsed, watching


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_project(root, args.files)
        idle, _ = measure(args.python, root, args.seconds, reload=False)
        watching_cpu, watching = measure(args.python, root, args.seconds, reload=True)
    print(watching)
    print(f"master CPU over {args.seconds:.0f} s: {watching_cpu:.2f}% of one core with --reload, "
          f"{idle:.2f}% without")
    return 0


if __name__ == "__main__":
    sys.exit(main())
