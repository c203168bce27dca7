"""Cookies and signed-cookie sessions, over real sockets: httpx and curl
with a cookie jar as clients, h11 checking every response."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from datetime import datetime, timezone

import httpx
import pytest

from zerodep_http import App, Response
from zerodep_http.sessions import SessionSerializer

from conftest import WAIT


def cookie_app(**options) -> App:
    app = App(**options)

    @app.get("/set")
    async def set_cookies(request):
        response = Response("set")
        response.set_cookie("theme", "dark", max_age=3600, httponly=True)
        response.set_cookie("lang", "en", path="/docs", samesite="Strict", secure=True,
                            expires=datetime(2030, 1, 1, tzinfo=timezone.utc))
        return response

    @app.get("/read")
    async def read(request):
        return request.cookies

    @app.get("/forget")
    async def forget(request):
        response = Response("forgotten")
        response.delete_cookie("theme")
        return response

    @app.get("/bad-cookie")
    async def bad_cookie(request):
        Response().set_cookie("a b", "x")

    return app


def test_each_cookie_is_its_own_set_cookie_line(serve, raw_client):
    client = raw_client(serve(cookie_app()))
    lines = client.request("GET", "/set").header_list("set-cookie")
    assert lines == [
        "theme=dark; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax",
        "lang=en; Expires=Tue, 01 Jan 2030 00:00:00 GMT; Path=/docs; Secure; SameSite=Strict",
    ]
    deleted = client.request("GET", "/forget").header("set-cookie")
    assert deleted.startswith("theme=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/")


@pytest.mark.parametrize("header, expected", [
    ("a=1; b=2", {"a": "1", "b": "2"}),
    ('a="quoted"; b', {"a": "quoted"}),
    ("=x; ;;; a=1", {"a": "1"}),
    ("a=1; a=2", {"a": "1"}),
    ("caf\xc3\xa9=cr\xc3\xa8me", {"café": "crème"}),
    ("a=\xff\xfe; b=2", {"b": "2"}),  # not UTF-8
    ("; ".join(f"k{i}=v{i}" for i in range(700)), {f"k{i}": f"v{i}" for i in range(700)}),
])
def test_a_cookie_header_is_read_as_far_as_it_is_valid(serve, raw_client, header, expected):
    client = raw_client(serve(cookie_app()))
    client.send(b"GET /read HTTP/1.1\r\nHost: a\r\nCookie: " + header.encode("latin-1") + b"\r\n\r\n")
    response = client.read_response("GET")
    assert response.status == 200
    assert response.json() == expected


def test_a_cookie_that_would_break_the_header_is_refused_when_set(serve, raw_client):
    client = raw_client(serve(cookie_app()))
    assert client.request("GET", "/bad-cookie").status == 500
    with pytest.raises(ValueError):
        Response().set_cookie("ok", "a;b")
    with pytest.raises(ValueError):
        Response().set_cookie("ok", "x", expires=datetime(2030, 1, 1))  # naive


def session_app(secret_key="s3cret", **options) -> App:
    app = App(secret_key=secret_key, **options)

    @app.post("/login")
    async def login(request):
        request.session["user"] = request.form()["user"][0]
        return "welcome"

    @app.get("/me")
    async def me(request):
        return {"user": request.session.get("user")}

    @app.get("/count")
    async def count(request):
        request.session["n"] = request.session.get("n", 0) + 1
        return str(request.session["n"])

    @app.post("/logout")
    async def logout(request):
        request.session.clear()
        return "bye"

    @app.get("/big")
    async def big(request):
        request.session["blob"] = "x" * 5000
        return "too big"

    @app.get("/plain")
    async def plain(request):
        return "no session here"

    return app


def test_a_session_lives_in_a_signed_cookie_written_only_when_changed(serve):
    server = serve(session_app())
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        login = client.post("/login", data={"user": "ada"})
        cookie = login.headers["set-cookie"]
        assert cookie.startswith("session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # plain http
        assert login.headers["vary"] == "Cookie"
        me = client.get("/me")
        assert me.json() == {"user": "ada"}
        assert "set-cookie" not in me.headers  # read, not changed
        assert "set-cookie" not in client.get("/plain").headers
        assert [client.get("/count").text for _ in range(3)] == ["1", "2", "3"]
        logout = client.post("/logout")
        assert logout.headers["set-cookie"].startswith("session=; Expires=Thu, 01 Jan 1970")
        assert client.get("/me").json() == {"user": None}


def forge(value: str, change) -> str:
    payload, stamp, signature = value.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    change(data)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{forged}.{stamp}.{signature}"


def test_a_tampered_truncated_foreign_or_expired_session_is_empty(serve):
    app = session_app()
    server = serve(app)
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        value = client.post("/login", data={"user": "ada"}).cookies["session"]
    other_key = SessionSerializer("another secret").dumps({"user": "root"})
    expired = SessionSerializer("s3cret", clock=lambda: time.time() - 40 * 86400).dumps(
        {"user": "ada"})
    for cookie in [forge(value, lambda data: data.update(user="root")), value[:-3], value + "x",
                   other_key, expired, "garbage", "a.b.c", ""]:
        response = httpx.get(server.url + "/me", cookies={"session": cookie}, timeout=WAIT)
        assert response.status_code == 200
        assert response.json() == {"user": None}, cookie


def test_rotated_keys_verify_old_cookies_and_sign_with_the_first(serve):
    old = serve(session_app("old key"))
    with httpx.Client(base_url=old.url, timeout=WAIT) as client:
        value = client.post("/login", data={"user": "ada"}).cookies["session"]
    new = serve(session_app(["new key", "old key"]))
    with httpx.Client(base_url=new.url, timeout=WAIT, cookies={"session": value}) as client:
        assert client.get("/me").json() == {"user": "ada"}
        resigned = client.get("/count").cookies["session"]
    assert SessionSerializer("new key").loads(resigned) == {"user": "ada", "n": 1}
    assert SessionSerializer("old key").loads(resigned) is None


def test_a_session_too_large_for_a_cookie_is_a_500(serve, raw_client, caplog):
    client = raw_client(serve(session_app()))
    assert client.request("GET", "/big").status == 500
    assert "the session is too large for a cookie" in caplog.text


def test_the_session_cookie_is_secure_over_https(serve):
    app = session_app()
    server = serve(app)
    response = httpx.post(server.url + "/login", data={"user": "ada"},
                          headers={"x-forwarded-proto": "https"}, timeout=WAIT)
    assert "Secure" in response.headers["set-cookie"]


def test_a_session_without_a_secret_key_is_a_clear_error(serve, raw_client, caplog):
    client = raw_client(serve(session_app(secret_key=None)))
    assert client.request("GET", "/me").status == 500
    assert "request.session needs a secret key" in caplog.text


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_with_a_cookie_jar_keeps_the_session(serve, tmp_path):
    server = serve(session_app())
    jar = str(tmp_path / "jar.txt")

    def curl(*args: str) -> str:
        return subprocess.run(["curl", "-s", "-c", jar, "-b", jar, *args], capture_output=True,
                              text=True, timeout=WAIT, check=True).stdout

    assert curl("-d", "user=grace", server.url + "/login") == "welcome"
    assert json.loads(curl(server.url + "/me")) == {"user": "grace"}
    assert curl(server.url + "/count") == "1"
    assert curl(server.url + "/count") == "2"
    curl("-X", "POST", server.url + "/logout")
    assert json.loads(curl(server.url + "/me")) == {"user": None}
