"""deploy/: the systemd units, the container image, Kubernetes, HAProxy, nginx.

No systemd, Docker engine, HAProxy or PyYAML is needed: the files are parsed
here, the tools' own checks run only when the tool is installed, and the
server is started the way the systemd units and the container start it.
"""

from __future__ import annotations

import configparser
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from supervisor_support import (  # noqa: F401
    PYTHON,
    NotifyListener,
    children,
    clean_env,
    serve,
    unshare_works,
    wait_until,
    write_app,
)

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
SYSTEMD = DEPLOY / "systemd"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
MASTER_MARGIN = 3.0  # the master's own slack past drain + graceful (IDLE_GRACE + 2)


# --- helpers ------------------------------------------------------------------

def unit_entries(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A unit file as section -> [(key, value)], repeated keys kept in order."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        assert current is not None, f"{path.name}: {line!r} outside a section"
        current.append((key.strip(), value.strip()))
    return sections


def unit_environment(entries: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for key, value in entries:
        if key == "Environment":
            env.update(item.split("=", 1) for item in shlex.split(value))
    return env


def seconds(value: str) -> float:
    """A systemd time span: `30`, `30s`, `1min 30s`."""
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "ms": 0.001, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)\s*([a-z]*)", value):
        total += float(number) * units[unit]
    return total


def check_config(env: dict[str, str], *args: str) -> str:
    """`zerodep-http --check-config` with `env`: the settings' sources, or a failure."""
    result = subprocess.run([PYTHON, "-m", "zerodep_http", "--check-config", *args],
                            env=clean_env(**env), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def assert_env_settings_apply(env: dict[str, str]) -> None:
    """Every ZERODEP_* variable names a real setting and its value is valid."""
    shown = check_config(env)
    for name in env:
        if name.startswith("ZERODEP_"):
            assert f"(env {name})" in shown, f"{name} is not a setting:\n{shown}"


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


# --- systemd ------------------------------------------------------------------

@pytest.fixture(scope="module")
def service() -> dict[str, list[tuple[str, str]]]:
    return unit_entries(SYSTEMD / "zerodep-http.service")


def test_service_unit_fields(service):
    # configparser reads it too (duplicate keys allowed, as systemd does).
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(SYSTEMD / "zerodep-http.service")
    assert parser.has_section("Unit") and parser.has_section("Install")

    svc = dict(service["Service"])
    assert svc["Type"] == "notify"
    assert svc["NotifyAccess"] == "main"
    assert svc["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert svc["KillMode"] == "mixed"
    assert svc.get("KillSignal", "SIGTERM") == "SIGTERM"
    assert svc.get("DynamicUser") == "yes" or svc.get("User") not in (None, "", "root", "0")
    for key, value in {"ProtectSystem": "strict", "ProtectHome": "yes",
                       "NoNewPrivileges": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
                       "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
                       "ProtectControlGroups": "yes", "LockPersonality": "yes",
                       "RestrictRealtime": "yes", "SystemCallArchitectures": "native"}.items():
        assert svc.get(key) == value, key
    assert set(svc["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}

    argv = shlex.split(svc["ExecStart"])
    assert argv[0].endswith("/zerodep-http") and argv[0].startswith("/")
    env = unit_environment(service["Service"])
    graceful = float(env.get("ZERODEP_GRACEFUL_TIMEOUT", 30))
    drain = float(env.get("ZERODEP_DRAIN_DELAY", 0))
    for flag, name in (("--graceful-timeout", "graceful"), ("--drain-delay", "drain")):
        if flag in argv:  # the command line beats the environment
            value = float(argv[argv.index(flag) + 1])
            graceful, drain = (value, drain) if name == "graceful" else (graceful, value)
    assert seconds(svc["TimeoutStopSec"]) > graceful + drain + MASTER_MARGIN
    # No --bind: the activated socket is served (a --bind would add a second one).
    assert "-b" not in argv and "--bind" not in argv
    assert "zerodep-http.socket" in dict(service["Unit"])["Requires"]
    assert_env_settings_apply(env)


def test_socket_unit_fields():
    socket_unit = unit_entries(SYSTEMD / "zerodep-http.socket")
    sock = dict(socket_unit["Socket"])
    assert sock["ListenStream"] == "8000"
    assert sock.get("Service", "zerodep-http.service") == "zerodep-http.service"
    assert dict(socket_unit["Install"])["WantedBy"] == "sockets.target"


def test_notify_reload_dropin():
    entries = unit_entries(SYSTEMD / "notify-reload.conf")["Service"]
    assert ("Type", "notify-reload") in entries
    assert ("ExecReload", "") in entries  # clears the kill -HUP of the main unit
    assert dict(entries).get("ReloadSignal", "SIGHUP") == "SIGHUP"


#: systemd-analyze 254 unpacked by .ci/fetch-systemd-analyze, for hosts whose
#: own systemd (252 on Debian 12) predates Type=notify-reload.
UNPACKED_SYSTEMD = DEPLOY.parent / ".ci" / "cache" / "systemd"


def _systemd_version(command: list[str]) -> int:
    out = subprocess.run([*command, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"systemd (\d+)", out)
    return int(match.group(1)) if match else 0


def _systemd_analyze_with_notify_reload() -> list[str] | None:
    """A systemd-analyze that knows Type=notify-reload (systemd >= 253), if any."""
    if shutil.which("systemd-analyze") and _systemd_version(["systemd-analyze"]) >= 253:
        return ["systemd-analyze"]
    binary = UNPACKED_SYSTEMD / "usr" / "bin" / "systemd-analyze"
    libraries = list(UNPACKED_SYSTEMD.glob("usr/lib/*/systemd"))
    if binary.exists() and libraries:
        return ["env", f"LD_LIBRARY_PATH={libraries[0]}", str(binary)]
    return None


def _runnable_units(tmp_path: Path) -> Path:
    """Copies of the units whose ExecStart names an executable that exists here."""
    text = (SYSTEMD / "zerodep-http.service").read_text()
    text = re.sub(r"^ExecStart=\S+", f"ExecStart={PYTHON} -m zerodep_http", text, flags=re.M)
    text = re.sub(r"^WorkingDirectory=.*$", f"WorkingDirectory={tmp_path}", text, flags=re.M)
    (tmp_path / "zerodep-http.service").write_text(text)
    shutil.copy(SYSTEMD / "zerodep-http.socket", tmp_path)
    return tmp_path / "zerodep-http.service"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify(tmp_path):
    unit = _runnable_units(tmp_path)
    result = subprocess.run(["systemd-analyze", "verify", str(unit),
                             str(tmp_path / "zerodep-http.socket")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "zerodep-http" not in result.stderr, result.stderr
    # The shipped unit as is: its only complaint may be the absent binary.
    result = subprocess.run(["systemd-analyze", "verify", str(SYSTEMD / "zerodep-http.service")],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    problems = [line for line in result.stderr.splitlines()
                if "zerodep-http" in line and "is not executable" not in line]
    assert problems == [], result.stderr


def test_systemd_analyze_verify_notify_reload(tmp_path):
    analyze = _systemd_analyze_with_notify_reload()
    if analyze is None:
        pytest.skip("needs systemd-analyze >= 253; .ci/fetch-systemd-analyze unpacks one")
    unit = _runnable_units(tmp_path)
    (tmp_path / "zerodep-http.service.d").mkdir()
    shutil.copy(SYSTEMD / "notify-reload.conf", tmp_path / "zerodep-http.service.d")
    result = subprocess.run([*analyze, "verify", str(unit)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "notify-reload" not in result.stderr, result.stderr
    # The same check notices a type this systemd does not know.
    dropin = tmp_path / "zerodep-http.service.d" / "notify-reload.conf"
    dropin.write_text(dropin.read_text().replace("Type=notify-reload", "Type=notify-reloaded"))
    result = subprocess.run([*analyze, "verify", str(unit)],
                            capture_output=True, text=True, timeout=60)
    assert "notify-reloaded" in result.stderr


LAUNCHER = textwrap.dedent('''
    # What systemd does for a socket-activated service: the socket at fd 3,
    # LISTEN_FDS/LISTEN_PID (this pid, which exec keeps), then exec ExecStart.
    import os, sys
    fd = int(sys.argv[1])
    if fd != 3:
        os.dup2(fd, 3)
        os.close(fd)
    os.set_inheritable(3, True)
    os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES=sys.argv[2])
    os.execv(sys.executable, [sys.executable, "-m", "zerodep_http", *sys.argv[3:]])
''')


def test_started_as_the_units_start_it(serve, service, tmp_path):
    """Socket activation + NOTIFY_SOCKET + the unit's Environment and ExecStart
    arguments: READY=1, requests on the activated socket, ExecReload (HUP)
    reports RELOADING/READY, TERM reports STOPPING=1 and exits 0 within
    TimeoutStopSec; a connection made while the service is down is served by
    the next start (the socket outlives the service)."""
    svc = dict(service["Service"])
    argv = shlex.split(svc["ExecStart"])[1:]
    assert argv and ":" in argv[0]
    argv[0] = write_app(tmp_path)  # the unit's myapp:app
    fd_name = dict(unit_entries(SYSTEMD / "zerodep-http.socket")["Socket"]).get(
        "FileDescriptorName", "zerodep-http.socket")
    env = unit_environment(service["Service"])
    env.update(ZERODEP_WORKERS="2")
    (tmp_path / "launch.py").write_text(LAUNCHER)

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(64)
    port = listening.getsockname()[1]
    fd = listening.fileno()
    listener = NotifyListener()

    def start():
        return serve(str(fd), fd_name, *argv, pass_fds=(fd,),
                     command=[PYTHON, str(tmp_path / "launch.py")],
                     env=clean_env(NOTIFY_SOCKET=listener.name, **env))

    try:
        server = start()
        ready = listener.wait_for("READY", "1")
        assert ready["STATUS"] == "2 of 2 workers serving (generation 1)"
        assert server.listening() == f"http://127.0.0.1:{port}"
        assert server.count("Listening at") == 1  # the activated socket only
        assert get(port, "/version") == (200, "v1")
        assert get(port, env["ZERODEP_HEALTH_PATH"])[0] == 200
        assert get(port, env["ZERODEP_READY_PATH"])[0] == 200

        # ExecReload=/bin/kill -HUP $MAINPID
        server.signal(signal.SIGHUP)
        assert "MONOTONIC_USEC" in listener.wait_for("RELOADING", "1")
        assert listener.wait_for("READY", "1")["STATUS"].endswith("(generation 2)")
        assert get(port, "/version") == (200, "v1")

        # systemctl stop: KillMode=mixed sends TERM to the main process.
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        listener.wait_for("STOPPING", "1")
        assert server.wait(timeout=seconds(svc["TimeoutStopSec"])) == 0
        assert time.monotonic() - started < seconds(svc["TimeoutStopSec"])
        assert server.workers() == []

        # systemctl restart: the socket stays open, a client connects meanwhile.
        waiting = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        waiting.request("GET", "/version")
        server = start()
        response = waiting.getresponse()
        assert (response.status, response.read().decode()) == (200, "v1")
        waiting.close()
        listener.wait_for("READY", "1")
        server.signal(signal.SIGTERM)
        assert server.wait() == 0
    finally:
        listener.close()
        listening.close()


# --- the container image ------------------------------------------------------

def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        current += stripped
        if current.endswith("\\"):
            current = current[:-1].rstrip() + " "
            continue
        lines.append(current)
        current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in dockerfile_instructions():
        if instruction == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(args))
    return env


def test_dockerfile():
    instructions = dockerfile_instructions()
    named = {}
    for instruction, args in instructions:
        named.setdefault(instruction, []).append(args)
    assert len(named["FROM"]) >= 2  # multi-stage
    assert all(re.match(r"python:3\.\d+-slim\b", base) for base in named["FROM"])
    assert any("pip wheel" in run for run in named["RUN"])
    assert any("COPY --from=" in f"COPY {copy}" for copy in named["COPY"])
    # The last USER (of the runtime stage) is not root.
    last_from = max(i for i, (ins, _) in enumerate(instructions) if ins == "FROM")
    users = [args for ins, args in instructions[last_from:] if ins == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert json.loads(named["ENTRYPOINT"][-1]) == ["zerodep-http"]  # exec form
    assert isinstance(json.loads(named["CMD"][-1]), list)
    assert named["STOPSIGNAL"] == ["SIGTERM"]
    [healthcheck] = named["HEALTHCHECK"]
    assert "curl" not in healthcheck and "wget" not in healthcheck
    assert "urllib" in healthcheck
    env = dockerfile_env()
    graceful = float(env["ZERODEP_GRACEFUL_TIMEOUT"])
    drain = float(env.get("ZERODEP_DRAIN_DELAY", 0))
    assert graceful + drain < 10  # docker stop waits 10 s before SIGKILL
    assert env["ZERODEP_HEALTH_PATH"].startswith("/")
    assert env["PORT"].isdigit() and named["EXPOSE"] == [env["PORT"]]
    assert_env_settings_apply(env)
    assert f"bind = ['0.0.0.0:{env['PORT']}'] (env PORT)" in check_config(env)


def test_dockerignore():
    for name in (".dockerignore", "Dockerfile.dockerignore"):
        patterns = {line.strip() for line in (DEPLOY / "docker" / name).read_text().splitlines()
                    if line.strip() and not line.startswith("#")}
        assert {".git", ".venv", "tests"} <= patterns
        # What the wheel build needs stays in the context.
        assert not patterns & {"zerodep_http", "supervisor", "config", "pyproject.toml",
                               "README.md", "**", "*"}


def _healthcheck_argv() -> list[str]:
    [args] = [a for ins, a in dockerfile_instructions() if ins == "HEALTHCHECK"]
    return json.loads(args[args.index("CMD") + 3:].strip())


@pytest.mark.skipif(not unshare_works(), reason="unshare --pid is not permitted here")
def test_container_entrypoint_as_pid_1(serve):
    """ENTRYPOINT + CMD with the image's ENV, as PID 1 of a new PID namespace:
    serves, passes the HEALTHCHECK command, stops on SIGTERM within
    Docker's 10 s grace with exit status 0."""
    named = dict(dockerfile_instructions())
    entrypoint, cmd = json.loads(named["ENTRYPOINT"]), json.loads(named["CMD"])
    assert entrypoint == ["zerodep-http"]
    env = dockerfile_env()
    # -b 127.0.0.1:0 instead of the image's 0.0.0.0:$PORT: parallel-safe.
    server = serve(*cmd, "-b", "127.0.0.1:0", "-w", "2", env=clean_env(**env),
                   command=["unshare", "--pid", "--fork", "--mount-proc",
                            PYTHON, "-m", "zerodep_http"]).ready()
    assert server.wait_for(r"Listening at: \S+ \((\d+)\)").group(1) == "1"
    [master] = wait_until(lambda: children(server.pid), what="the namespace's init")
    assert len(children(master)) == 2
    assert server.get("/hello")[0] == 200
    assert server.get(env["ZERODEP_HEALTH_PATH"])[0] == 200
    health = subprocess.run([PYTHON if a == "python" else a for a in _healthcheck_argv()],
                            env=clean_env(PORT=str(server.port),
                                          ZERODEP_HEALTH_PATH=env["ZERODEP_HEALTH_PATH"]),
                            capture_output=True, text=True, timeout=10)
    assert health.returncode == 0, health.stderr
    # An idle keep-alive client must not hold the shutdown up.
    idle = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    idle.request("GET", "/hello")
    idle.getresponse().read()
    started = time.monotonic()
    os.kill(master, signal.SIGTERM)  # docker stop
    assert server.wait(timeout=10) == 0
    assert time.monotonic() - started < 10
    assert "Shutdown complete (exit status 0)" in server.stderr
    idle.close()


# --- Kubernetes ---------------------------------------------------------------

def parse_yaml(text: str):
    """The block-style YAML subset the manifests use: mappings, lists,
    scalars, flow lists/empty maps. Enough to check the fields; not general."""
    lines = []
    for raw in text.splitlines():
        content = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if content.strip() and content.strip() != "---":
            lines.append([len(content) - len(content.lstrip()), content.strip()])

    def scalar(value: str):
        if value.startswith(("[", "{", '"')):
            return json.loads(value)
        if re.fullmatch(r"-?\d+", value):
            return int(value)
        return {"true": True, "false": False}.get(value, value)

    def block(i: int, indent: int):
        if lines[i][1].startswith("- "):
            items = []
            while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
                rest = lines[i][1][2:].strip()
                if re.match(r"[\w.-]+:(\s|$)", rest):
                    lines[i] = [indent + 2, rest]  # the item is a mapping
                    item, i = block(i, indent + 2)
                else:
                    item, i = scalar(rest), i + 1
                items.append(item)
            return items, i
        mapping = {}
        while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("- "):
            key, _, value = lines[i][1].partition(":")
            value = value.strip()
            i += 1
            if value:
                mapping[key] = scalar(value)
            elif i < len(lines) and (lines[i][0] > indent or
                                     (lines[i][0] == indent and lines[i][1].startswith("- "))):
                mapping[key], i = block(i, lines[i][0])
            else:
                mapping[key] = None
        return mapping, i

    value, end = block(0, lines[0][0])
    assert end == len(lines), f"unparsed from line {lines[end]}"
    return value


def test_kubernetes_deployment():
    deployment = parse_yaml((DEPLOY / "kubernetes" / "deployment.yaml").read_text())
    assert (deployment["apiVersion"], deployment["kind"]) == ("apps/v1", "Deployment")
    spec = deployment["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    env = {item["name"]: str(item["value"]) for item in container["env"]}
    ready, live = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert ready["path"] == env["ZERODEP_READY_PATH"] == "/readyz"
    assert live["path"] == env["ZERODEP_HEALTH_PATH"] == "/healthz"
    [port] = container["ports"]
    assert ready["port"] == live["port"] == port["name"]
    assert str(port["containerPort"]) == env["PORT"]
    drain = float(env["ZERODEP_DRAIN_DELAY"])
    graceful = float(env.get("ZERODEP_GRACEFUL_TIMEOUT", 30))
    assert drain == 5
    assert pod["terminationGracePeriodSeconds"] > drain + graceful + MASTER_MARGIN - 1
    # The readiness probe notices the drain before the drain delay ends.
    probe = container["readinessProbe"]
    assert probe["periodSeconds"] * probe.get("failureThreshold", 3) < drain
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert_env_settings_apply(env)


def test_kubernetes_service():
    service = parse_yaml((DEPLOY / "kubernetes" / "service.yaml").read_text())
    deployment = parse_yaml((DEPLOY / "kubernetes" / "deployment.yaml").read_text())
    assert (service["apiVersion"], service["kind"]) == ("v1", "Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    port_names = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


def test_yaml_subset_parser():
    assert parse_yaml("a:\n  b: 1\n  c:\n  - x: [\"y\"]\n    z: {}\n  - w\nd: \"5\"\n") == {
        "a": {"b": 1, "c": [{"x": ["y"], "z": {}}, "w"]}, "d": "5"}


# --- load balancers -----------------------------------------------------------

def test_haproxy_cfg(tmp_path):
    text = (DEPLOY / "haproxy" / "haproxy.cfg").read_text()
    servers = re.findall(r"^\s*server\s+(\S+)\s+(\S+)(.*)$", text, flags=re.M)
    assert len(servers) >= 2
    assert any("send-proxy-v2" in options and "check" in options.split()
               for _, _, options in servers)
    assert "--proxy-protocol" in text  # documents how the PROXY backend is run
    assert re.search(r"^\s*option\s+forwardfor", text, flags=re.M)
    assert re.search(r"http-check send .*uri /readyz", text)
    if shutil.which("haproxy"):
        result = subprocess.run(["haproxy", "-c", "-f", str(DEPLOY / "haproxy" / "haproxy.cfg")],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr


def test_nginx_conf(tmp_path):
    text = (DEPLOY / "nginx" / "nginx.conf").read_text()
    assert text.count("{") == text.count("}")
    upstream = re.search(r"upstream\s+(\w+)\s*\{(.*?)\}", text, flags=re.S)
    assert upstream and re.search(r"^\s*keepalive\s+\d+;", upstream.group(2), flags=re.M)
    assert f"proxy_pass http://{upstream.group(1)};" in text
    assert "proxy_http_version 1.1;" in text
    # No "Connection: close" to the upstream (keep-alive), but the upgrade
    # of a WebSocket handshake passed on.
    connection_map = re.search(r"map\s+\$http_upgrade\s+\$(\w+)\s*\{(.*?)\}", text, flags=re.S)
    assert connection_map and re.search(r"''\s+'';", connection_map.group(2))
    assert re.search(r"default\s+upgrade;", connection_map.group(2))
    assert f"proxy_set_header Connection ${connection_map.group(1)};" in text
    assert "proxy_set_header Upgrade $http_upgrade;" in text
    read_timeout = re.search(r"proxy_read_timeout\s+(\d+)s;", text)
    assert read_timeout and int(read_timeout.group(1)) > 20  # above --ws-ping-interval
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx:
        result = subprocess.run([nginx, "-t", "-q", "-p", str(tmp_path), "-e",
                                 str(tmp_path / "error.log"), "-c", str(DEPLOY / "nginx" / "nginx.conf")],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in text
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
