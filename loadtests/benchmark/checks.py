"""Each row's answer checked before a server is measured on it: fast wrong
answers prove nothing."""

from __future__ import annotations

import http.client
import json

from .rows import ECHO_BODY_SIZE, ECHO_CONTENT_TYPE, PAYLOAD_SIZE, ROWS, Row, static_content

TIMEOUT = 5.0


class WrongAnswer(AssertionError):
    """A server answered a row's request wrong."""


def http_request(port: int, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    """One request on a fresh connection: (status, content-type, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        headers = dict(headers or {})
        if body is not None:
            headers["Content-Type"] = ECHO_CONTENT_TYPE
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def expect(condition: bool, row: Row, what: object) -> None:
    if not condition:
        raise WrongAnswer(f"{row.name}: {what!r}")


def check_hello(port: int, row: Row) -> None:
    headers = {"Connection": "close"} if row.close else None
    status, ctype, body = http_request(port, "GET", row.path, headers=headers)
    expect(status == 200 and body == b"Hello, World!" and ctype.startswith("text/plain"), row,
           (status, ctype, body))


def check_json(port: int, row: Row) -> None:
    status, ctype, body = http_request(port, "GET", row.path)
    expect(status == 200 and json.loads(body) == {"message": "Hello, World!"}, row, (status, body))
    expect(ctype.startswith("application/json"), row, ctype)


def check_echo(port: int, row: Row) -> None:
    payload = b"x" * ECHO_BODY_SIZE
    status, ctype, body = http_request(port, "POST", row.path, payload)
    expect(status == 200 and body == payload, row, (status, ctype, len(body)))
    expect(ctype.startswith(ECHO_CONTENT_TYPE), row, ctype)


def check_download(port: int, row: Row) -> None:
    status, _, body = http_request(port, "GET", row.path)
    expect(status == 200 and body == b"x" * PAYLOAD_SIZE, row, (status, len(body)))


def check_upload(port: int, row: Row) -> None:
    status, _, body = http_request(port, "POST", row.path, b"x" * PAYLOAD_SIZE)
    expect(status == 200 and body == str(PAYLOAD_SIZE).encode(), row, (status, body[:100]))


def check_static(port: int, row: Row) -> None:
    status, _, body = http_request(port, "GET", row.path)
    expect(status == 200 and body == static_content(), row, (status, len(body)))


def check_sse(port: int, row: Row) -> None:
    """The stream opens as text/event-stream and its first event is a whole second."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("GET", row.path, headers={"Accept": "text/event-stream"})
        resp = conn.getresponse()
        ctype = resp.getheader("Content-Type", "")
        expect(resp.status == 200 and ctype.startswith("text/event-stream"), row, (resp.status, ctype))
        line = b""
        while not line.startswith(b"data:"):
            line = resp.readline()
            expect(bool(line), row, "the stream ended before its first event")
        expect(line[5:].strip().isdigit(), row, line)
    finally:
        conn.close()


def session_cookie(port: int) -> str:
    """The `name=value` of the session cookie a first request gets."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("GET", ROWS["session"].path)
        response = conn.getresponse()
        response.read()
        cookie = response.getheader("Set-Cookie", "")
    finally:
        conn.close()
    return cookie.split(";")[0]


def check_session(port: int, row: Row) -> None:
    """A new session counts 1; sent back, the same cookie counts 2."""
    cookie = session_cookie(port)
    expect("=" in cookie, row, cookie)
    status, _, body = http_request(port, "GET", row.path, headers={"Cookie": cookie})
    expect(status == 200 and body == b"2", row, (status, body))


CHECKS = {"hello": check_hello, "json": check_json, "echo": check_echo, "sync-hello": check_hello,
          "sync-json": check_json, "download": check_download, "upload": check_upload,
          "churn": check_hello, "static": check_static, "idle": check_hello, "sse": check_sse,
          "session": check_session}


def wrong_rows(port: int, rows: list[str]) -> dict[str, str]:
    """The rows of `rows` the server answers wrong, each with what was wrong:
    those are not measured on it."""
    wrong = {}
    for name in rows:
        try:
            CHECKS[name](port, ROWS[name])
        except (WrongAnswer, OSError, ValueError, http.client.HTTPException) as exc:
            wrong[name] = f"{type(exc).__name__}: {exc}"
    return wrong
