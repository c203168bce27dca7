"""gzip for responses: what the client accepts, what is worth compressing,
the compressed bytes, and the header changes that go with them. No I/O.

Header mappings here have lower-case names, as response headers do.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import AsyncIterator, Mapping, MutableMapping
from typing import Any

from .vary import add_vary

#: Below this a body gains too little to pay for the gzip header and the CPU.
MINIMUM_SIZE = 1024
#: zlib's own default: most of the gain of level 9 for a fraction of its time.
COMPRESS_LEVEL = 6

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
# Responses without a body, or whose body is a part of something else.
_NOT_COMPRESSED_STATUSES = frozenset({204, 206, 304})
# Types outside text/* and the +json / +xml suffixes that gzip shrinks well
# (scripts, data, uncompressed fonts and icons). Anything not listed
# (images, audio, video, archives, woff/woff2, PDF) is either compressed
# already or gains little.
_TEXT_LIKE_TYPES = frozenset({
    "application/javascript", "application/ecmascript", "application/x-javascript",
    "application/json", "application/x-ndjson", "application/xml",
    "application/x-www-form-urlencoded", "application/graphql", "application/yaml",
    "application/toml", "application/vnd.ms-fontobject",
    "font/otf", "font/ttf", "image/bmp", "image/x-icon", "image/vnd.microsoft.icon",
})


def parse_accept_encoding(header: str | None) -> dict[str, float]:
    """Each content coding of an `Accept-Encoding` field with its weight.

    Names are lower-cased; an element with a malformed name or weight is
    skipped; when a coding is listed twice the first one counts.
    """
    codings: dict[str, float] = {}
    for element in (header or "").split(","):
        coding, *parameters = element.split(";")
        coding = coding.strip(" \t").lower()
        if _TOKEN.fullmatch(coding) is None:
            continue
        weight: float | None = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip(" \t").lower() == "q":
                value = value.strip(" \t")
                weight = float(value) if _QVALUE.fullmatch(value) else None
        if weight is not None:
            codings.setdefault(coding, weight)
    return codings


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether a request with this `Accept-Encoding` may get a gzip body.

    `gzip` (or its alias `x-gzip`) with a non-zero weight, or `*` when gzip
    is not named; `gzip;q=0` refuses even if `*` would allow it. An
    `identity` listed with a higher weight than gzip is preferred. No field
    at all gets no gzip: that is what HTTP/1.0 clients and plain `curl` send.
    """
    codings = parse_accept_encoding(accept_encoding)
    weight = codings.get("gzip", codings.get("x-gzip", codings.get("*", 0.0)))
    return weight > 0 and weight >= codings.get("identity", 0.0)


def is_compressible(status_code: int, headers: Mapping[str, Any], body_size: int | None, *,
                    minimum_size: int = MINIMUM_SIZE) -> bool:
    """Whether a response is worth a gzip body, whoever asks for it.

    A text-like content type (text/*, JSON, JavaScript, XML, SVG...), a
    body of `minimum_size` bytes or more (`body_size` None for a stream,
    whose size is unknown), not already encoded, not a partial or empty
    response, and not marked `Cache-Control: no-transform`.
    """
    if status_code < 200 or status_code in _NOT_COMPRESSED_STATUSES:
        return False
    if "content-encoding" in headers or "content-range" in headers:
        return False
    if body_size is not None and body_size < minimum_size:
        return False
    cache_control = headers.get("cache-control")
    if cache_control and any(directive.strip(" \t").lower() == "no-transform"
                             for directive in str(cache_control).split(",")):
        return False
    return is_compressible_type(headers.get("content-type"))


def is_compressible_type(content_type: str | None) -> bool:
    """Whether a media type is text-like: one that gzip shrinks well."""
    if not content_type:
        return False
    media_type = content_type.partition(";")[0].strip(" \t").lower()
    return (media_type.startswith("text/") or media_type.endswith(("+json", "+xml"))
            or media_type in _TEXT_LIKE_TYPES)


def gzip_body(data: bytes, level: int = COMPRESS_LEVEL) -> bytes:
    """A whole body as one gzip member; the same bytes always give the same
    output (no timestamp), so caches and ETags see one representation."""
    return gzip.compress(data, compresslevel=level, mtime=0)


class GzipStream:
    """A gzip member produced piece by piece for a streamed body.

    Each piece is flushed (Z_SYNC_FLUSH) so the client can decompress
    everything sent so far: a server-sent event still arrives when it is
    produced, at the cost of a few bytes per piece.
    """

    __slots__ = ("_compressor",)

    def __init__(self, level: int = COMPRESS_LEVEL) -> None:
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def compress(self, piece: bytes | str) -> bytes:
        """The compressed bytes for `piece`; b"" for an empty piece, which
        must not become an empty (terminating) chunk."""
        if isinstance(piece, str):
            piece = piece.encode("utf-8")
        if not piece:
            return b""
        return self._compressor.compress(piece) + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    async def compress_all(self, pieces: AsyncIterator[bytes | str]) -> AsyncIterator[bytes]:
        """The gzip stream of `pieces`, one flushed piece per piece given
        (empty ones dropped: an empty chunk would end a chunked body)."""
        async for piece in pieces:
            compressed = self.compress(piece)
            if compressed:
                yield compressed
        yield self.finish()

    def finish(self) -> bytes:
        """The end of the member (the last block and the gzip trailer)."""
        return self._compressor.flush(zlib.Z_FINISH)


def mark_gzipped(headers: MutableMapping[str, Any]) -> None:
    """The header changes for a body that is now gzip.

    `Content-Encoding: gzip`, `Vary: Accept-Encoding` merged with what is
    there, no `Content-Length` (the old one is wrong), and a strong ETag
    made weak (`W/"..."`, as nginx does): the bytes differ from the
    uncompressed ones, so a strong validator would lie (If-Range, which
    needs a strong one, no longer matches: ranges are never compressed),
    while If-None-Match, which compares weakly, still gets its 304.
    """
    headers["content-encoding"] = "gzip"
    headers.pop("content-length", None)
    etag = headers.get("etag")
    if isinstance(etag, str) and etag.startswith('"'):
        headers["etag"] = "W/" + etag
    add_vary(headers, "Accept-Encoding")


def compress_body(accept_encoding: str | None, status_code: int,
                  headers: MutableMapping[str, Any], body: bytes, *,
                  minimum_size: int = MINIMUM_SIZE, level: int = COMPRESS_LEVEL) -> bytes:
    """The body to send for a whole-body response, with `headers` updated.

    A compressible response gets `Vary: Accept-Encoding` whether or not
    this client takes gzip, so that a cache keeps the two apart. The body
    stays as it is when gzip would not make it smaller.
    """
    if not is_compressible(status_code, headers, len(body), minimum_size=minimum_size):
        return body
    add_vary(headers, "Accept-Encoding")
    if not accepts_gzip(accept_encoding):
        return body
    compressed = gzip_body(body, level)
    if len(compressed) >= len(body):
        return body
    mark_gzipped(headers)
    return compressed


def start_gzip_stream(accept_encoding: str | None, status_code: int,
                      headers: MutableMapping[str, Any], *,
                      level: int = COMPRESS_LEVEL) -> GzipStream | None:
    """A compressor for a streamed response, with `headers` updated, or
    None when the stream goes out as it is."""
    if not is_compressible(status_code, headers, None):
        return None
    add_vary(headers, "Accept-Encoding")
    if not accepts_gzip(accept_encoding):
        return None
    mark_gzipped(headers)
    return GzipStream(level)
