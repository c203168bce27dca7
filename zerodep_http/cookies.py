"""Cookies: reading a `Cookie` request header, writing `Set-Cookie` values.

No I/O. Reading is lenient, as browsers are in what they send (RFC 6265bis
section 5.6): a pair that cannot be read is skipped and the rest kept.
Writing is strict (RFC 6265 section 4.1): anything a browser could read
differently from what was meant is a ValueError when the cookie is set, not
a broken header later.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

# RFC 9110 token: what a cookie name must be when we write it.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 6265 cookie-octet: no CTLs, whitespace, DQUOTE, comma, semicolon or
# backslash, and nothing beyond ASCII.
_COOKIE_OCTETS = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
# Path is free text up to the next `;` in the RFC; here also without the
# whitespace, commas, quotes and backslashes that proxies and old parsers split on.
_PATH = re.compile(r"/[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
_DOMAIN = re.compile(r"\.?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?")
# Browsers drop a pair whose name or value holds a control character other
# than HTAB (RFC 6265bis 5.6).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_cookie_header(header: str | None) -> dict[str, str]:
    """The name/value pairs of a `Cookie` request header.

    Pairs are separated by `;`; a pair without `=`, with an empty name, with
    a control character, or whose bytes are not UTF-8 is skipped. Spaces and
    tabs around names and values are dropped, and so is one pair of double
    quotes around a value. When a name repeats the first pair wins: browsers
    send the cookie with the longest (most specific) path first. Never
    raises, whatever the text.
    """
    cookies: dict[str, str] = {}
    if not header:
        return cookies
    decode = not header.isascii()
    for pair in header.split(";"):
        name, separator, value = pair.partition("=")
        if not separator:
            continue
        name = name.strip(" \t")
        if not name or name in cookies:
            continue
        value = value.strip(" \t")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if _CONTROL.search(name) or _CONTROL.search(value):
            continue
        if decode:
            name, value = _from_utf8(name), _from_utf8(value)
            if name is None or value is None or name in cookies:
                continue
        cookies[name] = value
    return cookies


def _from_utf8(text: str) -> str | None:
    """Header text is decoded as latin-1; browsers send cookies in UTF-8."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeEncodeError:
        return text  # already decoded text, not raw header bytes
    except UnicodeDecodeError:
        return None


def format_set_cookie(key: str, value: str = "", *, max_age: int | timedelta | None = None,
                      expires: datetime | None = None, path: str | None = "/",
                      domain: str | None = None, secure: bool = False, httponly: bool = False,
                      samesite: str | None = "Lax") -> str:
    """The value of one `Set-Cookie` field.

    `max_age` is whole seconds or a timedelta (a negative age is sent as 0:
    expire now); `expires` an aware datetime; `samesite` one of "Strict",
    "Lax", "None" (any case) or None to leave the attribute out. Raises
    ValueError for a name that is not a token (or starts with `$`), a value outside RFC 6265's
    cookie-octets, an attribute that could break the field, SameSite=None
    without Secure, and the `__Secure-` / `__Host-` prefixes without the
    attributes browsers require of them.
    """
    if not isinstance(key, str) or _TOKEN.fullmatch(key) is None:
        raise ValueError(f"cookie name {key!r} is not an HTTP token")
    if key.startswith("$"):
        raise ValueError(f"cookie name {key!r} starts with '$', which RFC 2965 readers"
                         f" (http.cookies among them) take for an attribute")
    if not isinstance(value, str) or _COOKIE_OCTETS.fullmatch(value) is None:
        raise ValueError(f"cookie value for {key!r} may hold only printable ASCII without"
                         f" whitespace, quotes, commas, semicolons or backslashes")
    parts = [f"{key}={value}"]
    if domain is not None:
        if not isinstance(domain, str) or _DOMAIN.fullmatch(domain) is None:
            raise ValueError(f"cookie domain {domain!r} is not a host name")
        parts.append(f"Domain={domain}")
    if expires is not None:
        parts.append(f"Expires={_cookie_date(expires)}")
    if max_age is not None:
        parts.append(f"Max-Age={_seconds(max_age)}")
    if path is not None:
        if not isinstance(path, str) or _PATH.fullmatch(path) is None:
            raise ValueError(f"cookie path {path!r} must start with '/' and hold only"
                             f" printable ASCII without whitespace, quotes, commas,"
                             f" semicolons or backslashes")
        parts.append(f"Path={path}")
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if samesite is not None:
        canonical = _SAMESITE.get(samesite.lower()) if isinstance(samesite, str) else None
        if canonical is None:
            raise ValueError(f"samesite must be 'Strict', 'Lax', 'None' or None, not {samesite!r}")
        if canonical == "None" and not secure:
            raise ValueError("browsers refuse SameSite=None without Secure: pass secure=True")
        parts.append(f"SameSite={canonical}")
    _check_prefix(key, secure=secure, path=path, domain=domain)
    return "; ".join(parts)


def format_delete_cookie(key: str, *, path: str | None = "/", domain: str | None = None,
                         secure: bool = False, httponly: bool = False,
                         samesite: str | None = "Lax") -> str:
    """A `Set-Cookie` value that makes the browser drop the cookie.

    Path and domain must be those the cookie was set with, or the browser
    keeps it. An empty value, `Max-Age=0` and an `Expires` in 1970, so that
    clients reading either attribute drop it. A `__Secure-` or `__Host-`
    name is deleted with Secure, which browsers require of it.
    """
    secure = secure or _secure_prefix(key) is not None
    return format_set_cookie(key, "", max_age=0, expires=_EPOCH, path=path, domain=domain,
                             secure=secure, httponly=httponly, samesite=samesite)


def _cookie_date(moment: datetime) -> str:
    """`Thu, 01 Jan 1970 00:00:00 GMT`, the form RFC 6265 asks servers to send."""
    if not isinstance(moment, datetime):
        raise ValueError(f"expires must be an aware datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("expires must be an aware datetime: a naive one has no time zone")
    return format_datetime(moment.astimezone(timezone.utc), usegmt=True)


def _seconds(max_age: int | timedelta) -> int:
    if isinstance(max_age, timedelta):
        seconds = max_age // timedelta(seconds=1)
    elif isinstance(max_age, int) and not isinstance(max_age, bool):
        seconds = max_age
    else:
        raise ValueError(f"max_age must be whole seconds or a timedelta, not {max_age!r}")
    return max(seconds, 0)


def _secure_prefix(key: str) -> str | None:
    """RFC 6265bis 4.1.3: the name prefixes browsers hold to stricter rules."""
    lowered = key.lower()
    for prefix in ("__secure-", "__host-"):
        if lowered.startswith(prefix):
            return prefix
    return None


def _check_prefix(key: str, *, secure: bool, path: str | None, domain: str | None) -> None:
    """Browsers silently drop a prefixed cookie that breaks its rules."""
    prefix = _secure_prefix(key)
    if prefix is None:
        return
    if not secure:
        raise ValueError(f"browsers keep a {key[:len(prefix)]} cookie only with Secure:"
                         f" pass secure=True")
    if prefix == "__host-" and (path != "/" or domain is not None):
        raise ValueError(f"browsers keep a {key[:len(prefix)]} cookie only with path='/'"
                         f" and no domain")
