"""Access and error logs: gunicorn atoms, JSON lines, escaping, levels."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import re
import socket

from zerodep_http.requests import Request
from zerodep_http.supervisor.logs import AccessLog, escape

from supervisor_support import serve, wait_until, write_app  # noqa: F401

GUNICORN_DEFAULT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _log(fmt: str, request: Request, status=200, size=13, seconds=0.0125) -> str:
    logger = logging.getLogger(f"test.access.{id(request)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    capture = Capture()
    logger.addHandler(capture)
    AccessLog(fmt, logger)(request, status, size, seconds)
    return capture.lines[0]


def _request(**headers: str) -> Request:
    return Request("GET", "/hello", "a=1", {k.replace("_", "-"): v for k, v in headers.items()},
                   client_addr=("10.1.2.3", 5555))


def test_gunicorn_default_format():
    line = _log(GUNICORN_DEFAULT, _request(referer="http://x/", user_agent="curl/8"))
    assert re.fullmatch(r'10\.1\.2\.3 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                        r'"GET /hello\?a=1 HTTP/1\.1" 200 13 "http://x/" "curl/8"', line), line


def test_more_atoms():
    auth = "Basic " + base64.b64encode(b"alice:secret").decode()
    line = _log("%(m)s|%(U)s|%(q)s|%(H)s|%(D)s|%(M)s|%(L)s|%(T)s|%(u)s|%(B)s|%({x-id}i)s|%(p)s|"
                "%(nope)s", _request(authorization=auth, x_id="abc"), size=0)
    pid = line.rsplit("|", 2)[1]
    assert line == f"GET|/hello|a=1|HTTP/1.1|12500|12|0.012500|0|alice|0|abc|{pid}|-"
    assert re.fullmatch(r"<\d+>", pid)


def test_request_text_is_escaped():
    request = Request("GET", '/a"b\nfake 200\x1b[31m', "", {"user-agent": 'x"\r\n\\y'},
                      client_addr=("10.1.2.3", 1))
    line = _log(GUNICORN_DEFAULT, request)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert '"GET /a\\"b\\x0afake 200\\x1b[31m HTTP/1.1"' in line
    assert line.endswith('"x\\"\\x0d\\x0a\\\\y"')
    assert escape("plain text") == "plain text"


def test_json_format():
    line = _log("json", _request(user_agent='evil"\n'), status=404, size=0)
    record = json.loads(line)
    assert "\n" not in line
    assert record["method"] == "GET" and record["path"] == "/hello" and record["query"] == "a=1"
    assert record["status"] == 404 and record["bytes"] == 0
    assert record["user_agent"] == 'evil"\n' and record["remote_addr"] == "10.1.2.3"


def test_access_log_and_error_log_levels(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "1", "--access-logfile", "-",
                   "-b", "127.0.0.1:0", "--graceful-timeout", "2").ready()
    port = server.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/version?x=%0aFAKE", headers={"User-Agent": "tester/1"})
    assert conn.getresponse().read() == b"v1"
    conn.close()
    line = server.wait_for(r'"GET /version', stream="stdout").string
    assert re.fullmatch(r'127\.0\.0\.1 - - \[.*\] "GET /version\?x=%0aFAKE HTTP/1\.1" 200 2 '
                        r'"-" "tester/1"', line), line
    # A raw control character cannot even reach the log: the parser refuses it.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
    assert server.stop() == 0
    assert not any("\x01" in line for line in server.stdout_lines + server.stderr_lines)


def test_log_level_warning_hides_info(serve, tmp_path):
    path = tmp_path / "web.sock"
    server = serve(write_app(tmp_path), "-w", "1", "--log-level", "warning",
                   "-b", f"unix:{path}", "--graceful-timeout", "2")

    def answers():
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(2)
                sock.connect(str(path))
                sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return sock.recv(100).startswith(b"HTTP/1.1 200")
        except OSError:
            return False
    wait_until(answers, what="the server to answer")
    assert server.stop() == 0
    assert "[INFO]" not in server.stderr


def test_a_refused_request_is_timed_from_its_refusal(serve, tmp_path):
    """A malformed head on a fresh connection has no earlier request to be
    timed from: its duration is how long it took to refuse it."""
    server = serve(write_app(tmp_path), "-w", "1", "--access-logfile", "-",
                   "--access-log-format", "%(s)s %(D)s", "-b", "127.0.0.1:0",
                   "--graceful-timeout", "2").ready()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
    microseconds = int(server.wait_for(r"^400 (\d+)$", stream="stdout").group(1))
    assert microseconds < 5_000_000
    assert server.stop() == 0


def test_master_log_lines_count_workers_in_words(serve, tmp_path):
    """The master's lines read as sentences for one worker as for two."""
    import signal
    server = serve(write_app(tmp_path), "-w", "1", "-b", "127.0.0.1:0",
                   "--graceful-timeout", "2").ready()
    server.wait_for(r"Using 1 worker \(shared sockets\)$")
    server.wait_for(r"Serving with 1 worker$")
    server.signal(signal.SIGTTIN)
    server.wait_for(r"Target is now 2 workers$")
    server.wait_for(r"Worker \d+ serving", count=2)
    server.signal(signal.SIGTTOU)
    server.wait_for(r"Target is now 1 worker$")
    retired = server.wait_for(r"Retiring worker (\d+)$").group(1)
    server.wait_for(rf"Worker {retired} exited")
    server.signal(signal.SIGHUP)
    server.wait_for(r"Reloading: starting generation 2 with 1 worker$")
    retired = server.wait_for(r"Retiring worker (\d+) \(generation 1\)$").group(1)
    server.wait_for(r"Reload complete: generation 2 serving with 1 worker$")
    server.wait_for(rf"Worker {retired} exited")  # so that one worker is left
    assert server.stop() == 0
    server.wait_for(r"Shutting down gracefully: waiting up to 2\.0 s for 1 worker "
                    r"to finish in-flight requests$")
