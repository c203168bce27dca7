"""Merge defaults < TOML file < environment < command line into a `Config`.

Every layer yields raw values tagged with their source; conversion and
validation happen once, after merging, so an error always names the setting,
the value and the exact place it came from.

Two settings come first, from the command line or the process environment
only: `chdir` (applied by `run_cli_config` before anything is read) and
`env_file`, whose variables join the environment before `ZERODEP_*`
settings, and the TOML file they may name, are read.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .envfile import EnvFileError, read_env_file
from .errors import NO_VALUE, ConfigError, Invalid
from .settings import BY_NAME, SETTINGS, Setting

Raw = tuple[Any, str]  # (raw value, source)
#: Settings read before the env files are: these never come from one.
_READ_FIRST = ("chdir", "env_file")


class Config:
    """The resolved settings: one attribute per setting, and where each came from."""

    __slots__ = ("_values", "_sources", "check_config", "env_file_vars")

    def __init__(self, values: dict[str, Any], sources: dict[str, str],
                 check_config: bool = False, env_file_vars: dict[str, str] | None = None) -> None:
        self._values = values
        self._sources = sources
        self.check_config = check_config
        #: What the env files add to the environment they were read against.
        self.env_file_vars = env_file_vars or {}

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and name in self._values:
            return self._values[name]
        raise AttributeError(f"no setting named {name!r}")

    def source(self, name: str) -> str:
        """`default`, `file PATH`, `env NAME` or `cli --flag`."""
        return self._sources[name]

    def override(self, values: Mapping[str, Any], source: str) -> Config:
        """These settings, with `values` (say, what the app declares
        itself) taking precedence, recorded as coming from `source`."""
        known = {name: value for name, value in values.items() if name in BY_NAME}
        return Config({**self._values, **known},
                      {**self._sources, **dict.fromkeys(known, source)}, self.check_config)

    def check_config_lines(self) -> list[str]:
        """One `name = value (source)` line per setting, in table order."""
        return [f"{s.name} = {s.convert.show(self._values[s.name])} ({self._sources[s.name]})"
                for s in SETTINGS]

    def __repr__(self) -> str:
        return f"Config({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"


def load_config(argv: Sequence[str] | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Parse argv (default sys.argv[1:]) and environ (default os.environ).

    Raises ConfigError for any bad value; argparse's own --help exits as usual.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    cli = {name: raw for name, raw in vars(args).items() if name in BY_NAME}
    env = {s.name: (environ[s.env], f"env {s.env}") for s in SETTINGS if s.env in environ}
    added, origins = _read_env_files(cli.get("env_file") or env.get("env_file"), environ)
    env.update({s.name: (added[s.env], f"env {s.env} from {origins[s.env]}")
                for s in SETTINGS if s.env in added and s.name not in _READ_FIRST})

    given: dict[str, Raw] = {}
    file_raw = cli.get("config") or env.get("config")
    if file_raw is not None:
        path = _convert(BY_NAME["config"], *file_raw)
        if path is not None:
            given.update(_read_toml(path, file_raw))
    given.update(env)
    given.update(cli)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        raw = given.get(setting.name)
        if raw is None and setting.env_default:
            raw = setting.env_default(environ)
        if raw is None:
            raw = (setting.default_value(), "default")
        values[setting.name] = _convert(setting, *raw)
        sources[setting.name] = raw[1]
    _check_together(values, sources, "certfile", "keyfile")
    if values["reload"] and values["preload"]:
        raise ConfigError("cannot be used with preload (a reload would not re-import the code); "
                          "expected one or the other",
                          setting="reload", source=sources["reload"], value=True)
    return Config(values, sources, check_config=args.check_config, env_file_vars=added)


def _read_env_files(raw: Raw | None, environ: Mapping[str, str]
                    ) -> tuple[dict[str, str], dict[str, str]]:
    """The variables the files add to `environ` (which keeps its own
    values), and the file each came from."""
    if raw is None:
        return {}, {}
    added: dict[str, str] = {}
    origins: dict[str, str] = {}
    for path in _convert(BY_NAME["env_file"], *raw):
        try:
            variables = read_env_file(path)
        except OSError as exc:
            raise ConfigError(f"cannot read the file: {exc.strerror}",
                              setting="env_file", source=raw[1], value=path) from None
        except EnvFileError as exc:
            raise ConfigError(str(exc), setting="env_file", source=raw[1], value=path) from None
        for name, value in variables.items():
            if name not in environ:
                added[name] = value
                origins[name] = path
    return added, origins


def enter_directory(argv: Sequence[str], environ: Mapping[str, str]) -> None:
    """`--chdir DIR` (or ZERODEP_CHDIR): change to DIR before anything else
    is read, so that relative paths are taken from it."""
    setting = BY_NAME["chdir"]
    raw = vars(build_parser().parse_args(argv)).get("chdir")
    if raw is None and setting.env in environ:
        raw = (environ[setting.env], f"env {setting.env}")
    directory = _convert(setting, *raw) if raw is not None else None
    if directory is None:
        return
    try:
        os.chdir(directory)
    except OSError as exc:
        raise ConfigError(f"cannot change to it: {exc.strerror}; expected an existing directory",
                          setting="chdir", source=raw[1], value=directory) from None


def run_cli_config(argv: Sequence[str] | None = None,
                   environ: Mapping[str, str] | None = None,
                   effective: Callable[[Config], Config] | None = None) -> Config:
    """`load_config` for the command line, after `--chdir`: a bad value
    prints one line to stderr and exits 2; --check-config prints the
    settings and exits 0.

    `effective` turns the settings into those that apply in the end (the
    app's own declarations over them) for --check-config to show."""
    argv = sys.argv[1:] if argv is None else list(argv)
    environ = os.environ if environ is None else environ
    try:
        enter_directory(argv, environ)
        config = load_config(argv, environ)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if config.check_config:
        if effective is not None:
            config = effective(config)
        print("\n".join(config.check_config_lines()))
        raise SystemExit(0)
    return config


def _convert(setting: Setting, raw: Any, source: str) -> Any:
    try:
        return setting.convert.convert(raw)
    except ValueError as exc:
        allowed = f"expected {setting.convert.allowed}"
        value = exc.value if isinstance(exc, Invalid) and exc.value is not NO_VALUE else raw
        raise ConfigError(f"{exc}; {allowed}" if str(exc) else allowed,
                          setting=setting.name, source=source, value=value) from None


def _check_together(values: dict[str, Any], sources: dict[str, str], a: str, b: str) -> None:
    for this, other in ((a, b), (b, a)):
        if values[this] is not None and values[other] is None:
            raise ConfigError(f"{other} must be set too; expected {a} and {b} together",
                              setting=this, source=sources[this], value=values[this])


def _read_toml(path: str, file_raw: Raw) -> dict[str, Raw]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror}",
                          setting="config", source=file_raw[1], value=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}",
                          setting="config", source=file_raw[1], value=path) from None
    source = f"file {path}"
    names = [s.name for s in SETTINGS if s.in_file]
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown setting in {path}{hint}", setting=key, source=source)
    return {key: (value, source) for key, value in data.items()}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(message, source="cli")


class _Given(argparse.Action):
    """Record (raw value, "cli --flag") so sources name the flag that was used."""

    def __init__(self, option_strings: list[str], dest: str, *, setting: Setting,
                 **kwargs: Any) -> None:
        self.setting = setting
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        flag = option_string if option_string and option_string.startswith("--") else self.setting.flag
        kind = self.setting.convert.cli
        if kind == "flag":
            values = not option_string.startswith("--no-")
        elif kind == "append":
            previous = getattr(namespace, self.dest, ([], ""))[0]
            values = previous + [values]
        setattr(namespace, self.dest, (values, f"cli {flag}"))


def build_parser() -> argparse.ArgumentParser:
    """The `zerodep-http [APP] [options]` parser, derived from the table."""
    parser = _Parser(
        prog="zerodep-http", allow_abbrev=False,
        description="Serve a zerodep_http App with a preforking supervisor.",
        epilog="Every option can also be set as ZERODEP_<NAME> in the environment "
               "or as <name> in the TOML file; precedence: defaults < file < "
               "environment < command line.")
    for setting in SETTINGS:
        help_text = f"{setting.help} [{setting.env}; default: {setting.default_text()}]"
        # argparse %-formats help; backticks are for the Markdown docs.
        help_text = help_text.replace("%", "%%").replace("`", "")
        if not setting.flags:
            parser.add_argument(setting.name, nargs="?", metavar="APP", help=help_text,
                                action=_Given, setting=setting)
            continue
        flags = list(setting.flags)
        kwargs: dict[str, Any] = {"metavar": setting.convert.metavar}
        if setting.convert.cli == "flag":
            flags += ["--no-" + f[2:] for f in setting.flags if f.startswith("--")]
            kwargs = {"nargs": 0}
        parser.add_argument(*flags, dest=setting.name, help=help_text,
                            action=_Given, setting=setting, **kwargs)
    parser.add_argument("--check-config", action="store_true",
                        help="print every setting with its source, then exit")
    return parser
