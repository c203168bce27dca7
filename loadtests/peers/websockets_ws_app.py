"""The WebSocket routes of ``loadtests/apps/wsapp.py`` on the websockets
library's own server (its asyncio implementation, on the stdlib loop).

    python websockets_ws_app.py PORT
"""

import asyncio
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

subscribers: set = set()


async def handler(ws) -> None:
    path = ws.request.path
    if path == "/echo":
        async for message in ws:
            await ws.send(message)
    elif path == "/subscribe":
        subscribers.add(ws)
        try:
            await ws.wait_closed()
        finally:
            subscribers.discard(ws)
    elif path == "/publish":
        async for message in ws:
            for subscriber in list(subscribers):
                try:
                    await subscriber.send(message)
                except ConnectionClosed:
                    subscribers.discard(subscriber)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
