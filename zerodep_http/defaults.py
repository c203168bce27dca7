"""The engine's defaults, each defined once.

`App`, `app.run()`, the server, the listeners and the command line's
settings table all take their defaults from here (the size limits from
`parser.Limits`, where they are enforced), so that a number can never mean
one thing under `app.run()` and another under the supervisor.
"""

from __future__ import annotations

from .parser import Limits

#: Request line 8190 bytes (414), 100 header fields and 8190 bytes per field
#: line (431), body 1 MiB (413): gunicorn's numbers, close to nginx's.
LIMITS = Limits()
MAX_BODY_SIZE = LIMITS.body_size
#: Seconds an idle keep-alive connection is kept open; 0 turns keep-alive off.
KEEP_ALIVE = 5.0
#: Seconds a request's head, or a wait for more of its body, may take (408).
READ_TIMEOUT = 30.0
#: Seconds in-flight requests get to finish on shutdown before they are cut.
GRACEFUL_TIMEOUT = 30.0
#: The listen() backlog: connections the kernel queues before accept().
BACKLOG = 2048
#: Peers trusted to say who the client is (Forwarded, X-Forwarded-*, PROXY).
FORWARDED_ALLOW_IPS = "127.0.0.1,::1"
#: Threads a worker runs WSGI applications in (requests beyond wait their turn).
THREADS = 10
#: ASGI lifespan: "auto" runs it when the application speaks it.
LIFESPAN = "auto"
#: Largest WebSocket message accepted, counted after decompression (1009).
WS_MAX_MESSAGE_SIZE = 1 << 20
#: Seconds between the keep-alive pings sent on an open WebSocket; 0 = none.
WS_PING_INTERVAL = 20.0
#: Seconds a keep-alive ping may wait for its pong before the WebSocket is
#: closed (1011); 0 = wait forever.
WS_PING_TIMEOUT = 20.0
#: Seconds the client gets to answer our close frame before the connection
#: is dropped (a drain does not wait the graceful timeout for it).
WS_CLOSE_TIMEOUT = 5.0
