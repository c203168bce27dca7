"""The locust suites and their runner (`python -m loadtests`), in short runs.

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

import importlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

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
