"""Starlette under uvicorn: `request.form()` (python-multipart, spooled to
disk) and `request.stream()`."""

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def multipart(request):
    async with request.form() as form:
        return JSONResponse({"size": form["file"].size, "fields": len(form) - 1})


async def stream(request):
    size = 0
    async for piece in request.stream():
        size += len(piece)
    return JSONResponse({"size": size})


app = Starlette(routes=[Route("/multipart", multipart, methods=["POST"]),
                        Route("/stream", stream, methods=["POST"])])
