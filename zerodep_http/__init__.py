"""zerodep-http: a production HTTP/1.1 server and micro framework, stdlib only."""

from .app import App
from .exceptions import HTTPException, abort
from .files import FileResponse
from .requests import Request
from .responses import JSONResponse, Response, StreamingResponse, redirect
from .uploads import UploadFile

__all__ = [
    "App", "FileResponse", "HTTPException", "JSONResponse", "Request", "Response",
    "StreamingResponse", "UploadFile", "WebSocket", "WebSocketDisconnect", "abort", "redirect",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # Loaded when first asked for: an app without WebSocket routes never
    # loads the WebSocket modules (measured: even the close codes' enum
    # cost a plain request some 300 instructions).
    if name == "WebSocket":
        from .websocket import WebSocket
        return WebSocket
    if name == "WebSocketDisconnect":
        from .ws_errors import WebSocketDisconnect
        return WebSocketDisconnect
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
