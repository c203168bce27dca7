"""Request metrics in memory shared by the master and its workers.

The master maps one table before it forks; each worker owns one slot of
it and is its only writer. A response costs three adds into a list of the
worker's own (no lock, no system call, no message to the master), which
the worker copies into its slot on every heartbeat. The master reads
every slot when it is scraped and adds them up.

Counters never go back: when a worker has exited (and been reaped, so its
counts are final) the master folds its slot's counters into running totals
before the slot is reused. Gauges (requests in flight, open connections,
sampled by each worker as it publishes) are the live slots' sum only.
"""

from __future__ import annotations

import mmap
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zerodep_http.requests import Request

#: Methods counted under their own name; any other is "other", so that a
#: client cannot create series at will.
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other")
#: Status classes 1xx to 9xx (an application may answer any status up to 999).
STATUS_CLASSES = tuple(f"{n}xx" for n in range(1, 10))
#: Slots in the table: workers beyond it are not counted (as many as the
#: shared connection table, which is far more than two generations need).
CAPACITY = 1024


class Layout:
    """Where each number lives in a worker's slot (int64 each).

    A response adds one to a single entry for its method, status class and
    duration bucket together: requests by method and status, and the
    histogram, are both sums of that table, made when the master is scraped.
    """

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.per_class = len(buckets) + 1                   # the last bucket is +Inf
        self.per_method = len(STATUS_CLASSES) * self.per_class
        self.duration_sum_us = len(METHODS) * self.per_method
        self.body_bytes = self.duration_sum_us + 1
        self.counters = self.body_bytes + 1                 # everything before: counters
        self.in_flight = self.counters                      # gauges from here on
        self.connections = self.in_flight + 1
        self.size = self.connections + 1

    def observation(self, method: int, status_class: int, bucket: int) -> int:
        """`status_class` 0 for 1xx ... 8 for 9xx."""
        return method * self.per_method + status_class * self.per_class + bucket


@dataclass
class Totals:
    """Everything summed over the workers, as the exposition needs it."""

    requests: dict[tuple[str, str], int]   # (method, status class) -> count
    bucket_counts: list[int]               # per bucket, not cumulative; last is +Inf
    duration_sum: float                    # seconds
    body_bytes: int
    in_flight: int
    connections: int


class MetricsTable:
    """The master's side: slots for workers, and the counts of those gone."""

    def __init__(self, buckets: tuple[float, ...], capacity: int = CAPACITY) -> None:
        self.layout = Layout(buckets)
        self.capacity = capacity
        self._memory = mmap.mmap(-1, 8 * self.layout.size * capacity)
        self.counts = memoryview(self._memory).cast("q")
        self._claimed: set[int] = set()
        self._retired = [0] * self.layout.counters

    def claim(self) -> WorkerMetrics | None:
        """A zeroed slot for a worker about to be forked; None when full."""
        slot = next((s for s in range(self.capacity) if s not in self._claimed), None)
        if slot is None:
            return None
        self._claimed.add(slot)
        return WorkerMetrics(self.counts, self.layout, slot)

    def release(self, metrics: WorkerMetrics) -> None:
        """Its worker has exited: keep its counts, free its slot."""
        size = self.layout.size
        start = metrics.slot * size
        for index, value in enumerate(self.counts[start:start + self.layout.counters]):
            self._retired[index] += value
        self.counts[start:start + size] = memoryview(array("q", bytes(8 * size)))
        self._claimed.discard(metrics.slot)

    def totals(self) -> Totals:
        layout, counts = self.layout, self.counts
        summed = self._retired + [0] * (layout.size - layout.counters)
        for slot in self._claimed:
            start = slot * layout.size
            for index, value in enumerate(counts[start:start + layout.size]):
                summed[index] += value
        requests = {}
        bucket_counts = [0] * layout.per_class
        for m, method in enumerate(METHODS):
            for c, status in enumerate(STATUS_CLASSES):
                first = layout.observation(m, c, 0)
                per_bucket = summed[first:first + layout.per_class]
                requests[method, status] = sum(per_bucket)
                bucket_counts = [a + b for a, b in zip(bucket_counts, per_bucket)]
        return Totals(
            requests=requests,
            bucket_counts=bucket_counts,
            duration_sum=summed[layout.duration_sum_us] / 1e6,
            body_bytes=summed[layout.body_bytes],
            in_flight=summed[layout.in_flight],
            connections=summed[layout.connections])


class WorkerMetrics:
    """A worker's side: `response_sent` is called with each response (where
    the access log is), and `publish` on every heartbeat.

    A response adds to a list of the worker's own (a list item costs a
    third of a shared-memory one); `publish` copies the list into the
    worker's slot, with the gauges sampled from the server, so the master
    sees counts at most a heartbeat old and, from a worker that exits, all
    of them (it publishes once more after its drain). A worker killed
    outright loses what it counted since its last heartbeat.
    """

    __slots__ = ("slot", "counts", "bounds", "values", "_start", "_by_method", "_other",
                 "_per_class", "_duration_sum", "_body_bytes", "_in_flight", "_connections")

    def __init__(self, counts: memoryview, layout: Layout, slot: int) -> None:
        self.slot = slot
        self.counts = counts
        self.bounds = layout.buckets
        self.values: list[int | float] = [0] * layout.size
        self._start = slot * layout.size
        self._per_class = layout.per_class
        # A method's entry for "0xx": adding status // 100 lands on its class.
        self._by_method = {method: layout.observation(m, 0, 0) // layout.per_class - 1
                           for m, method in enumerate(METHODS)}
        self._other = self._by_method.pop("other")
        self._duration_sum = layout.duration_sum_us  # kept in seconds until published
        self._body_bytes = layout.body_bytes
        self._in_flight = layout.in_flight
        self._connections = layout.connections

    def response_sent(self, request: Request, status: int, size: int, seconds: float) -> None:
        values = self.values
        row = self._by_method.get(request.method, self._other) + status // 100
        values[row * self._per_class + bisect_left(self.bounds, seconds)] += 1
        values[self._duration_sum] += seconds
        values[self._body_bytes] += size

    def publish(self, in_flight: int, connections: int) -> None:
        """Copy the counts and the gauges into shared memory, where the master reads them."""
        values = self.values
        values[self._in_flight] = in_flight
        values[self._connections] = connections
        snapshot = array("q", [int(v) for v in values])
        snapshot[self._duration_sum] = int(values[self._duration_sum] * 1_000_000)
        self.counts[self._start:self._start + len(snapshot)] = memoryview(snapshot)
