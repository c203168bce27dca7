"""The application's environment: what the master inherited, plus `--env-file`.

Settings are re-read on HUP against the environment the master started
with, so that a variable an env file set at start is not mistaken for one
the process was given (which would then win over the file for ever), and a
variable removed from a file disappears from the next workers.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping


class AppEnvironment:
    def __init__(self, environ: MutableMapping[str, str]) -> None:
        self.environ = environ
        #: As inherited, before any env file was applied.
        self.inherited: dict[str, str] = dict(environ)
        self._applied: dict[str, str] = {}

    def apply(self, variables: Mapping[str, str]) -> None:
        """Make `environ` the inherited environment plus `variables` (the
        env files' `Config.env_file_vars`)."""
        for name in self._applied.keys() - variables.keys():
            self.environ.pop(name, None)
        self.environ.update(variables)
        self._applied = dict(variables)
