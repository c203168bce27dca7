"""The two configurations: how many workers each server gets and where
server and wrk may run."""

from __future__ import annotations

import argparse
import dataclasses

from .wrk import CONNECTIONS


@dataclasses.dataclass(frozen=True)
class Config:
    """How many workers each server gets and where server and wrk may run."""

    name: str
    title: str
    workers: int
    server_cpus: str | None  # taskset CPU list for the server, None = unpinned
    wrk_cpus: str | None
    wrk_threads: int

    def describe(self, args: argparse.Namespace) -> str:
        where = (f"server on CPU {self.server_cpus} (taskset), wrk on CPU {self.wrk_cpus}"
                 if self.server_cpus else "server and wrk unpinned, sharing every CPU")
        return (f"{self.workers} worker(s); {where}; wrk -t{self.wrk_threads} -c{CONNECTIONS} "
                f"-d{args.duration}s --latency after a {args.warmup}s warmup; "
                f"{args.rounds} interleaved round(s); idle: {args.idle_connections} connections; "
                f"SSE: {args.sse_streams} streams for {args.duration} events")


CONFIGS = {
    "1-pinned": Config("1-pinned", "1 worker pinned to CPU 0, wrk -t1 on CPU 1",
                       workers=1, server_cpus="0", wrk_cpus="1", wrk_threads=1),
    "2-workers": Config("2-workers", "2 workers, nothing pinned, wrk -t2 on the same CPUs",
                        workers=2, server_cpus=None, wrk_cpus=None, wrk_threads=2),
}
