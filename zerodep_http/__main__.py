"""`python -m zerodep_http` and the `zerodep-http` command."""

from __future__ import annotations

import argparse
import importlib
import sys

from .app import App


def load_app(spec: str) -> App:
    """Import `module:attribute` or call `module:factory()`."""
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    attribute = attribute or "app"
    if attribute.endswith("()"):
        return getattr(module, attribute[:-2])()
    return getattr(module, attribute)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="zerodep-http")
    parser.add_argument("app", nargs="?", help="module:attribute or module:factory(); "
                        "the built-in demo when omitted")
    parser.add_argument("-b", "--bind", default="127.0.0.1:8000", help="HOST:PORT")
    args = parser.parse_args(argv)
    sys.path.insert(0, "")
    app = load_app(args.app or "zerodep_http.demo:app")
    host, _, port = args.bind.rpartition(":")
    app.run(host.strip("[]"), int(port))


if __name__ == "__main__":
    main()
