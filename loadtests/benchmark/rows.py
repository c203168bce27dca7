"""The rows of the table: what each one measures, how, and in which unit.

Every row is measured on every server that can answer it, in the same
interleaved rounds. Rows of kind "wrk" are wrk runs (requests/s, or MB/s
for the rows that move a large body); "idle" and "sse" are measured by
clients in this process (idle.py, fanout.py). `--only` selects rows by
group or by name.
"""

from __future__ import annotations

import dataclasses

#: The large bodies: /bytes answers this many bytes, /upload is sent as many.
PAYLOAD_SIZE = 1_000_000
#: The static file, written by the benchmark into the directory every server serves.
STATIC_NAME = "1mib.bin"
STATIC_SIZE = 1 << 20
ECHO_BODY_SIZE = 1024
ECHO_CONTENT_TYPE = "application/octet-stream"


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the table per server."""

    name: str
    group: str
    label: str
    kind: str = "wrk"            # "wrk", "idle" or "sse"
    method: str = "GET"
    path: str = "/hello"
    request_size: int = 0        # the body wrk sends with each request
    payload: int = 0             # bytes moved per request: the row is in MB/s, not requests/s
    close: bool = False          # a new connection per request
    session: bool = False        # sends the session cookie the server set on a first request

    @property
    def unit(self) -> str:
        return {"idle": "KiB/conn", "sse": "ms p99"}.get(self.kind, "MB/s" if self.payload else "req/s")

    @property
    def lower_is_better(self) -> bool:
        return self.kind != "wrk"

    def lua(self, cookie: str | None = None) -> str | None:
        """The wrk script that sends this row's request body (or `cookie`),
        if it has one."""
        if cookie is not None:
            return f'wrk.headers["Cookie"] = "{cookie}"\n'
        if not self.request_size:
            return None
        return (f'wrk.method = "{self.method}"\n'
                f'wrk.body = string.rep("x", {self.request_size})\n'
                f'wrk.headers["Content-Type"] = "{ECHO_CONTENT_TYPE}"\n')


ROWS = {row.name: row for row in [
    Row("hello", "plain", "GET /hello"),
    Row("json", "plain", "GET /json", path="/json"),
    Row("echo", "plain", f"POST /echo {ECHO_BODY_SIZE} B", method="POST", path="/echo",
        request_size=ECHO_BODY_SIZE),
    Row("sync-hello", "sync", "GET /hello, sync handler", path="/sync/hello"),
    Row("sync-json", "sync", "GET /json, sync handler", path="/sync/json"),
    Row("download", "large", "GET 1 MB response", path="/bytes", payload=PAYLOAD_SIZE),
    Row("upload", "large", "POST 1 MB request", method="POST", path="/upload",
        request_size=PAYLOAD_SIZE, payload=PAYLOAD_SIZE),
    Row("churn", "churn", "GET /hello, Connection: close", close=True),
    Row("session", "session", "GET /session, signed-cookie session read and changed",
        path="/session", session=True),
    Row("static", "static", "GET 1 MiB static file", path=f"/static/{STATIC_NAME}", payload=STATIC_SIZE),
    Row("idle", "idle", "idle keep-alive connections", kind="idle"),
    Row("sse", "sse", "SSE fan-out, delivery", kind="sse", path="/sse"),
]}
GROUPS = list(dict.fromkeys(row.group for row in ROWS.values()))


def select(only: str | None) -> list[str]:
    """Row names for `--only` (comma-separated groups or row names), in table order."""
    if not only:
        return list(ROWS)
    wanted = {word.strip() for word in only.split(",") if word.strip()}
    unknown = wanted - set(GROUPS) - set(ROWS)
    if unknown:
        raise ValueError(f"unknown rows or groups: {', '.join(sorted(unknown))} "
                         f"(groups: {', '.join(GROUPS)}; rows: {', '.join(ROWS)})")
    return [name for name, row in ROWS.items() if name in wanted or row.group in wanted]


def static_content() -> bytes:
    """The static file's bytes: every byte value, repeated, so a wrong range shows."""
    return bytes(range(256)) * (STATIC_SIZE // 256)
