"""Run a locust suite against a zerodep-http master, optionally while the
master is being reloaded, losing workers or shutting down.

    python -m loadtests --profile mixed --users 20 --run-time 10s --scenario hup

Exits 0 when every check held, 1 when one did not (a failed request beyond
what the scenario allows, a missed threshold, an unexpected error in the
server's log, a non-zero exit of the master), 2 when the run could not be
made, 130 on Ctrl-C. The runner itself lives in loadtests/runner/; only
127.0.0.1 is used. See loadtests/README.md ("Locust suites").
"""

from __future__ import annotations

import signal
import sys

from .runner import RunError
from .runner.cli import parse_args
from .runner.run import run


class Interrupted(Exception):
    """SIGINT or SIGTERM to the runner."""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def interrupted(signum, frame):
        for other in previous:  # the cleanup that follows must not be cut short
            signal.signal(other, signal.SIG_IGN)
        raise Interrupted(signal.Signals(signum).name)

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, interrupted)
    try:
        return run(args)
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        print(f"interrupted ({exc}); every process started was stopped", file=sys.stderr)
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
