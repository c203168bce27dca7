"""The one error type a bad configuration produces, whatever its source."""

from __future__ import annotations

from typing import Any

NO_VALUE: Any = object()


class ConfigError(Exception):
    """A setting could not be accepted.

    `str()` is a single line naming the setting, its value, where it came from
    and what is allowed, e.g.
    ``workers = 'abc' (env ZERODEP_WORKERS): expected a positive integer``;
    the command line prints it after ``error: `` and exits with status 2.
    """

    def __init__(self, message: str, *, setting: str | None = None,
                 source: str = "cli", value: Any = NO_VALUE) -> None:
        # Messages may embed text from elsewhere (OS errors, TOML errors):
        # keep the promise of one line.
        self.message = " ".join(message.split())
        self.setting = setting
        self.source = source
        self.value = value
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.setting is None:
            return f"{self.source}: {self.message}"
        if self.value is NO_VALUE:
            return f"{self.setting} ({self.source}): {self.message}"
        return f"{self.setting} = {self.value!r} ({self.source}): {self.message}"


class Invalid(ValueError):
    """Raised by converters; `value` narrows the error to one item of a list."""

    def __init__(self, detail: str = "", value: Any = NO_VALUE) -> None:
        super().__init__(detail)
        self.value = value
