"""The Prometheus text format (version 0.0.4) of the master's metrics."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .metrics import Totals
from .recycling import resident_bytes

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class WorkerInfo:
    pid: int
    generation: int
    state: str


@dataclass
class Supervision:
    """What the master knows beyond the workers' counters."""

    workers: list[WorkerInfo]
    restarts: Mapping[str, int]     # reason -> count
    reloads: Mapping[str, int]      # result -> count


#: Label values that always appear, so that a rate is defined from the first scrape.
RESTART_REASONS = ("crash", "timeout", "boot_timeout", "max_requests", "memory", "lifetime")
RELOAD_RESULTS = ("success", "failure")
WORKER_STATES = ("booting", "serving", "retiring", "hung")


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _labels(pairs: Iterable[tuple[str, object]]) -> str:
    text = ",".join(f'{name}="{value}"' for name, value in pairs)
    return "{" + text + "}" if text else ""


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, labels: Iterable[tuple[str, object]] = ()) -> None:
        self.lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def text(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode()


def render(totals: Totals, buckets: tuple[float, ...], supervision: Supervision) -> bytes:
    out = _Writer()
    prefix = "zerodep_http_"

    name = prefix + "requests_total"
    out.family(name, "counter", "Requests answered, by method and status class.")
    for (method, status), count in totals.requests.items():
        if count:
            out.sample(name, count, (("method", method), ("status", status)))

    name = prefix + "request_duration_seconds"
    out.family(name, "histogram",
               "Time from a request's head being read to its response being written.")
    cumulative = 0
    for bound, count in zip((*buckets, math.inf), totals.bucket_counts):
        cumulative += count
        out.sample(name + "_bucket", cumulative, (("le", _number(float(bound))),))
    out.sample(name + "_sum", totals.duration_sum)
    out.sample(name + "_count", cumulative)

    name = prefix + "requests_in_flight"
    out.family(name, "gauge", "Requests being handled or answered now.")
    out.sample(name, totals.in_flight)

    name = prefix + "open_connections"
    out.family(name, "gauge", "Client connections open now.")
    out.sample(name, totals.connections)

    name = prefix + "response_body_bytes_total"
    out.family(name, "counter", "Bytes of response bodies sent (heads not counted).")
    out.sample(name, totals.body_bytes)

    name = prefix + "worker_restarts_total"
    out.family(name, "counter", "Workers replaced outside a reload, by reason.")
    for reason in sorted({*RESTART_REASONS, *supervision.restarts}):
        out.sample(name, supervision.restarts.get(reason, 0), (("reason", reason),))

    name = prefix + "reloads_total"
    out.family(name, "counter", "Reloads (HUP or --reload), by result.")
    for result in sorted({*RELOAD_RESULTS, *supervision.reloads}):
        out.sample(name, supervision.reloads.get(result, 0), (("result", result),))

    name = prefix + "workers"
    out.family(name, "gauge", "Worker processes, by state.")
    for state in WORKER_STATES:
        out.sample(name, sum(w.state == state for w in supervision.workers), (("state", state),))

    name = prefix + "worker_resident_memory_bytes"
    out.family(name, "gauge", "Resident memory of each worker process.")
    for worker in sorted(supervision.workers, key=lambda w: w.pid):
        rss = resident_bytes(worker.pid)
        if rss is not None:
            out.sample(name, rss, (("pid", worker.pid), ("generation", worker.generation)))
    return out.text()
