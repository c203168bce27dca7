"""Worker lifecycle: crashes, hangs, recycling, boot failures, master death."""

from __future__ import annotations

import collections
import os
import signal

import pytest
from supervisor_support import (  # noqa: F401
    RequestLoop, serve, wait_until, write_app)

from zerodep_http.config import load_config
from zerodep_http.supervisor.master import Master, State, WorkerRecord

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


def test_max_requests_holds_for_a_single_worker(serve, tmp_path):
    """The worker tells the master the moment it reaches --max-requests,
    not a heartbeat later, and serves on until its replacement is ready: a
    client opening a connection per request sees the workers change within
    200 requests and never fails (issue 10)."""
    server = serve(write_app(tmp_path), "-w", "1", "--max-requests", "50", *FAST).ready()
    pids, failures = [], []
    for _ in range(200):
        try:
            status, body, _ = server.get("/pid")
        except OSError as exc:
            failures.append(repr(exc))
            continue
        if status == 200:
            pids.append(body)
        else:
            failures.append(f"status {status}: {body!r}")
    assert failures == []
    assert len(set(pids)) >= 3, f"requests per worker: {collections.Counter(pids)}"
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


# -- when a recycled worker is retired: the master's rule, without processes ------


class SharedOrSlotListeners:
    """Stands in for the master's Listeners: only what reconcile() asks."""

    def __init__(self, reuse_port: bool) -> None:
        self.reuse_port = reuse_port

    def has_slot_sockets(self) -> bool:
        return self.reuse_port

    def keep_slots(self, slots) -> None:
        pass


@pytest.fixture
def master():
    """A Master whose spawn() and retire() only record what they were asked."""
    made: list[Master] = []

    def make(workers: int, reuse_port: bool = False) -> Master:
        config = load_config(["-w", str(workers), *(["--reuse-port"] if reuse_port else [])], {})
        m = Master(config, argv=[], environ={})
        made.append(m)
        m.listeners = SharedOrSlotListeners(reuse_port)
        m.spawned, m.retired = [], []

        def spawn(generation, slot, config, listeners):
            pid = 1000 + len(m.workers)
            m.workers[pid] = WorkerRecord(pid, generation, slot, None, 0.0)
            m.spawned.append(pid)

        def retire(worker, signum=None):
            worker.state = State.RETIRING
            m.retired.append(worker.pid)

        m.spawn, m.retire = spawn, retire
        for _ in range(workers):
            m.reconcile()
        for worker in m.workers.values():
            worker.state = State.SERVING
        m.spawned.clear()
        return m

    yield make
    for m in made:
        m.selector.close()
        os.close(m._wakeup_r)
        os.close(m._wakeup_w)


def recycle(m: Master, pid: int, why: str = "max-requests") -> None:
    m.workers[pid].recycle = why  # what reading its RECYCLE message does
    m.reconcile()


def test_a_recycled_worker_with_a_sibling_is_retired_at_once(master):
    m = master(2)
    recycle(m, 1000)
    assert m.retired == [1000] and len(m.spawned) == 1  # before its replacement serves


def test_a_single_recycled_worker_serves_until_its_replacement_does(master):
    m = master(1)
    recycle(m, 1000)
    [replacement] = m.spawned
    assert m.retired == []
    m.reconcile()
    assert m.retired == []  # still booting
    m.workers[replacement].state = State.SERVING
    m.reconcile()
    assert m.retired == [1000]


def test_two_recycled_workers_wait_for_a_worker_that_stays(master):
    m = master(2)
    m.workers[1000].recycle = m.workers[1001].recycle = "max-requests"
    m.reconcile()
    assert m.retired == [] and len(m.spawned) == 2
    m.workers[m.spawned[0]].state = State.SERVING
    m.reconcile()
    assert sorted(m.retired) == [1000, 1001]


def test_with_reuse_port_only_the_replacement_in_its_slot_takes_over(master):
    m = master(2, reuse_port=True)
    recycle(m, 1000)
    [replacement] = m.spawned
    assert m.retired == []  # the sibling does not serve this worker's socket
    assert m.workers[replacement].slot == m.workers[1000].slot
    m.workers[replacement].state = State.SERVING
    m.reconcile()
    assert m.retired == [1000]


@pytest.mark.parametrize("why", ["memory", "lifetime"])
def test_recycling_by_memory_or_age_waits_for_the_replacement(master, why):
    m = master(2)
    recycle(m, 1000, why)
    [replacement] = m.spawned
    assert m.retired == []
    m.workers[replacement].state = State.SERVING
    m.reconcile()
    assert m.retired == [1000]
