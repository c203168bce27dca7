"""Settings for zerodep-http: one table, read from TOML, environment and command line.

    config = load_config(argv, environ)   # ConfigError on a bad value
    config.workers, config.bind, config.source("workers")

The command line uses `run_cli_config`, which turns a ConfigError into one
line on stderr and exit status 2, and handles --check-config.
"""

from .cpus import cpu_count
from .errors import ConfigError
from .loader import Config, build_parser, load_config, run_cli_config
from .markdown import render_markdown
from .settings import SETTINGS, Setting
from .values import Bind, IPAllowList

__all__ = [
    "SETTINGS", "Bind", "Config", "ConfigError", "IPAllowList", "Setting",
    "build_parser", "cpu_count", "load_config", "render_markdown", "run_cli_config",
]
