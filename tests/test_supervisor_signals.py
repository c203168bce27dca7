"""The master's signals, with real processes: TERM, INT, QUIT, HUP, TTIN/TTOU, USR1."""

from __future__ import annotations

import os
import signal
import threading
import time

from supervisor_support import RequestLoop, serve, wait_until, write_app  # noqa: F401

FAST = ["--graceful-timeout", "2", "--timeout", "2", "-b", "127.0.0.1:0"]


def test_worker_count_and_clean_stop(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "3", *FAST).ready()
    assert len(server.workers()) == 3
    status, body, _ = server.get("/version")
    assert (status, body) == (200, "v1")
    assert server.stop() == 0
    assert "Shutdown complete (exit status 0)" in server.stderr


def test_term_to_the_whole_process_group_stops_cleanly(serve, tmp_path):
    """`timeout`, a shell's job control and `docker stop` of a group signal
    every process: the workers get TERM from there and from the master, and
    the second one must not find a half-closed event loop (a traceback
    about the wakeup file descriptor)."""
    server = serve(write_app(tmp_path), "-w", "2", *FAST).ready()
    os.killpg(server.pid, signal.SIGTERM)
    assert server.wait() == 0
    assert "Traceback" not in server.stderr
    assert "Exception ignored" not in server.stderr


def test_term_lets_a_slow_request_finish(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "1", "--timeout", "5",
                   "--graceful-timeout", "5", "-b", "127.0.0.1:0").ready()
    result = {}

    def slow_request():
        result["response"] = server.get("/slow?s=1.5")

    client = threading.Thread(target=slow_request)
    client.start()
    time.sleep(0.4)  # the request is in the app now
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    client.join(10)
    status, body, headers = result["response"]
    assert (status, body) == (200, "slow done")
    assert headers.get("connection") == "close"
    assert server.wait() == 0
    assert time.monotonic() - started < 4


def test_drain_delay_fails_readiness_first(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "1", "--drain-delay", "1", "--ready-path", "/ready",
                   "--health-path", "/health", *FAST).ready()
    assert server.get("/ready")[0] == 200
    server.signal(signal.SIGTERM)
    server.wait_for("readiness fails")
    # Still accepting during the delay, but no longer ready.
    assert server.get("/ready")[0] == 503
    assert server.get("/health")[0] == 200
    assert server.get("/version")[1] == "v1"
    assert server.wait() == 0


def test_second_int_stops_at_once(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "1", "--graceful-timeout", "20",
                   "-b", "127.0.0.1:0").ready()
    client = threading.Thread(target=lambda: _swallow(server.get, "/slow?s=30"), daemon=True)
    client.start()
    time.sleep(0.3)
    started = time.monotonic()
    server.signal(signal.SIGINT)
    server.wait_for("Shutting down gracefully")
    server.signal(signal.SIGINT)
    assert server.wait() == 0
    assert time.monotonic() - started < 5


def test_quit_stops_at_once(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "2", "--graceful-timeout", "20",
                   "-b", "127.0.0.1:0").ready()
    client = threading.Thread(target=lambda: _swallow(server.get, "/slow?s=30"), daemon=True)
    client.start()
    time.sleep(0.3)
    started = time.monotonic()
    server.signal(signal.SIGQUIT)
    assert server.wait() == 0
    assert time.monotonic() - started < 5


def _swallow(function, *args):
    try:
        function(*args)
    except OSError:
        pass


def test_hup_under_load_loses_nothing_and_loads_new_code(serve, tmp_path):
    spec = write_app(tmp_path, "v1")
    server = serve(spec, "-w", "2", *FAST).ready()
    old_workers = set(server.workers())
    loops = [RequestLoop(server.port, keep_alive=True), RequestLoop(server.port, keep_alive=False)]
    for loop in loops:
        loop.start()
    wait_until(lambda: all(loop.bodies for loop in loops), what="requests before the reload")
    write_app(tmp_path, "version-2")
    server.signal(signal.SIGHUP)
    server.wait_for("Reload complete")
    wait_until(lambda: all(loop.bodies[-1] == "version-2" for loop in loops),
               what="the new code to answer")
    wait_until(lambda: not old_workers & set(server.workers()), what="the old workers to exit")
    seen = [len(loop.bodies) for loop in loops]
    wait_until(lambda: all(len(loop.bodies) > n + 10 for loop, n in zip(loops, seen)),
               what="requests after the reload")
    for loop in loops:
        loop.stop()
    assert [loop.failures for loop in loops] == [[], []]
    for loop, n in zip(loops, seen):
        assert loop.bodies[0] == "v1"
        assert set(loop.bodies[n:]) == {"version-2"}
    assert len(server.workers()) == 2
    assert server.stop() == 0


def test_hup_with_broken_code_keeps_the_old_generation(serve, tmp_path):
    spec = write_app(tmp_path, "v1")
    server = serve(spec, "-w", "2", *FAST).ready()
    old_workers = server.workers()
    (tmp_path / "webapp.py").write_text("this is not python (\n")
    loop = RequestLoop(server.port)
    loop.start()
    server.signal(signal.SIGHUP)
    server.wait_for(r"Reload failed .* generation 1 keeps serving")
    assert "SyntaxError" in server.stderr
    time.sleep(0.3)
    loop.stop()
    assert loop.failures == []
    assert set(loop.bodies) == {"v1"}
    assert server.workers() == old_workers
    # A fixed deploy then reloads normally.
    write_app(tmp_path, "v3")
    server.signal(signal.SIGHUP)
    server.wait_for("Reload complete: generation 3")
    wait_until(lambda: not set(old_workers) & set(server.workers()), what="the old workers to exit")
    assert server.get("/version")[1] == "v3"
    assert server.stop() == 0


def test_hup_rereads_the_configuration(serve, tmp_path):
    (tmp_path / "zd.toml").write_text("workers = 1\n")
    server = serve(write_app(tmp_path), "-c", "zd.toml", *FAST).ready()
    assert len(server.workers()) == 1
    (tmp_path / "zd.toml").write_text("workers = 2\n")
    server.signal(signal.SIGHUP)
    server.wait_for("Reload complete: generation 2 serving with 2 workers")
    wait_until(lambda: len(server.workers()) == 2, what="2 workers")
    (tmp_path / "zd.toml").write_text("workers = 'many'\n")
    server.signal(signal.SIGHUP)
    server.wait_for("keeping the current configuration")
    server.wait_for("Reload complete: generation 3 serving with 2 workers")
    assert server.stop() == 0


def test_ttin_and_ttou_change_the_worker_count(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "2", *FAST).ready()
    server.signal(signal.SIGTTIN)
    wait_until(lambda: len(server.workers()) == 3, what="3 workers")
    server.wait_for("Worker .* serving", count=3)
    # One at a time: two identical signals pending at once are delivered once.
    server.signal(signal.SIGTTOU)
    wait_until(lambda: len(server.workers()) == 2, what="2 workers")
    server.signal(signal.SIGTTOU)
    wait_until(lambda: len(server.workers()) == 1, what="1 worker")
    server.signal(signal.SIGTTOU)  # never fewer than one
    time.sleep(0.5)
    assert len(server.workers()) == 1
    assert server.get("/version")[0] == 200
    assert server.stop() == 0


def test_usr1_reopens_the_log_files(serve, tmp_path):
    access, error = tmp_path / "access.log", tmp_path / "error.log"
    server = serve(write_app(tmp_path), "-w", "2", "--access-logfile", str(access),
                   "--error-logfile", str(error), *FAST)
    wait_until(lambda: error.exists() and "Serving with 2 workers" in error.read_text(),
               what="the error log")
    port = int(error.read_text().split("Listening at: http://127.0.0.1:")[1].split()[0])
    _get(port, "/version?before")
    wait_until(lambda: "before" in access.read_text(), what="the first access line")
    access.rename(tmp_path / "access.log.1")
    error.rename(tmp_path / "error.log.1")
    server.signal(signal.SIGUSR1)
    wait_until(lambda: error.exists() and "Reopened the log files" in error.read_text(),
               what="a new error log")
    time.sleep(0.3)  # the workers reopen on their own loops
    for _ in range(4):  # both workers, whichever accepts
        _get(port, "/version?after")
    wait_until(lambda: access.exists() and access.read_text().count("after") == 4,
               what="new access lines in a new file")
    assert "after" not in (tmp_path / "access.log.1").read_text()
    assert server.stop() == 0


def _get(port: int, path: str) -> str:
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    body = conn.getresponse().read().decode()
    conn.close()
    return body
