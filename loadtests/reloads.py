"""Reloads under raw load: HUP the master repeatedly while wrk runs.

Starts `zerodep-http -w N` on 127.0.0.1, runs `wrk -t1 -c64` on /hello for
the whole time, sends a HUP, waits for `Reload complete`, pauses, and
repeats; then prints wrk's request count with its socket errors and non-2xx
responses, and exits 1 if there were any. Bounded: each reload may take 30 s.

Usage: python loadtests/reloads.py [--reloads 10] [--duration 12] [--workers 2] [--reuse-port]
       (or python -m loadtests.reloads from the repository root)
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run by its path: import through the loadtests package from the
    # repository root, never a sibling script by its bare name.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from loadtests.runner import ROOT, RunError
from loadtests.runner.server import Server

APP = "loadtests.apps.loadapp:app"
#: How long one reload may take, and the master to stop (its graceful timeout is 2 s).
RELOAD_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reloads", type=int, default=10)
    parser.add_argument("--duration", type=int, default=12, help="seconds of load")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse-port", action="store_true",
                        help="one SO_REUSEPORT socket per worker instead of a shared one")
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    args = parser.parse_args()
    mode = "reuse-port" if args.reuse_port else "shared"
    with tempfile.TemporaryDirectory(prefix="zerodep-reloads-") as tmp:
        server = Server(APP, args.workers, ["--reuse-port" if args.reuse_port else "--no-reuse-port",
                                            "--graceful-timeout", "2"],
                        str(Path(tmp) / "static"), Path(tmp) / "server.log", verbose=False,
                        python=args.python)
        try:
            server.start()
            output = hup_under_load(server, args)
        except RunError as exc:
            raise SystemExit(f"the server did not start: {exc}") from None
        finally:
            server.stop(STOP_TIMEOUT)
    completed = server.log.reloads_done
    requests = re.search(r"(\d+) requests in", output)
    problems = re.findall(r"(Socket errors:.*|Non-2xx or 3xx responses:.*)", output)
    print(f"{mode} socket, {args.workers} workers: {completed} of {args.reloads} reloads "
          f"completed during {requests.group(1) if requests else '?'} requests; "
          + ("; ".join(problems) if problems else "0 socket errors, 0 non-2xx"))
    return 0 if completed == args.reloads and not problems else 1


def hup_under_load(server: Server, args: argparse.Namespace) -> str:
    """HUP after HUP, each once the previous reload completed, while wrk runs; wrk's output."""
    wrk = subprocess.Popen(["wrk", "-t1", "-c64", f"-d{args.duration}s",
                            f"http://127.0.0.1:{server.log.port}/hello"], stdout=subprocess.PIPE, text=True)
    try:
        pause = max(0.0, (args.duration - 2) / args.reloads - 0.1)
        for done in range(1, args.reloads + 1):
            server.signal(signal.SIGHUP)
            if not server.wait_for(lambda log: log.reloads_done >= done, RELOAD_TIMEOUT):
                print(f"reload {done} did not complete", file=sys.stderr)
                break
            time.sleep(pause)  # spreads the reloads over the run; not a synchronisation
        output, _ = wrk.communicate(timeout=args.duration + 30)
    finally:
        if wrk.poll() is None:
            wrk.kill()
    return output


if __name__ == "__main__":
    sys.exit(main())
