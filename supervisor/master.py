"""The master process: binds once, forks workers, and keeps them right.

Signal handlers only put the signal on a queue; one loop does everything
else, in the same order every time round:

    wait for a signal, a worker message or the next tick
    act on the signals
    reap every child that exited
    kill workers that stopped beating or did not boot in time
    move a reload along
    recycle workers that have run too long
    bring the worker count to the target
    with --reload, look for edited source files

TTIN and TTOU only change the target; a HUP (or an edit, with --reload)
starts a new generation that replaces the old one only once all of its
workers serve.
"""

from __future__ import annotations

import collections
import enum
import logging
import os
import resource
import selectors
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zerodep_http.config import ConfigError, load_config

from zerodep_http.binding import BindError

from . import messages
from .appload import DEMO_APP, AppLoadError, load_app
from .balance import ConnectionTable, SlotBalance
from .environment import AppEnvironment
from .exposition import WorkerInfo
from .logs import LOGS
from .metrics import WorkerMetrics
from .monitoring import MasterMetrics
from .pidfile import PidFile, PidFileError
from .messages import Exit
from .recycling import MEGABYTE, lifetime_deadline, resident_bytes
from .reloader import Reloader, SourceTree, app_roots, forget_bytecode
from .listeners import Listeners
from .systemd import Notifier, listen_fds
from .worker import IDLE_GRACE, WorkerSpec, run_worker

if TYPE_CHECKING:
    from zerodep_http.config import Config

    from zerodep_http.app import App

log = logging.getLogger("zerodep_http.error")

#: Longest sleep of the main loop; every deadline is checked at least this often.
TICK = 0.25
#: A hung worker gets SIGABRT (traceback); SIGKILL follows after this long.
ABORT_GRACE = 2.0
#: How long after SIGQUIT (immediate shutdown) before SIGKILL.
QUICK_STOP_GRACE = 2.0
#: Respawn backoff: BASE doubled for each recent death, up to MAX.
BACKOFF_BASE = 0.1
BACKOFF_MAX = 5.0
#: A crash loop: this many unexpected deaths (at least; 2 per worker for
#: bigger pools) within the window stops the master.
CRASH_LOOP_DEATHS = 5
CRASH_LOOP_WINDOW = 60.0

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTTIN,
           signal.SIGTTOU, signal.SIGUSR1, signal.SIGCHLD)


class State(enum.Enum):
    BOOTING = "booting"     # forked, not yet serving
    SERVING = "serving"
    RETIRING = "retiring"   # told to stop; expected to exit
    HUNG = "hung"           # sent SIGABRT or SIGKILL


@dataclass(eq=False)
class WorkerRecord:
    pid: int
    generation: int
    slot: int
    pipe: int | None
    started: float
    state: State = State.BOOTING
    last_seen: float = 0.0
    recycle: str | None = None   # why it is being replaced: max-requests, memory, lifetime
    kill_at: float | None = None
    balance: SlotBalance | None = None  # its entry in the shared connection counts
    metrics: WorkerMetrics | None = None  # its slot of the shared request counters
    replace_at: float | None = None  # --max-worker-lifetime (with its jitter)
    killed_for: str | None = None  # timeout or boot_timeout, once it is HUNG

    @property
    def alive_and_wanted(self) -> bool:
        return self.state in (State.BOOTING, State.SERVING) and not self.recycle


@dataclass
class Reload:
    """A generation of workers that has not yet taken over."""

    generation: int
    config: Config
    listeners: Listeners
    size: int
    deadline: float
    failure: str | None = None
    waiting: list[int] = field(default_factory=list)  # slots started once the first serves


@dataclass
class Shutdown:
    graceful: bool
    exit_code: int
    deadline: float
    killed: bool = False


@dataclass
class Deaths:
    """Unexpected worker deaths, for backoff and crash-loop detection."""

    times: collections.deque[float] = field(default_factory=collections.deque)

    def record(self, now: float) -> int:
        self.times.append(now)
        while self.times and self.times[0] < now - CRASH_LOOP_WINDOW:
            self.times.popleft()
        return len(self.times)

    def backoff(self) -> float:
        if not self.times:
            return 0.0
        return min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (len(self.times) - 1))


def workers_phrase(count: int) -> str:
    """`1 worker`, `2 workers`: log lines read as sentences."""
    return f"{count} worker" if count == 1 else f"{count} workers"


def describe_exit(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    meaning = {Exit.APP_IMPORT_FAILED: " (cannot import the application)",
               Exit.BOOT_FAILED: " (failed to boot)"}.get(code, "")
    return f"exited with status {code}{meaning}"


class Master:
    def __init__(self, config: Config, argv: list[str] | None = None,
                 environ: dict[str, str] | None = None) -> None:
        self.config = config
        self.argv = list(sys.argv[1:] if argv is None else argv)
        self.environ = os.environ if environ is None else environ
        self.pid = os.getpid()
        self.target = config.workers
        self.reuse_port = config.reuse_port  # fixed for the life of the master
        # Workers sharing a listening socket even out their connection counts.
        self.connection_table = ConnectionTable()
        self.generation = 1
        self.newest_generation = 1      # numbers are never reused, failed reloads included
        self.workers: dict[int, WorkerRecord] = {}
        self.reload: Reload | None = None
        self.shutdown: Shutdown | None = None
        self.deaths = Deaths()
        self.next_spawn_at = 0.0
        self.ready = False              # READY=1 sent: the first generation served
        self.app: App | None = None     # --preload
        self.listeners: Listeners | None = None
        self.activated: list[tuple[int, str]] = []
        self.pidfile: PidFile | None = None
        self.notifier: Notifier | None = None
        self.selector = selectors.DefaultSelector()
        self.signal_queue: collections.deque[int] = collections.deque()
        self.interrupted = False
        self.status = ""
        self.next_watchdog = 0.0
        self._wakeup_r, self._wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.app_environment = AppEnvironment(self.environ)
        self.metrics = MasterMetrics(config)
        self.reloader: Reloader | None = None

    # -- start and stop ---------------------------------------------------------

    def run(self) -> int:
        """Serve until told to stop; the exit status."""
        try:
            LOGS.configure(self.config)
        except OSError as exc:
            print(f"error: cannot open a log file: {exc}", file=sys.stderr)
            return Exit.FAILURE
        self._install_signals()
        try:
            code = self._start()
            if code is None:
                code = self._main_loop()
        finally:
            self._cleanup()
        log.info("Shutdown complete (exit status %d)", code)
        return code

    def _start(self) -> int | None:
        config = self.config
        log.info("Starting zerodep-http (master pid %d)", self.pid)
        self.notifier = Notifier(self.environ)
        self.activated = listen_fds(self.environ)
        if config.pid:
            self.pidfile = PidFile(config.pid)
            try:
                self.pidfile.create(self.pid)
            except PidFileError as exc:
                self.pidfile = None
                log.error("%s", exc)
                return Exit.FAILURE
        try:
            self.listeners = Listeners.open(config, self.activated, reuse_port=self.reuse_port)
        except BindError as exc:
            log.error("%s", exc)
            return Exit.FAILURE
        for url in self.listeners.urls():
            log.info("Listening at: %s (%d)", url, self.pid)
        try:
            metrics_url = self.metrics.listen(self.selector, self._worker_infos)
        except BindError as exc:
            log.error("Metrics: %s", exc)
            return Exit.FAILURE
        if metrics_url is not None:
            log.info("Metrics at: %s (%d)", metrics_url, self.pid)
        self.app_environment.apply(config.env_file_vars)
        if config.reload:
            tree = SourceTree(app_roots(config.app, DEMO_APP) + config.reload_dir,
                              config.reload_include)
            self.reloader = Reloader(tree)
            watched = self.reloader.watched
            log.info("Watching %d file%s under %s for changes (--reload)", watched,
                     "" if watched == 1 else "s", ", ".join(tree.roots) or "no directory")
        if config.preload:
            try:
                self.app = load_app(config.app, config.interface)
            except AppLoadError as exc:
                log.error("Cannot load the application: %s", exc)
                return Exit.APP_IMPORT_FAILED
            except BaseException:
                log.exception("Cannot import the application %s", config.app or "(demo)")
                return Exit.APP_IMPORT_FAILED
        mode = "one SO_REUSEPORT socket per worker" if self.reuse_port else "shared sockets"
        log.info("Using %s (%s)", workers_phrase(self.target), mode)
        self.selector.register(self._wakeup_r, selectors.EVENT_READ)
        return None

    def _cleanup(self) -> None:
        for worker in list(self.workers.values()):  # only if the loop itself failed
            self._kill(worker, signal.SIGKILL)
        if self.listeners is not None:
            self.listeners.close_except(None, remove_files=True)
        self.metrics.close()
        if self.pidfile is not None:
            self.pidfile.remove()
        if self.notifier is not None:
            self.notifier.close()
        signal.set_wakeup_fd(-1)

    # -- signals ----------------------------------------------------------------------

    def _install_signals(self) -> None:
        signal.set_wakeup_fd(self._wakeup_w, warn_on_full_buffer=False)
        for signum in SIGNALS:
            signal.signal(signum, self._enqueue_signal)

    def _enqueue_signal(self, signum: int, frame: object) -> None:
        # Only record it: the main loop acts (logging or forking here could
        # deadlock or re-enter the loop).
        self.signal_queue.append(signum)

    def _handle_signals(self) -> None:
        while self.signal_queue:
            signum = self.signal_queue.popleft()
            if signum == signal.SIGCHLD:
                continue  # reaping happens every time round anyway
            log.info("Received %s", signal.Signals(signum).name)
            if signum == signal.SIGTERM:
                self.begin_shutdown(graceful=True)
            elif signum == signal.SIGINT:
                self.begin_shutdown(graceful=not self.interrupted)
                self.interrupted = True
            elif signum == signal.SIGQUIT:
                self.begin_shutdown(graceful=False)
            elif self.shutdown is not None:
                continue
            elif signum == signal.SIGHUP:
                self.begin_reload()
            elif signum == signal.SIGTTIN:
                self.target += 1
                log.info("Target is now %s", workers_phrase(self.target))
            elif signum == signal.SIGTTOU:
                if self.target > 1:
                    self.target -= 1
                log.info("Target is now %s", workers_phrase(self.target))
            elif signum == signal.SIGUSR1:
                self.reopen_logs()

    # -- the main loop ----------------------------------------------------------------

    def _main_loop(self) -> int:
        while True:
            self._wait()
            self._handle_signals()
            self.reap_workers()
            if self.shutdown is not None:
                if self._shutdown_finished():
                    return self.shutdown.exit_code
                continue
            self.kill_stuck_workers()
            self.advance_reload()
            self.recycle_aged_workers()
            self.reconcile()
            self.check_sources()
            self.metrics.tick()
            self._report()

    def _wait(self) -> None:
        now = time.monotonic()
        timeout = TICK
        if self.next_spawn_at > now:
            timeout = min(timeout, self.next_spawn_at - now)
        if self.notifier and self.notifier.watchdog_interval:
            if now >= self.next_watchdog:
                self.notifier.watchdog()
                self.next_watchdog = now + self.notifier.watchdog_interval
            timeout = min(timeout, max(0.0, self.next_watchdog - now))
        if self.reloader is not None and self.shutdown is None:  # not polled while stopping
            timeout = min(timeout, max(0.0, self.reloader.next_scan - now))
        if self.signal_queue:
            timeout = 0
        for key, events in self.selector.select(timeout):
            if key.fd == self._wakeup_r:
                try:
                    while os.read(self._wakeup_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            elif isinstance(key.data, WorkerRecord):
                self._read_pipe(key.data)
            else:  # the metrics listener and its clients
                key.data(events)

    def _read_pipe(self, worker: WorkerRecord) -> None:
        try:
            data = os.read(worker.pipe, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the worker closed its end: it is exiting
            self._close_pipe(worker)
            return
        worker.last_seen = time.monotonic()
        if messages.SERVING in data and worker.state is State.BOOTING:
            worker.state = State.SERVING
            log.info("Worker %d serving (generation %d)", worker.pid, worker.generation)
        if messages.RECYCLE in data and not worker.recycle and worker.state is State.SERVING \
                and worker.generation == self.generation:
            worker.recycle = "max-requests"  # acted on by reconcile() in this same turn of the loop
            self.metrics.restart("max_requests")
            log.info("Worker %d reached max-requests; replacing it", worker.pid)
        if messages.OVER_MEMORY in data and not worker.recycle and worker.state is State.SERVING \
                and worker.generation == self.generation:
            worker.recycle = "memory"
            self.metrics.restart("memory")
            resident = resident_bytes(worker.pid) or 0
            log.info("Worker %d uses %.0f MB, over --max-worker-memory %d MB; replacing it",
                     worker.pid, resident / MEGABYTE, self.config.max_worker_memory)

    def _close_pipe(self, worker: WorkerRecord) -> None:
        if worker.pipe is not None:
            self.selector.unregister(worker.pipe)
            os.close(worker.pipe)
            worker.pipe = None

    # -- workers ------------------------------------------------------------------------

    def spawn(self, generation: int, slot: int, config: Config, listeners: Listeners) -> None:
        try:
            sockets = listeners.sockets_for(slot)
        except BindError as exc:
            log.error("Cannot start a worker: %s", exc)
            self.next_spawn_at = time.monotonic() + BACKOFF_MAX
            return
        shared = listeners.shared_sockets()
        balance = self.connection_table.claim() if shared else None
        metrics = self.metrics.claim()
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(read_end)
            self.app_environment.apply(config.env_file_vars)  # its generation's env files
            run_worker(WorkerSpec(config, sockets, write_end, generation, self.pid,
                                  self.app, self._master_only(sockets), balance, shared,
                                  metrics))
        os.close(write_end)
        os.set_blocking(read_end, False)
        now = time.monotonic()
        worker = WorkerRecord(pid, generation, slot, read_end, now, last_seen=now,
                              balance=balance, metrics=metrics,
                              replace_at=lifetime_deadline(now, config.max_worker_lifetime,
                                                           config.max_worker_lifetime_jitter))
        self.workers[pid] = worker
        self.selector.register(read_end, selectors.EVENT_READ, worker)
        log.info("Booting worker with pid: %d (generation %d)", pid, generation)

    def _master_only(self, keep: list) -> list[object]:
        """What a new worker must close: other workers' pipes, sockets it does
        not serve (a socket a worker holds but never accepts from would keep
        queueing connections), the master's own descriptors."""
        keep_ids = set(map(id, keep))
        objects: list[object] = [w.pipe for w in self.workers.values() if w.pipe is not None]
        objects += [self._wakeup_r, self._wakeup_w, self.selector, *self.metrics.sockets()]
        if self.notifier is not None and self.notifier.sock is not None:
            objects.append(self.notifier.sock)
        for listeners in (self.listeners, self.reload.listeners if self.reload else None):
            if listeners is not None:
                objects += [s for s in listeners.all_sockets() if id(s) not in keep_ids]
        return objects

    def _kill(self, worker: WorkerRecord, signum: int) -> None:
        try:
            os.kill(worker.pid, signum)
        except ProcessLookupError:
            pass

    def retire(self, worker: WorkerRecord, signum: int = messages.RETIRE) -> None:
        """Ask a worker to finish what it has and exit."""
        if worker.state in (State.RETIRING, State.HUNG):
            return
        config = self.config
        delay = config.drain_delay if signum == messages.STOP else 0.0
        if worker.state is State.BOOTING:
            signum = signal.SIGKILL  # nothing to drain yet
        worker.state = State.RETIRING
        worker.kill_at = time.monotonic() + delay + config.graceful_timeout + IDLE_GRACE + 2.0
        # A --reuse-port socket nobody will serve is closed here first, so
        # that the retiring worker is its last holder and can empty its queue.
        self._drop_unused_slots()
        self._kill(worker, signum)

    def _drop_unused_slots(self) -> None:
        live = {w.slot for w in self.workers.values() if w.state in (State.BOOTING, State.SERVING)}
        self.listeners.keep_slots(live | set(range(self.target)))

    def reap_workers(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is None:  # as PID 1 we also reap orphans
                log.debug("Reaped process %d", pid)
                continue
            self._close_pipe(worker)
            if worker.balance is not None:
                self.connection_table.release(worker.balance)
            self.metrics.release(worker.metrics)
            self._worker_exited(worker, status)

    def _worker_exited(self, worker: WorkerRecord, status: int) -> None:
        how = describe_exit(status)
        if worker.state is State.RETIRING or self.shutdown is not None:
            log.info("Worker %d %s", worker.pid, how)
            return
        if self.reload is not None and worker.generation == self.reload.generation:
            log.error("Worker %d of the new generation %s", worker.pid, how)
            self.reload.failure = self.reload.failure or f"worker {worker.pid} {how}"
            return
        if worker.generation != self.generation:
            log.info("Worker %d of an old generation %s", worker.pid, how)
            return
        log.error("Worker %d %s", worker.pid, how)
        code = os.waitstatus_to_exitcode(status)
        if code in (Exit.APP_IMPORT_FAILED, Exit.BOOT_FAILED) and not self.ready:
            self.halt(code, "A worker failed to boot: " + (
                "cannot import the application" if code == Exit.APP_IMPORT_FAILED
                else "see the error above") + "; stopping")
            return
        now = time.monotonic()
        deaths = self.deaths.record(now)
        limit = max(CRASH_LOOP_DEATHS, 2 * self.target)
        if deaths >= limit:
            self.halt(Exit.FAILURE, f"Crash loop: {deaths} workers died in the last "
                                    f"{CRASH_LOOP_WINDOW:.0f} s (the last one {how}); stopping")
            return
        self.metrics.restart(worker.killed_for or "crash")
        self.next_spawn_at = max(self.next_spawn_at, now + self.deaths.backoff())

    def kill_stuck_workers(self) -> None:
        now = time.monotonic()
        config = self.config
        for worker in list(self.workers.values()):
            if worker.state is State.BOOTING:
                boot_timeout = (self.reload.config if self.reload and
                                worker.generation == self.reload.generation else config).boot_timeout
                if now - worker.started > boot_timeout:
                    log.error("Worker %d did not start serving within %.1f s (--boot-timeout); "
                              "killing it", worker.pid, boot_timeout)
                    worker.state = State.HUNG
                    worker.killed_for = "boot_timeout"
                    self._kill(worker, signal.SIGKILL)
            elif worker.state in (State.SERVING, State.RETIRING) and \
                    now - worker.last_seen > config.timeout:
                log.error("Worker %d timed out: its event loop has been blocked for %.1f s "
                          "(--timeout %.1f); aborting it", worker.pid, now - worker.last_seen,
                          config.timeout)
                worker.state = State.HUNG
                worker.killed_for = "timeout"
                worker.kill_at = now + ABORT_GRACE
                try:  # the traceback is what we want, not a core file
                    _, hard = resource.prlimit(worker.pid, resource.RLIMIT_CORE)
                    resource.prlimit(worker.pid, resource.RLIMIT_CORE, (0, hard))
                except (OSError, ValueError):
                    pass
                self._kill(worker, messages.DUMP_AND_DIE)
            elif worker.kill_at is not None and now >= worker.kill_at:
                if worker.state is State.RETIRING:
                    log.warning("Worker %d did not finish in time; killing it", worker.pid)
                worker.kill_at = None
                self._kill(worker, signal.SIGKILL)

    def recycle_aged_workers(self) -> None:
        """--max-worker-lifetime: mark workers past their time for replacement."""
        now = time.monotonic()
        for worker in self.workers.values():
            if worker.replace_at is not None and now >= worker.replace_at \
                    and worker.state is State.SERVING and not worker.recycle \
                    and worker.generation == self.generation:
                worker.recycle = "lifetime"
                self.metrics.restart("lifetime")
                log.info("Worker %d has run for %.0f s (--max-worker-lifetime); replacing it",
                         worker.pid, now - worker.started)

    def reconcile(self) -> None:
        """Bring the current generation to the target: start what is missing
        (after the backoff), retire a worker past --max-requests as soon as
        another can take its connections, and what is surplus once its
        replacement serves (recycling by memory or age waits for that)."""
        current = [w for w in self.workers.values() if w.generation == self.generation]
        serving = [w for w in current if w.state is State.SERVING]
        for worker in serving:  # before forking, which takes a while
            if worker.recycle == "max-requests" and self._can_take_over(worker, serving):
                log.info("Retiring worker %d (max-requests)", worker.pid)
                self.retire(worker)
        wanted = [w for w in current if w.alive_and_wanted]
        missing = self.target - len(wanted)
        if missing > 0 and time.monotonic() >= self.next_spawn_at:
            taken = {w.slot for w in wanted}
            free = (slot for slot in range(len(self.workers) + self.target) if slot not in taken)
            for _ in range(missing):
                self.spawn(self.generation, next(free), self.config, self.listeners)
        serving = [w for w in serving if w.state is State.SERVING]
        surplus = len(serving) - self.target
        if surplus > 0:
            # Recycled workers first (their replacement serves), then the highest slots.
            serving.sort(key=lambda w: (not w.recycle, -w.slot, -w.started))
            for worker in serving[:surplus]:
                log.info("Retiring worker %d%s", worker.pid,
                         f" ({worker.recycle})" if worker.recycle else "")
                self.retire(worker)
        self._drop_unused_slots()

    def _can_take_over(self, recycled: WorkerRecord, serving: list[WorkerRecord]) -> bool:
        """Whether a serving worker that stays can take `recycled`'s
        connections: any, when every listener is shared; with --reuse-port
        only its replacement, which serves the same slot's sockets. A single
        worker thus serves on until its replacement is ready."""
        staying = [w for w in serving if not w.recycle]
        if self.listeners.has_slot_sockets():
            return any(w.slot == recycled.slot for w in staying)
        return bool(staying)

    # -- reload (HUP) -------------------------------------------------------------------

    def begin_reload(self, canary: bool = False) -> None:
        """Start a new generation. A `canary` reload (--reload) starts one
        worker first and the others once it serves, so that code that does
        not import fails once, with one traceback, not once per worker."""
        if self.reload is not None:
            self._abandon_reload("superseded by a newer reload", result="superseded")
        self.notifier.reloading()
        try:
            config = load_config(self.argv, self.app_environment.inherited)
        except ConfigError as exc:
            log.error("Reload: keeping the current configuration, the new one is invalid: %s", exc)
            config = self.config
        if config.reuse_port != self.reuse_port:
            log.warning("Reload: a change of reuse_port takes effect only after a restart")
        if (config.metrics_bind, config.metrics_buckets) != (self.metrics.bind, self.metrics.buckets):
            log.warning("Reload: a change of metrics_bind or metrics_buckets takes effect "
                        "only after a restart")
        try:
            LOGS.configure(config)
        except OSError as exc:
            log.error("Reload: keeping the current log files: %s", exc)
        self._move_pidfile(config.pid)
        if self.config.preload:
            log.warning("Reload with --preload: new workers run the code the master loaded at start")
        try:
            listeners = Listeners.open(config, self.activated, reuse_port=self.reuse_port,
                                       previous=self.listeners)
        except BindError as exc:
            log.error("Reload failed (%s); generation %d keeps serving", exc, self.generation)
            self.metrics.reload("failure")
            self.notifier.ready(self._status_text())
            return
        self.newest_generation += 1
        generation = self.newest_generation
        size = config.workers
        first = 1 if canary else size
        self.reload = Reload(generation, config, listeners, size,
                             time.monotonic() + config.boot_timeout + 1.0,
                             waiting=list(range(first, size)))
        if first < size:
            log.info("Reloading: starting generation %d with 1 worker, then %d more once it "
                     "serves", generation, size - first)
        else:
            log.info("Reloading: starting generation %d with %s", generation, workers_phrase(size))
        for slot in range(first):
            self.spawn(generation, slot, config, listeners)

    def advance_reload(self) -> None:
        reload = self.reload
        if reload is None:
            return
        new = [w for w in self.workers.values() if w.generation == reload.generation]
        if reload.failure is not None:
            self._abandon_reload(reload.failure)
        elif reload.waiting and any(w.state is State.SERVING for w in new):
            for slot in reload.waiting:
                self.spawn(reload.generation, slot, reload.config, reload.listeners)
            reload.waiting = []
            reload.deadline = time.monotonic() + reload.config.boot_timeout + 1.0
        elif sum(w.state is State.SERVING for w in new) >= reload.size:
            self._commit_reload()
        elif time.monotonic() > reload.deadline:
            self._abandon_reload("the new workers did not serve within --boot-timeout")

    def _commit_reload(self) -> None:
        reload, self.reload = self.reload, None
        old_listeners = self.listeners
        self.generation = reload.generation
        self.config = reload.config
        self.target = reload.size
        self.listeners = reload.listeners
        old_listeners.close_except(self.listeners, remove_files=True)
        for worker in list(self.workers.values()):
            if worker.generation == self.generation:
                continue
            if worker.state in (State.BOOTING, State.SERVING):
                log.info("Retiring worker %d (generation %d)", worker.pid, worker.generation)
            self.retire(worker)
        for listener in self.listeners.listeners:
            if listener not in old_listeners.listeners:
                log.info("Listening at: %s (%d)", listener.url(self.listeners.scheme), self.pid)
        log.info("Reload complete: generation %d serving with %s",
                 self.generation, workers_phrase(reload.size))
        self.metrics.reload("success")
        self.notifier.ready(self._status_text())

    def _abandon_reload(self, why: str, result: str = "failure") -> None:
        reload, self.reload = self.reload, None
        log.error("Reload failed (%s); generation %d keeps serving", why, self.generation)
        self.metrics.reload(result)
        for worker in list(self.workers.values()):
            if worker.generation == reload.generation:
                self.retire(worker)
        reload.listeners.close_except(self.listeners, remove_files=True)
        self.notifier.ready(self._status_text() + f"; reload failed: {why}")

    def _move_pidfile(self, path: str | None) -> None:
        if (self.pidfile.path if self.pidfile else None) == path:
            return
        if self.pidfile is not None:
            self.pidfile.remove()
            self.pidfile = None
        if path:
            pidfile = PidFile(path)
            try:
                pidfile.create(self.pid)
            except PidFileError as exc:
                log.error("Reload: %s", exc)
            else:
                self.pidfile = pidfile

    def check_sources(self) -> None:
        """--reload: an edited source file starts a reload, as HUP does."""
        if self.reloader is None:
            return
        changed = self.reloader.poll()
        if changed:
            shown = ", ".join(os.path.relpath(path) for path in changed[:3])
            more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
            log.info("Reloading: %s changed", shown + more)
            forget_bytecode(changed)
            self.begin_reload(canary=True)

    # -- shutdown -----------------------------------------------------------------------

    def begin_shutdown(self, graceful: bool, exit_code: int = Exit.OK) -> None:
        now = time.monotonic()
        if self.shutdown is not None:
            if graceful or not self.shutdown.graceful:
                return
            exit_code = self.shutdown.exit_code
        config = self.config
        if graceful:
            log.info("Shutting down gracefully: waiting up to %.1f s for %s to finish "
                     "in-flight requests", config.drain_delay + config.graceful_timeout,
                     workers_phrase(len(self.workers)))
            deadline = now + config.drain_delay + config.graceful_timeout + IDLE_GRACE + 2.0
        else:
            log.info("Shutting down now")
            deadline = now + QUICK_STOP_GRACE
        if self.shutdown is None:
            self.notifier.stopping()
        self.shutdown = Shutdown(graceful, exit_code, deadline)
        if self.reload is not None:
            self.reload.listeners.close_except(self.listeners, remove_files=True)
            self.reload = None
        # The workers' copies keep serving through the drain delay; the
        # master's copies would only let the kernel queue connections nobody
        # will accept.
        for sock in self.listeners.all_sockets():
            sock.close()
        for worker in list(self.workers.values()):
            if graceful:
                self.retire(worker, messages.STOP)
            else:
                worker.state = State.RETIRING
                self._kill(worker, messages.STOP_NOW)

    def halt(self, exit_code: int, message: str) -> None:
        log.error("%s", message)
        self.begin_shutdown(graceful=True, exit_code=exit_code)

    def _shutdown_finished(self) -> bool:
        if not self.workers:
            return True
        shutdown = self.shutdown
        now = time.monotonic()
        if now >= shutdown.deadline:
            if shutdown.killed:
                if now >= shutdown.deadline + QUICK_STOP_GRACE:
                    log.error("%s %s did not exit; giving up",
                              "Worker" if len(self.workers) == 1 else "Workers",
                              ", ".join(map(str, sorted(self.workers))))
                    return True
                return False
            log.warning("Killing %s that did not finish in time",
                        workers_phrase(len(self.workers)))
            for worker in self.workers.values():
                self._kill(worker, signal.SIGKILL)
            shutdown.killed = True
        return False

    # -- logs and status ----------------------------------------------------------------

    def reopen_logs(self) -> None:
        LOGS.reopen()
        log.info("Reopened the log files")
        for worker in self.workers.values():
            if worker.state is not State.BOOTING:  # a booting worker ignores USR1 anyway
                self._kill(worker, messages.REOPEN_LOGS)

    def _worker_infos(self) -> list[WorkerInfo]:
        return [WorkerInfo(w.pid, w.generation, w.state.value) for w in self.workers.values()]

    def _status_text(self) -> str:
        serving = sum(w.state is State.SERVING and w.generation == self.generation
                      for w in self.workers.values())
        return f"{serving} of {self.target} workers serving (generation {self.generation})"

    def _report(self) -> None:
        if not self.ready:
            serving = [w for w in self.workers.values() if w.state is State.SERVING]
            if len(serving) >= self.target:
                self.ready = True
                log.info("Serving with %s", workers_phrase(len(serving)))
                self.status = self._status_text()
                self.notifier.ready(self.status)
            return
        if self.reload is None:
            status = self._status_text()
            if status != self.status:
                self.status = status
                self.notifier.status(status)
