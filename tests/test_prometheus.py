"""A real Prometheus scrapes `--metrics-bind` while requests are made and the
server reloads; the values are read back through Prometheus's query API.

Prometheus (Debian's package, installed by .ci/run) runs on loopback with a
temporary configuration and data directory, scraping every second.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from supervisor_support import RequestLoop, serve, wait_until, write_app  # noqa: F401

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None,
                                reason="prometheus not installed (.ci/run installs it)")

FAST = ["--graceful-timeout", "2", "--timeout", "2", "-b", "127.0.0.1:0"]
CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: zerodep
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Prometheus:
    def __init__(self, tmp_path, target_port: int) -> None:
        config = tmp_path / "prometheus.yml"
        config.write_text(CONFIG.format(port=target_port))
        self.log = open(tmp_path / "prometheus.log", "wb")
        for _ in range(3):  # the port may be taken between choosing and binding it
            self.port = free_port()
            self.proc = subprocess.Popen(
                ["prometheus", f"--config.file={config}",
                 f"--storage.tsdb.path={tmp_path / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                wait_until(self._ready, timeout=30, interval=0.2, what="prometheus to be ready")
                return
            except AssertionError:
                self.stop()
        raise AssertionError("prometheus did not start: "
                             + (tmp_path / "prometheus.log").read_text()[-2000:])

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("prometheus exited")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def api(self, path: str, **params: object) -> list[dict]:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.load(response)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def scalar(self, query: str) -> float | None:
        """The value of a query with one result (None when it has none yet)."""
        result = self.api("query", query=query)
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def prometheus(tmp_path):
    started = []

    def start(target_port: int) -> Prometheus:
        instance = Prometheus(tmp_path, target_port)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.stop()
        instance.log.close()


def test_prometheus_sees_every_request_and_no_reset_across_a_reload(serve, tmp_path, prometheus):
    server = serve(write_app(tmp_path), "-w", "2", "--metrics-bind", "127.0.0.1:0", *FAST).ready()
    metrics_port = int(server.wait_for(r"Metrics at: http://127\.0\.0\.1:(\d+)/metrics").group(1))
    prom = prometheus(metrics_port)
    wait_until(lambda: prom.scalar('up{job="zerodep"}') == 1, timeout=20, interval=0.5,
               what="a successful scrape")

    # The requests made are the requests Prometheus sees.
    for _ in range(50):
        assert server.get("/version")[0] == 200
    wait_until(lambda: prom.scalar("sum(zerodep_http_requests_total)") == 50, timeout=20,
               interval=0.5, what="50 requests in Prometheus")

    # Requests keep coming while the whole generation is replaced.
    loop = RequestLoop(server.port)
    loop.start()
    time.sleep(3)  # scrapes before the reload: the rate needs them
    reloaded_at = time.time()
    server.signal(signal.SIGHUP)
    server.wait_for("Reload complete: generation 2")
    time.sleep(4)  # and after it
    loop.stop()
    assert loop.failures == []
    made = 50 + len(loop.bodies)
    wait_until(lambda: prom.scalar("sum(zerodep_http_requests_total)") == made, timeout=20,
               interval=0.5, what=f"{made} requests in Prometheus")

    # No counter went back: Prometheus counts no reset in any series.
    for query in ("sum(resets(zerodep_http_requests_total[5m]))",
                  "sum(resets(zerodep_http_request_duration_seconds_count[5m]))",
                  "sum(resets(zerodep_http_response_body_bytes_total[5m]))"):
        assert prom.scalar(query) == 0, query
    # The rate stays up through the reload.
    rates = prom.api("query_range", query="sum(rate(zerodep_http_requests_total[5s]))",
                     start=reloaded_at - 1, end=reloaded_at + 2, step=1)
    values = [float(v) for _, v in rates[0]["values"]]
    assert values and min(values) > 0, values
    assert prom.scalar('zerodep_http_reloads_total{result="success"}') == 1
    assert prom.scalar('zerodep_http_workers{state="serving"}') == 2
    assert server.stop() == 0
