"""The request object handed to handlers and hooks."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from .exceptions import HTTPException

_UNSET: Any = object()


class InvalidBody(HTTPException, ValueError):
    """A body that cannot be decoded as asked: 400, or a ValueError handler."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class Detached:
    """The channel of a request built by hand rather than received: its
    body is whole, and there is no client to answer through."""

    receiving = False
    closed = True
    expects_continue = False

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"a request built by hand has no connection ({name})")


DETACHED = Detached()


class Request:
    """One parsed HTTP request.

    `path` is percent-decoded; `headers` has lower-case names, repeated
    fields joined with ", "; `query_params` maps each name to every value
    it was given, in order. `app` is the application serving it, and
    `channel` the connection it came on (an `exchange.Channel`).
    `path_as_sent` is set only when `path` was percent-decoded: the path as
    the client sent it (ASGI's `raw_path` and WSGI's `PATH_INFO` need it).
    """

    __slots__ = (
        "method", "path", "query_string", "headers", "body", "path_params",
        "client_addr", "app", "http_version", "scheme", "channel", "_query_params",
        "_json", "path_as_sent",
    )

    def __init__(self, method: str, path: str, query_string: str,
                 headers: dict[str, str], body: bytes = b"",
                 client_addr: tuple[str, int] | None = None, app: Any = None,
                 http_version: str = "1.1", scheme: str = "http",
                 channel: Any = DETACHED) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.body = body
        self.path_params: dict[str, Any] = {}
        self.client_addr = client_addr
        self.app = app
        self.http_version = http_version
        self.scheme = scheme
        self.channel = channel
        self._query_params: dict[str, list[str]] | None = None
        self._json: Any = _UNSET

    @property
    def query_params(self) -> dict[str, list[str]]:
        if self._query_params is None:
            self._query_params = parse_qs(self.query_string, keep_blank_values=True)
        return self._query_params

    def text(self) -> str:
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidBody("request body is not valid UTF-8") from None

    def json(self) -> Any:
        """The body parsed as JSON, parsed once; 400 if it is not JSON."""
        if self._json is _UNSET:
            try:
                self._json = json.loads(self.body)
            except (ValueError, UnicodeDecodeError):
                raise InvalidBody("request body is not valid JSON") from None
        return self._json

    def form(self) -> dict[str, list[str]]:
        """An `application/x-www-form-urlencoded` body."""
        return parse_qs(self.text(), keep_blank_values=True)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path!r}>"
