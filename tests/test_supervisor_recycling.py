"""Recycling by memory and by age, with real workers: the replacement serves
before the old worker drains, so a client looping meanwhile sees no failure."""

from __future__ import annotations

import http.client

from test_metrics import scrape, value
from supervisor_support import RequestLoop, serve, wait_until, write_app  # noqa: F401

FAST = ["--graceful-timeout", "2", "--timeout", "2", "-b", "127.0.0.1:0",
        "--metrics-bind", "127.0.0.1:0"]

GROWING_APP = '''
import os
from zerodep_http import App

app = App()
kept = []

@app.get("/pid")
async def pid(request):
    return str(os.getpid())

@app.get("/grow")
async def grow(request):
    kept.append(b"x" * (64 * 1024 * 1024))  # written, so resident
    return str(os.getpid())
'''


def get(port: int, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def test_a_worker_over_the_memory_limit_is_replaced(serve, tmp_path):
    (tmp_path / "growing.py").write_text(GROWING_APP)
    server = serve("growing:app", "-w", "2", "--max-worker-memory", "60", *FAST).ready()
    loop = RequestLoop(server.port, path="/pid")
    loop.start()
    wait_until(lambda: len(loop.bodies) > 10, what="requests")
    grown = int(get(server.port, "/grow"))
    server.wait_for(rf"Worker {grown} uses \d+ MB, over --max-worker-memory 60 MB; replacing it")
    server.wait_for(rf"Retiring worker {grown} \(memory\)")
    server.wait_for(rf"Worker {grown} exited with status 0")
    answered = len(loop.bodies)
    wait_until(lambda: len(loop.bodies) > answered + 20, what="requests after the recycle")
    loop.stop()
    assert loop.failures == []
    assert str(grown) not in loop.bodies[answered:]
    assert len(server.workers()) == 2
    assert value(scrape(server), "zerodep_http_worker_restarts_total", reason="memory") == 1
    assert server.stop() == 0


def test_workers_are_replaced_after_their_lifetime(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "2", "--max-worker-lifetime", "1",
                   "--max-worker-lifetime-jitter", "0.5", *FAST).ready()
    first = set(server.workers())
    loop = RequestLoop(server.port, path="/pid")
    loop.start()
    # The client's connection moves on each time its worker retires.
    wait_until(lambda: len(set(loop.bodies)) >= 3, timeout=20, what="a third worker answering")
    wait_until(lambda: not first & set(server.workers()), what="the first workers to be gone")
    loop.stop()
    assert loop.failures == []
    server.wait_for(r"has run for \d+ s \(--max-worker-lifetime\); replacing it", count=2)
    server.wait_for(r"Retiring worker \d+ \(lifetime\)", count=2)
    assert value(scrape(server), "zerodep_http_worker_restarts_total", reason="lifetime") >= 2
    assert server.stop() == 0
