"""systemd and containers: sd_notify on a real datagram socket, PID 1 in a new PID namespace."""

from __future__ import annotations

import os
import signal
import time

import pytest
from supervisor_support import (  # noqa: F401
    PYTHON,
    NotifyListener,
    children,
    clean_env,
    serve,
    unshare_works,
    wait_until,
    write_app,
    zombies,
)

FAST = ["--graceful-timeout", "2", "--timeout", "2", "-b", "127.0.0.1:0"]


def test_notify_socket_messages(serve, tmp_path):
    listener = NotifyListener()
    try:
        server = serve(write_app(tmp_path), "-w", "2", *FAST,
                       env=clean_env(NOTIFY_SOCKET=listener.name))
        ready = listener.wait_for("READY", "1")
        assert ready["STATUS"] == "2 of 2 workers serving (generation 1)"
        server.signal(signal.SIGHUP)
        reloading = listener.wait_for("RELOADING", "1")
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        assert 0 < now - int(reloading["MONOTONIC_USEC"]) < 10_000_000
        ready = listener.wait_for("READY", "1")
        assert ready["STATUS"].endswith("(generation 2)")
        server.signal(signal.SIGTTIN)
        assert listener.wait_for("STATUS", "3 of 3 workers serving (generation 2)")
        server.signal(signal.SIGTERM)
        listener.wait_for("STOPPING", "1")
        assert server.wait() == 0
    finally:
        listener.close()


def test_watchdog_pings(serve, tmp_path):
    listener = NotifyListener()
    try:
        server = serve(write_app(tmp_path), "-w", "1", *FAST,
                       env=clean_env(NOTIFY_SOCKET=listener.name, WATCHDOG_USEC="400000"))
        listener.wait_for("READY", "1")
        started = time.monotonic()
        listener.wait_for("WATCHDOG", "1")
        listener.wait_for("WATCHDOG", "1")
        assert time.monotonic() - started < 2
        assert server.stop() == 0
    finally:
        listener.close()


@pytest.mark.skipif(not unshare_works(), reason="unshare --pid is not permitted here")
def test_as_pid_1_it_reaps_orphans_and_stops_on_term(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "2", *FAST,
                   command=["unshare", "--pid", "--fork", "--mount-proc", PYTHON, "-m",
                            "zerodep_http"]).ready()
    assert server.wait_for(r"Listening at: \S+ \((\d+)\)").group(1) == "1"
    [master] = wait_until(lambda: children(server.pid), what="the namespace's init")
    assert len(children(master)) == 2
    for _ in range(3):  # each leaves a process for PID 1 to reap
        assert server.get("/orphan")[0] == 200
    time.sleep(1.0)  # the orphans' sleep 0.3 ends; PID 1 must reap them
    assert zombies(master) == []
    os.kill(master, signal.SIGTERM)  # what docker stop does
    assert server.wait() == 0
    assert "Shutdown complete (exit status 0)" in server.stderr
