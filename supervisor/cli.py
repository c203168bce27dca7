"""`zerodep-http [APP] [options]`: read the settings, then run the master."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from zerodep_http.config import Config, run_cli_config

from .appload import DEMO_APP, effective_config, load_app
from .master import Master
from .messages import Exit


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Exit status: 0 after a clean stop, 1 on a runtime failure, 2 for a bad
    setting, 3 when a worker cannot boot, 4 when the app cannot be imported."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Exits 2 on a bad value, 0 after --check-config.
    config = run_cli_config(argv, effective=_with_app_settings)
    _import_from_working_directory()
    sys.exit(Master(config, argv).run())


def _import_from_working_directory() -> None:
    """Apps are named relative to the working directory (after --chdir), as
    with gunicorn, whether started as `python -m zerodep_http` or as the
    console script."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())


def _with_app_settings(config: Config) -> Config:
    """For --check-config: import the app, so that what it declares shows
    as the value that applies, with its source."""
    _import_from_working_directory()
    try:
        app = load_app(config.app, config.interface)
    except Exception as exc:  # noqa: BLE001 - reported in one line, as a bad setting is
        print(f"error: cannot load the application {config.app or DEMO_APP}: {exc}",
              file=sys.stderr)
        raise SystemExit(Exit.APP_IMPORT_FAILED) from None
    return effective_config(config, app)
