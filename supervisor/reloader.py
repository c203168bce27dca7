"""`--reload`: notice edits to the application's source files by polling.

Stat polling rather than inotify: it needs nothing outside the stdlib and
works on every file system (network mounts and container bind mounts
included). A scan stats every watched file, so its cost grows with the
tree: scans are spaced so that they take at most `CPU_BUDGET` of the
master's time (every `POLL_INTERVAL` for a tree of up to a couple of
thousand files; loadtests/reloader_cpu.py measures it). The master asks
`Reloader.poll` every time round its loop; a change is acted on once the
tree has been quiet for `DEBOUNCE` seconds, so that an editor's
write-then-rename or a `git checkout` of many files becomes one reload,
not several.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

#: How often the tree is scanned, at most.
POLL_INTERVAL = 0.5
#: The share of the master's time scans may take; a big tree is scanned less often.
CPU_BUDGET = 0.02
#: How long the tree must stay unchanged before a reload starts.
DEBOUNCE = 0.25
#: A tree that keeps changing still reloads after this long.
MAX_DELAY = 2.0
#: Always watched, besides the --reload-include patterns.
DEFAULT_PATTERNS = ("*.py",)
#: Directories never descended into (besides hidden ones, whose name starts with a dot).
IGNORED_DIRECTORIES = frozenset({".venv", "__pycache__", "site-packages"})


class Stamp(NamedTuple):
    mtime_ns: int
    size: int


def app_roots(app_spec: str, default_spec: str) -> list[str]:
    """Where the application's source lives, found without importing it: the
    directory of its top-level package, or the directory holding its module
    (the project's root, usually)."""
    top = (app_spec or default_spec).partition(":")[0].split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return [os.path.abspath(path) for path in spec.submodule_search_locations]
    if spec.origin and os.path.isfile(spec.origin):
        return [os.path.dirname(os.path.abspath(spec.origin))]
    return []


class SourceTree:
    """The files under some directories that match some glob patterns, and
    their modification stamps."""

    def __init__(self, roots: Iterable[str], patterns: Sequence[str] = ()) -> None:
        self.roots = sorted({os.path.abspath(root) for root in roots})
        patterns = [*DEFAULT_PATTERNS, *patterns]
        by_name = [p for p in patterns if "/" not in p]
        by_path = [p for p in patterns if "/" in p]
        # One regex per kind: a file costs one match, however many patterns.
        self._name = re.compile("|".join(map(fnmatch.translate, by_name))) if by_name else None
        self._path = re.compile("|".join(map(fnmatch.translate, by_path))) if by_path else None

    def scan(self) -> dict[str, Stamp]:
        stamps: dict[str, Stamp] = {}
        for root in self.roots:
            self._scan(root, root, stamps)
        return stamps

    def _scan(self, root: str, directory: str, stamps: dict[str, Stamp]) -> None:
        try:
            entries = os.scandir(directory)
        except OSError:  # removed meanwhile, or not readable
            return
        subdirectories = []
        with entries:
            for entry in entries:
                name = entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if not name.startswith(".") and name not in IGNORED_DIRECTORIES:
                            subdirectories.append(entry.path)
                        continue
                    if not self._matches(root, entry.path, name):
                        continue
                    stat = entry.stat()
                except OSError:  # gone between listing and stat
                    continue
                stamps[entry.path] = Stamp(stat.st_mtime_ns, stat.st_size)
        for path in subdirectories:
            self._scan(root, path, stamps)

    def _matches(self, root: str, path: str, name: str) -> bool:
        if self._name is not None and self._name.match(name):
            return True
        return self._path is not None and self._path.match(os.path.relpath(path, root)) is not None


def changed_files(before: dict[str, Stamp], after: dict[str, Stamp]) -> list[str]:
    """Files added, removed or modified, sorted."""
    if before == after:
        return []
    return sorted(path for path in before.keys() | after.keys()
                  if before.get(path) != after.get(path))


def forget_bytecode(paths: Iterable[str]) -> None:
    """Remove the cached bytecode of edited modules. A .pyc is checked
    against its source's size and modification time in whole seconds: an
    edit that keeps the size within the same second would otherwise import
    the old code."""
    for path in paths:
        if path.endswith(".py"):
            try:
                os.unlink(importlib.util.cache_from_source(path))
            except (OSError, ValueError, NotImplementedError):
                pass


class Reloader:
    """Polls a `SourceTree` and says when a reload is due, and why."""

    def __init__(self, tree: SourceTree, clock: Callable[[], float] = time.monotonic,
                 cpu_clock: Callable[[], float] = time.process_time) -> None:
        self.tree = tree
        self.clock = clock
        self.cpu_clock = cpu_clock
        self.interval = POLL_INTERVAL
        self.stamps = self._scan()
        self.next_scan = clock() + self.interval
        self._pending: set[str] = set()   # changed, waiting for the tree to settle
        self._first_change = 0.0

    @property
    def watched(self) -> int:
        return len(self.stamps)

    def poll(self) -> list[str]:
        """The files that changed, once a reload is due; else an empty list."""
        now = self.clock()
        if now < self.next_scan:
            return []
        stamps = self._scan()
        changed = changed_files(self.stamps, stamps)
        self.stamps = stamps
        if changed:
            if not self._pending:
                self._first_change = now
            self._pending.update(changed)
        if self._pending and (not changed or now - self._first_change >= MAX_DELAY):
            due, self._pending = sorted(self._pending), set()
            self.next_scan = self.clock() + self.interval
            return due
        # Look again soon while changes are settling.
        self.next_scan = self.clock() + (DEBOUNCE if self._pending else self.interval)
        return []

    def _scan(self) -> dict[str, Stamp]:
        started = self.cpu_clock()  # the master's own CPU time: it has one thread
        stamps = self.tree.scan()
        self.interval = max(POLL_INTERVAL, (self.cpu_clock() - started) / CPU_BUDGET)
        return stamps
