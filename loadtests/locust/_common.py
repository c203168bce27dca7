"""What every locust file here shares: a checked request, and the rule for
connections refused after the runner sent TERM.

Not a locustfile itself (it defines no runnable user). The directory has no
`__init__.py` on purpose: a package named `locust` would shadow locust
itself for anyone whose working directory is `loadtests/`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from locust import HttpUser, between, events
from locust.exception import StopUser
from locust.runners import WorkerRunner
from requests import Response
from requests.exceptions import RequestException


def _load_content():
    """loadtests/apps/content.py, the generator of the static files the app
    serves, imported by its path: this directory is all locust puts on
    sys.path, and the repository root would bring its top-level supervisor/
    and config/ directories with it."""
    if "loadtests_content" in sys.modules:
        return sys.modules["loadtests_content"]
    path = Path(__file__).resolve().parents[1] / "apps" / "content.py"
    spec = importlib.util.spec_from_file_location("loadtests_content", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[spec.name] = module
    return module


content = _load_content()

__all__ = ["TIMEOUT", "CheckedUser", "content", "term_sent", "think"]

#: (connect, read) timeouts of every request: no user ever waits unbounded.
TIMEOUT = (5.0, 30.0)

#: Multiplies every user's think time (wait_time): 0 makes users send their
#: next request as soon as the last one is answered (a throughput run).
THINK_SCALE = float(os.environ.get("LOADTEST_THINK_SCALE") or 1.0)

#: The runner creates this file just before it sends TERM to the master;
#: from then on a refused connection is expected, not a failure.
TERM_FILE = os.environ.get("LOADTEST_TERM_FILE")

#: The name under which expected refusals appear in locust's statistics
#: (request type "TERM"; the runner's summary counts them apart).
REFUSED_AFTER_TERM = "connection refused after TERM (expected)"

#: When set, the final failure table is written there as JSON at exit: locust
#: rewrites its _failures.csv once a second but not at exit, so the CSV can
#: miss the last second.
ERRORS_FILE = os.environ.get("LOADTEST_ERRORS_FILE")

Check = Callable[[Response], "str | None"]
_environment = None


@events.init.add_listener
def _remember_environment(environment, **kwargs) -> None:
    global _environment
    _environment = environment


@events.quit.add_listener
def _write_errors(exit_code: int, **kwargs) -> None:
    runner = _environment.runner if _environment is not None else None
    if not ERRORS_FILE or runner is None or isinstance(runner, WorkerRunner):
        return
    with open(ERRORS_FILE, "w") as file:
        json.dump(list(runner.stats.serialize_errors().values()), file, indent=1)


def think(low: float, high: float):
    """A wait_time of `low`..`high` seconds, scaled by LOADTEST_THINK_SCALE."""
    return between(low * THINK_SCALE, high * THINK_SCALE)


def term_sent() -> bool:
    return bool(TERM_FILE) and os.path.exists(TERM_FILE)


def refused(error: BaseException | None) -> bool:
    """Whether `error` (a requests exception) is, at its root, ECONNREFUSED."""
    seen = set()
    stack = [error]
    while stack:
        exc = stack.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        if isinstance(exc, ConnectionRefusedError):
            return True
        stack += [exc.__cause__, exc.__context__, getattr(exc, "reason", None)]
        stack += [arg for arg in getattr(exc, "args", ()) if isinstance(arg, BaseException)]
    return "Connection refused" in str(error)


def describe(error: BaseException) -> str:
    """A short, stable failure text (locust groups failures by it): the
    exception requests raised and, when different, the one at its root."""
    root: BaseException = error
    for _ in range(10):
        inner = root.__cause__ or root.__context__ or getattr(root, "reason", None)
        if not isinstance(inner, BaseException) or inner is root:
            break
        root = inner
    text = f"{type(root).__name__}: {root}"
    if root is not error and not isinstance(root, OSError):
        text = f"{type(error).__name__} ({text})"
    # Drop per-connection object addresses so that equal errors group together.
    return text.split(" object at 0x")[0][:200]


class CheckedUser(HttpUser):
    """An HttpUser whose every request is validated (catch_response).

    A request fails when there is no response (reset, timeout, ...), when
    the status is not the expected one, or when `check(response)` returns a
    reason. After the runner's TERM a refused connection stops the user and
    is counted under `REFUSED_AFTER_TERM` instead.
    """

    abstract = True

    def call(self, method: str, url: str, *, name: str | None = None, expect: int = 200,
             check: Check | None = None, **kwargs) -> Response | None:
        kwargs.setdefault("timeout", TIMEOUT)
        with self.client.request(method, url, name=name, catch_response=True, **kwargs) as resp:
            if resp.error is not None:
                if term_sent() and refused(resp.error):
                    resp.request_meta["request_type"] = "TERM"
                    resp.request_meta["name"] = REFUSED_AFTER_TERM
                    resp.success()
                    raise StopUser()
                resp.failure(describe(resp.error))
                return None
            if resp.status_code != expect:
                resp.failure(f"status {resp.status_code}, expected {expect}")
                return None
            try:
                problem = check(resp) if check else None
            except (ValueError, KeyError, TypeError, RequestException) as exc:
                problem = describe(exc)
            if problem:
                resp.failure(problem)
                return None
            resp.success()
            return resp


def json_equals(expected: object) -> Check:
    def check(resp: Response) -> str | None:
        got = resp.json()
        return None if got == expected else f"unexpected JSON {str(got)[:80]}"
    return check


def body_equals(expected: bytes, content_type: str | None = None) -> Check:
    def check(resp: Response) -> str | None:
        if content_type is not None and resp.headers.get("content-type") != content_type:
            return f"content-type {resp.headers.get('content-type')!r}, expected {content_type!r}"
        if resp.content != expected:
            return f"body of {len(resp.content)} bytes differs from the {len(expected)} expected"
        return None
    return check
