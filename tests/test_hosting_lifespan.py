"""A hosted application's startup under the master: an ASGI lifespan that
fails is a failed boot (exit status 3 at start; on HUP the old
generation keeps serving), and shutdown runs after the drain."""

from __future__ import annotations

import signal
import textwrap

from supervisor_support import Server, clean_env, wait_until

APP = '''
import os

VERSION = {version!r}

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        if VERSION == "broken":
            await send({{"type": "lifespan.startup.failed", "message": "no database"}})
            return
        scope["state"]["version"] = VERSION
        await send({{"type": "lifespan.startup.complete"}})
        await receive()
        # One write: two workers' lines never interleave in the shared pipe.
        os.write(1, f"shutdown {{os.getpid()}}\\n".encode())
        await send({{"type": "lifespan.shutdown.complete"}})
        return
    body = scope["state"]["version"].encode()
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": body}})
'''


def write(directory, version):
    (directory / "lifeapp.py").write_text(textwrap.dedent(APP.format(version=version)))


def start(directory, *args):
    return Server(["lifeapp:app", "-b", "127.0.0.1:0", "--graceful-timeout", "5", *args],
                  directory, env=clean_env())


def test_a_failed_startup_stops_the_master_at_start(tmp_path):
    write(tmp_path, "broken")
    server = start(tmp_path, "-w", "1")
    try:
        assert server.wait(60) == 3
        assert server.count("ASGI lifespan startup failed: no database") >= 1
    finally:
        server.kill_all()


def test_a_failed_startup_on_reload_keeps_the_old_generation(tmp_path):
    write(tmp_path, "v1")
    server = start(tmp_path, "-w", "2").ready(60)
    try:
        assert server.get("/")[1] == "v1"
        write(tmp_path, "broken")
        server.signal(signal.SIGHUP)
        server.wait_for(r"Reload failed .* generation 1 keeps serving", timeout=60)
        assert server.get("/")[1] == "v1"
        write(tmp_path, "v2")
        server.signal(signal.SIGHUP)
        server.wait_for("Reload complete", timeout=60)
        # The old workers finish their drain; new connections reach the new ones.
        wait_until(lambda: server.get("/")[1] == "v2", what="the new generation answering")
        assert server.stop() == 0
        # Every worker that started its lifespan shut it down: two per good generation.
        server.wait_for("shutdown", stream="stdout", count=4)
    finally:
        server.kill_all()
