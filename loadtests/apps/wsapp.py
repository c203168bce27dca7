"""The WebSocket routes `loadtests/ws_bench.py` loads, for zerodep-http.

    zerodep-http loadtests.apps.wsapp:app -w 1        (from the repository root)

`/echo` sends every message back; every message sent on `/publish` goes
to every `/subscribe` connection, one `send` after another.
"""

from __future__ import annotations

from zerodep_http import App, WebSocketDisconnect

app = App()
subscribers: set = set()


@app.websocket("/echo")
async def echo(request, ws):
    async for message in ws:
        await ws.send(message)


@app.websocket("/subscribe")
async def subscribe(request, ws):
    await ws.accept()
    subscribers.add(ws)
    try:
        async for _ in ws:
            pass
    finally:
        subscribers.discard(ws)


@app.websocket("/publish")
async def publish(request, ws):
    async for message in ws:
        for subscriber in list(subscribers):
            try:
                await subscriber.send(message)
            except WebSocketDisconnect:
                subscribers.discard(subscriber)
