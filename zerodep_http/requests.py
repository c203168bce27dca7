"""The request object handed to handlers and hooks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

from .cookies import parse_cookie_header
from .exceptions import HTTPException
from .multipart import MultipartLimits, is_form_data
from .proxy import forwarded_host
from .sessions import Session
from .uploads import FormLimits, MultipartForm, UploadFile

_new_object = object.__new__


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
    trusted_proxy = False
    root_path = ""

    async def receive(self) -> bytes:
        return b""

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

    `body` is the whole body, read before hooks and handler run, with two
    exceptions that keep a large body out of memory: a `multipart/form-data`
    body that did not all come with its head goes to `form()` and `files` as
    it arrives (`body` is then b""; read a form through `form()` and
    `files`, whatever its size), and a `stream=True` route reads its body
    with `stream()` (`body` holds only the bytes that came with the head,
    which `stream()` yields first).
    """

    __slots__ = (
        "method", "path", "query_string", "headers", "body", "path_params",
        "client_addr", "app", "http_version", "scheme", "channel", "_query_params",
        "_json", "_cookies", "_session", "_form", "path_as_sent",
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
        # Made on first use, None until then: one chained store costs a
        # tenth of reading an unset slot (an AttributeError), which a
        # request using them would pay. (An app with a secret key looks at
        # the session after every request.) `_json` holds a 1-tuple, as
        # None is a JSON value.
        self._query_params: dict[str, list[str]] | None
        self._cookies: dict[str, str] | None
        self._json: tuple[Any] | None
        self._session: Session | None
        self._query_params = self._cookies = self._json = self._session = None
        # `_form` stays unset until used: None is a result there, and a form
        # costs far more to parse than the exception.

    @classmethod
    def received(cls, method: str, path: str, query_string: str, headers: dict[str, str],
                 client_addr: tuple[str, int] | None, app: Any, http_version: str,
                 scheme: str, channel: Any) -> Request:
        """What `cls(method, path, query_string, headers, b"", client_addr,
        app, http_version, scheme, channel)` makes, for a connection that
        makes one per request: the slots stored directly cost less than
        calling the class (type_call, then __init__)."""
        self = _new_object(cls)
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.body = b""
        self.path_params = {}
        self.client_addr = client_addr
        self.app = app
        self.http_version = http_version
        self.scheme = scheme
        self.channel = channel
        self._query_params = self._cookies = self._json = self._session = None
        return self

    @property
    def query_params(self) -> dict[str, list[str]]:
        if self._query_params is None:
            self._query_params = parse_qs(self.query_string, keep_blank_values=True)
        return self._query_params

    @property
    def cookies(self) -> dict[str, str]:
        """The `Cookie` header's pairs; malformed ones are skipped."""
        if self._cookies is None:
            self._cookies = parse_cookie_header(self.headers.get("cookie"))
        return self._cookies

    @property
    def session(self) -> Session:
        """The session kept in the app's signed cookie (empty when missing,
        tampered with or expired); changes are saved with the response."""
        if self._session is not None:
            return self._session
        serializer = getattr(self.app, "session_serializer", None)
        if serializer is None:
            raise RuntimeError("request.session needs a secret key: "
                               "App(secret_key=...) or app.secret_key = ...")
        cookie = self.cookies.get(self.app.session_cookie)
        data = serializer.loads(cookie, self.app.session_max_age) if cookie else None
        self._session = Session(data or ())
        return self._session

    @property
    def session_loaded(self) -> Session | None:
        """The session if this request used it, else None (unread, it
        cannot have changed)."""
        return self._session

    def url_for(self, name: str, /, **params: Any) -> str:
        """The absolute URL of a route as this client reaches it: scheme and
        host as the client (or a trusted proxy) gave them, then the root path
        and `app.url_for(name, **params)`."""
        host = forwarded_host(self.headers) if self.channel.trusted_proxy else None
        host = host or self.headers.get("host") or "localhost"
        return f"{self.scheme}://{host}{self.channel.root_path}{self.app.url_for(name, **params)}"

    def text(self) -> str:
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidBody("request body is not valid UTF-8") from None

    def json(self) -> Any:
        """The body parsed as JSON, parsed once; 400 if it is not JSON."""
        if self._json is None:
            try:
                self._json = (json.loads(self.body),)
            except (ValueError, UnicodeDecodeError):
                raise InvalidBody("request body is not valid JSON") from None
        return self._json[0]

    def form(self) -> dict[str, list[str]]:
        """The fields of a form: a `multipart/form-data` body's (files are
        in `files`), else the body read as `x-www-form-urlencoded`."""
        form = self._multipart()
        if form is not None:
            return form.fields
        return parse_qs(self.text(), keep_blank_values=True)

    @property
    def files(self) -> dict[str, list[UploadFile]]:
        """The files of a `multipart/form-data` body, by field name. Those
        read as the body arrived are closed (their temporary files removed)
        once the request was handled."""
        form = self._multipart()
        return form.files if form is not None else {}

    def _multipart(self) -> MultipartForm | None:
        """The multipart form: read as the body arrived, or parsed now from
        a body that came whole with its head. That one is in memory
        already, so its uploads stay there: no temporary file to remove."""
        try:
            return self._form
        except AttributeError:
            pass
        form = None
        if self.body and is_form_data(self.headers):
            limits = getattr(self.app, "form_limits", FormLimits())
            form = MultipartForm(self.headers["content-type"],
                                 replace(limits, spool_size=len(self.body)),
                                 getattr(self.app, "multipart_limits", MultipartLimits()))
            form.feed(self.body)
            form.end_of_input()
        self._form: MultipartForm | None = form
        return form

    async def stream(self) -> AsyncIterator[bytes]:
        """The body piece by piece as it arrives, for `stream=True` routes.

        The connection stops reading from the client while the handler does
        not ask for more, and sends `100 Continue` (if the client waits for
        it) when the handler first asks. On another route this yields the
        body that was already read. Either way `body` is b"" afterwards.
        """
        first, self.body = self.body, b""
        if first:
            yield first
        receive = self.channel.receive
        while piece := await receive():
            yield piece

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path!r}>"
