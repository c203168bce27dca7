"""Uploaded files, and the form a multipart body fills as it arrives.

`MultipartForm` is fed the body piece by piece (the connection hands over
each piece as it is received) and sorts the parts into `fields` (decoded
text, in memory, with limits) and `files` (`UploadFile`s spooled to
temporary files). Memory stays bounded whatever the body holds: uploads
share one in-memory budget and go to disk past it, and fields have limits
of their own. `close()` removes every temporary file, whether the body was
complete, refused, or cut off.
"""

from __future__ import annotations

import codecs
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .multipart import (
    END_OF_BODY, END_OF_PART, MultipartError, MultipartLimits, MultipartParser,
    MultipartTooLarge, PartHeaders, parse_boundary, parse_header_options)

__all__ = ["FormLimits", "MultipartForm", "UploadFile", "safe_filename"]

# Longest file name most file systems take (ext4, XFS, APFS, NTFS: 255).
_NAME_MAX = 255
_PATH_SEPARATORS = re.compile(r"[/\\]")
# Control, format (bidirectional overrides that disguise an extension),
# surrogate, and line or paragraph separator characters.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def safe_filename(filename: str, fallback: str = "upload") -> str:
    """`filename` reduced to a name that is safe to create in a directory.

    No directory part (`/` or `\\`), no control or invisible formatting
    characters, no leading dots (so no `..` and no hidden file), no
    trailing dots or spaces, at most 255 bytes in UTF-8 (the extension is
    kept); `fallback` when nothing is left.
    """
    name = _PATH_SEPARATORS.split(filename)[-1]
    name = "".join(char for char in name if unicodedata.category(char) not in _UNSAFE_CATEGORIES)
    while (stripped := name.strip().strip(".")) != name:
        name = stripped
    if len(name.encode("utf-8")) > _NAME_MAX:
        stem, dot, extension = name.rpartition(".")
        if not dot or len(extension) > 16:
            stem, extension = name, ""
        suffix = ("." + extension).encode("utf-8") if extension else b""
        room = _NAME_MAX - len(suffix)
        name = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(". ") + suffix.decode()
    return name or fallback


class UploadFile:
    """One uploaded file: its name as sent, and its bytes in `file`.

    `file` is a binary file object (a `tempfile.SpooledTemporaryFile`: in
    memory while small, then on disk under TMPDIR), positioned at the
    start once the part is complete.
    """

    __slots__ = ("filename", "content_type", "headers", "size", "file")

    def __init__(self, filename: str, content_type: str | None = None,
                 headers: dict[str, str] | None = None, file: IO[bytes] | None = None) -> None:
        self.filename = filename
        self.content_type = content_type
        self.headers = headers if headers is not None else {}
        self.size = 0
        # max_size=0: never rolled over by itself; the form decides when.
        self.file: IO[bytes] = file if file is not None else tempfile.SpooledTemporaryFile(max_size=0)

    @property
    def safe_filename(self) -> str:
        """`filename` without directories, `..`, NUL or control characters."""
        return safe_filename(self.filename)

    def write(self, data: bytes) -> None:
        """Append to the upload (the form does, as the part arrives)."""
        self.file.write(data)
        self.size += len(data)

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.file.seek(offset, whence)

    def save(self, destination: str | os.PathLike[str]) -> Path:
        """Write the whole upload to `destination` and return the path written.

        Given an existing directory, the file is `safe_filename` inside it,
        and a symbolic link planted at that name is refused rather than
        followed out of the directory. Any other path is the file to write.
        """
        target = Path(destination)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        if target.is_dir():
            target = target / self.safe_filename
            flags |= getattr(os, "O_NOFOLLOW", 0)
        position = self.file.tell()
        self.file.seek(0)
        try:
            with open(os.open(target, flags, 0o666), "wb") as out:
                shutil.copyfileobj(self.file, out)
        finally:
            self.file.seek(position)
        return target

    def close(self) -> None:
        """Release the upload; a temporary file on disk is removed."""
        self.file.close()

    def __repr__(self) -> str:
        return f"<UploadFile {self.filename!r} {self.content_type!r} {self.size} bytes>"


@dataclass(frozen=True, slots=True)
class FormLimits:
    """What a multipart form may hold, beyond the parser's own limits.

    Fields are decoded text kept in memory, so they are limited one by one
    and together; uploads share `spool_size` bytes of memory and go to disk
    past it. Each upload on disk holds a file descriptor until the request
    ends, hence a count (Django's default, chosen for CVE-2023-24580).
    """

    field_size: int = 1048576    # 413 past it: one non-file field
    fields_size: int = 4194304   # 413 past it: all non-file fields together
    files: int = 100             # 413 past it
    spool_size: int = 1048576    # upload bytes kept in memory, all files together


class MultipartForm:
    """A `multipart/form-data` body turned into fields and files as it arrives.

    `feed(data)` with each piece of the body, `end_of_input()` when it
    ended; then `fields` maps each name to its values in order, and `files`
    each name to its `UploadFile`s. Any error (a `MultipartError` with its
    status) closes every upload first and comes back from later calls.
    """

    def __init__(self, content_type: str, limits: FormLimits = FormLimits(),
                 multipart_limits: MultipartLimits = MultipartLimits()) -> None:
        self.limits = limits
        self.fields: dict[str, list[str]] = {}
        self.files: dict[str, list[UploadFile]] = {}
        self.complete = False
        self._parser = MultipartParser(parse_boundary(content_type), multipart_limits)
        self._uploads: list[UploadFile] = []
        self._part: PartHeaders | None = None
        self._field: bytearray | None = None
        self._fields_size = 0
        self._upload_in_memory = False
        self._memory_left = limits.spool_size
        self._error: BaseException | None = None

    def feed(self, data: bytes) -> None:
        self._run(self._parser.feed, data)

    def end_of_input(self) -> None:
        """The body ended; a 400 if the closing boundary never came."""
        self._run(self._parser.end_of_input)

    def close(self) -> None:
        """Close every upload, removing its temporary file (idempotent)."""
        for upload in self._uploads:
            upload.close()
        self._field = None

    def __enter__(self) -> MultipartForm:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _run(self, step: Any, *args: Any) -> None:
        if self._error is not None:
            raise self._error
        try:
            for event in step(*args):
                self._handle(event)
        except BaseException as exc:
            self._error = exc
            self.close()
            raise

    def _handle(self, event: Any) -> None:
        if type(event) is bytes:
            if self._field is not None:
                self._add_to_field(event)
            else:
                self._add_to_upload(event)
        elif type(event) is PartHeaders:
            self._part = event
            if event.filename is None:
                self._field = bytearray()
            else:
                if len(self._uploads) >= self.limits.files:
                    raise MultipartTooLarge(f"more than {self.limits.files} files")
                self._uploads.append(UploadFile(event.filename, event.content_type, event.headers))
                self._upload_in_memory = True
        elif event is END_OF_PART:
            part = self._part
            assert part is not None
            if self._field is not None:
                value = _decode_field(part, self._field)
                self._field = None
                self.fields.setdefault(part.name, []).append(value)
            else:
                upload = self._uploads[-1]
                upload.seek(0)
                self.files.setdefault(part.name, []).append(upload)
            self._part = None
        elif event is END_OF_BODY:
            self.complete = True

    def _add_to_field(self, data: bytes) -> None:
        field, limits = self._field, self.limits
        assert field is not None and self._part is not None
        if len(field) + len(data) > limits.field_size:
            raise MultipartTooLarge(
                f"field {_shown(self._part.name)} over {limits.field_size} bytes")
        self._fields_size += len(data)
        if self._fields_size > limits.fields_size:
            raise MultipartTooLarge(f"form fields over {limits.fields_size} bytes together")
        field += data

    def _add_to_upload(self, data: bytes) -> None:
        upload = self._uploads[-1]
        if self._upload_in_memory:
            if len(data) > self._memory_left:
                # SpooledTemporaryFile.rollover is public: it moves the
                # bytes so far to a real temporary file.
                upload.file.rollover()  # type: ignore[attr-defined]
                self._memory_left += upload.size
                self._upload_in_memory = False
            else:
                self._memory_left -= len(data)
        upload.write(data)


# The encodings a browser may submit a form in (the WHATWG Encoding
# Standard's, those Python has), by Python's codec names. Any other codec is
# refused: some decode in quadratic time (punycode), some are not charsets.
_FIELD_CHARSETS = frozenset(codecs.lookup(name).name for name in (
    "utf-8", "utf-16", "utf-16-le", "utf-16-be", "ascii", "ibm866", "iso-8859-1",
    "iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5", "iso-8859-6", "iso-8859-7",
    "iso-8859-8", "iso-8859-10", "iso-8859-13", "iso-8859-14", "iso-8859-15",
    "iso-8859-16", "koi8-r", "koi8-u", "macintosh", "cp874", "windows-1250",
    "windows-1251", "windows-1252", "windows-1253", "windows-1254", "windows-1255",
    "windows-1256", "windows-1257", "windows-1258", "gbk", "gb18030", "big5",
    "euc-jp", "iso-2022-jp", "shift_jis", "euc-kr",
))


def _decode_field(part: PartHeaders, raw: bytearray) -> str:
    """A field's text: UTF-8 unless its Content-Type names a charset."""
    charset = "utf-8"
    if part.content_type is not None:
        charset = parse_header_options(part.content_type)[1].get("charset", charset)
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        codec = None
    if codec not in _FIELD_CHARSETS:
        raise MultipartError(f"field {_shown(part.name)} in unsupported charset {_shown(charset)}")
    try:
        return raw.decode(codec)
    except UnicodeDecodeError:
        raise MultipartError(f"field {_shown(part.name)} is not valid {_shown(charset)}") from None


def _shown(text: str) -> str:
    """Client text quoted in an error message, kept short."""
    return repr(text if len(text) <= 40 else text[:40] + "...")
