"""Recycling workers by memory and by age, as gunicorn's max-requests does by count.

A worker checks its own resident size on every heartbeat (off the request
path) and asks for a replacement once it is over `--max-worker-memory`; the
master retires a worker that has run `--max-worker-lifetime` (plus its own
jitter). Either way the replacement boots and serves before the old worker
is told to drain, as with max-requests: capacity never drops.
"""

from __future__ import annotations

import os
import random

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MEGABYTE = 1024 * 1024


def resident_bytes(pid: int | str = "self") -> int | None:
    """A process's resident set size, from /proc/PID/statm; None if it is gone."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return None


class MemoryLimit:
    """The worker's side of --max-worker-memory."""

    def __init__(self, megabytes: int) -> None:
        self.limit = megabytes * MEGABYTE

    def exceeded(self) -> bool:
        resident = resident_bytes()
        return resident is not None and resident > self.limit


def lifetime_deadline(started: float, lifetime: float, jitter: float) -> float | None:
    """When a worker started at `started` (monotonic) is due for replacement."""
    if not lifetime:
        return None
    return started + lifetime + random.uniform(0, jitter)
