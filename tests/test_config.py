"""Settings loading: precedence, sources, validation errors, CLI behaviour, docs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from zerodep_http.config import (
    SETTINGS, Bind, ConfigError, load_config, render_markdown, run_cli_config)

ROOT = Path(__file__).resolve().parent.parent


def load(tmp_path, toml=None, env=None, argv=()):
    """load_config with an optional TOML file (passed via -c) and a private environ."""
    argv = list(argv)
    if toml is not None:
        path = tmp_path / "zerodep.toml"
        path.write_text(toml)
        argv = ["-c", str(path), *argv]
    return load_config(argv, dict(env or {}))


def error(tmp_path, **layers) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, **layers)
    return info.value


# --- defaults and precedence ---------------------------------------------------

DEFAULTS = {
    "app": None, "config": None, "graceful_timeout": 30.0, "timeout": 30.0,
    "boot_timeout": 30.0, "keep_alive": 5.0, "max_requests": 0,
    "max_requests_jitter": 0, "backlog": 2048, "limit_request_line": 8190,
    "limit_request_fields": 100, "limit_request_field_size": 8190,
    "max_body_size": 1048576, "certfile": None, "keyfile": None,
    "proxy_protocol": False, "access_logfile": None, "error_logfile": "-",
    "log_level": "info", "pid": None, "preload": False, "health_path": None,
    "ready_path": None, "drain_delay": 0.0, "loop": "auto", "reuse_port": False,
    "ws_max_message_size": 1048576, "ws_ping_interval": 20.0, "ws_ping_timeout": 20.0,
}


def test_defaults(tmp_path):
    config = load(tmp_path)
    for name, value in DEFAULTS.items():
        assert getattr(config, name) == value, name
    assert config.bind == [Bind("tcp", host="127.0.0.1", port=8000)]
    assert config.workers >= 1
    assert str(config.forwarded_allow_ips) == "127.0.0.1,::1"
    assert "%(h)s" in config.access_log_format
    assert {config.source(s.name) for s in SETTINGS} == {"default"}
    assert config.check_config is False


# (setting, TOML text, environment value, command line, value from each layer)
LAYERS = [
    ("workers", "workers = 2", "3", ["-w", "4"], (2, 3, 4)),
    ("graceful_timeout", "graceful_timeout = 1", "2.5", ["--graceful-timeout", "3"], (1.0, 2.5, 3.0)),
    ("preload", "preload = true", "off", ["--preload"], (True, False, True)),
    ("log_level", 'log_level = "debug"', "WARNING", ["--log-level", "error"],
     ("debug", "warning", "error")),
    ("app", 'app = "a:app"', "b:app", ["c:make()"], ("a:app", "b:app", "c:make()")),
    ("bind", 'bind = ["10.0.0.1:1", "unix:/run/x.sock"]', "[::1]:2,fd://3",
     ["-b", "h:4", "--bind", "0.0.0.0:5"],
     (["10.0.0.1:1", "unix:/run/x.sock"], ["[::1]:2", "fd://3"], ["h:4", "0.0.0.0:5"])),
]
FLAGS = {"workers": "--workers", "graceful_timeout": "--graceful-timeout",
         "preload": "--preload", "log_level": "--log-level", "app": "APP", "bind": "--bind"}


@pytest.mark.parametrize("use_file", [False, True])
@pytest.mark.parametrize("use_env", [False, True])
@pytest.mark.parametrize("use_cli", [False, True])
@pytest.mark.parametrize("name, toml, env, cli, values", LAYERS, ids=[r[0] for r in LAYERS])
def test_precedence(tmp_path, name, toml, env, cli, values, use_file, use_env, use_cli):
    config = load(tmp_path,
                  toml=toml if use_file else None,
                  env={f"ZERODEP_{name.upper()}": env} if use_env else {},
                  argv=cli if use_cli else [])
    value = getattr(config, name)
    if name == "bind":
        value = [str(b) for b in value]
    if use_cli:
        assert (value, config.source(name)) == (values[2], f"cli {FLAGS[name]}")
    elif use_env:
        assert (value, config.source(name)) == (values[1], f"env ZERODEP_{name.upper()}")
    elif use_file:
        assert (value, config.source(name)) == (values[0], f"file {tmp_path / 'zerodep.toml'}")
    else:
        assert config.source(name) == "default"


@pytest.mark.parametrize("argv, name, value, source", [
    (["-w", "2"], "workers", 2, "cli --workers"),
    (["-t", "9"], "timeout", 9.0, "cli --timeout"),
    (["-p", "/run/z.pid"], "pid", "/run/z.pid", "cli --pid"),
    (["--no-preload"], "preload", False, "cli --no-preload"),
    (["--reuse-port"], "reuse_port", True, "cli --reuse-port"),
    (["--log-file", "/var/log/z.log"], "error_logfile", "/var/log/z.log", "cli --log-file"),
    (["--limit-request-field_size", "100"], "limit_request_field_size", 100,
     "cli --limit-request-field_size"),
    (["--access-logformat", "%(h)s"], "access_log_format", "%(h)s", "cli --access-logformat"),
    (["--access-logfile", "-"], "access_logfile", "-", "cli --access-logfile"),
    (["--access-logfile", ""], "access_logfile", None, "cli --access-logfile"),
    (["--forwarded-allow-ips", "*"], "forwarded_allow_ips", "*", "cli --forwarded-allow-ips"),
    (["--health-path", "/healthz"], "health_path", "/healthz", "cli --health-path"),
    (["--loop=asyncio"], "loop", "asyncio", "cli --loop"),
    (["-w", "2", "--workers", "3"], "workers", 3, "cli --workers"),
    (["--ws-max-message-size", "4096"], "ws_max_message_size", 4096, "cli --ws-max-message-size"),
    (["--ws-ping-interval", "0"], "ws_ping_interval", 0.0, "cli --ws-ping-interval"),
    (["--ws-ping-timeout", "2.5"], "ws_ping_timeout", 2.5, "cli --ws-ping-timeout"),
])
def test_command_line_sources(tmp_path, argv, name, value, source):
    config = load(tmp_path, argv=argv)
    got = getattr(config, name)
    assert (str(got) if name == "forwarded_allow_ips" else got) == value
    assert config.source(name) == source


@pytest.mark.parametrize("word, value", [
    ("true", True), ("1", True), ("yes", True), ("On", True),
    ("false", False), ("0", False), ("no", False), ("OFF", False)])
def test_boolean_words_from_environment(tmp_path, word, value):
    assert load(tmp_path, env={"ZERODEP_PROXY_PROTOCOL": word}).proxy_protocol is value


def test_empty_environment_value_turns_optional_setting_off(tmp_path):
    config = load(tmp_path, toml='pid = "/run/z.pid"', env={"ZERODEP_PID": ""})
    assert (config.pid, config.source("pid")) == (None, "env ZERODEP_PID")


def test_gunicorn_style_environment_defaults(tmp_path):
    config = load(tmp_path, env={"PORT": "9000", "WEB_CONCURRENCY": "3"})
    assert [str(b) for b in config.bind] == ["0.0.0.0:9000"]
    assert config.source("bind") == "env PORT"
    assert (config.workers, config.source("workers")) == (3, "env WEB_CONCURRENCY")
    # They are only defaults: the file, the environment and the command line win.
    config = load(tmp_path, toml="workers = 5", env={"PORT": "9000", "WEB_CONCURRENCY": "3",
                                                      "ZERODEP_BIND": "h:1"})
    assert (config.workers, [str(b) for b in config.bind]) == (5, ["h:1"])


def test_toml_lists_and_strings(tmp_path):
    config = load(tmp_path, toml='bind = "h:1"\nforwarded_allow_ips = ["10.0.0.0/8", "::1"]\n')
    assert [str(b) for b in config.bind] == ["h:1"]
    assert str(config.forwarded_allow_ips) == "10.0.0.0/8,::1"


def test_config_file_from_environment(tmp_path):
    path = tmp_path / "z.toml"
    path.write_text("backlog = 10\n")
    config = load_config([], {"ZERODEP_CONFIG": str(path)})
    assert (config.backlog, config.source("backlog")) == (10, f"file {path}")
    assert (config.config, config.source("config")) == (str(path), "env ZERODEP_CONFIG")


def test_tls_files_given_together(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("x")
    config = load(tmp_path, argv=["--certfile", str(cert)], env={"ZERODEP_KEYFILE": str(key)})
    assert (config.certfile, config.keyfile) == (str(cert), str(key))


# --- check-config ----------------------------------------------------------------

def test_check_config_lines_name_every_source(tmp_path):
    config = load(tmp_path, toml="graceful_timeout = 10", env={"ZERODEP_LOG_LEVEL": "debug"},
                  argv=["-w", "4", "--check-config", "-b", "[::1]:80"])
    lines = config.check_config_lines()
    assert config.check_config is True
    assert [line.split(" = ")[0] for line in lines] == [s.name for s in SETTINGS]
    path = tmp_path / "zerodep.toml"
    for line in [
        "workers = 4 (cli --workers)",
        f"graceful_timeout = 10.0 (file {path})",
        "log_level = 'debug' (env ZERODEP_LOG_LEVEL)",
        "bind = ['[::1]:80'] (cli --bind)",
        f"config = '{path}' (cli --config)",
        "timeout = 30.0 (default)",
        "app = None (default)",
        "forwarded_allow_ips = '127.0.0.1,::1' (default)",
    ]:
        assert line in lines


def test_run_cli_config_check_config_exits_0(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        run_cli_config(["--check-config", "--workers", "2"], {})
    assert info.value.code == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[3] == "workers = 2 (cli --workers)"
    assert len(out.splitlines()) == len(SETTINGS) and err == ""


def test_run_cli_config_returns_config(capsys):
    assert run_cli_config(["-w", "2"], {}).workers == 2
    assert capsys.readouterr() == ("", "")


# --- bad values ------------------------------------------------------------------

EXISTING = "<an existing file>"  # replaced by a real path in tmp_path
FILE = "<the TOML file>"  # replaced by "file PATH"

# (layers, setting, source, what the message must say)
BAD = [
    (dict(env={"ZERODEP_WORKERS": "abc"}), "workers", "env ZERODEP_WORKERS", "expected a positive integer"),
    (dict(argv=["-w", "0"]), "workers", "cli --workers", "expected a positive integer"),
    (dict(argv=["-w", "1.5"]), "workers", "cli --workers", "expected a positive integer"),
    (dict(toml="workers = 2.0"), "workers", FILE, "expected a positive integer"),
    (dict(toml="workers = true"), "workers", FILE, "expected a positive integer"),
    (dict(env={"WEB_CONCURRENCY": "-1"}), "workers", "env WEB_CONCURRENCY", "positive integer"),
    (dict(env={"ZERODEP_MAX_REQUESTS": "-1"}), "max_requests", "env ZERODEP_MAX_REQUESTS", ">= 0"),
    (dict(argv=["--backlog", "1_000"]), "backlog", "cli --backlog", "positive integer"),
    (dict(argv=["--max-body-size", ""]), "max_body_size", "cli --max-body-size", "bytes"),
    (dict(env={"ZERODEP_GRACEFUL_TIMEOUT": "-1"}), "graceful_timeout",
     "env ZERODEP_GRACEFUL_TIMEOUT", "expected a number of seconds >= 0"),
    (dict(argv=["--keep-alive", "inf"]), "keep_alive", "cli --keep-alive", "seconds >= 0"),
    (dict(argv=["--timeout", "0"]), "timeout", "cli --timeout", "seconds > 0"),
    (dict(toml='boot_timeout = "soon"'), "boot_timeout", FILE, "seconds > 0"),
    (dict(env={"ZERODEP_PRELOAD": "maybe"}), "preload", "env ZERODEP_PRELOAD", "true or false"),
    (dict(toml="reuse_port = 1"), "reuse_port", FILE, "true or false"),
    (dict(env={"ZERODEP_LOG_LEVEL": "loud"}), "log_level", "env ZERODEP_LOG_LEVEL",
     "debug, info, warning, error or critical"),
    (dict(argv=["--loop", "trio"]), "loop", "cli --loop", "auto, asyncio or uvloop"),
    (dict(argv=["app"]), "app", "cli APP", "module:attribute or module:factory()"),
    (dict(env={"ZERODEP_APP": "pkg.mod:make(1)"}), "app", "env ZERODEP_APP", "module:factory()"),
    (dict(argv=["-b", "localhost"]), "bind", "cli --bind", "missing :PORT; expected HOST:PORT"),
    (dict(env={"ZERODEP_BIND": "h:1,::1:80"}), "bind", "env ZERODEP_BIND", "must be in brackets"),
    (dict(env={"ZERODEP_BIND": ""}), "bind", "env ZERODEP_BIND", "no address given"),
    (dict(toml="bind = 8000"), "bind", FILE, "expected HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N"),
    (dict(toml='bind = ["h:1", 2]'), "bind", FILE, "expected HOST:PORT"),
    (dict(argv=["-b", "h:1", "-b", "unix:/a", "-b", "h:1"]), "bind", "cli --bind", "listed twice"),
    (dict(env={"PORT": "http"}), "bind", "env PORT", "port 'http' is not a number"),
    (dict(argv=["--forwarded-allow-ips", "10.0.0.0/8,nope"]), "forwarded_allow_ips",
     "cli --forwarded-allow-ips", "IP addresses and CIDR networks"),
    (dict(toml='forwarded_allow_ips = "10.0.0.1/8"'), "forwarded_allow_ips", FILE, "host bits set"),
    (dict(argv=["--health-path", "healthz"]), "health_path", "cli --health-path", "starting with '/'"),
    (dict(argv=["--ready-path", "/a b"]), "ready_path", "cli --ready-path", "starting with '/'"),
    (dict(argv=["--access-log-format", "%(h)s %"]), "access_log_format",
     "cli --access-log-format", "%-format string"),
    (dict(toml="error_logfile = false"), "error_logfile", FILE, "'-' for stderr"),
    (dict(argv=["--certfile", "/nonexistent/cert.pem"]), "certfile", "cli --certfile",
     "no such file; expected a path to an existing file"),
    (dict(argv=["--certfile", EXISTING]), "certfile", "cli --certfile",
     "keyfile must be set too"),
    (dict(env={"ZERODEP_KEYFILE": EXISTING}), "keyfile", "env ZERODEP_KEYFILE",
     "certfile must be set too"),
]


@pytest.mark.parametrize("layers, name, source, allowed", BAD,
                         ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_values(tmp_path, layers, name, source, allowed):
    existing = tmp_path / "exists.pem"
    existing.write_text("x")
    if "argv" in layers:
        layers = {**layers, "argv": [str(existing) if a == EXISTING else a for a in layers["argv"]]}
    if "env" in layers:
        layers = {**layers, "env": {k: str(existing) if v == EXISTING else v
                                    for k, v in layers["env"].items()}}
    if source == FILE:
        source = f"file {tmp_path / 'zerodep.toml'}"
    exc = error(tmp_path, **layers)
    assert (exc.setting, exc.source) == (name, source)
    assert allowed in exc.message
    assert str(exc).startswith(f"{name} = ") and f" ({source}): " in str(exc)
    assert "\n" not in str(exc)


def test_error_line_format(tmp_path):
    exc = error(tmp_path, env={"ZERODEP_WORKERS": "abc"})
    assert str(exc) == "workers = 'abc' (env ZERODEP_WORKERS): expected a positive integer"
    assert exc.value == "abc"


def test_list_error_names_the_bad_item(tmp_path):
    exc = error(tmp_path, argv=["-b", "127.0.0.1:80", "-b", "[::1]:99999"])
    assert str(exc).startswith("bind = '[::1]:99999' (cli --bind): port '99999'")


def test_uvloop_needs_the_package(tmp_path):
    if importlib.util.find_spec("uvloop") is not None:
        assert load(tmp_path, argv=["--loop", "uvloop"]).loop == "uvloop"
    else:
        assert "uvloop package is not installed" in error(tmp_path, argv=["--loop", "uvloop"]).message


# --- the TOML file -------------------------------------------------------------

def test_unknown_toml_key_names_key_and_file(tmp_path):
    exc = error(tmp_path, toml="workers = 2\nwrokers = 3\n")
    path = tmp_path / "zerodep.toml"
    assert (exc.setting, exc.source) == ("wrokers", f"file {path}")
    assert str(exc) == f"wrokers (file {path}): unknown setting in {path}; did you mean 'workers'?"


@pytest.mark.parametrize("toml, key", [
    ("[server]\nworkers = 2\n", "server"),
    ('config = "other.toml"\n', "config"),
    ("graceful-timeout = 3\n", "graceful-timeout"),
])
def test_toml_keys_that_are_not_settings(tmp_path, toml, key):
    exc = error(tmp_path, toml=toml)
    assert exc.setting == key and "unknown setting" in exc.message


def test_invalid_toml(tmp_path):
    exc = error(tmp_path, toml="workers = \n")
    path = tmp_path / "zerodep.toml"
    assert (exc.setting, exc.source, exc.value) == ("config", "cli --config", str(path))
    assert exc.message.startswith("invalid TOML: ")


def test_missing_config_file(tmp_path):
    exc = error(tmp_path, argv=["-c", str(tmp_path / "absent.toml")])
    assert str(exc).endswith("(cli --config): cannot read the file: No such file or directory")


# --- the command line -----------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--wrokers", "2"], "unrecognized arguments: --wrokers"),
    (["--work", "2"], "unrecognized arguments: --work"),  # no abbreviations
    (["--workers"], "expected one argument"),
    (["a:b", "c:d"], "unrecognized arguments: c:d"),
])
def test_command_line_syntax_errors(tmp_path, argv, message):
    exc = error(tmp_path, argv=argv)
    assert exc.source == "cli" and exc.setting is None and message in str(exc)


@pytest.mark.parametrize("argv", [["--workers", "abc"], ["--bogus"]])
def test_run_cli_config_bad_value_prints_one_line_and_exits_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        run_cli_config(argv, {})
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")


def test_bad_value_in_a_real_process():
    code = ("from zerodep_http.config import run_cli_config; "
            "run_cli_config(['--workers','abc'], {})")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == "error: workers = 'abc' (cli --workers): expected a positive integer\n"


def test_help_text_renders():
    from zerodep_http.config import build_parser
    text = build_parser().format_help()
    assert "ZERODEP_GRACEFUL_TIMEOUT" in text and "%(h)s" in text


def test_config_has_no_other_attributes(tmp_path):
    with pytest.raises(AttributeError):
        load(tmp_path).no_such_setting  # noqa: B018


# --- docs ------------------------------------------------------------------------

def test_settings_docs_are_in_sync():
    """Regenerate with: python -m zerodep_http.config --markdown > docs/settings.md"""
    assert (ROOT / "docs" / "settings.md").read_text() == render_markdown()


def test_docs_name_every_setting_flag_and_variable():
    text = render_markdown()
    for s in SETTINGS:
        assert f"## {s.name}\n" in text and s.env in text
        assert all(flag in text for flag in s.flags)


def test_markdown_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "zerodep_http.config", "--markdown"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == render_markdown()
