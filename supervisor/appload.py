"""Import the application named on the command line."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from zerodep_http.app import App

if TYPE_CHECKING:
    from zerodep_http.config import Config

DEMO_APP = "zerodep_http.demo:app"


class AppLoadError(Exception):
    """The module imported, but does not name a usable App."""


def load_app(spec: str | None) -> App:
    """Import `module:attribute` or call `module:factory()`; None is the demo.

    Import errors (including syntax errors) propagate with their traceback.
    """
    spec = spec or DEMO_APP
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    attribute = attribute or "app"
    name = attribute[:-2] if attribute.endswith("()") else attribute
    try:
        found = getattr(module, name)
    except AttributeError:
        raise AppLoadError(f"module {module_name!r} has no attribute {name!r}") from None
    app = found() if attribute.endswith("()") else found
    if not isinstance(app, App):
        raise AppLoadError(f"{spec} is a {type(app).__name__}, not a zerodep_http.App")
    return app


def effective_config(config: Config, app: App) -> Config:
    """The settings that apply to `app`: what it declares itself
    (`App(max_body_size=...)`) wins over the server-wide settings."""
    return config.override(app.declared_settings, f"app {config.app or DEMO_APP}")
