"""What the master and its workers tell each other: a worker's one-byte
messages on its pipe and its exit status, and the master's signals.

The pipe messages are written from inside the worker's event loop, so a
message proves that the loop runs; a helper thread could keep talking while
the loop is stuck. Exit statuses let the master tell "this code cannot even be
imported" (stop, do not fork-loop) from a crash (respawn with backoff).
"""

from __future__ import annotations

import enum
import signal

#: Pipe messages, worker to master.
SERVING = b"S"    # the app is loaded and every listener is being served
HEARTBEAT = b"."  # the event loop ran its timer
RECYCLE = b"R"    # max-requests reached: start my replacement, then retire me
OVER_MEMORY = b"M"  # over --max-worker-memory: the same, for that reason


class Exit(enum.IntEnum):
    """Exit statuses of the master and of its workers. Status 2, a bad
    setting, is the settings loader's (config.loader), before any master."""

    OK = 0
    FAILURE = 1              # runtime failure: bind error, crash loop, live pidfile
    BOOT_FAILED = 3          # a worker could not start serving (TLS, sockets)
    APP_IMPORT_FAILED = 4    # a worker could not import or build the app


#: Signals the master sends to a worker.
STOP = signal.SIGTERM      # graceful stop, readiness first fails for --drain-delay
RETIRE = signal.SIGUSR2    # graceful stop without the drain delay (reload, recycle, scale down)
STOP_NOW = signal.SIGQUIT  # drop connections and exit
REOPEN_LOGS = signal.SIGUSR1
DUMP_AND_DIE = signal.SIGABRT  # hung worker: faulthandler prints where it is stuck
