"""What an application does around serving: startup and shutdown hooks,
and work spawned from requests that outlives them.

Whatever serves the application (`app.run()`, each supervisor worker, the
test client) calls `startup()` before the first request and `cleanup()`
after the last one drained (see `exchange.Lifecycle`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .threadpool import to_thread

log = logging.getLogger("zerodep_http.error")

Hook = Callable[[], Any]


class StartupFailed(Exception):
    """A startup hook raised: the process must not serve."""


class Lifecycle:
    """Startup and shutdown hooks (sync or async, run in order) and the
    tasks spawned while serving."""

    def __init__(self) -> None:
        self.startup_hooks: list[Hook] = []
        self.shutdown_hooks: list[Hook] = []
        self._spawned: set[asyncio.Future[Any]] = set()

    async def startup(self) -> None:
        """Run the startup hooks; the first that raises stops the boot."""
        for hook in self.startup_hooks:
            try:
                await _run(hook)
            except Exception as exc:
                raise StartupFailed(f"startup hook {_name(hook)} failed: "
                                    f"{type(exc).__name__}: {exc}") from exc

    def spawn(self, awaitable: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run `awaitable` beside the requests; `cleanup()` waits for it."""
        task = asyncio.ensure_future(awaitable)
        self._spawned.add(task)
        task.add_done_callback(self._spawned_done)
        return task

    def _spawned_done(self, task: asyncio.Future[Any]) -> None:
        self._spawned.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Error in spawned work %r", task, exc_info=task.exception())

    async def cleanup(self, timeout: float) -> None:
        """Let spawned work finish (up to `timeout` seconds, then cancel
        it), then run the shutdown hooks, each whatever the others did."""
        if self._spawned:
            _, pending = await asyncio.wait(set(self._spawned), timeout=timeout)
            for task in pending:
                log.warning("Cancelling spawned work still running after %.1f s: %r",
                            timeout, task)
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        for hook in self.shutdown_hooks:
            try:
                await _run(hook)
            except Exception:
                log.exception("Error in shutdown hook %s", _name(hook))


async def _run(hook: Hook) -> None:
    result = hook() if inspect.iscoroutinefunction(hook) else await to_thread(hook)
    if inspect.isawaitable(result):
        await result


def _name(hook: Hook) -> str:
    return getattr(hook, "__qualname__", None) or repr(hook)
