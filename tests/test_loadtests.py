"""The locust suites and their runner (`python -m loadtests`), in short runs,
and the pieces of the scripts beside them (the benchmark, the process
helpers) that can be checked without a load run.

Every run starts its own server on 127.0.0.1:0 and writes into its own
tmp_path, so these tests run in parallel with each other and the suite.
locust itself is never imported in the test process: importing it
monkey-patches the whole interpreter (gevent), so it only ever runs in the
runner's subprocess, and the skip below checks that it is installed without
importing it.

No timing is asserted: only exit statuses, failure counts and what the
scenarios report.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import pytest

from conftest import WAIT, wait_for

ROOT = Path(__file__).resolve().parents[1]


def _load_package(name: str, directory: Path):
    """Import the package `directory` under `name` by its path, so that its
    modules import under their real names (loadtests.runner.cli, ...) with
    their relative imports working, as under `python -m loadtests`. Putting
    the repository root on sys.path instead would also make its top-level
    supervisor/ and config/ importable, shadowing zerodep_http's."""
    spec = importlib.util.spec_from_file_location(name, directory / "__init__.py",
                                                  submodule_search_locations=[str(directory)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package     # submodules find their parent here
    spec.loader.exec_module(package)
    return package


_load_package("loadtests", ROOT / "loadtests")
cli = importlib.import_module("loadtests.runner.cli")
processes = importlib.import_module("loadtests.processes")
report = importlib.import_module("loadtests.runner.report")
content = importlib.import_module("loadtests.apps.content")
bench_cli = importlib.import_module("loadtests.benchmark.cli")
bench_checks = importlib.import_module("loadtests.benchmark.checks")
bench_fanout = importlib.import_module("loadtests.benchmark.fanout")
bench_idle = importlib.import_module("loadtests.benchmark.idle")
bench_report = importlib.import_module("loadtests.benchmark.report")
bench_rounds = importlib.import_module("loadtests.benchmark.rounds")
bench_rows = importlib.import_module("loadtests.benchmark.rows")
bench_servers = importlib.import_module("loadtests.benchmark.servers")
bench_wrk = importlib.import_module("loadtests.benchmark.wrk")

needs_locust = pytest.mark.skipif(find_spec("locust") is None,
                                  reason="locust is not installed (pip install -e '.[load]')")


def run_loadtests(tmp_path: Path, *args: str, timeout: float = 60.0) -> tuple[int, str, dict | None]:
    """Run the runner; on a timeout it gets SIGTERM first, so that it stops
    the server and locust it started (they live in process groups of their own)."""
    results = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "loadtests", *args, "--results-dir", str(results)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        pytest.fail(f"python -m loadtests {' '.join(args)} ran longer than {timeout} s:\n{output}")
    summary_path = results / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    return proc.returncode, output, summary


# -- whole runs ------------------------------------------------------------------------


@needs_locust
def test_mixed_profile_through_reloads_has_no_failures(tmp_path):
    code, output, summary = run_loadtests(
        tmp_path, "--profile", "mixed", "--users", "10", "--run-time", "5s",
        "--scenario", "hup", "--interval", "1.5")
    assert code == 0, output
    assert summary["verdict"]["passed"], output
    assert summary["stats"]["requests"] > 0
    assert summary["stats"]["failures"] == 0, output
    hups = [e for e in summary["scenario"]["events"] if e["what"] == "HUP"]
    assert hups and all(e["detail"]["completed"] for e in hups), output
    assert summary["server"]["exit"] == 0
    for name in ("report.html", "locust_stats.csv", "locust_failures.csv", "server.log"):
        assert (tmp_path / "results" / name).exists(), name


@needs_locust
def test_kill9_failures_stay_within_the_connections_the_worker_held(tmp_path):
    code, output, summary = run_loadtests(
        tmp_path, "--profile", "api", "--users", "10", "--run-time", "5s",
        "--scenario", "kill9", "--interval", "2")
    assert code == 0, output
    kills = [e for e in summary["scenario"]["events"] if e["what"] == "kill -9"]
    assert kills, output
    assert all(e["detail"]["replaced_after_s"] is not None for e in kills), output
    allowed = sum(e["detail"]["held_connections"] for e in kills)
    assert summary["scenario"]["allowed_failures"] == allowed
    assert summary["stats"]["failures"] <= allowed, output
    assert "kill -9 worker" in output


@needs_locust
def test_term_lets_requests_in_flight_complete(tmp_path):
    code, output, summary = run_loadtests(
        tmp_path, "--profile", "sse", "--users", "6", "--run-time", "5s",
        "--scenario", "term", "--term-at", "2", "--in-flight", "2")
    assert code == 0, output
    term = summary["scenario"]["term"]
    assert term["in_flight"] == {"streams": 2, "slow_requests": 2}, output
    assert term["completed"] == 4 and not term["failed"], output
    assert term["master_exit"] == 0
    assert term["refused_after_exit"] is True
    assert summary["stats"]["failures"] == 0, output


@needs_locust
def test_wrong_answers_and_missed_thresholds_fail_the_run(tmp_path):
    # The demo app has no /items or /users routes: the api profile's checks
    # must count those 404s as failures, and the run must exit 1.
    code, output, summary = run_loadtests(
        tmp_path, "--app", "zerodep_http.demo:app", "--profile", "api", "--users", "4",
        "--run-time", "2s", "--min-rps", "1e9")
    assert code == 1, output
    assert summary["stats"]["failures"] > 0
    assert any("status 404, expected 200" in f["error"] for f in summary["failures"]), output
    problems = summary["verdict"]["problems"]
    assert any("failed requests" in p for p in problems), problems
    assert any("below --min-rps" in p for p in problems), problems
    assert "FAIL" in output


def test_bad_arguments_exit_2():
    with pytest.raises(SystemExit) as exc:
        cli.parse_args(["--scenario", "term", "--run-time", "4s", "--term-at", "5"])
    assert exc.value.code == 2


# -- pieces of the runner -----------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [("90", 90), ("15s", 15), ("2m", 120), ("1m30s", 90),
                                           ("1h", 3600), ("2.5", 2.5)])
def test_durations_read_like_locusts(text, seconds):
    assert cli.parse_duration(text) == seconds


def test_percentiles_match_locusts_rule():
    # locust.stats.calculate_response_time_percentile: the smallest value
    # with at most int(n * fraction) requests below it.
    histogram = {1: 90, 10: 9, 100: 1}          # 100 requests
    assert report.percentile(histogram, 100, 0.5) == 1
    assert report.percentile(histogram, 100, 0.95) == 10
    assert report.percentile(histogram, 100, 0.98) == 10
    assert report.percentile(histogram, 100, 0.99) == 100
    assert report.percentile({}, 0, 0.99) == 0


def test_failure_reasons_lose_locusts_wrapper():
    assert report.unwrap("CatchResponseError('status 500, expected 200')") == "status 500, expected 200"
    assert report.unwrap('CatchResponseError("a \'quoted\' reason")') == "a 'quoted' reason"
    assert report.unwrap("ConnectionResetError(104)") == "ConnectionResetError(104)"


def test_failures_away_from_kills_are_counted():
    kills = [1000.5]
    assert report.unexplained_failures({1000: 3, 1002: 1}, kills) == 0
    assert report.unexplained_failures({990: 2, 1000: 3}, kills) == 2


def test_held_connections_are_the_tcp_sockets_besides_the_listeners():
    pair = socket.socketpair()
    with socket.create_server(("127.0.0.1", 0)) as listener, pair[0], pair[1]:
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = listener.accept()
            with accepted:
                listeners = {os.fstat(listener.fileno()).st_ino}
                # Both ends live in this process; the listener and the unix
                # socket pair do not count.
                assert processes.held_connections(os.getpid(), listeners) == 2
                assert {os.fstat(s.fileno()).st_ino for s in (client, accepted)} <= \
                    processes.socket_inodes(os.getpid(), (b"TCP",))


def test_children_are_found_from_proc():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        assert child.pid in processes.children_of(os.getpid())
    finally:
        child.stdin.close()
        child.wait(10)


def test_static_content_is_the_same_wherever_it_is_generated(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    content.ensure(str(first))
    content.ensure(str(second))
    content.ensure(str(first))          # idempotent
    for name, size in content.FILES.items():
        data = (first / name).read_bytes()
        assert len(data) == size and data == (second / name).read_bytes() == content.content(name)
        # The same mtime everywhere: every worker serves the same ETag.
        assert (first / name).stat().st_mtime_ns == (second / name).stat().st_mtime_ns


# -- the scripts and their shared process helpers ---------------------------------


@pytest.mark.parametrize("command", [
    ["loadtests/bench.py"], ["loadtests/spread.py"], ["loadtests/reloads.py"],
    ["loadtests/instructions.py"], ["-m", "loadtests.bench"], ["-m", "loadtests.spread"],
    ["loadtests/upload_bench.py"], ["-m", "loadtests.upload_bench"],
])
def test_every_script_runs_by_its_path_and_as_a_module(command):
    proc = subprocess.run([sys.executable, *command, "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage:")


def test_free_port_can_be_bound():
    port = processes.free_port()
    with socket.create_server(("127.0.0.1", port)):
        pass


PARENT_OF_A_SLEEPER = """
import signal, subprocess, sys, time
if sys.argv[1] == "exit-on-term":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
time.sleep(60)
"""


def start_parent_of_a_sleeper(mode: str):
    proc = processes.start([sys.executable, "-c", PARENT_OF_A_SLEEPER, mode], cwd=ROOT)
    wait_for(lambda: len(processes.session_processes(proc.pid)) == 2, message="both processes")
    return proc


def test_stop_ends_the_whole_session_of_a_server():
    proc = start_parent_of_a_sleeper("plain")
    assert processes.stop(proc, WAIT) == -signal.SIGTERM
    assert processes.session_processes(proc.pid) == {}


def test_stop_to_the_leader_alone_kills_what_it_leaves_behind():
    # The leader exits on TERM by itself but never stops its child: the
    # child is SIGKILLed once the time is up, and the leader's status kept.
    proc = start_parent_of_a_sleeper("exit-on-term")
    started = time.monotonic()
    assert processes.stop(proc, 0.5, signal.SIGTERM, leader_only=True) == 0
    assert processes.session_processes(proc.pid) == {}
    assert time.monotonic() - started < WAIT


def test_stop_reports_a_leader_that_had_to_be_killed():
    proc = processes.start([sys.executable, "-c", "import time; time.sleep(60)"], cwd=ROOT)
    assert processes.stop(proc, 0.2, None) is None
    assert proc.returncode == -signal.SIGKILL


def test_pinned_prefixes_taskset_only_when_asked():
    assert processes.pinned(None, ["wrk"]) == ["wrk"]
    assert processes.pinned("1", ["wrk"]) == ["taskset", "-c", "1", "wrk"]


def test_running_on_restores_the_threads_cpus():
    before = os.sched_getaffinity(0)
    cpu = min(before)
    with processes.running_on(str(cpu)):
        assert os.sched_getaffinity(0) == {cpu}
    assert os.sched_getaffinity(0) == before


# -- the benchmark (loadtests/benchmark/) ------------------------------------------

WRK_OUTPUT = """\
Running 2s test @ http://127.0.0.1:40000/hello
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.90ms  210.00us   5.00ms   90.00%
  Latency Distribution
     50%    1.85ms
     75%    1.95ms
     90%    2.10ms
     99%  812.00us
  66962 requests in 2.00s, 8.17MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  33481.00
Transfer/sec:      4.09MB
"""


def test_wrk_output_is_read_into_numbers():
    result = bench_wrk.parse_wrk(WRK_OUTPUT)
    assert result == {"rps": 33481.0, "requests": 66962, "p50_ms": 1.85, "p99_ms": 0.812, "errors": 7}


def test_wrk_runs_each_rows_request():
    config = bench_cli.CONFIGS["1-pinned"]
    rows = bench_rows.ROWS
    hello = bench_wrk.wrk_command(1234, rows["hello"], 3, None, config)
    assert hello[:3] == ["taskset", "-c", "1"] and hello[-1] == "http://127.0.0.1:1234/hello"
    churn = bench_wrk.wrk_command(1234, rows["churn"], 3, None, config)
    assert churn[churn.index("-H") + 1] == "Connection: close"
    assert 'wrk.method = "POST"' in rows["upload"].lua() and "1000000" in rows["upload"].lua()
    assert rows["hello"].lua() is None


def test_rows_are_selected_by_group_or_name_in_table_order():
    select = bench_rows.select
    assert select(None) == list(bench_rows.ROWS)
    assert select("churn,sync") == ["sync-hello", "sync-json", "churn"]
    assert select("sse, hello") == ["hello", "sse"]
    with pytest.raises(ValueError, match="nope"):
        select("plain,nope")


def test_rows_carry_their_unit():
    units = {name: row.unit for name, row in bench_rows.ROWS.items()}
    assert units["hello"] == units["churn"] == "req/s"
    assert units["download"] == units["upload"] == units["static"] == "MB/s"
    assert units["idle"] == "KiB/conn" and units["sse"] == "ms p99"
    assert bench_rows.ROWS["idle"].lower_is_better and not bench_rows.ROWS["static"].lower_is_better


def test_quick_mode_shortens_what_the_options_do_not_set():
    quick = bench_cli.parse_args(["--quick", "--only", "idle,sse", "--sse-streams", "50",
                                  "--configs", "2-workers"])
    assert (quick.duration, quick.rounds, quick.idle_connections, quick.sse_streams) == (2, 1, 1000, 50)
    assert quick.rows == ["idle", "sse"]
    full = bench_cli.parse_args(["--configs", "2-workers"])
    assert (full.duration, full.rounds, full.idle_connections, full.sse_streams) == (10, 3, 10_000, 5_000)
    with pytest.raises(SystemExit):
        bench_cli.parse_args(["--only", "everything"])


def test_every_server_answers_the_plain_rows_and_nginx_only_some():
    for name, server in bench_servers.SERVERS.items():
        assert {"hello"} <= server.rows <= set(bench_rows.ROWS), name
    assert "sync-hello" in bench_servers.SERVERS["gunicorn-gthread"].rows
    assert "sse" not in bench_servers.SERVERS["gunicorn-flask"].rows
    assert bench_servers.SERVERS["nginx"].rows == {"hello", "churn", "static", "idle"}


def test_idle_and_sse_rows_get_a_fresh_server_each():
    assert bench_rounds.batches(["hello", "idle", "static", "sse"]) == [["hello", "static"], ["idle"], ["sse"]]
    assert bench_rounds.batches(["idle"]) == [["idle"]]


def result(value: float, **extra) -> dict:
    return {"value": value, "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0, "worker_mb": 20.0,
            "total_mb": 40.0, **extra}


def test_medians_and_the_table():
    raw = {"1-pinned": {
        "zerodep": {"hello": [result(300.0), result(100.0), result(200.0)], "idle": [result(2.5)]},
        "uvicorn": {"hello": [result(100.0)], "idle": [result(5.0)]},
        "nginx": {"hello": [result(900.0)]},
        "microdot": {"sse": [result(math.nan), result(40.0)]},
        "granian": {"hello": [{"wrong": "WrongAnswer: hello"}]},
    }}
    summary = bench_rounds.summarize(raw)
    hello = summary[("1-pinned", "zerodep", "hello")]
    assert (hello["value"], hello["min"], hello["max"], hello["rounds"]) == (200.0, 100.0, 300.0, 3)
    assert summary[("1-pinned", "microdot", "sse")]["value"] == 40.0
    assert summary[("1-pinned", "granian", "hello")] == {"wrong": "WrongAnswer: hello"}
    args = argparse.Namespace(configs=["1-pinned"], servers=["zerodep", "uvicorn", "nginx", "granian"],
                              rows=["hello", "idle"], idle_connections=10_000, sse_streams=5_000)
    info = {"date": "2026-01-01T00:00:00", "nproc": 2, "cpu": "cpu", "loadavg_at_start": [0.1, 0.2, 0.3],
            "python_zerodep": "3.11", "python_peers": "3.11", "peer_versions": {"uvicorn": "1"},
            "configs": {"1-pinned": "described"}}
    table = bench_report.markdown(summary, args, info, "chart.png")
    assert "| GET /hello | zerodep-http | 200 | req/s | 100–300 | 1.00 | 2.00 | 0 | 20.0 | 40.0 | 2.00 |" in table
    assert "| GET /hello | nginx | 900 | req/s |" in table and table.count("| 9.00 |") == 1
    assert "| idle keep-alive connections | zerodep-http | 2.5 | KiB/conn |" in table
    assert "| idle keep-alive connections | nginx | n/a | KiB/conn |" in table
    assert "| GET /hello | granian + Starlette | wrong answer | req/s |" in table
    assert "![every row, per server](chart.png)" in table


def test_the_chart_has_a_panel_per_unit(tmp_path):
    pytest.importorskip("matplotlib")
    chart = importlib.import_module("loadtests.benchmark.chart")
    assert list(chart.panels(["hello", "download", "churn", "sse"])) == ["req/s", "MB/s", "ms p99"]
    summary = bench_rounds.summarize({"1-pinned": {"zerodep": {"hello": [result(5.0)], "sse": [result(9.0)]}}})
    args = argparse.Namespace(configs=["1-pinned"], servers=["zerodep", "nginx"], rows=["hello", "sse"],
                              rounds=1)
    chart.plot(summary, args, {"nproc": 2, "date": "2026-01-01"}, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")


class Collected:
    def __init__(self) -> None:
        self.events: list[int] = []

    def __call__(self, second: int, arrival: float) -> None:
        self.events.append(second)


@pytest.mark.parametrize("piece", [1, 7, 10_000])
@pytest.mark.parametrize("chunked", [True, False])
def test_sse_streams_are_read_in_any_pieces(piece, chunked):
    async def feed() -> list[int]:
        collected = Collected()
        stream = bench_fanout.SseStream("/sse", collected)
        transport = FakeTransport()
        stream.connection_made(transport)
        assert transport.written.startswith(b"GET /sse HTTP/1.1\r\n")
        events = [b"data: 1700000001\n\n", b": comment\n\n", b"data: 1700000002\n\n"]
        if chunked:
            body = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        else:
            body = b"".join(events)
            head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"
        data = head + body
        for start in range(0, len(data), piece):
            stream.data_received(data[start:start + piece])
        assert stream.opened.done() and stream.opened.exception() is None
        assert transport.closed is chunked
        return collected.events

    assert asyncio.run(feed()) == [1700000001, 1700000002]


class FakeTransport:
    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True


def test_an_sse_answer_other_than_200_fails_the_stream():
    async def feed() -> BaseException | None:
        stream = bench_fanout.SseStream("/sse", Collected())
        stream.connection_made(FakeTransport())
        stream.data_received(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
        return stream.opened.exception()

    assert isinstance(asyncio.run(feed()), ConnectionError)


def test_nearest_rank_percentile():
    values = [float(v) for v in range(1, 101)]
    assert bench_fanout.percentile(values, 0.99) == 99.0
    assert bench_fanout.percentile(values, 0.5) == 50.0
    assert bench_fanout.percentile([7.0], 0.99) == 7.0


@pytest.fixture
def bench_app(tmp_path, monkeypatch):
    """The benchmark's zerodep app, serving its static file from tmp_path."""
    (tmp_path / bench_rows.STATIC_NAME).write_bytes(bench_rows.static_content())
    monkeypatch.setenv("BENCH_STATIC_DIR", str(tmp_path))
    sys.modules.pop("loadtests.apps.benchapp", None)
    return importlib.import_module("loadtests.apps.benchapp").app


def test_the_bench_app_answers_every_row_right(serve, bench_app):
    server = serve(bench_app)
    assert bench_checks.wrong_rows(server.port, list(bench_rows.ROWS)) == {}


def test_a_wrong_answer_is_refused(serve, bench_app):
    server = serve(bench_app)
    wrong = bench_rows.Row("download", "large", "GET /hello as if it were 1 MB", path="/hello")
    with pytest.raises(bench_checks.WrongAnswer, match="download"):
        bench_checks.check_download(server.port, wrong)


def test_idle_connections_are_held_and_counted(serve, bench_app):
    server = serve(bench_app)
    readings = iter([1000, 1000 + 20 * 3])     # KiB before and with the connections

    async def hold() -> dict:
        return await bench_idle.hold_idle(server.port, 20, lambda: next(readings))

    measured = asyncio.run(hold())
    assert measured["held"] == 20 and measured["errors"] == 0
    assert measured["value"] == 3.0


def test_opcodes_counts_a_request_by_function():
    from loadtests import opcodes
    from zerodep_http.demo import app

    counts = opcodes.count(app, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 3)
    assert counts["app.py:handle"] % 3 == 0 and counts["app.py:handle"] > 0
    assert any(name.startswith("parser.py:") for name in counts)
