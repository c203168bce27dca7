"""The command line: --check-config, bad settings, the console script."""

from __future__ import annotations

import subprocess

from supervisor_support import PYTHON, clean_env, serve, write_app  # noqa: F401


def run(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "zerodep_http", *args], capture_output=True,
                          text=True, timeout=20, cwd=cwd, env=env or clean_env())


def test_check_config_prints_every_setting_and_exits_0(tmp_path):
    (tmp_path / "zd.toml").write_text("workers = 3\ngraceful_timeout = 7\n")
    result = run("-c", str(tmp_path / "zd.toml"), "--timeout", "9", "--check-config",
                 env=clean_env(ZERODEP_KEEP_ALIVE="2"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"workers = 3 (file {tmp_path / 'zd.toml'})" in lines
    assert "timeout = 9.0 (cli --timeout)" in lines
    assert "keep_alive = 2.0 (env ZERODEP_KEEP_ALIVE)" in lines
    assert "backlog = 2048 (default)" in lines


def test_a_bad_setting_exits_2_with_one_line():
    result = run("-w", "abc")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: workers = 'abc' (cli --workers): expected a positive integer"]
    result = run(env=clean_env(ZERODEP_BIND="nowhere"))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "ZERODEP_BIND" in result.stderr


def test_the_console_script_runs_the_master(serve, tmp_path):
    import shutil
    import sys
    from pathlib import Path
    script = shutil.which("zerodep-http", path=str(Path(sys.executable).parent))
    assert script, "the zerodep-http script is installed with the package"
    # The app is found in the working directory, as with python -m.
    server = serve(write_app(tmp_path), "-w", "1", "-b", "127.0.0.1:0",
                   command=[script]).ready()
    assert server.get("/version")[1] == "v1"
    assert server.stop() == 0


def test_demo_app_without_arguments(serve, tmp_path):
    server = serve("-w", "1", "-b", "127.0.0.1:0").ready()
    status, body, _ = server.get("/hello")
    assert (status, body) == (200, "Hello, World!")
    assert server.stop() == 0


def test_default_worker_count_is_the_usable_cpus(serve, tmp_path):
    from zerodep_http.config import cpu_count
    server = serve("-b", "127.0.0.1:0").ready()
    assert len(server.workers()) == cpu_count()
    assert server.stop() == 0


def test_limit_flags_count_lines_as_gunicorn_does(serve, tmp_path):
    """--limit-request-line counts the request line without its CRLF,
    --limit-request-field-size a field line with it (issue 10)."""
    import socket
    server = serve(write_app(tmp_path), "-w", "1", "-b", "127.0.0.1:0",
                   "--limit-request-line", "40", "--limit-request-field-size", "40").ready()

    def status(request_line: bytes, field: bytes) -> int:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(request_line + b"\r\nHost: a\r\n" + field + b"\r\n"
                         b"Connection: close\r\n\r\n")
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        return int(reply.split(b" ", 2)[1])

    line_40 = b"GET /version?" + b"q" * 18 + b" HTTP/1.1"
    field_38 = b"X-Long: " + b"v" * 30
    assert (len(line_40), len(field_38)) == (40, 38)
    assert status(line_40, field_38) == 200
    assert status(line_40.replace(b"?", b"?q"), field_38) == 414
    assert status(line_40, field_38 + b"v") == 431
    assert server.stop() == 0
