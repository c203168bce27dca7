"""A headless Chromium (Debian's package) driven through the DevTools
protocol, for tests where a real browser decides (forms, cookies, CORS,
WebSockets). `.ci/run` installs chromium; tests skip when it is missing.

    with Browser(tmp_path) as browser:
        page = browser.new_page()
        page.goto("http://127.0.0.1:8000/login")
        page.evaluate("document.forms[0].submit()")
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed "
                                    "(.ci/run installs Debian's chromium)")
WAIT = 20.0
_DEVTOOLS = re.compile(r"DevTools listening on (ws://\S+)")


class Browser:
    """One headless Chromium with a profile of its own under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-extensions", "--remote-debugging-port=0",
             f"--user-data-dir={directory / 'chromium-profile'}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, start_new_session=True)
        self.endpoint = self._wait_for_endpoint()
        # Keep draining stderr, or Chromium blocks once the pipe is full.
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()  # type: ignore[union-attr]
        self._stack = contextlib.ExitStack()
        self.connection = self._stack.enter_context(
            connect(self.endpoint, max_size=None, open_timeout=WAIT))
        self._ids = itertools.count(1)

    def _wait_for_endpoint(self) -> str:
        deadline = time.monotonic() + WAIT
        seen = []
        for line in self.proc.stderr:  # type: ignore[union-attr]
            seen.append(line)
            if match := _DEVTOOLS.search(line):
                return match.group(1)
            if time.monotonic() > deadline:
                break
        self.close()
        raise AssertionError("chromium did not start:\n" + "".join(seen[-20:]))

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and wait for its result."""
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        self.connection.send(json.dumps(message))
        deadline = time.monotonic() + WAIT
        while True:
            reply = json.loads(self.connection.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def new_page(self) -> Page:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        return Page(self, session)

    def close(self) -> None:
        try:
            if hasattr(self, "_stack"):
                self._stack.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class Page:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def goto(self, url: str) -> None:
        self.browser.call("Page.navigate", self.session, url=url)
        self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (a promise is awaited)."""
        result = self.browser.call("Runtime.evaluate", self.session, expression=expression,
                                   awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = WAIT) -> Any:
        """Poll a JavaScript expression until it is truthy."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(expression)
            except AssertionError:
                value = None  # mid-navigation: no document to evaluate in
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            time.sleep(0.05)
