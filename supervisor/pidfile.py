"""The master's pid file: refuse a live pid, remove only our own."""

from __future__ import annotations

import contextlib
import os


class PidFileError(Exception):
    pass


def _read_pid(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


class PidFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self.pid: int | None = None

    def create(self, pid: int) -> None:
        """Write `pid`, replacing a stale file; refuse one naming a live process."""
        existing = _read_pid(self.path)
        if existing is not None and existing != pid and _alive(existing):
            raise PidFileError(f"pid file {self.path} names process {existing}, which is "
                               f"running: is another zerodep-http using it?")
        temporary = f"{self.path}.{pid}.tmp"
        try:
            with open(temporary, "w") as f:
                f.write(f"{pid}\n")
            os.replace(temporary, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise PidFileError(f"cannot write pid file {self.path}: {exc.strerror}") from None
        self.pid = pid

    def remove(self) -> None:
        """Remove the file if it still holds our pid (another master may own it now)."""
        if self.pid is not None and _read_pid(self.path) == self.pid:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        self.pid = None
