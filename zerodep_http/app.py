"""The application: routes, hooks and error handlers (the framework).

Running it in this process (`run`, `serve`, `shutdown`) is `serving`'s
business; these methods only hand over to it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from types import SimpleNamespace
from typing import Any, TypeVar
from urllib.parse import urlencode

from . import defaults
from .asgi import ASGIApplication
from .bodies import take_body
from .compression import accepts_gzip, compress_body, start_gzip_stream
from .cors import CORSPolicy
from .exceptions import HTTPException
from .exchange import ClientDisconnected
from .files import FileResponse, guess_type, resolve_static
from .hosting import hosted_interface
from .lifecycle import Lifecycle
from .multipart import MultipartLimits
from .requests import Request
from .responses import (
    JSON,
    TEXT,
    JSONResponse,
    Response,
    StreamingResponse,
    _json_chunks,
    coerce_response,
)
from .routing import Endpoint, Router
from .serving import LocalServer
from .sessions import SessionSerializer, session_cookie_header
from .threadpool import to_thread
from .uploads import FormLimits, MultipartForm
from .vary import add_vary
from .wsgi import WSGIApplication

log = logging.getLogger("zerodep_http.error")

_new_object = object.__new__
Handler = TypeVar("Handler", bound=Callable[..., Any])


async def _call(endpoint: Endpoint, *args: Any, **kwargs: Any) -> Any:
    """Await an async function; run a plain one in a thread."""
    if endpoint.is_async:
        return await endpoint.function(*args, **kwargs)
    result = await to_thread(endpoint.function, *args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


class _Declared:
    """A setting the app may declare. What it declares wins over the
    server-wide setting of the same name (`--max-body-size`, ...), the more
    specific one, however the app is served; what it does not declare is
    left to the server."""

    def __init__(self, default: float, kind: type) -> None:
        self.default = default
        self.kind = kind

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, app: App | None, owner: type) -> Any:
        if app is None:
            return self
        return app.declared_settings.get(self.name, self.default)

    def __set__(self, app: App, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (self.kind, int)) or value <= 0:
            raise ValueError(f"{self.name} must be a positive {self.kind.__name__}, not {value!r}")
        app.declared_settings[self.name] = value


class App:
    """A set of routes, hooks and error handlers."""

    #: Largest request body accepted (413 past it).
    max_body_size = _Declared(defaults.MAX_BODY_SIZE, int)
    #: Seconds a request head, or a wait for more of its body, may take (408).
    read_timeout = _Declared(defaults.READ_TIMEOUT, float)
    #: The session cookie: its name, and how long a session lasts.
    session_cookie = "session"
    session_max_age = 31 * 24 * 3600
    #: What a multipart body may hold (413 past it): fields, files, memory...
    form_limits = FormLimits()
    #: ...parts, and header bytes per part.
    multipart_limits = MultipartLimits()

    def __init__(self, *, max_body_size: int | None = None,
                 read_timeout: float | None = None,
                 secret_key: str | bytes | list[str | bytes] | None = None,
                 compress: bool = False,
                 websocket_origins: Iterable[str] | None = None) -> None:
        #: The settings this app set itself, by name (see `_Declared`).
        self.declared_settings: dict[str, Any] = {}
        if max_body_size is not None:
            self.max_body_size = max_body_size
        if read_timeout is not None:
            self.read_timeout = read_timeout
        if isinstance(websocket_origins, str):
            raise TypeError("websocket_origins is a list of origins, not one string")
        #: Origins whose pages may open this app's WebSockets (None: any).
        self.websocket_origins = None if websocket_origins is None else list(websocket_origins)
        self.router = Router()
        self._before_request: list[Endpoint] = []
        self._after_request: list[Endpoint] = []
        # What the app adds around the hooks it was given (CORS, gzip): run
        # only when asked for, so that a plain app pays nothing for them.
        self._before_hooks: list[Endpoint] = []
        self._after_hooks: list[Endpoint] = []
        self._cors: CORSPolicy | None = None
        self._compress = False
        self._error_handlers: dict[int | type[BaseException], Endpoint] = {}
        self._methods: set[str] = set()
        # (prefix, name, app), longest prefix first; app is an App, or the
        # adapter of a mounted ASGI or WSGI application.
        self._mounts: list[tuple[str, str, Any]] = []
        self._lifecycle = Lifecycle()
        #: What startup hooks create for the handlers (a pool, a client...).
        self.state = SimpleNamespace()
        #: Signs the session cookie; set through `secret_key`.
        self.session_serializer: SessionSerializer | None = None
        self.secret_key = secret_key
        self.compress = compress
        self._local_server = LocalServer(self)

    @property
    def secret_key(self) -> str | bytes | list[str | bytes] | None:
        """Signs the session cookie; a list rotates keys: the first signs,
        all verify."""
        return self._secret_key

    @secret_key.setter
    def secret_key(self, value: str | bytes | list[str | bytes] | None) -> None:
        self._secret_key = value
        self.session_serializer = None if not value else SessionSerializer(value)

    @property
    def compress(self) -> bool:
        """Gzip text-like responses of 1 KiB or more for clients that take it."""
        return self._compress

    @compress.setter
    def compress(self, value: bool) -> None:
        self._compress = bool(value)
        self._rebuild_hooks()

    # -- registration -------------------------------------------------------

    def route(self, pattern: str, methods: list[str] | None = None, *,
              name: str | None = None, stream: bool = False,
              max_body_size: int | None = None) -> Callable[[Handler], Handler]:
        """Route `methods` (default GET) on `pattern` to the handler; `name`
        (default: the handler's name) is what `url_for` knows it by.

        `stream=True`: the (async) handler runs as soon as the request head
        is parsed and reads the body with `request.stream()`. `max_body_size`:
        the largest body this route takes (413 past it), which wins over the
        app's and the server's limit, above or below them.
        """
        methods = [method.upper() for method in (methods or ["GET"])]
        if max_body_size is not None and (isinstance(max_body_size, bool) or not isinstance(
                max_body_size, int) or max_body_size <= 0):
            raise ValueError(f"max_body_size must be a positive int, not {max_body_size!r}")

        def register(handler: Handler) -> Handler:
            if stream and not inspect.iscoroutinefunction(handler):
                raise ValueError(f"a stream=True route needs an async handler, "
                                 f"not {handler.__name__}")
            self._check_outside_mounts(pattern)
            self.router.add(pattern, methods, handler, name, stream, max_body_size)
            self._methods.update(methods)
            return handler

        return register

    def get(self, pattern: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route(pattern, ["GET"], **options)

    def post(self, pattern: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route(pattern, ["POST"], **options)

    def put(self, pattern: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route(pattern, ["PUT"], **options)

    def delete(self, pattern: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route(pattern, ["DELETE"], **options)

    def patch(self, pattern: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route(pattern, ["PATCH"], **options)

    def static(self, url_prefix: str, directory: str | os.PathLike[str], *,
               name: str = "static") -> None:
        """Serve the files under `directory` at `url_prefix`; a file's
        `.gz` sibling, when there is one, goes to clients that take gzip.
        `url_for(name, filepath=...)` builds a file's URL."""
        root = os.path.realpath(directory)
        if not os.path.isdir(root):
            raise ValueError(f"static directory {directory!r} does not exist")
        prefix = url_prefix.rstrip("/")

        async def serve_file(request: Request, filepath: str = "") -> FileResponse:
            path = resolve_static(root, filepath)
            if path is None:
                raise HTTPException(404)
            return static_file(request, root, path)

        self.route(prefix + "/", name=f"{name}_index")(serve_file)
        self.route(prefix + "/<path:filepath>", name=name)(serve_file)

    def mount(self, app: Any, url_prefix: str, *, name: str | None = None) -> None:
        """Serve `app`'s routes under `url_prefix`. This app's
        `before_request` hooks run before `app`'s, its `after_request` hooks
        after `app`'s; `app`'s error handlers come first, then this app's.
        `url_for("<name>.<route>")` builds its URLs; `name` defaults to the
        prefix (`/api/v1` -> `api.v1`).

        `app` may also be an ASGI 3 or WSGI application (an old one living
        beside new routes): it sees the prefix as its root path (ASGI
        `root_path`, WSGI `SCRIPT_NAME`), reads the request body itself,
        and answers on its own, after this app's `before_request` hooks;
        its lifespan runs with this app's startup and shutdown."""
        prefix = url_prefix.rstrip("/")
        if not prefix.startswith("/") or "<" in prefix:
            raise ValueError(f"mount prefix {url_prefix!r} must be a literal path like '/api'")
        if app is self:
            raise ValueError("an app cannot be mounted in itself")
        if not isinstance(app, App):
            interface = hosted_interface(app)
            if interface is None:
                raise ValueError(f"cannot mount a {type(app).__name__}: neither a zerodep_http "
                                 "App, an ASGI 3 nor a WSGI application")
            app = (ASGIApplication(app, root_path=prefix) if interface == "asgi"
                   else WSGIApplication(app, root_path=prefix))
        name = name or prefix.strip("/").replace("/", ".")
        for other_prefix, other_name, _ in self._mounts:
            if other_prefix == prefix or other_name == name:
                raise ValueError(f"{url_prefix!r} ({name!r}) is already mounted")
        for route in self.router.routes():
            if _under(route.pattern, prefix):
                raise ValueError(f"route {route.pattern} lies under the mount prefix {prefix}")
        self._mounts.append((prefix, name, app))
        self._mounts.sort(key=lambda mount: -len(mount[0]))

    def _check_outside_mounts(self, pattern: str) -> None:
        for prefix, _, _ in self._mounts:
            if _under(pattern, prefix):
                raise ValueError(f"route {pattern} lies under the mount prefix {prefix}")

    def websocket(self, pattern: str, *, name: str | None = None) -> Callable[[Handler], Handler]:
        """Serve WebSocket handshakes at `pattern` with
        `async def handler(request, ws, **params)` (see `websocket`); `name`
        as for `route`."""
        # Imported here: an app without WebSocket routes never loads them.
        from .websocket import websocket_endpoint

        def register(handler: Handler) -> Handler:
            self.route(pattern, name=name)(websocket_endpoint(handler, self))
            return handler

        return register

    def before_request(self, hook: Handler) -> Handler:
        """Run `hook(request)` before every handler; a non-None return value
        is the response, and the handler is skipped."""
        self._before_request.append(Endpoint.wrap(hook))
        self._rebuild_hooks()
        return hook

    def after_request(self, hook: Handler) -> Handler:
        """Run `hook(request, response)` on every response; it returns the
        response to send (None keeps the one it was given)."""
        self._after_request.append(Endpoint.wrap(hook))
        self._rebuild_hooks()
        return hook

    def errorhandler(self, code_or_exception: int | type[BaseException]) -> Callable[[Handler], Handler]:
        """Answer an HTTP status (`abort`, unmatched routes) or an exception
        class with `handler(request, exc)`."""
        def register(handler: Handler) -> Handler:
            self._error_handlers[code_or_exception] = Endpoint.wrap(handler)
            return handler

        return register

    def cors(self, origins: str | list[str], *, methods: str | list[str] = ("GET", "HEAD", "POST"),
             headers: str | list[str] = (), credentials: bool = False, max_age: int | None = 600,
             expose_headers: str | list[str] = ()) -> None:
        """Answer CORS preflights and add the CORS fields to every response
        (see `cors.CORSPolicy`; `*` with credentials is refused)."""
        self._cors = CORSPolicy(origins, methods, headers, credentials, max_age, expose_headers)
        self._rebuild_hooks()

    def _rebuild_hooks(self) -> None:
        """The hook lists `handle` runs: preflights first, then the app's
        before_request hooks; its after_request hooks, then CORS and gzip."""
        before = [Endpoint.wrap(self._answer_preflight)] if self._cors else []
        self._before_hooks = before + self._before_request
        after = list(self._after_request)
        if self._cors is not None:
            after.append(Endpoint.wrap(self._add_cors_fields))
        if self._compress:
            after.append(Endpoint.wrap(self._gzip))
        self._after_hooks = after

    # -- urls -------------------------------------------------------------------

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of the route called `name` (`"api.user"` for a route
        of the app mounted as `api`): path parameters converted and
        percent-encoded, the other parameters as the query string.
        ValueError for an unknown name, a missing parameter or a value its
        converter refuses."""
        route = self.router.names.get(name)
        if route is None:
            for prefix, mount_name, app in self._mounts:
                if name.startswith(mount_name + ".") and isinstance(app, App):
                    return prefix + app.url_for(name[len(mount_name) + 1:], **params)
            raise ValueError(f"no route is called {name!r}")
        path = route.build(params)
        if params:
            path += "?" + urlencode(params, doseq=True)
        return path

    # -- lifecycle (see `lifecycle`) -------------------------------------------

    def on_startup(self, hook: Handler) -> Handler:
        """Run `hook()` (sync or async) in every process that serves the
        app, before its first request; if it raises, the process does not
        serve (at start, the master exits with the boot-failure status)."""
        self._lifecycle.startup_hooks.append(hook)
        return hook

    def on_shutdown(self, hook: Handler) -> Handler:
        """Run `hook()` after the drain, once spawned work has finished."""
        self._lifecycle.shutdown_hooks.append(hook)
        return hook

    def spawn(self, awaitable: Any) -> asyncio.Future[Any]:
        """Run work that outlives its request; the drain waits for it (up to
        the graceful timeout) and its exceptions are logged."""
        return self._lifecycle.spawn(awaitable)

    async def startup(self) -> None:
        """This app's startup hooks, then those of the apps mounted in it."""
        await self._lifecycle.startup()
        for _, _, app in reversed(self._mounts):
            await app.startup()

    async def cleanup(self, timeout: float) -> None:
        """The mounted apps' cleanup first, then this app's own."""
        give_up = asyncio.get_running_loop().time() + timeout
        for _, _, app in self._mounts:
            await app.cleanup(max(0.0, give_up - asyncio.get_running_loop().time()))
        await self._lifecycle.cleanup(max(0.0, give_up - asyncio.get_running_loop().time()))

    # -- handling -----------------------------------------------------------

    def body_limit(self, request: Request) -> int | None:
        """The route's own `max_body_size` for `request`, if it has one (the
        connection asks before it reads the body: see `exchange`)."""
        if not self.router.limits_bodies and not self._mounts:
            return None  # the common case, at the cost of two looks
        endpoint = self._endpoint(request)
        return endpoint.max_body_size if endpoint is not None else None

    def _endpoint(self, request: Request, path: str | None = None) -> Endpoint | None:
        """The endpoint that would handle `request` (at `path`), mounted
        apps included; None when none would."""
        path = request.path if path is None else path
        found = self.router.resolve(request.method, path)
        if found is not None:
            return found[0].endpoint_for(request.method)
        mounted = self._mounted(path)
        if mounted is None:
            return None
        if not isinstance(mounted[0], App):
            return _HOSTED  # a mounted ASGI or WSGI app reads the body itself
        return mounted[0]._endpoint(request, mounted[1])

    async def handle(self, request: Request, path: str | None = None) -> Response:
        """The response to `request`; never raises for application errors.

        This is the per-request path, kept in one coroutine on purpose:
        each extra coroutine layer costs as much as the routing. A mounted
        app is handed `path`, the part below its prefix, and raises what
        its own error handlers do not take, for the parent's to see.
        """
        if path is None:
            path = request.path
        try:
            if request.channel.receiving:
                form = await take_body(request, self._endpoint(request, path), self.form_limits,
                                       self.multipart_limits)
                if form is not None:
                    return await self._handle_with_form(request, form, path)
            response = None
            if self._before_hooks:  # (a test costs less than iterating an empty list)
                for hook in self._before_hooks:
                    result = await _call(hook, request)
                    if result is not None:
                        response = coerce_response(result)
                        break
            if response is None:
                # Fast path: an async handler on a literal route.
                route = self.router.literal.get(path)  # type: ignore[arg-type]
                endpoint = route.endpoints.get(request.method) if route is not None else None
                if endpoint is not None and endpoint.is_async:
                    result = await endpoint.function(request)
                else:
                    found = self._match(request, path)  # type: ignore[arg-type]
                    if isinstance(found, Response):
                        result = found
                    elif isinstance(found[0], App):
                        result = await found[0].handle(request, found[1])
                    elif not isinstance(found[0], Endpoint):
                        # A mounted ASGI or WSGI app: it answers on its own.
                        return await found[0].handle(request)
                    else:
                        endpoint, params = found
                        if not endpoint.is_async:
                            result = await _call(endpoint, request, **params)
                        elif params:
                            result = await endpoint.function(request, **params)
                        else:
                            result = await endpoint.function(request)
                cls = result.__class__
                if cls is str or cls is dict:
                    # What coerce_response makes of the commonest returns,
                    # written out: the call would cost as much as the rest.
                    if cls is str:
                        response = _new_object(Response)
                        response.body = result.encode()
                        response._content_type = TEXT
                    else:
                        response = _new_object(JSONResponse)
                        response.body = "".join(_json_chunks(result, 0)).encode()
                        response._content_type = JSON
                    response.status_code = 200
                    response._headers = None
                else:
                    response = result if isinstance(result, Response) else coerce_response(result)
            if response.streamed:
                self._prepare(response, request)
        except ClientDisconnected:
            raise
        except Exception as exc:
            # A mounted app is handed a path below its prefix: never the request's.
            response = await self._error_response(request, exc, path != request.path)
        if self._after_hooks:
            for hook in self._after_hooks:
                try:
                    result = await _call(hook, request, response)
                except Exception:
                    log.exception("Error in after_request hook for %s %s",
                                  request.method, request.path)
                    return Response("Internal Server Error", 500)
                if result is not None:
                    response = coerce_response(result)
        if self.session_serializer is not None:  # last: it sees every change
            response = self._save_session(request, response)
        return response

    async def _handle_with_form(self, request: Request, form: MultipartForm,
                                path: str) -> Response:
        """`handle` once the body went to `form` (it has all arrived), whose
        uploads are closed, their temporary files removed, when it is done,
        whatever happened."""
        try:
            return await self.handle(request, path)
        finally:
            form.close()

    def _match(self, request: Request, path: str
               ) -> tuple[Endpoint, dict[str, Any]] | tuple[App, str] | Response:
        """The endpoint and its parameters, a mounted app and the path below
        its prefix, or the automatic OPTIONS answer; raises the 404 or 405
        for the error handlers to see."""
        method = request.method
        found = self.router.resolve(method, path)
        if found is None:
            mounted = self._mounted(path)
            if mounted is not None:
                return mounted
            if method == "OPTIONS" and path == "*":
                allow = ", ".join(sorted(self._methods | {"HEAD", "OPTIONS"}))
                return Response(b"", 204, {"allow": allow})
            raise HTTPException(404)
        route, params = found
        endpoint = route.endpoints.get(method) or route.endpoint_for(method)
        if endpoint is None:
            if method == "OPTIONS":
                return Response(b"", 204, {"allow": route.allow})
            raise HTTPException(405, headers={"allow": route.allow})
        if params:
            request.path_params = params
        return endpoint, params

    def _mounted(self, path: str) -> tuple[App, str] | None:
        """The mounted app serving `path`, and the path below its prefix."""
        for prefix, _, app in self._mounts:
            if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
                return app, path[len(prefix):] or "/"
        return None

    async def _answer_preflight(self, request: Request) -> Response | None:
        answer = self._cors.preflight(request.method, request.headers)  # type: ignore[union-attr]
        if answer is None:
            return None
        return Response(answer.refusal or b"", answer.status_code, answer.headers)

    async def _add_cors_fields(self, request: Request, response: Response) -> None:
        if request.method == "OPTIONS" and "access-control-request-method" in request.headers:
            return  # a preflight: its answer has what it needs, or, refused, nothing
        self._cors.add_response_headers(request.headers, response.headers)  # type: ignore[union-attr]

    async def _gzip(self, request: Request, response: Response) -> None:
        accept = request.headers.get("accept-encoding")
        if isinstance(response, StreamingResponse):
            if response.compress:
                compressor = start_gzip_stream(accept, response.status_code, response.headers)
                if compressor is not None:
                    response.transform(compressor.compress_all)
        elif not response.streamed and request.method != "HEAD":
            response.body = compress_body(accept, response.status_code, response.headers,
                                          response.body)

    def _save_session(self, request: Request, response: Response) -> Response:
        """Write the session back if the request changed it; a session that
        outgrew a cookie is a 500, logged. Only the app serving the request
        keeps its session (a mounted one uses its parent's)."""
        session = request.session_loaded
        if session is None or request.app is not self:
            return response
        try:
            header = session_cookie_header(
                self.session_serializer, session, name=self.session_cookie,  # type: ignore[arg-type]
                max_age=self.session_max_age, secure=request.scheme == "https")
        except ValueError:
            log.exception("Cannot save the session of %s %s", request.method, request.path)
            return Response("Internal Server Error", 500)
        if header is not None:
            response.headers.add("set-cookie", header)
        if session.accessed:
            add_vary(response.headers, "Cookie")
        return response

    @staticmethod
    def _prepare(response: Response, request: Request) -> Response:
        """Let a file response open its file and decide its status, so that
        a missing file is a 404 the error handlers see."""
        if isinstance(response, FileResponse):
            response.prepare(request)
        return response

    async def _error_response(self, request: Request, exc: Exception,
                              mounted: bool = False) -> Response:
        handler = self._find_error_handler(exc)
        if handler is None and mounted:
            raise exc  # for the parent app's handlers
        if not isinstance(exc, HTTPException) and (
                handler is None or handler is self._error_handlers.get(500)):
            # Unexpected: the traceback goes to the log, never to the client.
            log.error("Error handling %s %s", request.method, request.path, exc_info=exc)
        if handler is None:
            if isinstance(exc, HTTPException):
                return Response(exc.message, exc.status_code, exc.headers)
            return Response("Internal Server Error", 500)
        try:
            response = self._prepare(coerce_response(await _call(handler, request, exc)), request)
        except Exception:
            log.exception("Error in the error handler for %s %s", request.method, request.path)
            return Response("Internal Server Error", 500)
        if isinstance(exc, HTTPException) and exc.headers:
            # A custom error page must not lose what the status requires
            # (Allow on a 405).
            for name, value in exc.headers.items():
                response.headers.setdefault(name, value)
        return response

    def _find_error_handler(self, exc: Exception) -> Endpoint | None:
        handlers = self._error_handlers
        if not handlers:
            return None
        if isinstance(exc, HTTPException) and exc.status_code in handlers:
            return handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]
        if not isinstance(exc, HTTPException):
            return handlers.get(500)
        return None

    # -- serving in this process (see `serving`) -----------------------------

    @property
    def port(self) -> int | None:
        """The port `run()` or `serve()` listens on, once bound."""
        return self._local_server.port

    @port.setter
    def port(self, value: int | None) -> None:
        self._local_server.port = value

    async def serve(self, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
        """Serve until `shutdown()`, then drain gracefully; the options are
        `serving.LocalServer.serve`'s."""
        await self._local_server.serve(host, port, **self._serve_options(options))

    def shutdown(self) -> None:
        """Ask a running server to stop gracefully; safe from any thread."""
        self._local_server.shutdown()

    def run(self, host: str = "127.0.0.1", port: int = 8000, **listen_options: Any) -> None:
        """Serve in this process until SIGINT or SIGTERM (a second one
        stops at once instead of draining)."""
        self._local_server.run(host, port, **self._serve_options(listen_options))

    def _serve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The app's own settings, unless the caller passed them."""
        options.setdefault("read_timeout", self.read_timeout)
        options.setdefault("limits", replace(defaults.LIMITS, body_size=self.max_body_size))
        return options


#: What a mounted ASGI or WSGI app is to the body reading: it streams it.
_HOSTED = Endpoint(lambda request: None, True, stream=True)


def _under(pattern: str, prefix: str) -> bool:
    """Whether a route pattern's paths may fall under a mount prefix."""
    return pattern == prefix or pattern.startswith(prefix + "/")


def static_file(request: Request, root: str, path: str) -> FileResponse:
    """A file of a static root, or its precompressed `.gz` sibling for a
    client that takes gzip."""
    gzipped = resolve_static(root, os.path.relpath(path, root) + ".gz")
    if gzipped is None:
        return FileResponse(path)
    if not accepts_gzip(request.headers.get("accept-encoding")):
        return FileResponse(path, headers={"vary": "Accept-Encoding"})
    return FileResponse(gzipped, content_type=guess_type(path),
                        headers={"content-encoding": "gzip", "vary": "Accept-Encoding"})
