"""SSE profile: users that hold server-sent-event streams open while
others make ordinary API requests on the same server.

    locust -f loadtests/locust/sse.py -H http://127.0.0.1:8000

Each stream is `GET /events?count=N&interval=S`: N `tick` events numbered
0..N-1, then an `end` event. A stream succeeds only if every event arrives,
in order, well-formed, followed by `end` and the end of the body; a stream
cut short (a reset, a worker that died, a missing final chunk) is a failure.
Its response time in the statistics is the time to the response head (the
latency a browser's EventSource sees); the whole stream lasts about N × S.
"""

from __future__ import annotations

import json
import random

import api
from _common import CheckedUser, think
from locust import task
from requests import Response

#: Events per stream and seconds between them: a stream is held ~3 s.
EVENTS = 10
INTERVAL = 0.3


def read_events(resp: Response) -> tuple[list[dict[str, str]], int]:
    """Every event of the stream (field -> value) and the bytes read."""
    events: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    size = 0
    for line in resp.iter_lines(chunk_size=None):
        size += len(line) + 1
        if not line:
            if fields:
                events.append(fields)
                fields = {}
            continue
        name, _, value = line.decode().partition(":")
        fields[name] = value.removeprefix(" ")
    if fields:
        events.append(fields)
    return events, size


def stream_check(count: int):
    def check(resp: Response) -> str | None:
        content_type = resp.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            resp.close()
            return f"content-type {content_type!r}"
        try:
            events, size = read_events(resp)
        finally:
            resp.close()
        resp.request_meta["response_length"] = size
        ticks = [e for e in events if e.get("event") == "tick"]
        if len(ticks) != count:
            return f"{len(ticks)} of {count} events"
        for seq, event in enumerate(ticks):
            if event.get("id") != str(seq) or json.loads(event["data"]).get("seq") != seq:
                return f"event {seq} out of order or malformed"
        if not events or events[-1] != {"event": "end", "data": str(count)}:
            return "no end event"
        return None
    return check


class SseUser(CheckedUser):
    weight = 1
    wait_time = think(0.2, 1.0)
    events = EVENTS
    interval = INTERVAL

    @task
    def hold_stream(self) -> None:
        count = self.events + random.randint(-2, 2)
        self.call("GET", f"/events?count={count}&interval={self.interval}", name="/events (SSE stream)",
                  stream=True, check=stream_check(count))


class BystanderUser(api.ApiUser):
    """Ordinary API traffic next to the streams."""

    weight = 1
