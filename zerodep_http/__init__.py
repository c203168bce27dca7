"""zerodep-http: a production HTTP/1.1 server and micro framework, stdlib only."""

from .app import App
from .exceptions import HTTPException, abort
from .files import FileResponse
from .requests import Request
from .responses import JSONResponse, Response, StreamingResponse, redirect
from .websocket import WebSocket, WebSocketDisconnect

__all__ = [
    "App", "FileResponse", "HTTPException", "JSONResponse", "Request", "Response",
    "StreamingResponse", "WebSocket", "WebSocketDisconnect", "abort", "redirect",
]
__version__ = "0.1.0"
