"""Static profile: whole downloads, ranges and conditional requests.

    locust -f loadtests/locust/static.py -H http://127.0.0.1:8000

Against the generated files of `loadtests/apps/content.py` (served at
`/static/` by `loadtests.apps.loadapp:app`); every byte is compared with
what that module generates, so the check needs no copy of the files.

- whole file: 200, Content-Length, the exact bytes, ETag and Last-Modified
- If-None-Match with the ETag, If-Modified-Since with Last-Modified: 304,
  no body, the same ETag
- Range (bytes=a-b, a-, -n): 206, Content-Range, exactly those bytes
- a range past the end: 416 with `Content-Range: bytes */size`
- If-Range with the current ETag: 206; with a stale one: 200 and the whole file
- HEAD: 200, the length, no body
"""

from __future__ import annotations

import random

from _common import CheckedUser, content, think
from locust import task
from requests import Response

FILES = sorted(content.FILES)
TEXT = "text/plain; charset=utf-8"


def _type(name: str) -> str:
    return TEXT if name.endswith(".txt") else "application/octet-stream"


def whole(name: str, validators: dict[str, tuple[str, str]]):
    expected = content.content(name)

    def check(resp: Response) -> str | None:
        if resp.headers.get("content-type") != _type(name):
            return f"content-type {resp.headers.get('content-type')!r}"
        if resp.headers.get("content-length") != str(len(expected)):
            return f"content-length {resp.headers.get('content-length')}"
        if resp.content != expected:
            return f"{len(resp.content)} bytes differ from the file"
        etag, modified = resp.headers.get("etag"), resp.headers.get("last-modified")
        if not etag or not modified:
            return "no ETag or Last-Modified"
        known = validators.setdefault(name, (etag, modified))
        if known != (etag, modified):
            # Every worker serves the same file (fixed mtime): validators agree.
            return f"validators changed: {known} then {(etag, modified)}"
        return None
    return check


def not_modified(etag: str):
    def check(resp: Response) -> str | None:
        if resp.content:
            return f"304 with a body of {len(resp.content)} bytes"
        if resp.headers.get("etag") != etag:
            return f"304 with ETag {resp.headers.get('etag')!r}, expected {etag!r}"
        return None
    return check


def partial(name: str, start: int, end: int):
    expected = content.content(name)[start:end + 1]
    size = len(content.content(name))

    def check(resp: Response) -> str | None:
        wanted = f"bytes {start}-{end}/{size}"
        if resp.headers.get("content-range") != wanted:
            return f"content-range {resp.headers.get('content-range')!r}, expected {wanted!r}"
        if resp.content != expected:
            return f"range {start}-{end}: {len(resp.content)} bytes differ from the file"
        return None
    return check


class StaticUser(CheckedUser):
    wait_time = think(0.05, 0.3)

    def on_start(self) -> None:
        self.validators: dict[str, tuple[str, str]] = {}

    def _validators(self, name: str) -> tuple[str, str] | None:
        if name not in self.validators:
            self.call("GET", f"/static/{name}", name="/static/[file] (200)",
                      check=whole(name, self.validators))
        return self.validators.get(name)

    @task(2)
    def download(self) -> None:
        name = random.choice(FILES)
        self.call("GET", f"/static/{name}", name="/static/[file] (200)", check=whole(name, self.validators))

    @task(2)
    def if_none_match(self) -> None:
        name = random.choice(FILES)
        if known := self._validators(name):
            self.call("GET", f"/static/{name}", name="/static/[file] If-None-Match (304)",
                      headers={"if-none-match": known[0]}, expect=304, check=not_modified(known[0]))

    @task(2)
    def if_modified_since(self) -> None:
        name = random.choice(FILES)
        if known := self._validators(name):
            self.call("GET", f"/static/{name}", name="/static/[file] If-Modified-Since (304)",
                      headers={"if-modified-since": known[1]}, expect=304, check=not_modified(known[0]))

    @task(4)
    def byte_range(self) -> None:
        name = random.choice(FILES)
        size = content.FILES[name]
        kind = random.choice(("a-b", "a-", "-n"))
        if kind == "a-b":
            start = random.randrange(size)
            end = min(size - 1, start + random.randrange(1, 64 * 1024))
            header = f"bytes={start}-{end}"
        elif kind == "a-":
            start, end = random.randrange(size), size - 1
            header = f"bytes={start}-"
        else:
            n = random.randint(1, 32 * 1024)
            start, end = size - n, size - 1
            header = f"bytes=-{n}"
        self.call("GET", f"/static/{name}", name=f"/static/[file] Range {kind} (206)",
                  headers={"range": header}, expect=206, check=partial(name, start, end))

    @task(1)
    def range_not_satisfiable(self) -> None:
        name = random.choice(FILES)
        size = content.FILES[name]

        def check(resp: Response) -> str | None:
            if resp.headers.get("content-range") != f"bytes */{size}":
                return f"content-range {resp.headers.get('content-range')!r}"
            return None
        self.call("GET", f"/static/{name}", name="/static/[file] Range past the end (416)",
                  headers={"range": f"bytes={size}-"}, expect=416, check=check)

    @task(1)
    def if_range(self) -> None:
        name = random.choice(FILES)
        if not (known := self._validators(name)):
            return
        start, end = 100, 199
        self.call("GET", f"/static/{name}", name="/static/[file] If-Range current (206)",
                  headers={"range": f"bytes={start}-{end}", "if-range": known[0]},
                  expect=206, check=partial(name, start, end))
        self.call("GET", f"/static/{name}", name="/static/[file] If-Range stale (200)",
                  headers={"range": f"bytes={start}-{end}", "if-range": '"stale-etag"'},
                  check=whole(name, self.validators))

    @task(1)
    def head(self) -> None:
        name = random.choice(FILES)

        def check(resp: Response) -> str | None:
            if resp.content:
                return f"HEAD with a body of {len(resp.content)} bytes"
            if resp.headers.get("content-length") != str(content.FILES[name]):
                return f"content-length {resp.headers.get('content-length')}"
            return None
        self.call("HEAD", f"/static/{name}", name="HEAD /static/[file]", check=check)
