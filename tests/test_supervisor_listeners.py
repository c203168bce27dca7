"""Listeners and the pid file: TCP, unix sockets, fd://N, socket activation, SO_REUSEPORT."""

from __future__ import annotations

import http.client
import os
import socket
import stat
import textwrap

import pytest

from supervisor_support import (  # noqa: F401
    PYTHON, RequestLoop, serve, wait_until, write_app)

FAST = ["--graceful-timeout", "2", "--timeout", "2"]


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self.path)


def test_unix_socket(serve, tmp_path):
    path = tmp_path / "web.sock"
    server = serve(write_app(tmp_path), "-w", "2", "-b", f"unix:{path}", *FAST).ready()
    assert server.listening() == f"unix:{path}"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    conn = UnixConnection(str(path))
    conn.request("GET", "/version")
    assert conn.getresponse().read() == b"v1"
    conn.close()
    assert server.stop() == 0
    assert not path.exists()


def test_a_bind_error_is_one_clear_line(serve, tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        server = serve(write_app(tmp_path), "-b", f"127.0.0.1:{port}", *FAST)
        assert server.wait() == 1
        assert f"cannot listen on 127.0.0.1:{port}" in server.stderr
        assert "Traceback" not in server.stderr
    finally:
        taken.close()


def test_several_binds_including_ipv6(serve, tmp_path):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback")
    server = serve(write_app(tmp_path), "-w", "1", "-b", "127.0.0.1:0", "-b", "[::1]:0",
                   *FAST).ready()
    first = server.wait_for(r"Listening at: (\S+)", count=1).group(1)
    second = server.wait_for(r"Listening at: (\S+)", count=2).group(1)
    assert first.startswith("http://127.0.0.1:")
    assert second.startswith("http://[::1]:")
    port6 = int(second.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("::1", port6, timeout=5)
    conn.request("GET", "/version")
    assert conn.getresponse().read() == b"v1"
    conn.close()
    assert server.stop() == 0


def test_pidfile_written_refused_while_live_and_removed(serve, tmp_path):
    pidfile = tmp_path / "zd.pid"
    spec = write_app(tmp_path)
    server = serve(spec, "-w", "1", "--pid", str(pidfile), "-b", "127.0.0.1:0", *FAST).ready()
    assert pidfile.read_text().strip() == str(server.pid)
    second = serve(spec, "-w", "1", "--pid", str(pidfile), "-b", "127.0.0.1:0", *FAST)
    assert second.wait() == 1
    assert f"names process {server.pid}, which is running" in second.stderr
    assert pidfile.read_text().strip() == str(server.pid)  # not removed by the refused one
    assert server.stop() == 0
    assert not pidfile.exists()


def test_a_stale_pidfile_is_replaced(serve, tmp_path):
    pidfile = tmp_path / "zd.pid"
    pidfile.write_text("999999999\n")  # above pid_max: nobody
    server = serve(write_app(tmp_path), "-w", "1", "--pid", str(pidfile), "-b", "127.0.0.1:0",
                   *FAST).ready()
    assert pidfile.read_text().strip() == str(server.pid)
    assert server.stop() == 0
    assert not pidfile.exists()


LAUNCHER = textwrap.dedent('''
    """Socket activation as systemd does it: bind, put the socket at fd 3,
    set LISTEN_FDS/LISTEN_PID (our pid, which exec keeps), exec the server."""
    import os, socket, sys
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    print(sock.getsockname()[1], flush=True)
    if sock.fileno() != 3:
        os.dup2(sock.fileno(), 3)
    os.set_inheritable(3, True)
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES="web")
    os.execve(sys.executable, [sys.executable, "-m", "zerodep_http", *sys.argv[1:]], env)
''')


@pytest.mark.parametrize("extra", [[], ["-b", "fd://3"]], ids=["activated", "fd-3-is-the-same"])
def test_socket_activation(serve, tmp_path, extra):
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    server = serve(write_app(tmp_path), "-w", "2", *extra, *FAST,
                   command=[PYTHON, str(launcher)]).ready()
    port = int(server.stdout_lines[0]) if server.stdout_lines else None
    port = port or int(wait_until(lambda: server.stdout_lines, what="the port")[0])
    assert server.listening() == f"http://127.0.0.1:{port}"
    assert server.count("Listening at") == 1  # not the default 127.0.0.1:8000, no second fd 3
    assert server.get("/version")[1] == "v1"
    assert server.stop() == 0


def test_fd_bind_serves_an_inherited_socket(serve, tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    fd = sock.fileno()
    try:
        server = serve(write_app(tmp_path), "-w", "1", "-b", f"fd://{fd}", *FAST,
                       pass_fds=(fd,)).ready()
        assert server.listening() == f"http://127.0.0.1:{port}"
        assert server.get("/version")[1] == "v1"
        assert server.stop() == 0
    finally:
        sock.close()


def test_fd_bind_that_is_not_a_socket(serve, tmp_path):
    server = serve(write_app(tmp_path), "-b", "fd://0", *FAST)
    assert server.wait() == 1
    assert "cannot listen on fd://0" in server.stderr


def test_reuse_port_gives_each_worker_its_own_socket(serve, tmp_path):
    server = serve(write_app(tmp_path), "-w", "2", "--reuse-port", "-b", "127.0.0.1:0",
                   *FAST).ready()
    assert server.count("Listening at") == 1
    pids = set()
    for _ in range(60):  # the kernel hashes each new connection to one socket
        pids.add(server.get("/pid")[1])
        if len(pids) == 2:
            break
    assert pids == set(map(str, server.workers()))
    server.signal(__import__("signal").SIGTTIN)
    wait_until(lambda: len(server.workers()) == 3, what="3 workers")
    loop = RequestLoop(server.port, keep_alive=False)
    loop.start()
    wait_until(lambda: len(loop.bodies) > 50, what="requests")
    server.signal(__import__("signal").SIGHUP)
    server.wait_for("Reload complete")
    wait_until(lambda: len(loop.bodies) > 150, what="requests after the reload")
    loop.stop()
    assert loop.failures == []
    assert server.stop() == 0


def test_tls_listener(serve, tmp_path):
    import shutil
    import ssl
    import subprocess
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    server = serve(write_app(tmp_path), "-w", "1", "--certfile", str(cert), "--keyfile", str(key),
                   "-b", "127.0.0.1:0", *FAST).ready()
    url = server.listening()
    assert url.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=5,
                                       context=context)
    conn.request("GET", "/version")
    assert conn.getresponse().read() == b"v1"
    conn.close()
    assert server.stop() == 0


def test_reload_adds_and_removes_binds(serve, tmp_path):
    path = tmp_path / "extra.sock"
    config = tmp_path / "zd.toml"
    config.write_text('bind = ["127.0.0.1:0"]\nworkers = 1\n')
    server = serve(write_app(tmp_path), "-c", str(config), *FAST).ready()
    port = server.port
    config.write_text(f'bind = ["127.0.0.1:0", "unix:{path}"]\nworkers = 1\n')
    server.signal(__import__("signal").SIGHUP)
    server.wait_for("Reload complete")
    assert server.wait_for(r"Listening at: (unix:\S+)", count=1).group(1) == f"unix:{path}"
    conn = UnixConnection(str(path))
    conn.request("GET", "/version")
    assert conn.getresponse().read() == b"v1"
    conn.close()
    assert server.get("/version")[1] == "v1"  # the TCP listener is the same socket
    assert server.port == port
    config.write_text('bind = ["127.0.0.1:0"]\nworkers = 1\n')
    server.signal(__import__("signal").SIGHUP)
    server.wait_for("Reload complete", count=2)
    wait_until(lambda: not path.exists(), what="the unix socket to be removed")
    assert server.stop() == 0


#: Runs the server with few file descriptors, so that accept() fails with EMFILE.
FEW_DESCRIPTORS = (
    "import resource, runpy; resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48)); "
    "runpy.run_module('zerodep_http', run_name='__main__')"
)


def test_out_of_descriptors_waits_and_serves_again(serve, tmp_path):
    """accept() failing with EMFILE is logged and retried later; the worker
    neither dies nor spins, and serves the queued clients once it can."""
    server = serve(write_app(tmp_path), "-w", "1", "-b", "127.0.0.1:0", *FAST,
                   command=[PYTHON, "-c", FEW_DESCRIPTORS]).ready()
    clients = []
    try:
        for _ in range(60):
            client = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            # Keep-alive: each answered client keeps holding a descriptor.
            client.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
            clients.append(client)
        server.wait_for(r"Cannot accept a connection \(Too many open files\)")
        answered = [client.recv(4096) for client in clients[:10]]
        assert all(answer.startswith(b"HTTP/1.1 200 ") for answer in answered)
        for client in clients[:30]:
            client.close()
        # Those queued meanwhile are served once descriptors are free again.
        for client in clients[-10:]:
            assert client.recv(4096).startswith(b"HTTP/1.1 200 ")
    finally:
        for client in clients:
            client.close()
    assert server.count(r"Worker \d+ (exited|was killed)") == 0
    assert server.stop() == 0
