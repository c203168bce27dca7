"""Metrics: the shared table, the exposition (read back with prometheus_client's
own parser), the master's listener, and a real master with workers."""

from __future__ import annotations

import http.client
import os
import re
import selectors
import signal
import socket
import threading
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from supervisor_support import RequestLoop, serve, wait_until, write_app  # noqa: F401
from zerodep_http.supervisor.exposition import Supervision, WorkerInfo, render
from zerodep_http.supervisor.metrics import MetricsTable
from zerodep_http.supervisor.metrics_server import MetricsServer

BUCKETS = (0.01, 0.1, 1.0)


class FakeRequest:
    def __init__(self, method: str) -> None:
        self.method = method


def families(text: str | bytes) -> dict[str, object]:
    if isinstance(text, bytes):
        text = text.decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(text: str | bytes, name: str, **labels: str) -> float:
    """One sample's value, found through prometheus_client's parser."""
    for family in families(text).values():
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"no sample {name}{labels}")


def total(text: str | bytes, name: str) -> float:
    return sum(sample.value for family in families(text).values()
               for sample in family.samples if sample.name == name)


def supervision(**kw) -> Supervision:
    return Supervision(kw.get("workers", []), kw.get("restarts", {}), kw.get("reloads", {}))


# --- the shared table ----------------------------------------------------------------


def test_responses_are_counted_by_method_status_and_duration():
    table = MetricsTable(BUCKETS)
    worker = table.claim()
    worker.response_sent(FakeRequest("GET"), 200, 10, 0.005)
    worker.response_sent(FakeRequest("GET"), 204, 0, 0.05)
    worker.response_sent(FakeRequest("POST"), 503, 5, 0.5)
    worker.response_sent(FakeRequest("BREW"), 418, 1, 5.0)   # any other method is "other"
    worker.response_sent(FakeRequest("GET"), 999, 1, 0.1)    # bounds are inclusive (le)
    assert table.totals().requests[("GET", "2xx")] == 0  # nothing published yet
    worker.publish(in_flight=2, connections=3)
    totals = table.totals()
    assert {k: v for k, v in totals.requests.items() if v} == {
        ("GET", "2xx"): 2, ("POST", "5xx"): 1, ("other", "4xx"): 1, ("GET", "9xx"): 1}
    assert totals.bucket_counts == [1, 2, 1, 1]   # <=0.01, <=0.1, <=1, +Inf
    assert totals.duration_sum == pytest.approx(5.655)
    assert (totals.body_bytes, totals.in_flight, totals.connections) == (17, 2, 3)


def test_counters_survive_a_worker_and_its_slot_is_reused():
    table = MetricsTable(BUCKETS, capacity=2)
    first, second = table.claim(), table.claim()
    assert table.claim() is None  # full
    for worker, count in ((first, 3), (second, 4)):
        for _ in range(count):
            worker.response_sent(FakeRequest("GET"), 200, 100, 0.001)
        worker.publish(in_flight=1, connections=1)
    assert table.totals().requests[("GET", "2xx")] == 7
    table.release(first)   # reaped: its counts are kept, its gauges are not
    totals = table.totals()
    assert (totals.requests[("GET", "2xx")], totals.body_bytes) == (7, 700)
    assert (totals.in_flight, totals.connections) == (1, 1)
    third = table.claim()
    assert third.slot == first.slot
    third.publish(in_flight=0, connections=0)  # a fresh slot starts from zero
    third.response_sent(FakeRequest("GET"), 200, 1, 0.001)
    third.publish(in_flight=0, connections=0)
    assert table.totals().requests[("GET", "2xx")] == 8


def test_workers_write_into_memory_the_master_reads_after_fork():
    table = MetricsTable(BUCKETS)
    worker = table.claim()
    pid = os.fork()
    if pid == 0:
        for _ in range(5):
            worker.response_sent(FakeRequest("PUT"), 201, 2, 0.02)
        worker.publish(in_flight=0, connections=0)
        os._exit(0)
    os.waitpid(pid, 0)
    table.release(worker)
    assert table.totals().requests[("PUT", "2xx")] == 5


# --- the exposition ------------------------------------------------------------------


def test_exposition_parses_with_prometheus_client():
    table = MetricsTable(BUCKETS)
    worker = table.claim()
    worker.response_sent(FakeRequest("GET"), 200, 10, 0.005)
    worker.response_sent(FakeRequest("GET"), 404, 3, 0.2)
    worker.publish(in_flight=1, connections=2)
    text = render(table.totals(), BUCKETS, supervision(
        workers=[WorkerInfo(os.getpid(), 3, "serving"), WorkerInfo(2**22 + 7, 3, "booting")],
        restarts={"memory": 2}, reloads={"success": 1}))
    found = families(text)
    assert {name: family.type for name, family in found.items()} == {
        "zerodep_http_requests": "counter",
        "zerodep_http_request_duration_seconds": "histogram",
        "zerodep_http_requests_in_flight": "gauge",
        "zerodep_http_open_connections": "gauge",
        "zerodep_http_response_body_bytes": "counter",
        "zerodep_http_worker_restarts": "counter",
        "zerodep_http_reloads": "counter",
        "zerodep_http_workers": "gauge",
        "zerodep_http_worker_resident_memory_bytes": "gauge",
    }
    assert value(text, "zerodep_http_requests_total", method="GET", status="2xx") == 1
    assert value(text, "zerodep_http_requests_total", method="GET", status="4xx") == 1
    assert value(text, "zerodep_http_request_duration_seconds_bucket", le="0.01") == 1
    assert value(text, "zerodep_http_request_duration_seconds_bucket", le="1.0") == 2
    assert value(text, "zerodep_http_request_duration_seconds_bucket", le="+Inf") == 2
    assert value(text, "zerodep_http_request_duration_seconds_count") == 2
    assert value(text, "zerodep_http_request_duration_seconds_sum") == pytest.approx(0.205)
    assert value(text, "zerodep_http_requests_in_flight") == 1
    assert value(text, "zerodep_http_open_connections") == 2
    assert value(text, "zerodep_http_response_body_bytes_total") == 13
    assert value(text, "zerodep_http_worker_restarts_total", reason="memory") == 2
    assert value(text, "zerodep_http_worker_restarts_total", reason="crash") == 0
    assert value(text, "zerodep_http_reloads_total", result="success") == 1
    assert value(text, "zerodep_http_reloads_total", result="failure") == 0
    assert value(text, "zerodep_http_workers", state="serving") == 1
    assert value(text, "zerodep_http_workers", state="booting") == 1
    # Only processes that exist have a resident size.
    rss = [s for s in found["zerodep_http_worker_resident_memory_bytes"].samples]
    assert [s.labels for s in rss] == [{"pid": str(os.getpid()), "generation": "3"}]
    assert rss[0].value > 1_000_000


# --- the master's listener -----------------------------------------------------------


class Loop(threading.Thread):
    """Drives a selector the way the master's loop does."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.selector = selectors.DefaultSelector()
        self.running = True
        self.lock = threading.Lock()

    def run(self) -> None:
        while self.running:
            with self.lock:
                for key, events in self.selector.select(0.02):
                    key.data(events)

    def stop(self) -> None:
        self.running = False
        self.join(5)


@pytest.fixture
def running():
    """(the listener, the thread that drives its selector)"""
    loop = Loop()
    server = MetricsServer("127.0.0.1", 0, loop.selector, lambda: b"metric_total 1\n")
    loop.start()
    yield server, loop
    loop.stop()
    server.close()


@pytest.fixture
def listener(running):
    return running[0]


def _request(server: MetricsServer, raw: bytes) -> bytes:
    port = server.sock.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


def test_listener_answers_get_metrics(listener):
    conn = http.client.HTTPConnection("127.0.0.1", listener.sock.getsockname()[1], timeout=5)
    conn.request("GET", "/metrics")
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("content-type") == "text/plain; version=0.0.4; charset=utf-8"
    assert response.read() == b"metric_total 1\n"
    conn.close()


@pytest.mark.parametrize("raw, status", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"404"),
    (b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", b"405"),
    (b"GET /metrics HTTP/1.1\r\n\r\n", b"400"),          # no Host
    (b"GET /metrics\x00 HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
])
def test_listener_refuses_what_is_not_a_scrape(listener, raw, status):
    answer = _request(listener, raw)
    assert answer.startswith(b"HTTP/1.1 " + status)
    assert b"connection: close" in answer


def test_listener_drops_clients_that_never_finish(running):
    listener, loop = running
    port = listener.sock.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as slow:
        slow.sendall(b"GET /metr")
        wait_until(lambda: listener.clients, what="the client to be accepted")
        with loop.lock:  # as in the master, expiry and reading take turns
            for client in listener.clients.values():
                client.deadline = 0.0
            listener.expire()
            assert listener.clients == {}
        try:
            assert slow.recv(100) == b""
        except ConnectionResetError:
            pass  # closed before its bytes were read: the kernel resets it
    # Scrapes still work.
    assert _request(listener, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").startswith(
        b"HTTP/1.1 200")


# --- a real master ---------------------------------------------------------------------

FAST = ["--graceful-timeout", "2", "--timeout", "2", "-b", "127.0.0.1:0"]
METRICS_AT = r"Metrics at: http://127\.0\.0\.1:(\d+)/metrics"


def scrape(server) -> str:
    port = int(server.wait_for(METRICS_AT).group(1))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        assert response.status == 200
        return response.read().decode()
    finally:
        conn.close()


def requests_counted(server) -> float:
    return total(scrape(server), "zerodep_http_requests_total")


def test_master_sums_workers_and_keeps_counts_across_reloads(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "2", "--metrics-bind", "127.0.0.1:0",
                   "--max-requests", "15", *FAST).ready()
    for _ in range(10):
        assert server.get("/version")[0] == 200
    server.get("/missing")
    wait_until(lambda: requests_counted(server) == 11, what="11 requests counted")
    text = scrape(server)
    assert value(text, "zerodep_http_requests_total", method="GET", status="4xx") == 1
    assert value(text, "zerodep_http_workers", state="serving") == 2
    assert len(families(text)["zerodep_http_worker_resident_memory_bytes"].samples) == 2
    # A reload replaces every worker; max-requests replaces them again.
    server.signal(signal.SIGHUP)
    server.wait_for("Reload complete")
    seen = [requests_counted(server)]
    loop = RequestLoop(server.port)
    loop.start()
    wait_until(lambda: server.count("reached max-requests") >= 2, timeout=20,
               what="two max-requests recycles")
    while len(seen) < 20:
        seen.append(requests_counted(server))
    loop.stop()
    assert loop.failures == []
    assert seen == sorted(seen), f"a counter went back: {seen}"
    wait_until(lambda: requests_counted(server) == 11 + len(loop.bodies), timeout=10,
               what="every request counted")
    text = scrape(server)
    assert value(text, "zerodep_http_reloads_total", result="success") == 1
    assert value(text, "zerodep_http_worker_restarts_total", reason="max_requests") >= 2
    assert server.stop() == 0


def test_the_metrics_listener_is_the_masters_alone(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "2", "--metrics-bind", "127.0.0.1:0",
                   *FAST).ready()
    port = int(server.wait_for(METRICS_AT).group(1))
    inode = _listening_inode(port)
    assert inode is not None
    assert _holds(server.pid, inode)
    for worker in server.workers():
        assert not _holds(worker, inode), f"worker {worker} holds the metrics socket"
    # The application's port does not serve metrics.
    assert server.get("/metrics")[0] == 404
    assert server.stop() == 0


def test_a_crash_is_counted_as_a_restart(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "1", "--metrics-bind", "127.0.0.1:0",
                   *FAST).ready()
    [worker] = server.workers()
    os.kill(worker, signal.SIGKILL)
    server.wait_for("Worker .* serving", count=2)
    assert value(scrape(server), "zerodep_http_worker_restarts_total", reason="crash") == 1
    assert server.stop() == 0


def test_a_metrics_address_in_use_stops_the_master(serve, tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        server = serve(write_app(tmp_path), "--metrics-bind", f"127.0.0.1:{port}", *FAST)
        assert server.wait() == 1
        assert re.search(r"Metrics: cannot listen on 127\.0\.0\.1:\d+: Address already in use",
                         server.stderr)
    finally:
        taken.close()


def _listening_inode(port: int) -> str | None:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
            return fields[9]
    return None


def _holds(pid: int, inode: str) -> bool:
    target = f"socket:[{inode}]"
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
        except OSError:
            continue
    return False


def test_requests_in_flight_and_open_connections(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "1", "--metrics-bind", "127.0.0.1:0",
                   "--timeout", "5", "--graceful-timeout", "2", "-b", "127.0.0.1:0").ready()
    idle = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    slow = threading.Thread(target=server.get, args=("/slow?s=3",), daemon=True)
    slow.start()
    wait_until(lambda: value(scrape(server), "zerodep_http_requests_in_flight") == 1,
               what="one request in flight")
    assert value(scrape(server), "zerodep_http_open_connections") == 2
    slow.join(10)
    idle.close()
    wait_until(lambda: value(scrape(server), "zerodep_http_open_connections") == 0,
               what="no connection open")
    assert value(scrape(server), "zerodep_http_requests_in_flight") == 0
    assert server.stop() == 0
