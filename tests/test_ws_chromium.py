"""A real browser's WebSocket: headless Chromium (Debian's package,
installed by .ci/run) loads a page that opens a WebSocket to an echo route,
sends text, binary and a large message (compressed: Chromium offers
permessage-deflate), and writes what came back into the DOM, which
`--dump-dom` prints.

`--dump-dom` prints the DOM at the load event, so the page holds its load
with an image (`/gate`) that the server answers only once the page said,
over the WebSocket, that it wrote its results.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import WAIT

from zerodep_http import App, Response

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="chromium not installed (.ci/run installs it)")

PAGE = """<!doctype html>
<html><body><pre id="results">waiting</pre><img src="/gate" alt="">
<script>
const results = document.getElementById("results");
const ws = new WebSocket(`ws://${location.host}/echo`, ["echo.v1"]);
ws.binaryType = "arraybuffer";
const got = [];
ws.onopen = () => {
  ws.send("hello from chromium, ünïcödé");
  ws.send(new Uint8Array([0, 1, 2, 254, 255]));
  ws.send("large ".repeat(50000));
};
ws.onmessage = (event) => {
  if (typeof event.data !== "string") {
    got.push("binary:" + Array.from(new Uint8Array(event.data)).join(","));
  } else if (event.data.startsWith("large ")) {
    got.push("large:" + event.data.length);
  } else {
    got.push("text:" + event.data);
  }
  if (got.length === 3) {
    results.textContent = ["protocol:" + ws.protocol, ...got].join("\\n");
    ws.send("written");
  }
};
ws.onerror = () => { results.textContent = "error"; ws.send("written"); };
</script></body></html>"""


def make_app(seen: dict) -> App:
    app = App()
    written = asyncio.Event()

    @app.get("/")
    async def page(request):
        return Response(PAGE, content_type="text/html; charset=utf-8")

    @app.get("/gate")
    async def gate(request):
        await asyncio.wait_for(written.wait(), WAIT)
        return Response(b"GIF89a", content_type="image/gif")

    @app.websocket("/echo")
    async def echo(request, ws):
        seen["extensions"] = request.headers.get("sec-websocket-extensions", "")
        await ws.accept(subprotocol="echo.v1" if "echo.v1" in ws.subprotocols else None)
        async for message in ws:
            if message == "written":
                written.set()
            else:
                await ws.send(message)

    return app


def test_chromium_talks_to_a_websocket_route(serve, tmp_path):
    seen: dict = {}
    server = serve(make_app(seen))
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", f"http://127.0.0.1:{server.port}/"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    found = re.search(r'<pre id="results">(.*?)</pre>', result.stdout, flags=re.S)
    assert found, f"no results in the DOM:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert found.group(1).split("\n") == [
        "protocol:echo.v1",
        "text:hello from chromium, ünïcödé",
        "binary:0,1,2,254,255",
        f"large:{len('large ') * 50000}",
    ]
    assert "permessage-deflate" in seen["extensions"]
