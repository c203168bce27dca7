"""Cross-origin resource sharing: which origins may read our responses.

A policy answers two questions, without I/O, from a request's method and
its header fields (lower-case names, as `request.headers` holds them):
the answer to a preflight (`OPTIONS` with `Origin` and
`Access-Control-Request-Method`), and the fields to add to an actual
response. The browser enforces the result by the Fetch standard's CORS
check; these answers are written so that it passes exactly when the policy
allows the request.

`origins="*"` together with `credentials=True` is refused when the policy
is made: it would let every site on the web read responses made with the
user's cookies, which is the one thing the same-origin policy exists to
stop. Reflecting any origin would do the same under another name, so it
is not offered; list the origins instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from .vary import add_vary

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A serialized origin: scheme "://" host [":" port], nothing after it.
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://(?:\[[0-9a-f:.]+\]|[^\x00-\x20/?#@\[\]:]+)(?::[0-9]{1,5})?")
# Methods a browser sends cross-origin without asking (Fetch: CORS-safelisted
# methods), so a preflight naming one is never refused for its method.
_SAFELISTED_METHODS = frozenset({"GET", "HEAD", "POST"})
# Request fields a browser lists in a preflight when their value is not a
# simple one, above all `Content-Type: application/json`: always allowed.
_SAFELISTED_HEADERS = ("accept", "accept-language", "content-language", "content-type")
# What the answer to a preflight depends on, for caches between us and the browser.
_PREFLIGHT_VARY = ("Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers")


@dataclass(frozen=True, slots=True)
class PreflightAnswer:
    """The response to a preflight: 204 with the `Access-Control-Allow-*`
    fields, or 403 with none of them and a one-line `refusal` to send as
    the body (the browser then fails the request it was asked about)."""

    status_code: int
    headers: dict[str, str]
    refusal: str | None = None

    @property
    def allowed(self) -> bool:
        return self.refusal is None


class CORSPolicy:
    """Which origins, methods and request fields cross-origin requests may use.

    `origins` lists serialized origins (`https://example.com:8443`, compared
    exactly, in lower case) or is `"*"` for any; the `null` origin of
    sandboxed frames and `file:` pages is allowed only when listed, never by
    `"*"`. `methods` and `headers` are lists or `"*"` for any (then the
    preflight's request is echoed back, which also covers `Authorization`
    and credentials, where a literal `*` would not). GET, HEAD and POST and
    the four CORS-safelisted request fields are always allowed, as browsers
    send them anyway. `max_age` is how long (seconds) a browser may cache a
    preflight answer, None to leave it to the browser; `expose_headers`
    names response fields beyond the safelisted ones that scripts may read.
    """

    __slots__ = ("any_origin", "origins", "any_method", "methods", "any_header",
                 "allowed_headers", "credentials", "max_age", "expose_headers")

    def __init__(self, origins: str | Iterable[str],
                 methods: str | Iterable[str] = ("GET", "HEAD", "POST"),
                 headers: str | Iterable[str] = (), credentials: bool = False,
                 max_age: int | None = 600, expose_headers: str | Iterable[str] = ()) -> None:
        origin_list = _as_list(origins)
        self.any_origin = "*" in origin_list
        if self.any_origin and credentials:
            raise ValueError("origins='*' with credentials=True would let any site read"
                             " responses made with the user's cookies: list the origins")
        self.origins = frozenset(_checked_origin(origin) for origin in origin_list if origin != "*")
        method_list = _as_list(methods)
        self.any_method = "*" in method_list
        self.methods = tuple(dict.fromkeys(
            _checked_token(method, "method").upper() for method in method_list if method != "*"))
        header_list = _as_list(headers)
        self.any_header = "*" in header_list
        self.allowed_headers = tuple(dict.fromkeys([*_SAFELISTED_HEADERS, *(
            _checked_token(header, "header name").lower()
            for header in header_list if header != "*")]))
        self.credentials = bool(credentials)
        if max_age is not None and (type(max_age) is not int or max_age < 0):
            raise ValueError(f"max_age must be whole seconds (0 or more) or None, not {max_age!r}")
        self.max_age = max_age
        expose_list = _as_list(expose_headers)
        if "*" in expose_list and credentials:
            raise ValueError("expose_headers='*' means nothing to browsers with credentials:"
                             " name the fields")
        self.expose_headers = tuple(
            header if header == "*" else _checked_token(header, "header name")
            for header in expose_list)

    def allows_origin(self, origin: str) -> bool:
        if origin in self.origins:
            return True
        return self.any_origin and origin != "null"

    def preflight(self, method: str, headers: Mapping[str, str]) -> PreflightAnswer | None:
        """The answer to a preflight request, or None if this is not one."""
        origin = headers.get("origin")
        requested_method = headers.get("access-control-request-method")
        if method != "OPTIONS" or origin is None or requested_method is None:
            return None
        if not self.allows_origin(origin):
            return _refuse(f"origin {origin!r} is not allowed")
        requested_method = requested_method.strip(" \t")
        if _TOKEN.fullmatch(requested_method) is None:
            return _refuse("malformed Access-Control-Request-Method")
        if not (self.any_method or requested_method in self.methods
                or requested_method in _SAFELISTED_METHODS):
            return _refuse(f"method {requested_method} is not allowed")
        requested_headers = [name.strip(" \t").lower() for name in
                             headers.get("access-control-request-headers", "").split(",")]
        requested_headers = [name for name in requested_headers if name]
        if any(_TOKEN.fullmatch(name) is None for name in requested_headers):
            return _refuse("malformed Access-Control-Request-Headers")
        if not self.any_header:
            refused = [name for name in requested_headers if name not in self.allowed_headers]
            if refused:
                return _refuse(f"request header {', '.join(refused)} is not allowed")
        answer = self._allow_origin(origin)
        answer["access-control-allow-methods"] = (
            requested_method if self.any_method else ", ".join(self.methods))
        allowed_headers = requested_headers if self.any_header else self.allowed_headers
        if allowed_headers:
            answer["access-control-allow-headers"] = ", ".join(allowed_headers)
        if self.max_age is not None:
            answer["access-control-max-age"] = str(self.max_age)
        answer["vary"] = ", ".join(_PREFLIGHT_VARY)
        return PreflightAnswer(204, answer)

    def response_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The fields for the response to an actual (not preflight) request.

        Always `Vary: Origin`: the response differs by origin, even when this
        request came without one, and a cache must not mix them up.
        """
        origin = headers.get("origin")
        fields = {}
        if origin is not None and self.allows_origin(origin):
            fields = self._allow_origin(origin)
            if self.expose_headers:
                fields["access-control-expose-headers"] = ", ".join(self.expose_headers)
        fields["vary"] = "Origin"
        return fields

    def add_response_headers(self, request_headers: Mapping[str, str],
                             response_headers: MutableMapping[str, Any]) -> None:
        """Add `response_headers(request_headers)` to a response's fields,
        merging `Vary` with what the response already varies on."""
        for name, value in self.response_headers(request_headers).items():
            if name == "vary":
                add_vary(response_headers, value)
            else:
                response_headers[name] = value

    def _allow_origin(self, origin: str) -> dict[str, str]:
        fields = {"access-control-allow-origin": "*" if self.any_origin and
                  origin not in self.origins else origin}
        if self.credentials:
            fields["access-control-allow-credentials"] = "true"
        return fields


def _refuse(reason: str) -> PreflightAnswer:
    return PreflightAnswer(403, {"vary": ", ".join(_PREFLIGHT_VARY)}, f"CORS preflight refused: {reason}")


def _as_list(values: str | Iterable[str]) -> list[str]:
    """A lone string is one item, not its characters."""
    return [values] if isinstance(values, str) else list(values)


def _checked_origin(origin: str) -> str:
    if origin == "null":
        return origin
    lowered = origin.lower() if isinstance(origin, str) else origin
    if not isinstance(lowered, str) or _ORIGIN.fullmatch(lowered) is None:
        raise ValueError(f"{origin!r} is not an origin: write scheme://host[:port],"
                         f" with no path or trailing slash")
    return lowered


def _checked_token(value: str, what: str) -> str:
    if not isinstance(value, str) or _TOKEN.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not a valid {what}")
    return value
