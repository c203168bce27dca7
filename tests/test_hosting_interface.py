"""--interface: what APP names (a zerodep App, an ASGI 3 or a WSGI
application), told apart or checked; the settings that go with hosting."""

from __future__ import annotations

import subprocess
import sys

import pytest

from zerodep_http import App, Request
from zerodep_http.asgi import ASGIApplication
from zerodep_http.config import load_config
from zerodep_http.supervisor.appload import AppLoadError, detect_interface, serve_as
from zerodep_http.wsgi import WSGIApplication

from supervisor_support import clean_env


async def asgi_function(scope, receive, send):
    pass


class ASGIClass:
    async def __call__(self, scope, receive, send):
        pass


def wsgi_function(environ, start_response):
    return []


class WSGIClass:
    def __call__(self, environ, start_response):
        return []


def not_an_app(one):
    pass


@pytest.mark.parametrize("app, interface", [
    (App(), "native"), (asgi_function, "asgi"), (ASGIClass(), "asgi"),
    (wsgi_function, "wsgi"), (WSGIClass(), "wsgi"),
], ids=["App", "async function", "async __call__", "function", "__call__"])
def test_auto_tells_the_interfaces_apart(app, interface):
    assert detect_interface(app) == interface


@pytest.mark.parametrize("app", [42, not_an_app, ASGIClass, "text"],
                         ids=["int", "one argument", "a class", "str"])
def test_auto_refuses_what_is_none_of_them(app):
    with pytest.raises(AppLoadError, match="neither a zerodep_http App"):
        detect_interface(app)


def test_an_explicit_interface_is_believed_for_callables():
    # A wrapper whose __call__ returns an awaitable without being async.
    assert detect_interface(not_an_app, "asgi") == "asgi"
    assert detect_interface(not_an_app, "wsgi") == "wsgi"
    with pytest.raises(AppLoadError, match="not a zerodep_http App"):
        detect_interface(wsgi_function, "native")
    with pytest.raises(AppLoadError, match="use --interface auto or native"):
        detect_interface(App(), "wsgi")


def test_serve_as_builds_the_adapter_with_the_settings():
    config = load_config(["--root-path", "/api", "--threads", "3", "--lifespan", "off",
                          "-w", "2"], {})
    asgi = serve_as(asgi_function, config)
    assert isinstance(asgi, ASGIApplication)
    assert (asgi.root_path, asgi.lifespan.mode) == ("/api", "off")
    wsgi = serve_as(wsgi_function, config)
    assert isinstance(wsgi, WSGIApplication)
    assert (wsgi.root_path, wsgi.pool.size) == ("/api", 3)
    assert wsgi.environ(Request("GET", "/", "", {}))["wsgi.multiprocess"] is True
    app = App()
    assert serve_as(app, config) is app


def test_settings_defaults_and_sources():
    config = load_config([], {"ZERODEP_THREADS": "4"})
    assert (config.interface, config.threads, config.lifespan) == ("auto", 4, "auto")
    assert config.source("threads") == "env ZERODEP_THREADS"


@pytest.mark.parametrize("args, allowed", [
    (["--interface", "cgi"], "auto, native, asgi or wsgi"),
    (["--threads", "0"], "a positive integer"),
    (["--lifespan", "maybe"], "auto, on or off"),
])
def test_bad_values_are_one_line_and_status_2(args, allowed):
    result = subprocess.run([sys.executable, "-m", "zerodep_http", *args, "--check-config"],
                            capture_output=True, text=True, env=clean_env(), timeout=60)
    assert result.returncode == 2
    assert allowed in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_object_of_no_interface_is_one_line_and_status_4(tmp_path):
    (tmp_path / "thing.py").write_text("app = 42\n")
    result = subprocess.run([sys.executable, "-m", "zerodep_http", "thing:app",
                             "--check-config"], capture_output=True, text=True, cwd=tmp_path,
                            env=clean_env(), timeout=60)
    assert result.returncode == 4
    assert result.stderr.strip().splitlines() == [
        "error: cannot load the application thing:app: thing:app is a int, which is not "
        "callable: neither a zerodep_http App, an ASGI 3 nor a WSGI application"]


def test_check_config_shows_the_hosting_settings(tmp_path):
    (tmp_path / "hosted.py").write_text("def app(environ, start_response):\n    return []\n")
    result = subprocess.run([sys.executable, "-m", "zerodep_http", "hosted:app", "--threads",
                             "6", "--check-config"], capture_output=True, text=True,
                            cwd=tmp_path, env=clean_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "interface = 'auto' (default)" in result.stdout
    assert "threads = 6 (cli --threads)" in result.stdout
    assert "lifespan = 'auto' (default)" in result.stdout


def test_the_master_stops_at_start_for_an_object_of_no_interface(serve, tmp_path):
    (tmp_path / "thing.py").write_text("app = 42\n")
    server = serve("thing:app", "-w", "1", "-b", "127.0.0.1:0")
    assert server.wait(30) == 4
    assert server.count("is a int, which is not callable") >= 1


@pytest.fixture
def serve(tmp_path):
    from supervisor_support import Server
    started = []

    def start(*args):
        server = Server(list(args), tmp_path)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill_all()
