"""Settings of the operations options: env files, chdir, root path, reload,
metrics and recycling; and the dotenv parser itself."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from zerodep_http.config import Bind, ConfigError, load_config, run_cli_config
from zerodep_http.config.envfile import EnvFileError, parse_env

# --- the dotenv parser ---------------------------------------------------------------


def test_plain_lines_comments_blanks_and_export():
    text = textwrap.dedent("""\
        # a comment
        PLAIN=value

        export EXPORTED=yes
          INDENTED = spaced out   
        EMPTY=
        WITH_COMMENT=value # trailing comment
        HASH_INSIDE=a#b
        URL=postgres://user:pa=ss@db/app
        """)
    assert parse_env(text) == {
        "PLAIN": "value", "EXPORTED": "yes", "INDENTED": "spaced out", "EMPTY": "",
        "WITH_COMMENT": "value", "HASH_INSIDE": "a#b", "URL": "postgres://user:pa=ss@db/app"}


def test_quotes():
    text = textwrap.dedent("""\
        SINGLE='literal $HOME \\n # not a comment'
        DOUBLE="tab\\there \\"quoted\\" back\\\\slash \\$x"
        SPACES="  kept  "
        AFTER='x'   # a comment after the quote
        UNKNOWN_ESCAPE="\\q"
        """)
    assert parse_env(text) == {
        "SINGLE": "literal $HOME \\n # not a comment",
        "DOUBLE": 'tab\there "quoted" back\\slash $x',
        "SPACES": "  kept  ", "AFTER": "x", "UNKNOWN_ESCAPE": "\\q"}


def test_quoted_values_may_span_lines():
    text = 'KEY="-----BEGIN-----\nline\n-----END-----"\nNEXT=1\nRAW=\'a\nb\'\n'
    assert parse_env(text) == {"KEY": "-----BEGIN-----\nline\n-----END-----", "NEXT": "1",
                               "RAW": "a\nb"}


def test_later_lines_win_and_crlf_is_accepted():
    assert parse_env("A=1\r\nA=2\r\nexport B\r\n") == {"A": "2"}


@pytest.mark.parametrize("text, line, reason", [
    ("A=1\njust words\n", 2, "expected KEY=VALUE"),
    ("A=1\n\n1ABC=x\n", 3, "is not a variable name"),
    ("MY-VAR=x\n", 1, "is not a variable name"),
    ("A='unterminated\nB=2\n", 1, "single quote opened here is never closed"),
    ('A="unterminated\n', 1, "double quote opened here is never closed"),
    ("A=1\nB='x' y\n", 2, "unexpected text after the closing quote"),
    ('A="multi\nline" junk\n', 2, "unexpected text after the closing quote"),
    ("=value\n", 1, "is not a variable name"),
])
def test_malformed_lines_name_the_line(text, line, reason):
    with pytest.raises(EnvFileError) as info:
        parse_env(text)
    assert info.value.line == line
    assert reason in str(info.value) and str(info.value).startswith(f"line {line}: ")


# --- env files in the settings -------------------------------------------------------


def test_env_file_sets_zerodep_settings_and_variables(tmp_path):
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    first.write_text("ZERODEP_WORKERS=3\nDATABASE_URL=postgres://a\nSHARED=first\n")
    second.write_text("ZERODEP_MAX_REQUESTS=7\nSHARED=second\n")
    config = load_config(["--env-file", str(first), "--env-file", str(second)], {})
    assert config.workers == 3 and config.max_requests == 7
    assert config.source("workers") == f"env ZERODEP_WORKERS from {first}"
    assert config.env_file_vars == {"ZERODEP_WORKERS": "3", "DATABASE_URL": "postgres://a",
                                    "SHARED": "second", "ZERODEP_MAX_REQUESTS": "7"}
    assert config.env_file == [str(first), str(second)]


def test_the_process_environment_wins_over_env_files(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("ZERODEP_WORKERS=3\nTOKEN=from-file\nOTHER=x\n")
    config = load_config(["--env-file", str(env_file)],
                         {"ZERODEP_WORKERS": "5", "TOKEN": "from-process"})
    assert (config.workers, config.source("workers")) == (5, "env ZERODEP_WORKERS")
    assert config.env_file_vars == {"OTHER": "x"}
    # The command line still wins over both.
    assert load_config(["--env-file", str(env_file), "-w", "2"], {}).workers == 2


def test_env_file_may_name_the_config_file(tmp_path):
    (tmp_path / "zd.toml").write_text("backlog = 12\n")
    (tmp_path / ".env").write_text(f"ZERODEP_CONFIG={tmp_path / 'zd.toml'}\n")
    config = load_config([], {"ZERODEP_ENV_FILE": str(tmp_path / ".env")})
    assert config.backlog == 12
    assert config.source("env_file") == "env ZERODEP_ENV_FILE"


def test_env_file_cannot_name_env_files_or_chdir(tmp_path):
    (tmp_path / ".env").write_text("ZERODEP_ENV_FILE=/elsewhere\nZERODEP_CHDIR=/elsewhere\n")
    config = load_config(["--env-file", str(tmp_path / ".env")], {})
    assert (config.env_file, config.chdir) == ([str(tmp_path / ".env")], None)


def test_a_malformed_env_file_names_file_and_line(tmp_path):
    env_file = tmp_path / "bad.env"
    env_file.write_text("A=1\n# fine\nnot a line\n")
    with pytest.raises(ConfigError) as info:
        load_config(["--env-file", str(env_file)], {})
    assert str(info.value) == (f"env_file = '{env_file}' (cli --env-file): line 3: "
                               "expected KEY=VALUE, got 'not a line'")


def test_a_missing_env_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(["--env-file", str(tmp_path / "absent.env")], {})
    assert "no such file" in str(info.value) and info.value.setting == "env_file"


def test_a_malformed_env_file_exits_2_in_a_real_process(tmp_path):
    (tmp_path / ".env").write_text("GOOD=1\nexport\n")
    proc = subprocess.run([sys.executable, "-m", "zerodep_http", "--env-file", ".env",
                           "--check-config"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == ("error: env_file = '.env' (cli --env-file): line 2: "
                           "expected KEY=VALUE, got 'export'\n")


def test_env_file_and_chdir_are_not_allowed_in_the_toml_file(tmp_path):
    for key in ("env_file", "chdir"):
        (tmp_path / "zd.toml").write_text(f'{key} = "x"\n')
        with pytest.raises(ConfigError) as info:
            load_config(["-c", str(tmp_path / "zd.toml")], {})
        assert info.value.setting == key and "unknown setting" in info.value.message


# --- chdir ---------------------------------------------------------------------------


def test_chdir_makes_relative_paths_relative_to_it(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "zd.toml").write_text("workers = 2\n")
    (project / ".env").write_text("ZERODEP_BACKLOG=77\n")
    code = ("import os; from zerodep_http.config import run_cli_config; "
            "c = run_cli_config(['--chdir', 'project', '-c', 'zd.toml', '--env-file', '.env'], {}); "
            "print(os.getcwd(), c.workers, c.backlog)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(project), "2", "77"]


def test_chdir_to_a_missing_directory_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "zerodep_http", "--chdir", "nowhere"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == ("error: chdir = 'nowhere' (cli --chdir): cannot change to it: "
                           "No such file or directory; expected an existing directory\n")


def test_chdir_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    config = run_cli_config([], {"ZERODEP_CHDIR": "sub"})
    assert os.getcwd() == str(tmp_path / "sub")
    assert (config.chdir, config.source("chdir")) == ("sub", "env ZERODEP_CHDIR")


# --- the other new settings ----------------------------------------------------------

NEW_DEFAULTS = {
    "chdir": None, "env_file": [], "root_path": None, "reload": False, "reload_dir": [],
    "reload_include": [], "metrics_bind": None, "max_worker_memory": 0,
    "max_worker_lifetime": 0.0, "max_worker_lifetime_jitter": 0.0,
    "metrics_buckets": (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0),
}


def test_new_defaults():
    config = load_config([], {})
    for name, value in NEW_DEFAULTS.items():
        assert getattr(config, name) == value, name


def test_new_settings_from_each_layer(tmp_path):
    (tmp_path / "zd.toml").write_text(textwrap.dedent("""\
        root_path = "/api"
        metrics_bind = "127.0.0.1:9100"
        metrics_buckets = [0.01, 0.1, 1]
        reload_include = ["*.html", "templates/*"]
        max_worker_memory = 512
        """))
    config = load_config(
        ["-c", str(tmp_path / "zd.toml"), "--reload", "--reload-dir", str(tmp_path),
         "--max-worker-lifetime", "3600"],
        {"ZERODEP_MAX_WORKER_LIFETIME_JITTER": "60"})
    assert config.root_path == "/api"
    assert config.metrics_bind == Bind("tcp", host="127.0.0.1", port=9100)
    assert config.metrics_buckets == (0.01, 0.1, 1.0)
    assert config.reload_include == ["*.html", "templates/*"]
    assert config.reload and config.reload_dir == [str(tmp_path)]
    assert (config.max_worker_memory, config.max_worker_lifetime,
            config.max_worker_lifetime_jitter) == (512, 3600.0, 60.0)
    lines = config.check_config_lines()
    assert "metrics_bind = '127.0.0.1:9100' (file " + str(tmp_path / "zd.toml") + ")" in lines
    assert "metrics_buckets = '0.01,0.1,1.0' (file " + str(tmp_path / "zd.toml") + ")" in lines
    assert "max_worker_lifetime_jitter = 60.0 (env ZERODEP_MAX_WORKER_LIFETIME_JITTER)" in lines


@pytest.mark.parametrize("argv, setting, message", [
    (["--root-path", "api"], "root_path", "starting with '/'"),
    (["--root-path", "/api/"], "root_path", "not ending with '/'"),
    (["--root-path", "/"], "root_path", "not ending with '/'"),
    (["--root-path", "/a b"], "root_path", "starting with '/'"),
    (["--metrics-bind", "9100"], "metrics_bind", "missing :PORT"),
    (["--metrics-bind", "unix:/tmp/m.sock"], "metrics_bind", "not a TCP address"),
    (["--metrics-buckets", "0.1,0.01"], "metrics_buckets", "not increasing"),
    (["--metrics-buckets", "0,1"], "metrics_buckets", "increasing numbers of seconds > 0"),
    (["--metrics-buckets", "fast"], "metrics_buckets", "comma-separated"),
    (["--metrics-buckets", ""], "metrics_buckets", "comma-separated"),
    (["--max-worker-memory", "-5"], "max_worker_memory", "megabytes"),
    (["--max-worker-lifetime", "soon"], "max_worker_lifetime", "seconds >= 0"),
    (["--reload-dir", "/no/such/dir"], "reload_dir", "no such directory"),
    (["--reload", "--preload"], "reload", "cannot be used with preload"),
])
def test_bad_new_values(argv, setting, message):
    with pytest.raises(ConfigError) as info:
        load_config(argv, {})
    assert info.value.setting == setting
    assert message in str(info.value)


def test_empty_root_path_and_metrics_bind_are_off():
    config = load_config(["--root-path", "", "--metrics-bind", ""], {})
    assert (config.root_path, config.metrics_bind) == (None, None)
