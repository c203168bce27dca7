"""docs/settings.md, generated from the settings table so it cannot drift."""

from __future__ import annotations

from .settings import SETTINGS, Setting

_INTRO = """\
# Settings

<!-- Generated from config/settings.py by `python -m zerodep_http.config --markdown`.
     Edit the table there, then regenerate this file. -->

Every setting can be given in four places; each one overrides the one before:

1. the built-in default,
2. the TOML file named by `-c/--config FILE` (or `ZERODEP_CONFIG`), with the
   setting names as top-level keys,
3. the environment, as `ZERODEP_` + the upper-case name,
4. the command line: `zerodep-http [APP] [options]`.

```toml
# zerodep.toml
app = "myproject.web:app"
bind = ["0.0.0.0:8000", "unix:/run/myproject.sock"]
workers = 4
graceful_timeout = 30
access_logfile = "-"
```

```sh
ZERODEP_WORKERS=8 ZERODEP_BIND='0.0.0.0:8000,[::]:8000' zerodep-http -c zerodep.toml
```

- Booleans are flags on the command line (`--preload`, `--no-preload`); in the
  environment and the file they accept `true`/`false`, `1`/`0`, `yes`/`no`,
  `on`/`off`.
- Lists (`bind`) repeat the flag on the command line, are comma-separated in
  the environment and a list of strings in the file.
- For settings that can be off, an empty string turns them off.
- An unknown key in the file is an error, so are misspelt flags.
- Like gunicorn, `PORT` sets the default bind to `0.0.0.0:$PORT` and
  `WEB_CONCURRENCY` the default number of workers; a value from the file, the
  environment or the command line still wins.

`--check-config` prints every setting as `name = value (source)`, the source
being `default`, `file PATH`, `env NAME` or `cli --flag`, and exits with
status 0. A bad value, from any source, stops the program with status 2 and
one line that names the setting, its value, its source and what is allowed:

```
error: workers = 'abc' (env ZERODEP_WORKERS): expected a positive integer
```
"""


def _cli(setting: Setting) -> str:
    if not setting.flags:
        return "`APP` (positional)"
    metavar = f" {setting.convert.metavar}" if setting.convert.cli != "flag" else ""
    flags = [f"`{flag}{metavar}`" for flag in setting.flags]
    if setting.convert.cli == "flag":
        flags += [f"`--no-{flag[2:]}`" for flag in setting.flags if flag.startswith("--")]
    if setting.convert.cli == "append":
        flags[-1] += " (repeatable)"
    return ", ".join(flags)


def render_markdown() -> str:
    """The full text of docs/settings.md."""
    out = [_INTRO, "## Summary\n",
           "| setting | command line | environment |",
           "|---|---|---|"]
    for s in SETTINGS:
        out.append(f"| [`{s.name}`](#{s.name}) | {_cli(s)} | `{s.env}` |")
    for s in SETTINGS:
        out += [
            f"\n## {s.name}\n",
            s.help + "\n",
            f"- Command line: {_cli(s)}",
            f"- Environment: `{s.env}`",
            f"- TOML: `{s.name}`" if s.in_file else f"- TOML: not allowed ({s.not_in_file})",
            f"- Default: {s.default_text()}",
            f"- Allowed: {s.convert.allowed}",
        ]
    return "\n".join(out) + "\n"
