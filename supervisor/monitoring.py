"""What the master counts about its workers, and serves with `--metrics-bind`.

Restarts and reloads are counted whether or not metrics are served (it
costs a dictionary entry); the shared request counters and the listener
exist only with `--metrics-bind`, so that without it a request pays nothing.
"""

from __future__ import annotations

import collections
import selectors
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from .exposition import Supervision, WorkerInfo, render
from .metrics import MetricsTable, WorkerMetrics
from .metrics_server import MetricsServer

if TYPE_CHECKING:
    from zerodep_http.config import Config


class MasterMetrics:
    def __init__(self, config: Config) -> None:
        self.restarts: collections.Counter[str] = collections.Counter()
        self.reloads: collections.Counter[str] = collections.Counter()
        self.bind = config.metrics_bind
        self.buckets: tuple[float, ...] = config.metrics_buckets
        self.table = MetricsTable(self.buckets) if self.bind is not None else None
        self.server: MetricsServer | None = None
        self._workers: Callable[[], list[WorkerInfo]] = list

    def listen(self, selector: selectors.BaseSelector,
               workers: Callable[[], list[WorkerInfo]]) -> str | None:
        """Open the listener, if metrics are on; its URL. BindError if it cannot."""
        if self.bind is None:
            return None
        self._workers = workers
        self.server = MetricsServer(self.bind.host, self.bind.port, selector, self.render)
        return self.server.url()

    def claim(self) -> WorkerMetrics | None:
        """A slot for a worker about to be forked (None when metrics are off)."""
        return self.table.claim() if self.table is not None else None

    def release(self, metrics: WorkerMetrics | None) -> None:
        """The worker owning this slot was reaped: its counts are final."""
        if metrics is not None and self.table is not None:
            self.table.release(metrics)

    def restart(self, reason: str) -> None:
        self.restarts[reason] += 1

    def reload(self, result: str) -> None:
        self.reloads[result] += 1

    def render(self) -> bytes:
        return render(self.table.totals(), self.buckets,
                      Supervision(self._workers(), self.restarts, self.reloads))

    def sockets(self) -> list[socket.socket]:
        """What a forked worker must close."""
        return self.server.sockets() if self.server is not None else []

    def tick(self) -> None:
        if self.server is not None:
            self.server.expire()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
