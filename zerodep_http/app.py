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
from typing import Any, TypeVar

from . import defaults
from .exceptions import HTTPException
from .exchange import Channel, ClientDisconnected
from .files import FileResponse, resolve_static
from .requests import Request
from .responses import Response, coerce_response
from .routing import Endpoint, Router
from .serving import LocalServer
from .websocket import websocket_endpoint

log = logging.getLogger("zerodep_http.error")

Handler = TypeVar("Handler", bound=Callable[..., Any])


async def _call(endpoint: Endpoint, *args: Any, **kwargs: Any) -> Any:
    """Await an async function; run a plain one in a thread."""
    if endpoint.is_async:
        return await endpoint.function(*args, **kwargs)
    result = await asyncio.to_thread(endpoint.function, *args, **kwargs)
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

    def __init__(self, *, max_body_size: int | None = None,
                 read_timeout: float | None = None,
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
        self._error_handlers: dict[int | type[BaseException], Endpoint] = {}
        self._methods: set[str] = set()
        self._local_server = LocalServer(self)

    # -- registration -------------------------------------------------------

    def route(self, pattern: str, methods: list[str] | None = None) -> Callable[[Handler], Handler]:
        methods = [method.upper() for method in (methods or ["GET"])]

        def register(handler: Handler) -> Handler:
            self.router.add(pattern, methods, handler)
            self._methods.update(methods)
            return handler

        return register

    def get(self, pattern: str) -> Callable[[Handler], Handler]:
        return self.route(pattern, ["GET"])

    def post(self, pattern: str) -> Callable[[Handler], Handler]:
        return self.route(pattern, ["POST"])

    def put(self, pattern: str) -> Callable[[Handler], Handler]:
        return self.route(pattern, ["PUT"])

    def delete(self, pattern: str) -> Callable[[Handler], Handler]:
        return self.route(pattern, ["DELETE"])

    def patch(self, pattern: str) -> Callable[[Handler], Handler]:
        return self.route(pattern, ["PATCH"])

    def static(self, url_prefix: str, directory: str | os.PathLike[str]) -> None:
        """Serve the files under `directory` at `url_prefix`."""
        root = os.path.realpath(directory)
        if not os.path.isdir(root):
            raise ValueError(f"static directory {directory!r} does not exist")
        prefix = url_prefix.rstrip("/")

        async def serve_file(request: Request, filepath: str = "") -> FileResponse:
            path = resolve_static(root, filepath)
            if path is None:
                raise HTTPException(404)
            return FileResponse(path)

        self.route(prefix + "/")(serve_file)
        self.route(prefix + "/<path:filepath>")(serve_file)

    def websocket(self, pattern: str) -> Callable[[Handler], Handler]:
        """Serve WebSocket handshakes at `pattern` with
        `async def handler(request, ws, **params)` (see `websocket`)."""
        def register(handler: Handler) -> Handler:
            self.route(pattern)(websocket_endpoint(handler, lambda: self.websocket_origins))
            return handler

        return register

    def before_request(self, hook: Handler) -> Handler:
        """Run `hook(request)` before every handler; a non-None return value
        is the response, and the handler is skipped."""
        self._before_request.append(Endpoint.wrap(hook))
        return hook

    def after_request(self, hook: Handler) -> Handler:
        """Run `hook(request, response)` on every response; it returns the
        response to send (None keeps the one it was given)."""
        self._after_request.append(Endpoint.wrap(hook))
        return hook

    def errorhandler(self, code_or_exception: int | type[BaseException]) -> Callable[[Handler], Handler]:
        """Answer an HTTP status (`abort`, unmatched routes) or an exception
        class with `handler(request, exc)`."""
        def register(handler: Handler) -> Handler:
            self._error_handlers[code_or_exception] = Endpoint.wrap(handler)
            return handler

        return register

    # -- handling -----------------------------------------------------------

    def wants_body(self, request: Request) -> bool:
        """Whether a handler would read this request's body (100-continue)."""
        found = self.router.resolve(request.method, request.path)
        return found is not None and found[0].endpoint_for(request.method) is not None

    async def handle(self, request: Request) -> Response:
        """The response to `request`; never raises for application errors.

        This is the per-request path, kept in one coroutine on purpose:
        each extra coroutine layer costs as much as the routing.
        """
        try:
            if request.channel.receiving:
                await self._receive_body(request, request.channel)
            response = None
            for hook in self._before_request:
                result = await _call(hook, request)
                if result is not None:
                    response = coerce_response(result)
                    break
            if response is None:
                # Fast path: an async handler on a literal route.
                route = self.router.literal.get(request.path)
                endpoint = route.endpoints.get(request.method) if route is not None else None
                if endpoint is not None and endpoint.is_async:
                    result = await endpoint.function(request)
                else:
                    found = self._match(request)
                    if isinstance(found, Response):
                        result = found
                    else:
                        endpoint, params = found
                        if not endpoint.is_async:
                            result = await _call(endpoint, request, **params)
                        elif params:
                            result = await endpoint.function(request, **params)
                        else:
                            result = await endpoint.function(request)
                response = result if isinstance(result, Response) else coerce_response(result)
            if response.streamed:
                self._prepare(response, request)
        except ClientDisconnected:
            raise
        except Exception as exc:
            response = await self._error_response(request, exc)
        for hook in self._after_request:
            try:
                result = await _call(hook, request, response)
            except Exception:
                log.exception("Error in after_request hook for %s %s", request.method, request.path)
                return Response("Internal Server Error", 500)
            if result is not None:
                response = coerce_response(result)
        return response

    async def _receive_body(self, request: Request, channel: Channel) -> None:
        """Read the rest of the body before any hook or handler runs, unless
        the client waits for `100 Continue` and no route would take it:
        then it is never asked to send it."""
        if channel.expects_continue and not self.wants_body(request):
            return
        pieces = [request.body] if request.body else []
        while piece := await channel.receive():
            pieces.append(piece)
        request.body = b"".join(pieces)

    def _match(self, request: Request) -> tuple[Endpoint, dict[str, Any]] | Response:
        """The endpoint and its parameters, or the automatic OPTIONS answer;
        raises the 404 or 405 for the error handlers to see."""
        method = request.method
        found = self.router.resolve(method, request.path)
        if found is None:
            if method == "OPTIONS" and request.path == "*":
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

    @staticmethod
    def _prepare(response: Response, request: Request) -> Response:
        """Let a file response open its file and decide its status, so that
        a missing file is a 404 the error handlers see."""
        if isinstance(response, FileResponse):
            response.prepare(request)
        return response

    async def _error_response(self, request: Request, exc: Exception) -> Response:
        handler = self._find_error_handler(exc)
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
