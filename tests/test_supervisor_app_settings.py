"""What an app declares itself (`App(max_body_size=...)`) means the same
under the master as under `app.run()`, and `--check-config` says so."""

from __future__ import annotations

import http.client
import subprocess
import textwrap

from supervisor_support import PYTHON, clean_env, serve  # noqa: F401

UPLOAD_APP = textwrap.dedent("""
    from zerodep_http import App

    app = App(max_body_size=10_000_000, read_timeout=12.5)

    @app.post("/size")
    async def size(request):
        return {"size": len(request.body)}
""")


def post(port: int, size: int) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("POST", "/size", body=b"x" * size)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_the_apps_body_limit_holds_under_the_master(serve, tmp_path):
    (tmp_path / "uploads.py").write_text(UPLOAD_APP)
    server = serve("uploads:app", "-w", "2", "-b", "127.0.0.1:0").ready()
    assert post(server.port, 2_000_000) == (200, b'{"size":2000000}')
    status, _ = post(server.port, 10_000_001)
    assert status == 413
    assert server.stop() == 0


def test_the_app_wins_over_the_server_wide_setting(serve, tmp_path):
    """The more specific setting wins: the app's own over --max-body-size."""
    (tmp_path / "uploads.py").write_text(UPLOAD_APP)
    server = serve("uploads:app", "-w", "1", "-b", "127.0.0.1:0",
                   "--max-body-size", "1000").ready()
    assert post(server.port, 2_000_000)[0] == 200


def test_the_server_wide_setting_holds_for_an_app_that_sets_none(serve, tmp_path):
    (tmp_path / "plain.py").write_text(UPLOAD_APP.replace(
        "App(max_body_size=10_000_000, read_timeout=12.5)", "App()"))
    server = serve("plain:app", "-w", "1", "-b", "127.0.0.1:0",
                   "--max-body-size", "1000").ready()
    assert post(server.port, 1000)[0] == 200
    assert post(server.port, 1001)[0] == 413


def check_config(*args: str, cwd) -> list[str]:
    result = subprocess.run([PYTHON, "-m", "zerodep_http", *args, "--check-config"],
                            capture_output=True, text=True, timeout=20, cwd=cwd,
                            env=clean_env())
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_check_config_shows_the_effective_limit_and_where_it_comes_from(tmp_path):
    (tmp_path / "uploads.py").write_text(UPLOAD_APP)
    lines = check_config("uploads:app", "--max-body-size", "1000", cwd=tmp_path)
    assert "max_body_size = 10000000 (app uploads:app)" in lines
    assert "read_timeout = 12.5 (app uploads:app)" in lines
    lines = check_config("--max-body-size", "1000", cwd=tmp_path)  # the demo declares none
    assert "max_body_size = 1000 (cli --max-body-size)" in lines
    assert "read_timeout = 30.0 (default)" in lines


def test_check_config_with_an_app_that_cannot_be_imported(tmp_path):
    (tmp_path / "broken.py").write_text("import nowhere_to_be_found\n")
    result = subprocess.run([PYTHON, "-m", "zerodep_http", "broken:app", "--check-config"],
                            capture_output=True, text=True, timeout=20, cwd=tmp_path,
                            env=clean_env())
    assert result.returncode == 4
    assert result.stderr.splitlines() == [
        "error: cannot load the application broken:app: No module named 'nowhere_to_be_found'"]
