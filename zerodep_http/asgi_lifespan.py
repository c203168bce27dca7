"""The ASGI lifespan protocol (2.0): an application's startup and shutdown.

The application runs once with a `lifespan` scope, as a task beside the
requests, from the moment the serving process starts (`startup`) until it
stops (`shutdown`). `mode` is `--lifespan`: `on` requires the protocol,
`auto` goes on without it when the application does not speak it (it
raises or returns before answering the startup), `off` never runs it.
A `lifespan.startup.failed` is a failed boot in every mode.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .lifecycle import StartupFailed

log = logging.getLogger("zerodep_http.error")

MODES = ("auto", "on", "off")
_STARTUP = {"type": "lifespan.startup"}
_SHUTDOWN = {"type": "lifespan.shutdown"}


class Lifespan:
    """One application's lifespan: `state` is the namespace it fills at
    startup (copied into every request's scope), None when not running."""

    def __init__(self, app: Any, mode: str = "auto") -> None:
        if mode not in MODES:
            raise ValueError(f"lifespan mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.app = app
        self.mode = mode
        self.state: dict[str, Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        # Set by the application's answers: startup, then shutdown.
        self._answered: asyncio.Future[dict[str, Any]] | None = None
        self._started = False

    async def startup(self) -> None:
        """Run the application's startup; `StartupFailed` if it fails (or,
        with mode `on`, if it does not speak the protocol)."""
        if self.mode == "off":
            return
        loop = asyncio.get_running_loop()
        state: dict[str, Any] = {}
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": state}
        self._answered = loop.create_future()
        self._incoming.put_nowait(_STARTUP)
        self._task = loop.create_task(self._run(scope))
        answer = await self._answered
        kind = answer["type"]
        if kind == "lifespan.startup.complete":
            self.state = state
            self._started = True
            return
        if kind == "lifespan.startup.failed":
            raise StartupFailed(f"ASGI lifespan startup failed: {answer.get('message', '')}")
        error = answer.get("error")
        if self.mode == "on":
            raise StartupFailed(f"ASGI lifespan startup did not complete: {error}")
        log.info("The application does not use ASGI lifespan (%s); going on without it", error)

    async def shutdown(self, timeout: float) -> None:
        """Ask the application to shut down, and wait up to `timeout` seconds."""
        task = self._task
        if task is None or not self._started or task.done():
            return
        self._answered = asyncio.get_running_loop().create_future()
        self._incoming.put_nowait(_SHUTDOWN)
        try:
            answer = await asyncio.wait_for(asyncio.shield(self._answered), timeout)
        except TimeoutError:
            log.warning("ASGI lifespan shutdown still running after %.1f s; cancelling it", timeout)
            task.cancel()
            return
        finally:
            self.state = None
        if answer["type"] == "lifespan.shutdown.failed":
            log.error("ASGI lifespan shutdown failed: %s", answer.get("message", ""))
        elif answer["type"] != "lifespan.shutdown.complete":
            log.error("ASGI lifespan shutdown did not complete: %s", answer.get("error"))

    async def _run(self, scope: dict[str, Any]) -> None:
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:  # noqa: BLE001 - reported as the answer
            if self._started and not isinstance(exc, asyncio.CancelledError):
                log.error("Error in the ASGI lifespan", exc_info=exc)
            self._answer({"type": "error", "error": f"{type(exc).__name__}: {exc}"})
            if isinstance(exc, asyncio.CancelledError):
                raise
        else:
            self._answer({"type": "error", "error": "the application returned"})

    async def _receive(self) -> dict[str, Any]:
        return await self._incoming.get()

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        expected = (("lifespan.shutdown.complete", "lifespan.shutdown.failed") if self._started
                    else ("lifespan.startup.complete", "lifespan.startup.failed"))
        if kind not in expected:
            raise RuntimeError(f"ASGI lifespan: expected {' or '.join(expected)}, got {kind!r}")
        self._answer(message)

    def _answer(self, message: dict[str, Any]) -> None:
        if self._answered is not None and not self._answered.done():
            self._answered.set_result(message)
