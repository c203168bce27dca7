"""zerodep-http: `request.files` on a multipart route, `request.stream()` on a
`stream=True` route."""

from zerodep_http import App

app = App()


@app.post("/multipart", max_body_size=4 << 30)
async def multipart(request):
    upload = request.files["file"][0]
    return {"size": upload.size, "fields": len(request.form())}


@app.post("/stream", stream=True, max_body_size=4 << 30)
async def stream(request):
    size = 0
    async for piece in request.stream():
        size += len(piece)
    return {"size": size}
