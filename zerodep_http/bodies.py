"""How `App` takes the rest of a request's body, when it did not all come
with the head, before its hooks and handler run.

The route and the content type decide, so that no body has to sit whole in
memory unless it is small enough for `max_body_size`:

- a `stream=True` route takes nothing: its handler reads `request.stream()`
  as the body arrives, starting with the bytes that came with the head
  (`request.body` until then);
- a `multipart/form-data` body is fed to a `MultipartForm` piece by piece
  as it arrives: fields in memory (with limits), uploads spooled to
  temporary files (`request.form()`, `request.files`); `request.body` is b"";
- any other body is read whole into `request.body`.

A body that came whole with its head is already in `request.body`; a
multipart one is parsed from there when the handler asks (`Request.form`).
"""

from __future__ import annotations

from .multipart import MultipartLimits, is_form_data
from .requests import Request
from .routing import Endpoint
from .uploads import FormLimits, MultipartForm


async def take_body(request: Request, endpoint: Endpoint | None, form_limits: FormLimits,
                    multipart_limits: MultipartLimits) -> MultipartForm | None:
    """Take the body of `request` for `endpoint` (None: no route takes it);
    the form a multipart body filled, which the caller closes."""
    channel = request.channel
    if endpoint is None:
        if channel.expects_continue:
            return None  # the client waits for 100 Continue: never ask for it
    elif endpoint.stream:
        return None
    if is_form_data(request.headers):
        request._form = await read_form(request, request.headers["content-type"],
                                        form_limits, multipart_limits)
        return request._form
    if channel.receiving:
        pieces = [request.body] if request.body else []
        while piece := await channel.receive():
            pieces.append(piece)
        request.body = b"".join(pieces)
    return None


async def read_form(request: Request, content_type: str, form_limits: FormLimits,
                    multipart_limits: MultipartLimits) -> MultipartForm:
    """Feed the body to a new form as it arrives; a `MultipartError` (400,
    413) for a body the form refuses. Whatever ends the reading early (an
    error, the client leaving, cancellation) closes the form's uploads."""
    form = MultipartForm(content_type, form_limits, multipart_limits)
    try:
        first, request.body = request.body, b""
        if first:
            form.feed(first)
        receive = request.channel.receive
        while piece := await receive():
            form.feed(piece)
        form.end_of_input()
    except BaseException:
        form.close()
        raise
    return form
