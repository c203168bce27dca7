"""Import the application named on the command line, and tell what it is.

`APP` may name a zerodep_http `App` (served natively), an ASGI 3
application or a WSGI one (served through the adapters, `zerodep_http.asgi`
and `zerodep_http.wsgi`); `--interface` names the kind, or `auto` tells
them apart by their call signature.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from zerodep_http.app import App
from zerodep_http.asgi import ASGIApplication
from zerodep_http.hosting import hosted_interface
from zerodep_http.wsgi import WSGIApplication

if TYPE_CHECKING:
    from zerodep_http.config import Config
    from zerodep_http.exchange import Application

DEMO_APP = "zerodep_http.demo:app"
INTERFACES = ("native", "asgi", "wsgi")


class AppLoadError(Exception):
    """The module imported, but does not name a usable application."""


def load_app(spec: str | None, interface: str = "auto") -> Any:
    """Import `module:attribute` or call `module:factory()`; None is the demo.
    The object must be of `interface` (`auto`: any of them).

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
    detect_interface(app, interface, spec)
    return app


def detect_interface(app: Any, interface: str = "auto", spec: str = "the application") -> str:
    """`native`, `asgi` or `wsgi`: what `app` is, or what `interface` says
    it is once checked; AppLoadError (one line) when it cannot be served so."""
    if isinstance(app, App):
        if interface not in ("auto", "native"):
            raise AppLoadError(f"{spec} is a zerodep_http App, not an {interface.upper()} "
                               "application; use --interface auto or native")
        return "native"
    kind = type(app).__name__
    if interface == "native":
        raise AppLoadError(f"{spec} is a {kind}, not a zerodep_http App "
                           "(--interface auto tells ASGI and WSGI applications apart)")
    if not callable(app):
        raise AppLoadError(f"{spec} is a {kind}, which is not callable: neither a zerodep_http "
                           "App, an ASGI 3 nor a WSGI application")
    if interface != "auto":
        return interface
    found = hosted_interface(app)
    if found is not None:
        return found
    raise AppLoadError(
        f"{spec} is a {kind}: neither a zerodep_http App, an ASGI 3 application (an async "
        "callable (scope, receive, send)) nor a WSGI one (a callable (environ, "
        "start_response)); if it is one of them, say which with --interface asgi or wsgi")


def serve_as(app: Any, config: Config) -> Application:
    """What a worker serves: `app` itself, or the adapter its interface needs."""
    interface = detect_interface(app, config.interface, config.app or DEMO_APP)
    if interface == "asgi":
        return ASGIApplication(app, root_path=config.root_path or "", lifespan=config.lifespan)
    if interface == "wsgi":
        return WSGIApplication(app, root_path=config.root_path or "", threads=config.threads,
                               multiprocess=config.workers > 1)
    return app


def effective_config(config: Config, app: Any) -> Config:
    """The settings that apply to `app`: what it declares itself
    (`App(max_body_size=...)`) wins over the server-wide settings."""
    declared = getattr(app, "declared_settings", None)
    if not declared:
        return config
    return config.override(declared, f"app {config.app or DEMO_APP}")
