"""`app.run()` and `python -m zerodep_http` in a subprocess: the listening
line, signals, graceful drain of a request in flight, the demo app."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import httpx
import pytest

from conftest import WAIT, connection_refused, wait_for

LISTENING = re.compile(r"Listening at: (http://127\.0\.0\.1:(\d+)|unix:(\S+)) \((\d+)\)")

APP_FILE = '''
import asyncio
import os
import sys

from zerodep_http import App

STARTED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "started")
RELEASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "release")

app = App()

@app.get("/")
async def index(request):
    return "hello from run"

@app.get("/slow")
async def slow(request):
    open(STARTED, "w").close()
    while not os.path.exists(RELEASE):
        await asyncio.sleep(0.02)
    return "slow done"

if __name__ == "__main__":
    options = {}
    if len(sys.argv) > 1 and sys.argv[1]:
        options["socket"] = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    app.run(host="127.0.0.1", port=port, **options)
'''


class Process:
    """A child process whose stderr is read line by line in a thread."""

    def __init__(self, args: list[str], cwd) -> None:
        self.proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self.stderr.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_line(self, pattern: re.Pattern[str], timeout: float = WAIT) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern.pattern!r}; stderr: {self.text!r}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the process exited ({self.proc.wait(WAIT)}); stderr: {self.text!r}")
            match = pattern.search(line)
            if match:
                return match

    def wait(self, timeout: float = WAIT) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the process did not exit within {timeout}s; stderr: {self.text!r}") from None
        self.reader.join(WAIT)
        return code

    @property
    def text(self) -> str:
        return "".join(self.stderr)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(WAIT)


@pytest.fixture
def spawn():
    processes: list[Process] = []

    def start(args: list[str], cwd) -> Process:
        process = Process(args, cwd)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.kill()


@pytest.fixture
def app_file(tmp_path):
    path = tmp_path / "myapp.py"
    path.write_text(APP_FILE)
    return path


def start_app(spawn, app_file, *args: str) -> tuple[Process, int]:
    process = spawn([sys.executable, str(app_file), *args], app_file.parent)
    match = process.wait_for_line(LISTENING)
    assert int(match.group(4)) == process.proc.pid
    return process, int(match.group(2)) if match.group(2) else 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_serves_and_stops_on_signal(spawn, app_file, signum):
    process, port = start_app(spawn, app_file)
    assert port > 0
    response = httpx.get(f"http://127.0.0.1:{port}/", timeout=WAIT)
    assert response.text == "hello from run"
    process.proc.send_signal(signum)
    assert process.wait() == 0
    assert "Traceback" not in process.text
    assert connection_refused(("127.0.0.1", port))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_in_flight_request_completes_after_signal(spawn, app_file, signum):
    process, port = start_app(spawn, app_file)
    result: dict = {}

    def slow_request() -> None:
        try:
            result["response"] = httpx.get(f"http://127.0.0.1:{port}/slow", timeout=30)
        except Exception as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    client = threading.Thread(target=slow_request)
    client.start()
    wait_for(lambda: (app_file.parent / "started").exists(), message="the slow handler to start")
    process.proc.send_signal(signum)
    # Draining: the listener closes, the process stays for the request in flight.
    wait_for(lambda: connection_refused(("127.0.0.1", port)), message="the listener to close")
    assert process.proc.poll() is None, "the process exited with a request in flight"
    (app_file.parent / "release").touch()
    client.join(30)
    assert "error" not in result, result.get("error")
    assert result["response"].status_code == 200
    assert result["response"].text == "slow done"
    assert process.wait() == 0


def test_second_sigint_stops_at_once(spawn, app_file):
    process, port = start_app(spawn, app_file)
    client = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    try:
        client.sendall(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
        wait_for(lambda: (app_file.parent / "started").exists(), message="the slow handler to start")
        process.proc.send_signal(signal.SIGINT)
        wait_for(lambda: connection_refused(("127.0.0.1", port)), message="the listener to close")
        assert process.proc.poll() is None
        process.proc.send_signal(signal.SIGINT)
        process.wait(timeout=5)  # no waiting for the 30 s graceful timeout
        try:
            rest = client.recv(65536)
        except ConnectionResetError:
            rest = b""
        assert b"slow done" not in rest
    finally:
        client.close()


def test_run_on_a_unix_socket(spawn, app_file, short_tmp):
    path = os.path.join(short_tmp, "run.sock")
    process = spawn([sys.executable, str(app_file), path], app_file.parent)
    match = process.wait_for_line(LISTENING)
    assert match.group(3) == path
    with httpx.Client(transport=httpx.HTTPTransport(uds=path), base_url="http://localhost",
                      timeout=WAIT) as client:
        assert client.get("/").text == "hello from run"
    process.proc.send_signal(signal.SIGTERM)
    assert process.wait() == 0, process.text
    assert "Traceback" not in process.text
    assert not os.path.exists(path)


def test_run_port_in_use_exits_1_without_traceback(spawn, app_file):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    try:
        port = blocker.getsockname()[1]
        process = spawn([sys.executable, str(app_file), "", str(port)], app_file.parent)
        code = process.wait()
    finally:
        blocker.close()
    assert code == 1
    assert "Traceback" not in process.text
    assert str(port) in process.text


def test_seed_basic_example_runs_verbatim(spawn, tmp_path):
    """The seed's first example, with only the import and the port changed."""
    source = textwrap.dedent('''
        from zerodep_http import App, JSONResponse

        app = App()

        @app.get("/hello")
        async def hello(request):
            return {"message": "Hello, World!"}

        @app.post("/echo")
        async def echo(request):
            return JSONResponse(request.json())

        app.run(host="127.0.0.1", port=0)
    ''')
    path = tmp_path / "basic.py"
    path.write_text(source)
    process = spawn([sys.executable, str(path)], tmp_path)
    port = int(process.wait_for_line(LISTENING).group(2))
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=WAIT) as client:
        assert client.get("/hello").json() == {"message": "Hello, World!"}
        assert client.post("/echo", json={"x": [1]}).json() == {"x": [1]}
    process.proc.send_signal(signal.SIGTERM)
    assert process.wait() == 0


def test_module_serves_the_demo(spawn, tmp_path):
    process = spawn([sys.executable, "-m", "zerodep_http", "-b", "127.0.0.1:0"], tmp_path)
    port = int(process.wait_for_line(LISTENING).group(2))
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=WAIT) as client:
        response = client.get("/")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "<html" in response.text.lower()
        assert "/events" in response.text

        response = client.get("/json")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert isinstance(response.json(), dict)

        response = client.get("/static/hello.txt")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert response.content
        assert "etag" in response.headers

        with client.stream("GET", "/events") as events:
            assert events.status_code == 200
            assert events.headers["content-type"].startswith("text/event-stream")
            for line in events.iter_lines():
                if line:
                    assert line.startswith("data: ")
                    break

        response = client.post("/echo", content=b"echo me", headers={"content-type": "text/plain"})
        assert response.content == b"echo me"
    process.proc.send_signal(signal.SIGTERM)
    assert process.wait() == 0
    assert "Traceback" not in process.text
