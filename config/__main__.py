"""`python -m zerodep_http.config --markdown > docs/settings.md` regenerates the settings reference."""

import argparse

from .markdown import render_markdown


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m zerodep_http.config")
    parser.add_argument("--markdown", action="store_true", required=True,
                        help="print docs/settings.md, generated from the settings table")
    parser.parse_args()
    print(render_markdown(), end="")


if __name__ == "__main__":
    main()
