"""`python -m zerodep_http` and the `zerodep-http` command: the supervisor."""

from __future__ import annotations

from .supervisor.appload import load_app
from .supervisor.cli import main

__all__ = ["load_app", "main"]

if __name__ == "__main__":
    main()
