"""The settings table: every setting declared once.

The command-line parser, the environment and TOML loaders, `--check-config`
and docs/settings.md are all derived from `SETTINGS`; adding a setting means
adding one `Setting` here and regenerating the docs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from zerodep_http import defaults

from . import converters as c
from .cpus import cpu_count

# gunicorn's default access log format.
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'

# A default that depends on the environment: (raw value, source) or None.
EnvDefault = Callable[[Mapping[str, str]], "tuple[Any, str] | None"]


@dataclass(frozen=True)
class Setting:
    name: str
    convert: c.Converter
    default: Any  # a raw value, or a function returning one
    help: str
    flags: tuple[str, ...] = ()  # none: the positional APP argument
    env_default: EnvDefault | None = None  # consulted before `default`
    default_doc: str | None = None  # describes a default that is not a constant
    not_in_file: str | None = None  # why the TOML file may not set it, if it may not

    @property
    def in_file(self) -> bool:
        return self.not_in_file is None

    @property
    def env(self) -> str:
        return "ZERODEP_" + self.name.upper()

    @property
    def flag(self) -> str:
        """The canonical command-line spelling, used in sources and docs."""
        return next((f for f in self.flags if f.startswith("--")), "APP")

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default

    def default_text(self) -> str:
        """The default as --help and the docs show it."""
        if self.default_doc:
            return self.default_doc
        return f"`{self.convert.show(self.convert.convert(self.default))}`"


def _port_env(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """Like gunicorn (and Heroku-style platforms): PORT means 0.0.0.0:$PORT."""
    if "PORT" in environ:
        return f"0.0.0.0:{environ['PORT']}", "env PORT"
    return None


def _web_concurrency_env(environ: Mapping[str, str]) -> tuple[str, str] | None:
    if "WEB_CONCURRENCY" in environ:
        return environ["WEB_CONCURRENCY"], "env WEB_CONCURRENCY"
    return None


_POSITIVE = c.Integer("a positive integer", minimum=1)
_COUNT = c.Integer("an integer >= 0 (0 = off)", minimum=0)
_BYTES = c.Integer("a positive integer (bytes)", minimum=1, metavar="BYTES")
_DELAY = c.Seconds("a number of seconds >= 0")
_TIMEOUT = c.Seconds("a number of seconds > 0", positive=True)
_PATH = "a file path, or empty for none"
_MEGABYTES = c.Integer("an integer >= 0 (megabytes; 0 = off)", minimum=0, metavar="MB")
#: Prometheus' own default buckets, with two more below 5 ms for a fast server.
DEFAULT_BUCKETS = "0.001,0.0025,0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10"

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "app", c.Text("module:attribute or module:factory(), or empty for the demo app",
                      check=c.check_app, optional=True, metavar="APP"),
        None,
        "The application to serve: `module:attribute` names an `App` object, "
        "`module:factory()` a function returning one. Without it a built-in "
        "demo app is served.",
        default_doc="none: the built-in demo app"),
    Setting(
        "config", c.Text(_PATH, optional=True, metavar="FILE"), None,
        "TOML file to read settings from (top-level keys are the setting names).",
        flags=("-c", "--config"), not_in_file="it names the file"),
    Setting(
        "bind", c.BindList(), ["127.0.0.1:8000"],
        "Address to listen on; repeat for several: `HOST:PORT`, `[IPv6]:PORT`, "
        "`unix:PATH` or `fd://N` (an inherited or socket-activated descriptor).",
        flags=("-b", "--bind"), env_default=_port_env,
        default_doc="`['127.0.0.1:8000']`, or `0.0.0.0:$PORT` when `PORT` is set"),
    Setting(
        "workers", _POSITIVE, cpu_count,
        "Number of worker processes.",
        flags=("-w", "--workers"), env_default=_web_concurrency_env,
        default_doc="`WEB_CONCURRENCY` when set, else the CPUs this process may use "
                    "(affinity mask and cgroup CPU quota, rounded up)"),
    Setting(
        "graceful_timeout", _DELAY, defaults.GRACEFUL_TIMEOUT,
        "On shutdown or reload, how long in-flight requests may take to finish "
        "before their worker is killed.",
        flags=("--graceful-timeout",)),
    Setting(
        "timeout", _TIMEOUT, 30.0,
        "A worker whose event loop is blocked for longer than this is killed and replaced.",
        flags=("-t", "--timeout")),
    Setting(
        "boot_timeout", _TIMEOUT, 30.0,
        "How long a worker may take to import and start the app before it counts as failed.",
        flags=("--boot-timeout",)),
    Setting(
        "keep_alive", _DELAY, defaults.KEEP_ALIVE,
        "How long an idle keep-alive connection is kept open; 0 disables keep-alive.",
        flags=("--keep-alive",)),
    Setting(
        "max_requests", _COUNT, 0,
        "Replace a worker once it has served this many requests; 0 = never. "
        "It stops accepting as soon as another worker can take its "
        "connections (with a single worker: once its replacement serves).",
        flags=("--max-requests",)),
    Setting(
        "max_requests_jitter", _COUNT, 0,
        "Add a random 0..N to `max_requests` per worker, so workers do not all "
        "restart at once.",
        flags=("--max-requests-jitter",)),
    Setting(
        "max_worker_memory", _MEGABYTES, 0,
        "Replace a worker whose resident memory exceeds this many megabytes "
        "(checked on every heartbeat); 0 = never. The replacement starts first, "
        "so capacity never drops.",
        flags=("--max-worker-memory",)),
    Setting(
        "max_worker_lifetime", _DELAY, 0.0,
        "Replace a worker once it has run this many seconds; 0 = never. The "
        "replacement starts first, so capacity never drops.",
        flags=("--max-worker-lifetime",)),
    Setting(
        "max_worker_lifetime_jitter", _DELAY, 0.0,
        "Add a random 0..N seconds to `max_worker_lifetime` per worker, so "
        "workers do not all restart at once.",
        flags=("--max-worker-lifetime-jitter",)),
    Setting(
        "backlog", _POSITIVE, defaults.BACKLOG,
        "Maximum number of pending connections (the listen() backlog).",
        flags=("--backlog",)),
    Setting(
        "limit_request_line", _BYTES, defaults.LIMITS.request_line,
        "Maximum size of the request line in bytes, not counting its CRLF (as "
        "gunicorn counts it); longer gets 414.",
        flags=("--limit-request-line",)),
    Setting(
        "limit_request_fields", _POSITIVE, defaults.LIMITS.header_fields,
        "Maximum number of header fields in a request; more gets 431.",
        flags=("--limit-request-fields",)),
    Setting(
        "limit_request_field_size", _BYTES, defaults.LIMITS.header_field_size,
        "Maximum size of one header or trailer field line in bytes, its CRLF "
        "included (as gunicorn counts it): at 8190, a line of 8188 bytes and "
        "its CRLF passes, one of 8189 gets 431.",
        # gunicorn spells its flag with an underscore; accept that too.
        flags=("--limit-request-field-size", "--limit-request-field_size")),
    Setting(
        "max_body_size", _BYTES, defaults.MAX_BODY_SIZE,
        "Maximum size of a request body; larger gets 413. An app that sets "
        "its own (`App(max_body_size=...)`) keeps it: the more specific "
        "setting wins.",
        flags=("--max-body-size",)),
    Setting(
        "read_timeout", _TIMEOUT, defaults.READ_TIMEOUT,
        "How long a request head, or a wait for more of a request body, may "
        "take; then 408. An app that sets its own (`App(read_timeout=...)`) "
        "keeps it.",
        flags=("--read-timeout",)),
    Setting(
        "ws_max_message_size", _BYTES, defaults.WS_MAX_MESSAGE_SIZE,
        "Largest WebSocket message accepted, counted after decompression; a "
        "larger one closes the WebSocket with 1009.",
        flags=("--ws-max-message-size",)),
    Setting(
        "ws_ping_interval", _DELAY, defaults.WS_PING_INTERVAL,
        "Seconds between the keep-alive pings sent on every open WebSocket "
        "(they also keep proxies from closing idle ones); 0 sends none.",
        flags=("--ws-ping-interval",)),
    Setting(
        "ws_ping_timeout", _DELAY, defaults.WS_PING_TIMEOUT,
        "How long a keep-alive ping waits for its pong before the WebSocket is "
        "dropped (a close frame with 1011 if it can still go out); 0 waits forever.",
        flags=("--ws-ping-timeout",)),
    Setting(
        "certfile", c.Text("a path to an existing file, or empty for none",
                           check=c.check_file_exists, optional=True, metavar="FILE"),
        None,
        "TLS certificate chain (PEM). Serves HTTPS; needs `keyfile` too.",
        flags=("--certfile",)),
    Setting(
        "keyfile", c.Text("a path to an existing file, or empty for none",
                          check=c.check_file_exists, optional=True, metavar="FILE"),
        None,
        "TLS private key (PEM). Needs `certfile` too.",
        flags=("--keyfile",)),
    Setting(
        "forwarded_allow_ips", c.IPList(), defaults.FORWARDED_ALLOW_IPS,
        "Peers trusted to set `Forwarded`/`X-Forwarded-*` headers (and the "
        "PROXY protocol header): IP addresses and CIDR networks, or `*` for any.",
        flags=("--forwarded-allow-ips",)),
    Setting(
        "proxy_protocol", c.Flag(), False,
        "Expect a PROXY protocol (v1 or v2) header on every connection from a "
        "trusted peer, as sent by HAProxy or a cloud load balancer.",
        flags=("--proxy-protocol",)),
    Setting(
        "access_logfile", c.Text("a file path, '-' for stdout, or empty for none",
                                 optional=True, metavar="FILE"),
        None,
        "Where to write the access log; `-` is stdout. Off unless set.",
        flags=("--access-logfile",)),
    Setting(
        "access_log_format", c.Text("a %-format string with %(name)s atoms",
                                    check=c.check_log_format, metavar="FORMAT"),
        ACCESS_LOG_FORMAT,
        "Access log line format, with gunicorn's atoms (`%(h)s` remote address, "
        "`%(r)s` request line, `%(s)s` status, `%(b)s` body bytes, ...).",
        # gunicorn spells it --access-logformat; accept that too.
        flags=("--access-log-format", "--access-logformat")),
    Setting(
        "error_logfile", c.Text("a file path, or '-' for stderr", metavar="FILE"), "-",
        "Where to write the error log; `-` is stderr.",
        flags=("--error-logfile", "--log-file")),  # gunicorn has both
    Setting(
        "log_level", c.Choice(("debug", "info", "warning", "error", "critical"),
                              "debug, info, warning, error or critical"),
        "info",
        "Minimum level of error log messages.",
        flags=("--log-level",)),
    Setting(
        "pid", c.Text(_PATH, optional=True, metavar="FILE"), None,
        "Write the master's process id to this file.",
        flags=("-p", "--pid")),
    Setting(
        "preload", c.Flag(), False,
        "Import the app in the master before forking workers (saves memory, "
        "but a reload then needs a full restart to pick up new code).",
        flags=("--preload",)),
    Setting(
        "health_path", c.Text("a URL path starting with '/', or empty for none",
                              check=c.check_url_path, optional=True, metavar="PATH"),
        None,
        "Answer 200 on this path while the process serves (liveness). Off unless set.",
        flags=("--health-path",)),
    Setting(
        "ready_path", c.Text("a URL path starting with '/', or empty for none",
                             check=c.check_url_path, optional=True, metavar="PATH"),
        None,
        "Answer 200 on this path while ready, 503 from the moment a drain starts "
        "(readiness). Off unless set.",
        flags=("--ready-path",)),
    Setting(
        "drain_delay", _DELAY, 0.0,
        "On shutdown, keep accepting for this long after the readiness path turns "
        "503, so load balancers stop routing here first.",
        flags=("--drain-delay",)),
    Setting(
        "loop", c.Choice(("auto", "asyncio", "uvloop"),
                         "auto, asyncio or uvloop (uvloop needs the uvloop package)",
                         check=c.check_loop),
        "auto",
        "Event loop: `auto` uses uvloop when it is installed, else asyncio.",
        flags=("--loop",)),
    Setting(
        "reuse_port", c.Flag(), False,
        "Give each worker its own SO_REUSEPORT listening socket for every TCP "
        "bind, bound and kept by the master; the kernel hashes each new "
        "connection to one of them, which spreads them less evenly. Off: all "
        "workers accept from one shared socket (as they always do from unix "
        "and inherited sockets) and take turns, so that their connection "
        "counts stay within one of each other.",
        flags=("--reuse-port",)),
    Setting(
        "chdir", c.Text("a directory path, or empty for none", optional=True, metavar="DIR"),
        None,
        "Change to this directory first, as `cd DIR` would: the application is "
        "imported from it, and relative paths (the config and env files, logs, "
        "certificates, the pid file, unix sockets) are taken from it.",
        flags=("--chdir",),
        not_in_file="it is applied before the file is read"),
    Setting(
        "env_file", c.TextList("file paths, comma-separated in the environment",
                               check=c.check_file_exists, metavar="PATH"),
        [],
        "Read environment variables from this dotenv file (`KEY=VALUE` lines, "
        "`export` prefix, single or double quotes, `#` comments); repeat for "
        "several, later files winning. They are set before the application is "
        "imported and before `ZERODEP_*` settings are read, and re-read on "
        "`HUP`; a variable already in the process environment is left as it is.",
        flags=("--env-file",),
        not_in_file="the files are read before it"),
    Setting(
        "interface", c.Choice(("auto", "native", "asgi", "wsgi"), "auto, native, asgi or wsgi"),
        "auto",
        "What kind of application `app` names: `native` a zerodep_http `App`, `asgi` an "
        "ASGI 3 application, `wsgi` a WSGI (PEP 3333) one. `auto` tells them apart: an "
        "`App`; an async callable `(scope, receive, send)`; a callable "
        "`(environ, start_response)`.",
        flags=("--interface",)),
    Setting(
        "threads", _POSITIVE, defaults.THREADS,
        "Threads per worker that run a WSGI application's requests (more wait their "
        "turn). The event loop never runs WSGI code, and a response goes out from "
        "the loop, so a slow client does not hold a thread once the application is done.",
        flags=("--threads",)),
    Setting(
        "lifespan", c.Choice(("auto", "on", "off"), "auto, on or off"), defaults.LIFESPAN,
        "ASGI lifespan (startup and shutdown events): `on` requires the application "
        "to speak it, `auto` goes on without it when the application does not, `off` "
        "never sends it. A failed startup is a failed boot in every mode.",
        flags=("--lifespan",)),
    Setting(
        "root_path", c.Text("empty, or a path starting with '/' and not ending with '/', "
                            "e.g. /api", check=c.check_root_path, optional=True,
                            metavar="PREFIX"),
        None,
        "The path prefix under which a proxy mounts the application. ASGI "
        "applications get it as `root_path` (their `path` carries it too) and WSGI "
        "ones as `SCRIPT_NAME` (split off `PATH_INFO`), whether the proxy passes the "
        "prefix on or strips it: a path that starts with it is taken to carry it.",
        flags=("--root-path",)),
    Setting(
        "reload", c.Flag(), False,
        "Development: watch the application's source files (its package or "
        "directory, plus `reload_dir`) and reload the workers when one changes, "
        "as `HUP` does. An edit that does not import keeps the old workers "
        "serving. Not with `preload`.",
        flags=("--reload",)),
    Setting(
        "reload_dir", c.TextList("directory paths, comma-separated in the environment",
                                 check=c.check_directory_exists, metavar="DIR"),
        [],
        "With `reload`: another directory to watch; repeat for several.",
        flags=("--reload-dir",)),
    Setting(
        "reload_include", c.TextList("glob patterns, comma-separated in the environment",
                                     metavar="GLOB"),
        [],
        "With `reload`: more files to watch, by glob (`*.html`, `templates/*`), "
        "besides `*.py`. Hidden directories, `__pycache__`, `.venv` and "
        "`site-packages` are never watched.",
        flags=("--reload-include",)),
    Setting(
        "metrics_bind", c.Address(), None,
        "Serve Prometheus metrics at `http://HOST:PORT/metrics`, from the master "
        "on its own listener, summed over all workers. Off unless set; a "
        "change takes effect after a restart.",
        flags=("--metrics-bind",)),
    Setting(
        "metrics_buckets", c.Buckets(), DEFAULT_BUCKETS,
        "Upper bounds, in seconds, of the request duration histogram's buckets; "
        "a change takes effect after a restart.",
        flags=("--metrics-buckets",)),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
