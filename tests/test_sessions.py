"""Signed-cookie sessions: signing, key rotation, expiry on an injected
clock, tampering, the change-tracking dict and the cookie it becomes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zerodep_http.cookies import parse_cookie_header
from zerodep_http.sessions import (MAX_CLOCK_SKEW, MAX_COOKIE_SIZE, Session, SessionSerializer,
                                   session_cookie_header)

NOW = 1_700_000_000.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def serializer(keys="secret", clock=None, **options) -> SessionSerializer:
    return SessionSerializer(keys, clock=clock or Clock(), **options)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_raw(payload: bytes, timestamp: int | bytes = int(NOW), secret: bytes = b"secret",
             salt: str = "zerodep_http.session") -> str:
    """The documented format, built independently of the module under test."""
    key = hmac.digest(secret, b"zerodep_http signing key\x00" + salt.encode(), hashlib.sha256)
    stamp = timestamp if isinstance(timestamp, bytes) else timestamp.to_bytes(4, "big")
    signed = f"{b64(payload)}.{b64(stamp)}"
    return f"{signed}.{b64(hmac.digest(key, signed.encode(), hashlib.sha256))}"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20)
json_objects = st.dictionaries(st.text(), json_values, max_size=6)


# -- signing -----------------------------------------------------------------------


@given(json_objects)
def test_any_json_object_round_trips(data):
    signer = serializer()
    assert signer.loads(signer.dumps(data), max_age=60) == data


def test_the_value_has_the_documented_form():
    data = {"user": "ada", "cart": [1, 2], "name": "Zoë"}
    value = serializer().dumps(data)
    assert value == sign_raw(json.dumps(data, separators=(",", ":")).encode())
    assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert parse_cookie_header(f"session={value}") == {"session": value}


@given(st.text())
def test_loads_never_raises(text):
    assert serializer().loads(text, max_age=60) is None


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="))
def test_loads_never_raises_on_base64_like_text(text):
    assert serializer().loads(text) is None


@given(json_objects, st.data())
def test_any_one_bit_flip_is_refused(data, draw):
    signer = serializer()
    value = signer.dumps(data).encode("ascii")
    index = draw.draw(st.integers(0, len(value) - 1))
    bit = draw.draw(st.integers(0, 7))
    flipped = bytearray(value)
    flipped[index] ^= 1 << bit
    assert signer.loads(flipped.decode("latin-1")) is None


@given(json_objects, st.data())
def test_any_truncation_or_extension_is_refused(data, draw):
    signer = serializer()
    value = signer.dumps(data)
    cut = draw.draw(st.integers(0, len(value) - 1))
    assert signer.loads(value[:cut]) is None
    assert signer.loads(value[cut + 1:]) is None
    assert signer.loads(value + draw.draw(st.text(min_size=1, max_size=3))) is None


@pytest.mark.parametrize("payload", [
    b"[1, 2]", b'"text"', b"null", b"42", b"{", b"\xff\xfe", b"[" * 100_000,
    b'{"n": ' + b"9" * 5000 + b"}",
])
def test_a_signed_value_that_is_not_a_json_object_gives_none(payload):
    assert serializer().loads(sign_raw(payload)) is None


@pytest.mark.parametrize("value", [
    "", ".", "..", "...", "a.b", "a.b.c",
    sign_raw(b"{}").replace(".", "", 1),  # two parts glued into one
    sign_raw(b"{}").rpartition(".")[0],  # no signature
    "!" + sign_raw(b"{}")[1:],
])
def test_malformed_values_give_none(value):
    assert serializer().loads(value) is None


def test_a_valid_signature_over_malformed_parts_gives_none():
    key = hmac.digest(b"secret", b"zerodep_http signing key\x00zerodep_http.session", hashlib.sha256)
    for signed in ("e30", "e30.!!!", "!!!.AAAA", "e30.A", "e30.AAAA.AAAA"):
        signature = b64(hmac.digest(key, signed.encode(), hashlib.sha256))
        assert serializer().loads(f"{signed}.{signature}") is None, signed


def test_another_secret_or_salt_does_not_verify():
    value = serializer("secret").dumps({"user": "ada"})
    assert serializer("other").loads(value) is None
    assert serializer("secret", salt="csrf").loads(value) is None
    assert serializer(b"secret").loads(value) == {"user": "ada"}


def test_rotated_keys_verify_old_values_and_sign_with_the_first():
    old = serializer(["2023"])
    rotated = serializer(["2024", "2023"])
    old_value = old.dumps({"user": "ada"})
    assert rotated.loads(old_value) == {"user": "ada"}
    new_value = rotated.dumps({"user": "ada"})
    assert new_value != old_value
    assert serializer(["2024"]).loads(new_value) == {"user": "ada"}
    assert old.loads(new_value) is None
    # Once the old key is dropped, what it signed is no longer accepted.
    assert serializer(["2025", "2024"]).loads(old_value) is None


# -- time --------------------------------------------------------------------------


@pytest.mark.parametrize("max_age", [3600, 3600.0, timedelta(hours=1)])
def test_expiry_on_an_injected_clock(max_age):
    clock = Clock()
    signer = serializer(clock=clock)
    value = signer.dumps({"user": "ada"})
    clock.now = NOW + 3600
    assert signer.loads(value, max_age=max_age) == {"user": "ada"}
    clock.now = NOW + 3601
    assert signer.loads(value, max_age=max_age) is None
    assert signer.loads(value) == {"user": "ada"}  # no max age: never expires


def test_a_timestamp_from_the_future_is_refused_beyond_the_skew():
    clock = Clock()
    signer = serializer(clock=clock)
    value = signer.dumps({"user": "ada"})
    clock.now = NOW - MAX_CLOCK_SKEW
    assert signer.loads(value, max_age=60) == {"user": "ada"}
    clock.now = NOW - MAX_CLOCK_SKEW - 1
    assert signer.loads(value, max_age=60) is None
    assert serializer(clock=clock).loads(sign_raw(b"{}", timestamp=(2**40).to_bytes(6, "big"))) is None


def test_the_timestamp_is_whole_seconds():
    clock = Clock(NOW + 0.9)
    value = serializer(clock=clock).dumps({})
    assert value == sign_raw(b"{}", timestamp=int(NOW))


# -- bad configuration and data ----------------------------------------------------------


@pytest.mark.parametrize("keys, error", [
    ([], ValueError), ("", ValueError), (["good", b""], ValueError), ([42], TypeError),
])
def test_bad_secret_keys_are_refused(keys, error):
    with pytest.raises(error):
        SessionSerializer(keys)


@pytest.mark.parametrize("data, error", [
    ([1, 2], TypeError), ("text", TypeError), ({"when": object()}, TypeError),
    ({"x": float("nan")}, ValueError),
])
def test_what_json_cannot_hold_is_refused_when_signing(data, error):
    with pytest.raises(error):
        serializer().dumps(data)


def test_lone_surrogates_from_client_json_survive():
    data = json.loads('{"name": "\\ud800"}')
    signer = serializer()
    assert signer.loads(signer.dumps(data)) == data


# -- the Session dict ----------------------------------------------------------------


@pytest.mark.parametrize("action, modified", [
    (lambda s: s["user"], False),
    (lambda s: s.get("missing"), False),
    (lambda s: "user" in s, False),
    (lambda s: list(s), False),
    (lambda s: len(s), False),
    (lambda s: list(s.keys()), False),
    (lambda s: list(s.values()), False),
    (lambda s: list(s.items()), False),
    (lambda s: s.copy(), False),
    (lambda s: s.pop("missing", None), False),
    (lambda s: s.setdefault("user", "grace"), False),
    (lambda s: s.__setitem__("user", "ada"), True),
    (lambda s: s.__setitem__("cart", [1]), True),
    (lambda s: s.__delitem__("user"), True),
    (lambda s: s.pop("user"), True),
    (lambda s: s.popitem(), True),
    (lambda s: s.setdefault("cart", []), True),
    (lambda s: s.update(cart=[]), True),
    (lambda s: s.update({"cart": []}), True),
    (lambda s: s.__ior__({"cart": []}), True),
    (lambda s: s.clear(), True),
])
def test_session_records_reads_and_changes(action, modified):
    session = Session({"user": "ada"})
    assert not session.modified and not session.accessed
    action(session)
    assert session.accessed
    assert session.modified is modified


def test_clearing_an_empty_session_changes_nothing():
    session = Session()
    session.clear()
    assert not session.modified


def test_a_change_inside_a_nested_value_must_be_flagged():
    session = Session({"cart": [1]})
    session["cart"].append(2)
    assert not session.modified  # invisible to the session, as in Flask
    session.modified = True
    assert session_cookie_header(serializer(), session) is not None


def test_a_failed_change_leaves_the_session_unmodified():
    session = Session()
    with pytest.raises(KeyError):
        del session["missing"]
    with pytest.raises(KeyError):
        session.popitem()
    with pytest.raises(TypeError):
        session[["unhashable"]] = 1  # type: ignore[index]
    assert not session.modified


def test_session_is_a_dict():
    session = Session({"a": 1}, b=2)
    assert session == {"a": 1, "b": 2}
    assert json.dumps(session, sort_keys=True) == '{"a": 1, "b": 2}'
    assert isinstance(session, dict)


# -- the cookie ------------------------------------------------------------------------


def test_an_unchanged_session_writes_no_cookie():
    assert session_cookie_header(serializer(), Session({"user": "ada"})) is None


def test_a_changed_session_is_signed_into_an_httponly_cookie():
    signer = serializer()
    session = Session()
    session["user"] = "ada"
    line = session_cookie_header(signer, session, max_age=timedelta(days=31), secure=True)
    name_value, *attributes = line.split("; ")
    assert attributes == ["Max-Age=2678400", "Path=/", "Secure", "HttpOnly", "SameSite=Lax"]
    assert signer.loads(parse_cookie_header(name_value)["session"]) == {"user": "ada"}


def test_an_emptied_session_deletes_the_cookie():
    session = Session({"user": "ada"})
    session.pop("user")
    line = session_cookie_header(serializer(), session, name="sid", path="/app")
    assert line == ("sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/app;"
                    " HttpOnly; SameSite=Lax")


def test_a_session_too_large_for_a_cookie_is_a_clear_error():
    signer = serializer()

    def cookie_for(size: int) -> str | None:
        session = Session()
        session["k"] = "x" * size
        try:
            return session_cookie_header(signer, session)
        except ValueError as error:
            assert "the session is too large for a cookie" in str(error)
            return None

    overhead = len(cookie_for(0))
    # Base64 turns 3 bytes of JSON into 4 characters: start below the limit
    # and find the largest session that fits.
    size = (MAX_COOKIE_SIZE - overhead) * 3 // 4 - 8
    while cookie_for(size + 1) is not None:
        size += 1
    assert MAX_COOKIE_SIZE - 4 < len(cookie_for(size)) <= MAX_COOKIE_SIZE
    assert cookie_for(size + 1) is None
