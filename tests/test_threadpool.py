"""The thread hand-off for plain `def` handlers and hooks (`threadpool`):
what `asyncio.to_thread` guarantees, on the project's own pool."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
import time

import pytest

from zerodep_http import App
from zerodep_http.threadpool import ThreadPool, run_in_thread, to_thread

from conftest import WAIT

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def test_the_result_and_the_exception_come_back() -> None:
    async def main():
        assert await to_thread(pow, 2, 10) == 1024
        assert await to_thread(int, "12", base=3) == 5
        with pytest.raises(ZeroDivisionError):
            await to_thread(lambda: 1 / 0)
        with pytest.raises(RuntimeError, match="StopIteration raised in a thread"):
            await asyncio.wait_for(to_thread(next, iter(())), WAIT)
        return await to_thread(threading.current_thread)

    thread = asyncio.run(main())
    assert thread is not threading.current_thread()
    assert thread.name.startswith("zerodep-handler")


def test_the_function_runs_in_a_copy_of_the_callers_context() -> None:
    def inside():
        seen = request_id.get()
        request_id.set("changed in the thread")
        return seen

    async def main():
        request_id.set("abc")
        seen = await to_thread(inside)
        return seen, request_id.get()

    assert asyncio.run(main()) == ("abc", "abc")


def test_a_cancelled_caller_drops_the_result_quietly(caplog) -> None:
    release = threading.Event()
    finished = threading.Event()

    def slow():
        release.wait(WAIT)
        finished.set()
        return "late"

    async def main():
        pool = ThreadPool(1, name="test-pool")
        task = asyncio.create_task(run_in_thread(pool, slow))
        await asyncio.sleep(0)  # submitted
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        assert await asyncio.to_thread(finished.wait, WAIT)
        # The settling callback runs on the loop and finds the future done.
        assert await run_in_thread(pool, lambda: "next") == "next"
        await pool.shutdown(WAIT)

    asyncio.run(main())
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_a_forked_child_gets_threads_of_its_own() -> None:
    """Threads do not survive a fork: a child of a process that already
    ran handlers in threads must start its own, not queue jobs for none."""
    asyncio.run(to_thread(len, "started in the parent"))
    pid = os.fork()
    if pid == 0:  # the child: exits 0 if the job ran
        try:
            os._exit(0 if asyncio.run(asyncio.wait_for(to_thread(len, "abc"), WAIT)) == 3 else 1)
        except BaseException:  # noqa: BLE001 - any failure is a non-zero exit
            os._exit(2)
    deadline = time.monotonic() + 2 * WAIT
    while (waited := os.waitpid(pid, os.WNOHANG)) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the child's job never ran")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(waited[1]) == 0


def test_plain_handlers_block_in_threads_not_the_loop(serve, raw_client) -> None:
    """Two requests to a blocking `def` handler are served at once: each
    waits for the other inside its thread."""
    app = App()
    both_in = threading.Barrier(2, timeout=WAIT)

    @app.get("/wait")
    def wait_for_the_other(request):
        both_in.wait()
        return threading.current_thread().name

    server = serve(app)
    first, second = raw_client(server), raw_client(server)
    first.send_request("GET", "/wait")
    second.send_request("GET", "/wait")
    names = {first.read_response().text, second.read_response().text}
    assert len(names) == 2 and all(name.startswith("zerodep-handler") for name in names)
