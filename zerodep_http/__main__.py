"""`python -m zerodep_http`: the command line, as the `zerodep-http` script.

The command line and its master process come with the installed package
(`zerodep_http.supervisor`). The engine does not depend on them: a copy of
the `zerodep_http/` folder alone imports, and serves with `app.run()`.
"""

from __future__ import annotations

import importlib
import sys


def main() -> None:
    try:
        cli = importlib.import_module("zerodep_http.supervisor.cli")
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("zerodep_http.supervisor"):
            raise
        sys.exit("zerodep-http: the command line needs the installed package "
                 "(pip install zerodep-http); this copy of zerodep_http/ serves "
                 "with app.run() only")
    cli.main()


if __name__ == "__main__":
    main()
