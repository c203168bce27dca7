"""Threads that run blocking application code (WSGI, plain `def`
handlers) beside the event loop.

Smaller than `concurrent.futures.ThreadPoolExecutor` on purpose: a job is
a plain callable that reports its own result to the loop, so submitting
one is one put on a C queue, with no future to create and chain (the
executor's futures, conditions and semaphores are Python code, and cost
more than the handler they run).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

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


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if not future.done():  # the caller may have been cancelled meanwhile
        if error is None:
            future.set_result(result)
        elif isinstance(error, StopIteration):  # a future refuses one (PEP 479)
            future.set_exception(RuntimeError(f"{type(error).__name__} raised in a thread"))
        else:
            future.set_exception(error)


async def run_in_thread(pool: ThreadPool, function: Callable[..., Any], /,
                        *args: Any, **kwargs: Any) -> Any:
    """`await asyncio.to_thread(function, ...)`, on `pool`: the function runs
    in a copy of the caller's context, and its result or exception comes
    back through one `call_soon_threadsafe`."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    context = contextvars.copy_context()

    def job() -> None:
        try:
            result = context.run(function, *args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            loop.call_soon_threadsafe(_settle, future, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, result, None)

    pool.submit(job)
    return await future


class _HandlerThreads:
    """The process's pool for plain `def` handlers and hooks, as many
    threads as asyncio's default executor has; a forked child starts a
    pool of its own (threads do not survive a fork)."""

    pool: ThreadPool | None = None

    @classmethod
    def get(cls) -> ThreadPool:
        if cls.pool is None:
            cls.pool = ThreadPool(min(32, (os.cpu_count() or 1) + 4), name="zerodep-handler")
        return cls.pool

    @classmethod
    def forget(cls) -> None:
        cls.pool = None


os.register_at_fork(after_in_child=_HandlerThreads.forget)


async def to_thread(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """`asyncio.to_thread`, on the process's handler pool."""
    return await run_in_thread(_HandlerThreads.get(), function, *args, **kwargs)
