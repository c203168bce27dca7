"""Startup and shutdown hooks, app.state and app.spawn(): under app.run()
and in every worker of the master, with real processes and signals."""

from __future__ import annotations

import asyncio
import json
import signal
import textwrap

import httpx

from zerodep_http import App

from conftest import WAIT
from supervisor_support import RequestLoop, wait_until
from supervisor_support import serve as serve_master  # noqa: F401

FAST = ["--graceful-timeout", "5", "--timeout", "5", "-b", "127.0.0.1:0"]


def test_hooks_run_around_serving_and_state_reaches_handlers(serve):
    events: list[str] = []
    app = App()

    @app.on_startup
    async def open_pool():
        events.append("startup async")
        app.state.pool = "pool"

    @app.on_startup
    def load_settings():  # a plain function runs in a thread
        events.append("startup sync")

    @app.on_shutdown
    async def close_pool():
        events.append("shutdown")

    @app.get("/pool")
    async def pool(request):
        return {"pool": request.app.state.pool, "events": list(events)}

    server = serve(app)
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        assert client.get("/pool").json() == {
            "pool": "pool", "events": ["startup async", "startup sync"]}
    server.stop()
    assert events == ["startup async", "startup sync", "shutdown"]


def test_the_drain_waits_for_spawned_work_and_logs_its_errors(serve, caplog):
    finished: list[str] = []
    app = App()

    @app.post("/later")
    async def later(request):
        async def work():
            await asyncio.sleep(0.3)
            finished.append("work")

        async def broken():
            raise RuntimeError("spawned and broken")

        app.spawn(work())
        app.spawn(broken())
        return "accepted", 202

    @app.on_shutdown
    def after():
        finished.append("shutdown")

    server = serve(app)
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        assert client.post("/later").status_code == 202
    server.stop()
    assert finished == ["work", "shutdown"]
    assert "spawned and broken" in caplog.text


def test_spawned_work_past_the_graceful_timeout_is_cancelled(serve):
    cancelled: list[bool] = []
    app = App()

    @app.get("/forever")
    async def forever(request):
        async def work():
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise
        app.spawn(work())
        return "ok"

    server = serve(app, graceful_timeout=0.2)
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        assert client.get("/forever").text == "ok"
    server.stop()
    assert cancelled == [True]


LIFECYCLE_APP = textwrap.dedent("""
    import json, os
    from pathlib import Path
    from zerodep_http import App

    LOG = Path(__file__).with_name("lifecycle.log")
    app = App()

    @app.on_startup
    async def open_pool():
        if Path(__file__).with_name("fail").exists():
            raise ConnectionRefusedError("the database is down")
        app.state.pid = os.getpid()
        with LOG.open("a") as log:
            log.write(json.dumps(["startup", os.getpid()]) + "\\n")

    @app.on_shutdown
    def close_pool():
        with LOG.open("a") as log:
            log.write(json.dumps(["shutdown", os.getpid()]) + "\\n")

    @app.get("/version")
    async def version(request):
        return str(request.app.state.pid)
""")


def lifecycle_log(tmp_path) -> list[list]:
    path = tmp_path / "lifecycle.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_every_worker_runs_its_hooks(serve_master, tmp_path):
    (tmp_path / "hooked.py").write_text(LIFECYCLE_APP)
    server = serve_master("hooked:app", "-w", "2", *FAST).ready()
    workers = set(server.workers())
    assert {pid for event, pid in lifecycle_log(tmp_path) if event == "startup"} == workers
    assert server.stop() == 0
    assert {pid for event, pid in lifecycle_log(tmp_path) if event == "shutdown"} == workers


def test_a_failing_startup_hook_is_a_failed_boot(serve_master, tmp_path):
    (tmp_path / "hooked.py").write_text(LIFECYCLE_APP)
    (tmp_path / "fail").touch()
    server = serve_master("hooked:app", "-w", "2", *FAST)
    assert server.wait(20) == 3
    line = server.wait_for(r"failed to boot: .*")
    assert "startup hook open_pool failed: ConnectionRefusedError: the database is down" in line.group(0)
    assert "Traceback" not in server.stderr


def test_a_failing_startup_hook_on_hup_keeps_the_old_generation(serve_master, tmp_path):
    (tmp_path / "hooked.py").write_text(LIFECYCLE_APP)
    server = serve_master("hooked:app", "-w", "2", *FAST).ready()
    old_workers = server.workers()
    (tmp_path / "fail").touch()
    loop = RequestLoop(server.port)
    loop.start()
    server.signal(signal.SIGHUP)
    server.wait_for(r"Reload failed .* generation 1 keeps serving")
    loop.stop()
    assert loop.failures == []
    wait_until(lambda: server.workers() == old_workers, what="the failed new workers to be gone")
    (tmp_path / "fail").unlink()
    server.signal(signal.SIGHUP)
    server.wait_for("Reload complete: generation 3")
    wait_until(lambda: not set(old_workers) & set(server.workers()), what="the old workers to exit")
    assert server.stop() == 0
