"""What is done to the master while locust runs (hup, kill9, term), and what
each scenario records: events, the failures it allows, its own checks."""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .probes import SlowProbe, StreamProbe, refused_now
from ..processes import held_connections, socket_inodes, wait_stopped
from .server import READY_TIMEOUT, Server, stop_timeout

# The master's crash-loop rule (supervisor/master.py): this many deaths within
# the window stop it. kill9 stays below it.
try:
    from zerodep_http.supervisor.master import CRASH_LOOP_DEATHS, CRASH_LOOP_WINDOW
except ImportError:  # pragma: no cover - an older tree
    CRASH_LOOP_DEATHS, CRASH_LOOP_WINDOW = 5, 60.0


@dataclass
class Event:
    at: float            # seconds since the load started
    wall: float          # time.time(), to match locust's per-second statistics
    what: str
    detail: dict = field(default_factory=dict)


class Scenario(threading.Thread):
    """Plays the scenario against the master while locust runs."""

    def __init__(self, args: argparse.Namespace, server: Server, term_file: str) -> None:
        super().__init__(name=f"scenario-{args.scenario}", daemon=True)
        self.args = args
        self.server = server
        self.term_file = term_file
        self.done = threading.Event()       # set by the runner when locust has finished
        self.events: list[Event] = []
        self.problems: list[str] = []       # checks of the scenario that did not hold
        self.notes: list[str] = []
        self.allowed_failures = 0           # kill9: connections the killed workers held
        self.term: dict = {}
        self.started = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        self.started = time.monotonic()
        try:
            getattr(self, f"play_{self.args.scenario}")()
        except Exception as exc:  # noqa: BLE001 - reported by the runner
            code = self.server.proc.poll()
            if code is None:
                self.error = exc
            else:
                self.problems.append(f"the master exited during the run (status {code})")

    def record(self, what: str, **detail) -> Event:
        event = Event(round(time.monotonic() - self.started, 3), time.time(), what, detail)
        self.events.append(event)
        return event

    def sleep_until(self, at: float) -> bool:
        """Wait until `at` s after the start; False if the load ends first
        (events land only while locust's users run)."""
        if at >= self.args.run_time:
            return False
        return not self.done.wait(max(0.0, self.started + at - time.monotonic()))

    def play_none(self) -> None:
        self.done.wait()

    def play_hup(self) -> None:
        server, interval = self.server, self.args.interval
        at = interval
        while self.sleep_until(at):
            before = server.snapshot()
            sent = time.monotonic()
            server.signal(signal.SIGHUP)
            done = server.wait_for(lambda log, before=before: (
                log.reloads_done > before.reloads_done
                or len(log.reloads_failed) > len(before.reloads_failed)), READY_TIMEOUT)
            after = server.snapshot()
            took = round(time.monotonic() - sent, 3)
            ok = done and after.reloads_done > before.reloads_done
            self.record("HUP", completed=ok, seconds=took)
            if not ok:
                self.problems.append(f"the reload at {self.events[-1].at:.1f} s did not complete"
                                     + (f": {after.reloads_failed[-1]}" if after.reloads_failed else ""))
            # The next HUP comes `interval` after this one completed, never
            # on top of a reload in progress (that would supersede it).
            at = max(at + interval, time.monotonic() - self.started + 0.1)
        if not any(e.what == "HUP" for e in self.events):
            self.problems.append("no HUP was sent: the run was shorter than --interval")

    def play_kill9(self) -> None:
        server, interval = self.server, self.args.interval
        # Stay below the master's crash-loop rule, which would stop it.
        limit = max(CRASH_LOOP_DEATHS, 2 * self.args.workers) - 1
        kills: list[float] = []
        at = interval
        while self.sleep_until(at):
            at += interval
            now = time.monotonic()
            if len([t for t in kills if t > now - CRASH_LOOP_WINDOW]) >= limit:
                self.notes.append(f"skipped a kill at {now - self.started:.1f} s: {limit} kills within "
                                  f"{CRASH_LOOP_WINDOW:.0f} s is the most below the master's crash-loop rule")
                continue
            workers = server.serving_workers()
            if not workers:
                self.notes.append(f"no serving worker to kill at {now - self.started:.1f} s")
                continue
            pid = random.choice(workers)
            before_served = server.snapshot().ever_served
            # Frozen, the worker cannot accept another connection between the
            # count and the kill: the count is exact. The freeze lasts about a
            # millisecond (requests sent meanwhile are among those it holds).
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue
            frozen = time.monotonic()
            try:
                held = (held_connections(pid, socket_inodes(server.pid))
                        if wait_stopped(pid) else None)
            except OSError:
                held = None
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if held is None:
                self.problems.append(f"could not count the connections of worker {pid}")
                held = 0
            kills.append(time.monotonic())
            self.allowed_failures += held
            self.record("kill -9", pid=pid, held_connections=held,
                        frozen_ms=round((kills[-1] - frozen) * 1000, 1))
            replaced = server.wait_for(lambda log, pid=pid, before=before_served: (
                pid in log.gone and log.ever_served > before), READY_TIMEOUT)
            self.events[-1].detail["replaced_after_s"] = (
                round(time.monotonic() - kills[-1], 3) if replaced else None)
            if not replaced:
                self.problems.append(f"worker {pid} (killed at {self.events[-1].at:.1f} s) "
                                     "was not replaced")
        if not any(e.what == "kill -9" for e in self.events):
            self.problems.append("no worker was killed: the run was shorter than --interval")

    def play_term(self) -> None:
        args, server = self.args, self.server
        if not self.sleep_until(args.term_at):
            self.problems.append("the load ended before --term-at")
            return
        port = server.log.port
        stream_count, stream_interval, slow_ms = 8, 0.25, 2000
        probes = ([StreamProbe(port, stream_count, stream_interval) for _ in range(args.in_flight)]
                  + [SlowProbe(port, slow_ms) for _ in range(args.in_flight)])
        for probe in probes:
            probe.start()
        in_flight = [p for p in probes if p.in_flight.wait(10)]
        Path(self.term_file).touch()            # from now on a refusal is expected
        sent = time.monotonic()
        server.signal(signal.SIGTERM)
        self.record("TERM", in_flight=len(in_flight))
        for probe in probes:
            probe.join(max(0.0, sent + probe.timeout + 5 - time.monotonic()))
        # The master exits once its workers drained; the streams are bounded.
        code = server.wait_exit(stop_timeout(args))
        exited = time.monotonic() - sent
        server.stop_seconds = exited
        refused = refused_now(port)
        completed = [p for p in in_flight if p.ok]
        self.term = {
            "in_flight": {"streams": sum(isinstance(p, StreamProbe) for p in in_flight),
                          "slow_requests": sum(isinstance(p, SlowProbe) for p in in_flight)},
            "completed": len(completed),
            "failed": [p.describe() for p in probes if not p.ok],
            "longest_s": round(max((p.seconds for p in completed), default=0.0), 3),
            "master_exit": code,
            "master_exit_after_s": round(exited, 3),
            "refused_after_exit": refused,
        }
        if len(in_flight) < len(probes):
            self.problems.append(f"only {len(in_flight)} of {len(probes)} probe requests were in "
                                 "flight when TERM was sent")
        if len(completed) < len(in_flight):
            self.problems.append(f"{len(in_flight) - len(completed)} of {len(in_flight)} requests in "
                                 f"flight at TERM did not complete: {'; '.join(self.term['failed'])}")
        if not refused:
            self.problems.append("a new connection was not refused after the master exited")
