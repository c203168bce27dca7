"""URL patterns to handlers: a dict for literal paths, regexes for the rest;
and back, route names to paths (`Router.build`)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

# name -> (regex, conversion); a conversion that raises ValueError means
# "this route does not match" (say, an int too long for int()).
CONVERTERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "str": (r"[^/]+", str),
    "string": (r"[^/]+", str),
    "int": (r"[0-9]+", int),
    "float": (r"[0-9]+(?:\.[0-9]+)?", float),
    "path": (r".+", str),
}
_PLACEHOLDER = re.compile(r"<(?:([A-Za-z_][A-Za-z0-9_]*):)?([A-Za-z_][A-Za-z0-9_]*)>")
# Characters a path segment keeps unencoded when a URL is built (RFC 3986
# pchar less what would change how the path is read back).
_SEGMENT_SAFE = "-._~!$&'()*+,;=:@"


@dataclass(slots=True)
class Endpoint:
    """A handler and whether it must run in a thread; for a route, how it
    takes the request body (see `App.route`)."""

    function: Callable[..., Any]
    is_async: bool
    stream: bool = False              # the handler reads `request.stream()`
    max_body_size: int | None = None  # None: the app's or server's limit

    @classmethod
    def wrap(cls, function: Callable[..., Any], stream: bool = False,
             max_body_size: int | None = None) -> Endpoint:
        return cls(function, inspect.iscoroutinefunction(function), stream, max_body_size)


@dataclass(slots=True)
class Route:
    pattern: str
    regex: re.Pattern[str] | None
    conversions: dict[str, Callable[[str], Any]]
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    allow: str = ""
    name: str | None = None

    def add(self, methods: list[str], endpoint: Endpoint) -> None:
        for method in methods:
            if method in self.endpoints:
                raise ValueError(f"{method} {self.pattern} is already routed")
            self.endpoints[method] = endpoint
        allowed = set(self.endpoints) | {"OPTIONS"}
        if "GET" in allowed:
            allowed.add("HEAD")
        self.allow = ", ".join(sorted(allowed))

    def endpoint_for(self, method: str) -> Endpoint | None:
        endpoint = self.endpoints.get(method)
        if endpoint is None and method == "HEAD":
            endpoint = self.endpoints.get("GET")
        return endpoint

    def build(self, params: dict[str, Any]) -> str:
        """The path of this route for `params` (consumed), percent-encoded;
        ValueError for a missing parameter or a value its converter would
        not match."""
        parts, position = [], 0
        for match in _PLACEHOLDER.finditer(self.pattern):
            converter, name = match.group(1) or "str", match.group(2)
            if name not in params:
                raise ValueError(f"route {self.name!r} ({self.pattern}) needs a value for {name!r}")
            value = params.pop(name)
            text = _to_url_text(converter, value)
            regex = CONVERTERS[converter][0]
            if re.fullmatch(regex, text) is None:
                raise ValueError(f"{value!r} is not a valid <{converter}:{name}> "
                                 f"for route {self.name!r} ({self.pattern})")
            parts.append(quote(self.pattern[position:match.start()], safe="/" + _SEGMENT_SAFE))
            parts.append(quote(text, safe=("/" if converter == "path" else "") + _SEGMENT_SAFE))
            position = match.end()
        parts.append(quote(self.pattern[position:], safe="/" + _SEGMENT_SAFE))
        return "".join(parts)

    def convert(self, match: re.Match[str]) -> dict[str, Any] | None:
        try:
            return {name: self.conversions[name](value)
                    for name, value in match.groupdict().items()}
        except ValueError:
            return None


def _to_url_text(converter: str, value: Any) -> str:
    """A parameter as its converter reads it back: ints and floats as
    numbers (not bools), strings as they are."""
    if converter in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float) if converter == "float"
                                                     else int):
            raise ValueError(f"<{converter}:...> needs a number, not {value!r}")
        return repr(value) if isinstance(value, float) else str(value)
    return str(value)


def compile_pattern(pattern: str) -> tuple[re.Pattern[str] | None, dict[str, Callable[[str], Any]]]:
    """Compile `/users/<int:id>`; a pattern without placeholders gives None."""
    if not pattern.startswith("/"):
        raise ValueError(f"route pattern {pattern!r} must start with '/'")
    parts, conversions, position = [], {}, 0
    for match in _PLACEHOLDER.finditer(pattern):
        converter, name = match.group(1) or "str", match.group(2)
        if converter not in CONVERTERS:
            raise ValueError(f"unknown converter {converter!r} in route {pattern!r}")
        if name in conversions:
            raise ValueError(f"parameter {name!r} appears twice in route {pattern!r}")
        regex, conversions[name] = CONVERTERS[converter]
        parts.append(re.escape(pattern[position:match.start()]))
        parts.append(f"(?P<{name}>{regex})")
        position = match.end()
    if not conversions:
        if "<" in pattern or ">" in pattern:
            raise ValueError(f"malformed placeholder in route {pattern!r}")
        return None, {}
    parts.append(re.escape(pattern[position:]))
    return re.compile("".join(parts)), conversions


_NO_PARAMS: dict[str, Any] = {}  # read only: literal routes have no parameters


class Router:
    """Finds the route for a path.

    Literal paths are one dict lookup; only paths that match no literal
    route are tried against the patterns, in the order they were added.
    """

    def __init__(self) -> None:
        self.literal: dict[str, Route] = {}
        self.patterns: list[Route] = []
        self.names: dict[str, Route] = {}
        self._by_pattern: dict[str, Route] = {}
        #: Whether any route has a body size limit of its own.
        self.limits_bodies = False

    def add(self, pattern: str, methods: list[str], function: Callable[..., Any],
            name: str | None = None, stream: bool = False,
            max_body_size: int | None = None) -> Route:
        """Route `methods` on `pattern` to `function` under `name` (default:
        the function's name). A pattern may have several names (one per
        handler, say), but a name only one pattern."""
        name = name or getattr(function, "__name__", None) or pattern
        named = self.names.get(name)
        if named is not None and named.pattern != pattern:
            raise ValueError(f"route name {name!r} is already used by {named.pattern}; "
                             f"pass another name=")
        route = self._by_pattern.get(pattern)
        if route is None:
            regex, conversions = compile_pattern(pattern)
            route = self._by_pattern[pattern] = Route(pattern, regex, conversions, name=name)
            if regex is None:
                self.literal[pattern] = route
            else:
                self.patterns.append(route)
        route.add([method.upper() for method in methods],
                  Endpoint.wrap(function, stream, max_body_size))
        if max_body_size is not None:
            self.limits_bodies = True
        self.names[name] = route
        return route

    def routes(self) -> list[Route]:
        return [*self.literal.values(), *self.patterns]

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, Any]] | None:
        """The first route for `path` that takes `method`, else the first for
        `path` at all (the caller answers 405), else None (404)."""
        route = self.literal.get(path)
        if route is not None:
            return route, _NO_PARAMS
        fallback = None
        for route in self.patterns:
            match = route.regex.fullmatch(path)  # type: ignore[union-attr]
            if match is None:
                continue
            params = route.convert(match)
            if params is None:
                continue
            if route.endpoint_for(method) is not None:
                return route, params
            if fallback is None:
                fallback = route, params
        return fallback
