"""Threads that run blocking application code (WSGI) beside the event loop.

Smaller than `concurrent.futures.ThreadPoolExecutor` on purpose: a job is
a plain callable that reports its own result to the loop, so submitting
one is one put on a C queue, with no future to create and chain.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable

log = logging.getLogger("zerodep_http.error")

Job = Callable[[], None]


class ThreadPool:
    """`size` threads, started on the first job (in the process that
    serves: threads do not survive a fork)."""

    def __init__(self, size: int, name: str = "zerodep-worker") -> None:
        if size < 1:
            raise ValueError(f"a thread pool needs at least one thread, not {size}")
        self.size = size
        self.name = name
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def submit(self, job: Job) -> None:
        if not self._threads:
            self._start()
        self._jobs.put(job)

    def _start(self) -> None:
        for number in range(self.size):
            thread = threading.Thread(target=self._work, name=f"{self.name}-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        get = self._jobs.get
        while (job := get()) is not None:
            try:
                job()
            except BaseException:  # noqa: BLE001 - a job reports its own errors; this is a bug
                log.exception("Error in a thread pool job")

    async def shutdown(self, timeout: float) -> None:
        """Let the jobs already submitted finish, up to `timeout` seconds;
        threads still busy then are left behind (they are daemons)."""
        threads, self._threads = self._threads, []
        for _ in threads:
            self._jobs.put(None)
        deadline = time.monotonic() + timeout
        while any(thread.is_alive() for thread in threads):
            if time.monotonic() >= deadline:
                busy = sum(thread.is_alive() for thread in threads)
                log.warning("%d thread(s) still busy after %.1f s; leaving them", busy, timeout)
                return
            await asyncio.sleep(0.01)
