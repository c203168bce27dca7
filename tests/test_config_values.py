"""Bind addresses and the trusted-proxy allow list."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from zerodep_http.config import Bind, IPAllowList


@pytest.mark.parametrize("text, bind, canonical", [
    ("127.0.0.1:8000", Bind("tcp", host="127.0.0.1", port=8000), None),
    ("0.0.0.0:0", Bind("tcp", host="0.0.0.0", port=0), None),
    ("localhost:65535", Bind("tcp", host="localhost", port=65535), None),
    ("api.example.com:443", Bind("tcp", host="api.example.com", port=443), None),
    ("[::1]:8000", Bind("tcp", host="::1", port=8000), None),
    ("[::]:80", Bind("tcp", host="::", port=80), None),
    ("[fe80::1%eth0]:80", Bind("tcp", host="fe80::1%eth0", port=80), None),
    ("unix:/run/app.sock", Bind("unix", path="/run/app.sock"), None),
    ("unix:relative.sock", Bind("unix", path="relative.sock"), None),
    ("unix:///run/app.sock", Bind("unix", path="/run/app.sock"), "unix:/run/app.sock"),
    ("fd://3", Bind("fd", fd=3), None),
])
def test_bind_parse(text, bind, canonical):
    assert Bind.parse(text) == bind
    assert str(bind) == (canonical or text)


@pytest.mark.parametrize("text, detail", [
    ("localhost", "missing :PORT"),
    (":8000", "missing host"),
    ("::1:8000", "must be in brackets"),
    ("[::1]8000", "needs ]:PORT"),
    ("[::1]", "needs ]:PORT"),
    ("[10.0.0.1]:80", "not an IPv6 address"),
    ("host:", "port ''"),
    ("host:99999", "port '99999'"),
    ("host:-1", "port '-1'"),
    ("host:８０", "port '８０'"),
    ("256.1.1.1:80", "not an IPv4 address"),
    ("bad_host!:80", "not a host name"),
    ("-lead.example:80", "not a host name"),
    ("unix:", "needs a socket path"),
    ("unix:" + "a" * 108, "longer than 107 bytes"),
    ("fd://", "file descriptor number"),
    ("fd://-1", "file descriptor number"),
    ("fd://x", "file descriptor number"),
])
def test_bind_parse_rejects(text, detail):
    with pytest.raises(ValueError) as info:
        Bind.parse(text)
    assert detail in str(info.value)


tcp_binds = st.builds(
    lambda ip, port: Bind("tcp", host=str(ip), port=port),
    st.ip_addresses(), st.integers(0, 65535))
unix_binds = st.builds(
    lambda path: Bind("unix", path=path),
    st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
            min_size=1, max_size=25).filter(lambda p: not p.startswith("//")))
fd_binds = st.builds(lambda n: Bind("fd", fd=n), st.integers(0, 10**6))


@given(st.one_of(tcp_binds, unix_binds, fd_binds))
def test_bind_str_round_trips(bind):
    assert Bind.parse(str(bind)) == bind


def test_allow_list_membership():
    trusted = IPAllowList.parse(["127.0.0.1", "::1", "10.0.0.0/8"])
    assert "127.0.0.1" in trusted and "::1" in trusted and "10.200.0.1" in trusted
    assert "::ffff:127.0.0.1" in trusted  # IPv4 peer on a dual-stack socket
    assert "127.0.0.2" not in trusted and "192.168.0.1" not in trusted
    assert "" not in trusted and "/run/app.sock" not in trusted
    assert str(trusted) == "127.0.0.1,::1,10.0.0.0/8"


def test_allow_list_any_and_none():
    assert "203.0.113.9" in IPAllowList.parse(["*"])
    assert str(IPAllowList.parse(["10.0.0.1", "*"])) == "*"
    nobody = IPAllowList.parse(["", " "])
    assert "127.0.0.1" not in nobody and str(nobody) == ""


@pytest.mark.parametrize("item", ["nope", "10.0.0.1/8", "10.0.0.0/33", "::1/129"])
def test_allow_list_rejects(item):
    with pytest.raises(ValueError):
        IPAllowList.parse([item])
