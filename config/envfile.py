"""Dotenv files (`--env-file`): `KEY=VALUE` lines read into the environment.

The syntax is the common subset of python-dotenv, docker compose and
systemd's `EnvironmentFile=`:

    # a comment, and blank lines, are skipped
    export DATABASE_URL=postgres://db/app   # `export` is allowed; so is this comment
    GREETING='single quotes: taken literally, $HOME and \\n too'
    MOTD="double quotes: \\n \\t \\" \\\\ are escapes; may span lines"
    EMPTY=

Unquoted values end at the end of the line or at a `#` after whitespace,
and lose surrounding whitespace. Nothing is expanded (`$VAR` stays as it
is). A line that is none of these is an `EnvFileError` naming the line.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*")
_EXPORT_ONLY = re.compile(r"[ \t]*export[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]*\Z")
_AFTER_QUOTE = re.compile(r"[ \t]*(?:#.*)?\Z")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


class EnvFileError(ValueError):
    """A line that is not `KEY=VALUE`, a comment or blank; `line` counts from 1."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def read_env_file(path: str) -> dict[str, str]:
    """The variables of one file, later lines winning; OSError if it cannot
    be read, EnvFileError if a line is malformed."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvFileError(data.count(b"\n", 0, exc.start) + 1, "not UTF-8 text") from None
    return parse_env(text)


def parse_env(text: str) -> dict[str, str]:
    """Parse the text of a dotenv file."""
    lines = text.replace("\r\n", "\n").split("\n")
    variables: dict[str, str] = {}
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        index += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if _EXPORT_ONLY.match(line):
            continue  # `export NAME` marks a variable set elsewhere; nothing to read
        match = _NAME.match(line)
        if match is None:
            raise EnvFileError(number, _why_not_a_name(stripped))
        name, rest = match.group(1), line[match.end():]
        if rest[:1] in ("'", '"'):
            value, rest, index = _quoted(rest, lines, index, number)
            if not _AFTER_QUOTE.match(rest):
                raise EnvFileError(index, f"unexpected text after the closing quote: {rest.strip()!r}")
        else:
            value = _unquoted(rest)
        variables[name] = value
    return variables


def _why_not_a_name(line: str) -> str:
    name, equals, _ = line.partition("=")
    if not equals:
        return f"expected KEY=VALUE, got {line[:40]!r}"
    return f"{name.strip()[:40]!r} is not a variable name (letters, digits and _, not first a digit)"


def _unquoted(rest: str) -> str:
    comment = re.search(r"[ \t]#", rest)
    if comment is not None:
        rest = rest[:comment.start()]
    return rest.strip()


def _quoted(rest: str, lines: list[str], index: int, start: int) -> tuple[str, str, int]:
    """The value of a quoted string that may span lines: (value, what
    follows the closing quote, index of the line after it)."""
    quote, text = rest[0], rest[1:]
    out: list[str] = []
    while True:
        position = 0
        while position < len(text):
            char = text[position]
            if char == quote:
                return "".join(out), text[position + 1:], index
            if char == "\\" and quote == '"' and position + 1 < len(text):
                following = text[position + 1]
                out.append(_ESCAPES.get(following, "\\" + following))
                position += 2
                continue
            out.append(char)
            position += 1
        if index >= len(lines):
            kind = "single" if quote == "'" else "double"
            raise EnvFileError(start, f"the {kind} quote opened here is never closed")
        out.append("\n")
        text = lines[index]
        index += 1
