"""Converters: turn a raw setting value into a typed one, or say why not.

A raw value is a string (environment, command line, or a list of strings for
a repeated flag) or whatever TOML produced (int, float, bool, str, list).
Each converter states what it allows in words (`allowed`) for error messages
and the docs; a `ValueError` it raises may carry a more specific detail.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from .errors import Invalid
from .values import Bind, IPAllowList


class Converter(Protocol):
    allowed: str  # what is allowed, in words: "expected <allowed>"
    metavar: str  # shown in --help and the docs
    cli: ClassVar[str]  # "store" (one value), "flag" (--x/--no-x) or "append" (repeatable)

    def convert(self, raw: Any) -> Any:
        """The typed value; ValueError (or Invalid) if `raw` is not allowed."""

    def show(self, value: Any) -> str:
        """A typed value as --check-config prints it."""


_INT = re.compile(r"[+-]?[0-9]+\Z")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class Integer:
    allowed: str
    minimum: int
    metavar: str = "INT"
    cli: ClassVar[str] = "store"

    def convert(self, raw: Any) -> int:
        if isinstance(raw, str) and _INT.match(raw.strip()):
            raw = int(raw)
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < self.minimum:
            raise Invalid()
        return raw

    show = repr


@dataclass(frozen=True)
class Seconds:
    allowed: str
    positive: bool = False  # False: zero is allowed too
    metavar: str = "SECONDS"
    cli: ClassVar[str] = "store"

    def convert(self, raw: Any) -> float:
        if isinstance(raw, str):
            try:
                raw = float(raw)
            except ValueError:
                raise Invalid() from None
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise Invalid()
        if not math.isfinite(raw) or raw < 0 or (self.positive and raw == 0):
            raise Invalid()
        return float(raw)

    show = repr


@dataclass(frozen=True)
class Flag:
    allowed: str = "true or false (also 1/0, yes/no, on/off)"
    metavar: str = ""
    cli: ClassVar[str] = "flag"

    def convert(self, raw: Any) -> bool:
        if isinstance(raw, bool):
            return raw
        word = raw.strip().lower() if isinstance(raw, str) else None
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise Invalid()

    show = repr


@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]
    allowed: str
    check: Callable[[str], None] | None = None
    metavar: str = ""
    cli: ClassVar[str] = "store"

    def __post_init__(self) -> None:
        if not self.metavar:
            object.__setattr__(self, "metavar", "{" + ",".join(self.choices) + "}")

    def convert(self, raw: Any) -> str:
        word = raw.strip().lower() if isinstance(raw, str) else None
        if word not in self.choices:
            raise Invalid()
        if self.check:
            self.check(word)
        return word

    show = repr


@dataclass(frozen=True)
class Text:
    """A string; `optional` ones read an empty string as "not set" (None)."""

    allowed: str
    check: Callable[[str], None] | None = None
    optional: bool = False
    metavar: str = "TEXT"
    cli: ClassVar[str] = "store"

    def convert(self, raw: Any) -> str | None:
        if self.optional and raw in (None, ""):
            return None
        if not isinstance(raw, str) or not raw:
            raise Invalid()
        if self.check:
            self.check(raw)
        return raw

    show = repr


def _items(raw: Any) -> list[str]:
    """A list from TOML or repeated flags, or a comma-separated string."""
    if isinstance(raw, str):
        return [item.strip() for item in raw.split(",") if item.strip()]
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        return raw
    raise Invalid()


@dataclass(frozen=True)
class BindList:
    allowed: str = "HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N"
    metavar: str = "ADDRESS"
    cli: ClassVar[str] = "append"

    def convert(self, raw: Any) -> list[Bind]:
        items = _items(raw)
        if not items:
            raise Invalid("no address given")
        binds = []
        for item in items:
            try:
                binds.append(Bind.parse(item))
            except ValueError as exc:
                raise Invalid(str(exc), value=item) from None
            if binds.count(binds[-1]) > 1:
                raise Invalid("listed twice", value=item)
        return binds

    @staticmethod
    def show(value: list[Bind]) -> str:
        return repr([str(bind) for bind in value])


@dataclass(frozen=True)
class TextList:
    """Several strings: a repeated flag, a TOML list, or comma-separated."""

    allowed: str
    check: Callable[[str], None] | None = None
    metavar: str = "TEXT"
    cli: ClassVar[str] = "append"

    def convert(self, raw: Any) -> list[str]:
        items = _items(raw)
        for item in items:
            if self.check:
                try:
                    self.check(item)
                except ValueError as exc:
                    raise Invalid(str(exc), value=item) from None
        return items

    show = repr


@dataclass(frozen=True)
class Address:
    """One TCP address, `HOST:PORT` or `[IPv6]:PORT`; empty for none."""

    allowed: str = "HOST:PORT or [IPv6]:PORT, or empty for none"
    metavar: str = "HOST:PORT"
    cli: ClassVar[str] = "store"

    def convert(self, raw: Any) -> Bind | None:
        if raw in (None, ""):
            return None
        if not isinstance(raw, str):
            raise Invalid()
        try:
            bind = Bind.parse(raw.strip())
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        if bind.kind != "tcp":
            raise Invalid("not a TCP address")
        return bind

    @staticmethod
    def show(value: Bind | None) -> str:
        return repr(None if value is None else str(value))


#: More buckets than this make every histogram series heavy to scrape and store.
MAX_BUCKETS = 40


@dataclass(frozen=True)
class Buckets:
    """Histogram bucket bounds in seconds: positive and increasing."""

    allowed: str = (f"up to {MAX_BUCKETS} increasing numbers of seconds > 0, "
                    "comma-separated, e.g. 0.01,0.1,1")
    metavar: str = "SECONDS,..."
    cli: ClassVar[str] = "store"

    def convert(self, raw: Any) -> tuple[float, ...]:
        if isinstance(raw, list) and all(isinstance(item, (int, float)) and not isinstance(
                item, bool) for item in raw):
            items = [float(item) for item in raw]
        else:
            try:
                items = [float(item) for item in _items(raw)]
            except ValueError:
                raise Invalid() from None
        if not items or len(items) > MAX_BUCKETS:
            raise Invalid()
        if not all(math.isfinite(b) and b > 0 for b in items):
            raise Invalid()
        if any(b >= after for b, after in zip(items, items[1:])):
            raise Invalid("not increasing")
        return tuple(items)

    @staticmethod
    def show(value: tuple[float, ...]) -> str:
        return repr(",".join(map(repr, value)))


@dataclass(frozen=True)
class IPList:
    allowed: str = ("'*' or a comma-separated list of IP addresses and CIDR "
                    "networks, e.g. 127.0.0.1,10.0.0.0/8")
    metavar: str = "IPS"
    cli: ClassVar[str] = "store"

    def convert(self, raw: Any) -> IPAllowList:
        items = _items(raw)
        try:
            return IPAllowList.parse(items)
        except ValueError as exc:
            raise Invalid(str(exc)) from None

    @staticmethod
    def show(value: IPAllowList) -> str:
        return repr(str(value))


# Checks used by the settings table.

_APP = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\(\))?\Z", re.ASCII)


def check_app(text: str) -> None:
    if not _APP.match(text):
        raise Invalid()


def check_url_path(text: str) -> None:
    if not text.startswith("/") or any(c in text for c in "?# \t\r\n"):
        raise Invalid()


def check_root_path(text: str) -> None:
    if not text.startswith("/") or text.endswith("/") or any(c in text for c in "?# \t\r\n"):
        raise Invalid()


def check_directory_exists(text: str) -> None:
    if not os.path.isdir(text):
        raise Invalid("no such directory")


def check_file_exists(text: str) -> None:
    if not os.path.isfile(text):
        raise Invalid("no such file")


class _AnyAtom(dict):
    def __missing__(self, key: str) -> str:
        return "-"


def check_log_format(text: str) -> None:
    try:
        text % _AnyAtom()
    except (ValueError, TypeError) as exc:
        raise Invalid(str(exc)) from None


def check_loop(name: str) -> None:
    if name == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise Invalid("the uvloop package is not installed")
