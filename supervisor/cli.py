"""`zerodep-http [APP] [options]`: read the settings, then run the master."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from zerodep_http.config import run_cli_config

from .master import Master


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Exit status: 0 after a clean stop, 1 on a runtime failure, 2 for a bad
    setting, 3 when a worker cannot boot, 4 when the app cannot be imported."""
    argv = list(sys.argv[1:] if argv is None else argv)
    config = run_cli_config(argv)  # exits 2 on a bad value, 0 after --check-config
    # Apps are named relative to the working directory, as with gunicorn,
    # whether started as `python -m zerodep_http` or as the console script.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    sys.exit(Master(config, argv).run())
