"""The WebSocket routes of ``loadtests/apps/wsapp.py`` in Starlette, served
by uvicorn in ``loadtests/ws_bench.py``."""

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

subscribers: set = set()


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await ws.send_text(message["text"])
            else:
                await ws.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        pass


async def subscribe(ws: WebSocket) -> None:
    await ws.accept()
    subscribers.add(ws)
    try:
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass
    finally:
        subscribers.discard(ws)


async def publish(ws: WebSocket) -> None:
    await ws.accept()
    async for message in ws.iter_text():
        for subscriber in list(subscribers):
            try:
                await subscriber.send_text(message)
            except (WebSocketDisconnect, RuntimeError):
                subscribers.discard(subscriber)


app = Starlette(routes=[WebSocketRoute("/echo", echo), WebSocketRoute("/subscribe", subscribe),
                        WebSocketRoute("/publish", publish)])
