"""Requests the term scenario holds open across the master's TERM, with
plain http.client: what a drain guarantees is checked outside locust."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time


def refused_now(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


class Probe(threading.Thread):
    """One request held in flight across the TERM, with plain http.client."""

    timeout = 15.0

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.in_flight = threading.Event()
        self.ok = False
        self.error = ""
        self.seconds = 0.0

    def run(self) -> None:
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            self.error = self.exchange(conn) or ""
            self.ok = not self.error
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
            self.seconds = time.monotonic() - started
            self.in_flight.set()   # never leave the runner waiting

    def exchange(self, conn: http.client.HTTPConnection) -> str | None:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name}: {self.error or 'not in flight'}"


class StreamProbe(Probe):
    """An SSE stream: in flight once its first event arrived; complete when
    every event and the end event arrived."""

    def __init__(self, port: int, count: int, interval: float) -> None:
        super().__init__(port)
        self.name = f"GET /events?count={count}"
        self.count, self.interval = count, interval

    def exchange(self, conn: http.client.HTTPConnection) -> str | None:
        conn.request("GET", f"/events?count={self.count}&interval={self.interval}")
        resp = conn.getresponse()
        if resp.status != 200:
            return f"status {resp.status}"
        ticks, ended = 0, False
        while True:
            line = resp.readline()
            if not line:
                break
            if line.startswith(b"event: tick"):
                ticks += 1
                self.in_flight.set()
            elif line.startswith(b"event: end"):
                ended = True
        if ticks != self.count or not ended:
            return f"{ticks} of {self.count} events{'' if ended else ', no end event'}"
        return None


class SlowProbe(Probe):
    """`GET /slow`: in flight once the request was sent; complete on a 200
    with the right body."""

    def __init__(self, port: int, ms: int) -> None:
        super().__init__(port)
        self.name = f"GET /slow?ms={ms}"
        self.ms = ms

    def exchange(self, conn: http.client.HTTPConnection) -> str | None:
        conn.request("GET", f"/slow?ms={self.ms}")
        self.in_flight.set()
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            return f"status {resp.status}"
        if json.loads(body).get("slept_ms") != self.ms:
            return f"unexpected body {body[:80]!r}"
        return None
