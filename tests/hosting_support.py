"""Helpers for the framework tests: one real `zerodep-http -w 2` master per
module serving an application written into a temporary directory, driven
with httpx and the h11-validating `RawClient`."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx

from supervisor_support import Server, clean_env


def start_master(directory: Path, files: dict[str, str], spec: str, *args: str) -> Server:
    """Write `files` into `directory` and serve `spec` from there with two
    workers on an ephemeral port; returns once every worker serves."""
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    server = Server([spec, "-w", "2", "-b", "127.0.0.1:0", "--graceful-timeout", "5", *args],
                    directory, env=clean_env())
    try:
        server.ready(timeout=60)
    except BaseException:
        server.kill_all()
        raise
    return server


def running(server: Server) -> Iterator[Server]:
    """Yield a started master; stop it (and whatever is left) afterwards."""
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            server.kill_all()


def client(server: Server, **kwargs) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=15, **kwargs)
