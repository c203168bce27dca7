"""Sessions kept in a signed cookie: the signing, the dict, the cookie.

The cookie value is `payload.timestamp.signature`, each part base64url
without padding: the payload is the session as compact JSON, the timestamp
the signing time in whole seconds (big-endian), the signature an
HMAC-SHA256 of `payload.timestamp` under a key derived from the secret and
a salt. The data is readable by the client, only not forgeable: keep
secrets out of a session. No I/O; the clock is injectable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import (Callable, ItemsView, Iterable, Iterator, KeysView, Mapping,
                             ValuesView)
from datetime import timedelta
from typing import Any

from .cookies import format_delete_cookie, format_set_cookie

#: The longest `Set-Cookie` value (cookie and attributes) to send: browsers
#: keep at least 4096 bytes per cookie (RFC 6265 6.1), and Werkzeug's limit
#: of 4093 leaves room for the ones that count a few bytes more.
MAX_COOKIE_SIZE = 4093
#: How far a signature's timestamp may lie in the future: servers sharing a
#: key have clocks that drift a little, but a signature minted years ahead
#: would otherwise never expire.
MAX_CLOCK_SKEW = 60.0

_DEFAULT_SALT = "zerodep_http.session"


class SessionSerializer:
    """Signs a JSON object with a timestamp, and checks and reads it back.

    `secret_keys` is one secret or a list of them: the first signs, every
    one verifies, so a new secret goes first and an old one stays listed
    until the cookies it signed have expired. Different `salt`s give
    unrelated signatures under one secret, so a value signed for one
    purpose is never accepted for another.
    """

    __slots__ = ("_keys", "_clock", "_max_clock_skew")

    def __init__(self, secret_keys: str | bytes | Iterable[str | bytes], *,
                 salt: str = _DEFAULT_SALT, clock: Callable[[], float] = time.time,
                 max_clock_skew: float = MAX_CLOCK_SKEW) -> None:
        secrets = ([secret_keys] if isinstance(secret_keys, (str, bytes))
                   else list(secret_keys))
        if not secrets:
            raise ValueError("a session needs at least one secret key")
        self._keys = [_derive_key(_as_bytes(secret), salt) for secret in secrets]
        self._clock = clock
        self._max_clock_skew = max_clock_skew

    def dumps(self, data: Mapping[str, Any]) -> str:
        """The signed value for `data`; TypeError/ValueError if it is not JSON."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a session is a mapping, not {type(data).__name__}")
        # ASCII JSON: any str survives, lone surrogates from a client's JSON included.
        document = json.dumps(dict(data), separators=(",", ":"), allow_nan=False)
        now = int(self._clock())
        signed = (f"{_encode(document.encode('ascii'))}."
                  f"{_encode(now.to_bytes((now.bit_length() + 7) // 8 or 1, 'big'))}")
        return f"{signed}.{_signature(self._keys[0], signed)}"

    def loads(self, text: str, max_age: float | timedelta | None = None) -> dict[str, Any] | None:
        """The object signed into `text`, or None.

        None for anything not signed by one of our keys (forged, truncated,
        altered by one bit, signed under another secret or salt), older than
        `max_age` seconds, dated further ahead than the clock skew allows,
        or not a JSON object. Never raises, whatever the text.
        """
        if not isinstance(text, str) or not text.isascii():
            return None
        signed, _, signature = text.rpartition(".")
        if not any(hmac.compare_digest(_signature(key, signed), signature) for key in self._keys):
            return None
        payload, separator, stamp = signed.partition(".")
        if not separator:
            return None
        try:
            age = self._clock() - int.from_bytes(_decode(stamp), "big")
        except ValueError:
            return None
        if age < -self._max_clock_skew:
            return None
        if max_age is not None:
            if isinstance(max_age, timedelta):
                max_age = max_age.total_seconds()
            if age > max_age:
                return None
        try:
            data = json.loads(_decode(payload))
        except (ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) else None


def _as_bytes(secret: str | bytes) -> bytes:
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes):
        raise TypeError(f"a secret key is str or bytes, not {type(secret).__name__}")
    if not secret:
        raise ValueError("a secret key must not be empty")
    return secret


def _derive_key(secret: bytes, salt: str) -> bytes:
    """One signing key per (secret, salt), so the secret itself signs nothing."""
    return hmac.digest(secret, b"zerodep_http signing key\x00" + salt.encode("utf-8"),
                       hashlib.sha256)


def _signature(key: bytes, signed: str) -> str:
    return _encode(hmac.digest(key, signed.encode("ascii"), hashlib.sha256))


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    """Strict base64url: a character outside the alphabet is a ValueError."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except binascii.Error as error:
        raise ValueError(str(error)) from None


class Session(dict):
    """The session as a dict that knows whether it was read and changed.

    `modified` turns true on every change made through the session itself
    (assigning `session["cart"] = [...]`, `del`, `pop`, `update`, `clear`,
    `setdefault` of a new key...), so an unchanged session is not written
    back. A change made inside a nested value (`session["cart"].append(1)`)
    is invisible to it: set `session.modified = True` afterwards, as in
    Flask. `accessed` turns true on any read or change, so a response that
    depends on the session can say `Vary: Cookie`.
    """

    __slots__ = ("modified", "accessed")

    def __init__(self, data: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
                 **more: Any) -> None:
        super().__init__(data, **more)
        self.modified = False
        self.accessed = False

    def _changed(self) -> None:
        self.modified = True
        self.accessed = True

    # -- reads -----------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return super().__iter__()

    def __len__(self) -> int:
        self.accessed = True
        return super().__len__()

    def keys(self) -> KeysView[str]:
        self.accessed = True
        return super().keys()

    def values(self) -> ValuesView[Any]:
        self.accessed = True
        return super().values()

    def items(self) -> ItemsView[str, Any]:
        self.accessed = True
        return super().items()

    def copy(self) -> dict[str, Any]:
        self.accessed = True
        return dict(super().items())

    # -- changes -----------------------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        self.accessed = True
        super().__delitem__(key)
        self.modified = True

    def pop(self, key: str, *default: Any) -> Any:
        self.accessed = True
        if super().__contains__(key):
            self.modified = True
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        self.accessed = True
        item = super().popitem()
        self.modified = True
        return item

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        if not super().__contains__(key):
            self.modified = True
        return super().setdefault(key, default)

    def update(self, *args: Any, **more: Any) -> None:  # type: ignore[override]
        self._changed()
        super().update(*args, **more)

    def __ior__(self, other: Any) -> Session:  # type: ignore[override]
        self._changed()
        return super().__ior__(other)

    def clear(self) -> None:
        self.accessed = True
        if super().__len__():
            self.modified = True
        super().clear()

    def __repr__(self) -> str:
        return f"<Session {dict.__repr__(self)}{' modified' if self.modified else ''}>"


def session_cookie_header(serializer: SessionSerializer, session: Session, *,
                          name: str = "session", max_age: int | timedelta | None = None,
                          path: str = "/", domain: str | None = None, secure: bool = False,
                          samesite: str | None = "Lax") -> str | None:
    """The `Set-Cookie` value that stores `session`, or None if it is unchanged.

    A session emptied by the request deletes the cookie. The cookie is
    always HttpOnly: scripts have no business reading it. Raises ValueError
    when the signed session is too large for browsers to keep.
    """
    if not session.modified:
        return None
    if not dict.__len__(session):
        return format_delete_cookie(name, path=path, domain=domain, secure=secure,
                                    httponly=True, samesite=samesite)
    header = format_set_cookie(name, serializer.dumps(session), max_age=max_age, path=path,
                               domain=domain, secure=secure, httponly=True, samesite=samesite)
    size = len(header)  # ASCII: cookie-octets and attributes
    if size > MAX_COOKIE_SIZE:
        raise ValueError(f"the session is too large for a cookie: {size} bytes with its"
                         f" attributes, and browsers keep at most {MAX_COOKIE_SIZE}; store"
                         f" less in it (an id, with the data kept server-side)")
    return header
