"""Cookies: lenient reading of `Cookie`, strict writing of `Set-Cookie`,
checked against the standard library's two cookie readers."""

from __future__ import annotations

import http.cookiejar
import http.cookies
import re
import urllib.request
from datetime import datetime, timedelta, timezone
from email.message import Message

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from zerodep_http.cookies import format_delete_cookie, format_set_cookie, parse_cookie_header

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
COOKIE_OCTETS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '",;\\')
# What a header field value may hold (responses.Headers refuses anything else).
FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
tokens = st.text(TOKEN_CHARS, min_size=1, max_size=20).filter(lambda name: name[0] != "$")
cookie_values = st.text(COOKIE_OCTETS, max_size=40)


def latin1(text: str) -> str:
    """What the parser hands over for a header the client sent in UTF-8."""
    return text.encode("utf-8").decode("latin-1")


# -- reading Cookie ----------------------------------------------------------------


@pytest.mark.parametrize("header, expected", [
    (None, {}),
    ("", {}),
    ("a=1", {"a": "1"}),
    ("a=1; b=2", {"a": "1", "b": "2"}),
    ("a=1;b=2", {"a": "1", "b": "2"}),
    ("  a = 1 ;\tb=2  ", {"a": "1", "b": "2"}),
    ('a="quoted value"; b=2', {"a": "quoted value", "b": "2"}),
    ('a=""', {"a": ""}),
    ('a="', {"a": '"'}),
    ('a="x', {"a": '"x'}),
    ("a=", {"a": ""}),
    ("a=b=c", {"a": "b=c"}),
    ("a=x\ty", {"a": "x\ty"}),
    # Missing `=`, empty names and empty pairs are skipped.
    ("flag; b=2", {"b": "2"}),
    ("=x; b=2", {"b": "2"}),
    (";;; a=1;; ;", {"a": "1"}),
    # The first of a repeated name wins: browsers send the most specific first.
    ("a=1; a=2; A=3", {"a": "1", "A": "3"}),
    # Control characters make a pair unreadable; the others are kept.
    ("a=1\x00; b=2", {"b": "2"}),
    ("a\x7f=1; b=2", {"b": "2"}),
    ("a=1\r\n; b=2", {"b": "2"}),
    # Non-ASCII: the header arrives decoded as latin-1, browsers send UTF-8.
    (latin1("café=crème; b=2"), {"café": "crème", "b": "2"}),
    ("a=\xff\xfe; b=2", {"b": "2"}),
    ("a=€; b=2", {"a": "€", "b": "2"}),
    (latin1("a=☃") + "; b=\xff", {"a": "☃"}),
    # A comma is not a separator (values may hold one); a repeated Cookie
    # field joined with ", " stays readable up to the join.
    ("a=1, b=2", {"a": "1, b=2"}),
    ("a=x y; b=2", {"a": "x y", "b": "2"}),
    ("$Version=1; a=1", {"$Version": "1", "a": "1"}),
])
def test_parse_cookie_header(header, expected):
    assert parse_cookie_header(header) == expected


def test_eight_kilobytes_of_pairs_are_all_read():
    header = "; ".join(f"name{index}=value{index}" for index in range(600))
    assert len(header) > 8192
    cookies = parse_cookie_header(header)
    assert len(cookies) == 600
    assert cookies["name599"] == "value599"


def test_eight_kilobytes_of_garbage_keep_the_valid_pair():
    garbage = '"\x01;=;\\,é' * 1000
    assert parse_cookie_header(garbage + "; session=abc; " + garbage) == {"session": "abc"}


@given(st.text())
def test_parse_never_raises(header):
    cookies = parse_cookie_header(header)
    for name, value in cookies.items():
        assert name and ";" not in name and "=" not in name and ";" not in value
        assert not re.search(r"[\x00-\x08\x0a-\x1f\x7f]", name + value)


@given(st.binary())
def test_parse_never_raises_on_header_bytes(raw):
    parse_cookie_header(raw.decode("latin-1"))


@given(st.lists(st.tuples(tokens, cookie_values), max_size=8))
def test_what_we_write_is_read_back(pairs):
    header = "; ".join(f"{name}={value}" for name, value in pairs)
    expected: dict[str, str] = {}
    for name, value in pairs:
        expected.setdefault(name, value)
    assert parse_cookie_header(header) == expected


# -- writing Set-Cookie ------------------------------------------------------------

NEW_YEAR = datetime(2030, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("arguments, expected", [
    (("sid", "abc"), "sid=abc; Path=/; SameSite=Lax"),
    (("sid",), "sid=; Path=/; SameSite=Lax"),
    (("sid", "abc", {"max_age": 3600}), "sid=abc; Max-Age=3600; Path=/; SameSite=Lax"),
    (("sid", "abc", {"max_age": timedelta(days=1, microseconds=5)}),
     "sid=abc; Max-Age=86400; Path=/; SameSite=Lax"),
    (("sid", "abc", {"max_age": -5}), "sid=abc; Max-Age=0; Path=/; SameSite=Lax"),
    (("sid", "abc", {"expires": NEW_YEAR}),
     "sid=abc; Expires=Tue, 01 Jan 2030 00:00:00 GMT; Path=/; SameSite=Lax"),
    (("sid", "abc", {"expires": datetime(2030, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=1)))}),
     "sid=abc; Expires=Tue, 01 Jan 2030 00:30:00 GMT; Path=/; SameSite=Lax"),
    (("sid", "abc", {"path": "/app", "domain": "example.com"}),
     "sid=abc; Domain=example.com; Path=/app; SameSite=Lax"),
    (("sid", "abc", {"path": None, "samesite": None}), "sid=abc"),
    (("sid", "abc", {"secure": True, "httponly": True, "samesite": "strict"}),
     "sid=abc; Path=/; Secure; HttpOnly; SameSite=Strict"),
    (("sid", "abc", {"secure": True, "samesite": "None"}),
     "sid=abc; Path=/; Secure; SameSite=None"),
    (("sid", "abc", {"max_age": 60, "expires": NEW_YEAR, "path": "/", "domain": ".example.com",
                     "secure": True, "httponly": True, "samesite": "Lax"}),
     "sid=abc; Domain=.example.com; Expires=Tue, 01 Jan 2030 00:00:00 GMT; Max-Age=60;"
     " Path=/; Secure; HttpOnly; SameSite=Lax"),
    (("__Host-sid", "abc", {"secure": True}), "__Host-sid=abc; Path=/; Secure; SameSite=Lax"),
    (("__Secure-sid", "abc", {"secure": True, "path": "/x", "domain": "example.com"}),
     "__Secure-sid=abc; Domain=example.com; Path=/x; Secure; SameSite=Lax"),
    ((TOKEN_CHARS, COOKIE_OCTETS), f"{TOKEN_CHARS}={COOKIE_OCTETS}; Path=/; SameSite=Lax"),
    (("a$", "$"), "a$=$; Path=/; SameSite=Lax"),
])
def test_format_set_cookie(arguments, expected):
    *positional, options = arguments if isinstance(arguments[-1], dict) else (*arguments, {})
    assert format_set_cookie(*positional, **options) == expected


@pytest.mark.parametrize("arguments, expected", [
    (("sid",), "sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax"),
    (("sid", {"path": "/app", "domain": "example.com", "httponly": True}),
     "sid=; Domain=example.com; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0;"
     " Path=/app; HttpOnly; SameSite=Lax"),
    (("__Host-sid",),
     "__Host-sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; Secure; SameSite=Lax"),
])
def test_format_delete_cookie(arguments, expected):
    *positional, options = arguments if isinstance(arguments[-1], dict) else (*arguments, {})
    assert format_delete_cookie(*positional, **options) == expected


@pytest.mark.parametrize("arguments", [
    ("",), ("a b",), ("a;b",), ("a=b",), ("a,b",), ('"a"',), ("a/b",), ("café",),
    ("a\r\nSet-Cookie: x",), (None,), (b"sid",),
])
def test_a_name_that_is_not_a_token_is_refused(arguments):
    with pytest.raises(ValueError, match="not an HTTP token"):
        format_set_cookie(*arguments)


def test_a_name_read_as_an_attribute_is_refused():
    with pytest.raises(ValueError, match="attribute"):
        format_set_cookie("$Version", "1")


@pytest.mark.parametrize("value", [
    "a b", "a;b", "a,b", 'a"b', '"quoted"', "a\\b", "café", "\t", "\x7f",
    "x\r\nSet-Cookie: admin=1", b"bytes", 1,
])
def test_a_value_outside_cookie_octets_is_refused(value):
    with pytest.raises(ValueError, match="cookie value"):
        format_set_cookie("sid", value)


@pytest.mark.parametrize("options, message", [
    ({"domain": ""}, "not a host name"),
    ({"domain": "exa mple.com"}, "not a host name"),
    ({"domain": "example.com;x"}, "not a host name"),
    ({"domain": "example.com/x"}, "not a host name"),
    ({"domain": "example.com\r\nX: y"}, "not a host name"),
    ({"path": ""}, "must start with '/'"),
    ({"path": "app"}, "must start with '/'"),
    ({"path": "/a b"}, "must start with '/'"),
    ({"path": "/a;b"}, "must start with '/'"),
    ({"path": "/a,b"}, "must start with '/'"),
    ({"path": "/a\nb"}, "must start with '/'"),
    ({"expires": datetime(2030, 1, 1)}, "naive"),
    ({"expires": "tomorrow"}, "aware datetime"),
    ({"expires": 1893456000}, "aware datetime"),
    ({"max_age": 1.5}, "whole seconds"),
    ({"max_age": True}, "whole seconds"),
    ({"max_age": "60"}, "whole seconds"),
    ({"samesite": "Sometimes"}, "samesite must be"),
    ({"samesite": True}, "samesite must be"),
    ({"samesite": "None"}, "without Secure"),
])
def test_an_attribute_that_could_break_the_field_is_refused(options, message):
    with pytest.raises(ValueError, match=message):
        format_set_cookie("sid", "abc", **options)


@pytest.mark.parametrize("name, options", [
    ("__Secure-sid", {}),
    ("__secure-sid", {}),
    ("__Host-sid", {}),
    ("__Host-sid", {"secure": True, "domain": "example.com"}),
    ("__Host-sid", {"secure": True, "path": "/app"}),
    ("__HOST-sid", {"secure": True, "path": None}),
])
def test_prefixed_names_need_the_attributes_browsers_require(name, options):
    with pytest.raises(ValueError, match="browsers keep"):
        format_set_cookie(name, "abc", **options)


@given(st.text(max_size=12), st.text(max_size=12))
def test_no_name_or_value_breaks_the_field(name, value):
    try:
        line = format_set_cookie(name, value)
    except ValueError:
        return
    assert FIELD_VALUE.fullmatch(line)
    assert parse_cookie_header(line.split(";")[0]) == {name: value}


# -- what the standard library's readers make of it ------------------------------------


def simple_cookie(line: str) -> http.cookies.Morsel:
    jar = http.cookies.SimpleCookie()
    jar.load(line)
    assert len(jar) == 1
    return next(iter(jar.values()))


@given(tokens, cookie_values)
def test_http_cookies_reads_name_and_value(name, value):
    # http.cookies reads a name spelled like an attribute ("Secure") as that
    # attribute; browsers take the first pair as the cookie whatever its name.
    assume(name.lower() not in http.cookies.Morsel._reserved)
    morsel = simple_cookie(format_set_cookie(name, value))
    assert (morsel.key, morsel.value) == (name, value)


def test_http_cookies_reads_every_attribute():
    line = format_set_cookie("sid", "abc", max_age=60, expires=NEW_YEAR, path="/app",
                             domain="example.com", secure=True, httponly=True, samesite="Strict")
    morsel = simple_cookie(line)
    assert morsel["max-age"] == "60"
    assert morsel["expires"] == "Tue, 01 Jan 2030 00:00:00 GMT"
    assert morsel["path"] == "/app"
    assert morsel["domain"] == "example.com"
    assert morsel["secure"] is True
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"


def jar_after(*set_cookie_lines: str, url: str = "https://www.example.com/app/page"
              ) -> http.cookiejar.CookieJar:
    """A browser-like jar after responses to `url` carrying these lines."""
    jar = http.cookiejar.CookieJar()
    for line in set_cookie_lines:
        headers = Message()
        headers["Set-Cookie"] = line

        class Response:
            def info(self) -> Message:
                return headers

        jar.extract_cookies(Response(), urllib.request.Request(url))  # type: ignore[arg-type]
    return jar


def test_cookiejar_keeps_a_cookie_with_every_attribute():
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=2)
    line = format_set_cookie("sid", "a/b=c", max_age=timedelta(days=1), expires=expires,
                             path="/app", domain="example.com", secure=True, httponly=True,
                             samesite="Strict")
    [cookie] = list(jar_after(line))
    assert (cookie.name, cookie.value, cookie.path, cookie.domain) == ("sid", "a/b=c", "/app",
                                                                      ".example.com")
    assert cookie.secure
    assert cookie.has_nonstandard_attr("HttpOnly")
    # Max-Age wins over Expires, as RFC 6265 says.
    assert cookie.expires is not None and cookie.expires < expires.timestamp() - 3600


def test_cookiejar_drops_a_deleted_cookie():
    jar = jar_after(format_set_cookie("sid", "abc", path="/app"),
                    format_set_cookie("other", "1"))
    assert {cookie.name for cookie in jar} == {"sid", "other"}
    jar = jar_after(format_set_cookie("sid", "abc", path="/app"), format_set_cookie("other", "1"),
                    format_delete_cookie("sid", path="/app"))
    assert [cookie.name for cookie in jar] == ["other"]


def test_cookiejar_sends_back_what_was_set():
    jar = jar_after(format_set_cookie("sid", "abc"), format_set_cookie("theme", "dark"))
    request = urllib.request.Request("https://www.example.com/other")
    jar.add_cookie_header(request)
    assert parse_cookie_header(request.get_header("Cookie")) == {"sid": "abc", "theme": "dark"}
