"""The application: routes, hooks, error handlers, and running it."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import ssl
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .config.values import IPAllowList
from .exceptions import HTTPException
from .files import FileResponse, resolve_static
from .listeners import BindError, bind_tcp, bind_unix, format_address, remove_unix
from .parser import Limits
from .requests import Request
from .responses import Response, coerce_response
from .routing import Endpoint, Router
from .server import Server

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


class App:
    """A set of routes and hooks, and a server for them (`run`, `serve`)."""

    def __init__(self, *, max_body_size: int = 1048576, read_timeout: float = 30.0) -> None:
        self.max_body_size = max_body_size
        self.read_timeout = read_timeout
        self.router = Router()
        self.port: int | None = None
        self._before_request: list[Endpoint] = []
        self._after_request: list[Endpoint] = []
        self._error_handlers: dict[int | type[BaseException], Endpoint] = {}
        self._methods: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._force_stop = asyncio.Event()

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

    # -- serving --------------------------------------------------------------

    async def serve(self, host: str = "127.0.0.1", port: int = 8000, *,
                    ssl_context: ssl.SSLContext | None = None, socket: str | None = None,
                    backlog: int = 2048, reuse_address: bool = True, reuse_port: bool = False,
                    keep_alive: float = 5.0, graceful_timeout: float = 30.0,
                    limits: Limits | None = None,
                    forwarded_allow_ips: str | Iterable[str] = "127.0.0.1,::1",
                    proxy_protocol: bool = False) -> None:
        """Serve until `shutdown()`, then drain gracefully.

        `socket` is a unix socket path served instead of host and port.
        `forwarded_allow_ips` (addresses, networks, `*`) are the peers whose
        `Forwarded` / `X-Forwarded-*` headers (and PROXY protocol header,
        with `proxy_protocol`) set `request.client_addr` and `request.scheme`.
        """
        if isinstance(forwarded_allow_ips, str):
            forwarded_allow_ips = forwarded_allow_ips.split(",")
        trusted = IPAllowList.parse(forwarded_allow_ips)
        if socket is not None:
            sock = bind_unix(socket, backlog=backlog)
        else:
            sock = bind_tcp(host, port, backlog=backlog, reuse_address=reuse_address,
                            reuse_port=reuse_port)
        self._loop = asyncio.get_running_loop()
        self._stop = stop = asyncio.Event()
        self._force_stop = asyncio.Event()
        server = Server(self, limits=limits, keep_alive=keep_alive,
                        forwarded_allow_ips=trusted, proxy_protocol=proxy_protocol)
        try:
            await server.start([sock], ssl_context=ssl_context, backlog=backlog)
            address = sock.getsockname()
            if socket is None:
                self.port = address[1]
            scheme = "https" if ssl_context else "http"
            where = format_address(address)
            log.info("Listening at: %s (%d)",
                     where if socket is not None else f"{scheme}://{where}", os.getpid())
            await stop.wait()
            log.info("Shutting down: draining %d connection(s)", len(server.connections))
            await server.shutdown(graceful_timeout, self._force_stop)
        finally:
            sock.close()
            if socket is not None:
                remove_unix(socket)
            self._stop = None

    def shutdown(self) -> None:
        """Ask a running server to stop gracefully; safe from any thread."""
        loop, stop = self._loop, self._stop
        if loop is None or stop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            stop.set()
        else:
            loop.call_soon_threadsafe(stop.set)

    def run(self, host: str = "127.0.0.1", port: int = 8000, **listen_options: Any) -> None:
        """Serve in this process until SIGINT or SIGTERM (a second one
        stops at once instead of draining)."""
        _log_to_stderr()

        async def main() -> None:
            loop = asyncio.get_running_loop()
            signals = (signal.SIGINT, signal.SIGTERM)
            for signum in signals:
                loop.add_signal_handler(signum, self._on_stop_signal)
            try:
                await self.serve(host, port, **listen_options)
            finally:
                # While the loop still runs: closing it shuts its wakeup
                # pipe before it uninstalls these.
                for signum in signals:
                    loop.remove_signal_handler(signum)

        try:
            asyncio.run(main())
        except BindError as exc:
            log.error("%s", exc)
            raise SystemExit(1) from None

    def _on_stop_signal(self) -> None:
        if self._stop is not None and self._stop.is_set():
            self._force_stop.set()
        self.shutdown()


def _log_to_stderr() -> None:
    """Give `run()` visible logs when the program configured none."""
    root = logging.getLogger()
    if root.handlers or logging.getLogger("zerodep_http").handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s", "%Y-%m-%d %H:%M:%S %z"))
    package_logger = logging.getLogger("zerodep_http")
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.INFO)
