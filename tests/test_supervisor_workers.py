"""Worker lifecycle: crashes, hangs, recycling, boot failures, master death."""

from __future__ import annotations

import os
import signal

from test_supervisor_support import (  # noqa: F401
    RequestLoop, serve, wait_until, write_app)

FAST = ["--graceful-timeout", "2", "--timeout", "2", "-b", "127.0.0.1:0"]


def test_a_killed_worker_is_replaced(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "2", *FAST).ready()
    before = server.workers()
    os.kill(before[0], signal.SIGKILL)
    server.wait_for(rf"Worker {before[0]} was killed by SIGKILL")
    wait_until(lambda: len(server.workers()) == 2 and before[0] not in server.workers(),
               what="a replacement")
    server.wait_for("Worker .* serving", count=3)
    loop = RequestLoop(server.port)
    loop.start()
    wait_until(lambda: len(loop.bodies) > 20, what="requests")
    loop.stop()
    assert loop.failures == []
    assert server.stop() == 0


def test_a_blocked_worker_is_aborted_and_replaced(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "1", "--timeout", "1", "--graceful-timeout", "2",
                   "-b", "127.0.0.1:0").ready()
    [blocked] = server.workers()
    try:
        server.get("/block", timeout=6)
    except OSError:
        pass  # the connection dies with the worker
    server.wait_for(rf"Worker {blocked} timed out")
    # faulthandler shows where the loop was stuck.
    server.wait_for(r'File ".*webapp.py", line \d+ in block')
    server.wait_for(rf"Worker {blocked} was killed by SIGABRT")
    server.wait_for("Worker .* serving", count=2)
    assert server.get("/version")[1] == "v1"
    assert server.workers() != [blocked]
    assert server.stop() == 0


def test_max_requests_recycles_workers_without_failures(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "1", "--max-requests", "20",
                   "--max-requests-jitter", "5", *FAST).ready()
    loop = RequestLoop(server.port, path="/pid")
    loop.start()
    wait_until(lambda: len(set(loop.bodies)) >= 3, timeout=15, what="two recycles")
    loop.stop()
    assert loop.failures == []
    server.wait_for("reached max-requests; replacing it")
    wait_until(lambda: len(server.workers()) == 1, what="the last recycled worker to exit")
    assert server.stop() == 0


def test_an_app_that_cannot_be_imported_stops_the_master(serve, tmp_path):
    (tmp_path / "broken.py").write_text("import no_such_module_anywhere\n")
    server = serve("broken:app", "-w", "2", *FAST)
    assert server.wait() == 4
    assert "ModuleNotFoundError" in server.stderr
    assert "cannot import the application; stopping" in server.stderr
    # No fork loop: each worker was started once.
    assert server.count("Booting worker") == 2


def test_a_missing_attribute_is_an_import_failure(serve, tmp_path):
    write_app(tmp_path)
    server = serve("webapp:nothing_here", "-w", "1", *FAST)
    assert server.wait() == 4
    assert "module 'webapp' has no attribute 'nothing_here'" in server.stderr


def test_a_crash_loop_stops_the_master(serve, tmp_path):
    (tmp_path / "crashing.py").write_text("import os\nos._exit(7)\n")
    server = serve("crashing:app", "-w", "1", *FAST)
    assert server.wait(20) == 1
    assert "Crash loop: 5 workers died" in server.stderr
    assert server.count("Booting worker") == 5


def test_workers_exit_when_the_master_dies(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "2", *FAST).ready()
    workers = server.workers()
    os.kill(server.pid, signal.SIGKILL)
    server.wait()

    def gone():
        return not any(os.path.exists(f"/proc/{pid}") and _state(pid) != "Z" for pid in workers)
    wait_until(gone, timeout=8, what="the orphaned workers to exit")


def _state(pid: int) -> str:
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return "gone"
    return stat[stat.rindex(")") + 2:].split()[0]


def test_preload_imports_once_in_the_master(serve, tmp_path):
    write_app(tmp_path)
    (tmp_path / "counted.py").write_text(
        "import os\nprint('imported in', os.getpid(), flush=True)\nfrom webapp import app\n")
    server = serve("counted:app", "-w", "2", "--preload", *FAST).ready()
    assert server.count("imported in", stream="stdout") == 1
    assert f"imported in {server.pid}" in server.stdout_lines[0]
    assert server.get("/version")[1] == "v1"
    assert server.stop() == 0


def test_a_reload_that_boots_too_slowly_is_abandoned(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "1", "--boot-timeout", "1", *FAST).ready()
    [old] = server.workers()
    source = (tmp_path / "webapp.py").read_text()
    (tmp_path / "webapp.py").write_text("import time\ntime.sleep(30)\n" + source)
    server.signal(signal.SIGHUP)
    server.wait_for(r"did not start serving within 1\.0 s")
    server.wait_for(r"Reload failed .* generation 1 keeps serving")
    wait_until(lambda: server.workers() == [old], what="the slow new worker to be gone")
    assert server.get("/version")[1] == "v1"
    assert server.stop() == 0
