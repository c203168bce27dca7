"""Handlers run eagerly, yet as inside a task: current_task(), timeouts,
task groups, context variables and cancellation behave as usual."""

from __future__ import annotations

import asyncio
import contextvars
import sys

import httpx
import pytest

from zerodep_http import App, eager

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


def task_app() -> App:
    app = App()

    @app.get("/task")
    async def task(request):
        # Before any suspension, as libraries that look for the current task do.
        return {"has_task": asyncio.current_task() is not None}

    @app.get("/timeout")
    async def timeout(request):
        try:
            async with asyncio.timeout(0.05):
                await asyncio.sleep(5)
        except TimeoutError:
            return "timed out"
        return "slept"

    @app.get("/group")
    async def group(request):
        async with asyncio.TaskGroup() as tasks:
            first = tasks.create_task(asyncio.sleep(0.01, "a"))
            second = tasks.create_task(asyncio.sleep(0.02, "b"))
        return first.result() + second.result()

    @app.get("/context/<value>")
    async def context(request, value):
        seen = request_id.get()
        request_id.set(value)
        await asyncio.sleep(0)  # the rest runs in the connection's task
        return {"seen": seen, "after": request_id.get()}

    @app.get("/cancelled-wait")
    async def cancelled_wait(request):
        # A wait_for timeout cancels an inner task, not the handler.
        try:
            await asyncio.wait_for(asyncio.sleep(5), 0.05)
        except TimeoutError:
            return "inner cancelled"
        return "slept"

    return app


def test_handlers_see_a_current_task_and_can_time_out(serve):
    server = serve(task_app())
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(2):  # also on a kept-alive connection
            assert client.get("/task").json() == {"has_task": True}
            assert client.get("/timeout").text == "timed out"
            assert client.get("/group").text == "ab"
            assert client.get("/cancelled-wait").text == "inner cancelled"


def test_context_variables_do_not_leak_between_requests(serve):
    server = serve(task_app())
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/context/one").json() == {"seen": "unset", "after": "one"}
        assert client.get("/context/two").json() == {"seen": "unset", "after": "two"}


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12 has public eager tasks")
def test_the_private_task_hooks_this_python_takes():
    """On 3.11 the runner makes its host task current as eager tasks do:
    through asyncio's private hooks, which must still work as assumed."""
    assert not eager.PUBLIC_EAGER_TASKS

    async def scenario():
        loop = asyncio.get_running_loop()
        host = loop.create_task(asyncio.sleep(0))
        outside = asyncio.current_task()
        eager._leave_task(loop, outside)
        try:
            assert eager._current_task(loop) is None
            eager._enter_task(loop, host)
            assert asyncio.current_task() is host is eager._current_task(loop)
            eager._leave_task(loop, host)
        finally:
            eager._enter_task(loop, outside)
        await host

    asyncio.run(scenario())


@pytest.mark.skipif(sys.version_info < (3, 12), reason="3.11 uses the private hooks")
def test_the_public_eager_tasks_this_python_has():
    assert eager.PUBLIC_EAGER_TASKS and callable(asyncio.eager_task_factory)


def test_the_runner_goes_on_after_a_coroutine_that_raised() -> None:
    """An exception out of an eager start reaches the caller, and the
    runner's next coroutine starts as the first did."""
    events: list[str] = []

    async def fails():
        raise KeyError("at once")

    async def finishes(name):
        events.append(name)

    def on_loop(runner, coro):  # as the connection calls it
        try:
            runner.run(coro)
        except KeyError as exc:
            events.append(f"raised {exc}")

    async def main():
        loop = asyncio.get_running_loop()
        runner = eager.EagerRunner(loop)
        for coro in (finishes("first"), fails(), finishes("second")):
            loop.call_soon(on_loop, runner, coro)
            await asyncio.sleep(0)
        runner.close()

    asyncio.run(main())
    assert events == ["first", "raised 'at once'", "second"]


def test_a_coroutine_that_waits_finishes_in_the_host_and_starts_the_next() -> None:
    """A coroutine that suspends goes on in the host task; when it starts
    the next one as it finishes (a pipelined request), that one starts
    eagerly there, while the first is still being driven; and the runner
    starts more after both."""
    events: list[str] = []
    state: dict = {}

    async def then(name):
        events.append(f"{name} in the host: {asyncio.current_task() is state['host']}")

    async def first(gate):
        events.append("first starts")
        await gate
        events.append("first resumes")
        state["runner"].run(then("second"))
        events.append("first ends")

    async def main():
        loop = asyncio.get_running_loop()
        runner = state["runner"] = eager.EagerRunner(loop)
        gate = loop.create_future()
        loop.call_soon(runner.run, first(gate))
        await asyncio.sleep(0)
        state["host"] = runner._host
        assert events == ["first starts"]
        gate.set_result(None)
        for _ in range(5):
            await asyncio.sleep(0)
        loop.call_soon(runner.run, then("third"))
        await asyncio.sleep(0)
        runner.close()
        await state["host"]

    asyncio.run(main())
    assert events == ["first starts", "first resumes", "second in the host: True", "first ends",
                      "third in the host: True"]
