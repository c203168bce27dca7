"""What the benchmark needs installed (wrk, nginx, the peers' venv), and
what a reader needs to compare two result files (machine, versions)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from . import REPO

PEER_VENV = REPO / "loadtests" / ".venv-peers"
# The peers live in their own venv, never in the project's; so does uvloop,
# and the project itself is installed there (editable) for zerodep-uvloop.
PEER_REQUIREMENTS = ["uvicorn[standard]", "starlette", "granian", "uvloop", "gunicorn", "flask",
                     "aiohttp", "sanic", "microdot", "bottle"]
PEER_EDITABLE = [REPO]
PEER_VERSIONS = ["uvicorn", "starlette", "granian", "uvloop", "httptools", "gunicorn", "flask",
                 "aiohttp", "sanic", "microdot", "bottle"]


def run_checked(cmd: list[str], timeout: float) -> str:
    """Run a setup command with a hard time limit and fail loudly with its output."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def apt_install(package: str) -> None:
    print(f"installing {package} with apt-get ...", file=sys.stderr)
    run_checked(["apt-get", "update"], timeout=300)
    run_checked(["apt-get", "install", "-y", package], timeout=300)


def ensure_wrk() -> None:
    """Install wrk from Debian if missing, so a fresh machine can run the bench."""
    if not shutil.which("wrk"):
        apt_install("wrk")


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def ensure_nginx() -> None:
    """Debian's nginx, only for its binary: the bench runs it with its own config."""
    if not Path(nginx_binary()).exists():
        apt_install("nginx")


def peer_bin(name: str) -> str:
    return str(PEER_VENV / "bin" / name)


def peer_python() -> Path:
    return PEER_VENV / "bin" / "python"


def peer_venv_spec() -> str:
    return "\n".join([*PEER_REQUIREMENTS, *(f"-e {path}" for path in PEER_EDITABLE)])


def ensure_peer_venv() -> None:
    """Build or extend the peers' venv; the marker names what a finished install holds.

    A marker that differs from the wanted list (a half install, or a
    requirement added since) reruns pip over the whole list, which adds what
    is missing; the venv is recreated only when its interpreter is gone.
    """
    marker = PEER_VENV / ".bench-ready"
    wanted = peer_venv_spec()
    if marker.exists() and marker.read_text() == wanted:
        return
    print(f"installing the peers into {PEER_VENV} ...", file=sys.stderr)
    working = peer_python().exists() and subprocess.run(
        [str(peer_python()), "-c", "pass"], capture_output=True, timeout=60, check=False).returncode == 0
    if not working:
        shutil.rmtree(PEER_VENV, ignore_errors=True)
        run_checked([sys.executable, "-m", "venv", str(PEER_VENV)], timeout=120)
    marker.unlink(missing_ok=True)
    editable = [arg for path in PEER_EDITABLE for arg in ("-e", str(path))]
    run_checked([str(peer_python()), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS, *editable],
                timeout=900)
    marker.write_text(wanted)


def python_version(python: str) -> str:
    return run_checked([python, "-c", "import platform; print(platform.python_version())"], 30).strip()


def nginx_version() -> str:
    proc = subprocess.run([nginx_binary(), "-v"], capture_output=True, text=True, timeout=30, check=False)
    return proc.stderr.strip().rpartition("/")[2] or "?"


def machine_info(args: argparse.Namespace) -> dict:
    """What a reader needs to compare two result files."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    versions = json.loads(run_checked(
        [str(peer_python()), "-c",
         ("import importlib.metadata as m, json, sys; "
          "print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))"),
         *PEER_VERSIONS], 30))
    if "nginx" in args.servers:
        versions["nginx"] = nginx_version()
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "nproc": os.cpu_count(), "cpu": cpu,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python_zerodep": python_version(args.python),
        "python_peers": python_version(str(peer_python())),
        "peer_versions": versions,
    }
