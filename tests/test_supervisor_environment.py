"""`--env-file` and `--chdir` with a real master: what the application sees,
and what a HUP re-reads."""

from __future__ import annotations

import json
import signal

from supervisor_support import clean_env, serve, wait_until  # noqa: F401
from zerodep_http.supervisor.environment import AppEnvironment

FAST = ["--graceful-timeout", "2", "--timeout", "2", "-b", "127.0.0.1:0"]

# The variables are read when the module is imported, as settings modules do.
APP = '''
import os
from zerodep_http import App

AT_IMPORT = {name: os.environ.get(name) for name in ("GREETING", "SECRET", "ONLY_FIRST")}
app = App()

@app.get("/env")
async def env(request):
    return {"import": AT_IMPORT, "now": os.environ.get("GREETING"), "cwd": os.getcwd()}
'''


def env_of(server) -> dict:
    status, body, _ = server.get("/env")
    assert status == 200
    return json.loads(body)


def test_env_files_reach_the_app_and_are_reread_on_hup(serve, tmp_path):
    (tmp_path / "envapp.py").write_text(APP)
    (tmp_path / "first.env").write_text("GREETING=hello\nONLY_FIRST='yes'\nZERODEP_WORKERS=2\n")
    (tmp_path / "second.env").write_text('export SECRET="s3cret # not a comment"\n')
    server = serve("envapp:app", "--env-file", "first.env", "--env-file", "second.env",
                   *FAST).ready()
    assert server.count("Booting worker") == 2  # ZERODEP_WORKERS from the file
    assert env_of(server)["import"] == {"GREETING": "hello", "SECRET": "s3cret # not a comment",
                                        "ONLY_FIRST": "yes"}
    # Edited: a value changes, another is removed; the new workers see exactly that.
    (tmp_path / "first.env").write_text("GREETING=bonjour\nZERODEP_WORKERS=1\n")
    server.signal(signal.SIGHUP)
    server.wait_for("Reload complete: generation 2 serving with 1 worker")
    # Until the retiring workers have let go of the listener, a request may
    # still reach one of them: wait for the new environment as a whole.
    expected = {"GREETING": "bonjour", "SECRET": "s3cret # not a comment", "ONLY_FIRST": None}
    wait_until(lambda: env_of(server)["import"] == expected, what="the new environment")
    # A malformed file on HUP is a bad configuration: the old one stays.
    (tmp_path / "first.env").write_text("GREETING=hallo\nthis is wrong\n")
    server.signal(signal.SIGHUP)
    server.wait_for(r"keeping the current configuration, the new one is invalid: "
                    r"env_file = 'first\.env' \(cli --env-file\): line 2: expected KEY=VALUE")
    server.wait_for("Reload complete: generation 3")
    assert env_of(server)["now"] == "bonjour"
    assert server.stop() == 0


def test_the_process_environment_wins(serve, tmp_path):
    (tmp_path / "envapp.py").write_text(APP)
    (tmp_path / ".env").write_text("GREETING=from-file\nSECRET=file\n")
    server = serve("envapp:app", "--env-file", ".env", *FAST,
                   env=clean_env(GREETING="from-process")).ready()
    assert env_of(server)["import"]["GREETING"] == "from-process"
    assert env_of(server)["import"]["SECRET"] == "file"
    assert server.stop() == 0


def test_chdir_serves_the_app_of_that_directory(serve, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "envapp.py").write_text(APP)
    (project / ".env").write_text("GREETING=from-project\n")
    server = serve("envapp:app", "--chdir", "project", "--env-file", ".env", *FAST,
                   cwd=tmp_path).ready()
    seen = env_of(server)
    assert seen["cwd"] == str(project)
    assert seen["import"]["GREETING"] == "from-project"
    assert server.stop() == 0


def test_app_environment_adds_and_removes_only_its_own():
    environ = {"PATH": "/bin", "KEEP": "1"}
    env = AppEnvironment(environ)
    env.apply({"A": "1", "B": "2"})
    assert environ == {"PATH": "/bin", "KEEP": "1", "A": "1", "B": "2"}
    env.apply({"B": "3"})
    assert environ == {"PATH": "/bin", "KEEP": "1", "B": "3"}
    assert env.inherited == {"PATH": "/bin", "KEEP": "1"}
