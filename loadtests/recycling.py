"""How far --max-requests overshoots under raw load.

Starts `zerodep-http -w N --max-requests M` on 127.0.0.1, runs `wrk -t1
-c64` on /hello, then stops the master and reads each worker's `exiting:
served K requests` debug line. A worker that reached its limit served
K - M requests past it: the overshoot. Prints the number of recycled
workers, their overshoot (min / median / max), wrk's requests/s, socket
errors and non-2xx responses; exits 1 if there were any.

Usage: python loadtests/recycling.py [--workers 1] [--max-requests 2000] [--duration 10] [--reuse-port]
       (or python -m loadtests.recycling from the repository root)
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run by its path: import through the loadtests package from the
    # repository root, never a sibling script by its bare name.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from loadtests.runner import ROOT, RunError
from loadtests.runner.server import Server
from loadtests.spread import SERVED

APP = "loadtests.apps.loadapp:app"
#: How long the master may take to stop (its graceful timeout is 2 s).
STOP_TIMEOUT = 15.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-requests", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load")
    parser.add_argument("--reuse-port", action="store_true",
                        help="one SO_REUSEPORT socket per worker instead of a shared one")
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    args = parser.parse_args()
    mode = "reuse-port" if args.reuse_port else "shared"
    with tempfile.TemporaryDirectory(prefix="zerodep-recycling-") as tmp:
        server = Server(APP, args.workers,
                        [f"--{'' if args.reuse_port else 'no-'}reuse-port", "--log-level", "debug",
                         "--graceful-timeout", "2", "--max-requests", str(args.max_requests)],
                        str(Path(tmp) / "static"), Path(tmp) / "server.log", verbose=False,
                        python=args.python)
        try:
            server.start()
            output = subprocess.run(["wrk", "-t1", "-c64", f"-d{args.duration}s",
                                     f"{server.url}/hello"], capture_output=True, text=True,
                                    timeout=args.duration + 30).stdout
        except RunError as exc:
            raise SystemExit(f"the server did not start: {exc}") from None
        finally:
            server.stop(STOP_TIMEOUT)
        served = [int(count) for _, count in SERVED.findall(server.log_path.read_text())]
    over = sorted(count - args.max_requests for count in served if count >= args.max_requests)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    problems = re.findall(r"(Socket errors:.*|Non-2xx or 3xx responses:.*)", output)
    summary = (f"min {over[0]} / median {statistics.median(over):.0f} / max {over[-1]}"
               if over else "no worker reached the limit")
    workers = f"{args.workers} worker" + ("s" if args.workers != 1 else "")
    print(f"{mode} socket, {workers}, --max-requests {args.max_requests}: "
          f"{len(over)} recycled, requests served past the limit: {summary}; "
          f"{float(rate.group(1)) if rate else 0:,.0f} requests/s; "
          + ("; ".join(problems) if problems else "0 socket errors, 0 non-2xx"))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
