"""Workers sharing a listening socket even out their connections."""

from __future__ import annotations

import http.client
import signal

import pytest
from supervisor_support import RequestLoop, serve, wait_until, write_app  # noqa: F401

from zerodep_http.supervisor import balance
from zerodep_http.supervisor.balance import ConnectionTable

FAST = ("--graceful-timeout", "2")


def test_a_worker_holds_back_while_it_has_two_more_than_a_sibling():
    table = ConnectionTable()
    a, b = table.claim(), table.claim()
    b.update(3)
    assert a.may_accept(0)
    assert b.may_accept(1) is True           # 1 <= 0 + 1
    assert b.may_accept(2) is False          # 2 > 0 + 1: a should take it
    a.update(1)
    assert b.may_accept(2) is True


def test_a_worker_that_stopped_accepting_does_not_count():
    table = ConnectionTable()
    a, b = table.claim(), table.claim()
    a.update(10)
    b.update(0)
    assert a.may_accept(10) is False
    b.leave()
    b.update(0)                              # after leave(), nothing is published
    assert a.may_accept(10) is True


def test_released_entries_are_reused():
    table = ConnectionTable()
    a, b = table.claim(), table.claim()
    table.release(a)
    c = table.claim()
    assert c.index == a.index and b.index != c.index
    assert table.counts[0] == 2              # entries in use


def test_patience_with_a_stuck_sibling(monkeypatch):
    """A sibling that does not take connections costs latency, never service."""
    now = [100.0]
    monkeypatch.setattr(balance.time, "monotonic", lambda: now[0])
    table = ConnectionTable()
    a, stuck = table.claim(), table.claim()
    stuck.update(0)
    assert a.may_accept(5) is False
    now[0] += balance.PATIENCE + 0.001
    assert a.may_accept(5) is True           # waited long enough: take it
    assert a.may_accept(6) is True           # and the rest of the burst
    now[0] += balance.PATIENCE
    assert a.may_accept(7) is False          # then give the sibling another chance


def test_capacity():
    table = ConnectionTable()
    entries = [table.claim() for _ in range(balance.CAPACITY)]
    assert all(entries)
    assert table.claim() is None


def _start(serve, tmp_path, workers: int = 2):
    return serve(write_app(tmp_path), "-w", str(workers), "--no-reuse-port",
                 "-b", "127.0.0.1:0", *FAST).ready()


def _open_served(port: int, count: int) -> tuple[list[http.client.HTTPConnection], list[str]]:
    conns, pids = [], []
    for _ in range(count):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/pid")
        pids.append(conn.getresponse().read().decode())
        conns.append(conn)
    return conns, pids


@pytest.mark.parametrize("workers", [2, 3])
def test_shared_socket_spreads_connections(serve, tmp_path, workers):
    server = _start(serve, tmp_path, workers)
    assert "shared sockets" in server.stderr
    conns, pids = _open_served(server.port, 6 * workers)
    try:
        held = [pids.count(str(pid)) for pid in server.workers()]
        # Each worker holds back while it has two more than another; a worker
        # slow to wake (a loaded machine) may cost one or two more.
        assert sum(held) == 6 * workers and min(held) >= 3, held
    finally:
        for conn in conns:
            conn.close()
    assert server.stop() == 0


def test_new_worker_takes_new_connections_first(serve, tmp_path):
    """A worker added by TTIN has no connections: it gets the next ones."""
    server = _start(serve, tmp_path)
    conns, _ = _open_served(server.port, 8)
    try:
        old = set(map(str, server.workers()))
        server.signal(signal.SIGTTIN)
        new = server.wait_for(r"Worker (\d+) serving", count=3, timeout=15).group(1)
        assert new not in old
        # The old workers hold back for it; on a loaded machine one of them
        # may run out of patience (50 ms) before the new one wakes.
        more, pids = _open_served(server.port, 6)
        conns += more
        assert pids.count(new) >= 2, (pids, new)
    finally:
        for conn in conns:
            conn.close()
    assert server.stop() == 0


def test_reload_under_load_on_a_shared_socket(serve, tmp_path):
    """New connections during reloads: none lost while old workers hand over."""
    server = _start(serve, tmp_path)
    loops = [RequestLoop(server.port, "/pid", keep_alive=False) for _ in range(3)]
    for loop in loops:
        loop.start()
    for reload in range(1, 4):
        server.signal(signal.SIGHUP)
        server.wait_for("Reload complete", count=reload, timeout=30)
    marks = sum(len(loop.bodies) for loop in loops)
    wait_until(lambda: sum(len(loop.bodies) for loop in loops) > marks + 30, what="requests")
    for loop in loops:
        loop.stop()
    assert [failure for loop in loops for failure in loop.failures] == []
    assert server.stop() == 0
