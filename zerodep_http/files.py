"""Files from disk: FileResponse, conditional requests, ranges, static roots."""

from __future__ import annotations

import mimetypes
import os
import re
import stat
from collections.abc import Mapping
from email.utils import formatdate, parsedate_to_datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from .exceptions import HTTPException
from .responses import OCTET_STREAM, Response

if TYPE_CHECKING:
    from .requests import Request

_RANGE = re.compile(r"bytes=([0-9]{0,19})-([0-9]{0,19})")


class FileResponse(Response):
    """A file sent from disk, never read whole into memory.

    `prepare()` opens the file and decides the status: 200, 206 for a
    satisfiable single range, 304/412 for conditional requests, 416 for an
    unsatisfiable range. A missing file is a 404 that the application's
    error handlers see.
    """

    __slots__ = ("path", "_file", "_offset", "_length")
    streamed = True

    def __init__(self, path: str | os.PathLike[str], status_code: int = 200,
                 headers: Mapping[str, Any] | None = None,
                 content_type: str | None = None) -> None:
        self.path = os.fspath(path)
        if content_type is None:
            content_type = guess_type(self.path)
        super().__init__(b"", status_code, headers, content_type)
        self._file: BinaryIO | None = None
        self._offset = 0
        self._length = 0

    def prepare(self, request: Request) -> None:
        try:
            file = open(self.path, "rb")
        except (OSError, ValueError):
            raise HTTPException(404) from None
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            file.close()
            raise HTTPException(404)
        self._file = file
        self._length = size = info.st_size
        etag = f'"{info.st_mtime_ns:x}-{size:x}"'
        headers = self.headers
        headers.setdefault("etag", etag)
        headers.setdefault("last-modified", formatdate(info.st_mtime, usegmt=True))
        headers["accept-ranges"] = "bytes"
        if self.status_code != 200:
            return
        status = _precondition_status(request, etag, int(info.st_mtime))
        if status is not None:
            self.status_code = status
            self._length = 0
            return
        requested = request.headers.get("range")
        if requested is None or request.method != "GET" or not _if_range_holds(
                request, etag, int(info.st_mtime)):
            return
        byte_range = _parse_range(requested, size)
        if byte_range is None:
            return
        if byte_range is _UNSATISFIABLE:
            self.status_code = 416
            self._length = 0
            headers["content-range"] = f"bytes */{size}"
            return
        start, end = byte_range
        self.status_code = 206
        self._offset, self._length = start, end - start + 1
        headers["content-range"] = f"bytes {start}-{end}/{size}"

    def open_region(self, request: Request) -> tuple[BinaryIO, int, int] | None:
        """The open file, offset and length to send; None when the status
        carries no body (304, 412, 416), and the file is already closed.
        Prepares the response first if that was not done yet."""
        if self._file is None:
            self.prepare(request)
        file = self._file
        if self.status_code in (304, 412, 416):
            file.close()  # type: ignore[union-attr]
            return None
        return file, self._offset, self._length  # type: ignore[return-value]


def guess_type(path: str) -> str:
    content_type, encoding = mimetypes.guess_type(path)
    if content_type is None or encoding is not None:
        # A .gz file is sent as what it is, not decoded by the client.
        return OCTET_STREAM
    if content_type.startswith("text/"):
        return content_type + "; charset=utf-8"
    return content_type


def _etag_matches(header: str, etag: str, weak: bool) -> bool:
    if header.strip() == "*":
        return True
    for candidate in header.split(","):
        candidate = candidate.strip(" \t")
        if weak and candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


def _http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _precondition_status(request: Request, etag: str, mtime: int) -> int | None:
    """RFC 9110 13.2.2: the order in which the preconditions are evaluated."""
    headers = request.headers
    if_match = headers.get("if-match")
    if if_match is not None:
        if not _etag_matches(if_match, etag, weak=False):
            return 412
    else:
        since = headers.get("if-unmodified-since")
        if since is not None and (limit := _http_date(since)) is not None and mtime > limit:
            return 412
    safe = request.method in ("GET", "HEAD")
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if _etag_matches(if_none_match, etag, weak=True):
            return 304 if safe else 412
    elif safe:
        since = headers.get("if-modified-since")
        if since is not None and (limit := _http_date(since)) is not None and mtime <= limit:
            return 304
    return None


def _if_range_holds(request: Request, etag: str, mtime: int) -> bool:
    condition = request.headers.get("if-range")
    if condition is None:
        return True
    if condition.startswith('"'):
        return condition == etag
    date = _http_date(condition)
    return date is not None and mtime == int(date)


_UNSATISFIABLE: Any = object()


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """A single byte range as (first, last); None means serve it all
    (several ranges or a syntax we ignore, as RFC 9110 allows)."""
    match = _RANGE.fullmatch(value.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            return _UNSATISFIABLE
        return max(size - suffix, 0), size - 1
    start = int(first)
    if start >= size:
        return _UNSATISFIABLE
    end = int(last) if last else size - 1
    if end < start:
        return None
    return start, min(end, size - 1)


def resolve_static(root: str, relative: str) -> str | None:
    """The real path of `relative` under `root`, or None when it would
    leave the root (dot segments, absolute paths, backslashes, NUL bytes,
    symlinks pointing outside) or names nothing."""
    if "\x00" in relative or "\\" in relative or relative.startswith("/"):
        return None
    if any(part == ".." for part in relative.split("/")):
        return None
    candidate = os.path.realpath(os.path.join(root, relative))
    if os.path.isdir(candidate):
        candidate = os.path.realpath(os.path.join(candidate, "index.html"))
    if candidate != root and not candidate.startswith(root + os.sep):
        return None
    return candidate if os.path.isfile(candidate) else None
