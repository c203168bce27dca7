"""Run a connection's request coroutines eagerly, inside one host task.

Most handlers finish without ever waiting (return a dict, a string): for
them a task per request, its scheduling and its extra trip through the
event loop cost more than the handler itself. Python 3.12's eager tasks
solve this; this module does the same on 3.11. Each coroutine starts at
once, in the caller's stack; only if it suspends is the rest of it handed
to a long-lived task of the connection, which drives it to the end.

While the coroutine runs, eagerly or not, `asyncio.current_task()` is that
host task, so `asyncio.timeout()`, `TaskGroup` and libraries that look for
the current task work as in any task; and every request runs in a context
of its own, so context variables never leak from one request to the next.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import types
from collections.abc import Coroutine, Generator
from typing import Any

#: Python 3.12 has eager tasks of its own (`asyncio.eager_task_factory`,
#: public). On 3.11 this module makes a task current the way they do, with
#: asyncio's private `_enter_task` / `_leave_task` and the `_current_tasks`
#: dict behind `current_task()`: chosen by version, not by whether an
#: import happens to fail, and pinned by tests/test_eager.py.
PUBLIC_EAGER_TASKS = sys.version_info >= (3, 12)
if not PUBLIC_EAGER_TASKS:
    from asyncio.tasks import (  # type: ignore[attr-defined]
        _current_tasks,
        _enter_task,
        _leave_task,
    )
    _current_task = _current_tasks.get

_copy_context = contextvars.copy_context
_Pending = tuple[Generator[Any, Any, None], contextvars.Context, Any]


class EagerRunner:
    """Runs one coroutine at a time for a connection (requests are answered
    in order, so there is never more than one)."""

    __slots__ = ("_loop", "_host", "_pending", "_wakeup", "_closed", "_driver")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._host: asyncio.Task[None] | None = None
        self._pending: _Pending | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._closed = False
        self._driver: Generator[Any, Any, None] | None = None

    def run(self, coro: Coroutine[Any, Any, None]) -> None:
        loop, host = self._loop, self._host
        if PUBLIC_EAGER_TASKS:
            self._host = asyncio.eager_task_factory(loop, coro)  # type: ignore[attr-defined]
            return
        if host is None or host.done():
            host = self._host = loop.create_task(self._serve())
        driver = self._driver
        if driver is None:
            driver = self._driver = _driver()
            driver.send(None)
        context = _copy_context()
        current = _current_task(loop)
        if current is None:  # called from a loop callback: the usual case
            _enter_task(loop, host)
            try:
                yielded = context.run(driver.send, coro)
            except BaseException:
                self._driver = None  # it ended with the coroutine's exception
                raise
            finally:
                _leave_task(loop, host)
        elif current is host:  # from the request before, as it finishes
            try:
                yielded = context.run(driver.send, coro)
            except BaseException:
                self._driver = None
                raise
        else:
            # Called from some other task: no eager start is possible.
            loop.create_task(coro)
            return
        if yielded is _FINISHED:
            return
        # The coroutine waits, inside this driver: the host takes both on.
        self._driver = None
        self._pending = (driver, context, yielded)
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def cancel(self) -> None:
        """Cancel the coroutine in progress, if any, and stop the host."""
        self._closed = True
        if self._host is not None:
            self._host.cancel()

    def close(self) -> None:
        """Stop the host once the coroutine in progress, if any, is done."""
        self._closed = True
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _serve(self) -> None:
        while True:
            if self._pending is None:
                if self._closed:
                    return
                self._wakeup = self._loop.create_future()
                await self._wakeup
                self._wakeup = None
                if self._pending is None:
                    return  # closed while idle
            pending, self._pending = self._pending, None
            await _Resumed(*pending)  # type: ignore[misc]


_FINISHED = object()


@types.coroutine
def _driver() -> Generator[Any, Any, None]:
    """Awaits each coroutine sent into it, in turn.

    `coro.send(None)` on a coroutine that finishes at once raises
    StopIteration, and an exception per request costs more than the rest
    of an eager start; a coroutine awaited here returns into this loop
    instead, which then yields `_FINISHED`. One that waits keeps its
    driver until it ends (see `_Resumed`).
    """
    coro = yield
    while True:
        yield from coro
        coro = yield _FINISHED


class _Resumed:
    """Awaitable that continues a suspended coroutine (in its driver)
    inside the awaiting task, forwarding what the task sends or throws, in
    its own context."""

    __slots__ = ("coro", "context", "yielded")

    def __init__(self, coro: Generator[Any, Any, None], context: contextvars.Context,
                 yielded: Any) -> None:
        self.coro, self.context, self.yielded = coro, context, yielded

    def __await__(self) -> Generator[Any, Any, None]:
        coro, run, yielded = self.coro, self.context.run, self.yielded
        while True:
            try:
                value = yield yielded
            except BaseException as exc:  # noqa: BLE001 - forwarded, not handled
                step, argument = coro.throw, exc
            else:
                step, argument = coro.send, value
            yielded = run(step, argument)
            if yielded is _FINISHED:
                return
