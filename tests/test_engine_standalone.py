"""The engine alone: importable from a plain checkout, and a copy of the
`zerodep_http/` folder dropped into a project serves with `app.run()`.

`python -S` keeps the installed (editable) package out of sight, so only
the files on PYTHONPATH can be imported.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(rb"Listening at: http://127\.0\.0\.1:(\d+)")


def bare_python(*args: str, cwd: Path, **popen: object) -> subprocess.Popen:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(cwd),
           "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen([sys.executable, "-S", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def test_the_engine_imports_from_a_plain_checkout():
    proc = bare_python("-c", "import zerodep_http, zerodep_http.app, zerodep_http.demo; "
                       "print(zerodep_http.__file__)", cwd=ROOT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == str(ROOT / "zerodep_http" / "__init__.py")


def copy_engine(project: Path) -> None:
    shutil.copytree(ROOT / "zerodep_http", project / "zerodep_http",
                    ignore=shutil.ignore_patterns("__pycache__"))


def test_a_copied_folder_serves_with_app_run(tmp_path):
    copy_engine(tmp_path)
    (tmp_path / "service.py").write_text(textwrap.dedent("""
        from zerodep_http import App

        app = App(max_body_size=3_000_000)

        @app.post("/size")
        async def size(request):
            return {"size": len(request.body)}

        app.run(port=0)
    """))
    proc = bare_python("service.py", cwd=tmp_path)
    try:
        port = None
        for line in proc.stderr:
            if match := LISTENING.search(line):
                port = int(match.group(1))
                break
        assert port is not None, "the server did not say where it listens"
        body = b"x" * 2_000_000
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /size HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 OK")
        assert answer.endswith(b'{"size":2000000}')
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    assert proc.returncode == 0


def test_a_copied_folder_says_the_command_line_needs_the_package(tmp_path):
    copy_engine(tmp_path)
    proc = bare_python("-m", "zerodep_http", cwd=tmp_path)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert b"needs the installed package" in err
    assert b"Traceback" not in err
