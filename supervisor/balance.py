"""Even connection counts across workers that share a listening socket.

Every worker wakes when a connection arrives on a shared socket, and the
first to run would take the whole burst. Instead each worker publishes how
many connections it holds in memory shared with its siblings (mapped by the
master before it forks), and takes a new one only while it holds no more
than the least loaded sibling plus one: so a worker with fewer connections
gets the next one. A worker that has held back for `PATIENCE` seconds with
connections still waiting takes them anyway, so a stuck sibling costs
latency, never a refused connection: it then accepts freely for as long
again before it gives its siblings another chance.
"""

from __future__ import annotations

import mmap
import time

#: Entries in the shared table; a worker beyond them accepts ungated.
CAPACITY = 1024
#: How long a worker leaves waiting connections to its siblings.
PATIENCE = 0.05
_ABSENT = -1


class ConnectionTable:
    """The master's side: one count per live worker, -1 in a free entry or
    where a worker stopped accepting. Entry 0 holds how many entries are
    in use. (Not the workers' socket slots: during a reload two
    generations share those.)"""

    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, 8 * (CAPACITY + 1))
        self.counts = memoryview(self._memory).cast("q")
        for index in range(1, CAPACITY + 1):
            self.counts[index] = _ABSENT
        self.counts[0] = 0
        self._claimed: set[int] = set()

    def claim(self) -> SlotBalance | None:
        """An entry for a worker about to be forked; None when full (that
        worker accepts ungated)."""
        slot = next((s for s in range(CAPACITY) if s not in self._claimed), None)
        if slot is None:
            return None
        self._claimed.add(slot)
        self.counts[slot + 1] = 0
        self.counts[0] = max(self.counts[0], slot + 1)
        return SlotBalance(self.counts, slot)

    def release(self, balance: SlotBalance) -> None:
        """Its worker has exited."""
        self._claimed.discard(balance.index - 1)
        self.counts[balance.index] = _ABSENT


class SlotBalance:
    """A worker's side: publishes its count and gates its accepting."""

    def __init__(self, counts: memoryview, slot: int) -> None:
        self.counts = counts
        self.index = slot + 1
        self._holding_back_since: float | None = None
        self._left = False

    def update(self, connections: int) -> None:
        if not self._left:
            self.counts[self.index] = connections

    def may_accept(self, connections: int) -> bool:
        counts = self.counts
        counts[self.index] = connections
        siblings = [c for c in counts[1:counts[0] + 1] if c != _ABSENT]
        if connections <= min(siblings) + 1:
            self._holding_back_since = None
            return True
        now = time.monotonic()
        since = self._holding_back_since
        if since is None or now - since >= 2 * PATIENCE:
            self._holding_back_since = since = now
        return now - since >= PATIENCE

    def leave(self) -> None:
        """Stop counting in siblings' decisions (this worker stops accepting)."""
        self._left = True
        self.counts[self.index] = _ABSENT
