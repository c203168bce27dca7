"""The error log and the access log, both reopened on SIGUSR1.

The error log goes through `logging` (the root logger, so the
application's own loggers land in the same place) to --error-logfile at
--log-level. The access log is the `zerodep_http.access` logger, fed by the
`AccessLog` callable the worker hands to the Server: gunicorn's atoms, or
one JSON object per line with `--access-log-format json`. Text the client
controls is escaped, so a request cannot forge or split log lines.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from zerodep_http.config import Config

    from zerodep_http.requests import Request

ERROR_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"
ACCESS_LOGGER = "zerodep_http.access"
#: The special --access-log-format value for JSON lines.
JSON_FORMAT = "json"


class ReopenableFileHandler(logging.FileHandler):
    """A file handler that `reopen()`s its path, for logrotate's rename + SIGUSR1."""

    def reopen(self) -> None:
        self.acquire()
        try:
            old, self.stream = self.stream, self._open()
            if old is not None:
                old.close()
        finally:
            self.release()


def _handler(path: str, default: TextIO) -> logging.Handler:
    if path == "-":
        return logging.StreamHandler(default)
    return ReopenableFileHandler(path, encoding="utf-8")


class LogSetup:
    """The handlers this program installed, so that they can be replaced
    (on reload) and reopened (on SIGUSR1)."""

    def __init__(self) -> None:
        self.error: logging.Handler | None = None
        self.access: logging.Handler | None = None
        self.key: tuple[Any, ...] | None = None

    def configure(self, config: Config) -> None:
        """Open the files named by the config; raises OSError if one cannot be opened."""
        key = (config.error_logfile, config.log_level, config.access_logfile)
        if key == self.key:
            return
        error = _handler(config.error_logfile, sys.stderr)
        error.setFormatter(logging.Formatter(ERROR_FORMAT, DATE_FORMAT))
        access = _handler(config.access_logfile, sys.stdout) if config.access_logfile else None
        if access is not None:
            access.setFormatter(logging.Formatter("%(message)s"))
        root = logging.getLogger()
        self._swap(root, self.error, error)
        root.setLevel(config.log_level.upper())
        access_logger = logging.getLogger(ACCESS_LOGGER)
        access_logger.propagate = False
        access_logger.setLevel(logging.INFO)
        self._swap(access_logger, self.access, access)
        self.error, self.access, self.key = error, access, key

    @staticmethod
    def _swap(logger: logging.Logger, old: logging.Handler | None,
              new: logging.Handler | None) -> None:
        if new is not None:
            logger.addHandler(new)
        if old is not None:
            logger.removeHandler(old)
            old.close()

    def reopen(self) -> None:
        for handler in (self.error, self.access):
            if isinstance(handler, ReopenableFileHandler):
                handler.reopen()

    def error_stream(self) -> TextIO:
        """Where faulthandler should write (a real file with a descriptor)."""
        stream = getattr(self.error, "stream", None)
        return stream if stream is not None and hasattr(stream, "fileno") else sys.stderr


#: The one set of handlers of this process (inherited by forked workers).
LOGS = LogSetup()

# -- access log -----------------------------------------------------------------

# Control characters (C0, DEL, C1), the quote and the backslash become escapes,
# as nginx and Apache do, so a request cannot end a quoted field or a line.
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7f, 0xa0))}
_ESCAPES[ord('"')] = '\\"'
_ESCAPES[ord("\\")] = "\\\\"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def escape(text: str) -> str:
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return text.translate(_ESCAPES)


def _request_target(request: Request) -> str:
    return f"{request.path}?{request.query_string}" if request.query_string else request.path


def _basic_auth_user(request: Request) -> str:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return "-"
    try:
        user = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        return "-"
    return escape(user) or "-"


class _Atoms(dict):
    """gunicorn's access log atoms, computed only when the format uses them."""

    def __init__(self, log: AccessLog, request: Request, status: int, size: int,
                 seconds: float) -> None:
        super().__init__()
        self.log, self.request, self.status, self.size, self.seconds = (
            log, request, status, size, seconds)

    def __missing__(self, key: str) -> str:
        request = self.request
        headers = request.headers
        if key == "h":
            return request.client_addr[0] if request.client_addr else "-"
        if key == "s":
            return str(self.status)
        if key == "b":
            return str(self.size) if self.size else "-"
        if key == "B":
            return str(self.size)
        if key == "r":
            return escape(f"{request.method} {_request_target(request)} HTTP/{request.http_version}")
        if key == "t":
            return self.log.timestamp()
        if key == "m":
            return escape(request.method)
        if key == "U":
            return escape(request.path)
        if key == "q":
            return escape(request.query_string)
        if key == "H":
            return f"HTTP/{request.http_version}"
        if key == "f":
            return escape(headers.get("referer", "-"))
        if key == "a":
            return escape(headers.get("user-agent", "-"))
        if key == "u":
            return _basic_auth_user(request)
        if key == "T":
            return str(int(self.seconds))
        if key == "M":
            return str(int(self.seconds * 1000))
        if key == "D":
            return str(int(self.seconds * 1_000_000))
        if key == "L":
            return f"{self.seconds:.6f}"
        if key == "p":
            return f"<{self.log.pid}>"
        if key.startswith("{") and key.endswith("}i"):
            return escape(headers.get(key[1:-2].lower(), "-"))
        return "-"  # l, response headers ({name}o), environment ({name}e)


class AccessLog:
    """The Server's access_log hook: one line per response."""

    def __init__(self, log_format: str, logger: logging.Logger | None = None) -> None:
        self.format = log_format
        self.json = log_format.strip().lower() == JSON_FORMAT
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)
        self.pid = os.getpid()
        self._second = -1
        self._timestamp = ""

    def timestamp(self) -> str:
        """`[10/Oct/2000:13:55:36 +0000]`, local time, English month names."""
        now = int(time.time())
        if now != self._second:
            local = time.localtime(now)
            self._second = now
            self._timestamp = (f"[{local.tm_mday:02d}/{_MONTHS[local.tm_mon - 1]}/"
                               f"{time.strftime('%Y:%H:%M:%S %z', local)}]")
        return self._timestamp

    def __call__(self, request: Request, status: int, size: int, seconds: float) -> None:
        if self.json:
            line = self.json_line(request, status, size, seconds)
        else:
            line = self.format % _Atoms(self, request, status, size, seconds)
        self.logger.info(line)

    def json_line(self, request: Request, status: int, size: int, seconds: float) -> str:
        # json.dumps escapes every control character; ensure_ascii keeps the
        # line plain ASCII whatever bytes the client sent.
        return json.dumps({
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "remote_addr": request.client_addr[0] if request.client_addr else None,
            "method": request.method,
            "path": request.path,
            "query": request.query_string,
            "protocol": f"HTTP/{request.http_version}",
            "status": status,
            "bytes": size,
            "duration": round(seconds, 6),
            "referer": request.headers.get("referer"),
            "user_agent": request.headers.get("user-agent"),
            "pid": self.pid,
        }, separators=(",", ":"))
