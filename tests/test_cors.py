"""CORS: the policy's answers, and what a browser following the Fetch
standard makes of them."""

from __future__ import annotations

import itertools

import pytest

from zerodep_http.cors import CORSPolicy, PreflightAnswer

APP = "https://app.example"
PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


# -- a browser, as the Fetch standard describes it ----------------------------------

SAFELISTED_METHODS = {"GET", "HEAD", "POST"}


def header_list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def cors_check(origin: str, credentials: bool, headers: dict[str, str]) -> bool:
    """Fetch, "CORS check"."""
    allow_origin = headers.get("access-control-allow-origin")
    if allow_origin is None:
        return False
    if not credentials and allow_origin == "*":
        return True
    if allow_origin != origin:
        return False
    if not credentials:
        return True
    return headers.get("access-control-allow-credentials") == "true"


def preflight_passes(origin: str, method: str, unsafe_headers: tuple[str, ...], credentials: bool,
                     status: int, headers: dict[str, str]) -> bool:
    """Fetch, "CORS-preflight fetch", the steps after the response arrives."""
    if not (cors_check(origin, credentials, headers) and 200 <= status <= 299):
        return False
    methods = header_list(headers.get("access-control-allow-methods"))
    names = [name.lower() for name in header_list(headers.get("access-control-allow-headers"))]
    if (method not in methods and method not in SAFELISTED_METHODS
            and (credentials or "*" not in methods)):
        return False
    # Authorization is a CORS non-wildcard request-header name.
    if "authorization" in unsafe_headers and "authorization" not in names:
        return False
    return all(name in names or (not credentials and "*" in names) for name in unsafe_headers)


# -- the policies and requests tried -----------------------------------------------------

POLICIES = {
    "one origin": CORSPolicy([APP]),
    "credentials": CORSPolicy([APP, "null"], methods=["GET", "PUT", "DELETE"],
                              headers=["X-Token", "Authorization"], credentials=True,
                              expose_headers=["X-Total"]),
    "anything": CORSPolicy("*", methods="*", headers="*"),
    "anything with credentials": CORSPolicy([APP], methods="*", headers="*", credentials=True),
    "any origin": CORSPolicy("*"),
}
ORIGINS = [APP, "https://evil.example", "null", "https://app.example:8443", "http://app.example",
           f"{APP}, https://evil.example"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "patch"]
UNSAFE_HEADERS = [(), ("content-type",), ("x-token",), ("authorization",), ("x-other",),
                  ("content-type", "x-token")]


def policy_allows(policy: CORSPolicy, origin: str, method: str, unsafe: tuple[str, ...]) -> bool:
    """What the policy's documentation promises."""
    origin_ok = origin in policy.origins or (policy.any_origin and origin != "null")
    method_ok = policy.any_method or method in policy.methods or method in SAFELISTED_METHODS
    headers_ok = policy.any_header or all(name in policy.allowed_headers for name in unsafe)
    return origin_ok and method_ok and headers_ok


def preflight_headers(origin: str, method: str, unsafe: tuple[str, ...]) -> dict[str, str]:
    headers = {"origin": origin, "access-control-request-method": method}
    if unsafe:
        headers["access-control-request-headers"] = ",".join(sorted(unsafe))
    return headers


@pytest.mark.parametrize("policy_name", POLICIES)
def test_preflights_pass_in_the_browser_exactly_when_the_policy_allows(policy_name):
    policy = POLICIES[policy_name]
    for origin, method, unsafe, credentials in itertools.product(
            ORIGINS, METHODS, UNSAFE_HEADERS, (False, True)):
        case = (origin, method, unsafe, credentials)
        answer = policy.preflight("OPTIONS", preflight_headers(origin, method, unsafe))
        assert answer is not None
        assert answer.allowed is policy_allows(policy, origin, method, unsafe), case
        assert answer.status_code == (204 if answer.allowed else 403), case
        expected = answer.allowed and (policy.credentials or not credentials)
        assert preflight_passes(origin, method, unsafe, credentials, answer.status_code,
                                answer.headers) is expected, case
        assert answer.headers["vary"] == PREFLIGHT_VARY


@pytest.mark.parametrize("policy_name", POLICIES)
def test_actual_responses_are_shared_exactly_when_the_policy_allows(policy_name):
    policy = POLICIES[policy_name]
    for origin, credentials in itertools.product(ORIGINS, (False, True)):
        headers = policy.response_headers({"origin": origin})
        allowed = policy_allows(policy, origin, "GET", ())
        assert cors_check(origin, credentials, headers) is (
            allowed and (policy.credentials or not credentials)), (origin, credentials)
        assert headers["vary"] == "Origin"


def test_credentials_are_never_answered_with_a_wildcard():
    for policy in POLICIES.values():
        if not policy.credentials:
            continue
        for origin, method, unsafe in itertools.product(ORIGINS, METHODS, UNSAFE_HEADERS):
            answer = policy.preflight("OPTIONS", preflight_headers(origin, method, unsafe))
            for name in ("access-control-allow-origin", "access-control-allow-methods",
                         "access-control-allow-headers"):
                assert "*" not in answer.headers.get(name, "")
            assert "*" not in policy.response_headers({"origin": origin}).get(
                "access-control-allow-origin", "")


# -- exact answers -----------------------------------------------------------------------


def test_an_allowed_preflight_gets_every_field():
    answer = POLICIES["credentials"].preflight("OPTIONS", {
        "origin": APP, "access-control-request-method": "PUT",
        "access-control-request-headers": "content-type,x-token"})
    assert answer == PreflightAnswer(204, {
        "access-control-allow-origin": APP,
        "access-control-allow-credentials": "true",
        "access-control-allow-methods": "GET, PUT, DELETE",
        "access-control-allow-headers":
            "accept, accept-language, content-language, content-type, x-token, authorization",
        "access-control-max-age": "600",
        "vary": PREFLIGHT_VARY,
    })


def test_wildcards_answer_what_was_asked():
    answer = POLICIES["anything with credentials"].preflight("OPTIONS", {
        "origin": APP, "access-control-request-method": "PATCH",
        "access-control-request-headers": "Authorization, X-Anything"})
    assert answer.headers["access-control-allow-methods"] == "PATCH"
    assert answer.headers["access-control-allow-headers"] == "authorization, x-anything"
    answer = POLICIES["anything"].preflight("OPTIONS", {
        "origin": APP, "access-control-request-method": "PATCH"})
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-headers" not in answer.headers


@pytest.mark.parametrize("headers, reason", [
    ({"origin": "https://evil.example", "access-control-request-method": "GET"},
     "origin 'https://evil.example' is not allowed"),
    ({"origin": APP, "access-control-request-method": "PUT"}, "method PUT is not allowed"),
    ({"origin": APP, "access-control-request-method": "G ET"},
     "malformed Access-Control-Request-Method"),
    ({"origin": APP, "access-control-request-method": "GET",
      "access-control-request-headers": "x-token, x-other"},
     "request header x-token, x-other is not allowed"),
    ({"origin": APP, "access-control-request-method": "GET",
      "access-control-request-headers": "x token"}, "malformed Access-Control-Request-Headers"),
])
def test_a_refused_preflight_says_why_and_allows_nothing(headers, reason):
    answer = POLICIES["one origin"].preflight("OPTIONS", headers)
    assert answer == PreflightAnswer(403, {"vary": PREFLIGHT_VARY},
                                     f"CORS preflight refused: {reason}")
    assert not answer.allowed


@pytest.mark.parametrize("method, headers", [
    ("GET", {"origin": APP, "access-control-request-method": "PUT"}),
    ("OPTIONS", {"origin": APP}),
    ("OPTIONS", {"access-control-request-method": "PUT"}),
    ("OPTIONS", {}),
])
def test_what_is_not_a_preflight(method, headers):
    assert POLICIES["one origin"].preflight(method, headers) is None


def test_max_age_may_be_left_to_the_browser():
    answer = CORSPolicy([APP], max_age=None).preflight(
        "OPTIONS", {"origin": APP, "access-control-request-method": "GET"})
    assert "access-control-max-age" not in answer.headers
    answer = CORSPolicy([APP], max_age=0).preflight(
        "OPTIONS", {"origin": APP, "access-control-request-method": "GET"})
    assert answer.headers["access-control-max-age"] == "0"


@pytest.mark.parametrize("request_headers, expected", [
    ({}, {"vary": "Origin"}),
    ({"origin": "https://evil.example"}, {"vary": "Origin"}),
    ({"origin": "null"}, {"access-control-allow-origin": "null",
                          "access-control-allow-credentials": "true",
                          "access-control-expose-headers": "X-Total", "vary": "Origin"}),
    ({"origin": APP}, {"access-control-allow-origin": APP,
                       "access-control-allow-credentials": "true",
                       "access-control-expose-headers": "X-Total", "vary": "Origin"}),
])
def test_actual_response_headers(request_headers, expected):
    assert POLICIES["credentials"].response_headers(request_headers) == expected


def test_the_null_origin_is_not_covered_by_the_wildcard():
    assert POLICIES["any origin"].response_headers({"origin": "null"}) == {"vary": "Origin"}
    assert POLICIES["any origin"].response_headers({"origin": APP}) == {
        "access-control-allow-origin": "*", "vary": "Origin"}


@pytest.mark.parametrize("existing, expected", [
    (None, "Origin"),
    ("Accept-Encoding", "Accept-Encoding, Origin"),
    ("origin, Cookie", "origin, Cookie"),
    ("*", "*"),
    (["Accept-Encoding", "Cookie"], "Accept-Encoding, Cookie, Origin"),
])
def test_vary_is_merged_into_the_response(existing, expected):
    response_headers = {"content-type": "text/plain"}
    if existing is not None:
        response_headers["vary"] = existing
    POLICIES["one origin"].add_response_headers({"origin": APP}, response_headers)
    assert response_headers == {"content-type": "text/plain", "vary": expected,
                                "access-control-allow-origin": APP}


def test_configured_origins_are_compared_in_lower_case():
    policy = CORSPolicy(["HTTPS://App.Example:8443"])
    assert policy.allows_origin("https://app.example:8443")
    assert not policy.allows_origin("https://app.example")


@pytest.mark.parametrize("options, message", [
    ({"origins": "*", "credentials": True}, "list the origins"),
    ({"origins": ["https://a.example", "*"], "credentials": True}, "list the origins"),
    ({"origins": ["https://app.example/"]}, "not an origin"),
    ({"origins": ["https://app.example/path"]}, "not an origin"),
    ({"origins": ["app.example"]}, "not an origin"),
    ({"origins": ["https://user@app.example"]}, "not an origin"),
    ({"origins": [""]}, "not an origin"),
    ({"origins": [None]}, "not an origin"),
    ({"origins": [APP], "methods": ["GE T"]}, "not a valid method"),
    ({"origins": [APP], "headers": ["X Token"]}, "not a valid header name"),
    ({"origins": [APP], "expose_headers": ["X:Total"]}, "not a valid header name"),
    ({"origins": [APP], "expose_headers": "*", "credentials": True}, "name the fields"),
    ({"origins": [APP], "max_age": -1}, "max_age"),
    ({"origins": [APP], "max_age": "600"}, "max_age"),
    ({"origins": [APP], "max_age": True}, "max_age"),
])
def test_a_bad_policy_is_refused_when_made(options, message):
    with pytest.raises(ValueError, match=message):
        CORSPolicy(**options)


def test_a_lone_string_is_one_item():
    policy = CORSPolicy(APP, methods="PUT", headers="X-Token", expose_headers="X-Total")
    assert policy.origins == {APP}
    assert policy.methods == ("PUT",)
    assert policy.allowed_headers[-1] == "x-token"
    assert policy.expose_headers == ("X-Total",)
