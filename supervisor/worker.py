"""A worker process: serve the inherited listeners with a fresh event loop.

`run_worker` is called in the child right after `os.fork()` and never
returns. The worker talks to the master only through its pipe (see
`messages`) and its exit status, and hears from it only through signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import os
import random
import signal
import socket
import ssl
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from zerodep_http.parser import Limits
from zerodep_http.protocol import AccessLog as ServerAccessLog
from zerodep_http.protocol import ConnectionSettings
from zerodep_http.server import Server

from . import messages
from .appload import AppLoadError, effective_config, load_app, serve_as
from .balance import SlotBalance
from .logs import LOGS, AccessLog
from .metrics import WorkerMetrics
from .messages import Exit
from .recycling import MemoryLimit

if TYPE_CHECKING:
    from zerodep_http.config import Config

    from zerodep_http.requests import Request

log = logging.getLogger("zerodep_http.error")

#: How far a worker that reached --max-requests lowers its CPU priority
#: (nice): its replacement gets about ten times its share of a busy CPU.
RECYCLED_NICENESS = 10
#: After the listeners close, how long a keep-alive connection may stay
#: between requests before it is closed. A busy connection gets its next
#: response with `Connection: close` well within this; closing it at once
#: would race with a request already on the wire (the client sees a reset).
IDLE_GRACE = 1.0


@dataclass
class WorkerSpec:
    """What the master hands a new worker."""

    config: Config
    sockets: list[socket.socket]
    pipe: int                      # write end of the worker's pipe to the master
    generation: int
    master_pid: int
    app: Any = None                # already imported (--preload)
    master_only: list[object] = field(default_factory=list)  # sockets and fds to close
    balance: SlotBalance | None = None  # shares connections out with sibling workers
    shared: list[socket.socket] = field(default_factory=list)  # `sockets` all workers accept from
    metrics: WorkerMetrics | None = None  # its slot of the shared request counters


def run_worker(spec: WorkerSpec) -> NoReturn:
    """The body of a forked worker: exits with an `Exit` status, never returns."""
    code: int = Exit.FAILURE
    try:
        code = Worker(spec).run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else Exit.FAILURE
    except BaseException:
        log.exception("Worker %d crashed", os.getpid())
    finally:
        try:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            logging.shutdown()
        finally:
            os._exit(code)


def _reset_signals() -> None:
    """Forget the master's handlers: a signal now either has its default
    effect (TERM, QUIT, USR2 end a worker that is still booting) or is
    ignored until the event loop takes it over."""
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR2, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    # INT: Ctrl-C reaches the whole process group; the master decides what
    # it means. HUP, TTIN, TTOU, WINCH are the master's business too.
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGTTIN,
                   signal.SIGTTOU, signal.SIGWINCH):
        signal.signal(signum, signal.SIG_IGN)


_LOOP_SIGNALS = (messages.STOP, messages.RETIRE, messages.STOP_NOW, messages.REOPEN_LOGS)


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Close the loop with its signals ignored: the loop closes its wakeup
    pipe before it uninstalls its handlers, and a signal in between (the
    master's TERM on top of one sent to the whole process group) would
    print a traceback about a bad file descriptor."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _LOOP_SIGNALS)
    try:
        for signum in _LOOP_SIGNALS:
            loop.remove_signal_handler(signum)
            signal.signal(signum, signal.SIG_IGN)
        loop.close()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _LOOP_SIGNALS)


def _close_master_only(objects: list[object]) -> None:
    for obj in objects:
        try:
            if isinstance(obj, int):
                os.close(obj)
            else:
                obj.close()  # type: ignore[attr-defined]
        except OSError:
            pass


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """The loop --loop asks for: uvloop only when it is installed."""
    if kind in ("auto", "uvloop"):
        try:
            import uvloop  # type: ignore[import-not-found]
        except ImportError:
            if kind == "uvloop":
                raise
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def build_server(app: Any, config: Config, balance: SlotBalance | None = None,
                 metrics: WorkerMetrics | None = None) -> Server:
    """The server for this worker, with the settings that apply to `app`
    (an App, or an ASGI or WSGI application served through its adapter)."""
    config = effective_config(config, app)
    limits = Limits(request_line=config.limit_request_line,
                    header_fields=config.limit_request_fields,
                    header_field_size=config.limit_request_field_size,
                    body_size=config.max_body_size)
    access_log = _response_hook(
        AccessLog(config.access_log_format) if config.access_logfile else None,
        metrics.response_sent if metrics is not None else None)
    settings = ConnectionSettings(
        limits=limits, keep_alive=config.keep_alive, read_timeout=config.read_timeout,
        forwarded_allow_ips=config.forwarded_allow_ips, proxy_protocol=config.proxy_protocol,
        root_path=config.root_path or "", access_log=access_log,
        ws_max_message_size=config.ws_max_message_size, ws_ping_interval=config.ws_ping_interval,
        ws_ping_timeout=config.ws_ping_timeout)
    return Server(serve_as(app, config), settings, health_path=config.health_path,
                  ready_path=config.ready_path, balance=balance)


def _response_hook(*hooks: ServerAccessLog | None) -> ServerAccessLog | None:
    """The Server calls one function per response: the access log, the
    metrics, both, or none."""
    present = [hook for hook in hooks if hook is not None]
    if len(present) < 2:
        return present[0] if present else None

    def each(request: Request, status: int, size: int, seconds: float) -> None:
        for hook in present:
            hook(request, status, size, seconds)
    return each


def build_ssl_context(config: Config) -> ssl.SSLContext | None:
    if not config.certfile:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.certfile, config.keyfile)
    return context


class Worker:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.config = spec.config
        self.pid = os.getpid()
        self.server: Server | None = None
        self.ssl_context: ssl.SSLContext | None = None
        self.stop: asyncio.Event | None = None
        self.force: asyncio.Event | None = None
        self.drain_first = False       # SIGTERM: readiness fails for --drain-delay first
        self.master_gone = False
        config = self.config
        # Heartbeats often enough that a healthy worker is never mistaken for a hung one.
        self.heartbeat_interval = min(1.0, config.timeout / 4)
        self.max_requests = 0
        if config.max_requests:
            self.max_requests = config.max_requests + random.randint(0, config.max_requests_jitter)
        self.memory_limit = MemoryLimit(config.max_worker_memory) if config.max_worker_memory else None

    def run(self) -> int:
        spec = self.spec
        _reset_signals()
        _close_master_only(spec.master_only)
        os.set_blocking(spec.pipe, False)
        faulthandler.enable(file=LOGS.error_stream(), all_threads=True)
        app = spec.app
        if app is None:
            try:
                app = load_app(self.config.app, self.config.interface)
            except AppLoadError as exc:
                log.error("Cannot load the application: %s", exc)
                return Exit.APP_IMPORT_FAILED
            except BaseException:
                log.exception("Cannot import the application %s", self.config.app or "(demo)")
                return Exit.APP_IMPORT_FAILED
        try:
            self.server = build_server(app, self.config, spec.balance, spec.metrics)
            self.server.max_requests = self.max_requests
            self.server.on_max_requests = self._reached_max_requests
            ssl_context = build_ssl_context(self.config)
            loop = new_event_loop(self.config.loop)
        except Exception:
            log.exception("Worker %d failed to boot", self.pid)
            return Exit.BOOT_FAILED
        asyncio.set_event_loop(loop)
        try:
            return loop.run_until_complete(self.serve(ssl_context))
        finally:
            _close_loop(loop)

    async def serve(self, ssl_context: ssl.SSLContext | None) -> int:
        loop = asyncio.get_running_loop()
        self.ssl_context = ssl_context
        server = self.server
        self.stop, self.force = asyncio.Event(), asyncio.Event()
        loop.add_signal_handler(messages.STOP, self._on_stop)
        loop.add_signal_handler(messages.RETIRE, self._on_retire)
        loop.add_signal_handler(messages.STOP_NOW, self._on_stop_now)
        loop.add_signal_handler(messages.REOPEN_LOGS, self._on_reopen_logs)
        startup = getattr(server.application, "startup", None)
        if startup is not None:
            try:
                await startup()
            except Exception as exc:  # StartupFailed names the hook
                log.error("Worker %d failed to boot: %s", self.pid, exc)
                return Exit.BOOT_FAILED
        try:
            await server.start(self.spec.sockets, ssl_context=ssl_context,
                               backlog=self.config.backlog, shared=self.spec.shared)
        except Exception:
            log.exception("Worker %d failed to start serving", self.pid)
            return Exit.BOOT_FAILED
        self._send(messages.SERVING)
        log.debug("Worker %d serving (generation %d)", self.pid, self.spec.generation)
        self._heartbeat()
        await self.stop.wait()
        give_up = loop.time() + self.config.graceful_timeout
        await self.drain()
        cleanup = getattr(server.application, "cleanup", None)
        if cleanup is not None:
            await cleanup(0.0 if self.force.is_set() else max(0.0, give_up - loop.time()))
        self._publish_metrics()  # the final counts, which the master keeps
        served = server.requests_served
        log.debug("Worker %d exiting: served %d request%s", self.pid, served,
                  "" if served == 1 else "s")
        return Exit.OK

    # -- talking to the master ------------------------------------------------

    def _reached_max_requests(self) -> None:
        """Called by the server as its count reaches --max-requests (plus
        jitter): the master starts a replacement now, not a heartbeat later,
        and retires this worker once another can take its connections.

        From now on this worker yields the CPU to the others when they
        compete for it: its replacement then boots sooner, and takes over
        sooner, where this worker would have served on at full speed."""
        self._send(messages.RECYCLE)
        with contextlib.suppress(OSError):
            os.nice(RECYCLED_NICENESS)

    def _heartbeat(self) -> None:
        """Runs on the event loop's own timer: if the loop is stuck, it is silent."""
        if os.getppid() != self.spec.master_pid:
            self._master_died()
        elif self.max_requests and self.server.requests_served >= self.max_requests:
            # Said again on every beat until the master acts: harmless, and
            # robust against a full pipe or a master that ignored the first
            # one during a reload.
            if not self.stop.is_set():
                self._send(messages.RECYCLE)
        elif self.memory_limit is not None and not self.stop.is_set() \
                and self.memory_limit.exceeded():
            self._send(messages.OVER_MEMORY)  # repeated on every beat, like RECYCLE
        else:
            self._send(messages.HEARTBEAT)
        self._publish_metrics()
        asyncio.get_running_loop().call_later(self.heartbeat_interval, self._heartbeat)

    def _publish_metrics(self) -> None:
        if self.spec.metrics is not None:
            server = self.server
            self.spec.metrics.publish(server.requests_in_progress(), len(server.connections))

    def _send(self, message: bytes) -> None:
        try:
            os.write(self.spec.pipe, message)
        except BlockingIOError:
            pass  # the master is busy; the next beat will do
        except BrokenPipeError:
            self._master_died()

    def _master_died(self) -> None:
        if not self.master_gone:
            self.master_gone = True
            log.warning("Worker %d: the master is gone; stopping", self.pid)
            self.stop.set()

    # -- signals ----------------------------------------------------------------

    def _on_stop(self) -> None:
        if not self.stop.is_set():
            self.drain_first = True
        self.stop.set()

    def _on_retire(self) -> None:
        # Stop taking work now: drain() runs only after the stop event wakes
        # serve(), a loop iteration or two later, and a busy worker answers
        # dozens of requests per iteration (past --max-requests, say).
        self.server.draining = True
        self.server.stop_accepting()
        self.stop.set()

    def _on_stop_now(self) -> None:
        self.force.set()
        self.stop.set()

    def _on_reopen_logs(self) -> None:
        LOGS.reopen()
        faulthandler.enable(file=LOGS.error_stream(), all_threads=True)

    # -- graceful drain -----------------------------------------------------------

    async def drain(self) -> None:
        """Readiness fails (and stays failed for --drain-delay when stopping),
        the listeners close, every busy connection ends with its next
        response (`Connection: close`), idle ones are closed, and whatever is
        still running after --graceful-timeout is dropped."""
        server, config, force = self.server, self.config, self.force
        if self.drain_first and config.drain_delay > 0 and not force.is_set():
            server.ready = False
            log.info("Worker %d draining: readiness fails for %.1f s before the listeners close",
                     self.pid, config.drain_delay)
            await _wait(force, config.drain_delay)
        server.ready = False
        await server.shutdown(config.graceful_timeout, force, idle_grace=IDLE_GRACE)


async def _wait(event: asyncio.Event, timeout: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        pass
